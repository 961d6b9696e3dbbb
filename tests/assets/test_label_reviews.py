"""Confirmed labels become training data: review files, single corrections, the next split and
publication, and no duplicate of a Test image ever in Train."""

import io

import dagster as dg
import pandas as pd
import pytest

from assets.ingest.assets import RawImagesConfig, raw_images
from assets.reviews.assets import ConfirmLabelConfig, confirm_label_job, label_reviews
from assets.tables import (
    LABEL_REVIEWS,
    PUBLISHED_IMAGES,
    RAW_IMAGES,
    REVIEW_FILES,
    TRAIN_TEST_SPLIT,
)
from tests.assets.test_split_and_publish import GROUPS, _collection, _publish, _split
from tests.support.dedup_tables import seed_dedup_tables
from tests.support.images import encode, photo
from tests.support.resources import platform_resources

PHOTOS = {
    "cat": "chelsea.png",
    "coffee": "coffee.png",
    "astronaut": "astronaut.png",
    "camera": "camera.png",
    "rocket": "rocket.jpg",
}
DAY = "incoming/2026/03/14"


def _catalog(warehouse, store, source, require_label=True):
    result = dg.materialize(
        [raw_images],
        resources=platform_resources(warehouse, store),
        run_config=dg.RunConfig(
            {"raw_images": RawImagesConfig(source=source, require_label=require_label)}
        ),
    )
    assert result.success


def _reviews(warehouse, store):
    result = dg.materialize([label_reviews], resources=platform_resources(warehouse, store))
    assert result.success
    (mat,) = result.asset_materializations_for_node("label_reviews")
    return mat.metadata


def _confirm(warehouse, store, image, label):
    return confirm_label_job.execute_in_process(
        run_config=dg.RunConfig(
            {"confirm_label": ConfirmLabelConfig(image=image, label=label, reviewer="ana")}
        ),
        resources=platform_resources(warehouse, store),
        raise_on_error=False,
    )


@pytest.fixture
def arrivals(tmp_path, warehouse, local_blob_store):
    """The test collection split once, then three unlabelled arrivals catalogued: two new
    photographs and a smaller copy of a photograph whose group sits on the Test side."""
    store = local_blob_store
    _catalog(warehouse, store, str(_collection(tmp_path / "collection")))
    seed_dedup_tables(warehouse, store, GROUPS)
    _split(warehouse)
    split = warehouse.read_table(TRAIN_TEST_SPLIT)
    catalog = warehouse.read_table(RAW_IMAGES)
    names = dict(zip(catalog.image_id, catalog.name, strict=False))
    test_groups = [
        g
        for g, files in GROUPS.items()
        if g in PHOTOS and set(split[split.image_id.map(names).isin(files)].split) == {"test"}
    ]
    assert test_groups, "the test collection must put a photograph group on the Test side"
    group = test_groups[0]
    store.ensure_container("incoming")
    store.write_bytes("incoming", f"{DAY[9:]}/grass.jpg", encode(photo("grass.png")))
    store.write_bytes("incoming", f"{DAY[9:]}/brick.jpg", encode(photo("brick.png")))
    small = photo(PHOTOS[group]).resize((160, 120))
    store.write_bytes("incoming", f"{DAY[9:]}/copy.jpg", encode(small, quality=60))
    _catalog(warehouse, store, "blob://incoming/", require_label=False)
    groups = {
        **GROUPS,
        group: [*GROUPS[group], "copy.jpg"],
        "grass": ["grass.jpg"],
        "brick": ["brick.jpg"],
    }
    seed_dedup_tables(warehouse, store, groups)
    return warehouse, store, group


def _label_of(warehouse, group):
    split = warehouse.read_table(TRAIN_TEST_SPLIT)
    return split[split.image_id == group].label


def test_confirmed_arrivals_join_the_next_split_and_publication_never_leaking(arrivals):
    warehouse, store, group = arrivals
    catalog = warehouse.read_table(RAW_IMAGES).set_index("name")
    test_label = catalog.loc[GROUPS[group][0]].label
    other_label = "places" if test_label != "places" else "people"
    before = warehouse.read_table(TRAIN_TEST_SPLIT)
    assert catalog.loc["grass.jpg"].image_id not in set(before.image_id)  # unlabelled: left out

    store.ensure_container("reviews")
    store.write_bytes(
        "reviews",
        "2026-03-15/ana.csv",
        (
            "blob_path,label,reviewer\n"
            f"{DAY}/grass.jpg,places,ana\n"
            # A person labels the copy of a Test photograph differently: a conflict to list.
            f"{DAY}/copy.jpg,{other_label},ana\n"
        ).encode(),
    )
    metadata = _reviews(warehouse, store)
    assert metadata["reviews_recorded"].value == 2 and metadata["files_rejected"].value == 0
    # The conflict is listed with a picture of the group, not resolved silently.
    assert metadata["groups_with_conflicting_labels"].value == 1
    assert f"{other_label}, {test_label}" in metadata["label_conflicts"].value or (
        f"{test_label}, {other_label}" in metadata["label_conflicts"].value
    )
    assert "data:image/png;base64," in metadata["label_conflicts_sheet"].value
    assert _confirm(warehouse, store, catalog.loc["brick.jpg"].image_id, "objects").success

    reviews = warehouse.read_table(LABEL_REVIEWS).set_index("image_id")
    assert reviews.loc[catalog.loc["grass.jpg"].image_id].label == "places"
    assert reviews.loc[catalog.loc["brick.jpg"].image_id].reviewer == "ana"
    assert set(reviews.decision) == {"labelled"}  # nothing was predicted for them

    result = _split(warehouse)
    checks = {c.check_name: c.passed for c in result.get_asset_check_evaluations()}
    assert checks["no_duplicate_crosses_the_split"]
    (mat,) = result.asset_materializations_for_node("train_test_split")
    assert mat.metadata["reviewed_images"].value == 3
    assert mat.metadata["groups_with_conflicting_labels"].value == 1
    assert other_label in mat.metadata["label_conflicts"].value
    split = warehouse.read_table(TRAIN_TEST_SPLIT).set_index("image_id")
    assert split.loc[catalog.loc["grass.jpg"].image_id].label == "places"
    assert split.loc[catalog.loc["brick.jpg"].image_id].label == "objects"
    # The copy of a Test photograph stays with its group on the Test side, whatever its label.
    assert split.loc[catalog.loc["copy.jpg"].image_id].split == "test"
    unchanged = before.set_index("image_id").split
    assert (split.loc[unchanged.index].split == unchanged).all()

    for side in ("train", "test"):
        assert _publish(warehouse, store, side).success
    published = warehouse.read_table(PUBLISHED_IMAGES).set_index("image_id")
    for name, label in (("grass.jpg", "places"), ("brick.jpg", "objects")):
        row = published.loc[catalog.loc[name].image_id]
        assert row.label == label and f"/{label}/" in f"/{row.blob_name}"
        assert store.get_info("images", row.blob_name) is not None
    train = published[published.split == "train"]
    assert catalog.loc["copy.jpg"].image_id not in set(train.index)
    groups_in_test = set(split[split.split == "test"].group_id)
    assert not set(split.loc[train.index].group_id) & groups_in_test


def test_bad_review_files_are_rejected_whole_and_nothing_is_half_written(arrivals):
    warehouse, store, _ = arrivals
    store.ensure_container("reviews")
    files = {
        "no-label.csv": f"blob_path,reviewer\n{DAY}/grass.jpg,ana\n",
        "unknown-label.csv": f"blob_path,label\n{DAY}/grass.jpg,places\n{DAY}/brick.jpg,dinosaur\n",
        "never-seen.csv": f"blob_path,label\n{DAY}/grass.jpg,places\n{DAY}/nope.jpg,places\n",
        "two-labels.csv": f"blob_path,label\n{DAY}/grass.jpg,places\n{DAY}/grass.jpg,people\n",
        "bad-id.csv": "image_id,label\nnot-a-hash,places\n",
        "corrupt.parquet": "PAR1 this is not parquet",
        "notes.txt.bak": "what is this",
    }
    for name, text in files.items():
        store.write_bytes("reviews", name, text.encode())
    metadata = _reviews(warehouse, store)
    assert metadata["files_rejected"].value == len(files)
    assert warehouse.count(LABEL_REVIEWS) == 0
    outcome = warehouse.read_table(REVIEW_FILES).set_index("name")
    assert (outcome.status == "rejected").all()
    assert "needs a label column" in outcome.loc["no-label.csv"].reason
    assert "row 3: label 'dinosaur' is not a class" in outcome.loc["unknown-label.csv"].reason
    assert "row 3: blob_path" in outcome.loc["never-seen.csv"].reason
    assert "different labels (people, places)" in outcome.loc["two-labels.csv"].reason
    assert "not a SHA-256" in outcome.loc["bad-id.csv"].reason
    assert "cannot be read" in outcome.loc["corrupt.parquet"].reason
    assert "not a review file" in outcome.loc["notes.txt.bak"].reason

    # Read once per version: the same files are not read again; a fixed one is.
    assert _reviews(warehouse, store)["files_read"].value == 0
    store.write_bytes(
        "reviews", "unknown-label.csv", f"blob_path,label\n{DAY}/brick.jpg,objects\n".encode()
    )
    frame = pd.DataFrame({"blob_path": [f"{DAY}/grass.jpg"], "label": ["places"]})
    buffer = io.BytesIO()
    frame.to_parquet(buffer)
    store.write_bytes("reviews", "sheet.parquet", buffer.getvalue())
    metadata = _reviews(warehouse, store)
    assert metadata["files_read"].value == 2 and metadata["reviews_recorded"].value == 2
    assert sorted(warehouse.read_table(LABEL_REVIEWS).label) == ["objects", "places"]

    failed = _confirm(warehouse, store, f"{DAY}/grass.jpg", "dinosaur")
    assert not failed.success
    message = failed.get_step_failure_events()[0].event_specific_data.error.message
    assert "nothing recorded" in message and "'dinosaur' is not a class" in message
    assert not _confirm(warehouse, store, "incoming/nowhere.jpg", "places").success
    assert sorted(warehouse.read_table(LABEL_REVIEWS).label) == ["objects", "places"]

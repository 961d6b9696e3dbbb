"""train_test_split and published_images on real files, a local store and a real Azurite."""

import io

import dagster as dg
import duckdb
import pandas as pd
import pytest
from PIL import Image

from assets.ingest.assets import RawImagesConfig, raw_images
from assets.publish.assets import PublishConfig, published_images
from assets.splits.assets import (
    SplitConfig,
    no_duplicate_crosses_the_split,
    train_share_per_label_near_target,
    train_test_split,
)
from assets.tables import PUBLISHED_IMAGES, TRAIN_TEST_SPLIT
from resources.blob_store import LocalBlobStore
from tests.support.dedup_tables import seed_dedup_tables
from tests.support.images import encode, photo
from tests.support.resources import platform_resources

GROUPS = {
    "cat": ["cat.jpg", "cat_small.png"],
    "coffee": ["coffee.jpg"],
    "astronaut": ["astronaut.jpg"],
    "camera": ["camera.png"],
    "rocket": ["rocket.jpg", "rocket_q30.jpg"],
    "moon": ["moon.bmp"],
    "anim": ["spin.gif"],
    "tiff": ["scan.tif"],
}


def _collection(root):
    files = {
        "animals/cat.jpg": encode(photo("chelsea.png"), quality=90),
        "animals/cat_small.png": encode(photo("chelsea.png").resize((200, 133)), "PNG"),
        "animals/spin.gif": _animated(),
        "objects/coffee.jpg": encode(photo("coffee.png"), quality=90),
        "objects/rocket.jpg": encode(photo("rocket.jpg"), quality=90),
        "objects/rocket_q30.jpg": encode(photo("rocket.jpg"), quality=30),
        "objects/scan.tif": encode(photo("coins.png"), "TIFF"),
        "people/astronaut.jpg": encode(photo("astronaut.png"), quality=90),
        "people/camera.png": encode(photo("camera.png"), "PNG"),
        "places/moon.bmp": encode(photo("moon.png").resize((128, 128)), "BMP"),
    }
    for rel, data in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(data)
    return root


def _animated() -> bytes:
    frames = [Image.new("L", (30, 20), i * 40).convert("P") for i in range(3)]
    buffer = io.BytesIO()
    frames[0].save(buffer, "GIF", save_all=True, append_images=frames[1:])
    return buffer.getvalue()


@pytest.fixture
def prepared(tmp_path, warehouse, local_blob_store):
    source = _collection(tmp_path / "collection")
    result = dg.materialize(
        [raw_images],
        resources=platform_resources(warehouse, local_blob_store),
        run_config=dg.RunConfig({"raw_images": RawImagesConfig(source=str(source))}),
    )
    assert result.success
    seed_dedup_tables(warehouse, local_blob_store, GROUPS)
    return warehouse


def _split(warehouse, ratio=0.5):
    result = dg.materialize(
        [train_test_split, no_duplicate_crosses_the_split, train_share_per_label_near_target],
        resources=platform_resources(warehouse),
        run_config=dg.RunConfig(
            {"train_test_split": SplitConfig(train_ratio=ratio, seed=3)},
        ),
    )
    assert result.success
    return result


def _publish(warehouse, store, split, **config):
    return dg.materialize(
        [published_images],
        partition_key=split,
        resources=platform_resources(warehouse, store),
        run_config=dg.RunConfig({"published_images": PublishConfig(**config)}),
        raise_on_error=False,
    )


def _meta(result):
    (mat,) = result.asset_materializations_for_node("published_images")
    return {k: v.value for k, v in mat.metadata.items()}


def test_split_keeps_groups_together_and_the_blocking_check_passes(prepared):
    result = _split(prepared)
    checks = {c.check_name: c.passed for c in result.get_asset_check_evaluations()}
    assert checks["no_duplicate_crosses_the_split"]
    table = prepared.read_table(TRAIN_TEST_SPLIT)
    assert len(table) == 10 and table.groupby("group_id").split.nunique().max() == 1
    before = table.set_index("image_id").split
    _split(prepared)
    after = prepared.read_table(TRAIN_TEST_SPLIT).set_index("image_id").split
    pd.testing.assert_series_equal(before.sort_index(), after.sort_index())


def test_blocking_check_fails_and_publishing_refuses_when_a_near_duplicate_crosses(
    prepared, local_blob_store
):
    _split(prepared)
    table = prepared.read_table(TRAIN_TEST_SPLIT)
    train_id = table[table.split == "train"].image_id.iloc[0]
    test_id = table[table.split == "test"].image_id.iloc[0]
    with duckdb.connect(prepared.path) as con:
        con.execute(
            "INSERT INTO near_duplicate_pairs VALUES (?, ?, 3)", sorted([train_id, test_id])
        )
    result = dg.materialize(
        [train_test_split, no_duplicate_crosses_the_split],
        resources=platform_resources(prepared),
        raise_on_error=False,
    )
    (check,) = result.get_asset_check_evaluations()
    assert not check.passed and check.metadata["near_duplicate_pairs_on_both_sides"].value == 1
    publish = _publish(prepared, local_blob_store, "train")
    assert not publish.success
    assert "refusing to publish" in str(publish.get_step_failure_events()[0].event_specific_data)
    assert list(local_blob_store.list_blobs("images")) == []


def test_a_group_split_by_hand_fails_the_check(prepared):
    _split(prepared)
    with duckdb.connect(prepared.path) as con:
        rows = con.execute(
            "SELECT image_id FROM train_test_split WHERE group_id IN "
            "(SELECT group_id FROM train_test_split GROUP BY 1 HAVING COUNT(*) > 1) LIMIT 1"
        ).fetchall()
        con.execute(
            "UPDATE train_test_split SET split = CASE split WHEN 'train' THEN 'test' "
            "ELSE 'train' END WHERE image_id = ?",
            [rows[0][0]],
        )
    result = no_duplicate_crosses_the_split(warehouse=prepared)
    assert not result.passed and result.metadata["groups_on_both_sides"].value == 1


def test_publishing_writes_the_lab_layout_lists_and_manifest_then_reruns_upload_nothing(
    prepared, blob_store
):
    _split(prepared)
    for side, folder in (("train", "Train"), ("test", "Test")):
        result = _publish(prepared, blob_store, side, prefix="paintings")
        assert result.success
        meta = _meta(result)
        state = prepared.read_table(PUBLISHED_IMAGES)
        state = state[state.split == side]
        published = state[state.status == "published"]
        assert meta["uploaded"] == len(published) and meta["unchanged"] == 0
        for row in published.itertuples():
            assert row.blob_name == f"paintings/{folder}/{row.folder}/{row.DHashHex3}.{_ext(row)}"
            info = blob_store.get_info("images", row.blob_name)
            assert info.metadata["image_id"] == row.image_id
            assert info.content_type.startswith("image/")
        blobs = {b.name for b in blob_store.list_blobs("images", f"paintings/{folder}/")}
        assert (
            set(published.blob_name)
            | {
                f"paintings/{folder}/transferimages.txt",
                f"paintings/{folder}/manifest.parquet",
            }
            == blobs
        )
        manifest = pd.read_parquet(
            io.BytesIO(blob_store.read_bytes("images", f"paintings/{folder}/manifest.parquet"))
        )
        assert sorted(manifest.image_id) == sorted(published.image_id)
        lines = blob_store.read_bytes("images", f"paintings/{folder}/transferimages.txt")
        assert len(lines.decode().splitlines()) == len(published)

        again = _meta(_publish(prepared, blob_store, side, prefix="paintings"))
        assert again["uploaded"] == 0 and again["unchanged"] == len(published)

    state = prepared.read_table(PUBLISHED_IMAGES)
    skipped = state[state.status == "skipped"].set_index("reason")
    assert set(skipped.index) == {"animated", "format_not_published"}
    assert state[state.status == "published"].image_id.is_unique


def _ext(row) -> str:
    return {"JPEG": "jpg", "PNG": "png", "BMP": "bmp"}[row.format]


class FailingAfter(LocalBlobStore):
    """A real local store that fails after N image uploads, as a dropped connection would."""

    fail_after: int = 2

    def write_bytes(self, container, name, data, content_type=None, metadata=None):
        counter = FailingAfter.calls = getattr(FailingAfter, "calls", 0) + 1
        if counter > self.fail_after:
            raise RuntimeError("simulated outage")
        return super().write_bytes(container, name, data, content_type, metadata)


def test_an_interrupted_publish_completes_on_rerun_with_every_blob_exactly_once(prepared, tmp_path):
    _split(prepared, ratio=0.8)
    root = str(tmp_path / "store")
    FailingAfter.calls = 0
    failed = _publish(prepared, FailingAfter(root=root, fail_after=2), "train", max_concurrency=1)
    assert not failed.success
    store = LocalBlobStore(root=root)
    assert len([b for b in store.list_blobs("images", "Train/") if "." in b.name]) == 2
    resumed = _meta(_publish(prepared, store, "train"))
    state = prepared.read_table(PUBLISHED_IMAGES)
    published = state[(state.split == "train") & (state.status == "published")]
    assert resumed["unchanged"] == 2 and resumed["uploaded"] == len(published) - 2
    images = [
        b.name
        for b in store.list_blobs("images", "Train/")
        if not b.name.endswith((".txt", ".parquet"))
    ]
    assert sorted(images) == sorted(published.blob_name)


def test_hostile_labels_stay_inside_the_prefix_and_the_mapping_is_recorded(
    tmp_path, warehouse, local_blob_store
):
    source = _collection(tmp_path / "c")
    dg.materialize(
        [raw_images],
        resources=platform_resources(warehouse, local_blob_store),
        run_config=dg.RunConfig({"raw_images": RawImagesConfig(source=str(source))}),
    )
    hostile = {
        "cat.jpg": "../../etc",
        "cat_small.png": "../../etc",
        "coffee.jpg": "a/b\\c",
        "astronaut.jpg": "ctrl\x07\nchar",
        "camera.png": "..",
    }
    seed_dedup_tables(warehouse, local_blob_store, GROUPS, labels=hostile)
    _split(warehouse, ratio=0.8)
    for side in ("train", "test"):
        assert _publish(warehouse, local_blob_store, side, prefix="safe").success
    names = [b.name for b in local_blob_store.list_blobs("images")]
    assert names and all(n.startswith(("safe/Train/", "safe/Test/")) for n in names)
    assert all(".." not in n.split("/") and "\\" not in n and "\n" not in n for n in names)
    state = warehouse.read_table(PUBLISHED_IMAGES)
    folders = dict(zip(state.label, state.folder, strict=False))
    assert folders["../../etc"] == "_.._etc" or "/" not in folders["../../etc"]
    assert len({folders[label] for label in set(hostile.values())}) == len(set(hostile.values()))
    escaped = list((tmp_path / "blobs").parent.rglob("etc"))
    assert not [p for p in escaped if "images" not in p.parts]


def test_unlabelled_arrivals_are_split_only_through_a_labelled_copy_and_published_by_it(
    prepared, local_blob_store
):
    # cat.jpg (the kept copy) and moon.bmp arrived unlabelled; cat_small.png keeps its label.
    with duckdb.connect(prepared.path) as con:
        con.execute("UPDATE raw_images SET label = NULL WHERE name IN ('cat.jpg', 'moon.bmp')")
    seed_dedup_tables(
        prepared, local_blob_store, GROUPS, labels={"cat.jpg": None, "moon.bmp": None}
    )
    _split(prepared)
    table = prepared.read_table(TRAIN_TEST_SPLIT)
    names = prepared.query_df("SELECT image_id, name FROM raw_images")
    table = table.merge(names, on="image_id").set_index("name")
    assert "moon.bmp" not in table.index and table.label.notna().all()
    assert table.loc["cat.jpg", "label"] == table.loc["cat_small.png", "label"] == "animals"
    side = table.loc["cat.jpg", "split"]
    assert _publish(prepared, local_blob_store, side).success
    state = prepared.read_table(PUBLISHED_IMAGES).merge(names, on="image_id").set_index("name")
    assert state.loc["cat.jpg", "label"] == "animals"
    assert state.loc["cat.jpg", "folder"] == "animals"
    assert "moon.bmp" not in state.index

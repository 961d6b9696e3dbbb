"""Every name is data: hostile file and blob names are catalogued, hashed, classified or
quarantined with a reason, never a run failure; hidden files are skipped by policy and listed."""

import os
from datetime import UTC, datetime, time
from pathlib import Path

import dagster as dg
import pytest

from assets.hashing.assets import image_hashes
from assets.tables import IMAGE_HASHES, IMAGE_PREDICTIONS, QUARANTINED_IMAGES, RAW_IMAGES
from tests.assets.test_classification import DAY, _classify, trained  # noqa: F401
from tests.assets.test_split_and_publish import prepared  # noqa: F401
from tests.support.images import encode, photo
from tests.support.resources import platform_resources
from tests.support.sources import HOSTILE_BLOB_NAMES, catalog, put_raw, set_mtime

# Linux file names: bytes except "/" and NUL, at most 255 bytes per name.
HOSTILE_FILE_NAMES = [
    *HOSTILE_BLOB_NAMES,
    "back\\slash.jpg",
    os.fsdecode(b"latin1 caf\xe9.jpg"),  # not UTF-8: the name is bytes, and still data
    "l" * 240 + ".jpg",
]


def _image(i: int) -> bytes:
    return encode(photo("chelsea.png").resize((90 + i, 60 + i)), quality=85)


def _hash(warehouse, blob_store):
    result = dg.materialize([image_hashes], resources=platform_resources(warehouse, blob_store))
    assert result.success


def test_hostile_file_names_in_a_folder_source_are_catalogued_and_hashed(
    tmp_path, warehouse, local_blob_store
):
    root = tmp_path / "src"
    labels = ["plain", "new\nline label", os.fsdecode(b"lab\xffel"), "-dash"]
    expected = set()
    for i, name in enumerate(HOSTILE_FILE_NAMES):
        label = labels[i % len(labels)]
        (root / label).mkdir(parents=True, exist_ok=True)
        (root / label / name).write_bytes(_image(i))
        expected.add((root / label / name).as_uri())
    # Skipped by policy, and said so: hidden files and folders, OS droppings.
    (root / "plain" / ".DS_Store").write_bytes(b"\0\0\0\1Bud1")
    (root / "plain" / ".hidden.jpg").write_bytes(_image(99))
    (root / ".git").mkdir()
    (root / ".git" / "HEAD").write_bytes(b"ref: refs/heads/main\n")
    (root / "plain" / "Thumbs.db").write_bytes(b"thumbs")

    metadata, checks = catalog(warehouse, local_blob_store, str(root))

    rows = warehouse.read_table(RAW_IMAGES)
    assert set(rows.source_uri) == expected
    assert warehouse.count(QUARANTINED_IMAGES) == 0
    assert all(check.passed for check in checks)
    assert "lab\\xffel" in set(rows.label)  # shown escaped, stored as valid text
    assert metadata["skipped_by_policy_count"].value == 4
    listed = metadata["skipped_by_policy"].value
    for shown in (".DS_Store", ".hidden.jpg", ".git", "Thumbs.db"):
        assert shown in listed

    _hash(warehouse, local_blob_store)
    assert set(warehouse.read_table(IMAGE_HASHES).image_id) == set(rows.image_id)
    assert warehouse.count(QUARANTINED_IMAGES) == 0


def test_hostile_blob_names_are_catalogued_and_hashed_from_the_store(warehouse, blob_store):
    names = [f"lab/cats/{n}" for n in HOSTILE_BLOB_NAMES]
    # A 1,000-character blob name (the local store keeps each segment under 255 bytes).
    names.append("lab/cats/" + "/".join(["s" * 200] * 4) + "/long.jpg")
    for i, name in enumerate(names):
        put_raw(blob_store, "hostile", name, _image(i))
    put_raw(blob_store, "hostile", "lab/cats/.hidden.jpg", _image(50))

    metadata, checks = catalog(warehouse, blob_store, "blob://hostile/lab")

    rows = warehouse.read_table(RAW_IMAGES)
    assert sorted(blob_store.locate(u)[1] for u in rows.source_uri) == sorted(names)
    assert set(rows.label) == {"cats"}
    assert warehouse.count(QUARANTINED_IMAGES) == 0
    assert all(check.passed for check in checks)
    assert metadata["skipped_by_policy_count"].value == 1
    assert ".hidden.jpg" in metadata["skipped_by_policy"].value

    _hash(warehouse, blob_store)
    assert set(warehouse.read_table(IMAGE_HASHES).image_id) == set(rows.image_id)


@pytest.mark.parametrize("name", ["new\nline.jpg", "back\\slash.jpg", ".dotted.jpg", "-rf.jpg"])
def test_the_local_store_reads_any_name_it_lists(local_blob_store, name):
    put_raw(local_blob_store, "incoming", f"2026/03/14/{name}", b"bytes")
    (info,) = local_blob_store.list_blobs("incoming")
    assert info.name == f"2026/03/14/{name}"
    assert local_blob_store.read_bytes("incoming", info.name) == b"bytes"
    assert local_blob_store.locate(local_blob_store.url("incoming", info.name)) == (
        "incoming",
        info.name,
    )


def test_a_night_with_hostile_blob_names_classifies_every_image(trained):  # noqa: F811
    warehouse, store, _ = trained
    noon = datetime.combine(DAY, time(12), tzinfo=UTC)
    names = ["new\nline.jpg", "back\\slash.jpg", ".dotted.jpg", "-rf.jpg", "tab\there.jpg"]
    for i, name in enumerate(names):
        put_raw(store, "incoming", f"2026/03/14/{name}", _image(i))
        set_mtime(Path(store.root) / "incoming" / "2026" / "03" / "14" / name, noon.timestamp())
    put_raw(store, "incoming", "2026/03/14/broken\n.jpg", _image(0)[:300])
    set_mtime(Path(store.root) / "incoming/2026/03/14/broken\n.jpg", noon.timestamp())

    # Hidden files and folders and OS droppings are skipped by the catalog's policy, and listed.
    hidden = ["2026/03/14/.hidden.jpg", "2026/03/14/.thumbnails/cat.jpg", "2026/03/14/Thumbs.db"]
    for name in hidden:
        put_raw(store, "incoming", name, _image(7))
        set_mtime(Path(store.root) / "incoming" / name, noon.timestamp())

    result = _classify(warehouse, store)

    assert result.success
    predictions = warehouse.read_table(IMAGE_PREDICTIONS)
    classified = [n for n in names if not n.startswith(".")]
    assert sorted(predictions.blob_path) == sorted(f"incoming/2026/03/14/{n}" for n in classified)
    (mat,) = result.asset_materializations_for_node("nightly_classifications")
    assert mat.metadata["skipped_by_policy_count"].value == 4
    listed = mat.metadata["skipped_by_policy"].value
    for shown in (".dotted.jpg", ".hidden.jpg", ".thumbnails/cat.jpg", "Thumbs.db"):
        assert shown in listed
    quarantine = warehouse.read_table(QUARANTINED_IMAGES)
    assert list(quarantine[quarantine.stage == "classify"].name) == ["broken\n.jpg"]

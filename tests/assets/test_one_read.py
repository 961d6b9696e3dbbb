"""One read per image: in a run that materialises both, raw_images hashes what it reads and
image_hashes takes the hashes over instead of reading every image again, with the same results
as the two steps run apart."""

import shutil

import dagster as dg
import pytest
from PIL import Image

from assets.hashing.assets import ImageHashesConfig, image_hashes
from assets.ingest.assets import RawImagesConfig, raw_images
from assets.tables import (
    HASH_SIZES,
    IMAGE_HASHES,
    IMAGE_HASHES_HANDOFF,
    QUARANTINED_IMAGES,
    RAW_IMAGES,
)
from resources.warehouse.duckdb_warehouse import DuckDBWarehouse
from tests.support.images import encode, photo, write_collection
from tests.support.resources import platform_resources

HASH_COLUMNS = [
    "image_id",
    "hash_mode",
    "hash_version",
    *(f"DHashHex{s}" for s in HASH_SIZES),
    *(f"dhash{s}_{p}" for s in HASH_SIZES for p in ("row", "col")),
]


def _collection(root):
    files = write_collection(root)
    # A byte-identical copy under another label and an EXIF-rotated phone photo.
    shutil.copy(files["cat"], root / "objects" / "cat_copy.jpg")
    exif = Image.Exif()
    exif[0x0112] = 6
    rotated = root / "animals" / "rotated.jpg"
    photo("coffee.png").resize((300, 200)).save(rotated, format="JPEG", exif=exif, quality=88)
    return files


def _run(assets, warehouse, store, config: dict) -> dict[str, dict]:
    result = dg.materialize(
        assets,
        resources=platform_resources(warehouse, store),
        run_config=dg.RunConfig(config),
    )
    assert result.success
    out = {}
    for asset in ("raw_images", "image_hashes"):
        mats = result.asset_materializations_for_node(asset)
        if mats:
            out[asset] = {k: v.value for k, v in mats[0].metadata.items()}
    return out


def _tables(warehouse):
    names = warehouse.read_table(RAW_IMAGES, ["image_id", "name"])
    hashes = warehouse.read_table(IMAGE_HASHES, HASH_COLUMNS).sort_values("image_id")
    quarantine = warehouse.read_table(QUARANTINED_IMAGES, ["image_id", "stage", "reason", "name"])
    return (
        names.sort_values(["image_id", "name"]).reset_index(drop=True),
        hashes.reset_index(drop=True),
        quarantine.sort_values(["stage", "name"]).reset_index(drop=True),
    )


@pytest.mark.parametrize("mode", ["exact", "fast"])
def test_a_curation_run_reads_each_image_once_with_the_results_of_two_separate_steps(
    tmp_path, local_blob_store, mode
):
    _collection(tmp_path / "c")
    source = str(tmp_path / "c")
    together = DuckDBWarehouse(path=str(tmp_path / "together.duckdb"))
    apart = DuckDBWarehouse(path=str(tmp_path / "apart.duckdb"))
    config = {"raw_images": RawImagesConfig(source=source)}
    hashing = {"image_hashes": ImageHashesConfig(mode=mode)}

    metadata = _run([raw_images, image_hashes], together, local_blob_store, config | hashing)
    # 5 good files, 4 distinct contents (cat_copy.jpg is cat.jpg): each content hashed once,
    # from the read that catalogued it; image_hashes read nothing.
    assert metadata["raw_images"]["hashed_while_reading"] == 5
    assert metadata["image_hashes"]["taken_over_from_raw_images"] == 5
    assert metadata["image_hashes"]["hashed_now"] == 0
    assert together.count(IMAGE_HASHES_HANDOFF) == 0

    _run([raw_images], apart, local_blob_store, config)
    alone = _run([image_hashes], apart, local_blob_store, hashing)
    assert alone["image_hashes"]["hashed_now"] == 5

    for got, expected in zip(_tables(together), _tables(apart), strict=True):
        assert got.equals(expected), (got, expected)
    hashes = together.read_table(IMAGE_HASHES, ["hash_mode"])
    assert set(hashes.hash_mode) == ({"exact"} if mode == "exact" else {"exact", "fast"})


def test_without_hashing_in_the_run_or_when_turned_off_image_hashes_reads_the_images(
    tmp_path, warehouse, local_blob_store
):
    _collection(tmp_path / "c")
    off = RawImagesConfig(source=str(tmp_path / "c"), hash_while_reading=False)
    metadata = _run([raw_images, image_hashes], warehouse, local_blob_store, {"raw_images": off})
    assert metadata["raw_images"]["hashed_while_reading"] == 0
    assert metadata["image_hashes"]["taken_over_from_raw_images"] == 0
    assert metadata["image_hashes"]["hashed_now"] == 5
    assert warehouse.count(IMAGE_HASHES_HANDOFF) == 0


def test_a_blob_source_is_downloaded_once_by_readers_that_overlap_with_the_workers(
    tmp_path, warehouse, local_blob_store
):
    files = _collection(tmp_path / "c")
    local_blob_store.ensure_container("raw")
    for path in (tmp_path / "c").rglob("*.*"):
        name = f"lab/{path.parent.name}/{path.name}"
        local_blob_store.write_bytes("raw", name, path.read_bytes())
    config = RawImagesConfig(source="blob://raw/lab", workers=1, readers=3)
    metadata = _run([raw_images, image_hashes], warehouse, local_blob_store, {"raw_images": config})
    assert metadata["raw_images"]["new_rows"] == 6
    assert metadata["image_hashes"]["taken_over_from_raw_images"] == 5
    assert metadata["image_hashes"]["hashed_now"] == 0
    quarantine = warehouse.read_table(QUARANTINED_IMAGES, ["name", "stage"])
    assert list(quarantine.name) == [files["corrupt"].name]


def test_handoff_rows_of_a_version_the_run_does_not_accept_are_hashed_again_then_dropped(
    tmp_path, warehouse, local_blob_store
):
    _collection(tmp_path / "c")
    source = str(tmp_path / "c")
    fast = DuckDBWarehouse(path=str(tmp_path / "fast.duckdb"))
    _run(
        [raw_images, image_hashes],
        fast,
        local_blob_store,
        {
            "raw_images": RawImagesConfig(source=source),
            "image_hashes": ImageHashesConfig(mode="fast"),
        },
    )
    # What a fast-mode run that stopped after raw_images would leave behind.
    _run([raw_images], warehouse, local_blob_store, {"raw_images": RawImagesConfig(source=source)})
    warehouse.insert_new(IMAGE_HASHES_HANDOFF, fast.read_table(IMAGE_HASHES))

    exact = _run([image_hashes], warehouse, local_blob_store, {})["image_hashes"]
    # The PNGs took the exact path in fast mode too: their hashes are taken over. The JPEGs'
    # fast hashes are not what an exact run accepts: they are read and hashed again.
    assert exact["taken_over_from_raw_images"] == 2
    assert exact["hashed_now"] == 3
    assert set(warehouse.read_table(IMAGE_HASHES, ["hash_mode"]).hash_mode) == {"exact"}
    assert warehouse.count(IMAGE_HASHES_HANDOFF) == 0


def test_a_corrupt_file_that_the_hasher_rejects_is_quarantined_as_the_probe_says(
    tmp_path, warehouse, local_blob_store
):
    root = tmp_path / "c"
    (root / "animals").mkdir(parents=True)
    good = encode(photo("chelsea.png"), quality=90)
    (root / "animals" / "cat.jpg").write_bytes(good)
    (root / "animals" / "truncated.jpg").write_bytes(good[: len(good) // 2])
    metadata = _run(
        [raw_images, image_hashes],
        warehouse,
        local_blob_store,
        {"raw_images": RawImagesConfig(source=str(root))},
    )
    assert metadata["raw_images"]["new_rows"] == 1
    assert metadata["raw_images"]["new_quarantined"] == 1
    quarantine = warehouse.read_table(QUARANTINED_IMAGES, ["name", "stage", "reason"])
    assert quarantine.to_dict("records") == [
        {"name": "truncated.jpg", "stage": "catalog", "reason": "corrupt_data"}
    ]


def test_a_batchs_catalog_rows_and_handed_over_hashes_land_together_or_not_at_all(
    tmp_path, local_blob_store
):
    """The handoff of a batch is written in the catalog's transaction: a failure while writing
    it leaves neither the batch's rows nor its hashes, and a rerun completes both."""
    _collection(tmp_path / "c")
    writes: list[str] = []

    class FailingSecondHandoff(DuckDBWarehouse):  # a real DuckDB file; one statement breaks
        def _write_all(self, parts):
            if any(spec.name == IMAGE_HASHES_HANDOFF.name for spec, _, _ in parts):
                writes.append("handoff")
                if len(writes) == 2:
                    parts = [
                        (spec, df, [*statements, ("SELECT error('disk full')", [])])
                        if spec.name == IMAGE_HASHES_HANDOFF.name
                        else (spec, df, statements)
                        for spec, df, statements in parts
                    ]
            return super()._write_all(parts)

    warehouse = FailingSecondHandoff(path=str(tmp_path / "w.duckdb"))
    config = {"raw_images": RawImagesConfig(source=str(tmp_path / "c"), batch_size=2)}
    result = dg.materialize(
        [raw_images, image_hashes],
        resources=platform_resources(warehouse, local_blob_store),
        run_config=dg.RunConfig(config),
        raise_on_error=False,
    )
    assert not result.success
    catalogued = set(warehouse.read_table(RAW_IMAGES).image_id)
    handed = set(warehouse.read_table(IMAGE_HASHES_HANDOFF).image_id)
    assert len(catalogued) == 2 and handed == catalogued  # the first batch, whole; nothing else

    metadata = _run([raw_images, image_hashes], warehouse, local_blob_store, config)
    assert metadata["raw_images"]["new_rows"] == 4  # the rest of the collection
    assert metadata["image_hashes"]["taken_over_from_raw_images"] == 5
    assert metadata["image_hashes"]["hashed_now"] == 0

"""raw_images on real files: catalogue, quarantine, incremental reruns, blob sources."""

import dagster as dg
import pytest

from assets.ingest.assets import RawImagesConfig, raw_images
from assets.tables import QUARANTINED_IMAGES, RAW_IMAGES
from tests.support.images import write_collection
from tests.support.resources import platform_resources


def _materialize(warehouse, blob_store, source: str):
    result = dg.materialize(
        [raw_images],
        resources=platform_resources(warehouse, blob_store),
        run_config=dg.RunConfig({"raw_images": RawImagesConfig(source=source)}),
    )
    assert result.success
    (mat,) = result.asset_materializations_for_node("raw_images")
    checks = result.get_asset_check_evaluations()
    return mat.metadata, checks


def test_a_folder_is_catalogued_and_a_corrupt_file_is_quarantined_not_fatal(
    tmp_path, warehouse, local_blob_store
):
    files = write_collection(tmp_path / "collection")
    metadata, checks = _materialize(warehouse, local_blob_store, str(tmp_path / "collection"))
    catalog = warehouse.read_table(RAW_IMAGES).set_index("name")
    assert set(catalog.index) == {"cat.jpg", "cat_small.png", "coffee.jpg", "noise.png"}
    assert catalog.loc["cat.jpg", "label"] == "animals"
    assert (catalog.loc["cat.jpg", "width"], catalog.loc["cat.jpg", "height"]) == (451, 300)
    assert catalog.loc["noise.png", "mode"] == "L"
    assert catalog.loc["cat_small.png", "format"] == "PNG"
    quarantine = warehouse.read_table(QUARANTINED_IMAGES)
    assert list(quarantine.name) == ["broken.jpg"]
    assert quarantine.reason[0] == "corrupt_data" and quarantine.source_uri[0].endswith(
        files["corrupt"].name
    )
    assert metadata["new_rows"].value == 4 and metadata["new_quarantined"].value == 1
    assert all(check.passed for check in checks)


def test_a_rerun_reads_nothing_again_and_adds_no_rows(tmp_path, warehouse, local_blob_store):
    write_collection(tmp_path / "c")
    _materialize(warehouse, local_blob_store, str(tmp_path / "c"))
    metadata, _ = _materialize(warehouse, local_blob_store, str(tmp_path / "c"))
    assert metadata["skipped_already_catalogued"].value == 5
    assert metadata["new_rows"].value == 0 and metadata["new_quarantined"].value == 0
    assert warehouse.count(RAW_IMAGES) == 4 and warehouse.count(QUARANTINED_IMAGES) == 1


def test_new_and_copied_files_are_added_on_the_next_run(tmp_path, warehouse, local_blob_store):
    files = write_collection(tmp_path / "c")
    _materialize(warehouse, local_blob_store, str(tmp_path / "c"))
    copy = tmp_path / "c" / "pets" / "same_cat.jpg"
    copy.parent.mkdir()
    copy.write_bytes(files["cat"].read_bytes())
    metadata, _ = _materialize(warehouse, local_blob_store, str(tmp_path / "c"))
    assert metadata["new_rows"].value == 1
    catalog = warehouse.read_table(RAW_IMAGES)
    same = catalog[catalog.name.isin(["cat.jpg", "same_cat.jpg"])]
    assert same.image_id.nunique() == 1 and set(same.label) == {"animals", "pets"}


def test_files_outside_label_folders_are_quarantined_with_a_reason(
    tmp_path, warehouse, local_blob_store
):
    files = write_collection(tmp_path / "c")
    (tmp_path / "c" / "loose.jpg").write_bytes(files["cat"].read_bytes())
    _materialize(warehouse, local_blob_store, str(tmp_path / "c"))
    quarantine = warehouse.read_table(QUARANTINED_IMAGES).set_index("name")
    assert quarantine.loc["loose.jpg", "reason"] == "no_label_folder"


def test_a_missing_source_folder_fails_clearly(tmp_path, warehouse, local_blob_store):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        dg.materialize(
            [raw_images],
            resources=platform_resources(warehouse, local_blob_store),
            run_config=dg.RunConfig(
                {"raw_images": RawImagesConfig(source=str(tmp_path / "missing"))}
            ),
        )


def test_a_blob_container_source_is_catalogued_from_azurite(tmp_path, warehouse, azure_blob_store):
    files = write_collection(tmp_path / "c")
    azure_blob_store.ensure_container("raw")
    for key, path in files.items():
        label = path.parent.name
        azure_blob_store.write_bytes("raw", f"lab/{label}/{path.name}", path.read_bytes())
        assert key
    metadata, checks = _materialize(warehouse, azure_blob_store, "blob://raw/lab")
    catalog = warehouse.read_table(RAW_IMAGES)
    assert sorted(catalog.label.unique()) == ["animals", "objects"]
    assert all(uri.startswith("http://127.0.0.1:") for uri in catalog.source_uri)
    assert metadata["new_quarantined"].value == 1
    assert all(check.passed for check in checks)
    again, _ = _materialize(warehouse, azure_blob_store, "blob://raw/lab")
    assert again["new_rows"].value == 0


def _materialize_config(warehouse, blob_store, config: RawImagesConfig):
    result = dg.materialize(
        [raw_images],
        resources=platform_resources(warehouse, blob_store),
        run_config=dg.RunConfig({"raw_images": config}),
    )
    assert result.success
    (mat,) = result.asset_materializations_for_node("raw_images")
    return mat.metadata, result.get_asset_check_evaluations()


def test_named_blobs_of_an_unlabelled_source_are_catalogued_alone_with_a_null_label(
    tmp_path, warehouse, blob_store
):
    files = write_collection(tmp_path / "c")
    blob_store.ensure_container("incoming")
    names = ["drop/2026/07/01/cat.jpg", "drop/2026/07/01/coffee.jpg", "drop/loose.jpg"]
    blob_store.write_bytes("incoming", names[0], files["cat"].read_bytes())
    blob_store.write_bytes("incoming", names[1], files["coffee"].read_bytes())
    blob_store.write_bytes("incoming", names[2], files["cat_small"].read_bytes())
    blob_store.write_bytes("incoming", "drop/2026/07/01/not_in_batch.png", b"ignored")
    metadata, checks = _materialize_config(
        warehouse,
        blob_store,
        RawImagesConfig(source="blob://incoming/drop", blob_names=names, require_label=False),
    )
    catalog = warehouse.read_table(RAW_IMAGES).set_index("name")
    assert set(catalog.index) == {"cat.jpg", "coffee.jpg", "loose.jpg"}
    assert catalog.label.isna().all()
    assert warehouse.count(QUARANTINED_IMAGES) == 0
    assert metadata["files_listed"].value == 3 and metadata["blobs_named"].value == 3
    assert all(check.passed for check in checks)


def test_a_named_blob_deleted_before_the_run_is_skipped_not_fatal(
    tmp_path, warehouse, local_blob_store
):
    files = write_collection(tmp_path / "c")
    local_blob_store.write_bytes("incoming", "a.jpg", files["cat"].read_bytes())
    metadata, _ = _materialize_config(
        warehouse,
        local_blob_store,
        RawImagesConfig(
            source="blob://incoming/", blob_names=["a.jpg", "gone.jpg"], require_label=False
        ),
    )
    assert list(warehouse.read_table(RAW_IMAGES).name) == ["a.jpg"]
    assert metadata["blobs_named"].value == 2 and metadata["files_listed"].value == 1


def test_a_labelled_blob_source_still_quarantines_files_outside_label_folders(
    tmp_path, warehouse, local_blob_store
):
    files = write_collection(tmp_path / "c")
    local_blob_store.write_bytes("raw", "animals/cat.jpg", files["cat"].read_bytes())
    local_blob_store.write_bytes("raw", "loose.jpg", files["coffee"].read_bytes())
    _materialize_config(
        warehouse,
        local_blob_store,
        RawImagesConfig(source="blob://raw/", blob_names=["animals/cat.jpg", "loose.jpg"]),
    )
    assert list(warehouse.read_table(RAW_IMAGES).label) == ["animals"]
    assert list(warehouse.read_table(QUARANTINED_IMAGES).reason) == ["no_label_folder"]


def test_blob_names_outside_the_source_prefix_are_refused(tmp_path, warehouse, local_blob_store):
    with pytest.raises(ValueError, match="not under the source prefix"):
        dg.materialize(
            [raw_images],
            resources=platform_resources(warehouse, local_blob_store),
            run_config=dg.RunConfig(
                {"raw_images": RawImagesConfig(source="blob://incoming/a", blob_names=["b/x.jpg"])}
            ),
        )

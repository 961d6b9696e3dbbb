"""raw_images on real files: catalogue, quarantine, incremental reruns, blob sources."""

import dagster as dg
import pytest

from assets.ingest.assets import RawImagesConfig, raw_images
from assets.tables import QUARANTINED_IMAGES, RAW_IMAGES
from tests.images import write_collection


def _materialize(warehouse, blob_store, source: str):
    result = dg.materialize(
        [raw_images],
        resources={"warehouse": warehouse, "blob_store": blob_store},
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
            resources={"warehouse": warehouse, "blob_store": local_blob_store},
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

"""raw_images records capture time, camera and GPS presence; coordinates only when asked."""

import dagster as dg
import duckdb
import pandas as pd

from assets.ingest.assets import RawImagesConfig, raw_images
from assets.tables import QUARANTINED_IMAGES, RAW_IMAGES
from tests.support.resources import platform_resources
from tests.unit.test_photo_facts import _camera_exif, _jpeg


def _catalog(warehouse, store, source, **config):
    result = dg.materialize(
        [raw_images],
        resources=platform_resources(warehouse, store),
        run_config=dg.RunConfig({"raw_images": RawImagesConfig(source=str(source), **config)}),
    )
    assert result.success


def _collection(root):
    (root / "trips").mkdir(parents=True)
    (root / "trips" / "camera.jpg").write_bytes(_jpeg(_camera_exif()))
    (root / "trips" / "plain.jpg").write_bytes(_jpeg())
    (root / "trips" / "garbled.jpg").write_bytes(_jpeg(b"Exif\x00\x00" + b"\x13" * 64))
    return root


def test_photo_metadata_is_catalogued_without_coordinates_by_default(
    tmp_path, warehouse, local_blob_store
):
    _catalog(warehouse, local_blob_store, _collection(tmp_path / "photos"))
    rows = warehouse.read_table(RAW_IMAGES).set_index("name")
    assert len(rows) == 3 and warehouse.count(QUARANTINED_IMAGES) == 0
    camera = rows.loc["camera.jpg"]
    assert camera.captured_at == "2024-05-01T14:03:22+02:00"
    assert (camera.camera_make, camera.camera_model) == ("Canon", "EOS 5D Mark IV")
    assert bool(camera.has_gps)
    assert rows.gps_latitude.isna().all() and rows.gps_longitude.isna().all()
    assert not bool(rows.loc["plain.jpg"].has_gps)
    assert pd.isna(rows.loc["garbled.jpg"].captured_at)


def test_coordinates_when_configured_and_columns_added_to_an_existing_catalog(
    tmp_path, warehouse, local_blob_store
):
    # A catalog created before the photo columns existed.
    old = [c for c in RAW_IMAGES.columns if c.name not in RAW_IMAGES.added_columns]
    columns = ", ".join(f'"{c.name}" {c.sql_type("duckdb")}' for c in old)
    with duckdb.connect(warehouse.path) as con:
        con.execute(f"CREATE TABLE raw_images ({columns}, PRIMARY KEY (image_id, source_uri))")
    _catalog(
        warehouse, local_blob_store, _collection(tmp_path / "photos"), record_gps_coordinates=True
    )
    camera = warehouse.read_table(RAW_IMAGES).set_index("name").loc["camera.jpg"]
    assert round(camera.gps_latitude, 3) == -33.865 and round(camera.gps_longitude, 3) == 151.21

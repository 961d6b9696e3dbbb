"""The dedup step records its tables as soon as dbt has built them: every table's
materialisation comes before the ~70 dbt test results, which all still arrive."""

import dagster as dg

from assets.dedup.assets import dedup_tables
from assets.hashing.assets import image_hashes
from assets.ingest.assets import raw_images
from resources.blob_store import LocalBlobStore
from resources.environment import get_settings
from resources.warehouse.duckdb_warehouse import DuckDBWarehouse
from tests.support.images import write_collection
from tests.support.resources import platform_resources


def test_the_dedup_tables_are_recorded_before_their_test_results(platform_home, tmp_path):
    source = tmp_path / "collection"
    write_collection(source)
    result = dg.materialize(
        [raw_images, image_hashes, dedup_tables],
        resources=platform_resources(
            DuckDBWarehouse(path=str(get_settings().duckdb_path)),
            LocalBlobStore(root=str(platform_home / "blobs")),
            dbt=True,
        ),
        run_config={"ops": {"raw_images": {"config": {"source": str(source)}}}},
    )
    assert result.success
    step = [e for e in result.all_events if e.step_key == "dedup_dbt_models"]
    kinds = [e.event_type for e in step]
    materialized = [
        i for i, k in enumerate(kinds) if k == dg.DagsterEventType.ASSET_MATERIALIZATION
    ]
    checked = [i for i, k in enumerate(kinds) if k == dg.DagsterEventType.ASSET_CHECK_EVALUATION]
    assert {step[i].asset_key for i in materialized} == set(dedup_tables.keys)
    assert len(checked) == len(dedup_tables.check_specs)
    assert max(materialized) < min(checked)
    # Each table still carries its summary and the refresh that built it.
    groups = next(
        step[i].materialization
        for i in materialized
        if step[i].asset_key == dg.AssetKey("duplicate_groups")
    )
    assert groups.metadata["dedup_refresh"].value == "full"

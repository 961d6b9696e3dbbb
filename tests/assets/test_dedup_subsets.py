"""Any upstream-closed subset of the dbt assets, and every job that builds them, materialises on
a fresh warehouse.

Regression: materialising ``*duplicate_groups`` from the UI on a fresh warehouse failed, because
dbt's default (eager) indirect selection ran the tests of ``unique_images``, which was neither
selected nor built. Each case below starts from an empty home: real catalogue of a small folder,
real hashing, real dbt on a new DuckDB file.
"""

import shutil
from pathlib import Path

import dagster as dg
import duckdb
import pytest
import yaml

from assets.dedup.assets import dedup_tables
from assets.dedup.project import DBT_PROJECT_DIR, INDIRECT_SELECTION
from assets.hashing.assets import image_hashes
from assets.ingest.assets import raw_images
from resources.blob_store import LocalBlobStore
from resources.environment import get_settings
from resources.warehouse.duckdb_warehouse import DuckDBWarehouse
from tests.support.images import write_collection
from tests.support.resources import platform_resources

DBT_ASSET_KEYS = sorted(dedup_tables.keys, key=lambda k: k.to_user_string())
PYTHON_SOURCES = [dg.AssetKey("raw_images"), dg.AssetKey("image_hashes")]


def _location():
    from assets.definitions import defs

    return defs


@pytest.fixture
def fresh(platform_home, tmp_path):
    """Resources on an empty home, and a small labelled folder to catalogue."""
    source = tmp_path / "collection"
    write_collection(source)
    settings = get_settings()
    resources = platform_resources(
        DuckDBWarehouse(path=str(settings.duckdb_path)),
        LocalBlobStore(root=str(platform_home / "blobs")),
        dbt=True,
    )
    run_config = {"ops": {"raw_images": {"config": {"source": str(source)}}}}
    return settings, resources, run_config


@pytest.fixture(scope="module")
def catalogued(tmp_path_factory) -> Path:
    """A warehouse holding only what the Python assets upstream of dbt wrote (the catalogue and
    the hashes of a small folder): no dbt table yet."""
    home = tmp_path_factory.mktemp("catalogued")
    source = home / "collection"
    write_collection(source)
    path = home / "warehouse.duckdb"
    result = dg.materialize(
        [raw_images, image_hashes],
        resources=platform_resources(
            DuckDBWarehouse(path=str(path)), LocalBlobStore(root=str(home / "blobs"))
        ),
        run_config={"ops": {"raw_images": {"config": {"source": str(source)}}}},
    )
    assert result.success
    return path


def _tables(path) -> set[str]:
    with duckdb.connect(str(path), read_only=True) as con:
        return {
            r[0] for r in con.execute("SELECT table_name FROM information_schema.tables").fetchall()
        }


def test_the_dbt_project_runs_tests_only_when_everything_they_read_is_built():
    project = yaml.safe_load((DBT_PROJECT_DIR / "dbt_project.yml").read_text())
    assert project["flags"]["indirect_selection"] == INDIRECT_SELECTION == "buildable"


@pytest.mark.slow
@pytest.mark.parametrize("key", DBT_ASSET_KEYS, ids=lambda k: k.to_user_string())
def test_every_dbt_asset_with_its_upstream_closure_materialises_on_a_fresh_warehouse(
    catalogued, platform_home, key
):
    """The closure's dbt part on a warehouse with no dbt table; the Python assets of every
    closure (raw_images, image_hashes) ran once, for real, in ``catalogued``, and the jobs test
    below runs them with dbt on an empty warehouse."""
    settings = get_settings()
    shutil.copy(catalogued, settings.duckdb_path)
    resources = platform_resources(DuckDBWarehouse(path=str(settings.duckdb_path)), dbt=True)
    location = _location()
    graph = location.resolve_asset_graph()
    closure = dg.AssetSelection.assets(key).upstream()
    assert set(PYTHON_SOURCES) <= closure.resolve(graph)
    selection = closure - dg.AssetSelection.assets(*PYTHON_SOURCES)
    selected = selection.resolve(graph)
    result = dg.materialize(
        [dedup_tables], selection=selection, resources=resources, raise_on_error=False
    )
    assert result.success, [e.message for e in result.all_events if e.is_failure]
    built = {e.asset_key for e in result.get_asset_materialization_events()}
    assert built == selected
    checks = result.get_asset_check_evaluations()
    assert checks and all(c.passed for c in checks), [c.check_name for c in checks if not c.passed]
    # tests of models that were not built did not run
    assert {c.asset_key for c in checks} <= selected
    assert {k.path[-1] for k in selected} <= _tables(settings.duckdb_path)
    assert not {k.path[-1] for k in set(dedup_tables.keys) - selected} & _tables(
        settings.duckdb_path
    )


def _jobs_building_dbt_assets():
    location = _location()
    graph = location.resolve_asset_graph()
    dbt_keys = set(dedup_tables.keys)
    names = []
    for job in location.jobs or []:
        selection = getattr(job, "selection", None)  # asset jobs, not op jobs
        if selection is not None and selection.resolve(graph) & dbt_keys:
            names.append(job.name)
    return sorted(names)


def test_the_jobs_that_build_dbt_assets_are_enumerated():
    assert {"curation_job", "dedup_job"} <= set(_jobs_building_dbt_assets())


@pytest.mark.slow
@pytest.mark.parametrize("job_name", _jobs_building_dbt_assets())
def test_every_job_that_builds_dbt_assets_runs_on_a_fresh_warehouse(fresh, job_name):
    settings, resources, run_config = fresh
    location = _location()
    defs = dg.Definitions(
        assets=location.assets,
        asset_checks=location.asset_checks,
        jobs=[j for j in location.jobs if j.name == job_name],
        resources={**location.resources, **resources},
    )
    job = defs.resolve_job_def(job_name)
    ops = {n.name for n in job.graph.node_dict.values()}
    config = run_config if "raw_images" in ops else {}
    result = job.execute_in_process(run_config=config, raise_on_error=False)
    assert result.success, [e.message for e in result.all_events if e.is_failure]
    assert {k.path[-1] for k in dedup_tables.keys} <= _tables(settings.duckdb_path)

"""How the dedup stage plugs into Dagster: one asset graph, the environment's warehouse, and a
manifest that is there and current."""

import json
import os
import shutil
import threading
import time
from pathlib import Path

import dagster as dg
import pytest
from dagster_dbt import DbtProject

from assets.dedup.assets import DEDUP_PROJECT, dedup_tables
from assets.dedup.project import (
    DUCKDB_PATH_ENV,
    SQLSERVER_TARGET,
    build_dbt_project,
    build_dbt_resource,
    manifest_is_stale,
    prepare_manifest,
    resolved_duckdb_path,
)
from assets.dedup.refresh import LAST_REFRESH
from resources.environment import get_settings
from tests.support.dedup_models import DEDUP_MODELS

MODELS = set(DEDUP_MODELS)


def test_the_code_location_loads_with_the_dedup_models_downstream_of_catalog_and_hashes():
    from assets.definitions import defs

    dg.Definitions.validate_loadable(defs)
    graph = defs.resolve_asset_graph()
    keys = {k.to_user_string() for k in graph.get_all_asset_keys()}
    assert MODELS | {"raw_images", "image_hashes"} <= keys
    stg = graph.get(dg.AssetKey("stg_images"))
    assert set(stg.parent_keys) == {dg.AssetKey("raw_images"), dg.AssetKey("image_hashes")}
    # raw_images is the catalog asset itself, not a second, external copy
    assert graph.get(dg.AssetKey("raw_images")).is_materializable
    groups = graph.get(dg.AssetKey("duplicate_groups"))
    assert set(groups.parent_keys) == {
        dg.AssetKey("stg_images"),
        dg.AssetKey("near_duplicate_pairs"),
        dg.AssetKey("border_trimmed_pairs"),
        dg.AssetKey("multi_size_pairs"),
        dg.AssetKey("centre_pairs"),
        dg.AssetKey("edge_cut_pairs"),
        dg.AssetKey("bucket_links"),
    }


def test_every_model_is_in_the_dedup_group_with_dbt_and_duckdb_kinds():
    specs = {spec.key.to_user_string(): spec for spec in dedup_tables.specs}
    assert set(specs) == MODELS
    for spec in specs.values():
        assert spec.group_name == "dedup"
        assert set(spec.kinds) == {"dbt", "duckdb"}
        assert spec.description


def test_dbt_tests_are_asset_checks_of_the_tables_they_test():
    checks = {(c.asset_key.path[-1], c.name) for c in dedup_tables.check_specs}
    assert ("duplicate_groups", "assert_duplicate_groups_converged") in checks
    assert ("duplicate_groups", "assert_representative_is_largest") in checks
    assert ("duplicate_groups", "assert_every_image_in_exactly_one_group") in checks
    assert ("unique_images", "assert_unique_images_one_row_per_group") in checks
    assert ("unique_images", "unique_unique_images_group_id") in checks


def test_the_dbt_assets_built_from_the_manifests_node_list_equal_dbt_cores_own_selection():
    # The code location answers the default selection from the manifest (no dbt.graph import);
    # dagster-dbt's own path, dbt-core's selector, must give the same assets, deps and checks.
    from dagster_dbt import DagsterDbtTranslatorSettings, dbt_assets

    from assets.dedup.assets import DedupTranslator

    @dbt_assets(
        manifest=DEDUP_PROJECT.manifest_path,
        project=DEDUP_PROJECT,
        dagster_dbt_translator=DedupTranslator(
            settings=DagsterDbtTranslatorSettings(enable_asset_checks=True)
        ),
        name="dedup_dbt_models",
    )
    def selected_by_dbt_core(context):
        yield from ()

    def described(assets_def):
        specs = {
            s.key: (frozenset(d.asset_key for d in s.deps), s.group_name) for s in assets_def.specs
        }
        return specs, {c.key for c in assets_def.check_specs}

    assert described(dedup_tables) == described(selected_by_dbt_core)
    assert len(dedup_tables.check_specs) > 0
    # Only the decorator's call was redirected: dagster-dbt's selection is back in place.
    import dagster_dbt.asset_utils

    assert dagster_dbt.asset_utils.select_unique_ids.__module__ == "dagster_dbt.utils"


def test_dbt_writes_the_resolved_duckdb_path_from_its_own_profile_with_os_environ_untouched(
    monkeypatch, tmp_path
):
    # A home whose name dbt would otherwise render as Jinja, and no path in the environment.
    home = tmp_path / "ho{{ me }}"
    monkeypatch.setenv("IMAGE_PLATFORM_HOME", str(home))
    monkeypatch.delenv(DUCKDB_PATH_ENV, raising=False)
    monkeypatch.delenv("IMAGE_PLATFORM_ENV", raising=False)
    resource = build_dbt_resource(get_settings(), DEDUP_PROJECT)
    warehouse = home.resolve() / "warehouse.duckdb"
    assert resource.target == "duckdb" and resource.duckdb_path == str(warehouse)
    assert resource.profiles_dir and Path(resource.profiles_dir).is_relative_to(home.resolve())

    before = dict(os.environ)
    seen: list[str | None] = []
    done = threading.Event()

    def watch() -> None:  # what another thread of the process sees while dbt runs
        while not done.is_set():
            seen.append(os.environ.get(DUCKDB_PATH_ENV))
            time.sleep(0.005)

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        # dbt debug opens the profile's warehouse: DuckDB creates the file where dbt was told.
        invocation = resource.cli(["debug"], raise_on_error=False).wait()
    finally:
        done.set()
        watcher.join()
    assert invocation.is_successful(), invocation.get_error()
    assert warehouse.is_file()
    assert seen and set(seen) == {None}
    assert dict(os.environ) == before
    shutil.rmtree(invocation.target_path, ignore_errors=True)


def test_prod_runs_dbt_against_azure_sql_with_nothing_exported(monkeypatch):
    monkeypatch.setenv("IMAGE_PLATFORM_ENV", "prod")
    settings = get_settings()
    assert resolved_duckdb_path(settings) is None
    assert build_dbt_project(settings).target == SQLSERVER_TARGET
    resource = build_dbt_resource(settings, DEDUP_PROJECT)
    assert resource.target == SQLSERVER_TARGET and resource.duckdb_path is None
    # The project's own profile, read as it stands.
    assert Path(resource.profiles_dir or "") == Path(DEDUP_PROJECT.project_dir)


@pytest.fixture
def project_copy(tmp_path) -> DbtProject:
    # The project's sources and its parsed manifest, as a checkout that was prepared once.
    copy = tmp_path / "dbt"
    shutil.copytree(
        DEDUP_PROJECT.project_dir, copy, ignore=shutil.ignore_patterns("logs", "target")
    )
    (copy / "target").mkdir()
    shutil.copy2(DEDUP_PROJECT.manifest_path, copy / "target" / "manifest.json")
    return DbtProject(project_dir=copy, target="duckdb")


def test_a_manifest_is_stale_when_missing_older_than_a_model_or_for_another_adapter(
    project_copy,
):
    manifest = project_copy.manifest_path
    assert manifest.is_file() and not manifest_is_stale(project_copy)

    model = project_copy.project_dir / "models" / "dedup" / "unique_images.sql"
    later = manifest.stat().st_mtime + 10
    os.utime(model, (later, later))
    assert manifest_is_stale(project_copy)

    os.utime(manifest, (later + 10, later + 10))
    assert not manifest_is_stale(project_copy)
    other = DbtProject(project_dir=project_copy.project_dir, target=SQLSERVER_TARGET)
    assert manifest_is_stale(other)

    manifest.unlink()
    assert manifest_is_stale(project_copy)


def test_a_fresh_clone_gets_its_manifest_parsed_on_load(project_copy, monkeypatch, tmp_path):
    # No dagster dev, no manifest (dbt/target is not committed), no venv on PATH.
    monkeypatch.delenv("DAGSTER_IS_DEV_CLI", raising=False)
    monkeypatch.delenv(DUCKDB_PATH_ENV, raising=False)
    monkeypatch.setenv("IMAGE_PLATFORM_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("PATH", "/usr/bin:/bin")
    shutil.rmtree(project_copy.project_dir / "target")
    manifest = prepare_manifest(project_copy, get_settings())
    assert manifest.is_file() and not manifest_is_stale(project_copy)
    assert DUCKDB_PATH_ENV not in os.environ


def test_each_warehouse_keeps_its_own_dbt_partial_parse_and_no_adapter_is_built_in_process(
    platform_home, monkeypatch
):
    # dbt re-parses the whole project when the saved state was parsed for another connection;
    # the project's own target/ state is shared by every warehouse of this checkout.
    import dagster_dbt.core.resource

    def no_version_probe(*args, **kwargs):
        raise AssertionError(f"started {args[0]} just to learn dbt's version")

    # The dbt beside this interpreter is the installed dbt-core: no `dbt --version` start-up.
    monkeypatch.setattr(dagster_dbt.core.resource, "check_output", no_version_probe)
    resource = build_dbt_resource(get_settings(), DEDUP_PROJECT)
    assert resource.parse_state_dir == str(platform_home / "dbt")
    # A full refresh runs without variables, an incremental one with the same dedup_since every
    # time (assets/dedup/refresh.py): each keeps its own state, so alternating costs no parse.
    incremental = ["--vars", json.dumps({"dedup_since": LAST_REFRESH})]
    parsed = []
    for extra in ([], incremental, [], incremental):
        invocation = resource.cli(["parse", *extra])
        invocation.wait()
        assert invocation.adapter is None  # no dbt adapter loaded into this process
        parsed.append(invocation.get_artifact("perf_info.json")["parsed_path_count"])
        assert resource.keep_parse_state(invocation)
        shutil.rmtree(invocation.target_path)
    assert parsed[0] > 0 and parsed[1] > 0  # dbt re-parses when the variables change
    assert parsed[2:] == [0, 0], f"the later invocations parsed {parsed[2:]} files again"
    states = list((platform_home / "dbt").glob("*partial_parse.msgpack"))
    assert len(states) == 2
    # Another warehouse path gets a state of its own, not this one.
    other = resource.model_copy(update={"duckdb_path": str(platform_home / "other.duckdb")})
    assert other._parse_state_file([]) not in states

"""The code location loads with every asset, job and resource, in each environment."""

import json
import os
import subprocess
import sys

import dagster as dg

from tests.support.heavy_modules import HEAVY_MODULES
from tests.support.services import REPO


def _load_defs():
    import importlib

    import assets.definitions as module

    return importlib.reload(module).defs


def test_definitions_load_with_all_assets_jobs_and_resources(platform_home):
    defs = _load_defs()
    graph = defs.resolve_asset_graph()
    keys = {key.to_user_string() for key in graph.get_all_asset_keys()}
    assert "raw_images" in keys
    assert defs.resolve_job_def("catalog_job") is not None
    resources = defs.resources or {}
    assert {"warehouse", "blob_store"} <= set(resources)
    # Every materialisable asset has a description and a group.
    for key in graph.get_all_asset_keys():
        node = graph.get(key)
        if node.is_materializable:
            assert node.description, f"{key.to_user_string()} has no description"
            assert node.group_name and node.group_name != "default", key


def test_the_incoming_sensors_and_the_nightly_schedule_are_in_the_code_location_stopped(
    platform_home,
):
    defs = _load_defs()
    for name in ("new_blobs_sensor", "early_classification_sensor"):
        sensor = defs.resolve_sensor_def(name)
        assert sensor.description
        assert sensor.default_status == dg.DefaultSensorStatus.STOPPED
    assert defs.resolve_sensor_def("new_blobs_sensor").job_name == "curation_job"
    early = defs.resolve_sensor_def("early_classification_sensor")
    assert early.job_name == "nightly_classification_job"
    schedule = defs.resolve_schedule_def("nightly_classification_schedule")
    assert schedule.description and schedule.cron_schedule == "0 23 * * *"


def test_ci_environment_switches_the_blob_store_to_azure(platform_home, monkeypatch):
    monkeypatch.setenv("IMAGE_PLATFORM_ENV", "ci")
    monkeypatch.setenv("IMAGE_PLATFORM_AZURE_STORAGE_KEY", "a-key")
    resources = _load_defs().resources
    assert type(resources["blob_store"]).__name__ == "AzureBlobStore"
    assert type(resources["warehouse"]).__name__ == "DuckDBWarehouse"


def test_prod_environment_uses_azure_sql_with_settings_only_from_environment_variables(
    platform_home, monkeypatch
):
    monkeypatch.setenv("IMAGE_PLATFORM_ENV", "prod")
    monkeypatch.setenv("IMAGE_PLATFORM_AZURE_ACCOUNT_URL", "https://acct.blob.core.windows.net")
    resources = _load_defs().resources
    warehouse = resources["warehouse"]
    assert type(warehouse).__name__ == "AzureSqlWarehouse"
    # Unresolved EnvVars: nothing secret is baked into the definitions.
    for field in ("server", "database", "user", "password"):
        assert isinstance(getattr(warehouse, field), dg.EnvVar), field


def test_dagster_definitions_validate_accepts_the_workspace(platform_home):
    result = subprocess.run(
        [sys.executable, "-m", "dagster", "definitions", "validate", "-w", "workspace.yaml"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr


# Runs in a fresh interpreter, as a run worker or a step process would: loads the code location the
# way `dagster dev` children do (DAGSTER_IS_DEV_CLI set), then reports what it imported and
# whether the dbt manifest was rewritten (a `dbt parse` rewrites it).
_LOAD_PROBE = """
import json, sys
from assets.dedup.assets import DEDUP_PROJECT
before = DEDUP_PROJECT.manifest_path.stat().st_mtime_ns
from assets.definitions import defs
import dagster as dg
dg.Definitions.validate_loadable(defs)
defs.resolve_job_def("curation_job")
print(json.dumps({
    "modules": sorted(sys.modules),
    "manifest_rewritten": DEDUP_PROJECT.manifest_path.stat().st_mtime_ns != before,
}))
"""


def test_loading_the_code_location_imports_no_kernel_or_heavy_library_and_parses_no_dbt(
    platform_home,
):
    # The manifest is current: importing the dedup assets here prepared it if it was not.
    from assets.dedup.assets import DEDUP_PROJECT

    assert DEDUP_PROJECT.manifest_path.is_file()
    env = {**os.environ, "DAGSTER_IS_DEV_CLI": "1", "PYTHONPATH": str(REPO)}
    result = subprocess.run(
        [sys.executable, "-c", _LOAD_PROBE],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.strip().splitlines()[-1])
    loaded = set(report["modules"])
    assert not [m for m in HEAVY_MODULES if m in loaded]
    assert not report["manifest_rewritten"], "loading the code location ran dbt parse"


def test_the_curation_chain_runs_its_steps_in_one_process(platform_home):
    defs = _load_defs()
    assert defs.resolve_job_def("curation_job").executor_def is dg.in_process_executor

"""The production instance (platform/dagster.yaml) on a real PostgreSQL, with its run queue.

Only the storage endpoints differ from production: the DAGSTER_PG_* variables the yaml reads point
at a throwaway PostgreSQL on 127.0.0.1, and compute logs go to a local folder instead of Azure Blob
Storage (no Azure account here). Runs are submitted to the queue the way the UI submits them and a
real `dagster-daemon` process dequeues and launches them; each run catalogues one batch folder and
hashes it with the multiprocess executor.
"""

import itertools
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import dagster as dg
import pandas as pd
import pytest
import yaml
from dagster._core.definitions.selector import JobSubsetSelector
from dagster._core.storage.dagster_run import IN_PROGRESS_RUN_STATUSES
from dagster._core.workspace.context import WorkspaceProcessContext
from dagster._core.workspace.load_target import WorkspaceFileTarget

from assets.hashing import engine
from assets.hashing.assets import image_hashes
from assets.ingest.assets import raw_images
from assets.tables import IMAGE_HASHES, RAW_IMAGES
from resources.blob_store import LocalBlobStore
from resources.warehouse.duckdb_warehouse import DuckDBWarehouse
from tests.support.images import encode, photo
from tests.support.resources import platform_resources
from tests.support.services import REPO

pytestmark = pytest.mark.slow

BATCHES = 3
PHOTOS = ["chelsea.png", "coffee.png", "astronaut.png", "rocket.jpg", "motorcycle_left.png"]
ASSET_KEYS = [dg.AssetKey("raw_images"), dg.AssetKey("image_hashes")]
POOLED_STEPS = {"raw_images", "image_hashes"}
FINISHED = {dg.DagsterRunStatus.SUCCESS, dg.DagsterRunStatus.FAILURE, dg.DagsterRunStatus.CANCELED}


def write_batches(root: Path) -> list[Path]:
    """Three <label>/<file> folders of real photographs, each batch different crops and sizes."""
    batches = []
    for b in range(BATCHES):
        batch = root / f"batch-{b}"
        for i, name in enumerate(PHOTOS):
            image = photo(name)
            w, h = image.size
            crop = image.crop((b * w // 10, 0, w - i * w // 20, h)).resize((160 + 20 * b, 120))
            folder = batch / ("animals" if i % 2 else "objects")
            folder.mkdir(parents=True, exist_ok=True)
            fmt, ext = ("PNG", "png") if (b + i) % 2 else ("JPEG", "jpg")
            (folder / f"{Path(name).stem}-{b}.{ext}").write_bytes(encode(crop, fmt))
        batches.append(batch)
    return batches


def run_config(batch: Path, executor: str) -> dict:
    # forkserver: each run preloads the code location once; its step processes fork from it.
    forkserver = {"forkserver": {"preload_modules": ["assets.definitions"]}}
    multiprocess = {"max_concurrent": 2, "start_method": forkserver}
    execution = {"multiprocess": multiprocess} if executor == "multiprocess" else {}
    return {
        "ops": {
            "raw_images": {"config": {"source": str(batch), "workers": 1}},
            "image_hashes": {"config": {"workers": 1}},
        },
        **({"execution": {"config": execution}} if execution else {}),
    }


def production_instance_home(home: Path) -> Path:
    """DAGSTER_HOME with platform/dagster.yaml; compute logs swapped for a local folder."""
    config = yaml.safe_load((REPO / "platform" / "dagster.yaml").read_text())
    config["compute_logs"] = {
        "module": "dagster._core.storage.local_compute_log_manager",
        "class": "LocalComputeLogManager",
        "config": {"base_dir": str(home / "compute-logs")},
    }
    home.mkdir(parents=True, exist_ok=True)
    (home / "dagster.yaml").write_text(yaml.safe_dump(config))
    return home


def submit(instance, workspace, batch: Path) -> str:
    location = workspace.get_code_location("image_platform")
    (repo,) = location.get_repositories().values()
    selector = JobSubsetSelector(
        location_name=location.name,
        repository_name=repo.name,
        job_name="__ASSET_JOB",
        op_selection=None,
        asset_selection=ASSET_KEYS,
    )
    job = location.get_job(selector)
    config = run_config(batch, "multiprocess")
    plan = location.get_execution_plan(
        job, config, step_keys_to_execute=None, known_state=None, instance=instance
    )
    run = instance.create_run(
        job_name=job.name,
        run_id=None,
        run_config=config,
        resolved_op_selection=None,
        step_keys_to_execute=plan.execution_plan_snapshot.step_keys_to_execute,
        op_selection=None,
        status=None,
        root_run_id=None,
        parent_run_id=None,
        tags={"batch": batch.name},
        job_snapshot=job.job_snapshot,
        execution_plan_snapshot=plan.execution_plan_snapshot,
        parent_job_snapshot=job.parent_job_snapshot,
        remote_job_origin=job.get_remote_origin(),
        job_code_origin=job.get_python_origin(),
        asset_selection=frozenset(ASSET_KEYS),
        asset_check_selection=None,
        asset_graph=repo.asset_graph,
    )
    return instance.submit_run(run.run_id, workspace).run_id


def step_intervals(instance, run_id: str) -> list[tuple[str, float, float]]:
    starts, ends = {}, {}
    for record in instance.all_logs(run_id):
        event = record.dagster_event
        if event is None or event.step_key not in POOLED_STEPS:
            continue
        if event.event_type == dg.DagsterEventType.STEP_START:
            starts[event.step_key] = record.timestamp
        elif event.event_type in (
            dg.DagsterEventType.STEP_SUCCESS,
            dg.DagsterEventType.STEP_FAILURE,
        ):
            ends[event.step_key] = record.timestamp
    return [(f"{run_id[:8]}:{k}", starts[k], ends[k]) for k in sorted(starts)]


def hashes_of(warehouse: DuckDBWarehouse) -> pd.DataFrame:
    table = warehouse.read_table(IMAGE_HASHES).drop(columns=["hashed_at"])
    return table.sort_values("image_id").reset_index(drop=True)


@pytest.fixture
def production_env(tmp_path, monkeypatch, postgres):
    home = tmp_path / "home"
    dagster_home = production_instance_home(home / "dagster")
    env = {
        "IMAGE_PLATFORM_ENV": "local",
        "IMAGE_PLATFORM_HOME": str(home),
        "DAGSTER_HOME": str(dagster_home),
        "DAGSTER_PG_HOST": postgres.host,
        "DAGSTER_PG_PORT": str(postgres.port),
        "DAGSTER_PG_DB": postgres.db_name,
        "DAGSTER_PG_USER": postgres.user,
        "DAGSTER_PG_PASSWORD": postgres.password,
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    for name in ("IMAGE_PLATFORM_SOURCE", "IMAGE_PLATFORM_DUCKDB_PATH"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(REPO)
    return home


def test_queued_multiprocess_runs_on_postgres_hash_every_batch_like_a_single_process_run(
    tmp_path, production_env
):
    batches = write_batches(tmp_path / "collection")
    engine.warm_up()  # the numba kernels' on-disk cache, shared with the step processes
    instance = dg.DagsterInstance.get()
    assert type(instance.run_storage).__name__ == "PostgresRunStorage"
    assert type(instance.event_log_storage).__name__ == "PostgresEventLogStorage"
    settings = instance.get_concurrency_config()
    assert settings.pool_config.default_pool_limit == 1
    assert settings.pool_config.pool_granularity.value == "op"
    max_runs = settings.run_queue_config.max_concurrent_runs

    with WorkspaceProcessContext(
        instance, WorkspaceFileTarget([str(REPO / "workspace.yaml")])
    ) as ctx:
        workspace = ctx.create_request_context()
        run_ids = [submit(instance, workspace, batch) for batch in batches]
    # Nothing launches a run but the daemon: all of them wait in the queue.
    assert {instance.get_run_by_id(r).status for r in run_ids} == {dg.DagsterRunStatus.QUEUED}

    daemon_log = open(tmp_path / "daemon.log", "wb")
    daemon = subprocess.Popen(
        [sys.executable, "-m", "dagster._daemon", "run", "-w", str(REPO / "workspace.yaml")],
        cwd=REPO,
        env=os.environ.copy(),
        stdout=daemon_log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    peak_in_progress = 0
    try:
        deadline = time.monotonic() + 600
        while True:
            runs = [instance.get_run_by_id(r) for r in run_ids]
            in_progress = [r for r in runs if r.status in IN_PROGRESS_RUN_STATUSES]
            peak_in_progress = max(peak_in_progress, len(in_progress))
            if all(r.status in FINISHED for r in runs):
                break
            assert daemon.poll() is None, (tmp_path / "daemon.log").read_text()[-3000:]
            assert time.monotonic() < deadline, [r.status for r in runs]
            time.sleep(0.5)
    finally:
        os.killpg(daemon.pid, signal.SIGTERM)
        try:
            daemon.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(daemon.pid, signal.SIGKILL)
            daemon.wait()
        daemon_log.close()

    assert [r.status for r in runs] == [dg.DagsterRunStatus.SUCCESS] * BATCHES
    assert peak_in_progress <= max_runs
    for run_id in run_ids:
        types = {e.dagster_event.event_type for e in instance.all_logs(run_id) if e.dagster_event}
        # Each run went through the queue: enqueued on submit, then launched by the daemon.
        assert {dg.DagsterEventType.RUN_ENQUEUED, dg.DagsterEventType.RUN_STARTING} <= types
    # The warehouse pool (limit 1) serialised every write step across the three runs.
    intervals = sorted(
        (i for r in run_ids for i in step_intervals(instance, r)), key=lambda i: i[1]
    )
    assert len(intervals) == 2 * BATCHES
    for (a, _, a_end), (b, b_start, _) in itertools.pairwise(intervals):
        assert a_end <= b_start, f"{a} overlapped {b}"
    assert instance.event_log_storage.get_concurrency_info("warehouse").slot_count == 1

    queued = DuckDBWarehouse(path=str(production_env / "warehouse.duckdb"))
    reference = DuckDBWarehouse(path=str(tmp_path / "reference.duckdb"))
    resources = platform_resources(reference, LocalBlobStore(root=str(tmp_path / "b")))
    with dg.DagsterInstance.ephemeral() as ephemeral:
        for batch in batches:
            result = dg.materialize(
                [raw_images, image_hashes],
                resources=resources,
                run_config=run_config(batch, "in_process"),
                instance=ephemeral,
            )
            assert result.success
    assert len(queued.read_table(RAW_IMAGES)) == len(PHOTOS) * BATCHES
    pd.testing.assert_frame_equal(hashes_of(queued), hashes_of(reference))

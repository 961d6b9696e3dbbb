"""A run SIGKILLed inside a step that holds the `warehouse` pool leaves no slot behind, on the
embedded default (SQLite instance) and on the production instance (PostgreSQL), with a real
`dagster-daemon` launching real multiprocess runs through its code server.

The instance files are used as shipped except for two timings (monitoring every second, slots
freed a second after a run ends, instead of 30-60 s) so the test waits seconds, not minutes.
"""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import dagster as dg
import pytest
import yaml
from dagster._core.workspace.context import WorkspaceProcessContext
from dagster._core.workspace.load_target import WorkspaceFileTarget

from assets.automation.runs import worker_pids
from assets.ingest.assets import raw_images
from resources.blob_store import LocalBlobStore
from resources.warehouse.duckdb_warehouse import DuckDBWarehouse
from tests.integration.test_production_instance import production_instance_home, submit
from tests.support.harness import LOCAL_INSTANCE, assert_same, pool_slots_held, warehouse_snapshot
from tests.support.resources import platform_resources
from tests.support.services import REPO

pytestmark = pytest.mark.slow

PRODUCTION_INSTANCE = REPO / "platform" / "dagster.yaml"
FINISHED = {dg.DagsterRunStatus.SUCCESS, dg.DagsterRunStatus.FAILURE, dg.DagsterRunStatus.CANCELED}


def _fast_monitoring(dagster_home: Path, shipped: Path) -> None:
    config = yaml.safe_load((dagster_home / "dagster.yaml").read_text())
    monitoring = config["run_monitoring"]
    # What ships: monitoring on and slots of ended runs freed.
    assert monitoring["enabled"] is True
    assert monitoring["free_slots_after_run_end_seconds"] > 0, shipped
    monitoring.update(poll_interval_seconds=1, free_slots_after_run_end_seconds=1)
    (dagster_home / "dagster.yaml").write_text(yaml.safe_dump(config))


def _wait(predicate, timeout: float, what: str, poll: float = 0.25):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(poll)


class Daemon:
    """A real dagster-daemon on a Dagster home, started and stopped by PID."""

    def __init__(self, home: Path, log: Path):
        self.home, self.log = home, log
        self.proc = None

    def start(self):
        # The child writes to its own copy of the log's descriptor; ours closes at once.
        with open(self.log, "ab") as handle:
            command = ["-m", "dagster._daemon", "run", "-w", str(REPO / "workspace.yaml")]
            self.proc = subprocess.Popen(
                [sys.executable, *command],
                cwd=REPO,
                env=os.environ.copy(),
                stdout=handle,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        return self

    def kill(self, sig=signal.SIGKILL):
        """The daemon, its code server and every run worker it started (a power cut)."""
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, sig)
            self.proc.wait(timeout=60)

    def stop(self):
        if self.proc is None or self.proc.poll() is not None:
            return
        os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.kill()


def _kill_run_processes(instance, run_id: str) -> list[int]:
    """SIGKILL the run worker and its step processes — what the OOM killer does to a run."""
    pids = sorted(worker_pids(instance, run_id))
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    return pids


def _in_pooled_step(instance, run_id: str) -> bool:
    return run_id in pool_slots_held(instance)


def _collection(root: Path) -> Path:
    from tests.support.chain import write_source

    return write_source(root)


def _reference(tmp_path: Path, source: Path) -> dict:
    warehouse = DuckDBWarehouse(path=str(tmp_path / "reference.duckdb"))
    resources = platform_resources(warehouse, LocalBlobStore(root=str(tmp_path / "rb")))
    config = {"ops": {"raw_images": {"config": {"source": str(source), "workers": 1}}}}
    with dg.DagsterInstance.ephemeral() as ephemeral:
        from assets.hashing.assets import image_hashes

        result = dg.materialize(
            [raw_images, image_hashes],
            resources=resources,
            run_config={**config, "ops": {**config["ops"], "image_hashes": {"config": {}}}},
            instance=ephemeral,
        )
        assert result.success
    return warehouse_snapshot(warehouse.path)


@pytest.fixture(params=["embedded", "production"])
def instance_home(request, tmp_path, monkeypatch):
    home = tmp_path / "home"
    dagster_home = home / "dagster"
    env = {
        "IMAGE_PLATFORM_ENV": "local",
        "IMAGE_PLATFORM_HOME": str(home),
        "DAGSTER_HOME": str(dagster_home),
    }
    if request.param == "embedded":
        dagster_home.mkdir(parents=True)
        (dagster_home / "dagster.yaml").write_text(LOCAL_INSTANCE.read_text())
        shipped = LOCAL_INSTANCE
    else:
        postgres = request.getfixturevalue("postgres")
        production_instance_home(dagster_home)
        # A database of its own: the session's PostgreSQL is shared by other tests.
        db = f"faults_{os.getpid()}_{int(time.time() * 1000) % 10**8}"
        _create_database(postgres, db)
        env.update(
            {
                "DAGSTER_PG_HOST": postgres.host,
                "DAGSTER_PG_PORT": str(postgres.port),
                "DAGSTER_PG_DB": db,
                "DAGSTER_PG_USER": postgres.user,
                "DAGSTER_PG_PASSWORD": postgres.password,
            }
        )
        shipped = PRODUCTION_INSTANCE
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    for name in ("IMAGE_PLATFORM_SOURCE", "IMAGE_PLATFORM_DUCKDB_PATH"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(REPO)
    _fast_monitoring(dagster_home, shipped)
    return request.param, home


def _create_database(postgres, name: str) -> None:
    import psycopg2

    con = psycopg2.connect(
        host=postgres.host,
        port=postgres.port,
        user=postgres.user,
        password=postgres.password,
        dbname=postgres.db_name,
    )
    con.autocommit = True
    with con.cursor() as cur:
        cur.execute(f'CREATE DATABASE "{name}"')
    con.close()


def test_a_run_killed_in_a_pooled_step_frees_its_slot_and_the_next_run_completes(
    tmp_path, instance_home
):
    kind, home = instance_home
    source = _collection(tmp_path / "collection")
    instance = dg.DagsterInstance.get()
    daemon = Daemon(home, tmp_path / "daemon.log").start()
    try:
        with WorkspaceProcessContext(
            instance, WorkspaceFileTarget([str(REPO / "workspace.yaml")])
        ) as ctx:
            first = submit(instance, ctx.create_request_context(), source)
            _wait(lambda: _in_pooled_step(instance, first), 600, "the run to hold its slot")
            killed = _kill_run_processes(instance, first)
            assert killed, "no run-worker process recorded"

            # Dagster's mechanism: the code server fails the run whose process died, and run
            # monitoring frees the slots of ended runs.
            run = _wait(
                lambda: (r := instance.get_run_by_id(first)).status in FINISHED and r,
                120,
                "the killed run to be failed",
            )
            assert run.status == dg.DagsterRunStatus.FAILURE
            # Failed by its code server (Dagster's own mechanism), not by dead_runs_sensor.
            messages = [e.message for e in instance.all_logs(first) if e.dagster_event]
            assert not any("has no live process any more" in m for m in messages)
            _wait(lambda: not pool_slots_held(instance), 120, "the dead run's slot to be freed")

            if kind == "production":
                # run_retries re-executes a run lost this way, on its own.
                def retried():
                    runs = instance.get_runs(
                        filters=dg.RunsFilter(tags={"dagster/root_run_id": first})
                    )
                    done = [r for r in runs if r.status in FINISHED]
                    return done[0] if done else None

                last = _wait(retried, 600, "the automatic retry to finish")
            else:
                again = submit(instance, ctx.create_request_context(), source)
                last = _wait(
                    lambda: (r := instance.get_run_by_id(again)).status in FINISHED and r,
                    600,
                    "the next run to finish",
                )
            assert last.status == dg.DagsterRunStatus.SUCCESS, (
                tmp_path / "daemon.log"
            ).read_text()[-3000:]
    finally:
        daemon.stop()
    assert pool_slots_held(instance) == []
    got = warehouse_snapshot(home / "warehouse.duckdb")
    assert_same(_reference(tmp_path, source), got)

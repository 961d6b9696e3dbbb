"""The embedded default's Dagster instance (platform/local/dagster.yaml): its event log is where
Dagster's default keeps it, records a run's events, and commits without waiting for the disk."""

import shutil
from pathlib import Path

import dagster as dg

from resources.local_instance import LocalSqliteEventLogStorage

REPO = Path(__file__).resolve().parents[2]
LOCAL_INSTANCE = REPO / "platform" / "local" / "dagster.yaml"


@dg.asset(check_specs=[dg.AssetCheckSpec("positive", asset="answer")])
def answer() -> dg.MaterializeResult:
    return dg.MaterializeResult(
        metadata={"value": 42}, check_results=[dg.AssetCheckResult(passed=True)]
    )


def test_local_instance_event_log_records_runs_where_the_default_does_without_disk_waits(
    tmp_path, monkeypatch
):
    home = tmp_path / "dagster"
    home.mkdir()
    shutil.copy(LOCAL_INSTANCE, home / "dagster.yaml")
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    with dg.DagsterInstance.get() as instance:
        storage = instance.event_log_storage
        assert isinstance(storage, LocalSqliteEventLogStorage)
        # the default sqlite storage's own place: an existing home keeps its history
        assert Path(storage._base_dir) == home / "history" / "runs"

        result = dg.materialize([answer], instance=instance)
        assert result.success
        events = instance.all_logs(result.run_id)
        assert any(e.dagster_event and e.dagster_event.is_step_materialization for e in events)
        latest = instance.get_latest_materialization_event(dg.AssetKey("answer"))
        assert latest is not None and latest.run_id == result.run_id
        check = instance.event_log_storage.get_latest_asset_check_execution_by_key(
            [dg.AssetCheckKey(dg.AssetKey("answer"), "positive")]
        )
        assert len(check) == 1

        # every SQLite connection of the process hands writes to the OS without an fsync
        with storage.index_connection() as conn:
            assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 0
        run_db = home / "history" / "runs" / f"{result.run_id}.db"
        assert run_db.is_file()

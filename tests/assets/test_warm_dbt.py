"""The warm dbt: a run's dbt commands served by one dbt that imported itself at run start, with
the caller's streams, environment and exit code, and the real dbt when none is running."""

import os
import signal
import subprocess
import time
from pathlib import Path

import dagster as dg

from assets.dedup.assets import DEDUP_PROJECT
from assets.dedup.project import build_dbt_resource, dbt_executable
from resources.environment import get_settings
from resources.warm_dbt import log_path, socket_path


def _served(pid: int) -> list[str]:
    log = log_path(socket_path(pid))
    return log.read_text().splitlines() if log.is_file() else []


def _wait_for(predicate, timeout: float = 60.0):
    deadline = time.monotonic() + timeout
    while not (value := predicate()):
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)
    return value


def test_a_run_serves_its_dbt_commands_from_one_warm_dbt_and_stops_it_at_the_end(platform_home):
    resource = build_dbt_resource(get_settings(), DEDUP_PROJECT)
    assert resource.warm_start and Path(resource.dbt_executable) != Path(dbt_executable())
    warehouse = platform_home / "warehouse.duckdb"
    with dg.build_resources({"dbt": resource}) as resources:
        dbt = resources.dbt
        _wait_for(socket_path(os.getpid()).exists, 10)  # listening, dbt importing behind it
        # dbt debug connects to the profile's warehouse: DuckDB creates the file there.
        ok = dbt.cli(["debug"], raise_on_error=False)
        assert ok.is_successful(), ok.get_error()
        assert warehouse.is_file()
        # A failing command fails as the real dbt fails, with its exit code and its output.
        bad = dbt.cli(["run-operation", "no_such_macro"], raise_on_error=False)
        assert not bad.is_successful()
        served = _served(os.getpid())
        assert [line.split(": ", 1)[1] for line in served] == [
            "dbt debug -> 0",
            f"dbt run-operation -> {bad.process.returncode}",
        ]
        cold = subprocess.run(
            [dbt_executable(), "run-operation", "no_such_macro"],
            cwd=DEDUP_PROJECT.project_dir,
            env={**os.environ, "DBT_PROFILES_DIR": str(resource.profiles_dir)},
            capture_output=True,
        )
        assert bad.process.returncode == cold.returncode != 0
        assert any("no_such_macro" in str(e.raw_event) for e in bad.stream_raw_events())
        server = socket_path(os.getpid())
    assert not server.exists() and not log_path(server).exists()


def test_without_a_warm_dbt_the_launcher_starts_the_real_dbt(platform_home):
    resource = build_dbt_resource(get_settings(), DEDUP_PROJECT)
    assert not socket_path(os.getpid()).exists()
    invocation = resource.cli(["debug"], raise_on_error=False)
    assert invocation.is_successful(), invocation.get_error()
    assert (platform_home / "warehouse.duckdb").is_file()


def test_a_cancelled_or_killed_launcher_stops_the_warm_dbt_command(platform_home):
    resource = build_dbt_resource(get_settings(), DEDUP_PROJECT)
    with dg.build_resources({"dbt": resource}) as resources:
        # dagster-dbt's SIGINT is relayed to dbt; a killed launcher makes dbt stop itself.
        for done, sig in enumerate((signal.SIGINT, signal.SIGKILL), start=1):
            invocation = resources.dbt.cli(["build"], raise_on_error=False)
            events = invocation.stream_raw_events()
            next(events)  # dbt has started
            invocation.process.send_signal(sig)
            list(events)
            assert invocation.process.wait() != 0
            served = _wait_for(lambda done=done: len(_served(os.getpid())) == done)
            assert served
            assert not _served(os.getpid())[-1].endswith("-> 0"), _served(os.getpid())


def test_a_new_warm_dbt_sweeps_the_files_of_killed_runs_and_keeps_those_of_live_ones(tmp_path):
    from resources.warm_dbt import sweep_stale

    gone = subprocess.Popen(["true"])
    gone.wait()  # a pid that no longer exists (a run worker killed before it stopped its dbt)
    live = os.getpid()
    names = [f"{gone.pid}.sock", f"{gone.pid}.log", f"{live}.sock", f"{live}.log", "notes.txt"]
    for name in names:
        (tmp_path / name).write_text("")
    removed = sweep_stale(tmp_path)
    assert sorted(p.name for p in removed) == sorted(names[:2])
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(names[2:])

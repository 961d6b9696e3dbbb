"""Latency of a new blob: from the sensor's run request to its row in duplicate_groups.

    .venv/bin/python benchmarks/bench_latency.py [--drops 3] [--seed-images 300] [--timeline]

What a user of the embedded default sees with ``make dev`` and ``new_blobs_sensor`` on:

1. a fresh ``IMAGE_PLATFORM_HOME`` whose catalog already holds ``--seed-images`` labelled images
   (a ``curation_job`` run over part of the pipeline benchmark's collection, so dbt rebuilds real
   tables, not empty ones);
2. ``dagster dev`` (webserver, code server and daemon) on that home, ``new_blobs_sensor`` started
   with the CLI;
3. ``--drops`` times: one new image dropped into the incoming container (as ``make drop`` does);
   the daemon's sensor tick requests a one-image ``curation_job`` run, the run queue launches it,
   its steps catalogue, hash, rebuild the dedup tables and update the split.

Timestamps come from the Dagster instance: the run's creation (the sensor's request), its start,
each step's start and end, and the ``duplicate_groups`` materialisation (dbt has committed the
table when Dagster records it); the image's row is then checked in the warehouse. The wait
between the drop and the tick (the sensor runs every 30 s) is reported apart.

Target: run request -> duplicate_groups row <= 20 s.
"""

import argparse
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.bench_pipeline import build_collection, image_files

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
WORKSPACE = ("-w", "workspace.yaml")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _env(home: Path, source: Path) -> dict[str, str]:
    env = {
        **os.environ,
        "IMAGE_PLATFORM_ENV": "local",
        "IMAGE_PLATFORM_HOME": str(home),
        "IMAGE_PLATFORM_SOURCE": str(source),
        "DAGSTER_HOME": str(home / "dagster"),
        "PYTHONPATH": str(REPO),
    }
    env.pop("IMAGE_PLATFORM_DUCKDB_PATH", None)
    return env


def _seed(home: Path, files: list[Path], env: dict[str, str]) -> None:
    source = Path(env["IMAGE_PLATFORM_SOURCE"])
    for path in files:
        target = source / path.parent.name / path.name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(path, target)
    subprocess.run(
        [str(BIN / "dagster"), "job", "execute", "-m", "assets.definitions", "-j", "curation_job"],
        cwd=REPO,
        env=env,
        check=True,
        capture_output=True,
    )


def _wait(predicate, timeout: float, what: str, poll: float = 0.2):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(poll)
    raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {what}")


def _measure(instance, run_id: str) -> dict[str, float]:
    import dagster as dg

    record = instance.get_run_record_by_id(run_id)
    requested = record.create_timestamp.timestamp()
    out = {"run start": record.start_time - requested}
    for stat in instance.get_run_step_stats(run_id):
        out[f"step {stat.step_key}"] = stat.end_time - stat.start_time
        out.setdefault("first step start", stat.start_time - requested)
        out["first step start"] = min(out["first step start"], stat.start_time - requested)
    materialized = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=dg.AssetKey("duplicate_groups")), limit=1
    ).records
    event = materialized[0]
    if event.run_id != run_id:
        raise RuntimeError("duplicate_groups was not materialised by the sensor's run")
    out["request -> duplicate_groups"] = event.timestamp - requested
    out["request -> run end"] = record.end_time - requested
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--drops", type=int, default=3)
    parser.add_argument("--seed-images", type=int, default=300)
    parser.add_argument("--collection", type=int, default=10_000)
    parser.add_argument(
        "--timeline",
        action="store_true",
        help="print every event of the last batch's run, in seconds from its request",
    )
    parser.add_argument(
        "--keep", action="store_true", help="keep the benchmark's IMAGE_PLATFORM_HOME"
    )
    args = parser.parse_args()
    files = image_files(build_collection(args.collection))
    seed, drops = files[: args.seed_images], files[-args.drops :]
    home = Path(tempfile.mkdtemp(prefix="bench-latency-"))
    (home / "dagster").mkdir(parents=True)
    shutil.copy(REPO / "platform" / "local" / "dagster.yaml", home / "dagster" / "dagster.yaml")
    env = _env(home, home / "collection")
    started = time.monotonic()
    _seed(home, seed, env)
    print(f"seeded {len(seed)} images in {time.monotonic() - started:.0f} s")
    os.environ.update({k: env[k] for k in ("DAGSTER_HOME", "IMAGE_PLATFORM_HOME")})
    load = os.getloadavg()[0]
    log = open(home / "dagster-dev.log", "wb")
    dev = subprocess.Popen(
        [str(BIN / "dagster"), "dev", "-h", "127.0.0.1", "-p", str(_free_port()), *WORKSPACE],
        cwd=REPO,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    results: list[dict[str, float]] = []
    try:
        import dagster as dg

        with dg.DagsterInstance.get() as instance:
            _wait(
                lambda: (
                    subprocess.run(
                        [str(BIN / "dagster"), "sensor", "start", "new_blobs_sensor", *WORKSPACE],
                        cwd=REPO,
                        env=env,
                        capture_output=True,
                    ).returncode
                    == 0
                ),
                240,
                "the code location to load",
                poll=2,
            )
            for path in drops:
                before = {r.run_id for r in instance.get_runs()}
                dropped = time.time()
                subprocess.run(
                    [sys.executable, "-m", "assets.demo", "drop", str(path)],
                    cwd=REPO,
                    env=env,
                    check=True,
                    capture_output=True,
                )
                run = _wait(
                    lambda before=before: next(
                        (r for r in instance.get_runs() if r.run_id not in before), None
                    ),
                    180,
                    "the sensor's run request",
                )
                done = _wait(
                    lambda run=run: (
                        instance.get_run_by_id(run.run_id).is_finished
                        and instance.get_run_by_id(run.run_id)
                    ),
                    300,
                    "the run to finish",
                )
                if done.status != dg.DagsterRunStatus.SUCCESS:
                    raise RuntimeError(f"run {run.run_id} ended {done.status}")
                measured = _measure(instance, run.run_id)
                requested = instance.get_run_record_by_id(run.run_id).create_timestamp
                measured["drop -> request (sensor tick)"] = requested.timestamp() - dropped
                results.append(measured)
                timeline = _timeline(instance, run.run_id)
                print(
                    f"{path.name}: request -> duplicate_groups "
                    f"{measured['request -> duplicate_groups']:.1f} s"
                )
    finally:
        for sig in (signal.SIGTERM, signal.SIGKILL):
            try:
                os.killpg(dev.pid, sig)
                dev.wait(timeout=20)
                break
            except (ProcessLookupError, subprocess.TimeoutExpired):
                continue
        log.close()
    _check_rows(home, len(drops))
    print(
        f"\n{len(results)} one-image batches; load average before {load:.2f}, "
        f"after {os.getloadavg()[0]:.2f}"
    )
    print("| interval (s) | median | min | max |")
    print("|---|---:|---:|---:|")
    for key in results[0]:
        values = [r[key] for r in results if key in r]
        print(
            f"| {key} | {statistics.median(values):.1f} | {min(values):.1f} | {max(values):.1f} |"
        )
    target = statistics.median(r["request -> duplicate_groups"] for r in results)
    print(f"\nrun request -> duplicate_groups row: median {target:.1f} s (target <= 20 s)")
    if args.timeline:
        print("\nthe last batch's run, in seconds from its request:")
        for line in timeline:
            print(line)
    if args.keep:
        print(f"\nkept {home}")
    else:
        shutil.rmtree(home, ignore_errors=True)


def _timeline(instance, run_id: str) -> list[str]:
    """One line per event of the run: seconds since the request, step, event type, message."""
    requested = instance.get_run_record_by_id(run_id).create_timestamp.timestamp()
    lines = []
    for record in instance.get_records_for_run(run_id, limit=10_000).records:
        entry = record.event_log_entry
        kind = entry.dagster_event.event_type_value if entry.dagster_event else "LOG"
        message = " ".join((entry.user_message or "").split())[:90]
        lines.append(
            f"{entry.timestamp - requested:7.2f}  {entry.step_key or '-':<28} {kind:<28} {message}"
        )
    return lines


def _check_rows(home: Path, drops: int) -> None:
    import duckdb

    with duckdb.connect(str(home / "warehouse.duckdb"), read_only=True) as con:
        (n,) = con.execute(
            "SELECT COUNT(*) FROM duplicate_groups g JOIN raw_images r USING (image_id) "
            "WHERE r.source_uri LIKE '%/incoming/%'"
        ).fetchone()
    if n < drops:
        raise RuntimeError(f"only {n} of {drops} dropped images are in duplicate_groups")


if __name__ == "__main__":
    main()

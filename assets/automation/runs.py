"""Runs whose processes are gone: fail them and give back their pool slots (embedded default).

Dagster frees a run's `warehouse` pool slot when the run ends. A run whose worker is SIGKILLed
(out of memory, a killed terminal, a power cut, `dagster dev` killed with its children) never
ends by itself: it stays STARTED and keeps its slot, and every later run waits forever ("Step
blocked by limit for pool warehouse").

Two mechanisms cover it:

* Dagster's own, configured in both instance files: a run launched through a code server (the
  UI, schedules, sensors) is failed by that code server when its process dies, and the daemon's
  run monitoring frees the slots of ended runs after ``free_slots_after_run_end_seconds``.
* This module, for runs nobody watches any more — executed in-process by a CLI (``make demo``,
  ``dagster job execute``) or orphaned when ``dagster dev`` itself died. Every Dagster event
  records the process that emitted it; a STARTED run none of whose run-worker processes exists
  any more on this machine is failed and its slots freed at once. It runs as the
  ``dead_runs_sensor`` (local and ci environments, where every process of the instance runs on
  one machine) and before ``python -m assets.demo run``.
"""

import os
from dataclasses import dataclass
from pathlib import Path

import dagster as dg

# Events emitted by the run's own processes (the daemon and the code server emit others).
_WORKER_EVENTS = (
    dg.DagsterEventType.RUN_START,
    dg.DagsterEventType.STEP_START,
    dg.DagsterEventType.STEP_WORKER_STARTED,
    dg.DagsterEventType.ENGINE_EVENT,
)


@dataclass(frozen=True)
class DeadRun:
    """A run whose processes are gone, failed by the check, and the pool slots it freed."""

    run_id: str
    job_name: str
    pids: tuple[int, ...]
    freed_slots: int


def _boot_time() -> float | None:
    try:
        for line in Path("/proc/stat").read_text().splitlines():
            if line.startswith("btime "):
                return float(line.split()[1])
    except OSError:
        return None
    return None


def process_started_at(pid: int) -> float | None:
    """When ``pid`` started (epoch seconds) where /proc tells, else None."""
    boot = _boot_time()
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    if boot is None:
        return None
    # The command name (field 2) may hold spaces and parentheses: fields start after the last ')'.
    fields = stat.rsplit(")", 1)[1].split()
    return boot + int(fields[19]) / os.sysconf("SC_CLK_TCK")


def process_alive(pid: int, seen_at: float) -> bool:
    """True when ``pid`` exists and is the process that emitted an event at ``seen_at`` (a pid
    reused by a process started later is not)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    started = process_started_at(pid)
    if started is not None and started > seen_at + 1.0:
        return False
    try:  # a zombie has exited; only its parent has not collected it yet
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return True
    return state != "Z"


def worker_pids(instance: dg.DagsterInstance, run_id: str) -> dict[int, float]:
    """The processes that executed ``run_id`` (pid -> when it was last seen emitting)."""
    pids: dict[int, float] = {}
    for record in instance.all_logs(run_id):
        event = record.dagster_event
        if event is None or event.event_type not in _WORKER_EVENTS:
            continue
        found = []
        metadata = getattr(event.event_specific_data, "metadata", None) or {}
        if "pid" in metadata:
            found.append(int(str(metadata["pid"].value)))
        elif event.event_type != dg.DagsterEventType.ENGINE_EVENT and event.pid:
            found.append(int(event.pid))
        for pid in found:
            pids[pid] = max(pids.get(pid, 0.0), record.timestamp)
    return pids


def release_dead_runs(instance: dg.DagsterInstance, log=None) -> list[DeadRun]:
    """Fail every STARTED run whose processes are all gone and free its pool slots."""
    released = []
    records = instance.get_run_records(
        filters=dg.RunsFilter(statuses=[dg.DagsterRunStatus.STARTED])
    )
    for record in records:
        run = record.dagster_run
        pids = worker_pids(instance, run.run_id)
        if not pids or any(process_alive(pid, seen) for pid, seen in pids.items()):
            continue
        message = (
            f"Run {run.run_id} has no live process any more (pids {sorted(pids)} are gone: "
            "killed, out of memory, or its terminal or dagster dev ended); marking it failed and "
            "freeing its concurrency-pool slots so later runs are not blocked."
        )
        # Re-read: the run may have ended while we looked.
        current = instance.get_run_by_id(run.run_id)
        if current is None or current.status != dg.DagsterRunStatus.STARTED:
            continue
        instance.report_engine_event(message, current)
        instance.report_run_failed(current, message)
        freed = 0
        storage = instance.event_log_storage
        if storage.supports_global_concurrency_limits:
            freed = sum(
                slot.run_id == run.run_id
                for key in storage.get_concurrency_keys()
                for slot in storage.get_concurrency_info(key).claimed_slots
            )
            storage.free_concurrency_slots_for_run(run.run_id)
        if log is not None:
            log.warning(f"{message} ({freed} slots freed)")
        released.append(DeadRun(run.run_id, run.job_name, tuple(sorted(pids)), freed))
    return released


@dg.sensor(
    name="dead_runs_sensor",
    minimum_interval_seconds=30,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description=(
        "Embedded default (local and ci environments): fails runs whose processes are gone (a "
        "killed CLI run, dagster dev killed with its children) and frees their warehouse-pool "
        "slots, so the next run is never blocked by a dead one. Runs that a code server launched "
        "are failed by that code server, and the daemon frees their slots too."
    ),
)
def dead_runs_sensor(context: dg.SensorEvaluationContext):
    released = release_dead_runs(context.instance, context.log)
    if not released:
        return dg.SkipReason("no run without a live process")
    return dg.SkipReason(
        "failed and freed the slots of "
        + ", ".join(f"{r.run_id} ({r.job_name}, {r.freed_slots} slots)" for r in released)
    )

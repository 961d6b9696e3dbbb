"""Fixtures of the fault suite: one clean run of the whole chain."""

import dagster as dg
import pytest

from tests.support.chain import CHAIN, drop_arrivals, platform_snapshot
from tests.support.harness import Platform


@pytest.fixture(scope="session")
def clean_chain(tmp_path_factory, fault_source):
    """The whole chain run once without faults: its snapshot and how long each job took."""
    platform = Platform(tmp_path_factory.mktemp("clean") / "home", fault_source)
    drop_arrivals(platform)
    platform.run(CHAIN)
    instance = platform.instance()
    durations = {}  # (job, step) -> seconds the step took in the clean run
    for record in instance.get_run_records():
        job = record.dagster_run.job_name
        started = {}
        for entry in instance.all_logs(record.dagster_run.run_id):
            event = entry.dagster_event
            if event is None or not event.step_key:
                continue
            if event.event_type == dg.DagsterEventType.STEP_START:
                started[event.step_key] = entry.timestamp
            elif event.event_type == dg.DagsterEventType.STEP_SUCCESS:
                took = entry.timestamp - started[event.step_key]
                durations[(job, event.step_key)] = max(
                    took, durations.get((job, event.step_key), 0)
                )
    instance.dispose()
    return platform_snapshot(platform), durations

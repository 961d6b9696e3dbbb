"""dead_runs_sensor, as the daemon evaluates it: a live run is left alone; the same run SIGKILLed
in a pooled step is failed and its slot freed."""

import random

import dagster as dg
import pytest

from assets.automation.runs import dead_runs_sensor
from tests.support.harness import Platform, pool_slots_held

pytestmark = pytest.mark.slow


def _evaluate(instance):
    with dg.build_sensor_context(instance=instance) as context:
        return dead_runs_sensor(context)


def test_the_sensor_leaves_live_runs_alone_and_releases_a_killed_one(tmp_path, fault_source):
    platform = Platform(tmp_path / "home", fault_source)
    instance = platform.instance()
    live = {}

    def while_running(run_id):
        # The run is inside its pooled step and alive: nothing to release.
        live["result"] = _evaluate(instance)
        live["status"] = instance.get_run_by_id(run_id).status

    kill = platform.run_killed(
        [{"job": "curation_job"}],
        "curation_job",
        ["dedup_dbt_models"],
        random.Random(0),
        max_delay=0.0,
        before_kill=while_running,
    )
    assert "no run without a live process" in str(live["result"].skip_message)
    assert live["status"] == dg.DagsterRunStatus.STARTED
    assert kill.slots_held == [kill.run_id]

    result = _evaluate(instance)

    assert kill.run_id in str(result.skip_message)
    run = instance.get_run_by_id(kill.run_id)
    assert run.status == dg.DagsterRunStatus.FAILURE
    assert pool_slots_held(instance) == []
    messages = [e.message for e in instance.all_logs(kill.run_id) if e.dagster_event]
    assert any("has no live process any more" in m for m in messages)
    instance.dispose()

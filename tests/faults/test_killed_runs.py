"""SIGKILL real runs at random moments of curation, publishing and the nightly, rerun each time,
and compare every table and blob with a clean run of the same chain."""

import dagster as dg
import pytest

from tests.support.chain import CHAIN, chain_from, drop_arrivals, platform_snapshot
from tests.support.harness import Platform, assert_same, pool_slots_held, seeded_rng

pytestmark = pytest.mark.slow

# Where the kills land: a random moment inside one of these steps (all in the warehouse pool),
# up to half the step's duration in the clean run (so a kill lands inside it even when the
# machine is less loaded than during the clean run).
KILLS = [
    ("curation_job", None, ["raw_images", "image_hashes", "dedup_dbt_models", "train_test_split"]),
    ("publish_job", "train", ["published_images"]),
    ("nightly_classification_job", None, ["nightly_classifications"]),
]


def test_runs_killed_in_curation_publishing_and_the_nightly_then_rerun_leave_a_clean_result(
    tmp_path, fault_source, clean_chain
):
    clean, durations = clean_chain
    rng, seed = seeded_rng("chain")
    platform = Platform(tmp_path / "home", fault_source)
    drop_arrivals(platform)
    instance = platform.instance()
    # Each process reruns the chain from the job killed last, and is killed in the next one.
    remaining, release, kills = CHAIN, False, []
    for job, partition, steps in KILLS:
        step = rng.choice(steps)
        delay = 0.5 * durations[(job, step)]
        kill = platform.run_killed(remaining, job, [step], rng, delay, release)
        kills.append(kill)
        context = f"seed {seed}: {kills}"
        assert kill.returncode == -9, context
        assert kill.interrupted, context  # the kill left a run unfinished
        # A killed run cannot end itself: it stays STARTED, holding its pool slot when it was
        # inside a pooled step, until the dead-run check releases it.
        started = {r for r, status in kill.interrupted.items() if status == "STARTED"}
        assert started <= {kill.run_id}, context
        assert set(kill.slots_held) <= started, context
        if kill.step == step and kill.run_id in started:
            assert kill.slots_held == [kill.run_id], context  # killed inside the pooled step
        remaining, release = chain_from(job, partition), True

    platform.run(remaining, release=True, timeout=600)

    context = f"seed {seed}: {kills}"
    for kill in kills:
        for run_id, status in kill.interrupted.items():
            if status == "STARTED":
                assert instance.get_run_by_id(run_id).status == dg.DagsterRunStatus.FAILURE
    assert pool_slots_held(instance) == [], context
    instance.dispose()
    assert_same(clean, platform_snapshot(platform))

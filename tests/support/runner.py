"""Run jobs of the code location in this process, the way ``make demo`` does (fault suite).

    python -m tests.support.runner '{"jobs": [{"job": "curation_job"}, ...], "release": true}'

A job may name ``"assets"``: only those of its assets run (a subset).

Each job runs with ``execute_in_process`` on the instance of ``DAGSTER_HOME`` — a real run with
real pool slots, which the suite kills with SIGKILL at a chosen moment. With ``"release"``, the
dead-run check (``dead_runs_sensor``'s) runs first, as it would in the daemon before a rerun.
Exits 0 when every job succeeded, 1 at the first failed one.
"""

import json
import sys

import dagster as dg


def main(argv: list[str]) -> int:
    plan = json.loads(argv[1])
    from assets.automation.runs import release_dead_runs
    from assets.definitions import defs

    instance = dg.DagsterInstance.get()
    if plan.get("release"):
        for dead in release_dead_runs(instance):
            sys.stderr.write(f"released dead run {dead.run_id} ({dead.freed_slots} slots)\n")
    for step in plan["jobs"]:
        job = defs.resolve_job_def(step["job"])
        result = job.execute_in_process(
            instance=instance,
            partition_key=step.get("partition"),
            run_config=step.get("config") or None,
            # A subset of the job's assets, as a user materialises them from the UI.
            asset_selection=[dg.AssetKey(a) for a in step["assets"]] if "assets" in step else None,
            raise_on_error=False,
        )
        if not result.success:
            sys.stderr.write(f"{step['job']} failed (run {result.run_id})\n")
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))

"""Start-up cost of the code location against its floor, side by side in one run.

    .venv/bin/python benchmarks/bench_startup.py [--reps 7]

Every run step, sensor tick and CLI call starts a Python process that imports the code location,
so its import time is paid many times a day. The floor of a code location with dbt assets is
importing ``dagster`` and ``dagster_dbt`` themselves. Each contender runs in a fresh interpreter
(no warm module cache beyond the operating system's file cache), in interleaved rounds after one
warm-up round each, and the medians are compared:

* ``floor``: ``import dagster, dagster_dbt``;
* ``code location``: ``import assets.definitions`` (the module ``workspace.yaml`` loads: every
  asset, check, job, schedule, sensor and resource, the dbt assets built from the manifest);
* ``code location, dev``: the same with ``DAGSTER_IS_DEV_CLI=1``, as every process under
  ``dagster dev`` (run workers included) sees it.

Target: code location <= 1.2 x floor. Also printed: which heavy modules the code location left
unloaded (they load when a step uses them).
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

sys.path.insert(0, str(REPO))
from tests.support.heavy_modules import HEAVY_MODULES as HEAVY  # noqa: E402

PROBE = """
import json, sys, time
started = time.perf_counter()
{imports}
elapsed = time.perf_counter() - started
print(json.dumps({{"seconds": elapsed, "loaded": [m for m in {heavy!r} if m in sys.modules]}}))
"""

CONTENDERS = {
    "floor: import dagster, dagster_dbt": ("import dagster, dagster_dbt", {}),
    "code location: import assets.definitions": ("import assets.definitions", {}),
    "code location under dagster dev": (
        "import assets.definitions",
        {"DAGSTER_IS_DEV_CLI": "1"},
    ),
}


def probe(imports: str, extra_env: dict[str, str]) -> dict:
    env = {**os.environ, **extra_env, "PYTHONPATH": str(REPO)}
    out = subprocess.run(
        [sys.executable, "-c", PROBE.format(imports=imports, heavy=HEAVY)],
        cwd=REPO,
        env=env,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return json.loads(out.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--reps", type=int, default=7)
    args = parser.parse_args()
    load = os.getloadavg()[0]
    times: dict[str, list[float]] = {name: [] for name in CONTENDERS}
    loaded: dict[str, list[str]] = {}
    for imports, env in CONTENDERS.values():  # warm-up: file cache, numba/dbt caches
        probe(imports, env)
    for _ in range(args.reps):
        for name, (imports, env) in CONTENDERS.items():
            result = probe(imports, env)
            times[name].append(result["seconds"])
            loaded[name] = result["loaded"]
    floor = statistics.median(times["floor: import dagster, dagster_dbt"])
    print(f"load average before: {load:.2f}, after: {os.getloadavg()[0]:.2f}; reps {args.reps}")
    print("| contender | median s | min s | max s | x floor | heavy modules loaded |")
    print("|---|---:|---:|---:|---:|---|")
    for name, values in times.items():
        median = statistics.median(values)
        heavy = ", ".join(loaded[name]) or "none"
        print(
            f"| {name} | {median:.2f} | {min(values):.2f} | {max(values):.2f} "
            f"| {median / floor:.2f} | {heavy} |"
        )
    ratio = statistics.median(times["code location: import assets.definitions"]) / floor
    print(f"\ncode location / floor = {ratio:.2f} (target <= 1.2)")


if __name__ == "__main__":
    started = time.monotonic()
    main()
    print(f"({time.monotonic() - started:.0f} s)")

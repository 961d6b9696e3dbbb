"""Hashing throughput with 1 and 2 workers, exact and fast mode, in one run; and the arithmetic of
the scaling note in platform/README.md.

    .venv/bin/python -m benchmarks.bench_scaling [--reps 5] [--modes exact fast]
        [--subsets web-jpeg megapixel] [--images 10000000] [--pods 1 10 50]

Uses the corpus of bench_hashing.py (built on first use): ``web-jpeg`` is its web-size JPEGs
(0.3–1 MP), ``web`` adds the PNGs, ``megapixel`` is the 2–12 MP camera JPEGs. Every subset is
repeated to at least ``--batch`` images, held in memory. Per mode, three contenders hash the
same batch:

* ``1 worker``: ``hash_many(workers=1)``, the single-core rate;
* ``2 threads``: ``hash_many(workers=2)`` in this process, what a step with ``workers: 2`` does;
* ``2 processes``: two forked processes with one worker each, half of the batch each — no GIL
  shared, so this is what the machine gives two workers at the moment.

Rounds are interleaved (each round runs every contender once) after a warm-up, so load from
elsewhere hits all three alike; medians are reported. The target is 2 threads >= 1.8x 1 worker;
on a shared machine the 2-process ratio says how much of that the cores allowed in this run,
and ``threads / processes`` is the share of it the GIL left to the threads (1.00: none lost).
A pure CPU loop in 1 and 2 processes gives the machine's own ceiling in the same run.
"""

import argparse
import multiprocessing
import os
import statistics
import time
from collections.abc import Callable

from assets.hashing import engine
from benchmarks.bench_hashing import build_corpus, load_corpus

_BLOBS: list[bytes] = []  # the batch, inherited by forked workers (not pickled per task)


def _hash_range(mode: str, workers: int, start: int, stop: int) -> int:
    done = 0
    items = ((i, _BLOBS[i]) for i in range(start, stop))
    for _, result in engine.hash_many(items, mode=mode, workers=workers):
        if isinstance(result, Exception):
            raise result
        done += 1
    return done


def _warm(_: int) -> None:
    engine.warm_up()


def _spin(n: int) -> int:
    total = 0
    for i in range(n):
        total += i
    return total


def _machine_ceiling(pool, reps: int, n: int = 5_000_000) -> float:
    """How much faster two processes finish twice a pure CPU loop than one process once: what
    the cores give two workers right now, whatever the workload (2.00 on two idle cores)."""
    ratios = []
    for _ in range(reps):
        one = _timed(lambda: _spin(n))
        two = _timed(lambda: pool.map(_spin, [n, n]))
        ratios.append(2 * one / two)
    return statistics.median(ratios)


def _timed(run: Callable[[], object]) -> float:
    started = time.perf_counter()
    run()
    return time.perf_counter() - started


def _measure(mode: str, reps: int, pool) -> dict[str, list[float]]:
    n = len(_BLOBS)
    half = n // 2
    contenders: dict[str, Callable[[], object]] = {
        "1 worker": lambda: _hash_range(mode, 1, 0, n),
        "2 threads": lambda: _hash_range(mode, 2, 0, n),
        "2 processes": lambda: pool.starmap(_hash_range, [(mode, 1, 0, half), (mode, 1, half, n)]),
    }
    for run in contenders.values():  # warm-up: kernels compiled, buffers and plans cached
        run()
    results: dict[str, list[float]] = {name: [] for name in contenders}
    for _ in range(reps):
        for name, run in contenders.items():
            results[name].append(_timed(run))
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--modes", nargs="+", default=list(engine.MODES), choices=engine.MODES)
    parser.add_argument(
        "--subsets", nargs="+", default=["web-jpeg"], choices=["web-jpeg", "web", "megapixel"]
    )
    parser.add_argument("--batch", type=int, default=240, help="images per timed batch")
    parser.add_argument("--images", type=int, default=10_000_000)
    parser.add_argument("--pods", type=int, nargs="+", default=[])
    parser.add_argument("--cores-per-pod", type=int, default=2)
    args = parser.parse_args()
    build_corpus()
    corpus = load_corpus()
    subsets = {
        "web-jpeg": [b for name, b in corpus["web"] if name.endswith(".jpg")],
        "web": [b for _, b in corpus["web"]],
        "megapixel": [b for _, b in corpus["megapixel"]],
    }
    load_before = os.getloadavg()
    engine.warm_up()
    ctx = multiprocessing.get_context("fork")
    print(f"load average before: {load_before[0]:.2f} {load_before[1]:.2f} {load_before[2]:.2f}")
    print(
        "| subset | mode | 1 worker img/s | 2 threads img/s | 2 processes img/s "
        "| threads x 1 | processes x 1 | threads / processes |"
    )
    print("|---|---|---:|---:|---:|---:|---:|---:|")
    ceilings = []
    for subset in args.subsets:
        blobs = subsets[subset]
        _BLOBS[:] = blobs * max(1, -(-args.batch // len(blobs)))
        with ctx.Pool(2) as pool:  # forked after the batch is in place
            pool.map(_warm, range(2))
            ceilings.append(_machine_ceiling(pool, args.reps))
            for mode in args.modes:
                results = _measure(mode, args.reps, pool)
                rate = {
                    name: len(_BLOBS) / statistics.median(runs) for name, runs in results.items()
                }
                one, threads, procs = rate["1 worker"], rate["2 threads"], rate["2 processes"]
                print(
                    f"| {subset} ({len(blobs)} files x {len(_BLOBS) // len(blobs)}) | {mode} "
                    f"| {one:.1f} | {threads:.1f} | {procs:.1f} | {threads / one:.2f} "
                    f"| {procs / one:.2f} | {threads / procs:.2f} |"
                )
                for pods in args.pods:
                    # A pod hashes with its cores at the measured 2-worker efficiency.
                    per_pod = one * args.cores_per_pod * (threads / one / 2)
                    hours = args.images / (per_pod * pods) / 3600
                    print(
                        f"  {args.images:,} images, {pods} pods x {args.cores_per_pod} cores: "
                        f"{hours:.1f} h"
                    )
    print(f"machine ceiling (2 CPU-bound processes / 1): {statistics.median(ceilings):.2f}")
    load_after = os.getloadavg()
    print(f"load average after: {load_after[0]:.2f} {load_after[1]:.2f} {load_after[2]:.2f}")


if __name__ == "__main__":
    main()

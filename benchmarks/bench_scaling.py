"""Hashing throughput per process and per worker count, for the scaling note in platform/README.md.

    .venv/bin/python benchmarks/bench_scaling.py [--reps 3] [--images 10000000] [--pods 10 50]

Uses the corpus of bench_hashing.py (built on first use). Measures ``hash_many`` (exact mode, sizes
1..8) with 1 and 2 worker threads in one process, and two single-worker processes side by side,
then turns the measured per-core rate into the time to hash ``--images`` images on N pods.
"""

import argparse
import multiprocessing
import statistics
import time

from assets.hashing import engine
from benchmarks.bench_hashing import build_corpus, load_corpus


def _hash_all(blobs: list[bytes], workers: int) -> int:
    engine.warm_up()
    done = 0
    for _ in engine.hash_many(((i, b) for i, b in enumerate(blobs)), workers=workers):
        done += 1
    return done


def _rate(blobs: list[bytes], workers: int, reps: int) -> float:
    _hash_all(blobs[:4], workers)
    times = []
    for _ in range(reps):
        started = time.perf_counter()
        _hash_all(blobs, workers)
        times.append(time.perf_counter() - started)
    return len(blobs) / statistics.median(times)


def _two_processes(blobs: list[bytes], reps: int) -> float:
    ctx = multiprocessing.get_context("fork")
    with ctx.Pool(2) as pool:
        pool.starmap(_hash_all, [(blobs[:4], 1)] * 2)
        times = []
        for _ in range(reps):
            started = time.perf_counter()
            pool.starmap(_hash_all, [(blobs, 1)] * 2)
            times.append(time.perf_counter() - started)
    return 2 * len(blobs) / statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--images", type=int, default=10_000_000)
    parser.add_argument("--pods", type=int, nargs="+", default=[1, 10, 50])
    parser.add_argument("--cores-per-pod", type=int, default=2)
    args = parser.parse_args()
    build_corpus()
    for subset, items in load_corpus().items():
        blobs = [data for _, data in items]
        mb = sum(len(b) for b in blobs) / len(blobs) / 1e6
        one = _rate(blobs, 1, args.reps)
        two_threads = _rate(blobs, 2, args.reps)
        two_procs = _two_processes(blobs, args.reps)
        print(f"{subset}: {len(blobs)} images, {mb:.2f} MB average")
        print(f"  1 process, 1 worker : {one:8.1f} images/s")
        print(f"  1 process, 2 workers: {two_threads:8.1f} images/s ({two_threads / one:.2f}x)")
        print(f"  2 processes         : {two_procs:8.1f} images/s ({two_procs / one:.2f}x)")
        # A pod hashes with its cores at the measured 2-worker efficiency.
        per_pod = one * args.cores_per_pod * (two_threads / one / 2)
        for pods in args.pods:
            hours = args.images / (per_pod * pods) / 3600
            print(
                f"  {args.images:,} images, {pods} pods x {args.cores_per_pod} cores: {hours:.1f} h"
            )


if __name__ == "__main__":
    main()

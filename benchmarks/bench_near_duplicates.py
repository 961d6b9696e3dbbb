"""Benchmark of the near-duplicate link models on DuckDB: time, peak memory and recall.

For each size, a synthetic table of size-8 hashes shaped like a real collection (10% of the rows
in clusters: a base hash and 1..4 variants each 1..threshold bits from it, among uniformly
random hashes) is loaded into a DuckDB file as ``stg_images``. Each link model
(``near_duplicate_pairs``; ``border_trimmed_pairs``, the content-box link, whose trimmed hashes
are the plain ones here: an image without borders, the common case; ``multi_size_pairs``;
``centre_pairs`` and ``edge_cut_pairs``, on synthetic probe hashes: ``probe_hashes``) is
built by ``dbt run --select <model>`` in a fresh process, hooks included (the link models build
their distinct-hash table in a pre-hook); the time is the model's own from dbt's run results (no
dbt start-up), the peak resident memory (``ru_maxrss``) that of the whole dbt process (Python,
dbt, DuckDB and the query; about 250 MB of it is dbt itself). Up to ``--recall-max`` rows the
result is checked against brute force over all pairs (numpy, chunked, popcount). The machine
load (``os.getloadavg``) is recorded around each run.

    python benchmarks/bench_near_duplicates.py                     # 100k, 1M, 10M
    python benchmarks/bench_near_duplicates.py --sizes 100k,1M --thresholds 6,8 --agreements 2
    python benchmarks/bench_near_duplicates.py --sizes 1M --agreements 2 \
        --models near_duplicate_pairs,border_trimmed_pairs,multi_size_pairs,centre_pairs,\
edge_cut_pairs --trim-threshold 12

multi_size_pairs searches the size-5 words (synthetic: shared within a cluster, 0 or 1 bit
flipped) at the shipped confirmation distance; its threshold column is that distance.
"""

import argparse
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import duckdb
import numpy as np

from assets.dedup.project import DBT_PROJECT_DIR, DUCKDB_PATH_ENV, dbt_executable, dbt_vars
from assets.dedup.synthetic import near_duplicate_hashes


def parse_size(text: str) -> int:
    text = text.strip().lower().replace("_", "")
    factor = {"k": 1_000, "m": 1_000_000}.get(text[-1], 1)
    return int(float(text.rstrip("km")) * factor)


def human(n: int) -> str:
    if n >= 1_000_000 and n % 1_000_000 == 0:
        return f"{n // 1_000_000}M"
    if n >= 1_000 and n % 1_000 == 0:
        return f"{n // 1_000}k"
    return str(n)


def coarse_hashes(
    hashes, seed: int, size: int = 5, max_flips: int = 1
) -> tuple[np.ndarray, np.ndarray]:
    """Size-``size`` words (size² bits each) for the multi-size link: uniformly random, except
    that the members of a near-duplicate cluster share one coarse picture, each with 0 to
    ``max_flips`` bits flipped (size 5: 0 or 1, within the shipped 1-bit confirmation; size 7: up
    to its shipped distance), so every cluster is a candidate of that search."""
    rng = np.random.default_rng(seed + size - 4)
    bits = size * size
    n = len(hashes)
    row = rng.integers(0, 1 << bits, size=n, dtype=np.int64)
    col = rng.integers(0, 1 << bits, size=n, dtype=np.int64)
    cluster = hashes.cluster.to_numpy()
    member = cluster >= 0
    ids, first = np.unique(cluster[member], return_index=True)
    base = np.flatnonzero(member)[first]
    at = np.searchsorted(ids, cluster[member])
    row[member], col[member] = row[base][at], col[base][at]
    for _ in range(max_flips):
        flip = member & (rng.random(n) < 0.5)
        bit = rng.integers(0, 2 * bits, size=n)
        low, high = flip & (bit < bits), flip & (bit >= bits)
        row[low] ^= np.left_shift(1, bit[low])
        col[high] ^= np.left_shift(1, bit[high] - bits)
    return row, col


PROBES = ("area", "centre", "cut_top", "cut_bottom", "cut_left", "cut_right")
# Bit patterns that turn a size-8 hash into another hash at the same distances from the others.
_CENTRE_MASK, _AREA_MASK = 0x5555_5555_5555_5555, 0x3333_3333_3333_3333


def probe_hashes(hashes, seed: int) -> dict[str, np.ndarray]:
    """Probe hash words for the centre and edge-cut links: the centre hash is the size-8 hash
    with a fixed pattern flipped (the same distances, so centre_pairs has near_duplicate_pairs'
    true pairs), the area hash likewise with another pattern; a cluster member's bottom-cut hash
    is its area hash with one bit flipped (so it meets its cluster's area hashes), every other
    cut hash uniformly random."""
    rng = np.random.default_rng(seed + 99)
    n = len(hashes)
    out = {}
    for part in ("row", "col"):
        plain = hashes[f"dhash8_{part}"].to_numpy()
        out[f"centre_{part}"] = plain ^ _CENTRE_MASK
        out[f"area_{part}"] = plain ^ _AREA_MASK
        for side in ("top", "bottom", "left", "right"):
            out[f"cut_{side}_{part}"] = rng.integers(-(1 << 63), (1 << 63) - 1, n, np.int64)
    member = hashes.cluster.to_numpy() >= 0
    bit = rng.integers(0, 64, n)
    for part in ("row", "col"):
        flipped = out[f"area_{part}"] ^ np.left_shift(np.int64(1), bit)
        out[f"cut_bottom_{part}"] = np.where(member, flipped, out[f"cut_bottom_{part}"])
    return out


def load_stg_images(db_path: Path, n: int, threshold: int, seed: int) -> np.ndarray:
    """Write ``stg_images`` (the columns the link models read); return the size-8 hashes by
    index."""
    hashes = near_duplicate_hashes(n, threshold, seed=seed)
    hashes["dhash5_row"], hashes["dhash5_col"] = coarse_hashes(hashes, seed)
    fine = max(int(dbt_vars()["near_duplicate_fine_distance"]), 0)
    hashes["dhash7_row"], hashes["dhash7_col"] = coarse_hashes(hashes, seed, 7, max_flips=fine)
    for name, words in probe_hashes(hashes, seed).items():
        hashes[f"dhash8_{name}"] = words
    probe_columns = [f"dhash8_{p}_{part}" for p in PROBES for part in ("row", "col")]
    db_path.parent.mkdir(parents=True, exist_ok=True)
    with duckdb.connect(str(db_path)) as con:
        con.register(
            "synthetic",
            hashes[
                [
                    "image_index",
                    "dhash8_row",
                    "dhash8_col",
                    "dhash5_row",
                    "dhash5_col",
                    "dhash7_row",
                    "dhash7_col",
                    *probe_columns,
                ]
            ],
        )
        # image_id: a SHA-256 like the catalog's; image_key numbers them in image_id order, as
        # the staging model does. Every image may link (unlinkable_id null) and has no border
        # (its content-box hash is its size-8 hash).
        con.execute(
            "CREATE OR REPLACE TABLE stg_images AS "
            "SELECT row_number() OVER (ORDER BY image_id) AS image_key, * FROM ("
            "  SELECT sha256(CAST(image_index AS VARCHAR)) AS image_id, image_index,"
            "         dhash8_row, dhash8_col, dhash5_row, dhash5_col, dhash7_row, dhash7_col,"
            f"         {', '.join(probe_columns)},"
            "         dhash8_row AS dhash8_trim_row,"
            "         dhash8_col AS dhash8_trim_col, CAST(NULL AS VARCHAR) AS unlinkable_id,"
            "         TRUE AS is_linkable FROM synthetic)"
        )
        con.unregister("synthetic")
    ordered = hashes.sort_values("image_index")
    return np.stack([ordered.dhash8_row.to_numpy(), ordered.dhash8_col.to_numpy()], axis=1)


def model_vars(threshold: int, trim_threshold: int | None, agreement: int) -> dict:
    return {
        "near_duplicate_threshold": threshold,
        "near_duplicate_trim_threshold": threshold if trim_threshold is None else trim_threshold,
        "near_duplicate_band_agreement": agreement,
    }


def run_model(db_path: str, model: str, variables: str, workdir: str) -> None:
    """Child process: ``dbt run`` of one link model (its hooks and its table, as every build runs
    it) on ``db_path``; reports the model's time from dbt and the peak RSS of dbt, the only
    child of this process (dbt's Python, DuckDB and the query)."""
    target = Path(workdir) / f"dbt-target-{model}-{time.monotonic_ns()}"
    env = {**os.environ, DUCKDB_PATH_ENV: db_path, "DBT_SEND_ANONYMOUS_USAGE_STATS": "false"}
    proc = subprocess.run(
        [
            dbt_executable(),
            "run",
            "--select",
            model,
            "--vars",
            variables,
            "--target-path",
            str(target),
            "--log-path",
            str(target),
        ],
        cwd=DBT_PROJECT_DIR,
        env=env,
        capture_output=True,
        text=True,
    )
    if proc.returncode != 0:
        sys.exit(f"dbt run {model} failed:\n{proc.stdout[-4000:]}")
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    (result,) = json.loads((target / "run_results.json").read_text())["results"]
    shutil.rmtree(target, ignore_errors=True)
    with duckdb.connect(db_path, read_only=True) as con:
        pairs = con.execute(f"SELECT COUNT(*) FROM {model}").fetchone()[0]
    print(json.dumps({"seconds": result["execution_time"], "peak_kb": peak, "pairs": pairs}))


def found_pairs(db_path: Path, model: str) -> set[tuple[int, int]]:
    with duckdb.connect(str(db_path), read_only=True) as con:
        rows = con.execute(
            f"SELECT a.image_index, b.image_index FROM {model} p "
            "JOIN stg_images a ON a.image_id = p.image_id_a "
            "JOIN stg_images b ON b.image_id = p.image_id_b"
        ).fetchall()
    return {(min(a, b), max(a, b)) for a, b in rows}


def brute_force_pairs(hashes: np.ndarray, threshold: int, chunk: int = 512) -> set:
    """Every pair (i < j) within ``threshold`` bits, by comparing all pairs with popcount."""
    row = hashes[:, 0].view(np.uint64)
    col = hashes[:, 1].view(np.uint64)
    pairs = set()
    for start in range(0, len(row), chunk):
        end = min(start + chunk, len(row))
        # each row of the chunk against itself and every later row
        d = np.bitwise_count(row[start:end, None] ^ row[None, start:]).astype(np.uint8)
        d += np.bitwise_count(col[start:end, None] ^ col[None, start:])
        i, j = np.nonzero(d <= threshold)  # both counted from `start`
        keep = j > i
        pairs.update(zip((i + start)[keep].tolist(), (j + start)[keep].tolist(), strict=True))
    return pairs


def keys(threshold: int, agreement: int) -> int:
    """How many candidate keys (hash joins) the model uses."""
    bands = threshold + agreement
    return bands if agreement == 1 else bands * (bands - 1) // 2


def measure(
    n: int, threshold: int, agreement: int, args, workdir: Path, truth: set | None, model: str
) -> dict:
    db_path = workdir / f"n{n}-t{threshold}" / "warehouse.duckdb"
    variables = model_vars(threshold, args.trim_threshold, agreement)
    load_before = os.getloadavg()
    child = subprocess.run(
        [
            sys.executable,
            __file__,
            "--run-model",
            str(db_path),
            model,
            json.dumps(variables),
            str(workdir),
        ],
        capture_output=True,
        text=True,
        timeout=args.timeout,
    )
    load_after = os.getloadavg()
    if child.returncode != 0:
        raise RuntimeError(child.stderr)
    result = json.loads(child.stdout.strip().splitlines()[-1])
    searches = [(128, threshold)]
    if model == "border_trimmed_pairs":
        searches = [(128, variables["near_duplicate_trim_threshold"])]
    if model == "centre_pairs":
        searches = [(128, int(dbt_vars()["near_duplicate_centre_threshold"]))]
    if model == "edge_cut_pairs":
        searches = [(128, int(dbt_vars()["near_duplicate_cut_threshold"]))]
    if model == "multi_size_pairs":
        # its searches run over the coarse words of each rule at its distance (agreement 2)
        variables = dbt_vars()
        agreement = 2
        searches = [
            (2 * int(variables[size]) ** 2, int(variables[distance]))
            for size, distance in (
                ("near_duplicate_confirm_size", "near_duplicate_confirm_distance"),
                ("near_duplicate_fine_size", "near_duplicate_fine_distance"),
            )
            if int(variables[distance]) >= 0
        ]
    row = {
        "model": model,
        "rows": n,
        "threshold": "/".join(str(search) for _, search in searches),
        "agreement": agreement,
        "keys": sum(keys(search, agreement) for _, search in searches),
        # the narrowest key of the model's searches
        "key_bits": min(agreement * bits / (search + agreement) for bits, search in searches),
        "pairs": result["pairs"],
        "seconds": result["seconds"],
        "peak_rss_mb": result["peak_kb"] / 1024,
        "load_before": load_before,
        "load_after": load_after,
        "recall": None,
        "true_pairs": None,
        "false_pairs": None,
    }
    if truth is not None and model != "multi_size_pairs" and searches == [(128, threshold)]:
        found = found_pairs(db_path, model)
        row["true_pairs"] = len(truth)
        row["recall"] = len(found & truth) / len(truth) if truth else 1.0
        row["false_pairs"] = len(found - truth)
    return row


def markdown(rows: list[dict]) -> str:
    lines = [
        "| model | rows | threshold | bands agreeing | keys (joins) | key bits | pairs found "
        "| brute-force pairs | recall | extra pairs "
        "| time (s) | peak RSS (MB) | load avg (1 min) before / after |",
        "| --- " + "| ---: " * 11 + "| --- |",
    ]
    for r in rows:
        recall = "-" if r["recall"] is None else f"{100 * r['recall']:.2f}%"
        true_pairs = "-" if r["true_pairs"] is None else f"{r['true_pairs']:,}"
        extra = "-" if r["false_pairs"] is None else str(r["false_pairs"])
        lines.append(
            f"| {r['model']} | {human(r['rows'])} | {r['threshold']} | {r['agreement']} "
            f"| {r['keys']} "
            f"| {r['key_bits']:.1f} | {r['pairs']:,} "
            f"| {true_pairs} | {recall} | {extra} | {r['seconds']:.1f} "
            f"| {r['peak_rss_mb']:,.0f} | {r['load_before'][0]:.2f} / {r['load_after'][0]:.2f} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="100k,1M,10M", help="comma-separated row counts")
    parser.add_argument(
        "--thresholds",
        default=str(dbt_vars()["near_duplicate_threshold"]),
        help="comma-separated thresholds (default: the dbt project's)",
    )
    parser.add_argument(
        "--trim-threshold",
        type=int,
        default=None,
        help="border_trimmed_pairs' threshold (default: the threshold of the row, as the data)",
    )
    parser.add_argument(
        "--agreements",
        default="1,2",
        help="comma-separated near_duplicate_band_agreement values to compare on the same data",
    )
    parser.add_argument(
        "--models",
        default="near_duplicate_pairs",
        help="comma-separated link models to time on the same data (e.g. border_trimmed_pairs)",
    )
    parser.add_argument("--recall-max", type=parse_size, default=100_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--timeout", type=float, default=3600, help="seconds per query")
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--keep", action="store_true", help="keep the DuckDB files")
    parser.add_argument("--run-model", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.run_model:
        run_model(*args.run_model)
        return 0

    sizes = [parse_size(s) for s in args.sizes.split(",")]
    thresholds = [int(t) for t in args.thresholds.split(",")]
    agreements = [int(a) for a in args.agreements.split(",")]
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="bench-near-dup-"))
    workdir.mkdir(parents=True, exist_ok=True)
    print(f"# near_duplicate_pairs on DuckDB {duckdb.__version__}")
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores")
    print(f"uptime before: {subprocess.run(['uptime'], capture_output=True, text=True).stdout}")
    rows = []
    for threshold in thresholds:
        for n in sizes:
            db_path = workdir / f"n{n}-t{threshold}" / "warehouse.duckdb"
            started = time.perf_counter()
            hashes = load_stg_images(db_path, n, threshold, args.seed)
            print(f"{human(n)} rows loaded in {time.perf_counter() - started:.0f} s", flush=True)
            truth = brute_force_pairs(hashes, threshold) if n <= args.recall_max else None
            for agreement, model in ((a, m) for a in agreements for m in args.models.split(",")):
                try:
                    row = measure(n, threshold, agreement, args, workdir, truth, model)
                except subprocess.TimeoutExpired:
                    print(
                        f"{human(n)} rows, threshold {threshold}, agreement {agreement}: "
                        f"over {args.timeout:.0f} s, stopped"
                    )
                    continue
                rows.append(row)
                recall = "" if row["recall"] is None else f", recall {100 * row['recall']:.2f}%"
                print(
                    f"{model}: {human(n)} rows, threshold {row['threshold']}, "
                    f"{row['keys']} keys of {row['key_bits']:.1f} bits: {row['pairs']:,} pairs in "
                    f"{row['seconds']:.1f} s, peak RSS {row['peak_rss_mb']:,.0f} MB{recall}",
                    flush=True,
                )
            if not args.keep:
                shutil.rmtree(db_path.parent)
    print(f"uptime after: {subprocess.run(['uptime'], capture_output=True, text=True).stdout}")
    print(markdown(rows))
    if not args.workdir:
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

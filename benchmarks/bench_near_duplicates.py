"""Benchmark of the near-duplicate link models on DuckDB: time, peak memory and recall.

For each size, a synthetic table of size-8 hashes shaped like a real collection (10% of the rows
in clusters: a base hash and 1..4 variants each 1..threshold bits from it, among uniformly
random hashes) is loaded into a DuckDB file as ``stg_images``. The SQL that dbt runs for
each link model (``near_duplicate_pairs``; ``border_trimmed_pairs``, the content-box link, whose
trimmed hashes are the plain ones here: an image without borders, the common case) is compiled by
dbt itself (``dbt compile``) and executed the way
dbt-duckdb materialises a table (``CREATE TABLE ... AS``) in a fresh child process, which reports
its wall time and peak resident memory (``ru_maxrss``: Python, DuckDB and the query). Up to
``--recall-max`` rows the result is checked against brute force over all pairs (numpy, chunked,
popcount). The machine load (``os.getloadavg``) is recorded around each run.

    python benchmarks/bench_near_duplicates.py                     # 100k, 1M, 10M
    python benchmarks/bench_near_duplicates.py --sizes 100k,1M --thresholds 6,8 --agreements 2
    python benchmarks/bench_near_duplicates.py --sizes 1M --agreements 2 \
        --models near_duplicate_pairs,border_trimmed_pairs,multi_size_pairs

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


def load_stg_images(db_path: Path, n: int, threshold: int, seed: int) -> np.ndarray:
    """Write ``stg_images`` (the columns the link models read); return the size-8 hashes by
    index."""
    hashes = near_duplicate_hashes(n, threshold, seed=seed)
    hashes["dhash5_row"], hashes["dhash5_col"] = coarse_hashes(hashes, seed)
    fine = max(int(dbt_vars()["near_duplicate_fine_distance"]), 0)
    hashes["dhash7_row"], hashes["dhash7_col"] = coarse_hashes(hashes, seed, 7, max_flips=fine)
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
            "         dhash8_row AS dhash8_trim_row,"
            "         dhash8_col AS dhash8_trim_col, CAST(NULL AS VARCHAR) AS unlinkable_id,"
            "         TRUE AS is_linkable FROM synthetic)"
        )
        con.unregister("synthetic")
    ordered = hashes.sort_values("image_index")
    return np.stack([ordered.dhash8_row.to_numpy(), ordered.dhash8_col.to_numpy()], axis=1)


def compile_model(db_path: Path, threshold: int, agreement: int, workdir: Path, model: str) -> str:
    """The SQL dbt runs for ``model`` against ``db_path``, compiled by dbt."""
    target = workdir / f"dbt-target-{model}-t{threshold}-a{agreement}"
    env = {**os.environ, DUCKDB_PATH_ENV: str(db_path), "DBT_SEND_ANONYMOUS_USAGE_STATS": "false"}
    subprocess.run(
        [
            dbt_executable(),
            "compile",
            "--quiet",
            "--no-populate-cache",
            "--target",
            "duckdb",
            "--select",
            model,
            "--vars",
            json.dumps(
                {
                    "near_duplicate_threshold": threshold,
                    "near_duplicate_trim_threshold": threshold,
                    "near_duplicate_band_agreement": agreement,
                }
            ),
            "--target-path",
            str(target),
            "--log-path",
            str(workdir / "dbt-logs"),
        ],
        cwd=DBT_PROJECT_DIR,
        env=env,
        check=True,
        stdout=subprocess.DEVNULL,
    )
    return next(target.rglob(f"{model}.sql")).read_text()


def run_query(db_path: str, sql_path: str) -> None:
    """Child process: materialise the model like dbt-duckdb and report time and peak RSS."""
    with duckdb.connect(db_path) as con:
        con.execute("DROP TABLE IF EXISTS near_duplicate_pairs")
        baseline = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        started = time.perf_counter()
        # Every link model is timed as the same table: found_pairs reads the last one built.
        con.execute(f"CREATE TABLE near_duplicate_pairs AS {Path(sql_path).read_text()}")
        seconds = time.perf_counter() - started
        pairs = con.execute("SELECT COUNT(*) FROM near_duplicate_pairs").fetchone()[0]
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(
        json.dumps({"seconds": seconds, "peak_kb": peak, "baseline_kb": baseline, "pairs": pairs})
    )


def found_pairs(db_path: Path) -> set[tuple[int, int]]:
    with duckdb.connect(str(db_path), read_only=True) as con:
        rows = con.execute(
            "SELECT a.image_index, b.image_index FROM near_duplicate_pairs p "
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
    sql_path = workdir / f"{model}_t{threshold}_a{agreement}.sql"
    if not sql_path.exists():
        sql_path.write_text(compile_model(db_path, threshold, agreement, workdir, model))

    load_before = os.getloadavg()
    child = subprocess.run(
        [sys.executable, __file__, "--run-query", str(db_path), str(sql_path)],
        capture_output=True,
        text=True,
        timeout=args.timeout,
    )
    load_after = os.getloadavg()
    if child.returncode != 0:
        raise RuntimeError(child.stderr)
    result = json.loads(child.stdout.strip().splitlines()[-1])
    searches = [(128, threshold)]
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
        "baseline_rss_mb": result["baseline_kb"] / 1024,
        "load_before": load_before,
        "load_after": load_after,
        "recall": None,
        "true_pairs": None,
        "false_pairs": None,
    }
    if truth is not None and model != "multi_size_pairs":
        found = found_pairs(db_path)
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
    parser.add_argument("--run-query", nargs=2, metavar=("DB", "SQL"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.run_query:
        run_query(*args.run_query)
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
                    f"{model}: {human(n)} rows, threshold {threshold}, {row['keys']} keys of "
                    f"{row['key_bits']:.1f} bits: {row['pairs']:,} pairs in "
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

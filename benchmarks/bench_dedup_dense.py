"""Benchmark of the whole dedup dbt build on a heavily duplicated collection: time and peak RSS,
full and incremental, with the incremental result checked against a full rebuild.

The synthetic collection (``--images``, default 1M) is shaped like a web scrape: 1 % of the
pictures have about 1,000 copies each, 10 % have 2-20, the rest are unique. Copies are
byte-different files: each picture has a few distinct size-8 hashes (re-encodes that land on
the same hash; about one distinct hash per 50 copies, at most 20, each 1-4 bits from the
picture's), 90 % of copies share the picture's size-3 hash; every image is borderless (its
content-box hash is its size-8 hash, so the border-trimmed search runs over as many distinct
hashes as the plain one, the common case); its probe hashes (area, centre, edge cuts) vary
between copies as its size-8 hash does. Everything is generated inside
DuckDB (hex strings are placeholders: the models compare integers), in the warehouse tables
the Python assets write (raw_images, image_hashes).

Steps, each ``dbt build`` (models and tests, as Dagster runs it) in a child process whose peak
RSS (``ru_maxrss`` of the waited-for children: dbt, its DuckDB and Python) is reported:

1. full build on the collection;
2. a batch of ``--batch`` new images (half new copies of existing pictures, half new
   pictures) is added, and the tables are refreshed incrementally as the asset refreshes them:
   the marks before the batch recorded in ``dedup_refreshes``, ``dedup_since: last_refresh``,
   and dbt starting from the partial parse a refresh with those variables leaves; then the
   same refresh again on a copy of the warehouse, through a warm dbt as the dedup step of a run
   starts it (its imports done, as they are by the time the catalog and hashing steps end);
3. a full build of the same data in a copy of the warehouse; every dedup table of 2 and 3 is
   compared (EXCEPT both ways; image_key, a per-build join key, left out);
4. the dense reproducer (``../shared/repro/dense-duplicate-groups``): ``duplicate_groups`` built
   on its two files; the model's own time from dbt's run_results.

    python benchmarks/bench_dedup_dense.py                 # 1M images, 500-image batch
    python benchmarks/bench_dedup_dense.py --images 100k   # quicker
    python benchmarks/bench_dedup_dense.py --workdir W     # keep the warehouses in W, then:
    python benchmarks/bench_dedup_dense.py --workdir W --incremental-only
        # step 2 again from W's warehouse as it was before the refresh, compared with W's full
        # rebuild (valid while the models' full builds are unchanged: rerun without it after a
        # change to them)
"""

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

import duckdb
import yaml

from assets.dedup.project import (
    BUILD_FLAGS,
    DBT_PROJECT_DIR,
    DUCKDB_PATH_ENV,
    PARTIAL_PARSE_FILE,
    dbt_executable,
)
from assets.dedup.refresh import Marks, RefreshPlan
from assets.tables import DEDUP_REFRESHES, IMAGE_HASHES, RAW_IMAGES
from resources.warehouse.duckdb_warehouse import DuckDBWarehouse
from resources.warm_dbt import WarmDbt, write_launcher
from tests.support.dedup_models import DEDUP_MODELS, DENSE_REPRO, load_dense_repro

# image_key is a per-build join key: left out of stg_images, and bucket_links (made of keys) is
# compared as pairs of its buckets' smallest image_ids (the buckets of the default rule, size-8)
BUCKET_FIRST_IDS = """(
    WITH b AS (
        SELECT image_key, min(image_id) OVER (
            PARTITION BY dhash8_row, dhash8_col, unlinkable_id) AS first_id
        FROM {db}.stg_images
    )
    SELECT least(lo.first_id, hi.first_id) AS node_lo, greatest(lo.first_id, hi.first_id) AS node_hi
    FROM {db}.bucket_links AS l
    JOIN b AS lo ON lo.image_key = l.node_lo
    JOIN b AS hi ON hi.image_key = l.node_hi
)"""
KEYS = {"stg_images": "* EXCLUDE (image_key)"}


def _relation(db: str, model: str) -> str:
    return BUCKET_FIRST_IDS.format(db=db) if model == "bucket_links" else f"{db}.{model}"


def parse_size(text: str) -> int:
    text = text.strip().lower().replace("_", "")
    factor = {"k": 1_000, "m": 1_000_000}.get(text[-1], 1)
    return int(float(text.rstrip("km")) * factor)


# A signed 64-bit pseudo-random word from DuckDB's hash of its arguments.
def _word(*args: str) -> str:
    h = f"hash(concat_ws('/', {', '.join(args)}))"
    return f"CAST(CAST({h} AS HUGEINT) - 9223372036854775808 AS BIGINT)"


def _flip(word: str, seed: str) -> str:
    """``word`` with 1-4 of its lower 63 bits flipped (bits chosen by ``seed``)."""
    bits = [
        f"(CAST(1 AS BIGINT) << CAST(hash(concat_ws('/', {seed}, {i})) % 63 AS INTEGER))"
        for i in range(4)
    ]
    count = f"CAST(hash(concat_ws('/', {seed}, 'n')) % 4 AS INTEGER)"
    mask = " | ".join(f"(CASE WHEN {count} >= {i} THEN {b} ELSE 0 END)" for i, b in enumerate(bits))
    return f"xor({word}, {mask})"


def images_sql(first_picture: int, pictures: int, salt: str, start: str) -> str:
    """SELECT of (picture, copy, ...) rows for pictures first..first+pictures-1."""
    return f"""
    with pictures as (
        select
            p,
            case
                when hash(concat_ws('/', p, 'class')) % 100 = 0
                    then 900 + CAST(hash(concat_ws('/', p, 'n')) % 201 AS INTEGER)
                when hash(concat_ws('/', p, 'class')) % 100 < 11
                    then 2 + CAST(hash(concat_ws('/', p, 'n')) % 19 AS INTEGER)
                else 1
            end as copies
        from range({first_picture}, {first_picture + pictures}) as t(p)
    ),
    copies as (
        select p, unnest(range(copies)) as c, copies, least(20, 1 + copies // 50) as variants
        from pictures
    )
    select
        p, c,
        sha256(concat('{salt}', p, '/', c)) as image_id,
        concat('file:///bench/l', p % 20, '/{salt}', p, '_', c, '.jpg') as source_uri,
        concat('{salt}', p, '_', c, '.jpg') as name,
        concat('l', p % 20) as label,
        [640, 800, 1024, 1600][1 + CAST(hash(concat_ws('/', p, c, 'w')) % 4 AS INTEGER)] as width,
        [480, 600, 768, 1200][1 + CAST(hash(concat_ws('/', p, c, 'h')) % 4 AS INTEGER)] as height,
        50000 + CAST(hash(concat_ws('/', p, c, 'b')) % 500000 AS BIGINT) as byte_size,
        CAST(c % variants AS INTEGER) as variant,
        CAST('{start}' AS TIMESTAMPTZ) as arrived
    from copies
    """


def insert_collection(
    db: Path, first_picture: int, pictures: int, salt: str, start: str, limit: int | None = None
) -> int:
    """Insert the images of these pictures (at most ``limit``, picked at random)."""
    warehouse = DuckDBWarehouse(path=str(db))
    for spec in (RAW_IMAGES, IMAGE_HASHES):
        warehouse.ensure_table(spec)
    row8, col8 = _word("p", "'r8'"), _word("p", "'c8'")
    var_seed = "p, variant"
    hashes = {
        "dhash8_row": f"CASE WHEN variant = 0 THEN {row8} ELSE {_flip(row8, var_seed)} END",
        "dhash8_col": col8,
        # borderless: the content box is the whole image
        "dhash8_trim_row": f"CASE WHEN variant = 0 THEN {row8} ELSE {_flip(row8, var_seed)} END",
        "dhash8_trim_col": col8,
        # the probe hashes (centre, edge cuts) link copies of a picture like its other hashes:
        # the area is the content box's hash, the cuts 1-4 bits from it, the centre a word of
        # its own; every copy variant flips 1-4 bits of each
        "dhash8_area_row": f"CASE WHEN variant = 0 THEN {row8} ELSE {_flip(row8, var_seed)} END",
        "dhash8_area_col": col8,
        "dhash8_centre_row": _flip(_word("p", "'centre_r'"), f"{var_seed}, 'centre'"),
        "dhash8_centre_col": _word("p", "'centre_c'"),
        **{
            f"dhash8_cut_{side}_{part}": (
                _flip(_flip(word, f"p, 'cut_{side}'"), f"{var_seed}, 'cut_{side}'")
                if part == "row"
                else word
            )
            for side in ("top", "bottom", "left", "right")
            for part, word in (("row", row8), ("col", col8))
        },
        # 90 % of copies share the picture's size-3 hash
        "dhash3_row": "CASE WHEN hash(concat_ws('/', p, c, 'k')) % 10 = 0 "
        "THEN hash(concat_ws('/', p, c, 'k3r')) % 512 "
        "ELSE hash(concat_ws('/', p, 'k3r')) % 512 END",
        "dhash3_col": "CASE WHEN hash(concat_ws('/', p, c, 'k')) % 10 = 0 "
        "THEN hash(concat_ws('/', p, c, 'k3c')) % 512 "
        "ELSE hash(concat_ws('/', p, 'k3c')) % 512 END",
    }
    for s in (1, 2, 4, 5, 6, 7):
        for part in ("row", "col"):
            hashes[f"dhash{s}_{part}"] = (
                f"hash(concat_ws('/', p, variant, '{s}{part}')) % {2 ** (s * s)}"
            )
    with duckdb.connect(str(db)) as con:
        pick = (
            f"ORDER BY hash(concat_ws('/', p, c, 'pick')) LIMIT {limit}"
            if limit is not None
            else ""
        )
        sql = images_sql(first_picture, pictures, salt, start)
        con.execute(f"CREATE TEMP TABLE batch AS SELECT * FROM ({sql}) AS b {pick}")
        con.execute(
            f"INSERT INTO {RAW_IMAGES.name} BY NAME SELECT sha256(source_uri) AS source_key, "
            "image_id, source_uri, name, label, "
            "width, height, 'JPEG' AS format, 'RGB' AS mode, byte_size, 1 AS frame_count, "
            "false AS is_animated, arrived AS last_modified, arrived AS ingested_at FROM batch"
        )
        columns = ", ".join(f"CAST({expr} AS BIGINT) AS {name}" for name, expr in hashes.items())
        hex_columns = ", ".join(f"printf('%x', p) AS DHashHex{s}" for s in range(1, 9))
        con.execute(
            f"INSERT INTO {IMAGE_HASHES.name} BY NAME SELECT image_id, {columns}, {hex_columns}, "
            "'exact' AS hash_mode, 'synthetic' AS hash_version, 'whole' AS content, "
            "arrived AS hashed_at FROM batch"
        )
        return con.execute("SELECT COUNT(*) FROM batch").fetchone()[0]


def dbt_build(
    db: Path,
    args: list[str],
    workdir: Path,
    parse_state: Path | None = None,
    executable: str | None = None,
) -> dict:
    """``dbt build`` in a child process, with the dedup step's flags: wall time, peak RSS of the
    child, statuses, and where the wall time went (``phases``).

    ``parse_state``: a partial-parse file to start from (as the asset keeps one per warehouse and
    set of variables); without it dbt parses the whole project. ``executable``: the dbt to start
    (default: the real one, started cold)."""
    target = workdir / f"target-{time.monotonic_ns()}"
    if parse_state is not None:
        target.mkdir(parents=True)
        shutil.copyfile(parse_state, target / PARTIAL_PARSE_FILE)
    env = {**os.environ, DUCKDB_PATH_ENV: str(db), "DBT_SEND_ANONYMOUS_USAGE_STATS": "false"}
    # The warehouse was just copied or generated: its dirty pages are written out now, not by
    # the kernel while dbt runs (a nightly warehouse is not a fresh 1.4 GB copy).
    os.sync()
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    load = os.getloadavg()[0]
    started_at = time.time()
    started = time.perf_counter()
    proc = subprocess.run(
        [
            executable or dbt_executable(),
            "build",
            *BUILD_FLAGS,
            "--target-path",
            str(target),
            "--log-path",
            str(target),
            *args,
        ],
        cwd=DBT_PROJECT_DIR,
        env=env,
        capture_output=True,
        text=True,
    )
    seconds = time.perf_counter() - started
    ended_at = started_at + seconds
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    if proc.returncode != 0:
        sys.exit(f"dbt build {args} failed:\n{proc.stdout[-4000:]}")
    results = json.loads((target / "run_results.json").read_text())["results"]
    # by node name (a generic test's unique_id ends with a hash)
    statuses = {r["unique_id"].split(".")[2]: r["status"] for r in results}
    timings = {r["unique_id"].split(".")[2]: r["execution_time"] for r in results}
    return {
        "seconds": seconds,
        # ru_maxrss of children is the largest child so far: only a rise is this run's
        "peak_rss_mb": peak / 1024 if peak > before else float("nan"),
        "statuses": statuses,
        "timings": timings,
        "phases": phases(results, started_at, ended_at),
        "load": (load, os.getloadavg()[0]),
    }


def _node_times(result: dict) -> dict[str, tuple[float, float]]:
    """(start, end) in epoch seconds of each timing step (compile, execute) of a dbt result."""
    return {
        step["name"]: (
            datetime.fromisoformat(step["started_at"].replace("Z", "+00:00")).timestamp(),
            datetime.fromisoformat(step["completed_at"].replace("Z", "+00:00")).timestamp(),
        )
        for step in result.get("timing", [])
        if step.get("started_at") and step.get("completed_at")
    }


def phases(results: list[dict], started_at: float, ended_at: float) -> dict[str, float]:
    """Where a ``dbt build``'s wall time went, from run_results.json:

    * start-up: process start to the first node (imports, profile, partial parse, manifest);
    * nodes: the first node's start to the last node's end (the profile's dbt threads run
      nodes side by side);
    * models / tests: the sum of the nodes' execution (their SQL, hooks and commits; with two
      dbt threads these sums overlap each other, and the rest of ``nodes`` is dbt compiling
      each node and its bookkeeping);
    * end: the last node to the process's exit (artifacts, closing the DuckDB file, which
      checkpoints the refresh's writes into it, and the interpreter's exit).
    """
    nodes = [(r["unique_id"], _node_times(r)) for r in results]
    nodes = [(uid, t) for uid, t in nodes if "execute" in t]
    if not nodes:
        return {}
    first = min(t.get("compile", t["execute"])[0] for _, t in nodes)
    last = max(t["execute"][1] for _, t in nodes)
    executed = {"model": 0.0, "test": 0.0}
    for uid, t in nodes:
        kind = "model" if uid.startswith("model.") else "test"
        executed[kind] += t["execute"][1] - t["execute"][0]
    return {
        "start-up": first - started_at,
        "nodes": last - first,
        "models": executed["model"],
        "tests": executed["test"],
        "end": ended_at - last,
        "tests run": float(sum(1 for uid, _ in nodes if not uid.startswith("model."))),
    }


def record_refresh(db: Path, since: dict) -> None:
    """A dedup_refreshes row with these marks, as the asset records after a complete refresh
    (the incremental models read the newest one: ``dedup_since: last_refresh``)."""
    warehouse = DuckDBWarehouse(path=str(db))
    warehouse.ensure_table(DEDUP_REFRESHES)
    with duckdb.connect(str(db)) as con:
        con.execute(
            f"INSERT INTO {DEDUP_REFRESHES.name} BY NAME SELECT 'bench' AS refresh_id, "
            "now() AS refreshed_at, 'full' AS mode, 'benchmark' AS reason, "
            "CAST(? AS TIMESTAMPTZ) AS catalog_mark, CAST(? AS TIMESTAMPTZ) AS hash_mark, "
            "0 AS catalog_rows, 0 AS hash_rows, '' AS fingerprint",
            [since["catalog_mark"], since["hash_mark"]],
        )


def parse_state(db: Path, variables: str, workdir: Path) -> Path:
    """The partial-parse file a refresh with these variables leaves (the asset keeps it for the
    next refresh with the same variables)."""
    target = workdir / "parse-state"
    env = {**os.environ, DUCKDB_PATH_ENV: str(db), "DBT_SEND_ANONYMOUS_USAGE_STATS": "false"}
    subprocess.run(
        [
            dbt_executable(),
            "parse",
            "--vars",
            variables,
            "--target-path",
            str(target),
            "--log-path",
            str(target),
        ],
        cwd=DBT_PROJECT_DIR,
        env=env,
        check=True,
        capture_output=True,
    )
    return target / PARTIAL_PARSE_FILE


def marks(db: Path) -> dict:
    with duckdb.connect(str(db), read_only=True) as con:
        catalog = con.execute(f"SELECT MAX(ingested_at) FROM {RAW_IMAGES.name}").fetchone()[0]
        hashed = con.execute(f"SELECT MAX(hashed_at) FROM {IMAGE_HASHES.name}").fetchone()[0]
    return {"catalog_mark": catalog.isoformat(sep=" "), "hash_mark": hashed.isoformat(sep=" ")}


def differences(a: Path, b: Path) -> dict[str, int]:
    out = {}
    with duckdb.connect() as con:
        con.execute(f"ATTACH '{a}' AS a (READ_ONLY)")
        con.execute(f"ATTACH '{b}' AS b (READ_ONLY)")
        for model in DEDUP_MODELS:
            cols = KEYS.get(model, "*")
            ra, rb = _relation("a", model), _relation("b", model)
            n = con.execute(
                f"SELECT (SELECT COUNT(*) FROM (SELECT {cols} FROM {ra} EXCEPT ALL "
                f"SELECT {cols} FROM {rb})) + (SELECT COUNT(*) FROM (SELECT {cols} FROM "
                f"{rb} EXCEPT ALL SELECT {cols} FROM {ra}))"
            ).fetchone()[0]
            out[model] = n
    return out


def shape(db: Path) -> dict:
    with duckdb.connect(str(db), read_only=True) as con:
        q = lambda sql: con.execute(sql).fetchone()[0]  # noqa: E731
        return {
            "images": q("SELECT COUNT(*) FROM stg_images"),
            "distinct_hash8": q(
                "SELECT COUNT(*) FROM (SELECT DISTINCT dhash8_row, dhash8_col FROM stg_images)"
            ),
            "links": q("SELECT COUNT(*) FROM near_duplicate_pairs"),
            "groups": q("SELECT COUNT(DISTINCT group_id) FROM duplicate_groups"),
            "largest_group": q("SELECT MAX(group_size) FROM duplicate_groups"),
        }


def refresh_incrementally(
    db: Path, since: dict, work: Path, overrides: dict, warm: bool = False
) -> dict:
    """Step 2's refresh, as the asset runs it: the marks of the newest dedup_refreshes row, and
    the partial parse the previous refresh with the same variables left.

    ``warm``: through a warm dbt, as the dedup step of a run does (``resources/warm_dbt.py``: the
    run starts it when its resources are set up, so dbt's imports overlap the catalog and hashing
    steps before it). Its imports are waited for before the clock starts; the peak RSS of its
    fork is not a child of this process and is not reported. ``overrides``: the run's own dbt
    variables (``--vars``), passed as the asset passes them."""
    record_refresh(db, since)
    # the asset's arguments; the SQL reads the marks from the dedup_refreshes row just recorded
    plan = RefreshPlan(False, "benchmark", since=Marks(None, None, 0, 0))
    args = plan.dbt_args(overrides)
    variables = args[args.index("--vars") + 1]
    state = parse_state(db, variables, work)
    if not warm:
        return dbt_build(db, args, work, parse_state=state)
    server = WarmDbt.start(adapter="duckdb")
    if server is None:
        sys.exit("a warm dbt is already running for this process")
    try:
        launcher = str(write_launcher(work / "bin", dbt_executable()))
        # served once dbt's imports are done: what the steps before the dedup step overlap
        subprocess.run([launcher, "--version"], check=True, capture_output=True)
        return dbt_build(db, args, work, parse_state=state, executable=launcher)
    finally:
        server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--images", default="1M", help="about this many images (default 1M)")
    parser.add_argument("--batch", type=int, default=500, help="incremental batch (default 500)")
    parser.add_argument("--workdir", help="keep the warehouses here (default: a temp dir)")
    parser.add_argument(
        "--incremental-only",
        action="store_true",
        help="only the incremental refresh and its comparison, from the warehouses a previous "
        "run left in --workdir (with the same --vars)",
    )
    parser.add_argument(
        "--vars",
        default="",
        help="dbt variables for every build, as a YAML mapping (the dedup step's dbt_vars), "
        "e.g. '{near_duplicate_cut_threshold: 6}' to time the edge-cut link on",
    )
    args = parser.parse_args()
    overrides = yaml.safe_load(args.vars) if args.vars.strip() else {}
    if not isinstance(overrides, dict):
        parser.error(f"--vars must be a mapping, got {args.vars!r}")
    full_args = ["--vars", json.dumps(overrides)] if overrides else []
    if args.incremental_only and not args.workdir:
        parser.error("--incremental-only needs the --workdir of a previous run")
    target_images = parse_size(args.images)
    work = Path(args.workdir or tempfile.mkdtemp(prefix="bench-dedup-dense-"))
    work.mkdir(parents=True, exist_ok=True)
    db = work / "warehouse.duckdb"
    # the warehouse after the full build and the batch, before the refresh, with its marks
    before = work / "before-refresh.duckdb"
    before_marks = work / "before-refresh.json"
    before_vars = work / "before-refresh-vars.json"
    copy = work / "full-copy.duckdb"
    rows = []
    if args.incremental_only:
        if not (before.is_file() and before_marks.is_file() and copy.is_file()):
            sys.exit(f"{work} holds no complete previous run (run without --incremental-only)")
        built_with = json.loads(before_vars.read_text()) if before_vars.is_file() else {}
        if built_with != overrides:
            sys.exit(f"{work} was built with --vars {built_with}, not {overrides}")
        since = json.loads(before_marks.read_text())
        diffs = {}
        for name, warm in (("incremental", False), ("incremental, warm dbt", True)):
            shutil.copy(before, db)
            db.with_name(db.name + ".wal").unlink(missing_ok=True)
            refreshed = refresh_incrementally(db, since, work, overrides, warm)
            rows.append((name, f"+{args.batch:,} images", refreshed))
            diffs[name] = differences(db, copy)
        print_rows(rows)
        for name, diff in diffs.items():
            same = all(v == 0 for v in diff.values())
            print(f"{name}: identical to the full rebuild:", same, diff)
        return
    db.unlink(missing_ok=True)
    pictures = max(1, round(target_images / 12))  # 12 images per picture on average
    t = time.perf_counter()
    n = insert_collection(db, 0, pictures, "a", "2025-01-01 00:00:00+00")
    print(f"generated {n:,} images of {pictures:,} pictures in {time.perf_counter() - t:.0f} s")

    full = dbt_build(db, full_args, work)
    rows.append(("full build", f"{n:,} images", full))
    print(json.dumps({"full": {k: v for k, v in full.items() if k not in ("statuses", "timings")}}))
    shape_full = shape(db)
    print(shape_full)

    since = marks(db)
    # the batch: new copies of the first pictures (the same hashes and buckets, so groups grow
    # and centres may move) and new pictures
    half = args.batch // 2
    day2 = "2025-01-02 00:00:00+00"
    added = insert_collection(db, 0, pictures, "b", day2, limit=half)
    added += insert_collection(db, pictures, args.batch, "c", day2, limit=args.batch - half)
    extra = added
    shutil.copy(db, copy)
    shutil.copy(db, before)
    if args.workdir:
        before_marks.write_text(json.dumps(since))
        before_vars.write_text(json.dumps(overrides))
    incremental = refresh_incrementally(db, since, work, overrides)
    rows.append(("incremental", f"+{extra:,} images", incremental))
    warm_db = work / "warm.duckdb"
    shutil.copy(before, warm_db)
    warm = refresh_incrementally(warm_db, since, work, overrides, warm=True)
    rows.append(("incremental, warm dbt", f"+{extra:,} images", warm))
    rebuilt = dbt_build(copy, full_args, work)
    rows.append(("full rebuild after the batch", f"{n + extra:,} images", rebuilt))
    diff = differences(db, copy)
    warm_diff = differences(warm_db, copy)
    warm_db.unlink()
    print("rows differing between incremental and full:", diff)
    print("rows differing between incremental (warm dbt) and full:", warm_diff)

    if (DENSE_REPRO / "stg_images.parquet").is_file():
        repro = work / "repro.duckdb"
        repro.unlink(missing_ok=True)
        load_dense_repro(repro)
        dense = dbt_build(
            repro,
            [
                "--select",
                "bucket_links duplicate_groups",
                "--indirect-selection",
                "buildable",
                # the lab's rule, as the reproducer was recorded (tests/test_dedup_dense_duplicates)
                "--vars",
                '{"dedup_same_hash_link": true}',
            ],
            work,
        )
        rows.append(("reproducer: duplicate_groups", "3,320 images", dense))

    print_rows(rows)
    print("shape:", shape_full)
    print("identical to the full rebuild:", all(v == 0 for v in diff.values()), diff)
    print(
        "identical to the full rebuild (warm dbt):",
        all(v == 0 for v in warm_diff.values()),
        warm_diff,
    )


def print_rows(rows: list[tuple[str, str, dict]]) -> None:
    print()
    print(
        "| build | data | wall (s) | bucket_links + duplicate_groups (s) | peak RSS (MB) "
        "| load before / after |"
    )
    print("| --- | --- | ---: | ---: | ---: | --- |")
    for name, data, r in rows:
        groups = r["timings"].get("duplicate_groups", 0) + r["timings"].get("bucket_links", 0)
        print(
            f"| {name} | {data} | {r['seconds']:.1f} | {groups:.2f} "
            f"| {r['peak_rss_mb']:,.0f} | {r['load'][0]:.1f} / {r['load'][1]:.1f} |"
        )
    print()
    print("where the wall time went (s; see `phases`):")
    print()
    print("| build | wall | start-up | nodes | models (sum) | tests (sum, run) | end |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for name, _, r in rows:
        p = r["phases"]
        if not p:
            continue
        print(
            f"| {name} | {r['seconds']:.1f} | {p['start-up']:.1f} | {p['nodes']:.1f} "
            f"| {p['models']:.1f} | {p['tests']:.1f} ({p['tests run']:.0f}) | {p['end']:.1f} |"
        )
    print()
    print("model times, and tests over 0.05 s (s):")
    for name, _, r in rows:
        models = {m: round(r["timings"][m], 2) for m in DEDUP_MODELS if m in r["timings"]}
        slow = {
            k: round(v, 2)
            for k, v in sorted(r["timings"].items(), key=lambda kv: -kv[1])
            if k not in DEDUP_MODELS and v > 0.05
        }
        print(f"  {name}: {models}")
        print(f"    tests: {slow}")


if __name__ == "__main__":
    main()

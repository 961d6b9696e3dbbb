"""Peak memory of the ``image_hashes`` asset as the catalog grows: it should stay flat.

For each catalog size, a fresh DuckDB warehouse gets that many ``raw_images`` rows (distinct
synthetic ``image_id`` values, each pointing at one of 64 small real PNG files cut from a
photograph shipped with scikit-image), and ``image_hashes`` is materialised with its default
config in a fresh child process, which reports its peak resident memory (``ru_maxrss``) before
and after the run and its throughput. Compare the peaks across sizes: flat memory means the
largest catalog costs about what the smallest does.

    python benchmarks/bench_hashing_memory.py                 # 10k, 40k, 160k rows
    python benchmarks/bench_hashing_memory.py --sizes 5k,50k
"""

import argparse
import hashlib
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

N_FILES = 64


def parse_size(text: str) -> int:
    text = text.strip().lower()
    factor = {"k": 1_000, "m": 1_000_000}.get(text[-1], 1)
    return int(float(text.rstrip("km")) * factor)


def write_files(folder: Path) -> list[Path]:
    import skimage
    from PIL import Image

    with Image.open(Path(skimage.__file__).parent / "data" / "astronaut.png") as image:
        photo = image.convert("RGB")
    paths = []
    for i in range(N_FILES):
        x, y = (i % 8) * 56, (i // 8) * 56
        path = folder / f"tile{i:02d}.png"
        photo.crop((x, y, x + 64, y + 48)).save(path)
        paths.append(path)
    return paths


def load_catalog(db_path: Path, n: int, files: list[Path]) -> None:
    import pandas as pd

    from assets.tables import PHOTO_COLUMNS, RAW_IMAGES
    from resources.warehouse.duckdb_warehouse import DuckDBWarehouse

    now = datetime.now(tz=UTC)
    warehouse = DuckDBWarehouse(path=str(db_path))
    chunk = 50_000
    for start in range(0, n, chunk):
        idx = range(start, min(n, start + chunk))
        paths = [files[i % len(files)] for i in idx]
        warehouse.insert_new(
            RAW_IMAGES,
            pd.DataFrame(
                {
                    "image_id": [hashlib.sha256(str(i).encode()).hexdigest() for i in idx],
                    "source_uri": [f"{p.as_uri()}#{i}" for p, i in zip(paths, idx, strict=True)],
                    "name": [p.name for p in paths],
                    "label": "tiles",
                    "width": 64,
                    "height": 48,
                    "format": "PNG",
                    "mode": "RGB",
                    "byte_size": [p.stat().st_size for p in paths],
                    "exif_orientation": None,
                    "frame_count": 1,
                    "is_animated": False,
                    "last_modified": now,
                    "ingested_at": now,
                    **dict.fromkeys(c.name for c in PHOTO_COLUMNS),
                }
            ),
        )


def run_asset(db_path: str) -> None:
    """Child process: materialise image_hashes with its default config on ``db_path``."""
    import dagster as dg

    from assets.hashing.assets import image_hashes
    from resources.blob_store import LocalBlobStore
    from resources.warehouse.duckdb_warehouse import DuckDBWarehouse

    baseline = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.perf_counter()
    result = dg.materialize(
        [image_hashes],
        resources={
            "warehouse": DuckDBWarehouse(path=db_path),
            "blob_store": LocalBlobStore(root=str(Path(db_path).parent / "blobs")),
        },
        instance=dg.DagsterInstance.ephemeral(),
    )
    seconds = time.perf_counter() - started
    (mat,) = result.asset_materializations_for_node("image_hashes")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(
        json.dumps(
            {
                "hashed": mat.metadata["hashed_now"].value,
                "images_per_second": mat.metadata["images_per_second"].value,
                "seconds": seconds,
                "baseline_mb": baseline / 1024,
                "peak_mb": peak / 1024,
            }
        )
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="10k,40k,160k")
    parser.add_argument("--run-asset", metavar="DB", help=argparse.SUPPRESS)
    parser.add_argument(
        "--load-catalog", nargs=3, metavar=("DB", "N", "DIR"), help=argparse.SUPPRESS
    )
    args = parser.parse_args(argv)
    if args.run_asset:
        run_asset(args.run_asset)
        return 0
    if args.load_catalog:
        db, n, folder = args.load_catalog
        load_catalog(Path(db), int(n), sorted(Path(folder).glob("tile*.png")))
        return 0
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-hash-memory-") as tmp:
        write_files(Path(tmp))
        for n in [parse_size(s) for s in args.sizes.split(",")]:
            db_path = Path(tmp) / f"n{n}" / "warehouse.duckdb"
            db_path.parent.mkdir()
            # In child processes, so this one stays small: Linux carries a parent's peak
            # resident size into a forked child's ru_maxrss.
            subprocess.run(
                [sys.executable, __file__, "--load-catalog", str(db_path), str(n), tmp],
                check=True,
                env=env,
            )
            load = os.getloadavg()[0]
            child = subprocess.run(
                [sys.executable, __file__, "--run-asset", str(db_path)],
                capture_output=True,
                text=True,
                env=env,
            )
            if child.returncode != 0:
                raise RuntimeError(child.stderr[-4000:])
            result = json.loads(child.stdout.strip().splitlines()[-1])
            rows.append((n, load, result))
            print(f"{n:,} rows: {json.dumps(result)}", file=sys.stderr, flush=True)
    smallest = rows[0][2]["peak_mb"]
    print(
        "| catalog rows | hashed | images/s | RSS after imports (MB) | peak RSS (MB) "
        "| peak × smallest | load avg |"
    )
    print("|---:|---:|---:|---:|---:|---:|---:|")
    for n, load, r in rows:
        print(
            f"| {n:,} | {r['hashed']:,} | {r['images_per_second']:,.0f} "
            f"| {r['baseline_mb']:,.0f} | {r['peak_mb']:,.0f} "
            f"| {r['peak_mb'] / smallest:.2f} | {load:.2f} |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Peak memory of cataloguing one file, by file size: a large non-image must not cost its size.

Each case runs ``raw_images`` on a one-file folder source in a fresh child process and reports the
child's peak resident memory (``ru_maxrss``) and the time taken. Cases, measured in one run so
their ratios hold on any machine:

* ``image``: a 640x480 JPEG (the baseline: what cataloguing any small file costs);
* ``non-image 300 MB``: a sparse 300 MB file with a zip header (looked at, hashed as a stream);
* ``too large 300 MB``: the same file with ``max_file_bytes`` of 100 MB (quarantined unread).

    python benchmarks/bench_catalog_memory.py
    python benchmarks/bench_catalog_memory.py --mb 1000
"""

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

MB = 1024 * 1024


def child(source: str, db: str, max_bytes: int) -> None:
    import dagster as dg

    from assets.ingest.assets import RawImagesConfig, raw_images
    from resources.blob_store import LocalBlobStore
    from resources.environment import get_settings
    from resources.settings import PlatformSettings
    from resources.warehouse.duckdb_warehouse import DuckDBWarehouse

    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.perf_counter()
    result = dg.materialize(
        [raw_images],
        resources={
            "warehouse": DuckDBWarehouse(path=db),
            "blob_store": LocalBlobStore(root=str(Path(db).parent / "blobs")),
            "settings": PlatformSettings.from_settings(get_settings()),
        },
        run_config=dg.RunConfig(
            {"raw_images": RawImagesConfig(source=source, max_file_bytes=max_bytes)}
        ),
    )
    elapsed = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"ok": result.success, "base_kb": base, "peak_kb": peak, "s": elapsed}))


def run_case(folder: Path, max_bytes: int) -> dict:
    db = folder.parent / f"{folder.name}-{max_bytes}.duckdb"
    out = subprocess.run(
        [sys.executable, __file__, "--child", str(folder), str(db), str(max_bytes)],
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mb", type=int, default=300, help="Size of the large file in MB.")
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child[0], args.child[1], int(args.child[2]))
        return
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from tests.support.images import encode, photo

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        image = tmp / "image" / "cats" / "cat.jpg"
        image.parent.mkdir(parents=True)
        image.write_bytes(encode(photo("chelsea.png").resize((640, 480)), quality=90))
        big = tmp / "big" / "videos" / "movie.jpg"
        big.parent.mkdir(parents=True)
        with big.open("wb") as handle:
            handle.write(b"PK\x03\x04" + b"\x14" * 60)
            handle.truncate(args.mb * MB)
        cases = [
            ("image (640x480 JPEG)", tmp / "image", 256 * MB),
            (f"non-image {args.mb} MB", tmp / "big", 4 * args.mb * MB),
            (f"too large {args.mb} MB (limit {args.mb // 3} MB)", tmp / "big", args.mb // 3 * MB),
        ]
        results = [(name, run_case(folder, limit)) for name, folder, limit in cases]
    base = results[0][1]["peak_kb"]
    print("| case | peak RSS MB | x image | seconds |")
    print("|---|---:|---:|---:|")
    for name, r in results:
        assert r["ok"], name
        print(f"| {name} | {r['peak_kb'] / 1024:.0f} | {r['peak_kb'] / base:.2f} | {r['s']:.1f} |")


if __name__ == "__main__":
    main()

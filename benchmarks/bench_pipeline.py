"""The curation pipeline against its hashing engine, on the same generated collection, in one run.

    .venv/bin/python benchmarks/bench_pipeline.py [--images 10000] [--workers 2] [--rebuild]

The collection (built once under ``benchmarks/.corpus/pipeline-<n>/``, ``<label>/<file>``) holds
``--images`` distinct images cut from photographs that ship with installed packages: 90 % web-size
JPEGs (320 to 1024 px on the long side, a few PNGs) and 10 % camera-size JPEGs (2 to 5 MP), each a
different random crop, scale and quality, so no two files share bytes.

Contenders, on the same files:

* ``engine``: ``hash_many`` (exact mode, sizes 1..8, ``--workers`` threads) over the files' bytes
  already in memory — the ceiling for cataloguing and hashing. Timed before and after the
  pipeline; the ratio uses their mean.
* ``curation_job``: the job as a user runs it (``dagster job execute``) on the embedded default —
  a fresh DuckDB warehouse and Dagster instance under a temporary ``IMAGE_PLATFORM_HOME``, the
  collection as ``IMAGE_PLATFORM_SOURCE``, default config (``workers`` 2 in both steps). Step
  durations come from the run's event log; the throughput compared with the engine is that of
  ``raw_images`` + ``image_hashes`` (catalogue, read, hash and write everything).

Target: ``raw_images`` + ``image_hashes`` reach >= 70 % of the engine's throughput.
"""

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from multiprocessing import Pool
from pathlib import Path

import numpy as np
import yaml
from PIL import Image

ROOT = Path(__file__).resolve().parent
REPO = ROOT.parent
SITE = Path(np.__file__).resolve().parent.parent
PHOTOS = [
    ("people", "skimage/data/astronaut.png"),
    ("people", "matplotlib/mpl-data/sample_data/grace_hopper.jpg"),
    ("animals", "skimage/data/chelsea.png"),
    ("animals", "skimage/data/horse.png"),
    ("places", "sklearn/datasets/images/china.jpg"),
    ("places", "skimage/data/hubble_deep_field.jpg"),
    ("objects", "skimage/data/coffee.png"),
    ("objects", "skimage/data/rocket.jpg"),
    ("objects", "skimage/data/motorcycle_left.png"),
    ("nature", "sklearn/datasets/images/flower.jpg"),
    ("nature", "skimage/data/retina.jpg"),
]
MEGAPIXEL_SHARE = 0.10
STEPS = ("raw_images", "image_hashes")


def corpus_dir(n: int) -> Path:
    return ROOT / ".corpus" / f"pipeline-{n}"


def _make(args: tuple[int, int]) -> None:
    """Image ``i`` of the collection (deterministic in ``i``), written to its label folder."""
    i, n = args
    rng = np.random.default_rng(1_000_003 * i + 17)
    label, rel = PHOTOS[i % len(PHOTOS)]
    photo = _source(rel)
    w, h = photo.size
    # A random crop of 35..100 % of each side: no two images share a crop box and scale.
    cw, ch = int(w * rng.uniform(0.35, 1.0)), int(h * rng.uniform(0.35, 1.0))
    x, y = int(rng.integers(0, w - cw + 1)), int(rng.integers(0, h - ch + 1))
    crop = photo.crop((x, y, x + cw, y + ch))
    megapixel = i % round(1 / MEGAPIXEL_SHARE) == 0
    if megapixel:
        target = rng.uniform(2.0e6, 5.0e6)
        scale = (target / (cw * ch)) ** 0.5
    else:
        scale = rng.uniform(320, 1024) / max(cw, ch)
    size = (max(8, round(cw * scale)), max(8, round(ch * scale)))
    image = crop.resize(size, Image.Resampling.BILINEAR, reducing_gap=2.0)
    folder = corpus_dir(n) / label
    folder.mkdir(parents=True, exist_ok=True)
    if not megapixel and i % 23 == 1:
        image.save(folder / f"img{i:06d}.png", format="PNG", compress_level=1)
    else:
        quality = int(rng.integers(70, 95))
        image.save(folder / f"img{i:06d}.jpg", format="JPEG", quality=quality)


_SOURCES: dict[str, Image.Image] = {}


def _source(rel: str) -> Image.Image:
    if rel not in _SOURCES:
        image = Image.open(SITE / rel).convert("RGB")
        if max(image.size) < 2000:  # room for camera-size crops
            factor = 2400 / max(image.size)
            image = image.resize(
                (round(image.width * factor), round(image.height * factor)),
                Image.Resampling.BICUBIC,
            )
        _SOURCES[rel] = image
    return _SOURCES[rel]


def build_collection(n: int, rebuild: bool = False) -> Path:
    root = corpus_dir(n)
    marker = root / "complete"
    if marker.exists() and not rebuild:
        return root
    shutil.rmtree(root, ignore_errors=True)
    started = time.monotonic()
    with Pool(2) as pool:
        pool.map(_make, [(i, n) for i in range(n)], chunksize=64)
    marker.write_text(f"{n}\n")
    print(f"built {n} images in {time.monotonic() - started:.0f} s under {root}")
    return root


def image_files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file() and p.suffix in (".jpg", ".png"))


def time_engine(files: list[Path], workers: int) -> float:
    """The engine alone: the same work as the curation run's hashing (every size, exact mode,
    EXIF orientation applied, content box and probe hashes), on the bytes already in memory."""
    from assets.decode import DecodePolicy
    from assets.hashing import engine
    from assets.tables import HASH_SIZES

    engine.warm_up()
    engine.enable_pillow_block_cache()
    blobs = [p.read_bytes() for p in files]
    policy = DecodePolicy(apply_exif_orientation=True)  # image_hashes' default
    started = time.perf_counter()
    failed = []
    hashed = engine.hash_many(
        enumerate(blobs), HASH_SIZES, "exact", policy, workers, content=True, probes=True
    )
    for i, result in hashed:
        if isinstance(result, Exception):
            failed.append(f"{files[i].name}: {result.reason} {result.detail}")
    elapsed = time.perf_counter() - started
    if failed:
        print(f"the engine could not hash {len(failed)} images: {failed[:3]}")
    return elapsed


def time_curation_job(source: Path, workers: int) -> tuple[dict[str, float], dict]:
    """Run curation_job with the dagster CLI on a fresh embedded default; step durations (s)
    and raw_images' phases."""
    home = Path(tempfile.mkdtemp(prefix="bench-pipeline-"))
    try:
        dagster_home = home / "dagster"
        dagster_home.mkdir(parents=True)
        shutil.copy(REPO / "platform" / "local" / "dagster.yaml", dagster_home / "dagster.yaml")
        config = home / "run.yaml"
        ops = {step: {"config": {"workers": workers}} for step in STEPS}
        config.write_text(yaml.safe_dump({"ops": ops}))
        env = {
            **os.environ,
            "IMAGE_PLATFORM_ENV": "local",
            "IMAGE_PLATFORM_HOME": str(home),
            "IMAGE_PLATFORM_SOURCE": str(source),
            "DAGSTER_HOME": str(dagster_home),
        }
        env.pop("IMAGE_PLATFORM_DUCKDB_PATH", None)
        dagster = str(Path(sys.executable).parent / "dagster")
        cfg = ("-c", str(config))
        started = time.perf_counter()
        subprocess.run(
            [dagster, "job", "execute", "-m", "assets.definitions", "-j", "curation_job", *cfg],
            cwd=REPO,
            env=env,
            check=True,
            capture_output=True,
        )
        wall = time.perf_counter() - started
        steps, phases = _step_durations(dagster_home)
        return {"wall": wall, **steps}, phases
    finally:
        shutil.rmtree(home, ignore_errors=True)


def _step_durations(dagster_home: Path) -> tuple[dict[str, float], dict]:
    """Step durations (s) from the run's event log, and raw_images' ``seconds_by_phase``."""
    import dagster as dg

    os.environ["DAGSTER_HOME"] = str(dagster_home)
    with dg.DagsterInstance.get() as instance:
        (run,) = instance.get_runs()
        if run.status != dg.DagsterRunStatus.SUCCESS:
            raise RuntimeError(f"curation_job ended {run.status}")
        stats = {
            s.step_key: s.end_time - s.start_time for s in instance.get_run_step_stats(run.run_id)
        }
        stats["run"] = (
            instance.get_run_stats(run.run_id).end_time
            - instance.get_run_stats(run.run_id).start_time
        )
        event = instance.get_latest_materialization_event(dg.AssetKey("raw_images"))
        assert event is not None and event.asset_materialization is not None
        phases = event.asset_materialization.metadata["seconds_by_phase"].value
    return stats, dict(phases)  # type: ignore[arg-type]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--images", type=int, default=10_000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--rebuild", action="store_true")
    args = parser.parse_args()
    source = build_collection(args.images, args.rebuild)
    files = image_files(source)
    megabytes = sum(p.stat().st_size for p in files) / 1e6
    load = os.getloadavg()[0]
    before = time_engine(files, args.workers)
    job, phases = time_curation_job(source, args.workers)
    after = time_engine(files, args.workers)
    engine_s = statistics.mean([before, after])
    pipeline_s = sum(job[step] for step in STEPS)
    n = len(files)
    print(
        f"{n} images ({megabytes:.0f} MB), workers {args.workers}; "
        f"load average before {load:.2f}, after {os.getloadavg()[0]:.2f}"
    )
    print("| contender | seconds | images/s | x engine |")
    print("|---|---:|---:|---:|")
    print(
        f"| engine alone, bytes in memory (before / after) | {before:.1f} / {after:.1f} "
        f"| {n / engine_s:.0f} | 1.00 |"
    )
    for step in (*STEPS, *sorted(set(job) - {*STEPS, "wall", "run"})):
        print(f"| curation_job step `{step}` | {job[step]:.1f} | {n / job[step]:.0f} | |")
    print(
        f"| raw_images + image_hashes | {pipeline_s:.1f} | {n / pipeline_s:.0f} "
        f"| {engine_s / pipeline_s:.2f} |"
    )
    print(f"| curation_job run (first to last event) | {job['run']:.1f} | | |")
    print(f"| `dagster job execute` wall clock | {job['wall']:.1f} | | |")
    print(
        f"\nraw_images + image_hashes throughput / engine = {engine_s / pipeline_s:.2f} "
        "(target >= 0.70)"
    )
    print("\n`raw_images` by phase (its seconds_by_phase metadata):\n")
    print("| phase | seconds |")
    print("|---|---:|")
    for phase, seconds in phases["step"].items():
        print(f"| step thread: {phase} | {seconds:.1f} |")
    for phase, seconds in phases["workers"].items():
        print(f"| worker threads, summed: {phase} | {seconds:.1f} |")


if __name__ == "__main__":
    main()

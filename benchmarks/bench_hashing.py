"""Benchmark the multi-size dHash engine against the ``dhash`` package and Pillow's decode.

    .venv/bin/python benchmarks/bench_hashing.py [--reps 5] [--rebuild]

The corpus is built once under ``benchmarks/.corpus/`` from photographs that ship with installed
packages (scikit-image, scikit-learn, matplotlib):

* ``megapixel``: each photo resized to common camera resolutions (2, 5, 8 and 12 MP, landscape
  and portrait), with mild sensor-like grain so the JPEGs carry realistic detail, quality 90;
* ``web``: the packages' own JPEGs, re-encodings at 0.3 to 1 MP, and some PNGs.

All contenders hash the same bytes, read into memory before timing; each timed batch repeats its
subset to at least 60 images (rates are per image either way). Each contender runs once
to warm up (the numba kernels are compiled or loaded from cache before anything is timed), then
``--reps`` times; the median run is reported. Ratios are against the ``dhash`` package computing
sizes 1..8 the way the lab did: open the image once, then eight ``dhash_row_col`` calls.
"""

import argparse
import io
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import dhash
import imagehash
import numpy as np
from PIL import Image

from assets.decode import DEFAULT_POLICY
from assets.hashing import engine

ROOT = Path(__file__).resolve().parent
CORPUS = ROOT / ".corpus"
SITE = Path(np.__file__).resolve().parent.parent

# (package-relative path, short name): real photographs only.
PHOTOS = [
    ("skimage/data/astronaut.png", "astronaut"),
    ("skimage/data/chelsea.png", "chelsea"),
    ("skimage/data/coffee.png", "coffee"),
    ("skimage/data/motorcycle_left.png", "motorcycle"),
    ("skimage/data/hubble_deep_field.jpg", "hubble"),
    ("skimage/data/retina.jpg", "retina"),
    ("skimage/data/rocket.jpg", "rocket"),
    ("skimage/data/camera.png", "camera"),
    ("sklearn/datasets/images/china.jpg", "china"),
    ("sklearn/datasets/images/flower.jpg", "flower"),
    ("matplotlib/mpl-data/sample_data/grace_hopper.jpg", "grace_hopper"),
]
# Common camera resolutions (width, height) for the megapixel subset.
CAMERA_SIZES = [(1920, 1080), (2592, 1944), (3264, 2448), (4032, 3024)]
WEB_SIZES = [(640, 480), (800, 600), (1024, 768), (1280, 720)]
SIZES = tuple(range(1, 9))
BATCH_MIN = 60  # images per timed batch (a subset is repeated to reach it)


def _fit(image: Image.Image, size: tuple[int, int]) -> Image.Image:
    """Centre-crop to the target aspect ratio, then resize (LANCZOS)."""
    w, h = image.size
    tw, th = size
    if w * th > h * tw:
        cw, ch = h * tw // th, h
    else:
        cw, ch = w, w * th // tw
    left, top = (w - cw) // 2, (h - ch) // 2
    return image.crop((left, top, left + cw, top + ch)).resize(size, Image.Resampling.LANCZOS)


def _grain(image: Image.Image, rng: np.random.Generator, sigma: float) -> Image.Image:
    pixels = np.asarray(image, dtype=np.float32)
    noisy = pixels + rng.normal(0.0, sigma, pixels.shape).astype(np.float32)
    return Image.fromarray(np.clip(noisy + 0.5, 0, 255).astype(np.uint8), image.mode)


def _save(image: Image.Image, path: Path, **options) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    with open(tmp, "wb") as f:
        image.save(f, **options)
    tmp.replace(path)


def build_corpus(rebuild: bool = False) -> None:
    marker = CORPUS / "complete"
    if marker.exists() and not rebuild:
        return
    rng = np.random.default_rng(20240601)
    sources = {name: Image.open(SITE / rel).convert("RGB") for rel, name in PHOTOS}
    mega = ["astronaut", "coffee", "motorcycle", "hubble", "retina", "china", "grace_hopper"]
    for i, name in enumerate(mega):
        for j, (w, h) in enumerate(CAMERA_SIZES):
            portrait = (i + j) % 3 == 2
            img = _grain(_fit(sources[name], (h, w) if portrait else (w, h)), rng, sigma=3.0)
            options: dict = {"format": "JPEG", "quality": 90}
            label = f"{img.width}x{img.height}"
            if portrait and i % 2 == 0:
                # A phone's portrait shot: stored landscape, EXIF orientation 6 (rotate 90° cw).
                img = img.transpose(Image.Transpose.ROTATE_90)
                exif = Image.Exif()
                exif[0x0112] = 6
                options["exif"] = exif
                label += "_exif6"
            _save(img, CORPUS / "megapixel" / f"{name}_{label}.jpg", **options)
    for rel, name in PHOTOS:
        data = (SITE / rel).read_bytes()
        if rel.endswith(".jpg") and len(data) and Image.open(io.BytesIO(data)).width <= 1100:
            (CORPUS / "web").mkdir(parents=True, exist_ok=True)
            (CORPUS / "web" / f"{name}.jpg").write_bytes(data)
    for i, (_rel, name) in enumerate(PHOTOS):
        size = WEB_SIZES[i % len(WEB_SIZES)]
        img = _fit(sources[name], size)
        _save(img, CORPUS / "web" / f"{name}_{size[0]}x{size[1]}.jpg", format="JPEG", quality=85)
    for name in ["astronaut", "chelsea", "coffee", "motorcycle", "camera"]:
        img = sources[name]
        if name == "camera":
            img = img.convert("L")
        _save(img, CORPUS / "web" / f"{name}.png", format="PNG")
    marker.write_text("ok\n")


def load_corpus() -> dict[str, list[tuple[str, bytes]]]:
    subsets = {}
    for subset in ("megapixel", "web"):
        files = sorted((CORPUS / subset).iterdir())
        subsets[subset] = [(f.name, f.read_bytes()) for f in files if not f.name.endswith(".tmp")]
    return subsets


# -- contenders: each takes the list of byte strings and hashes / decodes all of them ----------


def run_dhash_package(blobs: list[bytes]) -> None:
    for data in blobs:
        image = Image.open(io.BytesIO(data))
        for size in SIZES:
            dhash.format_hex(*dhash.dhash_row_col(image, size), size)


def run_imagehash(blobs: list[bytes]) -> None:
    for data in blobs:
        str(imagehash.dhash(Image.open(io.BytesIO(data)), hash_size=8))


def run_engine(
    mode: str, workers: int, content: bool = True, probes: bool = True
) -> Callable[[list[bytes]], None]:
    def run(blobs: list[bytes]) -> None:
        items = enumerate(blobs)
        hashed = engine.hash_many(
            items, SIZES, mode, workers=workers, content=content, probes=probes
        )
        for _, result in hashed:
            if isinstance(result, Exception):
                raise result

    return run


def run_decode_only(blobs: list[bytes]) -> None:
    for data in blobs:
        Image.open(io.BytesIO(data)).load()


def run_decode_convert(blobs: list[bytes]) -> None:
    for data in blobs:
        Image.open(io.BytesIO(data)).convert("L")


def run_fast_floor(blobs: list[bytes]) -> None:
    """What fast mode cannot avoid: the draft decode for JPEGs, full decode + 'L' otherwise."""
    target = (engine.FAST_DRAFT_TARGET, engine.FAST_DRAFT_TARGET)
    for data in blobs:
        image = Image.open(io.BytesIO(data))
        if image.format == "JPEG":
            image.draft("L", target)
            image.load()
        else:
            image.convert("L")


CONTENDERS: list[tuple[str, Callable[[list[bytes]], None]]] = [
    ("dhash package, sizes 1..8 (8 calls)", run_dhash_package),
    ("engine exact, 1 worker", run_engine("exact", 1)),
    ("engine fast, 1 worker", run_engine("fast", 1)),
    # The engine before the content box (and its trimmed hash) was added: same code path with
    # that step switched off, so the ratio is the cost of the extra hash in this run.
    ("engine exact, 1 worker, no content box", run_engine("exact", 1, content=False)),
    ("engine fast, 1 worker, no content box", run_engine("fast", 1, content=False)),
    # The engine before the probe hashes were added (content box and trimmed hash kept).
    ("engine exact, 1 worker, no probe hashes", run_engine("exact", 1, probes=False)),
    ("engine fast, 1 worker, no probe hashes", run_engine("fast", 1, probes=False)),
    ("imagehash.dhash (size 8 only)", run_imagehash),
    ("Pillow: decode only (open + load)", run_decode_only),
    ("Pillow: decode + convert('L')", run_decode_convert),
    ("floor: fast-mode decode (JPEG draft)", run_fast_floor),
    ("engine exact, 2 workers", run_engine("exact", 2)),
    ("engine fast, 2 workers", run_engine("fast", 2)),
]


def time_contenders(subsets: dict[str, list[bytes]], reps: int) -> dict[str, dict[str, float]]:
    """Median seconds per contender and subset. Repetitions are interleaved (each round runs
    every contender on every subset once) so a burst of load from elsewhere hits all alike."""
    for blobs in subsets.values():
        for _, fn in CONTENDERS:
            fn(blobs)  # warm-up: caches, allocator, first-time imports
    times = {label: {name: [] for name in subsets} for label, _ in CONTENDERS}
    for rep in range(reps):
        for name, blobs in subsets.items():
            for label, fn in CONTENDERS:
                start = time.perf_counter()
                fn(blobs)
                times[label][name].append(time.perf_counter() - start)
        print(f"round {rep + 1}/{reps} done", file=sys.stderr)
    return {
        label: {name: statistics.median(values) for name, values in per_subset.items()}
        for label, per_subset in times.items()
    }


def agreement(blobs: list[bytes]) -> tuple[list[float], list[float]]:
    """Per-size share of bits on which fast mode equals exact mode (all images; JPEGs only)."""
    agree_all = np.zeros(9)
    agree_jpeg = np.zeros(9)
    total_all = np.zeros(9)
    total_jpeg = np.zeros(9)
    for data in blobs:
        exact = engine.hash_bytes(data, SIZES, "exact")
        fast = engine.hash_bytes(data, SIZES, "fast")
        for size in SIZES:
            diff = (exact[size].row ^ fast[size].row).bit_count()
            diff += (exact[size].col ^ fast[size].col).bit_count()
            bits = 2 * size * size
            agree_all[size] += bits - diff
            total_all[size] += bits
            if fast.mode == "fast":
                agree_jpeg[size] += bits - diff
                total_jpeg[size] += bits
    return (
        [agree_all[s] / total_all[s] for s in SIZES],
        [agree_jpeg[s] / max(1, total_jpeg[s]) for s in SIZES],
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--rebuild", action="store_true", help="rebuild the corpus")
    parser.add_argument(
        "--no-block-cache",
        action="store_true",
        help="leave Pillow's block cache off (by default it is on for every contender)",
    )
    args = parser.parse_args(argv)
    if not args.no_block_cache:
        engine.enable_pillow_block_cache()

    build_corpus(args.rebuild)
    subsets = load_corpus()
    subsets["all"] = subsets["megapixel"] + subsets["web"]
    engine.warm_up()
    load_before = os.getloadavg()

    names = ["megapixel", "web", "all"]
    blobs = {name: [data for _, data in subsets[name]] for name in names}
    megapixels = {
        name: sum(
            Image.open(io.BytesIO(d)).width * Image.open(io.BytesIO(d)).height for d in blobs[name]
        )
        / 1e6
        for name in names
    }
    # Each timed batch repeats its subset to at least BATCH_MIN images, so the end of a batch
    # (one worker idle while the other finishes the last image) weighs about as little as in a
    # real run; times are then scaled back to one pass over the subset.
    repeat = {name: -(-BATCH_MIN // len(blobs[name])) for name in names[:2]}
    batch_seconds = time_contenders(
        {name: blobs[name] * repeat[name] for name in names[:2]}, args.reps
    )
    seconds = {
        label: {name: value / repeat[name] for name, value in per_subset.items()}
        for label, per_subset in batch_seconds.items()
    }
    for label, _ in CONTENDERS:
        seconds[label]["all"] = seconds[label]["megapixel"] + seconds[label]["web"]
    load_after = os.getloadavg()
    agree_all, agree_jpeg = agreement(blobs["all"])

    base = seconds[CONTENDERS[0][0]]
    n_png = sum(1 for d in blobs["web"] if d[:4] == b"\x89PNG")
    print(
        f"Corpus: {len(blobs['megapixel'])} megapixel JPEGs ({megapixels['megapixel']:.0f} MP), "
        f"{len(blobs['web'])} web images ({megapixels['web']:.1f} MP; "
        f"{n_png} PNG). "
        f"Batches of each subset repeated {repeat['megapixel']}x / {repeat['web']}x; "
        f"median of {args.reps} interleaved runs after a warm-up; Pillow "
        f"{engine.PILLOW_VERSION} (block cache {Image.core.get_blocks_max()} blocks), "
        f"{os.cpu_count()} cores; load average {load_before[0]:.2f} before, "
        f"{load_after[0]:.2f} after.\n"
    )
    header = "| contender | " + " | ".join(f"{n} img/s | {n} × dhash" for n in names) + " |"
    print(header)
    print("|" + "---|" * (1 + 2 * len(names)))
    for label, _ in CONTENDERS:
        cells = []
        for name in names:
            rate = len(blobs[name]) / seconds[label][name]
            cells.append(f"{rate:.1f}")
            cells.append(f"{base[name] / seconds[label][name]:.2f}")
        print(f"| {label} | " + " | ".join(cells) + " |")

    def ratio(a: str, b: str, name: str) -> float:
        return seconds[b][name] / seconds[a][name]

    print()
    print("| check (same run) | megapixel | web | all | target |")
    print("|---|---|---|---|---|")
    checks = [
        (
            "exact ÷ dhash package (speed-up)",
            "engine exact, 1 worker",
            "dhash package, sizes 1..8 (8 calls)",
            "≥ 5",
        ),
        (
            "fast ÷ fast-mode decode floor",
            "engine fast, 1 worker",
            "floor: fast-mode decode (JPEG draft)",
            "≥ 0.92",
        ),
        (
            "exact, 2 workers ÷ 1 worker",
            "engine exact, 2 workers",
            "engine exact, 1 worker",
            "≥ 1.8",
        ),
        ("fast, 2 workers ÷ 1 worker", "engine fast, 2 workers", "engine fast, 1 worker", "≥ 1.8"),
        (
            "exact with ÷ without the content box",
            "engine exact, 1 worker",
            "engine exact, 1 worker, no content box",
            "≥ 0.90",
        ),
        (
            "fast with ÷ without the content box",
            "engine fast, 1 worker",
            "engine fast, 1 worker, no content box",
            "≥ 0.90",
        ),
        (
            "exact with ÷ without the probe hashes",
            "engine exact, 1 worker",
            "engine exact, 1 worker, no probe hashes",
            "≥ 0.90",
        ),
        (
            "fast with ÷ without the probe hashes",
            "engine fast, 1 worker",
            "engine fast, 1 worker, no probe hashes",
            "≥ 0.90",
        ),
    ]
    for text, a, b, target in checks:
        cells = " | ".join(f"{ratio(a, b, n):.2f}" for n in names)
        print(f"| {text} | {cells} | {target} |")
    print()
    print("| fast vs exact: share of equal bits | " + " | ".join(f"size {s}" for s in SIZES) + " |")
    print("|---|" + "---|" * len(SIZES))
    print("| all images | " + " | ".join(f"{a:.2%}" for a in agree_all) + " |")
    print("| JPEGs (fast path) | " + " | ".join(f"{a:.2%}" for a in agree_jpeg) + " |")
    print()
    print(f"Engine backends used: {engine.STATS.snapshot()}; policy {DEFAULT_POLICY}.")
    return 0


if __name__ == "__main__":
    sys.exit(main())

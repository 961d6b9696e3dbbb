"""Throughput of batch classification: decode + preprocess + ONNX inference, images per second.

Run: ``.venv/bin/python benchmarks/bench_inference.py`` (prints a Markdown table for
benchmarks/README.md).

Corpora, built in memory from files that ship with installed packages (nothing is downloaded):

* ``digits``: scikit-learn's digits rendered as 32x32 greyscale PNGs (tiny files: decode is cheap,
  the model dominates);
* ``photos``: scikit-image's sample photographs resized to common camera/web sizes (640x480,
  1280x960, 1920x1080, 3000x2000) and saved as JPEG quality 90 (decode dominates).

The model is the platform's own classifier trained on all digits. ``threads d/o`` means d decode
threads (Pillow, which releases the GIL) and o onnxruntime intra-op threads; the "decode only" and
"model only" columns split the same work to show where the time goes. Each cell is the median of
``--repeats`` timed passes after one warm-up pass.
"""

import argparse
import io
import statistics
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from PIL import Image

from assets.classifier.classify import Classifier
from assets.demo.digits import render_digits
from assets.model.train import train_classifier

PHOTO_SIZES = [(640, 480), (1280, 960), (1920, 1080), (3000, 2000)]
PHOTO_FILES = [
    "astronaut.png",
    "chelsea.png",
    "coffee.png",
    "rocket.jpg",
    "motorcycle_left.png",
    "hubble_deep_field.jpg",
    "coins.png",
    "camera.png",
]


def photo_corpus(count: int) -> list[tuple[str, bytes]]:
    import skimage

    folder = Path(skimage.__file__).parent / "data"
    sources = []
    for name in PHOTO_FILES:
        with Image.open(folder / name) as image:
            sources.append((Path(name).stem, image.convert("RGB")))
    corpus = []
    index = 0
    while len(corpus) < count:
        stem, image = sources[index % len(sources)]
        size = PHOTO_SIZES[(index // len(sources)) % len(PHOTO_SIZES)]
        buffer = io.BytesIO()
        image.resize(size, Image.Resampling.BICUBIC).save(buffer, "JPEG", quality=90)
        corpus.append((f"{stem}_{size[0]}x{size[1]}_{index}.jpg", buffer.getvalue()))
        index += 1
    return corpus


def timed(fn, repeats: int) -> list[float]:
    fn()  # warm-up: thread pools, onnxruntime's first-run allocations, file caches
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return times


def uptime() -> str:
    try:
        return subprocess.run(["uptime"], capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "uptime unavailable"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--digits", type=int, default=1024, help="digit images per pass")
    parser.add_argument("--photos", type=int, default=256, help="photographs per pass")
    parser.add_argument("--repeats", type=int, default=5, help="timed passes per cell")
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 32, 256])
    parser.add_argument(
        "--threads",
        nargs="+",
        default=["1/1", "2/1", "2/2"],
        help="decode threads/onnxruntime intra-op threads, one cell group each",
    )
    args = parser.parse_args()

    load_before = uptime()
    digits = render_digits(size=32)
    model = train_classifier([(d.name, d.data, d.label) for d in digits])
    corpora = {
        "digits 32x32 PNG": [(d.name, d.data) for d in digits][: args.digits],
        "photos 0.3-6 MP JPEG": photo_corpus(args.photos),
    }
    header = (
        "| corpus | images | batch | threads decode/onnx | images/s | ms/image "
        "| decode only, images/s | model only, images/s |"
    )
    rows = [header, "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for corpus_name, items in corpora.items():
        for threads in args.threads:
            decode_threads, onnx_threads = (int(v) for v in threads.split("/"))
            classifier = Classifier.load(
                model.onnx_bytes,
                model.spec,
                intra_op_threads=onnx_threads,
                decode_threads=decode_threads,
            )
            prepared = [classifier.prepare(data) for _, data in items]
            arrays = np.stack([p for p in prepared if isinstance(p, np.ndarray)])

            def decode_only(classifier=classifier, items=items) -> None:
                with ThreadPoolExecutor(classifier.decode_threads) as pool:
                    list(pool.map(classifier.prepare, (data for _, data in items)))

            # Decoding does not depend on the batch size: measured once per thread count.
            decode = statistics.median(timed(decode_only, args.repeats))
            for batch in args.batch_sizes:

                def run(classifier=classifier, items=items, batch=batch) -> None:
                    for _ in classifier.classify_bytes(items, batch_size=batch):
                        pass

                def model_only(classifier=classifier, arrays=arrays, batch=batch) -> None:
                    for start in range(0, len(arrays), batch):
                        classifier.predict_arrays(arrays[start : start + batch])

                total = statistics.median(timed(run, args.repeats))
                infer = statistics.median(timed(model_only, args.repeats))
                n = len(items)
                rows.append(
                    f"| {corpus_name} | {n} | {batch} | {threads} | {n / total:,.0f} "
                    f"| {1000 * total / n:.2f} | {n / decode:,.0f} | {len(arrays) / infer:,.0f} |"
                )
                print(rows[-1], flush=True)
    load_after = uptime()
    print()
    print("\n".join(rows))
    print()
    print(f"Model {model.spec.version}: {model.spec.training['algorithm']}.")
    print(
        "threads d/o: d decode threads, o onnxruntime intra-op threads; "
        f"median of {args.repeats} passes after a warm-up."
    )
    print(f"Load before: {load_before}")
    print(f"Load after:  {load_after}")


if __name__ == "__main__":
    main()

"""Command line: print the dHash hex strings of image files as CSV.

    python -m assets.hashing [--mode exact|fast] [--sizes 1-8] [--workers N] FILE_OR_DIR...

One row per image in input order (directories are walked recursively in sorted order) with the
header ``path,DHashHex1,...,DHashHex8`` (only the requested sizes). Files that cannot be read or
decoded are reported on stderr with a reason code and skipped. The exit status is 1 when no
image could be hashed, 0 otherwise; 2 for usage errors.
"""

import argparse
import csv
import os
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path

from assets.decode import UndecodableImageError
from assets.hashing.engine import (
    DEFAULT_SIZES,
    MODES,
    ExactModeUnavailableError,
    enable_pillow_block_cache,
    hash_many,
)


def parse_sizes(text: str) -> tuple[int, ...]:
    """Parse ``1-8``, ``3,8`` or ``1-3,8`` into sorted unique sizes within 1..8."""
    sizes: set[int] = set()
    for part in text.split(","):
        part = part.strip()
        if not part:
            continue
        try:
            if "-" in part:
                low, high = (int(p) for p in part.split("-", 1))
                if low > high:
                    raise ValueError
                sizes.update(range(low, high + 1))
            else:
                sizes.add(int(part))
        except ValueError:
            raise argparse.ArgumentTypeError(f"invalid size range {part!r}") from None
    if not sizes:
        raise argparse.ArgumentTypeError("no sizes given")
    out_of_range = sorted(s for s in sizes if not 1 <= s <= max(DEFAULT_SIZES))
    if out_of_range:
        raise argparse.ArgumentTypeError(f"sizes must be within 1..8, got {out_of_range}")
    return tuple(sorted(sizes))


def iter_files(paths: Sequence[str]) -> Iterator[tuple[str, Path | None]]:
    """Yield (display path, file) in input order; directories expand recursively, sorted.

    A path that does not exist yields (path, None) so the caller can report it in its place.
    """
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            found: list[Path] = []
            for root, dirs, files in os.walk(path):
                dirs.sort()
                found.extend(Path(root) / name for name in files)
            for file in sorted(found):
                yield str(file), file
        elif path.is_file():
            yield raw, path
        else:
            yield raw, None


def _reader(path: Path | None):
    def read() -> bytes:
        if path is None:
            raise FileNotFoundError("no such file or directory")
        return path.read_bytes()

    return read


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m assets.hashing",
        description="Print multi-size dHash hex strings (dhash package format) as CSV.",
    )
    parser.add_argument("--mode", choices=MODES, default="exact")
    parser.add_argument(
        "--sizes", type=parse_sizes, default=DEFAULT_SIZES, help="e.g. 1-8 (default), 8, 3,8"
    )
    parser.add_argument("--workers", type=int, default=None, help="threads (default: cores)")
    parser.add_argument("paths", nargs="+", metavar="FILE_OR_DIR")
    args = parser.parse_args(argv)
    if args.workers is not None and args.workers < 1:
        parser.error("--workers must be at least 1")

    enable_pillow_block_cache()
    writer = csv.writer(sys.stdout, lineterminator="\n")
    writer.writerow(["path", *(f"DHashHex{s}" for s in args.sizes)])
    hashed = 0
    failed = 0
    items = ((shown, _reader(path)) for shown, path in iter_files(args.paths))
    try:
        for shown, result in hash_many(items, args.sizes, args.mode, workers=args.workers):
            if isinstance(result, UndecodableImageError):
                failed += 1
                print(f"{shown}: {result.reason}: {result.detail}", file=sys.stderr)
                continue
            writer.writerow([shown, *(result.hex(s) for s in args.sizes)])
            hashed += 1
    except ExactModeUnavailableError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    sys.stdout.flush()
    if hashed == 0:
        print(f"no image could be hashed ({failed} failed)", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

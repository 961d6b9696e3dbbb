"""Multi-size dHash engine (pure: no Dagster import).

``hash_bytes`` hashes one encoded image for several hash sizes at once; ``hash_many`` streams a
batch through a thread pool (Pillow releases the GIL while decoding and the kernels run without
it), keeping input order and a bounded number of images in flight.

Modes
-----
``exact``
    Decode the first frame with the platform decode policy (``assets.decode``) and resize with
    the kernels in ``assets.hashing.kernels``, which replicate Pillow's LANCZOS resize bit for
    bit. The hashes equal ``dhash.dhash_row_col(image, size)`` of the decoded (and, per policy,
    EXIF-oriented) first frame, formatted with ``dhash.format_hex``. Only available with the
    Pillow version the kernels replicate; otherwise ``ExactModeUnavailableError`` is raised.
``fast``
    JPEG (and MPO) files are decoded in the DCT domain straight to luma at 1/2..1/8 scale
    (Pillow's ``draft``; the same pixels from libjpeg-turbo directly for the plain JPEGs
    ``assets.hashing.jpeg`` vouches for), keeping at least ``FAST_DRAFT_TARGET`` pixels on the
    short side, then the same kernels run, resizing exactly the part of the small image that
    covers the picture (as ``Image.thumbnail`` does with the draft box). At 1/8 scale libjpeg
    rounds each block's DC value half up, which lifts the pixels by a known mean
    (``jpeg_dc_rounding_bias``); the first pass subtracts it before rounding. This skips most of
    the decoding work; the hashes agree with exact mode on nearly all bits but not all. Other
    formats take the exact path and are labelled ``exact`` (or ``fast`` if exact mode is
    unavailable, since parity is then not established).

Integer forms
-------------
Every row and column hash is also available as a signed 64-bit integer (``SizeHash.row_int64``,
``col_int64``, and ``HashResult.dhash8_row`` / ``dhash8_col`` for size 8), because DuckDB and
T-SQL BIGINT are signed 64-bit. For size 8 the unsigned 64-bit word is reinterpreted as two's
complement (words >= 2**63 become negative); sizes 1..7 have at most 49 bits, so their value is
unchanged. Hamming distance is ``bit_count(a XOR b)`` on either form (XOR works bit for bit on
two's complement). Row and column are kept separate because ``row << (s*s) | col`` needs 98 bits
for size 7 and 128 for size 8.
"""

import os
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Literal, TypeVar

import numpy as np
import PIL
from PIL import Image

from assets.decode import (
    DEFAULT_POLICY,
    DecodePolicy,
    ImageProbe,
    UndecodableImageError,
    orient,
)
from assets.hashing import jpeg, kernels
from assets.hashing.gray import GrayImage, decode_gray_stored, transpose_region
from assets.ordered import OrderedExecutor, runs

Mode = Literal["exact", "fast"]
MODES: tuple[str, ...] = ("exact", "fast")
DEFAULT_SIZES: tuple[int, ...] = tuple(range(1, kernels.MAX_HASH_SIZE + 1))

# Short side, in pixels, that a fast-mode JPEG draft decode keeps at least. Pillow picks the
# largest DCT scale (1/8, 1/4, 1/2) that stays at or above it; multi-megapixel photos always
# decode at 1/8. Changing it changes fast-mode hashes (and FAST_HASH_ALGORITHM_VERSION).
FAST_DRAFT_TARGET = 64

PILLOW_VERSION: str = PIL.__version__
EXACT_MODE_AVAILABLE: bool = PILLOW_VERSION == kernels.PILLOW_VERSION_REPLICATED

# Bump the trailing -vN when the engine's results change for the same Pillow version.
# v2: results also carry the content box and its trimmed size-8 hash (DHashHex1..8 unchanged);
# v3: JPEG ringing next to a bar is peeled too; v4: results also carry the probe hashes.
HASH_ALGORITHM_VERSION = f"dhash-pillow{kernels.PILLOW_VERSION_REPLICATED}-v4"
FAST_HASH_ALGORITHM_VERSION = f"dhash-fast-jpegdraft{FAST_DRAFT_TARGET}-pillow{PILLOW_VERSION}-v4"

# The content box (see ``kernels.content_box``). A border line is flat when its grey levels span
# at most CONTENT_TOLERANCE levels: JPEG noise on a solid bar stays within it, a line of a
# photograph almost never does (a clear sky can, and is then trimmed from every copy alike).
CONTENT_TOLERANCE = 12
# No trimmed hash from a box narrower or shorter than this many pixels, or than this share of
# the picture's side: a smaller box is a detail, not the picture, and links unrelated images.
MIN_CONTENT_SIDE = 16
MIN_CONTENT_SHARE = 0.25
# A size-8 grey (9 x 9) with fewer than MIN_DECISIVE of its 144 neighbour comparisons differing
# by DECISIVE_MARGIN grey levels or more is flat: its bits are noise (a blank or near-blank
# picture hashes to all zeros, like every other blank picture), so it links nothing.
DECISIVE_MARGIN = 2
MIN_DECISIVE = 24

# What ``HashResult.content`` says about an image and which near-duplicate links it may take.
CONTENT_WHOLE = "whole"  # no border: trimmed hash = size-8 hash; every link
CONTENT_TRIMMED = "trimmed"  # borders trimmed: trimmed hash over the box; every link
CONTENT_SMALL_BOX = "small_box"  # box below the minimum size: no trimmed hash
CONTENT_FLAT_BOX = "flat_box"  # box too flat to hash: no trimmed hash
CONTENT_FLAT = "flat"  # the whole picture too flat to hash: no hash link at all
CONTENT_BLANK = "blank"  # every line flat (blank, all border, fully transparent): no link
CONTENT_TOO_SMALL = "too_small"  # a side under MIN_CONTENT_SIDE pixels: no hash link at all
CONTENT_NOT_MEASURED = "not_measured"  # size 8 not computed, or Pillow's fallback resize
LINKABLE_CONTENT = (CONTENT_WHOLE, CONTENT_TRIMMED, CONTENT_SMALL_BOX, CONTENT_FLAT_BOX)

# The probe hashes: size-8 difference hashes of parts of the content box (of the whole picture
# when nothing was trimmed), resampled by area means from one grid of the box
# (``kernels.probe_grays``; not the dhash package's LANCZOS, so never compared with DHashHex8).
# Each is (name, (x0, y0, x1, y1) as shares of the box). ``area`` is the whole box: the edge-cut
# link compares one image's area hash with another's cut hashes, the hashes of the box with a
# strip of PROBE_CUT of a side cut away (a caption strip or a watermark cropped off one side);
# ``centre`` is the box without PROBE_MARGIN on every side, where a slight rotation or a
# re-framing moves the picture least and a rotated copy's blank corners do not reach.
PROBE_CUT = 0.05
PROBE_MARGIN = 0.1
PROBES: tuple[tuple[str, tuple[float, float, float, float]], ...] = (
    ("area", (0.0, 0.0, 1.0, 1.0)),
    ("centre", (PROBE_MARGIN, PROBE_MARGIN, 1.0 - PROBE_MARGIN, 1.0 - PROBE_MARGIN)),
    ("cut_top", (0.0, PROBE_CUT, 1.0, 1.0)),
    ("cut_bottom", (0.0, 0.0, 1.0, 1.0 - PROBE_CUT)),
    ("cut_left", (PROBE_CUT, 0.0, 1.0, 1.0)),
    ("cut_right", (0.0, 0.0, 1.0 - PROBE_CUT, 1.0)),
)
PROBE_NAMES: tuple[str, ...] = tuple(name for name, _ in PROBES)
_PROBE_RECTS = np.array([rect for _, rect in PROBES], np.float64)
_PROBE_OUTS = np.full(len(PROBES), kernels.MAX_OUT, np.int64)
# Orientation that undoes an EXIF orientation (5 and 7 transpose across a diagonal: their own).
_INVERSE_ORIENTATION = {1: 1, 2: 2, 3: 3, 4: 4, 5: 5, 6: 8, 7: 7, 8: 6}

# content_box's tuning arguments, passed explicitly on every call: numba's dispatcher takes its C
# fast path only when no argument is left to its default; an omitted one sends every call through
# its Python compile-lookup path, about half a millisecond per image with the GIL held (a tenth of
# a web-size image's hashing, which then does not scale across worker threads).
_CONTENT_BOX_TUNING = kernels.content_box.py_func.__defaults__

# Consecutive images one worker task of ``hash_many`` hashes, at most (see there).
TASK_IMAGES = 8

# Images whose hashing axis would need more coefficients than this go through Pillow's own
# resize instead (only absurd shapes such as 1 x 1,000,000 get there).
MAX_PLAN_TAPS = 1 << 25

_T = TypeVar("_T")


class ExactModeUnavailableError(RuntimeError):
    """The installed Pillow is not the version whose resize the kernels replicate."""


def algorithm_version(mode: str, policy: DecodePolicy = DEFAULT_POLICY) -> str:
    """The version string recorded with a result produced by ``mode`` under ``policy``.

    Results computed without applying EXIF orientation differ for rotated photos, so that policy
    gets its own suffix.
    """
    base = HASH_ALGORITHM_VERSION if mode == "exact" else FAST_HASH_ALGORITHM_VERSION
    return base if policy.apply_exif_orientation else f"{base}-noexif"


def to_int64(word: int) -> int:
    """Reinterpret an unsigned 64-bit word as a signed (two's complement) 64-bit integer."""
    return word - (1 << 64) if word >= 1 << 63 else word


def from_int64(value: int) -> int:
    """Inverse of ``to_int64``: the unsigned 64-bit word of a signed 64-bit integer."""
    return value + (1 << 64) if value < 0 else value


def format_hex(row: int, col: int, size: int) -> str:
    """Same text as ``dhash.format_hex(row, col, size)``."""
    width = size * size // 4
    return f"{row:0{width}x}{col:0{width}x}"


@dataclass(frozen=True, slots=True)
class SizeHash:
    """The dHash of one size: ``row``/``col`` are the unsigned size*size-bit words."""

    size: int
    row: int
    col: int
    hex: str
    row_int64: int
    col_int64: int


@dataclass(frozen=True, slots=True)
class HashResult:
    """Hashes of one image for the requested sizes (ascending).

    ``mode`` is the path that produced the pixels ("exact", or "fast" for a JPEG draft decode);
    ``algorithm_version`` names that path and the Pillow version; ``backend`` is "kernel", or
    "pillow" when the resize fell back to Pillow itself; ``width`` x ``height`` is the greyscale
    image that was resized (after EXIF orientation and any draft scaling).
    """

    sizes: tuple[int, ...]
    rows: tuple[int, ...]
    cols: tuple[int, ...]
    mode: str
    algorithm_version: str
    backend: str
    width: int
    height: int
    content: str = CONTENT_NOT_MEASURED
    content_box: tuple[int, int, int, int] | None = None
    trim_row: int | None = None
    trim_col: int | None = None
    # Unsigned (row, col) words of each of PROBES, or None (a flat probe, or no probes).
    probes: tuple[tuple[int, int] | None, ...] = ()
    # The catalog's header facts from the decode's own open, when asked for (``hash_bytes``).
    facts: ImageProbe | None = field(default=None, compare=False, repr=False)

    def __getitem__(self, size: int) -> SizeHash:
        i = self._index(size)
        row, col = self.rows[i], self.cols[i]
        return SizeHash(size, row, col, format_hex(row, col, size), to_int64(row), to_int64(col))

    def words(self, size: int) -> tuple[int, int]:
        """The unsigned (row, col) words of one computed size."""
        i = self._index(size)
        return self.rows[i], self.cols[i]

    def hex(self, size: int) -> str:
        """``dhash.format_hex(row, col, size)`` for one computed size."""
        i = self._index(size)
        return format_hex(self.rows[i], self.cols[i], size)

    @property
    def hexes(self) -> dict[int, str]:
        return {
            s: format_hex(r, c, s) for s, r, c in zip(self.sizes, self.rows, self.cols, strict=True)
        }

    @property
    def dhash8_row(self) -> int:
        """Size-8 row hash as a signed 64-bit integer (two's complement of the unsigned word)."""
        return to_int64(self.rows[self._index(8)])

    @property
    def dhash8_col(self) -> int:
        """Size-8 column hash as a signed 64-bit integer (two's complement of the unsigned word)."""
        return to_int64(self.cols[self._index(8)])

    @property
    def linkable(self) -> bool:
        """Whether this image may take hash links at all (see ``LINKABLE_CONTENT``)."""
        return self.content in LINKABLE_CONTENT

    @property
    def trim_hex(self) -> str | None:
        """The trimmed size-8 hash in ``DHashHex8`` format, or None (no box to link from)."""
        if self.trim_row is None or self.trim_col is None:
            return None
        return format_hex(self.trim_row, self.trim_col, 8)

    @property
    def dhash8_trim_row(self) -> int | None:
        """Trimmed size-8 row hash as a signed 64-bit integer, or None."""
        return None if self.trim_row is None else to_int64(self.trim_row)

    @property
    def dhash8_trim_col(self) -> int | None:
        """Trimmed size-8 column hash as a signed 64-bit integer, or None."""
        return None if self.trim_col is None else to_int64(self.trim_col)

    def probe(self, name: str) -> tuple[int, int] | None:
        """A probe hash (see ``PROBES``) as signed 64-bit (row, col), or None."""
        if not self.probes:
            return None
        words = self.probes[PROBE_NAMES.index(name)]
        return None if words is None else (to_int64(words[0]), to_int64(words[1]))

    def _index(self, size: int) -> int:
        try:
            return self.sizes.index(size)
        except ValueError:
            raise KeyError(f"size {size} was not computed (sizes: {self.sizes})") from None


class EngineStats:
    """Thread-safe counters: how many images each backend resized, per process."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.kernel = 0
        self.pillow_fallback = 0

    def count(self, backend: str) -> None:
        with self._lock:
            if backend == "kernel":
                self.kernel += 1
            else:
                self.pillow_fallback += 1

    def snapshot(self) -> dict[str, int]:
        with self._lock:
            return {"kernel": self.kernel, "pillow_fallback": self.pillow_fallback}


STATS = EngineStats()
PLAN_CACHE = kernels.PlanCache()


def normalize_sizes(sizes: Iterable[int]) -> tuple[int, ...]:
    """Sorted, de-duplicated hash sizes, each within 1..8."""
    result = tuple(sorted({int(s) for s in sizes}))
    if not result:
        raise ValueError("at least one hash size is required")
    bad = [s for s in result if not 1 <= s <= kernels.MAX_HASH_SIZE]
    if bad:
        raise ValueError(f"hash sizes must be within 1..{kernels.MAX_HASH_SIZE}, got {bad}")
    return result


def _check_mode(mode: str) -> None:
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    if mode == "exact" and not EXACT_MODE_AVAILABLE:
        raise ExactModeUnavailableError(
            f"exact mode replicates Pillow {kernels.PILLOW_VERSION_REPLICATED}'s resize, but "
            f"Pillow {PILLOW_VERSION} is installed; install Pillow "
            f"{kernels.PILLOW_VERSION_REPLICATED} or update the kernels and their parity tests"
        )


def _pillow_words(
    pixels: np.ndarray,
    outs: tuple[int, ...],
    region: tuple[float, float, float, float] | None = None,
) -> tuple[list[int], list[int]]:
    """The dhash package's computation on Pillow's own resize (the fallback path)."""
    image = Image.fromarray(pixels)
    rows: list[int] = []
    cols: list[int] = []
    for n in outs:
        resized = image.resize((n, n), Image.Resampling.LANCZOS, box=region)
        g = np.asarray(resized, dtype=np.int16)
        row_bits = (g[:-1, :-1] < g[:-1, 1:]).ravel()
        col_bits = (g[:-1, :-1] < g[1:, :-1]).ravel()
        rows.append(int("".join("1" if b else "0" for b in row_bits), 2))
        cols.append(int("".join("1" if b else "0" for b in col_bits), 2))
    return rows, cols


def hash_gray(
    pixels: np.ndarray,
    sizes: tuple[int, ...],
    region: tuple[float, float, float, float] | None = None,
    bias: float = 0.0,
    orientation: int = 1,
) -> tuple[list[int], list[int], str]:
    """Row and column words for each size from a uint8 greyscale array; and the backend used.

    ``sizes`` must already be normalised (see ``normalize_sizes``). ``orientation`` (EXIF 1..8)
    is applied to ``pixels`` first, without copying them (the kernels read the stored array in
    the oriented order). ``region`` (x0, y0, x1, y1, in oriented coordinates) restricts the
    resize to part of the image, like Pillow's ``box``; None means all of it. ``bias`` (grey
    levels) is subtracted before the first rounding (fast mode only; the exact path passes 0,
    which is Pillow's arithmetic).
    """
    rows, cols, backend, _ = _hash_gray(pixels, sizes, region, bias, orientation)
    return rows, cols, backend


def _oriented_plans(pixels, outs, region, orientation):
    """Kernel plans (stored column axis, stored row axis) for an oriented ``region``, or None
    when the shape needs more coefficients than the kernels take (Pillow's resize then)."""
    transposed, flip_rows, flip_cols = kernels.ORIENTATION_STEPS[orientation]
    height, width = pixels.shape
    o_height, o_width = (width, height) if transposed else (height, width)
    x_region = y_region = None
    if region is not None and region != (0, 0, o_width, o_height):
        x_region, y_region = (region[0], region[2]), (region[1], region[3])
    if (
        kernels.estimated_taps(width, outs) > MAX_PLAN_TAPS
        or kernels.estimated_taps(height, outs) > MAX_PLAN_TAPS
    ):
        return None
    # Plans of the oriented axes, mirrored where the axis runs backwards in storage.
    x_plan = PLAN_CACHE.get(o_width, outs, x_region, flip_cols)
    y_plan = PLAN_CACHE.get(o_height, outs, y_region, flip_rows)
    col_plan, row_plan = (y_plan, x_plan) if transposed else (x_plan, y_plan)
    if not (col_plan.int32_safe and row_plan.int32_safe):
        return None
    return col_plan, row_plan


def _grays(pixels, outs, plans, bias, orientation):
    transposed, flip_rows, flip_cols = kernels.ORIENTATION_STEPS[orientation]
    col_plan, row_plan = plans
    # The reversal of each stored axis: a transposing orientation swaps which flip lands where.
    if transposed:
        stored_flip_cols, stored_flip_rows = flip_rows, flip_cols
    else:
        stored_flip_cols, stored_flip_rows = flip_cols, flip_rows
    first_half = kernels.ROUNDING_HALF - round(bias * (1 << kernels.PRECISION_BITS))
    return kernels.lanczos_grays(
        pixels,
        np.asarray(outs, np.int64),
        col_plan.arrays,
        row_plan.arrays,
        col_plan.whole,
        row_plan.whole,
        first_half,
        transposed,
        stored_flip_cols,
        stored_flip_rows,
    )


def _hash_gray(
    pixels: np.ndarray,
    sizes: tuple[int, ...],
    region: tuple[float, float, float, float] | None,
    bias: float,
    orientation: int,
) -> tuple[list[int], list[int], str, np.ndarray | None]:
    """``hash_gray`` plus the 9 x 9 grey of size 8 (None when not computed by the kernels)."""
    pixels = np.ascontiguousarray(pixels, dtype=np.uint8)
    outs = tuple(s + 1 for s in sizes)
    plans = _oriented_plans(pixels, outs, region, orientation)
    if plans is None:
        # Only for absurd shapes; a fast-mode bias is not applied on this path.
        oriented = pixels
        if orientation != 1:
            oriented = np.asarray(orient(Image.fromarray(pixels), orientation))
        rows, cols = _pillow_words(oriented, outs, region)
        STATS.count("pillow")
        return rows, cols, "pillow", None
    outs_a = np.asarray(outs, np.int64)
    grays = _grays(pixels, outs, plans, bias, orientation)
    rows_a, cols_a = kernels.difference_bits(grays, outs_a)
    STATS.count("kernel")
    gray8 = grays[-1] if sizes[-1] == 8 else None
    return rows_a.tolist(), cols_a.tolist(), "kernel", gray8


def _informative(gray: np.ndarray) -> bool:
    n = kernels.MAX_OUT
    return kernels.decisive_comparisons(gray, n, DECISIVE_MARGIN) >= MIN_DECISIVE


def content_of(
    pixels: np.ndarray,
    region: tuple[float, float, float, float],
    bias: float,
    orientation: int,
    row8: int,
    col8: int,
    gray8: np.ndarray,
) -> tuple[str, tuple[int, int, int, int] | None, int | None, int | None]:
    """The content box of a decoded image and its size-8 dHash: ``(content, box, row, col)``.

    ``region`` is the oriented part of ``pixels`` that covers the picture, ``row8``/``col8``/
    ``gray8`` the size-8 words and grey of that region (already computed: an image without
    borders costs only the scan of its edge lines). ``box`` is (x0, y0, x1, y1) in oriented
    pixels; ``row``/``col`` are None when the box may not link (see the CONTENT_* codes).
    """
    height, width = pixels.shape
    transposed = kernels.ORIENTATION_STEPS[orientation][0]
    o_height, o_width = (width, height) if transposed else (height, width)
    rx0, ry0, rx1, ry1 = region
    if min(rx1 - rx0, ry1 - ry0) < MIN_CONTENT_SIDE:
        return CONTENT_TOO_SMALL, None, None, None
    y0, y1, x0, x1 = kernels.content_box(pixels, CONTENT_TOLERANCE, *_CONTENT_BOX_TUNING)
    if y1 <= y0 or x1 <= x0:
        return CONTENT_BLANK, None, None, None
    stored = (x0, y0, x1, y1)
    bx0, by0, bx1, by1 = (
        stored if orientation == 1 else transpose_region(stored, width, height, orientation)
    )
    # Only the part of the box inside the picture's region counts (fast mode's draft decode
    # covers a little more than the picture).
    box = (max(bx0, rx0), max(by0, ry0), min(bx1, rx1), min(by1, ry1))
    int_box = (int(box[0]), int(box[1]), int(np.ceil(box[2])), int(np.ceil(box[3])))
    if not _informative(gray8):
        return CONTENT_FLAT, int_box, None, None
    if box == (rx0, ry0, rx1, ry1) or ((bx0, by0, bx1, by1) == (0, 0, o_width, o_height)):
        return CONTENT_WHOLE, int_box, row8, col8
    box_w, box_h = box[2] - box[0], box[3] - box[1]
    if min(box_w, box_h) < MIN_CONTENT_SIDE or (
        box_w < MIN_CONTENT_SHARE * (rx1 - rx0) or box_h < MIN_CONTENT_SHARE * (ry1 - ry0)
    ):
        return CONTENT_SMALL_BOX, int_box, None, None
    # The box is resized as an image of its own: Pillow's ``box`` would let the filter reach
    # into the border around it (its support spans a sixth of the side), the very pixels the
    # trimmed hash must not see.
    crop = np.ascontiguousarray(pixels[y0:y1, x0:x1])
    crop_region = (box[0] - bx0, box[1] - by0, box[2] - bx0, box[3] - by0)
    outs = (kernels.MAX_OUT,)
    plans = _oriented_plans(crop, outs, crop_region, orientation)
    if plans is None:
        return CONTENT_NOT_MEASURED, int_box, None, None
    grays = _grays(crop, outs, plans, bias, orientation)
    if not _informative(grays[0]):
        return CONTENT_FLAT_BOX, int_box, None, None
    rows_a, cols_a = kernels.difference_bits(grays, np.asarray(outs, np.int64))
    return CONTENT_TRIMMED, int_box, int(rows_a[0]), int(cols_a[0])


def probes_of(
    pixels: np.ndarray, box: tuple[float, float, float, float], orientation: int
) -> tuple[tuple[int, int] | None, ...]:
    """The unsigned (row, col) words of every probe of ``PROBES`` over ``box`` (oriented pixels);
    None for a probe too flat to hash (as for the trimmed hash: its bits would be noise)."""
    height, width = pixels.shape
    transposed, flip_rows, flip_cols = kernels.ORIENTATION_STEPS[orientation]
    o_width, o_height = (height, width) if transposed else (width, height)
    stored = box
    if orientation != 1:
        stored = transpose_region(box, o_width, o_height, _INVERSE_ORIENTATION[orientation])
    x0, y0 = max(0, int(stored[0])), max(0, int(stored[1]))
    x1, y1 = min(width, int(np.ceil(stored[2]))), min(height, int(np.ceil(stored[3])))
    grays = kernels.probe_grays(
        pixels, x0, y0, x1, y1, transposed, flip_rows, flip_cols, _PROBE_RECTS
    )
    rows_a, cols_a = kernels.difference_bits(grays, _PROBE_OUTS)
    return tuple(
        (int(rows_a[i]), int(cols_a[i])) if _informative(grays[i]) else None
        for i in range(len(PROBES))
    )


def _decode(data: bytes, mode: str, policy: DecodePolicy, facts: bool = False) -> GrayImage:
    draft = (FAST_DRAFT_TARGET, FAST_DRAFT_TARGET) if mode == "fast" else None
    try:
        return decode_gray_stored(data, policy, draft, facts)
    except UndecodableImageError:
        raise
    except MemoryError as exc:
        raise UndecodableImageError("out_of_memory", "not enough memory to decode") from exc
    except Exception as exc:  # a decoder bug on hostile bytes must not stop a batch
        raise UndecodableImageError("decoder_error", f"{type(exc).__name__}: {exc}") from exc


def hash_bytes(
    data: bytes,
    sizes: Iterable[int] = DEFAULT_SIZES,
    mode: Mode = "exact",
    policy: DecodePolicy = DEFAULT_POLICY,
    content: bool = True,
    probes: bool = True,
    facts: bool = False,
) -> HashResult:
    """Hash one encoded image for every size in ``sizes`` (1..8).

    ``content``: also find the content box and its trimmed size-8 hash (when size 8 is asked
    for); False leaves ``HashResult.content`` "not_measured" (the benchmarks' before/after).
    ``probes``: with the content box, also the probe hashes (``PROBES``); False leaves them
    empty (the benchmarks' before/after). ``facts``: also hand over the catalog's header facts
    from the decode's own open of the bytes (``HashResult.facts``; None where Pillow did not
    open them). Raises ``UndecodableImageError`` for bytes the decode policy rejects.
    """
    norm = normalize_sizes(sizes)
    _check_mode(mode)
    return _hash_checked(data, norm, mode, policy, content, probes, facts)


def _hash_checked(
    data: bytes,
    sizes: tuple[int, ...],
    mode: str,
    policy: DecodePolicy,
    content: bool = True,
    probes: bool = True,
    facts: bool = False,
) -> HashResult:
    gray = _decode(data, mode, policy, facts)
    height, width = gray.pixels.shape
    region = gray.region
    if gray.orientation != 1:
        region = transpose_region(region, width, height, gray.orientation)
        if kernels.ORIENTATION_STEPS[gray.orientation][0]:
            height, width = width, height
    rows, cols, backend, gray8 = _hash_gray(gray.pixels, sizes, region, gray.bias, gray.orientation)
    found, box, trim_row, trim_col = CONTENT_NOT_MEASURED, None, None, None
    probe_words: tuple[tuple[int, int] | None, ...] = ()
    if content and gray8 is not None:
        found, box, trim_row, trim_col = content_of(
            gray.pixels, region, gray.bias, gray.orientation, rows[-1], cols[-1], gray8
        )
        if probes and found in LINKABLE_CONTENT:
            # Over the content box when borders were trimmed, else over the whole picture (a
            # box too small or flat to hash links by the whole picture's hashes too).
            probe_box = box if found == CONTENT_TRIMMED and box is not None else region
            probe_words = probes_of(gray.pixels, probe_box, gray.orientation)
    # Without the replicated Pillow, nothing fast mode produces may claim exact parity.
    effective = "fast" if gray.drafted or not EXACT_MODE_AVAILABLE else "exact"
    return HashResult(
        sizes=sizes,
        rows=tuple(rows),
        cols=tuple(cols),
        mode=effective,
        algorithm_version=algorithm_version(effective, policy),
        backend=backend,
        width=width,
        height=height,
        content=found,
        content_box=box,
        trim_row=trim_row,
        trim_col=trim_col,
        probes=probe_words,
        facts=gray.facts,
    )


def default_workers() -> int:
    """One worker per available core (decoding and the kernels both run without the GIL)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


Source = bytes | bytearray | memoryview | Callable[[], bytes]


def _hash_source(
    source: Source,
    sizes: tuple[int, ...],
    mode: str,
    policy: DecodePolicy,
    content: bool,
    probes: bool = True,
) -> HashResult | UndecodableImageError:
    try:
        data = source() if callable(source) else source
    except OSError as exc:
        return UndecodableImageError("unreadable", f"{type(exc).__name__}: {exc}")
    try:
        return _hash_checked(
            bytes(data) if not isinstance(data, bytes) else data,
            sizes,
            mode,
            policy,
            content,
            probes,
        )
    except UndecodableImageError as exc:
        return exc


def hash_many(
    items: Iterable[tuple[_T, Source]],
    sizes: Iterable[int] = DEFAULT_SIZES,
    mode: Mode = "exact",
    policy: DecodePolicy = DEFAULT_POLICY,
    workers: int | None = None,
    max_in_flight: int | None = None,
    content: bool = True,
    probes: bool = True,
) -> Iterator[tuple[_T, HashResult | UndecodableImageError]]:
    """Hash ``(key, bytes or zero-argument callable returning bytes)`` pairs, in input order.

    Yields ``(key, HashResult)`` or ``(key, UndecodableImageError)``; a callable that raises
    ``OSError`` yields an error with reason ``unreadable``. Callables run on the worker threads,
    so reading files overlaps with hashing. At most ``max_in_flight`` items (default: 24 per
    worker) are pulled from ``items`` ahead of the consumer, which bounds memory. ``content``
    and ``probes`` as for ``hash_bytes``.

    Each worker task hashes a run of up to ``TASK_IMAGES`` consecutive items (fewer as the input
    runs out, so the workers finish together): a round trip through the pool costs tens of
    microseconds of Python with the GIL held, which per image would be lost from both workers.
    An exception other than the per-image errors above is raised at its item's turn.
    """
    norm = normalize_sizes(sizes)
    _check_mode(mode)
    n_workers = default_workers() if workers is None else max(1, int(workers))
    if n_workers == 1:
        for key, source in items:
            yield key, _hash_source(source, norm, mode, policy, content, probes)
        return
    window = max(n_workers, max_in_flight if max_in_flight is not None else 24 * n_workers)
    run = max(1, min(TASK_IMAGES, window // (3 * n_workers)))
    tasks = max(n_workers, (2 * window) // (3 * run))
    lookahead = max(0, window - (tasks + 1) * run)

    def hash_run(
        chunk: list[tuple[_T, Source]],
    ) -> list[tuple[_T, HashResult | UndecodableImageError | None, BaseException | None]]:
        done: list[tuple[_T, HashResult | UndecodableImageError | None, BaseException | None]]
        done = []
        for key, source in chunk:
            try:
                done.append((key, _hash_source(source, norm, mode, policy, content, probes), None))
            except BaseException as exc:  # raised to the consumer at this item's turn
                done.append((key, None, exc))
                break
        return done

    with OrderedExecutor(n_workers, tasks, thread_name_prefix="dhash") as pool:
        for done in pool.map(hash_run, runs(items, run, lookahead, n_workers)):
            for key, result, exc in done:
                if exc is not None:
                    raise exc
                assert result is not None
                yield key, result


def enable_pillow_block_cache(max_blocks: int = 16) -> None:
    """Let Pillow keep up to ``max_blocks`` freed image-memory blocks for reuse.

    By default Pillow returns every block to the operating system when an image is freed, so
    each multi-megapixel decode page-faults a fresh buffer; on the reference machine that is a
    third of a 12-megapixel JPEG's decode time. This is Pillow's own, process-wide setting
    (``PILLOW_BLOCKS_MAX``); a larger value already in effect is kept. Memory stays bounded by
    ``max_blocks`` x 16 MB.
    """
    if Image.core.get_blocks_max() < max_blocks:
        Image.core.set_blocks_max(max_blocks)


def warm_up() -> None:
    """Compile (or load from the on-disk cache) the kernels, so timing excludes compilation."""
    jpeg.scan_header(np.frombuffer(b"\xff\xd8\xff\xd9", np.uint8), jpeg.TIFF_UNIT_SIZES)
    pixels = (np.arange(36 * 41, dtype=np.uint32) * 37 % 256).astype(np.uint8).reshape(36, 41)
    for stored in (pixels, pixels.T.copy()):
        rows, cols, _, gray8 = _hash_gray(stored, DEFAULT_SIZES, None, 0.0, 1)
        assert gray8 is not None  # size 8 is among the defaults, computed by the kernels
        height, width = stored.shape
        content_of(stored, (0, 0, width, height), 0.0, 1, rows[-1], cols[-1], gray8)
    # A bordered image: the trimmed hash's own plans, kernels and flatness test.
    bordered = np.pad(pixels, 9)
    height, width = bordered.shape
    rows, cols, _, gray8 = _hash_gray(bordered, DEFAULT_SIZES, None, 0.0, 1)
    assert gray8 is not None
    content_of(bordered, (0, 0, width, height), 0.0, 1, rows[-1], cols[-1], gray8)
    for orientation in (1, 6):
        probes_of(bordered, (9, 9, width - 9, height - 9), orientation)

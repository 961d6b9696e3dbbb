"""Numba kernels that compute dHash bits for several hash sizes from one greyscale image.

The ``dhash`` package resizes an 8-bit greyscale ('L') image to (s+1)x(s+1) pixels with Pillow's
LANCZOS filter and compares neighbouring pixels. These kernels replicate that resize bit for bit
(Pillow 13.0.0, ``src/libImaging/Resample.c``) for every requested size at once:

* Coefficients are computed in double precision exactly as ``precompute_coeffs`` does (same
  support, filter scale, window rounding and summation order, same libm ``sin``), then
  normalised to fixed point with ``PRECISION_BITS`` = 22 fractional bits, rounding half away
  from zero as ``normalize_coeffs_8bpc`` does.
* Each pass accumulates ``pixel * coefficient`` in 32-bit integers starting from
  ``1 << (PRECISION_BITS - 1)``, shifts right by ``PRECISION_BITS`` and clips to 0..255, so the
  intermediate image is 8-bit exactly like Pillow's.
* A pass is skipped when its dimension does not change. When both passes run, Pillow 13 runs the
  vertical pass first when the input is taller than the output and
  ``(in_height - n) > 2 * (in_width - n)``, the horizontal pass first otherwise; the order
  changes the result because the intermediate image is rounded to 8 bits.

The first pass touches every input pixel and dominates the cost; all sizes share it (one read of
each input row serves every output column of every size). The second pass runs on a small
intermediate image.

EXIF orientations cost no pixel copy: the kernels take the stored array plus the oriented
axes' plans (mirrored for an axis that runs backwards) and, for a transposing orientation, run
the oriented horizontal pass as the stored vertical pass; both passes have the same cost.

Two extensions serve fast mode only and are off on the exact path: a source region per axis
(Pillow's ``box``: a reduced-scale JPEG decode covers slightly more than the picture) and the
first pass's rounding constant (to subtract a known bias of the decoded pixels).

Integer safety: every partial sum is bounded by ``255 * sum(|k|) + 2**21``; plans whose bound
would not fit in a signed 32-bit integer are flagged (``AxisPlan.int32_safe``) so the caller can
fall back to Pillow instead of silently wrapping. For Lanczos the bound is about 1.4e9 < 2**31.
"""

import math
import threading
from collections import OrderedDict
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from numba import njit

# The Pillow release whose Resample.c these kernels replicate.
PILLOW_VERSION_REPLICATED = "13.0.0"

PRECISION_BITS = 22
ROUNDING_HALF = 1 << (PRECISION_BITS - 1)
LANCZOS_SUPPORT = 3.0
INT32_MAX = 2**31 - 1

MAX_HASH_SIZE = 8  # 8 * 8 = 64 bits: each row/column hash fits one unsigned 64-bit word
MAX_OUT = MAX_HASH_SIZE + 1

# The arrays the kernels take and return. numba reads none of these annotations: it compiles
# each kernel for the types of the arguments it is called with.
Gray = npt.NDArray[np.uint8]  # greyscale pixels (H x W), or a stack of them
Int64s = npt.NDArray[np.int64]
Coeffs = npt.NDArray[np.int32]  # fixed-point coefficients
Flags = npt.NDArray[np.bool_]
Words = npt.NDArray[np.uint64]  # hash words, one per size
# An axis plan as the kernels take it: (starts, lens, offsets, coeffs); see ``_axis_plan``.
PlanArrays = tuple[Int64s, Int64s, Int64s, Coeffs]


@njit(cache=True, nogil=True)
def _lanczos(x: float) -> float:
    # Resample.c: lanczos_filter / sinc_filter, operation for operation.
    if -3.0 <= x < 3.0:
        if x == 0.0:
            a = 1.0
        else:
            t = x * math.pi
            a = math.sin(t) / t
        x3 = x / 3
        if x3 == 0.0:
            b = 1.0
        else:
            t = x3 * math.pi
            b = math.sin(t) / t
        return a * b
    return 0.0


@njit(cache=True, nogil=True)
def _axis_plan(
    in_size: int, outs: Int64s, in0: float, in1: float
) -> tuple[Int64s, Int64s, Int64s, Coeffs, int]:
    """Coefficients for resizing one axis of length ``in_size`` to each length in ``outs``.

    ``in0``/``in1`` are the source region along the axis (Pillow's ``box``; 0 and ``in_size``
    for a plain resize), given as float32 values as Pillow's C code receives them.

    Returns ``(starts, lens, offsets, coeffs, max_abs_sum)``: output ``t`` (outputs of all sizes
    concatenated) reads input ``starts[t] .. starts[t] + lens[t] - 1`` with fixed-point
    coefficients ``coeffs[offsets[t] : offsets[t] + lens[t]]``; ``max_abs_sum`` is the largest
    ``sum(|k|)`` of any output, for the overflow check.
    """
    n_total = 0
    for n in outs:
        n_total += n
    starts = np.empty(n_total, np.int64)
    lens = np.empty(n_total, np.int64)
    offsets = np.empty(n_total + 1, np.int64)
    # The box reaches Resample.c as C floats: in1 - in0 is a float32 subtraction.
    extent = np.float64(np.float32(np.float32(in1) - np.float32(in0)))
    origin = np.float64(np.float32(in0))
    total = 0
    t = 0
    for n in outs:
        scale = extent / n
        filterscale = scale if scale > 1.0 else 1.0
        support = LANCZOS_SUPPORT * filterscale
        for xx in range(n):
            center = origin + (xx + 0.5) * scale
            xmin = int(center - support + 0.5)
            if xmin < 0:
                xmin = 0
            xmax = int(center + support + 0.5)
            if xmax > in_size:
                xmax = in_size
            starts[t] = xmin
            lens[t] = xmax - xmin
            offsets[t] = total
            total += xmax - xmin
            t += 1
    offsets[n_total] = total
    coeffs = np.empty(total, np.int32)
    weights = np.empty(max(1, in_size), np.float64)
    max_abs_sum = 0
    t = 0
    for n in outs:
        scale = extent / n
        filterscale = scale if scale > 1.0 else 1.0
        inv_filterscale = 1.0 / filterscale
        for xx in range(n):
            center = origin + (xx + 0.5) * scale
            xmin = starts[t]
            length = lens[t]
            ww = 0.0
            for x in range(length):
                w = _lanczos((x + xmin - center + 0.5) * inv_filterscale)
                weights[x] = w
                ww += w
            abs_sum = 0
            o = offsets[t]
            for x in range(length):
                w = weights[x]
                if ww != 0.0:
                    w = w / ww
                if w < 0:
                    k = int(-0.5 + w * (1 << PRECISION_BITS))
                else:
                    k = int(0.5 + w * (1 << PRECISION_BITS))
                coeffs[o + x] = k
                abs_sum += abs(k)
            if abs_sum > max_abs_sum:
                max_abs_sum = abs_sum
            t += 1
    return starts, lens, offsets, coeffs, max_abs_sum


@njit(cache=True, nogil=True, inline="always")
def _pass_needed(length: int, n: int, whole: bool) -> bool:
    # Resample.c skips a pass whose output length and source region equal the input's.
    return length != n or not whole


@njit(cache=True, nogil=True)
def vertical_first(in_height: int, in_width: int, n: int) -> bool:
    """Pillow 13's pass order for a resize to n x n that needs both passes."""
    return in_height > n and (in_height - n) > 2 * (in_width - n)


@njit(cache=True, nogil=True, inline="always")
def _clip8(acc: int, half: int = ROUNDING_HALF) -> int:
    v = (acc + half) >> PRECISION_BITS
    if v < 0:
        return 0
    if v > 255:
        return 255
    return v


@njit(cache=True, nogil=True)
def _horizontal_first_pass(
    img: Gray,
    active: Flags,
    starts: Int64s,
    lens: Int64s,
    offsets: Int64s,
    coeffs: Coeffs,
    half: int,
    out: Gray,
) -> None:
    """out[y, t] = clip8(sum_i img[y, starts[t] + i] * k_t[i]) for every row y and active t.

    Four rows share each coefficient load; the int32 casts keep the arithmetic in 32 bits, which
    is what lets the compiler vectorise the dot products (Pillow's own accumulator is an int).
    """
    height = img.shape[0]
    n_total = starts.size
    y = 0
    while y < height:
        y1 = min(y + 1, height - 1)
        y2 = min(y + 2, height - 1)
        y3 = min(y + 3, height - 1)
        for t in range(n_total):
            if not active[t]:
                continue
            s = starts[t]
            length = lens[t]
            k = coeffs[offsets[t] : offsets[t] + length]
            r0 = img[y, s : s + length]
            r1 = img[y1, s : s + length]
            r2 = img[y2, s : s + length]
            r3 = img[y3, s : s + length]
            a0 = np.int32(0)
            a1 = np.int32(0)
            a2 = np.int32(0)
            a3 = np.int32(0)
            for i in range(length):
                c = k[i]
                a0 = np.int32(a0 + np.int32(r0[i]) * c)
                a1 = np.int32(a1 + np.int32(r1[i]) * c)
                a2 = np.int32(a2 + np.int32(r2[i]) * c)
                a3 = np.int32(a3 + np.int32(r3[i]) * c)
            out[y, t] = _clip8(a0, half)
            out[y1, t] = _clip8(a1, half)
            out[y2, t] = _clip8(a2, half)
            out[y3, t] = _clip8(a3, half)
        y += 4


_STRIP = 512  # columns per strip of the vertical pass: 44 int32 accumulator rows fit in L2


@njit(cache=True, nogil=True)
def _vertical_first_pass(
    img: Gray,
    active: Flags,
    starts: Int64s,
    lens: Int64s,
    offsets: Int64s,
    coeffs: Coeffs,
    half: int,
    out: Gray,
) -> None:
    """out[t, x] = clip8(sum_i img[starts[t] + i, x] * k_t[i]) for every column x and active t.

    Streams the image once per column strip, four rows at a time: each group of rows is added
    into the accumulator row of every output whose window contains it, so the accumulators are
    read and written once per four multiply-adds.
    """
    height, width = img.shape
    n_total = starts.size
    acc = np.empty((n_total, _STRIP), np.int32)
    zero = np.int32(0)
    for x0 in range(0, width, _STRIP):
        x1 = min(width, x0 + _STRIP)
        m = x1 - x0
        acc[:, :m] = 0
        y = 0
        while y < height:
            r0 = img[y, x0:x1]
            r1 = img[min(y + 1, height - 1), x0:x1]
            r2 = img[min(y + 2, height - 1), x0:x1]
            r3 = img[min(y + 3, height - 1), x0:x1]
            for t in range(n_total):
                s = starts[t]
                e = s + lens[t]
                if not active[t] or y + 3 < s or y >= e:
                    continue
                o = offsets[t] - s
                # Rows outside the window (or past the image) contribute nothing.
                c0 = coeffs[o + y] if s <= y < e else zero
                c1 = coeffs[o + y + 1] if s <= y + 1 < e else zero
                c2 = coeffs[o + y + 2] if s <= y + 2 < e else zero
                c3 = coeffs[o + y + 3] if s <= y + 3 < e else zero
                a = acc[t, :m]
                for x in range(m):
                    a[x] = np.int32(
                        a[x]
                        + np.int32(r0[x]) * c0
                        + np.int32(r1[x]) * c1
                        + np.int32(r2[x]) * c2
                        + np.int32(r3[x]) * c3
                    )
            y += 4
        for t in range(n_total):
            if active[t]:
                dst = out[t, x0:x1]
                a = acc[t, :m]
                for x in range(m):
                    dst[x] = _clip8(a[x], half)


@njit(cache=True, nogil=True)
def _resize_columns(
    src: Gray,
    col0: int,
    n: int,
    starts: Int64s,
    lens: Int64s,
    offsets: Int64s,
    coeffs: Coeffs,
    t0: int,
    dst: Gray,
) -> None:
    """Vertical pass on the n columns src[:, col0:col0+n] into dst[:n, :n] (output rows t0..)."""
    for j in range(n):
        s = starts[t0 + j]
        o = offsets[t0 + j]
        for c in range(n):
            acc = np.int32(0)
            for i in range(lens[t0 + j]):
                acc = np.int32(acc + np.int32(src[s + i, col0 + c]) * coeffs[o + i])
            dst[j, c] = _clip8(acc)


@njit(cache=True, nogil=True)
def _resize_rows(
    src: Gray,
    row0: int,
    n: int,
    starts: Int64s,
    lens: Int64s,
    offsets: Int64s,
    coeffs: Coeffs,
    t0: int,
    dst: Gray,
) -> None:
    """Horizontal pass on the n rows src[row0:row0+n, :] into dst[:n, :n] (output cols t0..)."""
    for r in range(n):
        line = src[row0 + r]
        for j in range(n):
            s = starts[t0 + j]
            o = offsets[t0 + j]
            acc = np.int32(0)
            for i in range(lens[t0 + j]):
                acc = np.int32(acc + np.int32(line[s + i]) * coeffs[o + i])
            dst[r, j] = _clip8(acc)


@njit(cache=True, nogil=True)
def lanczos_grays(
    img: Gray,
    outs: Int64s,
    col_plan: PlanArrays,
    row_plan: PlanArrays,
    col_whole: bool,
    row_whole: bool,
    first_half: int = ROUNDING_HALF,
    transposed: bool = False,
    flip_cols: bool = False,
    flip_rows: bool = False,
) -> Gray:
    """Pillow-exact LANCZOS resizes to n x n, for each n in ``outs``, of the *oriented* image.

    ``img`` (uint8, H x W) is the image as stored; the oriented image is ``img``, or its
    transpose when ``transposed``. ``col_plan`` / ``row_plan`` (``AxisPlan.arrays``) resize the
    stored columns axis (length W) / rows axis (length H); each is the plan of the oriented axis
    it carries, mirrored (``AxisPlan.mirrored``) when that axis is reversed, which
    ``flip_cols`` / ``flip_rows`` say in stored terms. ``col_whole`` / ``row_whole``: the plan's
    source region is the whole axis. So an EXIF orientation costs no pixel copy: the oriented
    horizontal pass is the stored vertical pass when transposed, with the same coefficients
    and the same rounding, hence the same result.

    ``first_half`` is the first pass's rounding constant (Pillow: ``1 << 21``, half a unit);
    fast mode lowers it to subtract a known bias of the decoded pixels.

    Returns uint8 ``grays[k, :n, :n]`` in oriented order for the k-th size (padded to 9x9).
    """
    height, width = img.shape
    o_height, o_width = (width, height) if transposed else (height, width)
    ox_whole, oy_whole = (row_whole, col_whole) if transposed else (col_whole, row_whole)
    hs, hl, ho, hk = col_plan
    vs, vl, vo, vk = row_plan
    k_sizes = outs.size
    n_total = hs.size
    grays = np.zeros((k_sizes, MAX_OUT, MAX_OUT), np.uint8)
    # Per size: 0 = no pass (already n x n), 1 = stored-horizontal pass first (or only),
    # 2 = stored-vertical pass first (or only).
    route = np.zeros(k_sizes, np.int64)
    first = np.zeros(k_sizes, np.int64)  # index of the size's first output in the plans
    active_h = np.zeros(n_total, np.bool_)
    active_v = np.zeros(n_total, np.bool_)
    t = 0
    any_h = False
    any_v = False
    for i in range(k_sizes):
        n = outs[i]
        first[i] = t
        need_ox = _pass_needed(o_width, n, ox_whole)
        need_oy = _pass_needed(o_height, n, oy_whole)
        if not need_ox and not need_oy:
            route[i] = 0
        else:
            # Pillow's order on the oriented image, then which stored axis that is.
            oriented_x_first = need_ox and (not need_oy or not vertical_first(o_height, o_width, n))
            stored_h_first = oriented_x_first != transposed
            if stored_h_first:
                route[i] = 1
                active_h[t : t + n] = True
                any_h = True
            else:
                route[i] = 2
                active_v[t : t + n] = True
                any_v = True
        t += n
    tmp_h = np.empty((height if any_h else 0, n_total), np.uint8)
    if any_h:
        _horizontal_first_pass(img, active_h, hs, hl, ho, hk, first_half, tmp_h)
    tmp_v = np.empty((n_total if any_v else 0, width), np.uint8)
    if any_v:
        _vertical_first_pass(img, active_v, vs, vl, vo, vk, first_half, tmp_v)
    stored = np.empty((MAX_OUT, MAX_OUT), np.uint8)
    for i in range(k_sizes):
        n = outs[i]
        t0 = first[i]
        g = stored[:n, :n]
        if route[i] == 0:
            for y in range(n):
                for x in range(n):
                    g[y, x] = img[n - 1 - y if flip_rows else y, n - 1 - x if flip_cols else x]
        elif route[i] == 1:
            if _pass_needed(height, n, row_whole):
                _resize_columns(tmp_h, t0, n, vs, vl, vo, vk, t0, g)
            else:  # rows unchanged: only their order may need reversing
                for y in range(n):
                    g[y, :] = tmp_h[n - 1 - y if flip_rows else y, t0 : t0 + n]
        else:
            if _pass_needed(width, n, col_whole):
                _resize_rows(tmp_v, t0, n, hs, hl, ho, hk, t0, g)
            else:  # columns unchanged: only their order may need reversing
                for y in range(n):
                    for x in range(n):
                        g[y, x] = tmp_v[t0 + y, n - 1 - x if flip_cols else x]
        if transposed:
            grays[i, :n, :n] = g.T
        else:
            grays[i, :n, :n] = g
    return grays


@njit(cache=True, nogil=True)
def difference_bits(grays: Gray, outs: Int64s) -> tuple[Words, Words]:
    """Row and column dHash words per size, bit order as the dhash package (row-major, MSB first).

    row bit (y, x) = g[y, x] < g[y, x + 1]; column bit (y, x) = g[y, x] < g[y + 1, x].
    """
    k_sizes = outs.size
    rows = np.zeros(k_sizes, np.uint64)
    cols = np.zeros(k_sizes, np.uint64)
    for i in range(k_sizes):
        size = outs[i] - 1
        g = grays[i]
        r = np.uint64(0)
        c = np.uint64(0)
        for y in range(size):
            for x in range(size):
                r = (r << np.uint64(1)) | np.uint64(g[y, x] < g[y, x + 1])
                c = (c << np.uint64(1)) | np.uint64(g[y, x] < g[y + 1, x])
        rows[i] = r
        cols[i] = c
    return rows, cols


# EXIF orientation -> (transpose, flip rows, flip columns), applied in that order; equal to
# Pillow's Image.transpose for ImageOps.exif_transpose's method of that orientation.
ORIENTATION_STEPS = {
    1: (False, False, False),
    2: (False, False, True),
    3: (False, True, True),
    4: (False, True, False),
    5: (True, False, False),
    6: (True, False, True),
    7: (True, True, True),
    8: (True, True, False),
}


@njit(cache=True, nogil=True)
def _mirror(
    starts: Int64s, lens: Int64s, offsets: Int64s, coeffs: Coeffs, in_size: int
) -> PlanArrays:
    """The same plan read from the other end of the axis: window reversed, coefficients too."""
    m_starts = in_size - starts - lens
    m_coeffs = np.empty_like(coeffs)
    for t in range(starts.size):
        o = offsets[t]
        length = lens[t]
        for i in range(length):
            m_coeffs[o + i] = coeffs[o + length - 1 - i]
    return m_starts, lens, offsets, m_coeffs


@dataclass(frozen=True)
class AxisPlan:
    """Fixed-point LANCZOS coefficients for one input axis and a tuple of output lengths.

    ``whole`` is true when the source region is the entire axis (a plain resize).
    """

    arrays: PlanArrays  # (starts, lens, offsets, coeffs) as the kernels take them
    taps: int
    int32_safe: bool
    whole: bool
    in_size: int

    def mirrored(self) -> "AxisPlan":
        """The plan for the same axis read backwards (pixel x of the plan is in_size - 1 - x)."""
        arrays = _mirror(*self.arrays, self.in_size)
        return AxisPlan(arrays, self.taps, self.int32_safe, self.whole, self.in_size)


def build_axis_plan(
    in_size: int, outs: tuple[int, ...], region: tuple[float, float] | None = None
) -> AxisPlan:
    """Plan for resizing an axis of ``in_size`` pixels (or its ``region`` [start, end))."""
    in0, in1 = (0.0, float(in_size)) if region is None else region
    starts, lens, offsets, coeffs, max_abs_sum = _axis_plan(
        in_size, np.asarray(outs, np.int64), float(in0), float(in1)
    )
    safe = 255 * int(max_abs_sum) + ROUNDING_HALF <= INT32_MAX
    whole = np.float32(in0) == 0 and np.float32(in1) == in_size
    arrays = (starts, lens, offsets, coeffs)
    return AxisPlan(arrays, int(coeffs.size), safe, bool(whole), in_size)


class PlanCache:
    """Thread-safe LRU cache of axis plans, capped by the total number of coefficients.

    Photographs of a collection share a few dimensions, and computing coefficients costs two
    ``sin`` calls per tap (about 30 taps per input pixel of a row for sizes 1..8).
    """

    def __init__(self, max_taps: int = 8_000_000, max_plan_taps: int = 2_000_000):
        self._lock = threading.Lock()
        self._plans: OrderedDict[tuple, AxisPlan] = OrderedDict()
        self._taps = 0
        self.max_taps = max_taps
        self.max_plan_taps = max_plan_taps
        self.hits = 0
        self.misses = 0

    def get(
        self,
        in_size: int,
        outs: tuple[int, ...],
        region: tuple[float, float] | None = None,
        mirrored: bool = False,
    ) -> AxisPlan:
        """The plan of ``build_axis_plan``, ``AxisPlan.mirrored()`` if asked, cached."""
        key = (in_size, outs, region, mirrored)
        with self._lock:
            plan = self._plans.get(key)
            if plan is not None:
                self._plans.move_to_end(key)
                self.hits += 1
                return plan
            self.misses += 1
        plan = self.get(in_size, outs, region) if mirrored else None
        plan = plan.mirrored() if plan is not None else build_axis_plan(in_size, outs, region)
        if plan.taps <= self.max_plan_taps:
            with self._lock:
                if key not in self._plans:
                    self._plans[key] = plan
                    self._taps += plan.taps
                    while self._taps > self.max_taps and self._plans:
                        _, old = self._plans.popitem(last=False)
                        self._taps -= old.taps
        return plan

    def clear(self) -> None:
        with self._lock:
            self._plans.clear()
            self._taps = 0


def estimated_taps(in_size: int, outs: tuple[int, ...]) -> int:
    """Upper bound of the coefficients a plan holds (to refuse absurd shapes before building)."""
    total = 0
    for n in outs:
        window = 2 * math.ceil(LANCZOS_SUPPORT * max(in_size / n, 1.0)) + 1
        total += n * min(in_size, window)
    return total


# --- Content box: the picture inside solid borders -------------------------------------------
#
# Padding and letterbox bars (a few pixels to a tenth of a side, on any sides, in any flat
# colour) move a whole-frame dHash far. The content box is what is left after repeatedly peeling
# off edge lines (rows or columns, over the box found so far) that are flat: their grey levels
# span at most ``tolerance`` levels. Peeling is repeated until no side changes, so the box does
# not depend on the colour or on the order of the bars: a photo whose top rows are a flat sky
# loses those rows whether or not a black bar sits above them, and its copies agree on the box.
# An image without flat edge lines is its own box (nothing trimmed); an image that is flat
# everywhere has no box at all.


@njit(cache=True, nogil=True, inline="always")
def _row_flat(img: Gray, y: int, x0: int, x1: int, tolerance: int) -> bool:
    lo = np.int32(img[y, x0])
    hi = lo
    for x in range(x0 + 1, x1):
        v = np.int32(img[y, x])
        if v < lo:
            lo = v
        elif v > hi:
            hi = v
        if hi - lo > tolerance:
            return False
    return True


@njit(cache=True, nogil=True, inline="always")
def _col_flat(img: Gray, x: int, y0: int, y1: int, tolerance: int) -> bool:
    lo = np.int32(img[y0, x])
    hi = lo
    for y in range(y0 + 1, y1):
        v = np.int32(img[y, x])
        if v < lo:
            lo = v
        elif v > hi:
            hi = v
        if hi - lo > tolerance:
            return False
    return True


@njit(cache=True, nogil=True)
def content_box(
    img: Gray, tolerance: int, match: int = 24, share: float = 0.9, settle: int = 8
) -> tuple[int, int, int, int]:
    """``(y0, y1, x0, x1)`` of ``img`` (uint8, H x W, as stored) inside its flat border lines.

    ``(0, 0, 0, 0)`` when every line is flat (a blank image). Costs one read of each edge line
    for an image without borders (the scan of a line stops at the first pixels that differ by
    more than ``tolerance``), one read of the border pixels otherwise.
    """
    height, width = img.shape
    y0, y1, x0, x1 = 0, height, 0, width
    changed = True
    while changed:
        changed = False
        while y0 < y1 and _row_flat(img, y0, x0, x1, tolerance):
            y0 += 1
            changed = True
        while y1 > y0 and _row_flat(img, y1 - 1, x0, x1, tolerance):
            y1 -= 1
            changed = True
        if y0 >= y1:
            return 0, 0, 0, 0
        while x0 < x1 and _col_flat(img, x0, y0, y1, tolerance):
            x0 += 1
            changed = True
        while x1 > x0 and _col_flat(img, x1 - 1, y0, y1, tolerance):
            x1 -= 1
            changed = True
        if x0 >= x1:
            return 0, 0, 0, 0
    # JPEG rings in the 8 x 8 block that straddles a bar's inner edge, so the last few lines
    # of a bar are not flat any more. On a side that had a bar, keep peeling (at most ``settle``
    # lines) while nearly every pixel of the line is within ``match`` of the bar's grey.
    if y0 > 0:
        ref = _line_mean(img, True, y0 - 1, x0, x1)
        k = 0
        while k < settle and y0 < y1 and _line_share(img, True, y0, x0, x1, ref, match) >= share:
            y0 += 1
            k += 1
    if y1 < height:
        ref = _line_mean(img, True, y1, x0, x1)
        k = 0
        while (
            k < settle and y1 > y0 and _line_share(img, True, y1 - 1, x0, x1, ref, match) >= share
        ):
            y1 -= 1
            k += 1
    if x0 > 0:
        ref = _line_mean(img, False, x0 - 1, y0, y1)
        k = 0
        while k < settle and x0 < x1 and _line_share(img, False, x0, y0, y1, ref, match) >= share:
            x0 += 1
            k += 1
    if x1 < width:
        ref = _line_mean(img, False, x1, y0, y1)
        k = 0
        while (
            k < settle and x1 > x0 and _line_share(img, False, x1 - 1, y0, y1, ref, match) >= share
        ):
            x1 -= 1
            k += 1
    if y0 >= y1 or x0 >= x1:
        return 0, 0, 0, 0
    return y0, y1, x0, x1


@njit(cache=True, nogil=True)
def _line_mean(img: Gray, is_row: bool, index: int, lo: int, hi: int) -> float:
    total = 0.0
    for i in range(lo, hi):
        total += img[index, i] if is_row else img[i, index]
    return total / max(1, hi - lo)


@njit(cache=True, nogil=True)
def _line_share(
    img: Gray, is_row: bool, index: int, lo: int, hi: int, ref: float, match: int
) -> float:
    """Share of the line's pixels within ``match`` grey levels of ``ref``."""
    near = 0
    for i in range(lo, hi):
        v = img[index, i] if is_row else img[i, index]
        if abs(v - ref) <= match:
            near += 1
    return near / max(1, hi - lo)


@njit(cache=True, nogil=True)
def decisive_comparisons(gray: Gray, n: int, margin: int) -> int:
    """How many of the 2 (n-1)^2 neighbour comparisons of an n x n grey differ by >= ``margin``.

    A dHash bit is the outcome of ``a < b``; when ``a`` and ``b`` are (almost) equal the bit is
    decided by noise. A flat or near-flat picture has few decisive comparisons, and its hash is
    the all-zero word every other flat picture also has: it must not link anything.
    """
    count = 0
    for y in range(n - 1):
        for x in range(n - 1):
            a = np.int32(gray[y, x])
            if abs(np.int32(gray[y, x + 1]) - a) >= margin:
                count += 1
            if abs(np.int32(gray[y + 1, x]) - a) >= margin:
                count += 1
    return count


# The probe hashes (``probe_grays``): the content box averaged once into a grid of at most
# PROBE_GRID x PROBE_GRID cells, from which each probe's 9 x 9 grey is resampled. At most one
# add per pixel, whatever the number of probes; rows are sampled once a grid cell spans more
# than PROBE_SAMPLES of them (benchmark quality was the same reading every row).
PROBE_GRID = 64
PROBE_SAMPLES = 4
Floats = npt.NDArray[np.float64]


@njit(cache=True, nogil=True)
def _cell_means(img: Gray, x0: int, y0: int, x1: int, y1: int, gh: int, gw: int) -> Floats:
    """Area means of ``img[y0:y1, x0:x1]`` over a gh x gw grid of equal cells (at least one
    pixel a side), a pixel on a cell edge shared by its overlap: equal cells are symmetric, so a
    mirrored box gives the mirrored grid (up to float rounding).

    Each row's cells are contiguous integer sums plus the two pixels their edges cut. Rows
    are read every ``step``-th, the step chosen so that a cell still spans at least
    PROBE_SAMPLES sampled rows (each standing for ``step`` rows): a 12-megapixel box reads
    one row in 11, an 800 x 600 one every second row.
    """
    bw = x1 - x0
    bh = y1 - y0
    step = max(1, bh // (PROBE_SAMPLES * gh))
    # Columns: full pixels [first, last) of each cell, and the cut pixel at each inner edge.
    first = np.empty(gw, np.int64)
    last = np.empty(gw, np.int64)
    cut = np.full(gw + 1, -1, np.int64)
    cut_share = np.zeros(gw + 1, np.float64)  # the cut pixel's share left of the edge
    for c in range(gw + 1):
        edge = c * bw / gw
        lo = math.floor(edge)
        if edge > lo and lo < bw:
            cut[c] = lo
            cut_share[c] = edge - lo
    for c in range(gw):
        first[c] = math.ceil(c * bw / gw)
        last[c] = math.floor((c + 1) * bw / gw)
    sums = np.zeros((gh + 1, gw), np.float64)
    totals = np.zeros(gh + 1, np.float64)
    row = np.zeros(gw, np.float64)
    row_scale = gh / bh
    for y in range(0, bh, step):
        line = img[y0 + y, x0:x1]
        for c in range(gw):
            acc = 0
            for x in range(first[c], last[c]):
                acc += int(line[x])
            total = np.float64(acc)
            if cut[c] >= 0:
                total += (1.0 - cut_share[c]) * line[cut[c]]
            if cut[c + 1] >= 0:
                total += cut_share[c + 1] * line[cut[c + 1]]
            row[c] = total
        # The sampled rows [y, y + step) split between the cell of y and the next.
        u0 = y * row_scale
        u1 = min(bh, y + step) * row_scale
        cy = min(gh - 1, math.floor(u0))
        w = 1.0 if u1 <= cy + 1 or cy == gh - 1 else (cy + 1 - u0) / (u1 - u0)
        for c in range(gw):
            sums[cy, c] += w * row[c]
            sums[cy + 1, c] += (1.0 - w) * row[c]
        totals[cy] += w
        totals[cy + 1] += 1.0 - w
    width = bw / gw
    out = np.empty((gh, gw), np.float64)
    for r in range(gh):
        for c in range(gw):
            out[r, c] = sums[r, c] / (totals[r] * width)
    return out


@njit(cache=True, nogil=True)
def _area_weights(n_in: int, lo: float, hi: float, n_out: int) -> Floats:
    """n_out x n_in weights averaging the input span [lo, hi) into n_out equal cells."""
    w = np.zeros((n_out, n_in), np.float64)
    step = (hi - lo) / n_out
    for k in range(n_out):
        a = lo + k * step
        b = a + step
        total = 0.0
        for p in range(max(0, math.floor(a)), min(n_in, math.ceil(b))):
            share = min(b, p + 1.0) - max(a, float(p))
            if share > 0.0:
                w[k, p] = share
                total += share
        if total > 0.0:
            w[k] /= total
    return w


@njit(cache=True, nogil=True)
def probe_grays(
    img: Gray,
    x0: int,
    y0: int,
    x1: int,
    y1: int,
    transposed: bool,
    flip_rows: bool,
    flip_cols: bool,
    rects: Floats,
) -> Floats:
    """The 9 x 9 greys of probe rectangles of a box, for their dHash (``difference_bits``).

    ``img[y0:y1, x0:x1]`` is the box as stored; it is averaged into a grid of at most
    PROBE_GRID cells a side, which is then oriented (the EXIF steps of ``ORIENTATION_STEPS``).
    ``rects`` (P x 4: x0, y0, x1, y1 as shares of the oriented box) are resampled from the
    grid by area means (the greys are not rounded: a near tie is decided by the means).
    """
    bh = y1 - y0
    bw = x1 - x0
    gh = min(PROBE_GRID, bh)
    gw = min(PROBE_GRID, bw)
    grid = _cell_means(img, x0, y0, x1, y1, gh, gw)
    if transposed:
        grid = grid.T.copy()
    if flip_rows:
        grid = grid[::-1, :].copy()
    if flip_cols:
        grid = grid[:, ::-1].copy()
    oh, ow = grid.shape
    n = MAX_OUT
    out = np.empty((rects.shape[0], n, n), np.float64)
    for i in range(rects.shape[0]):
        wy = _area_weights(oh, rects[i, 1] * oh, rects[i, 3] * oh, n)
        wx = _area_weights(ow, rects[i, 0] * ow, rects[i, 2] * ow, n)
        out[i] = wy @ grid @ wx.T
    return out

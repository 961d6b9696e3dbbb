"""Exact mode must equal the dhash package bit for bit (Pillow 13.0.0 LANCZOS resize)."""

import io
from collections import Counter

import dhash
import numpy as np
import pytest
from PIL import Image, ImageOps

from assets.decode import EXIF_TRANSPOSE, DecodePolicy
from assets.hashing import engine, kernels

SIZES = tuple(range(1, 9))
OUTS = tuple(s + 1 for s in SIZES)
NO_EXIF = DecodePolicy(apply_exif_orientation=False)

# dhash 1.4 calls Image.getdata, deprecated in Pillow 13.
pytestmark = pytest.mark.filterwarnings("ignore:Image.Image.getdata:DeprecationWarning")


def dhash_hexes(image: Image.Image) -> dict[int, str]:
    return {s: dhash.format_hex(*dhash.dhash_row_col(image, s), s) for s in SIZES}


def expected_hexes(data: bytes, apply_exif: bool = True) -> dict[int, str]:
    """The lab's computation on the first frame, oriented as ImageOps.exif_transpose does."""
    image = Image.open(io.BytesIO(data))
    if apply_exif:
        image = ImageOps.exif_transpose(image)
    return dhash_hexes(image)


def kernel_grays(pixels: np.ndarray) -> np.ndarray:
    h_plan = kernels.build_axis_plan(pixels.shape[1], OUTS)
    v_plan = kernels.build_axis_plan(pixels.shape[0], OUTS)
    return kernels.lanczos_grays(
        pixels, np.asarray(OUTS, np.int64), h_plan.arrays, v_plan.arrays, True, True
    )


def assert_kernel_equals_pillow(pixels: np.ndarray) -> None:
    grays = kernel_grays(pixels)
    image = Image.fromarray(pixels)
    for i, n in enumerate(OUTS):
        expected = np.asarray(image.resize((n, n), Image.Resampling.LANCZOS))
        assert np.array_equal(grays[i, :n, :n], expected), (pixels.shape, n)


def test_demo_photographs_hash_exactly_like_the_dhash_package(photograph_paths):
    for path in photograph_paths:
        data = path.read_bytes()
        result = engine.hash_bytes(data, SIZES, "exact")
        assert result.hexes == expected_hexes(data), path.name
        assert result.mode == "exact"
        assert result.backend == "kernel"


def test_kernel_resize_equals_pillow_lanczos_on_random_shapes_including_upsampling():
    rng = np.random.default_rng(7)
    shapes = [(1, 1), (1, 2), (2, 1), (1, 9), (9, 1), (9, 9), (3, 5), (4, 30), (30, 4)]
    shapes += [(int(rng.integers(1, 200)), int(rng.integers(1, 200))) for _ in range(60)]
    for shape in shapes:
        assert_kernel_equals_pillow(rng.integers(0, 256, shape, dtype=np.uint8))


def test_kernel_resize_follows_pillows_pass_order_on_both_sides_of_the_switch():
    # Pillow 13 runs the vertical pass first iff h > n and (h - n) > 2 (w - n); the order
    # changes results because the intermediate image is rounded to 8 bits.
    rng = np.random.default_rng(11)
    for width in (13, 61, 250):
        for n in OUTS:
            for delta in (-1, 0, 1, 2):
                height = 2 * width - n + delta
                assert_kernel_equals_pillow(rng.integers(0, 256, (height, width), np.uint8))


def test_kernel_resize_equals_pillow_on_a_large_smooth_image():
    yy, xx = np.mgrid[0:1500, 0:2000]
    smooth = 128 + 100 * np.sin(xx / 170.0) * np.cos(yy / 230.0)
    noise = np.random.default_rng(3).normal(0, 4, smooth.shape)
    assert_kernel_equals_pillow(np.clip(smooth + noise, 0, 255).astype(np.uint8))


# -- randomized modes, formats, shapes and orientations ----------------------------------------


def _texture(rng: np.random.Generator, h: int, w: int, channels: int) -> np.ndarray:
    if rng.random() < 0.3:
        return rng.integers(0, 256, (h, w, channels), dtype=np.uint8)
    yy, xx = np.mgrid[0:h, 0:w]
    planes = []
    for _ in range(channels):
        fx, fy, phase = rng.uniform(1, 9), rng.uniform(1, 9), rng.uniform(0, 6)
        wave = np.sin(xx / max(1, w) * fx + phase) + np.cos(yy / max(1, h) * fy)
        planes.append(128 + 60 * wave + rng.normal(0, 12, (h, w)))
    return np.clip(np.stack(planes, axis=-1), 0, 255).astype(np.uint8)


def _make_image(rng: np.random.Generator, mode: str, h: int, w: int) -> Image.Image:
    if mode == "1":
        return Image.fromarray(_texture(rng, h, w, 1)[..., 0] > 127)
    if mode == "L":
        return Image.fromarray(_texture(rng, h, w, 1)[..., 0])
    if mode == "P":
        colours = int(rng.integers(2, 256))
        return Image.fromarray(_texture(rng, h, w, 3)).quantize(colours)
    if mode in ("LA", "RGB", "RGBA", "CMYK"):
        return Image.fromarray(_texture(rng, h, w, len(mode)), mode)
    plane = _texture(rng, h, w, 1)[..., 0]
    if mode == "I;16":
        values = plane.astype("<u2") * int(rng.integers(1, 257))
        return Image.frombytes("I;16", (w, h), values.tobytes())
    if mode == "I":
        return Image.fromarray(plane.astype(np.int32) * int(rng.integers(-3, 300)))
    if mode == "F":
        return Image.fromarray(plane.astype(np.float32) * np.float32(rng.uniform(0.1, 2.0)))
    raise AssertionError(mode)


FORMATS = {
    "1": ["PNG", "TIFF", "BMP"],
    "L": ["PNG", "JPEG", "TIFF", "WEBP"],
    "P": ["PNG", "GIF", "BMP"],
    "LA": ["PNG", "TIFF"],
    "RGB": ["PNG", "JPEG", "TIFF", "WEBP", "BMP"],
    "RGBA": ["PNG", "TIFF", "WEBP"],
    "CMYK": ["JPEG", "TIFF"],
    "I;16": ["PNG", "TIFF"],
    "I": ["TIFF"],
    "F": ["TIFF"],
}
EXIF_FORMATS = {"JPEG", "PNG", "WEBP", "TIFF"}
EXTREME_SHAPES = [
    (1, 1), (1, 2), (2, 1), (1, 9), (9, 1), (1, 1000), (1000, 1), (3, 2000), (2000, 3),
    (2, 2), (8, 8), (9, 9), (10, 9), (9, 10), (4, 300), (300, 4), (5, 1200), (1200, 5),
]  # fmt: skip


def _random_file(rng: np.random.Generator, index: int) -> tuple[str, str, int | None, bytes]:
    mode = list(FORMATS)[index % len(FORMATS)]
    fmt = FORMATS[mode][int(rng.integers(len(FORMATS[mode])))]
    if rng.random() < 0.35:
        h, w = EXTREME_SHAPES[int(rng.integers(len(EXTREME_SHAPES)))]
    else:
        h, w = int(rng.integers(1, 260)), int(rng.integers(1, 260))
    image = _make_image(rng, mode, h, w)
    options: dict = {}
    if mode == "P" and rng.random() < 0.5:
        options["transparency"] = int(rng.integers(0, 2))
    orientation = None
    if fmt in EXIF_FORMATS and rng.random() < 0.5:
        orientation = int(rng.integers(1, 9))
        exif = Image.Exif()
        exif[0x0112] = orientation
        options["exif"] = exif
    if fmt == "WEBP":
        options["lossless"] = True
    buf = io.BytesIO()
    image.save(buf, fmt, **options)
    return mode, fmt, orientation, buf.getvalue()


def test_random_images_of_every_mode_shape_and_orientation_hash_like_the_dhash_package():
    rng = np.random.default_rng(20240611)
    seen: Counter = Counter()
    mismatches = []
    for index in range(320):
        mode, fmt, orientation, data = _random_file(rng, index)
        opened = Image.open(io.BytesIO(data))
        seen[mode] += 1
        seen["transparency"] += "transparency" in opened.info
        seen["orientation"] += orientation not in (None, 1)
        seen["extreme"] += min(opened.size) <= 3
        for policy, apply_exif in ((engine.DEFAULT_POLICY, True), (NO_EXIF, False)):
            result = engine.hash_bytes(data, SIZES, "exact", policy)
            expected = expected_hexes(data, apply_exif)
            if result.hexes != expected:
                mismatches.append((mode, fmt, opened.size, orientation, apply_exif))
    assert not mismatches
    assert all(seen[mode] >= 20 for mode in FORMATS), seen
    assert seen["transparency"] >= 5 and seen["orientation"] >= 40 and seen["extreme"] >= 40


def test_animated_gif_hashes_its_first_frame():
    rng = np.random.default_rng(5)
    frames = [Image.fromarray(_texture(rng, 60, 80, 3)).quantize(64) for _ in range(3)]
    buf = io.BytesIO()
    frames[0].save(buf, "GIF", save_all=True, append_images=frames[1:], duration=50, loop=0)
    data = buf.getvalue()
    animation = Image.open(io.BytesIO(data))
    assert animation.n_frames == 3
    first = dhash_hexes(animation)
    animation.seek(1)
    assert dhash_hexes(animation.convert("RGB")) != first  # the frames really differ
    assert engine.hash_bytes(data, SIZES).hexes == first


def test_a_plan_the_kernel_cannot_take_falls_back_to_pillow_and_is_counted(monkeypatch):
    pixels = np.random.default_rng(1).integers(0, 256, (40, 57), np.uint8)
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, "PNG")
    kernel_result = engine.hash_bytes(buf.getvalue(), SIZES)
    monkeypatch.setattr(engine, "MAX_PLAN_TAPS", 10)
    before = engine.STATS.snapshot()["pillow_fallback"]
    fallback_result = engine.hash_bytes(buf.getvalue(), SIZES)
    assert fallback_result.backend == "pillow"
    assert engine.STATS.snapshot()["pillow_fallback"] == before + 1
    assert fallback_result.hexes == kernel_result.hexes == expected_hexes(buf.getvalue())


def test_exact_mode_refuses_to_run_on_another_pillow_version(monkeypatch):
    monkeypatch.setattr(engine, "EXACT_MODE_AVAILABLE", False)
    monkeypatch.setattr(engine, "PILLOW_VERSION", "99.0.0")
    buf = io.BytesIO()
    Image.new("L", (20, 20), 90).save(buf, "PNG")
    with pytest.raises(engine.ExactModeUnavailableError, match=r"13\.0\.0.*99\.0\.0"):
        engine.hash_bytes(buf.getvalue())
    with pytest.raises(engine.ExactModeUnavailableError):
        list(engine.hash_many([("a", buf.getvalue())]))
    # Fast mode still runs, but even a PNG (no draft) may not claim exact parity.
    assert engine.hash_bytes(buf.getvalue(), mode="fast").mode == "fast"


def test_the_installed_pillow_is_the_one_the_kernels_replicate():
    assert engine.EXACT_MODE_AVAILABLE, (engine.PILLOW_VERSION, kernels.PILLOW_VERSION_REPLICATED)


def test_hashing_in_stored_order_with_an_orientation_equals_hashing_the_transposed_image():
    # The kernels read the stored array in oriented order (mirrored plans, swapped passes);
    # shapes with a side of n = s + 1 make Pillow skip a pass, where only a reversal remains.
    rng = np.random.default_rng(17)
    shapes = [(1, 1), (2, 2), (9, 9), (9, 4), (4, 9), (9, 40), (40, 9), (3, 9), (5, 7), (33, 90)]
    shapes += [(int(rng.integers(1, 120)), int(rng.integers(1, 120))) for _ in range(12)]
    for shape in shapes:
        stored = rng.integers(0, 256, shape, dtype=np.uint8)
        for orientation in range(1, 9):
            oriented = Image.fromarray(stored)
            if orientation != 1:
                oriented = oriented.transpose(EXIF_TRANSPOSE[orientation])
            rows, cols, backend = engine.hash_gray(stored, SIZES, orientation=orientation)
            expected = [dhash.dhash_row_col(oriented, s) for s in SIZES]
            assert (rows, cols) == ([r for r, _ in expected], [c for _, c in expected]), (
                shape,
                orientation,
            )
            assert backend == "kernel"

"""decode_gray keeps its meaning: the first frame, dhash's greyscale, EXIF-oriented by policy."""

import io

import numpy as np
import pytest
from PIL import Image, ImageOps

from assets.decode import DecodePolicy
from assets.hashing.gray import (
    decode_gray,
    decode_gray_image,
    decode_gray_stored,
    to_dhash_gray,
    transpose_region,
)


def encoded(mode: str, fmt: str, orientation: int | None, size=(37, 23)) -> bytes:
    rng = np.random.default_rng(len(mode) + (orientation or 0))
    rgb = Image.fromarray(rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8))
    image = rgb.convert(mode) if mode != "P" else rgb.quantize(50)
    options = {}
    if orientation:
        exif = Image.Exif()
        exif[0x0112] = orientation
        options["exif"] = exif
    buf = io.BytesIO()
    image.save(buf, fmt, **options)
    return buf.getvalue()


@pytest.mark.parametrize("orientation", range(1, 9))
@pytest.mark.parametrize(("mode", "fmt"), [("RGB", "JPEG"), ("L", "PNG"), ("P", "PNG")])
def test_decode_gray_equals_pillows_oriented_greyscale(mode, fmt, orientation):
    data = encoded(mode, fmt, orientation)
    expected = to_dhash_gray(ImageOps.exif_transpose(Image.open(io.BytesIO(data))))
    assert np.array_equal(decode_gray(data), np.asarray(expected))
    as_stored = decode_gray(data, DecodePolicy(apply_exif_orientation=False))
    assert np.array_equal(as_stored, np.asarray(to_dhash_gray(Image.open(io.BytesIO(data)))))
    stored = decode_gray_stored(data)
    assert stored.orientation == orientation
    assert np.array_equal(stored.pixels, as_stored)


@pytest.mark.parametrize("orientation", range(2, 9))
def test_a_region_moves_with_the_pixels_under_each_exif_transpose(orientation):
    width, height, region = 7, 5, (0, 0, 6, 4)
    mask = np.zeros((height, width), np.uint8)
    mask[0:4, 0:6] = 255
    turned = np.asarray(ImageOps.exif_transpose(_with_orientation(mask, orientation)))
    x0, y0, x1, y1 = (int(v) for v in transpose_region(region, width, height, orientation))
    expected = np.zeros_like(turned)
    expected[y0:y1, x0:x1] = 255
    assert np.array_equal(turned, expected)


def _with_orientation(pixels: np.ndarray, orientation: int) -> Image.Image:
    exif = Image.Exif()
    exif[0x0112] = orientation
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, "PNG", exif=exif)
    return Image.open(io.BytesIO(buf.getvalue()))


def test_an_oriented_draft_keeps_the_region_of_the_stored_draft_mapped_through_the_transpose():
    data = encoded("RGB", "JPEG", 6, size=(1001, 803))
    stored = decode_gray_stored(data, draft_size=(64, 64))
    oriented = decode_gray_image(data, draft_size=(64, 64))
    height, width = stored.pixels.shape
    assert stored.region == pytest.approx((0, 0, 1001 / 8, 803 / 8))
    assert oriented.region == transpose_region(stored.region, width, height, 6)
    assert oriented.pixels.shape == (width, height)
    assert oriented.orientation == 1


def _multi_block_rgb(rng: np.random.Generator) -> Image.Image:
    """An RGB image decoded while a Pillow block holds fewer rows than it has."""
    pixels = rng.integers(0, 256, (300, 257, 3), dtype=np.uint8)
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, "PNG")
    saved = Image.core.get_block_size()
    Image.core.set_block_size(64 * 4096)  # 255 rows of 257 RGBX pixels
    try:
        image = Image.open(io.BytesIO(buf.getvalue()))
        image.load()
    finally:
        Image.core.set_block_size(saved)
    return image


def test_the_compiled_rgb_conversion_equals_pillows_and_falls_back_on_split_memory():
    from assets.hashing.gray import _gray_pixels, _rgb_to_l_compiled

    rng = np.random.default_rng(7)
    # Every channel value against every other: the fixed-point rounding edges are all hit.
    values = np.stack(np.meshgrid(np.arange(256), np.arange(256), indexing="ij"), -1)
    for blue in (0, 1, 127, 128, 254, 255):
        rgb = np.concatenate([values, np.full((256, 256, 1), blue)], -1).astype(np.uint8)
        image = Image.fromarray(rgb)
        compiled = _rgb_to_l_compiled(image)
        assert compiled is not None
        assert np.array_equal(compiled, np.asarray(image.convert("L")))
    one_block = Image.fromarray(rng.integers(0, 256, (1000, 2000, 3), dtype=np.uint8))
    assert np.array_equal(_rgb_to_l_compiled(one_block), np.asarray(one_block.convert("L")))
    split = _multi_block_rgb(rng)
    assert _rgb_to_l_compiled(split) is None  # rows not contiguous: no zero-copy view
    assert np.array_equal(_gray_pixels(split), np.asarray(split.convert("L")))


def _jpeg(rng: np.random.Generator, width: int, height: int) -> bytes:
    pixels = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, "JPEG", quality=90)
    return buf.getvalue()


def _mpo(rng: np.random.Generator) -> bytes:
    """A two-frame MPO (a JPEG container): the first frame is the picture."""
    frames = [Image.fromarray(rng.integers(0, 256, (300, 401, 3), dtype=np.uint8)) for _ in "ab"]
    buf = io.BytesIO()
    frames[0].save(buf, "MPO", save_all=True, append_images=frames[1:])
    return buf.getvalue()


def test_rgb_jpegs_decoded_into_the_reused_buffer_equal_pillows_greyscale():
    from concurrent.futures import ThreadPoolExecutor

    from assets.hashing.gray import _DIRECT_BUFFER_MAX_BYTES, _direct_buffers

    rng = np.random.default_rng(11)
    # Big, small, big again (the buffer is reused and must not leak old pixels), odd widths,
    # and one image larger than the reusable buffer.
    shapes = [(1201, 803), (17, 9), (1199, 805), (1, 1), (3, 2000), (2000, 3)]
    side = int((_DIRECT_BUFFER_MAX_BYTES / 4) ** 0.5) + 8
    datas = [_jpeg(rng, w, h) for w, h in shapes] + [_jpeg(rng, side, side), _mpo(rng)]
    expected = [np.asarray(Image.open(io.BytesIO(d)).convert("L")) for d in datas]
    _direct_buffers.buffer = None
    for data, want in zip(datas, expected, strict=True):
        assert np.array_equal(decode_gray_stored(data).pixels, want)
    assert _direct_buffers.buffer is not None  # the JPEGs took the direct path
    with ThreadPoolExecutor(2) as pool:
        results = list(pool.map(lambda d: decode_gray_stored(d).pixels, datas * 3))
    for got, want in zip(results, expected * 3, strict=True):
        assert np.array_equal(got, want)


def test_a_truncated_rgb_jpeg_is_undecodable_with_a_reason():
    from assets.decode import UndecodableImageError

    data = _jpeg(np.random.default_rng(3), 640, 480)
    with pytest.raises(UndecodableImageError) as caught:
        decode_gray_stored(data[: len(data) // 2])
    assert caught.value.reason == "corrupt_data"

"""decode_gray keeps its meaning: the first frame, dhash's greyscale, EXIF-oriented by policy."""

import io

import numpy as np
import pytest
from PIL import Image, ImageOps

from assets.decode import (
    DecodePolicy,
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

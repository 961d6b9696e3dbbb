"""The probe hashes: size-8 difference hashes of parts of the content box (its whole area, its
centre, and the box with a strip cut off one side), resampled by area means from one grid.

They must find what they exist for (a copy with a strip cut off one side meets its picture's
cut hash; a slightly rotated copy meets its picture's centre), follow the EXIF orientation,
and never exist for inputs without a picture."""

import numpy as np
import pytest
from PIL import Image, ImageOps

from assets.hashing import engine, kernels
from assets.hashing.engine import PROBE_NAMES, hash_bytes
from assets.tables import PROBE_COLUMNS
from tests.support.images import demo_photo, encode

_photo = demo_photo


def _encode(image: Image.Image, fmt: str = "PNG", **options) -> bytes:
    return encode(image, fmt, **options)


def _distance(a: tuple[int, int] | None, b: tuple[int, int] | None) -> int:
    assert a is not None and b is not None
    return sum(bin((x ^ y) & ((1 << 64) - 1)).count("1") for x, y in zip(a, b, strict=True))


def test_the_warehouse_columns_are_the_engines_probes():
    assert tuple(name for name, _ in PROBE_COLUMNS) == PROBE_NAMES


def test_cell_means_are_exact_area_means():
    # cells of PROBE_SAMPLES rows: every row is read
    rows = kernels.PROBE_SAMPLES
    img = np.random.default_rng(0).integers(0, 256, (5 * rows, 70), dtype=np.uint8)
    whole = kernels._cell_means(img, 0, 0, 70, 5 * rows, 5, 7)
    assert np.allclose(whole, img.reshape(5, rows, 7, 10).mean(axis=(1, 3)))
    # a cell edge through a pixel shares it by its overlap: 3 cells over 7 pixels
    row = np.array([[0, 30, 60, 90, 120, 150, 180]], np.uint8).repeat(3, axis=0)
    third = kernels._cell_means(row, 0, 0, 7, 3, 1, 3)[0]
    expected = [(0 + 30 + 60 / 3) * 3 / 7, (60 * 2 / 3 + 90 + 120 * 2 / 3) * 3 / 7]
    assert np.allclose(third[:2], expected)


@pytest.mark.parametrize("orientation", [2, 3, 4, 5, 6, 7, 8])
def test_probe_hashes_follow_the_exif_orientation(orientation):
    upright = _photo("coffee")
    stored = upright.transpose(
        {
            2: Image.Transpose.FLIP_LEFT_RIGHT,
            3: Image.Transpose.ROTATE_180,
            4: Image.Transpose.FLIP_TOP_BOTTOM,
            5: Image.Transpose.TRANSPOSE,
            6: Image.Transpose.ROTATE_90,
            7: Image.Transpose.TRANSVERSE,
            8: Image.Transpose.ROTATE_270,
        }[orientation]
    )
    exif = Image.Exif()
    exif[0x0112] = orientation
    turned = hash_bytes(_encode(stored, exif=exif.tobytes()))
    plain = hash_bytes(_encode(upright))
    assert turned.hex(8) == plain.hex(8)
    # The same cells of the same pixels; a turn that swaps the axes samples the other axis's
    # lines once a cell spans more than PROBE_SAMPLES of them, and sums in another order.
    for name in PROBE_NAMES:
        assert _distance(turned.probe(name), plain.probe(name)) <= 2, name
    if orientation in (2, 3, 4):
        assert turned.probes == plain.probes


def test_a_copy_with_a_strip_cut_off_meets_its_pictures_cut_hash():
    photo = _photo("coffee")
    w, h = photo.size
    original = hash_bytes(_encode(photo, "JPEG", quality=90))
    cut = hash_bytes(_encode(photo.crop((0, 0, w, h - round(0.05 * h))), "JPEG", quality=90))
    to_cut = _distance(cut.probe("area"), original.probe("cut_bottom"))
    assert to_cut <= 4
    # the whole-frame hashes are much further apart: that is why the link exists
    assert _distance((cut[8].row, cut[8].col), (original[8].row, original[8].col)) > to_cut + 6


def test_a_slightly_rotated_copy_keeps_its_centre():
    photo = _photo("coffee")
    turned = photo.rotate(1.5, Image.Resampling.BICUBIC, expand=False, fillcolor="white")
    original = hash_bytes(_encode(photo, "JPEG", quality=90))
    copy = hash_bytes(_encode(turned, "JPEG", quality=90))
    centre = _distance(copy.probe("centre"), original.probe("centre"))
    assert centre <= 6
    assert _distance((copy[8].row, copy[8].col), (original[8].row, original[8].col)) > centre


def test_bordered_copies_have_the_probes_of_their_picture():
    photo = _photo("astronaut")
    original = hash_bytes(_encode(photo))
    framed = hash_bytes(_encode(ImageOps.expand(photo, 30, fill="black")))
    assert framed.content == engine.CONTENT_TRIMMED
    for name in PROBE_NAMES:
        assert _distance(framed.probe(name), original.probe(name)) <= 4, name


@pytest.mark.parametrize(
    "image",
    [
        Image.new("RGB", (320, 240), "white"),
        Image.new("RGBA", (300, 200), (0, 0, 0, 0)),
        ImageOps.expand(Image.new("RGB", (200, 150), (30, 60, 200)), 40, fill="white"),
        Image.fromarray(np.random.default_rng(3).integers(0, 256, (480, 1), dtype=np.uint8)),
    ],
    ids=["blank", "transparent", "all border", "one pixel wide"],
)
def test_inputs_without_a_picture_have_no_probe_hashes(image):
    result = hash_bytes(_encode(image))
    assert not result.linkable
    assert result.probes == ()
    assert all(result.probe(name) is None for name in PROBE_NAMES)


def test_a_flat_probe_has_no_hash():
    # a picture whose centre is one flat grey: the centre hash would be noise
    img = np.full((200, 200), 128, np.uint8)
    img[:30] = np.random.default_rng(1).integers(0, 256, (30, 200))
    img[-30:] = np.random.default_rng(2).integers(0, 256, (30, 200))
    result = hash_bytes(_encode(Image.fromarray(img)))
    assert result.linkable
    assert result.probe("centre") is None
    assert result.probe("area") is not None


def test_the_probes_can_be_left_out():
    data = _encode(_photo("coffee"))
    without = hash_bytes(data, probes=False)
    assert without.probes == () and without.probe("area") is None
    assert without.hexes == hash_bytes(data).hexes

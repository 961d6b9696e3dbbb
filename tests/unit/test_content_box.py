"""The content box (the picture inside solid borders), its trimmed hash, and inputs without a
picture: they are hashed with a code that says so and never take a hash link."""

import numpy as np
import pytest
from PIL import Image, ImageOps

from assets.hashing import engine, kernels
from assets.hashing.engine import hash_bytes
from tests.support.images import demo_photo, encode

TOL = engine.CONTENT_TOLERANCE


_photo = demo_photo


def _encode(image: Image.Image, fmt: str = "PNG", **options) -> bytes:
    return encode(image, fmt, **options)


def _distance(a: tuple[int, int], b: tuple[int, int]) -> int:
    return bin(a[0] ^ b[0]).count("1") + bin(a[1] ^ b[1]).count("1")


def _textured(height: int, width: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (height, width), dtype=np.uint8)


# --- the kernel ---------------------------------------------------------------------------


def test_an_image_without_borders_is_its_own_box():
    img = _textured(40, 60)
    assert kernels.content_box(img, TOL) == (0, 40, 0, 60)


@pytest.mark.parametrize("value", [0, 255, 97])
@pytest.mark.parametrize(
    "pad", [(3, 0, 0, 0), (0, 5, 0, 0), (0, 0, 7, 0), (0, 0, 0, 2), (4, 6, 8, 10)]
)
def test_solid_bars_on_any_sides_in_any_grey_are_trimmed_exactly(pad, value):
    top, bottom, left, right = pad
    img = np.pad(_textured(40, 60), ((top, bottom), (left, right)), constant_values=value)
    assert kernels.content_box(img, TOL) == (top, top + 40, left, left + 60)


def test_noise_within_the_tolerance_is_border_and_beyond_it_is_content():
    rng = np.random.default_rng(1)
    inner = _textured(30, 30)
    quiet = np.pad(inner, 6, constant_values=20).astype(np.int16)
    quiet[:6] += rng.integers(0, TOL + 1, quiet[:6].shape, dtype=np.int16)
    assert kernels.content_box(quiet.astype(np.uint8), TOL) == (6, 36, 6, 36)
    loud = quiet.copy()
    loud[0, 0] = 20 + TOL + 1 + 10  # one pixel beyond the tolerance: the top line is content
    box = kernels.content_box(np.clip(loud, 0, 255).astype(np.uint8), TOL)
    assert box[0] == 0


def test_trimming_repeats_until_no_side_changes_so_bars_and_flat_edges_agree():
    # A photo whose top rows are a flat sky, then the same photo with black side bars and a
    # white bar on top: both boxes end where the sky ends, whatever surrounds it.
    photo = np.vstack([np.full((8, 50), 180, np.uint8), _textured(30, 50)])
    framed = np.pad(photo, ((5, 0), (4, 4)), constant_values=0)
    framed[:5] = 255
    assert kernels.content_box(photo, TOL) == (8, 38, 0, 50)
    assert kernels.content_box(framed, TOL) == (13, 43, 4, 54)


def test_ringing_lines_next_to_a_bar_are_peeled_but_picture_lines_are_not():
    rng = np.random.default_rng(2)
    img = np.pad(_textured(40, 60), ((10, 0), (0, 0)), constant_values=0)
    # Two lines of JPEG-like ringing: bar grey with a few pixels far off (not flat).
    img[8:10] = rng.integers(0, 8, (2, 60))
    img[8:10, ::15] = 90
    assert kernels.content_box(img, TOL) == (10, 50, 0, 60)
    # A picture line that happens to be dark in places is not bar-coloured enough to peel.
    dark = img.copy()
    dark[10, :40] = 3
    assert kernels.content_box(dark, TOL)[0] == 10


def test_a_flat_image_has_no_box():
    assert kernels.content_box(np.full((20, 30), 77, np.uint8), TOL) == (0, 0, 0, 0)


def test_decisive_comparisons_count_only_neighbours_that_differ_by_the_margin():
    gray = np.zeros((9, 9), np.uint8)
    assert kernels.decisive_comparisons(gray, 9, 2) == 0
    gray[4, 4] = 2  # differs from its left, right, upper and lower neighbours
    assert kernels.decisive_comparisons(gray, 9, 2) == 4
    assert kernels.decisive_comparisons(gray, 9, 3) == 0


# --- the engine ---------------------------------------------------------------------------


def test_without_borders_the_trimmed_hash_is_the_size_8_hash():
    result = hash_bytes(_encode(_photo("chelsea"), "JPEG", quality=90))
    assert result.content == engine.CONTENT_WHOLE
    assert (result.trim_row, result.trim_col) == (result[8].row, result[8].col)
    assert result.trim_hex == result.hex(8)
    assert result.content_box == (0, 0, result.width, result.height)


@pytest.mark.parametrize(
    ("border", "fill", "fmt"),
    [
        ((0, 40, 0, 40), "black", "JPEG"),  # letterbox
        ((30, 0, 30, 0), "white", "PNG"),  # pillarbox
        ((12, 12, 12, 12), (200, 30, 60), "JPEG"),  # a flat-colour frame
        ((0, 0, 0, 6), "black", "PNG"),  # a few pixels at the bottom
    ],
)
def test_a_bordered_copy_keeps_the_trimmed_hash_while_the_size_8_hash_moves(border, fill, fmt):
    photo = _photo("chelsea")
    original = hash_bytes(_encode(photo, "JPEG", quality=90))
    copy = hash_bytes(_encode(ImageOps.expand(photo, border, fill=fill), fmt, quality=85))
    assert copy.content == engine.CONTENT_TRIMMED
    # Lossless: the box is exact. JPEG rings in the 8 x 8 block that straddles the edge; those
    # lines are peeled as bar-coloured, to within a line or two of the picture.
    slack = 2 if fmt == "JPEG" else 0
    x0, y0, x1, y1 = copy.content_box
    assert 0 <= border[0] - x0 <= slack and 0 <= border[1] - y0 <= slack
    assert 0 <= x1 - (border[0] + photo.width) <= slack
    assert 0 <= y1 - (border[1] + photo.height) <= slack
    trimmed = _distance((copy.trim_row, copy.trim_col), (original.trim_row, original.trim_col))
    assert trimmed <= 4
    if sum(border) >= 24:
        plain = _distance((copy[8].row, copy[8].col), (original[8].row, original[8].col))
        assert plain > trimmed + 4


def test_the_box_and_trimmed_hash_follow_the_exif_orientation():
    photo = ImageOps.expand(_photo("chelsea"), (0, 30, 0, 30), fill="black")
    upright = hash_bytes(_encode(photo, "PNG"))
    exif = Image.Exif()
    exif[0x0112] = 6
    stored = photo.transpose(Image.Transpose.ROTATE_90)
    rotated = hash_bytes(_encode(stored, "PNG", exif=exif.tobytes()))
    assert rotated.content_box == upright.content_box
    assert (rotated.trim_row, rotated.trim_col) == (upright.trim_row, upright.trim_col)


def test_fast_mode_trims_jpeg_borders_too():
    photo = ImageOps.expand(_photo("astronaut"), (0, 48, 0, 48), fill="black")
    exact = hash_bytes(_encode(photo, "JPEG", quality=90))
    fast = hash_bytes(_encode(photo, "JPEG", quality=90), mode="fast")
    assert fast.mode == "fast" and fast.content == engine.CONTENT_TRIMMED
    assert _distance((fast.trim_row, fast.trim_col), (exact.trim_row, exact.trim_col)) <= 8


# --- inputs without a picture ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "image", "content"),
    [
        ("blank white", Image.new("RGB", (320, 240), "white"), engine.CONTENT_BLANK),
        ("blank black", Image.new("L", (64, 64), 0), engine.CONTENT_BLANK),
        ("fully transparent", Image.new("RGBA", (300, 200), (0, 0, 0, 0)), engine.CONTENT_BLANK),
        (
            "all border",
            ImageOps.expand(Image.new("RGB", (200, 150), (30, 60, 200)), 40, fill="white"),
            engine.CONTENT_BLANK,
        ),
        (
            "one pixel wide",
            Image.fromarray(np.random.default_rng(3).integers(0, 256, (480, 1), dtype=np.uint8)),
            engine.CONTENT_TOO_SMALL,
        ),
        (
            # every column is one flat line: peeled away like a border
            "horizontal gradient",
            Image.fromarray(np.tile(np.linspace(250, 5, 320).astype(np.uint8), (240, 1))),
            engine.CONTENT_BLANK,
        ),
        (
            # no flat line, but the 9 x 9 grey is one uniform grey: its bits are noise
            "pixel checkerboard",
            Image.fromarray((np.indices((240, 320)).sum(0) % 2 * 255).astype(np.uint8)),
            engine.CONTENT_FLAT,
        ),
    ],
)
def test_inputs_without_a_picture_are_hashed_with_a_code_that_forbids_links(name, image, content):
    result = hash_bytes(_encode(image, "PNG"))
    assert result.content == content, name
    assert not result.linkable
    assert result.trim_row is None and result.trim_hex is None
    # The lab's hashes are still there (parity), only the links are refused.
    assert len(result.hex(8)) == 32


def test_a_small_picture_in_a_wide_frame_gets_no_trimmed_hash_but_keeps_its_own_links():
    # The box is 22 % of each side (under MIN_CONTENT_SHARE): too little of the frame to be the
    # picture, while the frame as a whole still has enough structure for the size-8 hash.
    inner = _photo("astronaut").resize((88, 88))
    framed = ImageOps.expand(inner, 156, fill="white")
    result = hash_bytes(_encode(framed, "PNG"))
    assert result.content == engine.CONTENT_SMALL_BOX
    assert result.content_box == (156, 156, 244, 244)
    assert result.trim_row is None and result.linkable


def test_the_dbt_project_lets_exactly_the_engines_linkable_content_link():
    from assets.dedup.project import dbt_vars

    assert tuple(dbt_vars()["dedup_linkable_content"]) == engine.LINKABLE_CONTENT

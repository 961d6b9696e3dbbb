"""The one decode policy: what it accepts, what it rejects and why."""

import numpy as np
import pytest
from PIL import Image, ImageOps

from assets.decode import DecodePolicy, UndecodableImageError, probe_image
from assets.hashing.gray import decode_gray
from tests.support.images import encode, photo


def test_probe_reads_catalog_facts_of_a_real_photo():
    probe = probe_image(encode(photo("coffee.png"), quality=90))
    assert (probe.width, probe.height, probe.format, probe.mode) == (600, 400, "JPEG", "RGB")
    assert probe.frame_count == 1 and not probe.is_animated and probe.exif_orientation is None


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", "empty_file"),
        (b"<html>403 Forbidden</html>", "unidentified_format"),
    ],
)
def test_probe_rejects_non_images_with_a_reason(data, reason):
    with pytest.raises(UndecodableImageError) as info:
        probe_image(data)
    assert info.value.reason == reason


def test_probe_finds_a_truncated_jpeg_that_opens_but_does_not_decode():
    data = encode(photo("coffee.png"), quality=90)
    with pytest.raises(UndecodableImageError) as info:
        probe_image(data[: len(data) // 3])
    assert info.value.reason == "corrupt_data"


def test_images_over_the_pixel_limit_are_rejected_before_decoding():
    data = encode(Image.new("L", (400, 300)), "PNG")
    with pytest.raises(UndecodableImageError) as info:
        probe_image(data, DecodePolicy(max_pixels=100_000))
    assert info.value.reason == "decompression_bomb"
    assert probe_image(data, DecodePolicy(max_pixels=120_000)).width == 400


def test_animated_gif_reports_frames_and_decodes_the_first_one():
    first = Image.new("L", (20, 10), 10)
    second = Image.new("L", (20, 10), 200)
    data = encode(first, "GIF", save_all=True, append_images=[second])
    probe = probe_image(data)
    assert probe.frame_count == 2 and probe.is_animated
    assert int(decode_gray(data).mean()) == int(np.asarray(first.convert("L")).mean())


def test_exif_orientation_is_applied_by_default_and_can_be_turned_off():
    upright = photo("chelsea.png").convert("L")
    exif = Image.Exif()
    exif[0x0112] = 6
    stored = upright.rotate(90, expand=True)
    data = encode(stored, "PNG", exif=exif.tobytes())
    assert probe_image(data).exif_orientation == 6
    applied = decode_gray(data)
    with Image.open(__import__("io").BytesIO(data)) as opened:
        expected = np.asarray(ImageOps.exif_transpose(opened).convert("L"))
    np.testing.assert_array_equal(applied, expected)
    assert applied.shape == (upright.height, upright.width)
    raw = decode_gray(data, DecodePolicy(apply_exif_orientation=False))
    assert raw.shape == (stored.height, stored.width)


def test_transparency_is_composited_on_white_like_the_dhash_package():
    rgba = Image.new("RGBA", (4, 4), (0, 0, 0, 0))
    assert decode_gray(encode(rgba, "PNG")).min() == 255

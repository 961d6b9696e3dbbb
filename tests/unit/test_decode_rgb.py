"""decode_rgb follows the same decode policy as decode_gray."""

import io

import numpy as np
import pytest
from PIL import Image

from assets.decode import DecodePolicy, UndecodableImageError, decode_rgb
from assets.hashing.gray import decode_gray


def _save(image: Image.Image, fmt: str, **kwargs) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **kwargs)
    return buffer.getvalue()


def test_transparent_pixels_become_white_and_opaque_ones_keep_their_colour():
    image = Image.new("RGBA", (2, 1), (0, 0, 0, 0))
    image.putpixel((1, 0), (10, 20, 30, 255))
    rgb = decode_rgb(_save(image, "PNG"))
    assert rgb.shape == (1, 2, 3) and rgb.dtype == np.uint8
    assert rgb[0, 0].tolist() == [255, 255, 255]
    assert rgb[0, 1].tolist() == [10, 20, 30]


def test_greyscale_with_alpha_is_composited_on_white_like_decode_gray():
    image = Image.new("LA", (3, 2), (0, 0))
    image.putpixel((0, 0), (100, 255))
    data = _save(image, "PNG")
    assert decode_rgb(data)[:, :, 0].tolist() == decode_gray(data).tolist()


def test_exif_orientation_is_applied_unless_the_policy_says_not_to():
    stored = Image.new("RGB", (4, 2), (0, 0, 255))
    stored.putpixel((0, 0), (255, 0, 0))
    exif = Image.Exif()
    exif[0x0112] = 6  # displayed rotated 90° clockwise
    data = _save(stored, "PNG", exif=exif.tobytes())
    assert decode_rgb(data).shape == (4, 2, 3)
    assert decode_rgb(data, DecodePolicy(apply_exif_orientation=False)).shape == (2, 4, 3)
    # After a clockwise turn the top-left red pixel lands at the top right.
    assert decode_rgb(data)[0, 1].tolist() == [255, 0, 0]


def test_only_the_first_frame_of_an_animation_is_used():
    frames = [Image.new("RGB", (4, 4), c) for c in ((255, 0, 0), (0, 255, 0))]
    data = _save(frames[0], "GIF", save_all=True, append_images=frames[1:])
    assert decode_rgb(data)[0, 0].tolist() == [255, 0, 0]


def test_the_decompression_bomb_limit_applies():
    data = _save(Image.new("RGB", (100, 100)), "PNG")
    with pytest.raises(UndecodableImageError) as error:
        decode_rgb(data, DecodePolicy(max_pixels=5000))
    assert error.value.reason == "decompression_bomb"


def test_a_large_jpeg_can_be_decoded_at_reduced_scale():
    data = _save(Image.new("RGB", (800, 600), (30, 60, 90)), "JPEG", quality=90)
    assert decode_rgb(data).shape == (600, 800, 3)
    small = decode_rgb(data, draft_size=(64, 64))
    assert small.shape == (75, 100, 3)
    assert np.abs(small.astype(int) - [30, 60, 90]).max() <= 3

"""Preprocessing before the graph: resize modes, normalisation and layouts as declared."""

import io

import numpy as np
import pytest
from PIL import Image

from assets.classifier.preprocess import preprocess_image, to_layout
from assets.classifier.spec import ModelSpec


def _spec(**changes) -> ModelSpec:
    fields = {
        "input_name": "x",
        "input_size": (2, 2),
        "class_names": ("a", "b"),
        "version": "0" * 16,
        "resample": "box",
    }
    return ModelSpec(**{**fields, **changes})


def _png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


def _three_stripes() -> bytes:
    """A 6x2 image: red, green and blue vertical stripes, two pixels wide each."""
    image = Image.new("RGB", (6, 2))
    for x, colour in enumerate([(255, 0, 0)] * 2 + [(0, 255, 0)] * 2 + [(0, 0, 255)] * 2):
        for y in range(2):
            image.putpixel((x, y), colour)
    return _png(image)


def test_centre_crop_keeps_the_middle_of_a_wide_image():
    pixels = preprocess_image(_three_stripes(), _spec(resize="center_crop"))
    assert pixels.shape == (2, 2, 3)
    # The 2x2 centre is the green stripe, scaled to 0..1.
    assert np.allclose(pixels, [0.0, 1.0, 0.0])


def test_stretch_keeps_the_whole_image():
    pixels = preprocess_image(_three_stripes(), _spec(input_size=(1, 3)))
    assert np.allclose(pixels[0], np.eye(3))


def test_normalisation_is_per_channel_and_greyscale_has_one_channel():
    spec = _spec(scale=1 / 255, mean=(0.5, 0.25, 0.0), std=(0.5, 0.25, 2.0))
    pixels = preprocess_image(_png(Image.new("RGB", (3, 3), (255, 255, 255))), spec)
    assert np.allclose(pixels, [1.0, 3.0, 0.5])
    grey = preprocess_image(_png(Image.new("RGB", (3, 3), (255, 0, 0))), _spec(color_mode="L"))
    assert grey.shape == (2, 2, 1)
    assert np.allclose(grey, 76 / 255)  # Pillow's luma of pure red


@pytest.mark.parametrize(
    ("layout", "shape"), [("NHWC", (5, 2, 3, 4)), ("NCHW", (5, 4, 2, 3)), ("flat", (5, 24))]
)
def test_batches_are_arranged_in_the_declared_layout(layout, shape):
    batch = np.arange(5 * 2 * 3 * 4, dtype=np.float32).reshape(5, 2, 3, 4)
    arranged = to_layout(list(batch), layout)
    assert arranged.shape == shape and arranged.dtype == np.float32
    assert arranged.flags.c_contiguous
    if layout == "NCHW":
        assert arranged[1, 2, 0, 1] == batch[1, 0, 1, 2]

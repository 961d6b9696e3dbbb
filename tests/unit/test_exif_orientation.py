"""EXIF orientation is decided at one point and applied once, for the hash and for the model.

Pillow's TIFF loader applies a TIFF's orientation tag itself while loading and removes the tag;
JPEG and PNG keep the tag and the decoder applies it. Either way the hash and the model must see
the picture as displayed: rotated once, never twice (a regression: the model's RGB decode read
the tag before loading and rotated oriented TIFFs a second time).
"""

import io

import numpy as np
import pytest
from PIL import Image, ImageOps

from assets.classifier.preprocess import preprocess_image
from assets.classifier.spec import ModelSpec
from assets.decode import decode_rgb_image
from assets.hashing.engine import hash_bytes


def _stored() -> Image.Image:
    """A 48x32 picture whose every quarter differs, so any rotation or flip changes it."""
    rng = np.random.default_rng(7)
    pixels = (rng.random((32, 48, 3)) * 60).astype(np.uint8)
    pixels[:16, :24] += 180  # a bright top-left corner
    pixels[16:, 24:, 2] += 120
    return Image.fromarray(pixels)


def _encode(image: Image.Image, fmt: str, orientation: int | None = None) -> bytes:
    buffer = io.BytesIO()
    kwargs = {"quality": 95} if fmt == "JPEG" else {}
    if orientation is not None:
        exif = Image.Exif()
        exif[0x0112] = orientation
        kwargs["exif"] = exif
    image.save(buffer, fmt, **kwargs)
    return buffer.getvalue()


def _displayed(data: bytes) -> Image.Image:
    """The picture as a viewer shows it: decoded, then ImageOps.exif_transpose on what's left."""
    image = Image.open(io.BytesIO(data))
    image.load()
    return ImageOps.exif_transpose(image).convert("RGB")


ORIENTED = [(fmt, o) for fmt in ("TIFF", "JPEG") for o in (3, 6, 8)]


@pytest.mark.parametrize(("fmt", "orientation"), ORIENTED)
def test_the_model_sees_an_oriented_file_as_displayed(fmt, orientation):
    data = _encode(_stored(), fmt, orientation)
    displayed = _displayed(data)
    if orientation in (6, 8):
        assert displayed.size == (32, 48)  # the viewer's picture is portrait
    decoded = decode_rgb_image(data)
    assert decoded.size == displayed.size
    assert np.array_equal(np.asarray(decoded), np.asarray(displayed))
    spec = ModelSpec(input_name="x", input_size=(32, 32), class_names=("a", "b"), version="v")
    reference = _encode(displayed, "PNG")  # 32 on the longer side: no reduced JPEG decode
    assert np.array_equal(preprocess_image(data, spec), preprocess_image(reference, spec))


@pytest.mark.parametrize(("fmt", "orientation"), ORIENTED)
def test_the_hash_sees_an_oriented_file_as_displayed(fmt, orientation):
    data = _encode(_stored(), fmt, orientation)
    reference = _encode(_displayed(data), "PNG")
    got, want = hash_bytes(data), hash_bytes(reference)
    assert (got.width, got.height) == (want.width, want.height)
    assert (got.rows, got.cols) == (want.rows, want.cols)

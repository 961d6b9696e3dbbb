"""The rendered digits are the real scikit-learn digits, deterministic, in label folders."""

import io

import numpy as np
from PIL import Image
from sklearn.datasets import load_digits

from assets.demo.digits import render_digits, write_digits


def test_at_native_size_the_pixels_are_the_digits_as_ink_on_paper():
    digits = load_digits()
    rendered = render_digits(size=8)
    assert len(rendered) == 1797
    for digit in rendered[:50]:
        with Image.open(io.BytesIO(digit.data)) as image:
            pixels = np.asarray(image)
        expected = np.round(255 * (1 - digits.images[digit.index] / 16)).astype(np.uint8)
        assert pixels.tolist() == expected.tolist()
        assert digit.label == str(digits.target[digit.index])


def test_rendering_is_deterministic_with_and_without_jitter():
    assert [d.data for d in render_digits(32)[:20]] == [d.data for d in render_digits(32)[:20]]
    jittered = [d.data for d in render_digits(32, jitter=2, seed=1)[:20]]
    assert jittered == [d.data for d in render_digits(32, jitter=2, seed=1)[:20]]
    assert jittered != [d.data for d in render_digits(32)[:20]]


def test_the_digits_are_written_as_label_folders_of_pngs(tmp_path):
    counts = write_digits(tmp_path / "digits", size=16)
    assert list(counts) == [str(d) for d in range(10)]
    assert sum(counts.values()) == 1797
    files = sorted((tmp_path / "digits").glob("*/*.png"))
    assert len(files) == 1797
    with Image.open(files[0]) as image:
        assert image.size == (16, 16) and image.format == "PNG"

"""scikit-learn's handwritten digits rendered as image files: a classifier test with known answers.

``load_digits()`` ships 1797 real 8x8 scans (ink intensity 0..16) of the digits 0-9. They are drawn
here as dark ink on white paper, upscaled with Pillow's bicubic filter to ``size`` x ``size``
greyscale PNGs and laid out ``<digit>/digit_<index>.png`` like any labelled collection. Optional
``jitter`` shifts each digit by a seeded random whole number of pixels (at most ``jitter``) so
renders are not perfectly centred; everything is deterministic. Nothing is downloaded.
"""

import io
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image


@dataclass(frozen=True)
class DigitImage:
    """One rendered digit: ``label`` is "0".."9", ``index`` its row in ``load_digits()``."""

    index: int
    label: str
    name: str
    data: bytes


def _render(pixels: np.ndarray, size: int, shift: tuple[int, int]) -> bytes:
    ink = np.clip(pixels, 0, 16) / 16.0
    paper = np.round(255.0 * (1.0 - ink)).astype(np.uint8)
    image = Image.fromarray(paper).resize((size, size), Image.Resampling.BICUBIC)
    if shift != (0, 0):
        # Translate on a white canvas: the shifted-out border is paper, not wrapped-around ink.
        canvas = Image.new("L", (size, size), 255)
        canvas.paste(image, shift)
        image = canvas
    buffer = io.BytesIO()
    image.save(buffer, "PNG", optimize=False)
    return buffer.getvalue()


def render_digits(size: int = 32, jitter: int = 0, seed: int = 0) -> list[DigitImage]:
    """All 1797 digits as PNG bytes, in ``load_digits()`` order."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    rng = np.random.default_rng(seed)
    shifts = rng.integers(-jitter, jitter + 1, size=(len(digits.images), 2)) if jitter else None
    rendered = []
    for index, (pixels, target) in enumerate(zip(digits.images, digits.target, strict=True)):
        shift = (int(shifts[index, 0]), int(shifts[index, 1])) if shifts is not None else (0, 0)
        rendered.append(
            DigitImage(
                index=index,
                label=str(int(target)),
                name=f"digit_{index:04d}.png",
                data=_render(pixels, size, shift),
            )
        )
    return rendered


def write_digits(out: Path, size: int = 32, jitter: int = 0, seed: int = 0) -> dict[str, int]:
    """Write the digits to ``out`` (replacing it) as ``<digit>/<file>.png``; files per label."""
    if out.exists():
        shutil.rmtree(out)
    counts: dict[str, int] = {}
    for digit in render_digits(size, jitter, seed):
        folder = out / digit.label
        folder.mkdir(parents=True, exist_ok=True)
        (folder / digit.name).write_bytes(digit.data)
        counts[digit.label] = counts.get(digit.label, 0) + 1
    return dict(sorted(counts.items()))

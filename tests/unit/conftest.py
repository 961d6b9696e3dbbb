"""Fixtures of the unit tests: real photographs, as files and re-encoded as JPEG."""

import io
from pathlib import Path

import pytest
from PIL import Image

from tests.support import images as support_images


@pytest.fixture(scope="session")
def photograph_paths() -> list[Path]:
    return support_images.photograph_paths()


@pytest.fixture(scope="session")
def jpeg_photographs(photograph_paths) -> list[tuple[str, bytes]]:
    """The photographs re-encoded as JPEG at 0.6x, 1x and 2x their size (quality 88)."""
    out = []
    for path in photograph_paths:
        image = Image.open(path).convert("RGB")
        for scale in (0.6, 1.0, 2.0):
            size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
            buf = io.BytesIO()
            image.resize(size, Image.Resampling.LANCZOS).save(buf, "JPEG", quality=88)
            out.append((f"{path.stem}@{scale}", buf.getvalue()))
    return out

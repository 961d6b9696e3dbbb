import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

_SITE = Path(np.__file__).resolve().parent.parent

# Real photographs shipped inside installed packages.
_PHOTOGRAPHS = [
    "skimage/data/astronaut.png",
    "skimage/data/brick.png",
    "skimage/data/camera.png",
    "skimage/data/cell.png",
    "skimage/data/chelsea.png",
    "skimage/data/clock_motion.png",
    "skimage/data/coffee.png",
    "skimage/data/coins.png",
    "skimage/data/grass.png",
    "skimage/data/gravel.png",
    "skimage/data/hubble_deep_field.jpg",
    "skimage/data/ihc.png",
    "skimage/data/moon.png",
    "skimage/data/motorcycle_left.png",
    "skimage/data/motorcycle_right.png",
    "skimage/data/page.png",
    "skimage/data/retina.jpg",
    "skimage/data/rocket.jpg",
    "skimage/data/text.png",
    "sklearn/datasets/images/china.jpg",
    "sklearn/datasets/images/flower.jpg",
    "matplotlib/mpl-data/sample_data/grace_hopper.jpg",
]


@pytest.fixture(scope="session")
def photograph_paths() -> list[Path]:
    paths = [_SITE / rel for rel in _PHOTOGRAPHS]
    missing = [str(p) for p in paths if not p.is_file()]
    assert not missing, f"demo photographs missing from the environment: {missing}"
    return paths


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

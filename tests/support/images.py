"""Small real image files for tests, cut from photographs shipped inside installed packages."""

import io
from pathlib import Path

import numpy as np
from PIL import Image

SITE = Path(np.__file__).resolve().parent.parent

# Real photographs shipped inside installed packages.
PHOTOGRAPHS = [
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


def photo(name: str = "chelsea.png") -> Image.Image:
    import skimage

    with Image.open(Path(skimage.__file__).parent / "data" / name) as image:
        return image.convert("RGB")


def demo_photo(name: str = "astronaut") -> Image.Image:
    """The demo collection's photograph ``name`` (``assets.demo.collection.source_photos``), RGB."""
    from assets.demo.collection import source_photos

    path = next(p.path for p in source_photos() if p.name == name)
    with Image.open(path) as opened:
        return opened.convert("RGB")


def encode(image: Image.Image, fmt: str = "JPEG", **kwargs) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **kwargs)
    return buffer.getvalue()


def write_collection(root: Path) -> dict[str, Path]:
    """A tiny <label>/<file> collection: two labels, a near-duplicate, a corrupt file."""
    cat = photo("chelsea.png")
    coffee = photo("coffee.png")
    files = {
        "cat": root / "animals" / "cat.jpg",
        "cat_small": root / "animals" / "cat_small.png",
        "coffee": root / "objects" / "coffee.jpg",
        "gray": root / "objects" / "noise.png",
        "corrupt": root / "objects" / "broken.jpg",
    }
    for path in files.values():
        path.parent.mkdir(parents=True, exist_ok=True)
    files["cat"].write_bytes(encode(cat, quality=90))
    files["cat_small"].write_bytes(encode(cat.resize((225, 150)), "PNG"))
    files["coffee"].write_bytes(encode(coffee, quality=90))
    rng = np.random.default_rng(7)
    noise = Image.fromarray(rng.integers(0, 255, (40, 60), dtype=np.uint8), "L")
    files["gray"].write_bytes(encode(noise, "PNG"))
    files["corrupt"].write_bytes(encode(coffee, quality=90)[:2000])
    return files


def photograph_paths() -> list[Path]:
    """The photographs above, failing loudly when the environment lacks one."""
    paths = [SITE / rel for rel in PHOTOGRAPHS]
    missing = [str(p) for p in paths if not p.is_file()]
    assert not missing, f"demo photographs missing from the environment: {missing}"
    return paths

"""Small real image files for tests, cut from photographs shipped inside installed packages."""

import io
from pathlib import Path

import numpy as np
from PIL import Image


def photo(name: str = "chelsea.png") -> Image.Image:
    import skimage

    with Image.open(Path(skimage.__file__).parent / "data" / name) as image:
        return image.convert("RGB")


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

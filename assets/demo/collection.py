"""A realistic labelled demo collection built from photographs that ship inside installed packages.

Web-scraped collections are full of near-duplicates: the same photo resized, re-compressed,
cropped, brightened, converted to PNG, or rotated by an EXIF tag; and of byte-identical copies under
other names. This builder makes those from real photographs (scikit-image, scikit-learn and
matplotlib sample data), adds distinct tiles of large photos as true negatives, and a few files a
real collection also has: a truncated JPEG, a text file, an animated GIF, a file Pillow cannot
identify and names with spaces and non-ASCII characters. Nothing is downloaded.
"""

import io
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageEnhance


@dataclass(frozen=True)
class Photo:
    """A photograph shipped inside an installed package, with the label it gets in the demo."""

    label: str
    name: str
    path: Path


def _skimage_dir() -> Path:
    import skimage

    return Path(skimage.__file__).parent / "data"


def _sklearn_dir() -> Path:
    import sklearn.datasets

    return Path(sklearn.datasets.__file__).parent / "images"


def _matplotlib_dir() -> Path:
    import matplotlib

    return Path(matplotlib.get_data_path()) / "sample_data"


def source_photos() -> list[Photo]:
    sk, sl, mpl = _skimage_dir(), _sklearn_dir(), _matplotlib_dir()
    spec = {
        "people": [(sk, "astronaut.png"), (sk, "camera.png"), (mpl, "grace_hopper.jpg")],
        "animals": [(sk, "chelsea.png"), (sk, "horse.png")],
        "places": [(sl, "china.jpg"), (sk, "hubble_deep_field.jpg"), (sk, "moon.png")],
        "objects": [
            (sk, "coffee.png"),
            (sk, "rocket.jpg"),
            (sk, "coins.png"),
            (sk, "motorcycle_left.png"),
            (sk, "motorcycle_right.png"),
            (sk, "clock_motion.png"),
        ],
        "nature": [(sl, "flower.jpg"), (sk, "grass.png"), (sk, "gravel.png")],
        "microscopy": [(sk, "cell.png"), (sk, "ihc.png"), (sk, "retina.jpg")],
    }
    photos = []
    for label, items in spec.items():
        for folder, filename in items:
            path = folder / filename
            if not path.is_file():
                raise FileNotFoundError(f"demo photograph {path} is missing from its package")
            photos.append(Photo(label, Path(filename).stem, path))
    return photos


def _rgb(image: Image.Image) -> Image.Image:
    if image.mode in ("RGBA", "LA"):
        background = Image.new("RGB", image.size, "white")
        background.paste(image, mask=image.split()[-1])
        return background
    return image.convert("RGB") if image.mode not in ("RGB", "L") else image


def _jpeg(image: Image.Image, quality: int, exif: bytes | None = None) -> bytes:
    buffer = io.BytesIO()
    kwargs = {"exif": exif} if exif else {}
    image.save(buffer, "JPEG", quality=quality, **kwargs)
    return buffer.getvalue()


def _png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "PNG", optimize=False)
    return buffer.getvalue()


def _variants(photo: Photo, image: Image.Image, index: int) -> Iterator[tuple[str, bytes]]:
    """The original plus the near-duplicates a scraper would have collected for it."""
    w, h = image.size
    yield f"{photo.name}.jpg", _jpeg(image, 92)
    kinds = index % 4
    # Every photo gets at least two near-duplicates; the mix rotates so all kinds appear.
    yield (
        f"{photo.name}_small.jpg",
        _jpeg(image.resize((w // 2, h // 2), Image.Resampling.LANCZOS), 85),
    )
    if kinds in (0, 2):
        yield f"{photo.name}_q35.jpg", _jpeg(image, 35)
    if kinds in (1, 3):
        box = (int(w * 0.03), int(h * 0.03), w - int(w * 0.03), h - int(h * 0.03))
        yield f"{photo.name}_cropped.jpg", _jpeg(image.crop(box), 90)
    if kinds in (0, 1):
        yield f"{photo.name}_bright.jpg", _jpeg(ImageEnhance.Brightness(image).enhance(1.2), 90)
    if kinds in (2, 3):
        yield (
            f"{photo.name}_copy.png",
            _png(image.resize((w * 3 // 4, h * 3 // 4), Image.Resampling.BICUBIC)),
        )
    if index % 5 == 0:
        # Stored rotated with an EXIF tag that rotates it back: same picture when displayed.
        exif = Image.Exif()
        exif[0x0112] = 6
        yield (
            f"{photo.name}_exif_rotated.jpg",
            _jpeg(image.rotate(90, expand=True), 90, exif.tobytes()),
        )


def _tiles(photo: Photo, image: Image.Image) -> Iterator[tuple[str, bytes]]:
    """Distinct negatives: non-overlapping tiles of a large photo are different pictures."""
    w, h = image.size
    if w < 480 or h < 400:
        return
    for i, (x, y) in enumerate([(0, 0), (w // 2, 0), (0, h // 2), (w // 2, h // 2)]):
        yield f"{photo.name}_tile{i}.jpg", _jpeg(image.crop((x, y, x + w // 2, y + h // 2)), 90)


def build_demo_collection(out: Path, tiles: bool = True) -> dict[str, int]:
    """Write the collection to ``out`` (replacing it) and return files per label."""
    if out.exists():
        shutil.rmtree(out)
    counts: dict[str, int] = {}

    def write(label: str, name: str, data: bytes) -> None:
        folder = out / label
        folder.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(data)
        counts[label] = counts.get(label, 0) + 1

    for index, photo in enumerate(source_photos()):
        with Image.open(photo.path) as opened:
            image = _rgb(opened.copy())
        for name, data in _variants(photo, image, index):
            write(photo.label, name, data)
        if tiles:
            for name, data in _tiles(photo, image):
                write(photo.label, name, data)

    people = out / "people"
    # A byte-identical copy under another (awkward) name, as downloads often produce.
    write("people", "grace hopper (copy) #2.jpg", (people / "grace_hopper.jpg").read_bytes())
    write("nature", "fleur_café_crème.jpg", (out / "nature" / "flower.jpg").read_bytes())
    # Lossless PNG of a greyscale photo with transparency (mode LA) and a palette image.
    with Image.open(_skimage_dir() / "coins.png") as coins:
        la = coins.convert("L")
        alpha = Image.fromarray((np.indices(la.size[::-1]).sum(0) % 255).astype(np.uint8))
        la.putalpha(alpha)
        write("objects", "coins_transparent.png", _png(la))
        write("objects", "coins_palette.gif", _gif(coins.convert("P")))
    with Image.open(_skimage_dir() / "chelsea.png") as cat:
        frames = [cat.convert("P"), cat.rotate(10).convert("P"), cat.rotate(20).convert("P")]
        buffer = io.BytesIO()
        frames[0].save(buffer, "GIF", save_all=True, append_images=frames[1:], duration=100)
        write("animals", "chelsea_animated.gif", buffer.getvalue())
    # Files a scraper also brings home: they must be quarantined with a reason, not crash a run.
    rocket = (out / "objects" / "rocket.jpg").read_bytes()
    write("objects", "rocket_truncated.jpg", rocket[: len(rocket) // 3])
    write("objects", "download_error.jpg", b"<html><body>403 Forbidden</body></html>")
    write("microscopy", "multipage_rgb.tif", (_skimage_dir() / "multipage_rgb.tif").read_bytes())
    return counts


def _gif(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "GIF")
    return buffer.getvalue()

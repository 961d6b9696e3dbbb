"""A labelled near-duplicate benchmark built from the demo's photographs (nothing downloaded).

Every photograph of the demo collection (``collection.source_photos``) is written once as an
original, then as the copies a real web-style collection holds, each family at several
strengths: resizes, re-compressions, format changes, small crops, slight rotations,
brightness/gamma changes, EXIF rotations and solid borders (padding and letterbox bars of a few
pixels to a tenth of a side, on one or more sides, black, white or any flat colour). All of them
share the original's ``group``: they are true duplicates.

Negatives that must stay apart get groups of their own: neighbouring tiles of one large photo
(each tile also re-encoded, so a tile has a duplicate of its own), mirror images and 90° pixel
rotations (different images unless a user decides otherwise), and degenerate files that must
never link anything (blank images, an all-border image, a 1-pixel-wide image, a fully
transparent PNG).

The manifest (``labels.csv``) has one row per file: ``file`` (relative path ``<label>/<name>``),
``group``, ``family``, ``strength`` and ``source`` (the photograph). It is what
``assets.dedup.quality`` scores a dedup rule against; the files are a collection like any other
(``<label>/<file>``), so the platform can also ingest it.
"""

import csv
import io
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageEnhance, ImageOps

from assets.demo.collection import Photo, _rgb, source_photos

MANIFEST = "labels.csv"
# Bump when the files change, so a built copy is rebuilt.
BENCHMARK_VERSION = "dedup-benchmark-v2"

# The transform families a duplicate belongs to (the ``family`` column), in report order.
FAMILIES = (
    "resize",
    "recompress",
    "format",
    "crop",
    "rotate",
    "brightness",
    "exif_rotation",
    "border",
)
NEGATIVE_FAMILIES = ("original", "tile", "mirror", "rotate90", "degenerate")


@dataclass(frozen=True)
class Item:
    """One file of the labelled dedup benchmark: its transform family and strength."""

    name: str
    family: str
    strength: str
    data: bytes


def _save(image: Image.Image, fmt: str, **options) -> bytes:
    buffer = io.BytesIO()
    if fmt == "JPEG" and image.mode not in ("RGB", "L"):
        image = image.convert("RGB")
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


def _jpeg(image: Image.Image, quality: int = 90, **options) -> bytes:
    return _save(image, "JPEG", quality=quality, **options)


def _gamma(image: Image.Image, gamma: float) -> Image.Image:
    table = [round(255 * (i / 255) ** gamma) for i in range(256)]
    return image.point(table * len(image.getbands()))


def _rotate_crop(image: Image.Image, degrees: float) -> Image.Image:
    """A slightly rotated scan: rotated about the centre, the blank corners cropped away."""
    w, h = image.size
    rotated = image.rotate(degrees, Image.Resampling.BICUBIC, expand=False)
    # The largest axis-aligned box of the original size ratio inside the rotated frame.
    a = np.radians(abs(degrees))
    scale = 1.0 / (np.cos(a) + np.sin(a) * max(w / h, h / w))
    cw, ch = int(w * scale), int(h * scale)
    left, top = (w - cw) // 2, (h - ch) // 2
    return rotated.crop((left, top, left + cw, top + ch))


def _border(image: Image.Image, share: float, sides: str, colour, min_px: int = 0) -> Image.Image:
    """Solid bars of ``share`` of the side (at least ``min_px``) on ``sides`` (of 'tblr')."""
    w, h = image.size
    vertical = max(min_px, round(share * h))
    horizontal = max(min_px, round(share * w))
    return ImageOps.expand(
        image,
        (
            horizontal if "l" in sides else 0,
            vertical if "t" in sides else 0,
            horizontal if "r" in sides else 0,
            vertical if "b" in sides else 0,
        ),
        fill=colour,
    )


def _exif_rotated(image: Image.Image, orientation: int) -> bytes:
    """Stored turned the other way, with the EXIF tag that turns it back for display."""
    stored = {
        3: Image.Transpose.ROTATE_180,
        6: Image.Transpose.ROTATE_90,
        8: Image.Transpose.ROTATE_270,
    }[orientation]
    exif = Image.Exif()
    exif[0x0112] = orientation
    return _jpeg(image.transpose(stored), 90, exif=exif.tobytes())


def _duplicates(name: str, image: Image.Image, index: int) -> Iterator[Item]:
    """The original and every duplicate family of one photograph."""
    w, h = image.size
    rng = np.random.default_rng(index)
    yield Item(f"{name}.jpg", "original", "q90", _jpeg(image, 90))

    for share, method in (
        (0.75, "LANCZOS"),
        (0.5, "BICUBIC"),
        (0.33, "BILINEAR"),
        (1.5, "BICUBIC"),
    ):
        size = (max(1, round(w * share)), max(1, round(h * share)))
        resized = image.resize(size, getattr(Image.Resampling, method))
        yield Item(f"{name}_resize{round(share * 100)}.jpg", "resize", f"{share}x", _jpeg(resized))

    for quality in (75, 50, 30, 15):
        yield Item(f"{name}_q{quality}.jpg", "recompress", f"q{quality}", _jpeg(image, quality))

    yield Item(f"{name}_lossless.png", "format", "png", _save(image, "PNG"))
    yield Item(f"{name}_web.webp", "format", "webp q80", _save(image, "WEBP", quality=80))
    palette = image.convert("P", palette=Image.Palette.ADAPTIVE, colors=256)
    yield Item(f"{name}_palette.gif", "format", "gif 256 colours", _save(palette, "GIF"))
    yield Item(f"{name}_bitmap.bmp", "format", "bmp", _save(image, "BMP"))

    # Small crops: 1-3 % off every side (a re-framed thumbnail), or a strip off one side.
    for share in (0.01, 0.02, 0.03):
        dx, dy = round(w * share), round(h * share)
        cropped = image.crop((dx, dy, w - dx, h - dy))
        yield Item(
            f"{name}_crop{round(share * 100)}.jpg", "crop", f"{share:.0%} per side", _jpeg(cropped)
        )
    # One side only: a caption strip or a watermark cut away.
    cropped = image.crop((0, 0, w, h - round(h * 0.05)))
    yield Item(f"{name}_crop_bottom5.jpg", "crop", "5% bottom", _jpeg(cropped))

    # Slight rotations: a re-photographed or scanned print, corners cropped away or left blank.
    for degrees in (0.5, -1.0):
        rotated = _rotate_crop(image, degrees)
        yield Item(
            f"{name}_rotate{degrees:+.1f}.jpg",
            "rotate",
            f"{degrees:+.1f} deg, cropped",
            _jpeg(rotated),
        )
    scanned = image.rotate(1.5, Image.Resampling.BICUBIC, expand=False, fillcolor="white")
    yield Item(f"{name}_rotate+1.5.jpg", "rotate", "+1.5 deg, white corners", _jpeg(scanned))

    for factor in (0.8, 1.25):
        brighter = ImageEnhance.Brightness(image).enhance(factor)
        yield Item(
            f"{name}_bright{round(factor * 100)}.jpg", "brightness", f"x{factor}", _jpeg(brighter)
        )
    for gamma in (0.7, 1.4):
        yield Item(
            f"{name}_gamma{round(gamma * 10)}.jpg",
            "brightness",
            f"gamma {gamma}",
            _jpeg(_gamma(image, gamma)),
        )

    for orientation in (3, 6, 8):
        yield Item(
            f"{name}_exif{orientation}.jpg",
            "exif_rotation",
            f"orientation {orientation}",
            _exif_rotated(image, orientation),
        )

    flat = tuple(int(c) for c in rng.integers(0, 256, 3))
    borders = [
        (0.0, "t", "black", 4, "4 px black top"),
        (0.02, "tb", "black", 0, "2% black letterbox"),
        (0.1, "tb", "black", 0, "10% black letterbox"),
        (0.06, "lr", "black", 0, "6% black pillarbox"),
        (0.03, "tblr", "white", 0, "3% white frame"),
        (0.1, "tblr", "white", 0, "10% white frame"),
        (0.05, "l", (128, 128, 128), 0, "5% grey left"),
        (0.08, "tblr", flat, 0, "8% flat colour frame"),
        (0.04, "br", flat, 0, "4% flat colour bottom+right"),
    ]
    for i, (share, sides, colour, min_px, strength) in enumerate(borders):
        bordered = _border(image, share, sides, colour, min_px)
        data = _jpeg(bordered, 85) if i % 3 else _save(bordered, "PNG")
        ext = "jpg" if i % 3 else "png"
        yield Item(f"{name}_border{i}.{ext}", "border", strength, data)
    # A letterboxed copy that was also resized and re-compressed, as a re-upload would be.
    small = _border(image, 0.07, "tb", "black").resize((w // 2, round(h * 1.14) // 2))
    yield Item(
        f"{name}_border_small.jpg", "border", "7% letterbox, half size, q60", _jpeg(small, 60)
    )


def _tiles(name: str, image: Image.Image) -> Iterator[tuple[str, Item, Item]]:
    """Neighbouring tiles of one photo, each with a re-encoded duplicate of its own."""
    w, h = image.size
    cols, rows = (3, 2) if w >= 600 else (2, 2)
    tw, th = w // cols, h // rows
    for r in range(rows):
        for c in range(cols):
            tile = image.crop((c * tw, r * th, (c + 1) * tw, (r + 1) * th))
            tag = f"{name}_tile{r}{c}"
            yield (
                tag,
                Item(f"{tag}.jpg", "tile", f"{cols}x{rows} grid", _jpeg(tile, 90)),
                Item(f"{tag}_q50.jpg", "recompress", "q50 (tile)", _jpeg(tile, 50)),
            )


def _degenerate() -> Iterator[Item]:
    """Files whose hashes carry no picture: each must stay alone."""
    yield Item(
        "blank_white.png",
        "degenerate",
        "blank white",
        _save(Image.new("RGB", (320, 240), "white"), "PNG"),
    )
    yield Item(
        "blank_black.jpg", "degenerate", "blank black", _jpeg(Image.new("RGB", (400, 300), "black"))
    )
    yield Item(
        "blank_grey.png", "degenerate", "blank grey", _save(Image.new("L", (256, 256), 128), "PNG")
    )
    yield Item(
        "transparent.png",
        "degenerate",
        "fully transparent",
        _save(Image.new("RGBA", (300, 200), (0, 0, 0, 0)), "PNG"),
    )
    frame = ImageOps.expand(Image.new("RGB", (200, 150), (30, 60, 200)), 40, fill="white")
    yield Item("all_border.png", "degenerate", "all border", _save(frame, "PNG"))
    noise = np.random.default_rng(7).integers(0, 256, (480, 1), dtype=np.uint8)
    yield Item(
        "one_pixel_wide.png", "degenerate", "1 px wide", _save(Image.fromarray(noise), "PNG")
    )
    ramp = np.tile(np.linspace(250, 5, 320).astype(np.uint8), (240, 1))
    yield Item("gradient.png", "degenerate", "smooth gradient", _save(Image.fromarray(ramp), "PNG"))


def build_benchmark(out: Path, photos: list[Photo] | None = None) -> dict[str, int]:
    """Write the benchmark collection and ``labels.csv`` to ``out`` (replaced); files per family."""
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    rows: list[dict] = []
    counts: dict[str, int] = {}

    def write(label: str, group: str, source: str, item: Item) -> None:
        folder = out / label
        folder.mkdir(exist_ok=True)
        (folder / item.name).write_bytes(item.data)
        rows.append(
            {
                "file": f"{label}/{item.name}",
                "group": group,
                "family": item.family,
                "strength": item.strength,
                "source": source,
            }
        )
        counts[item.family] = counts.get(item.family, 0) + 1

    for index, photo in enumerate(photos or source_photos()):
        with Image.open(photo.path) as opened:
            image = _rgb(opened.copy()).convert("RGB")
        for item in _duplicates(photo.name, image, index):
            write(photo.label, photo.name, photo.name, item)
        mirror = ImageOps.mirror(image)
        write(
            photo.label,
            f"{photo.name}~mirror",
            photo.name,
            Item(f"{photo.name}_mirror.jpg", "mirror", "left-right", _jpeg(mirror)),
        )
        turned = image.transpose(Image.Transpose.ROTATE_90)
        write(
            photo.label,
            f"{photo.name}~rot90",
            photo.name,
            Item(f"{photo.name}_rot90.jpg", "rotate90", "90 deg, no EXIF", _jpeg(turned)),
        )
        if image.width >= 400 and image.height >= 300:
            for tag, tile, copy in _tiles(photo.name, image):
                write(photo.label, tag, photo.name, tile)
                write(photo.label, tag, photo.name, copy)
    for item in _degenerate():
        write("degenerate", f"~{item.name}", "", item)
    with open(out / MANIFEST, "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=["file", "group", "family", "strength", "source"])
        writer.writeheader()
        writer.writerows(rows)
    (out / "VERSION").write_text(BENCHMARK_VERSION + "\n")
    return counts


def ensure_benchmark(out: Path) -> Path:
    """The benchmark at ``out``, built unless a copy of this version is already there."""
    version = out / "VERSION"
    if not (version.is_file() and version.read_text().strip() == BENCHMARK_VERSION):
        build_benchmark(out)
    return out

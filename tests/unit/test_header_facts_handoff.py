"""The hash engine hands the catalog the header facts of its own open of the bytes: they equal
``probe_header``'s, the hashes are those of a decode that reads no facts, and the catalog's rows
are those it writes when it opens every file a second time for them."""

import dataclasses
from datetime import UTC, datetime

import numpy as np
import pytest
from PIL import Image

from assets.decode import DecodePolicy, UndecodableImageError, probe_header
from assets.hashing import engine
from assets.ingest.assets import HandoffHasher
from assets.ingest.catalog import catalog_entries
from assets.ingest.sources import SourceEntry
from tests.support.images import encode, photo

ORIENTATION = 0x0112


def _camera_exif(orientation: int) -> Image.Exif:
    exif = Image.Exif()
    exif[ORIENTATION] = orientation
    exif[0x010F] = "Canon"
    exif[0x0110] = "EOS 5D"
    exif.get_ifd(0x8769)[0x9003] = "2024:05:06 07:08:09"
    exif.get_ifd(0x8825).update({1: "N", 2: (48.0, 51.0, 24.0), 3: "E", 4: (2.0, 21.0, 3.0)})
    return exif


def _gif_animated(base: Image.Image) -> bytes:
    first = base.convert("P", palette=Image.Palette.ADAPTIVE, colors=64)
    second = base.rotate(90).convert("P", palette=Image.Palette.ADAPTIVE, colors=64)
    second.info["transparency"] = 3  # a transparent index the first frame has not
    return encode(first, "GIF", save_all=True, append_images=[second], duration=[80, 120])


def _images() -> dict[str, bytes]:
    cat = photo("chelsea.png").resize((240, 160))
    coffee = photo("coffee.png").resize((200, 150))
    rgba = cat.convert("RGBA")
    alpha = np.zeros((160, 240), np.uint8)
    alpha[20:140, 30:210] = 255
    rgba.putalpha(Image.fromarray(alpha, "L"))
    tiff_exif = Image.Exif()
    tiff_exif[ORIENTATION] = 6
    rgb_png_exif = encode(coffee, "PNG", exif=_camera_exif(8))
    truncated = encode(coffee, "PNG")
    return {
        "rotated.jpg": encode(cat, quality=88, exif=_camera_exif(6)),
        "plain.jpg": encode(coffee, quality=90),
        "gray.jpg": encode(coffee.convert("L"), quality=90),
        "cmyk.jpg": encode(cat.convert("CMYK"), quality=90, exif=_camera_exif(3)),
        "oriented.tif": encode(cat, "TIFF", exif=tiff_exif),
        "oriented-lzw.tif": encode(coffee, "TIFF", exif=tiff_exif, compression="tiff_lzw"),
        "pages.tif": encode(cat, "TIFF", save_all=True, append_images=[coffee], exif=tiff_exif),
        "animated.gif": _gif_animated(cat),
        "still.gif": encode(coffee.convert("P"), "GIF"),
        "alpha.png": encode(rgba, "PNG"),
        "exif.png": rgb_png_exif,
        "palette.png": encode(cat.convert("P"), "PNG", transparency=5),
        "animated.png": encode(cat, "PNG", save_all=True, append_images=[coffee.resize(cat.size)]),
        "photo.mpo": encode(
            cat, "MPO", save_all=True, append_images=[coffee.resize(cat.size)], exif=_camera_exif(6)
        ),
        "animated.webp": encode(
            cat, "WEBP", save_all=True, append_images=[cat.rotate(180)], exif=_camera_exif(6)
        ),
        "large.bmp": encode(coffee, "BMP"),
        "truncated.png": truncated[: len(truncated) // 2],
        "truncated.jpg": encode(coffee, quality=90)[:3000],
    }


IMAGES = _images()


def _hash(data: bytes, mode: str, policy: DecodePolicy, facts: bool):
    try:
        return engine.hash_bytes(data, mode=mode, policy=policy, facts=facts)  # type: ignore[arg-type]
    except UndecodableImageError as exc:
        return ("undecodable", exc.reason, exc.detail)


@pytest.mark.parametrize("apply_exif", [True, False])
@pytest.mark.parametrize("mode", ["exact", "fast"])
@pytest.mark.parametrize("name", sorted(IMAGES))
def test_the_engine_hands_probe_headers_facts_and_hashes_as_without_them(name, mode, apply_exif):
    if mode == "exact" and not engine.EXACT_MODE_AVAILABLE:
        pytest.skip("exact mode needs the replicated Pillow")
    data = IMAGES[name]
    policy = DecodePolicy(apply_exif_orientation=apply_exif)
    with_facts = _hash(data, mode, policy, facts=True)
    without = _hash(data, mode, policy, facts=False)
    # The same hashes, content box and probes (facts are not part of a result's equality), or
    # the same refusal.
    assert with_facts == without
    if isinstance(without, tuple):
        assert name.startswith("truncated")
        return
    assert without.facts is None
    if with_facts.facts is None:
        # Only the fast mode's direct JPEG decode opens no Pillow image; the catalog then
        # probes the header itself.
        assert mode == "fast" and data.startswith(b"\xff\xd8\xff")
        return
    assert with_facts.facts == probe_header(data, policy)


def test_the_varied_images_cover_what_the_facts_must_get_right():
    facts = {n: probe_header(d) for n, d in IMAGES.items() if not n.startswith("truncated")}
    assert facts["rotated.jpg"].exif_orientation == 6
    assert facts["rotated.jpg"].photo.has_gps and facts["rotated.jpg"].photo.captured_at
    assert facts["oriented.tif"].exif_orientation == 6  # read before Pillow's load removes it
    assert facts["pages.tif"].frame_count == 2
    assert facts["animated.gif"].is_animated and facts["animated.gif"].frame_count == 2
    assert facts["animated.png"].frame_count == 2
    assert facts["alpha.png"].mode == "RGBA"
    assert facts["exif.png"].exif_orientation == 8
    assert facts["cmyk.jpg"].mode == "CMYK"
    assert facts["photo.mpo"].format == "MPO" and facts["photo.mpo"].frame_count == 2
    assert facts["animated.webp"].is_animated


def _entries(root) -> list[SourceEntry]:
    when = datetime(2026, 1, 1, tzinfo=UTC)
    entries = []
    for name, data in sorted(IMAGES.items()):
        path = root / "label" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        entries.append(SourceEntry(str(path), f"label/{name}", len(data), when))
    return entries


class _NoFacts:
    """The handoff hasher with its facts dropped: the catalog opens every file for them."""

    def __init__(self, hasher: HandoffHasher):
        self.hasher = hasher

    def __call__(self, image_id: str, data: bytes):
        result = self.hasher(image_id, data)
        return None if result is None else dataclasses.replace(result, facts=None)


@pytest.mark.parametrize("mode", ["exact", "fast"])
def test_catalog_rows_are_those_of_the_catalogs_own_header_probe(tmp_path, mode):
    if mode == "exact" and not engine.EXACT_MODE_AVAILABLE:
        pytest.skip("exact mode needs the replicated Pillow")
    entries = _entries(tmp_path)

    def read(entry: SourceEntry) -> bytes:
        with open(entry.uri, "rb") as file:
            return file.read()

    def run(hasher):
        rows, quarantined, hashed = [], [], {}
        for batch in catalog_entries(entries, read, hasher=hasher, batch_size=4):
            rows += [{k: v for k, v in r.items() if k != "ingested_at"} for r in batch.rows]
            quarantined += [
                {k: v for k, v in q.items() if k != "quarantined_at"} for q in batch.quarantined
            ]
            hashed.update(batch.hashed)
        return rows, quarantined, hashed

    handed = run(HandoffHasher({"mode": mode}))
    probed = run(_NoFacts(HandoffHasher({"mode": mode})))
    assert handed[0] == probed[0]
    assert handed[1] == probed[1]
    assert handed[2] == probed[2]
    assert len(handed[0]) == len(IMAGES) - 2  # every image but the truncated ones
    # and each row's facts are probe_header's of the file
    for row in handed[0]:
        probe = probe_header(IMAGES[row["name"]])
        assert (row["width"], row["height"], row["mode"], row["frame_count"]) == (
            probe.width,
            probe.height,
            probe.mode,
            probe.frame_count,
        )
        assert row["exif_orientation"] == probe.exif_orientation
        assert row["captured_at"] == probe.photo.captured_at

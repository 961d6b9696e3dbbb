"""Fast mode's direct JPEG decode gives Pillow's draft pixels, or declines and Pillow decides."""

import warnings

import numpy as np
import pytest
from PIL import Image

from assets.decode import DecodePolicy, UndecodableImageError
from assets.hashing import engine, jpeg
from assets.hashing.gray import decode_gray_pillow, decode_gray_stored
from tests.support.images import encode

DRAFT = (engine.FAST_DRAFT_TARGET, engine.FAST_DRAFT_TARGET)


def _picture(width: int, height: int, seed: int = 0) -> Image.Image:
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width]
    base = 128 + 90 * np.sin(xx / 37.0 + 1) * np.cos(yy / 23.0) + rng.normal(0, 12, (height, width))
    gray = np.clip(base, 0, 255).astype(np.uint8)
    return Image.fromarray(np.stack([gray, np.roll(gray, 5, 1), 255 - gray], -1))


def _with_segment(data: bytes, marker: int, payload: bytes) -> bytes:
    """``data`` with one more segment right after its start-of-image marker."""
    return (
        data[:2]
        + bytes([0xFF, marker])
        + (len(payload) + 2).to_bytes(2, "big")
        + payload
        + data[2:]
    )


def _photoshop(resources: bytes) -> bytes:
    return b"Photoshop 3.0\x00" + resources


def _variants() -> list[tuple[str, bytes]]:
    """JPEGs as encoders write them: every draft scale and partial edge block, chroma
    subsampling, progressive, greyscale, restart markers, and the segments around them."""
    out = []
    for width, height in [(640, 480), (1001, 803), (129, 257), (300, 2000), (63, 40), (7, 5)]:
        picture = _picture(width, height)
        for subsampling in (0, 1, 2):
            for progressive in (False, True):
                options = {"quality": 85, "subsampling": subsampling, "progressive": progressive}
                out.append((f"{width}x{height} {options}", encode(picture, **options)))
        out.append((f"{width}x{height} L", encode(picture.convert("L"), quality=90)))
    picture = _picture(800, 600, seed=1)
    out.append(("restart markers", encode(picture, restart_marker_blocks=4)))
    out.append(("icc and comment", encode(picture, icc_profile=b"p" * 3000, comment=b"note")))
    for dc in (1, 2, 3, 4, 5, 8, 16, 300):
        table = [dc] + [3] * 63
        out.append((f"luma DC quantiser {dc}", encode(picture, qtables=[table, table])))
    for orientation in (1, 3, 6, 8):
        exif = Image.Exif()
        exif[0x0112] = orientation
        out.append((f"EXIF orientation {orientation}", encode(picture, exif=exif)))
    xmp = b"<x:xmpmeta><tiff:Orientation>6</tiff:Orientation></x:xmpmeta>"
    out.append(("XMP orientation 6", encode(picture, xmp=xmp)))
    resolution = b"8BIM\x03\xed\x00\x00\x00\x00\x00\x10" + bytes(16)
    block = _photoshop(resolution + b"8BIM\x04\x04\x00\x00\x00\x00\x00\x03abc\x00")
    out.append(("Photoshop block", _with_segment(encode(picture), 0xED, block)))
    return out


@pytest.mark.parametrize(
    ("name", "data"), _variants(), ids=lambda v: v if isinstance(v, str) else ""
)
def test_the_direct_decode_gives_pillows_draft_pixels_region_bias_and_orientation(name, data):
    direct = jpeg.decode_draft(data, DecodePolicy(), DRAFT)
    assert direct is not None, name
    pixels, region, bias, orientation = direct
    reference = decode_gray_pillow(data, DecodePolicy(), DRAFT)
    assert reference.drafted
    assert pixels.dtype == np.uint8 and pixels.flags.c_contiguous
    np.testing.assert_array_equal(pixels, reference.pixels)
    assert region == reference.region
    assert bias == reference.bias
    assert orientation == reference.orientation
    stored = decode_gray_stored(data, DecodePolicy(), DRAFT)
    assert stored.pixels is pixels or np.array_equal(stored.pixels, pixels)
    assert (stored.format, stored.drafted, stored.region, stored.bias, stored.orientation) == (
        reference.format,
        True,
        region,
        bias,
        orientation,
    )


def test_the_direct_decode_matches_pillow_on_the_test_photographs(jpeg_photographs):
    for name, data in jpeg_photographs:
        direct = jpeg.decode_draft(data, DecodePolicy(), DRAFT)
        assert direct is not None, name
        reference = decode_gray_pillow(data, DecodePolicy(), DRAFT)
        np.testing.assert_array_equal(direct[0], reference.pixels, err_msg=name)
        assert direct[1:] == (reference.region, reference.bias, reference.orientation), name


def test_orientation_is_left_alone_when_the_policy_says_so():
    exif = Image.Exif()
    exif[0x0112] = 6
    data = encode(_picture(400, 300), exif=exif)
    policy = DecodePolicy(apply_exif_orientation=False)
    direct = jpeg.decode_draft(data, policy, DRAFT)
    assert direct is not None and direct[3] == 1


def _exif(orientation: int, **tags) -> Image.Exif:
    exif = Image.Exif()
    exif[0x0112] = orientation
    for tag, value in tags.items():
        exif[int(tag[1:], 16)] = value
    return exif


def test_plain_jpegs_and_their_exif_or_xmp_orientation_are_read_without_pillow(monkeypatch):
    picture = _picture(640, 480)
    xmp = b'<rdf:Description tiff:Orientation="8"/>'
    cases = [
        (encode(picture, quality=90), 1),
        (encode(picture, exif=_exif(6, x010F="Maker", x011A=72.0, x0128=2)), 6),
        (encode(picture, exif=_exif(3), dpi=(300, 300)), 3),
        (encode(picture, xmp=xmp), 8),
        (encode(picture, exif=_exif(9), xmp=xmp), 1),  # EXIF's tag wins, and 9 is no rotation
    ]

    def no_pillow(*args, **kwargs):
        raise AssertionError("Pillow was asked to open a plain JPEG")

    monkeypatch.setattr(Image, "open", no_pillow)
    for data, orientation in cases:
        gray = decode_gray_stored(data, DecodePolicy(), DRAFT)
        assert gray.pixels.shape == (120, 160) and gray.drafted
        assert gray.orientation == orientation


def test_damaged_exif_gives_pillows_orientation_warnings_and_errors():
    # Every byte of the EXIF block's header and first entries, changed: the direct path either
    # reads the orientation as Pillow does or leaves the header to Pillow.
    base = encode(_picture(160, 120), exif=_exif(6, x010F="Maker", x011A=72.0, x0128=2))
    start = base.index(b"Exif\x00\x00")
    checked = 0
    for at in range(start + 6, start + 6 + 8 + 2 + 12 * 3):
        for value in (0, 1, 3, 5, 0xFF):
            data = base[:at] + bytes([value]) + base[at + 1 :]
            outcomes = []
            for decode in (decode_gray_pillow, decode_gray_stored):
                with warnings.catch_warnings(record=True) as caught:
                    warnings.simplefilter("always")
                    try:
                        gray = decode(data, DecodePolicy(), DRAFT)
                        result: tuple = (gray.orientation, gray.pixels.tobytes())
                    except UndecodableImageError as exc:
                        result = (exc.reason, exc.detail)
                outcomes.append((result, sorted(str(w.message) for w in caught)))
            assert outcomes[0] == outcomes[1], (at - start, value)
            checked += 1
    assert checked == 5 * 46


def _odd_or_damaged() -> list[tuple[str, bytes]]:
    good = encode(_picture(640, 480), quality=90)
    flipped = bytearray(good)
    flipped[len(good) // 2] ^= 0xFF
    zeroed = bytearray(good)
    zeroed[len(good) // 2 : len(good) // 2 + 64] = bytes(64)
    # A damaged scan libjpeg-turbo decodes without a complaint is decoded directly (the same
    # bytes, the same pixels); every other case here is declined.
    return [
        ("CMYK", encode(_picture(320, 240).convert("CMYK"))),
        ("truncated scan", good[: len(good) // 2]),
        ("truncated header", good[:300]),
        ("flipped byte in the scan", bytes(flipped)),
        ("zeroed run in the scan", bytes(zeroed)),
        ("junk between segments", good[:20] + b"junk" + good[20:]),
        ("SOI only", b"\xff\xd8\xff"),
        (
            "Photoshop block Pillow cannot read",
            _with_segment(good, 0xED, _photoshop(b"8BIM\x04\x04")),
        ),
        ("not a JPEG", encode(_picture(64, 48), "PNG")),
    ]


@pytest.mark.parametrize(
    ("name", "data"), _odd_or_damaged(), ids=lambda v: v if isinstance(v, str) else ""
)
def test_odd_and_damaged_jpegs_get_exactly_pillows_outcome(name, data):
    policy = DecodePolicy()
    if data.startswith(b"\xff\xd8\xff") and not name.startswith("flipped"):
        assert jpeg.decode_draft(data, policy, DRAFT) is None, name
    try:
        reference = decode_gray_pillow(data, policy, DRAFT)
    except UndecodableImageError as exc:
        with pytest.raises(UndecodableImageError) as raised:
            decode_gray_stored(data, policy, DRAFT)
        assert (raised.value.reason, raised.value.detail) == (exc.reason, exc.detail)
    else:
        gray = decode_gray_stored(data, policy, DRAFT)
        np.testing.assert_array_equal(gray.pixels, reference.pixels)
        assert (gray.region, gray.bias, gray.orientation) == (
            reference.region,
            reference.bias,
            reference.orientation,
        )


def test_a_truncated_jpeg_is_quarantined_for_the_same_reason_in_fast_and_exact_mode():
    data = encode(_picture(640, 480), quality=90)[:5000]
    reasons = set()
    for mode in ("fast", "exact"):
        with pytest.raises(UndecodableImageError) as raised:
            engine.hash_bytes(data, mode=mode)
        reasons.add(raised.value.reason)
    assert reasons == {"corrupt_data"}


def test_the_pixel_limit_still_rejects_a_jpeg_before_decoding_it():
    data = encode(_picture(640, 480), quality=90)
    with pytest.raises(UndecodableImageError) as raised:
        engine.hash_bytes(data, mode="fast", policy=DecodePolicy(max_pixels=640 * 480 - 1))
    assert raised.value.reason == "decompression_bomb"
    assert "exceeds the limit" in raised.value.detail


def test_the_draft_scale_is_pillows():
    for width, height, scale in [(64, 64, 1), (127, 500, 1), (128, 128, 2), (511, 4000, 4)]:
        assert jpeg.draft_scale(width, height, DRAFT) == scale
    assert jpeg.draft_scale(4000, 3000, DRAFT) == 8

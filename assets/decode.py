"""The one decode policy of the platform (pure: no Dagster import).

Every stage that looks at pixels goes through this module, so the catalog, the hashes and the
classifier all see the same image:

* Pillow's decompression-bomb limit is honoured: an image with more pixels than
  ``DecodePolicy.max_pixels`` is rejected before any pixel is decoded.
* Only the first frame of a multi-frame file (animated GIF/WebP/PNG, multi-page TIFF) is used;
  the catalog records ``frame_count`` and ``is_animated``.
* Alpha is composited on white exactly as the ``dhash`` package does it (modes RGBA and LA
  only), then the image is converted to 8-bit greyscale exactly as Pillow's ``convert("L")``
  does (for RGB, the same integer formula computed in place: ``_load_rgb_as_gray``).
* EXIF orientation is applied when ``DecodePolicy.apply_exif_orientation`` is true (the default).
  The lab hashed files as stored; set the flag to false to reproduce its hashes for rotated photos.
  (Pillow's TIFF loader applies a TIFF's orientation tag itself, so TIFFs come out oriented
  either way, exactly as the ``dhash`` package sees them.) ``orientation_due`` is the one point
  that decides it, after loading, for the hash and the model alike; ``orient`` applies it.

This module is the policy and the model's RGB decode; the hash engine's greyscale decode (the
same pixels, produced faster) is ``assets.hashing.gray``.

Anything Pillow cannot open or decode raises ``UndecodableImageError`` with a short machine-readable
reason code and a human-readable detail; callers turn that into a quarantine row.
"""

import io
import math
import warnings
from dataclasses import dataclass
from datetime import datetime

import numpy as np
from PIL import Image, UnidentifiedImageError

EXIF_ORIENTATION_TAG = 0x0112

# Pillow's own default (about 89.5 megapixels); Pillow only raises at twice this value.
DEFAULT_MAX_PIXELS = 89_478_485


@dataclass(frozen=True)
class DecodePolicy:
    """How every stage decodes pixels: EXIF orientation applied or not, and the pixel limit."""

    apply_exif_orientation: bool = True
    max_pixels: int = DEFAULT_MAX_PIXELS


DEFAULT_POLICY = DecodePolicy()


class UndecodableImageError(ValueError):
    """The bytes are not an image this platform can decode; ``reason`` is a stable code."""

    def __init__(self, reason: str, detail: str):
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True)
class PhotoFacts:
    """What people search photo collections by, from EXIF where present (all None otherwise).

    ``captured_at``: DateTimeOriginal as the camera wrote it, in ISO 8601 (camera local time;
    with the UTC offset when OffsetTimeOriginal records it). ``has_gps``: the file carries a GPS
    block with a position; the coordinates (decimal degrees, south and west negative) are kept
    only when the catalog is configured to record them. ``exif_problem``: why some EXIF could
    not be read (the file is still catalogued).
    """

    captured_at: str | None = None
    camera_make: str | None = None
    camera_model: str | None = None
    has_gps: bool | None = None
    gps_latitude: float | None = None
    gps_longitude: float | None = None
    exif_problem: str | None = None


@dataclass(frozen=True)
class ImageProbe:
    """What a file's header says, without decoding pixels."""

    width: int
    height: int
    format: str
    mode: str
    exif_orientation: int | None
    frame_count: int
    is_animated: bool
    photo: PhotoFacts = PhotoFacts()


def open_image(data: bytes, policy: DecodePolicy = DEFAULT_POLICY) -> Image.Image:
    """Open (header only) and check the size limit; pixels are decoded lazily by Pillow."""
    if not data:
        raise UndecodableImageError("empty_file", "the file has no bytes")
    try:
        with warnings.catch_warnings():
            # Pillow warns between 1x and 2x its limit; the policy decides instead.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
    except Image.DecompressionBombError as exc:
        raise UndecodableImageError("decompression_bomb", str(exc)) from exc
    except UnidentifiedImageError as exc:
        raise UndecodableImageError(
            "unidentified_format", "Pillow cannot identify the format"
        ) from exc
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise UndecodableImageError("corrupt_header", f"{type(exc).__name__}: {exc}") from exc
    check_size(*image.size, policy)
    return image


def check_size(width: int, height: int, policy: DecodePolicy = DEFAULT_POLICY) -> None:
    """The policy's size checks of ``open_image``, on a header's width and height."""
    if width <= 0 or height <= 0:
        raise UndecodableImageError("empty_image", f"image size is {width}x{height}")
    if width * height > policy.max_pixels:
        raise UndecodableImageError(
            "decompression_bomb",
            f"{width}x{height} = {width * height} pixels exceeds the limit of {policy.max_pixels}",
        )


def may_be_image(head: bytes) -> bool:
    """False only when no image format Pillow knows could start with ``head`` (a file's first
    bytes): then the file is not an image, whatever its size, and need not be read whole.

    A format that recognises the prefix, or a header Pillow opens from the prefix alone, counts
    as a possible image; so does a prefix that is merely too short to tell (the full probe
    decides)."""
    if not head:
        return True  # an empty file: the probe reports empty_file
    Image.init()
    for fmt in Image.ID:
        _, accept = Image.OPEN[fmt]
        if accept is None:
            continue
        try:
            if accept(head):
                return True
        except Exception:  # a plugin's prefix check must not decide for the others
            continue
    # Formats without a prefix check (e.g. TGA) only show themselves by opening.
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            Image.open(io.BytesIO(head))
    except UnidentifiedImageError:
        return False
    except Exception:
        return True
    return True


def exif_orientation(image: Image.Image) -> int | None:
    try:
        value = image.getexif().get(EXIF_ORIENTATION_TAG)
    except Exception:  # a broken EXIF block must not make the pixels unreadable
        return None
    return int(value) if isinstance(value, int) and 1 <= value <= 8 else None


EXIF_IFD, GPS_IFD = 0x8769, 0x8825
EXIF_MAKE, EXIF_MODEL = 0x010F, 0x0110
EXIF_DATETIME_ORIGINAL, EXIF_OFFSET_TIME_ORIGINAL = 0x9003, 0x9011
_EXIF_TEXT_LIMIT = 200


def _exif_text(value) -> str | None:
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    if not isinstance(value, str):
        return None
    text = "".join(ch for ch in value if ch.isprintable()).strip()
    return text[:_EXIF_TEXT_LIMIT] or None


def _exif_time(value, offset) -> str | None:
    text = _exif_text(value)
    if not text or len(text) < 19 or text[4] != ":" or text[7] != ":":
        return None
    iso = f"{text[:4]}-{text[5:7]}-{text[8:10]}T{text[11:19]}"
    try:
        datetime.fromisoformat(iso)
    except ValueError:
        return None  # e.g. "0000:00:00 00:00:00", the cameras' "unknown"
    offset = _exif_text(offset)
    if offset and len(offset) == 6 and offset[0] in "+-" and offset[3] == ":":
        iso += offset
    return iso


def _degrees(dms, ref) -> float | None:
    try:
        d, m, sec = (float(x) for x in dms)
    except (TypeError, ValueError, ZeroDivisionError):
        return None
    value = d + m / 60 + sec / 3600
    if not (math.isfinite(value) and 0 <= value <= 180):
        return None
    return -value if _exif_text(ref) in ("S", "W") else value


def photo_facts(image: Image.Image) -> PhotoFacts:
    """Capture time, camera and GPS presence from the image's EXIF; never raises: a malformed
    block gives what could be read and says why in ``exif_problem``."""
    try:
        exif = image.getexif()
    except Exception as exc:  # a broken EXIF block must not make the file unreadable
        return PhotoFacts(exif_problem=f"{type(exc).__name__}: {exc}"[:500])
    if not exif:
        return PhotoFacts(has_gps=False)
    facts: dict = {}
    problems = []
    try:
        facts["camera_make"] = _exif_text(exif.get(EXIF_MAKE))
        facts["camera_model"] = _exif_text(exif.get(EXIF_MODEL))
    except Exception as exc:
        problems.append(f"camera: {type(exc).__name__}: {exc}")
    try:
        sub = exif.get_ifd(EXIF_IFD)
        facts["captured_at"] = _exif_time(
            sub.get(EXIF_DATETIME_ORIGINAL), sub.get(EXIF_OFFSET_TIME_ORIGINAL)
        )
    except Exception as exc:
        problems.append(f"capture time: {type(exc).__name__}: {exc}")
    try:
        gps = exif.get_ifd(GPS_IFD)
        latitude, longitude = _degrees(gps.get(2), gps.get(1)), _degrees(gps.get(4), gps.get(3))
        facts["has_gps"] = latitude is not None and longitude is not None
        if latitude is not None and longitude is not None and latitude <= 90:
            facts["gps_latitude"], facts["gps_longitude"] = latitude, longitude
        else:
            facts["has_gps"] = False
    except Exception as exc:
        problems.append(f"GPS: {type(exc).__name__}: {exc}")
    return PhotoFacts(**facts, exif_problem="; ".join(problems)[:500] or None)


def load_pixels(image: Image.Image) -> None:
    guarded_load(lambda im: im.load(), image)


def guarded_load(load, image: Image.Image):
    """``load(image)``, with Pillow's decode failures raised as ``UndecodableImageError``."""
    try:
        return load(image)
    except Image.DecompressionBombError as exc:
        raise UndecodableImageError("decompression_bomb", str(exc)) from exc
    except (OSError, SyntaxError, ValueError, EOFError, IndexError, KeyError) as exc:
        raise UndecodableImageError("corrupt_data", f"{type(exc).__name__}: {exc}") from exc


def probe_image(data: bytes, policy: DecodePolicy = DEFAULT_POLICY) -> ImageProbe:
    """Read the catalog facts and prove the first frame decodes.

    JPEGs are validated with a 1/8-scale DCT-domain decode (cheap, still reads every entropy-coded
    segment, so truncation and corruption are found); other formats decode in full.
    """
    image = open_image(data, policy)
    probe = _header_facts(image)
    if probe.format == "JPEG":
        image.draft("L", (max(1, probe.width // 8), max(1, probe.height // 8)))
    load_pixels(image)
    return probe


def probe_header(data: bytes, policy: DecodePolicy = DEFAULT_POLICY) -> ImageProbe:
    """The catalog facts of ``probe_image`` from the header alone, without proving the pixels
    decode: for a caller that has just decoded the same bytes itself (the hash engine)."""
    return _header_facts(open_image(data, policy))


def header_facts_before_decode(image: Image.Image) -> ImageProbe:
    """``probe_header``'s facts from an image its caller has just opened (``open_image``) and
    goes on to decode: read before any pixel is loaded or drafted, as ``probe_header`` reads them
    (Pillow's TIFF loader removes the orientation tag it applies), so one open serves both.

    Reading them leaves the decode as it would have been: Pillow's PNG reader loads the pixels to
    look for EXIF after them, so a PNG without EXIF up front is loaded here, its decode errors
    raised as ``load_pixels`` raises them (not recorded as an EXIF problem); and the EXIF read
    here is forgotten, so the orientation due is read again after loading (``orientation_due``).
    """
    probe = _header_facts(image, load_for_exif=True)
    image._exif = None  # Pillow's EXIF cache: read afresh after loading
    return probe


def _header_facts(image: Image.Image, load_for_exif: bool = False) -> ImageProbe:
    width, height = image.size
    frame_count = int(getattr(image, "n_frames", 1) or 1)
    fmt = (image.format or "UNKNOWN").upper()
    mode = image.mode
    if load_for_exif and image.format == "PNG" and "exif" not in image.info:
        load_pixels(image)
    orientation = exif_orientation(image)
    return ImageProbe(
        width=width,
        height=height,
        format=fmt,
        mode=mode,
        exif_orientation=orientation,
        frame_count=frame_count,
        is_animated=bool(getattr(image, "is_animated", False)) or frame_count > 1,
        photo=photo_facts(image),
    )


# EXIF orientation -> the Pillow transpose that ImageOps.exif_transpose applies for it.
EXIF_TRANSPOSE = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}


def orientation_due(image: Image.Image, policy: DecodePolicy = DEFAULT_POLICY) -> int:
    """The one point where EXIF orientation is decided: the transpose still due for ``image``
    (1: none). Call it after the pixels are loaded, as ``ImageOps.exif_transpose`` reads them:
    Pillow's TIFF loader applies a TIFF's orientation itself and removes the tag, and a tag read
    before loading would turn such a picture a second time."""
    if not policy.apply_exif_orientation:
        return 1
    return exif_orientation(image) or 1


def orient(image: Image.Image, orientation: int) -> Image.Image:
    """Apply an orientation ``orientation_due`` decided (the hash engine applies the same
    permutation itself on greyscale pixels, see ``assets.hashing.gray``)."""
    return image if orientation == 1 else image.transpose(EXIF_TRANSPOSE[orientation])


def composite_on_white(image: Image.Image) -> Image.Image:
    """Alpha composited on white for modes RGBA and LA only: the rule of ``to_dhash_gray``."""
    if image.mode in ("RGBA", "LA"):
        cleaned = Image.new(image.mode[:-1], image.size, "white")
        cleaned.paste(image, image.split()[-1])
        return cleaned
    return image


def decode_rgb_image(
    data: bytes,
    policy: DecodePolicy = DEFAULT_POLICY,
    draft_size: tuple[int, int] | None = None,
) -> Image.Image:
    """Decode the first frame to an oriented Pillow image in mode RGB.

    The same policy as ``decode_gray``: size limit, first frame only, RGBA/LA composited on white,
    EXIF orientation applied when the policy says so. ``draft_size`` lets a JPEG decode at 1/2..1/8
    scale in the DCT domain; the result is then at least that large (before orientation, so give a
    square size when the target is small). Other formats ignore it.
    """
    image = open_image(data, policy)
    if draft_size is not None and image.format == "JPEG":
        image.draft("RGB", draft_size)
    load_pixels(image)
    orientation = orientation_due(image, policy)
    try:
        rgb = composite_on_white(image).convert("RGB")
    except (OSError, ValueError) as exc:
        raise UndecodableImageError("unsupported_mode", f"mode {image.mode}: {exc}") from exc
    return orient(rgb, orientation)


def decode_rgb(
    data: bytes,
    policy: DecodePolicy = DEFAULT_POLICY,
    draft_size: tuple[int, int] | None = None,
) -> np.ndarray:
    """Decode the first frame to a C-contiguous uint8 array of shape (height, width, 3), RGB."""
    return np.asarray(decode_rgb_image(data, policy, draft_size), dtype=np.uint8)

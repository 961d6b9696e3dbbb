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
  either way, exactly as the ``dhash`` package sees them.)

Anything Pillow cannot open or decode raises ``UndecodableImageError`` with a short machine-readable
reason code and a human-readable detail; callers turn that into a quarantine row.
"""

import io
import math
import threading
import warnings
from dataclasses import dataclass
from datetime import datetime

import numba
import numpy as np
from PIL import Image, UnidentifiedImageError

EXIF_ORIENTATION_TAG = 0x0112

# Pillow's own default (about 89.5 megapixels); Pillow only raises at twice this value.
DEFAULT_MAX_PIXELS = 89_478_485


@dataclass(frozen=True)
class DecodePolicy:
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
    width, height = image.size
    if width <= 0 or height <= 0:
        raise UndecodableImageError("empty_image", f"image size is {width}x{height}")
    if width * height > policy.max_pixels:
        raise UndecodableImageError(
            "decompression_bomb",
            f"{width}x{height} = {width * height} pixels exceeds the limit of {policy.max_pixels}",
        )
    return image


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
        if facts["has_gps"] and latitude <= 90:
            facts["gps_latitude"], facts["gps_longitude"] = latitude, longitude
        else:
            facts["has_gps"] = False
    except Exception as exc:
        problems.append(f"GPS: {type(exc).__name__}: {exc}")
    return PhotoFacts(**facts, exif_problem="; ".join(problems)[:500] or None)


def _load(image: Image.Image) -> None:
    _guarded(lambda im: im.load(), image)


def _guarded(load, image: Image.Image):
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
    _load(image)
    return probe


def probe_header(data: bytes, policy: DecodePolicy = DEFAULT_POLICY) -> ImageProbe:
    """The catalog facts of ``probe_image`` from the header alone, without proving the pixels
    decode: for a caller that has just decoded the same bytes itself (the hash engine)."""
    return _header_facts(open_image(data, policy))


def _header_facts(image: Image.Image) -> ImageProbe:
    width, height = image.size
    frame_count = int(getattr(image, "n_frames", 1) or 1)
    return ImageProbe(
        width=width,
        height=height,
        format=(image.format or "UNKNOWN").upper(),
        mode=image.mode,
        exif_orientation=exif_orientation(image),
        frame_count=frame_count,
        is_animated=bool(getattr(image, "is_animated", False)) or frame_count > 1,
        photo=photo_facts(image),
    )


def to_dhash_gray(image: Image.Image) -> Image.Image:
    """The dhash package's conversion: RGBA/LA composited on white, then Pillow's convert('L')."""
    if image.mode in ("RGBA", "LA"):
        cleaned = Image.new(image.mode[:-1], image.size, "white")
        cleaned.paste(image, image.split()[-1])
        image = cleaned
    return image.convert("L")


# Formats whose decoder can scale in the DCT domain (Pillow's ``draft``): MPO is a JPEG container.
DRAFT_FORMATS = frozenset({"JPEG", "MPO"})


@dataclass(frozen=True)
class GrayImage:
    """A decoded first frame as 8-bit greyscale, plus how it was obtained.

    ``pixels`` is a C-contiguous uint8 array of shape (height, width). ``orientation`` is the
    EXIF orientation (2..8) still to be applied to ``pixels``, or 1 when nothing is left to do
    (``decode_gray_image`` always returns 1; ``decode_gray_stored`` leaves it to the caller).
    ``drafted`` is true when a JPEG was decoded in the DCT domain to its luma channel (possibly
    at reduced scale): those pixels approximate the full decode, they do not equal it.
    ``region`` (x0, y0, x1, y1) is the part of ``pixels`` that covers the whole picture: a
    reduced-scale decode rounds the size up, so a partial block along an edge counts as a
    fraction of a pixel. It is (0, 0, width, height) otherwise. ``bias`` is the expected excess,
    in grey levels, of ``pixels`` over the block means of the full decode (non-zero only for
    1/8-scale JPEG drafts, see ``jpeg_dc_rounding_bias``).
    """

    pixels: np.ndarray
    format: str
    drafted: bool
    region: tuple[float, float, float, float]
    bias: float = 0.0
    orientation: int = 1


def decode_gray_stored(
    data: bytes,
    policy: DecodePolicy = DEFAULT_POLICY,
    draft_size: tuple[int, int] | None = None,
) -> GrayImage:
    """Decode the first frame to greyscale as stored, reporting the orientation still due.

    The pixels equal ``decode_gray_image``'s before its EXIF transpose; callers that can orient
    faster than Pillow (the hash engine) use this and apply ``GrayImage.orientation``
    themselves (``transpose_region`` maps the region).
    """
    image = open_image(data, policy)
    fmt = (image.format or "UNKNOWN").upper()
    drafted = False
    bias = 0.0
    region: tuple[float, float, float, float] | None = None
    if draft_size is not None and fmt in DRAFT_FORMATS:
        applied = image.draft("L", (max(1, draft_size[0]), max(1, draft_size[1])))
        if applied is not None:
            drafted = True
            region = tuple(float(v) for v in applied[1])  # type: ignore[assignment]
            if image.mode == "L" and image.decoderconfig[:1] == (8,):
                bias = jpeg_dc_rounding_bias(image)
    pixels = None
    if not drafted and fmt in DIRECT_RGB_FORMATS and image.mode == "RGB":
        pixels = _guarded(_load_rgb_as_gray, image)
    if pixels is None:
        _load(image)
    # Read after loading, as ImageOps.exif_transpose does: Pillow's TIFF loader already applies
    # the orientation and removes the tag, which must not be applied a second time.
    orientation = exif_orientation(image) if policy.apply_exif_orientation else None
    if pixels is None:
        try:
            pixels = _gray_pixels(image)
        except (OSError, ValueError) as exc:
            raise UndecodableImageError("unsupported_mode", f"mode {image.mode}: {exc}") from exc
    height, width = pixels.shape
    if region is None:
        region = (0.0, 0.0, float(width), float(height))
    return GrayImage(
        pixels=pixels,
        format=fmt,
        drafted=drafted,
        region=region,
        bias=bias,
        orientation=orientation or 1,
    )


def decode_gray_image(
    data: bytes,
    policy: DecodePolicy = DEFAULT_POLICY,
    draft_size: tuple[int, int] | None = None,
) -> GrayImage:
    """Decode the first frame to greyscale; see ``decode_gray`` (this also reports the format)."""
    gray = decode_gray_stored(data, policy, draft_size)
    if gray.orientation == 1:
        return gray
    # A pure pixel permutation: it commutes with the pointwise greyscale conversion, so doing it
    # on the single-channel image gives the same pixels as ImageOps.exif_transpose first.
    height, width = gray.pixels.shape
    turned = Image.fromarray(gray.pixels).transpose(EXIF_TRANSPOSE[gray.orientation])
    return GrayImage(
        pixels=np.asarray(turned, dtype=np.uint8),
        format=gray.format,
        drafted=gray.drafted,
        region=transpose_region(gray.region, width, height, gray.orientation),
        bias=gray.bias,
    )


def _gray_pixels(image: Image.Image) -> np.ndarray:
    """``to_dhash_gray(image)`` as a uint8 array (read-only)."""
    if image.mode == "RGB":
        pixels = _rgb_to_l_compiled(image)
        if pixels is None:
            pixels = _rgb_to_l_block(image)
        if pixels is not None:
            return pixels
    # convert('L') of an 'L' image is a plain copy: skip it.
    gray = image if image.mode == "L" else to_dhash_gray(image)
    return np.asarray(gray, dtype=np.uint8)


class _ArrowExport:
    """Presents a Pillow core image through the Arrow PyCapsule interface."""

    __slots__ = ("core",)

    def __init__(self, core) -> None:
        self.core = core

    def __arrow_c_array__(self, requested_schema=None):
        return self.core.__arrow_c_schema__(), self.core.__arrow_c_array__()


def _rgb_to_l_block(image: Image.Image) -> np.ndarray | None:
    """Pillow's RGB -> L conversion into one contiguous block, exposed without a copy.

    ``np.asarray(image.convert("L"))`` copies the result once more through ``tobytes``; for a
    12-megapixel photo that copy (and the page faults of its fresh buffer) costs about as much
    as the conversion. Pillow converts into a single-block image instead, and Arrow's C data
    interface hands that block to numpy as it is; the array keeps the block alive. Returns None
    when this Pillow lacks these entry points.
    """
    try:
        block = Image.core.new_block("L", image.size)
        image.im.convert_into(block)
    except (AttributeError, TypeError, ValueError):
        return None
    flat = _arrow_view(block)
    return None if flat is None else flat.reshape(image.size[1], image.size[0])


def _arrow_view(core) -> np.ndarray | None:
    """A Pillow core image's memory as a flat numpy array, without a copy (Arrow's C data
    interface; multi-band pixels flattened to their 4 bytes). The array keeps the memory
    alive. None when the rows are not one block or this Pillow cannot export them."""
    try:
        import pyarrow  # a platform dependency; imported here to keep this module light

        exported = pyarrow.array(_ArrowExport(core))
        if pyarrow.types.is_fixed_size_list(exported.type):
            exported = exported.flatten()
        return exported.to_numpy(zero_copy_only=True)
    except (AttributeError, ImportError, TypeError, ValueError, NotImplementedError):
        return None


@numba.njit(cache=True, nogil=True)
def _rgbx_to_l(rgbx: np.ndarray, out: np.ndarray) -> None:  # pragma: no cover - compiled
    """Pillow's ``rgb2l`` (Convert.c): L = (19595 R + 38470 G + 7471 B + 0x8000) >> 16."""
    for i in range(out.shape[0]):
        j = 4 * i
        out[i] = (
            np.int32(rgbx[j]) * 19595
            + np.int32(rgbx[j + 1]) * 38470
            + np.int32(rgbx[j + 2]) * 7471
            + 0x8000
        ) >> 16


def _rgb_to_l_compiled(image: Image.Image) -> np.ndarray | None:
    """Pillow's RGB -> L conversion, computed by a compiled loop over the image's own memory.

    Pillow keeps an RGB image as 4 bytes per pixel; when all its rows sit in one memory block
    (images up to 4 megapixels with Pillow's default 16 MB blocks), Arrow's C data interface
    exposes them to numpy without a copy, and the compiled loop converts them about six times
    faster than Pillow's scalar ``convert("L")``, with the same integer formula. Returns None
    when the image spans several blocks or this Pillow lacks the entry points (callers then let
    Pillow convert).
    """
    rgbx = _arrow_view(image.im)
    width, height = image.size
    if rgbx is None or rgbx.shape[0] != 4 * width * height:
        return None
    out = np.empty(width * height, dtype=np.uint8)
    _rgbx_to_l(rgbx, out)
    return out.reshape(height, width)


# Formats whose RGB pixels may be decoded straight into memory the caller owns: single-image
# loaders that only ever write through Pillow's decoder (no post-load transforms or blending).
DIRECT_RGB_FORMATS = frozenset({"JPEG", "MPO"})
# Largest reusable per-thread decode buffer; bigger images get a buffer of their own.
_DIRECT_BUFFER_MAX_BYTES = 64 * 1024 * 1024
_direct_buffers = threading.local()


def _direct_buffer(nbytes: int) -> np.ndarray:
    if nbytes > _DIRECT_BUFFER_MAX_BYTES:
        return np.empty(nbytes, np.uint8)
    buffer = getattr(_direct_buffers, "buffer", None)
    if buffer is None or buffer.size < nbytes:
        buffer = np.empty(max(nbytes, 16 * 1024 * 1024), np.uint8)
        _direct_buffers.buffer = buffer
    return buffer[:nbytes]


def _load_rgb_as_gray(image: Image.Image) -> np.ndarray | None:
    """Decode an unloaded RGB JPEG into a reused buffer and convert it there to greyscale.

    Pillow's decoder writes RGB as 4 bytes per pixel into whatever image memory the file object
    holds; handing it a mapping of a per-thread buffer (``Image.core.map_buffer``, as
    ``Image.frombuffer`` does) skips the zero-filled allocation of a fresh image per decode,
    and the compiled ``rgb2l`` then reads the pixels in place. The pixels are exactly Pillow's
    (the tests compare them with ``convert("L")``). Returns None when this Pillow lacks the
    entry points (``image`` untouched) or the loader kept the pixels elsewhere (``image``
    loaded); decode errors propagate as from ``image.load()``. The pixels live in the buffer
    only until this thread's next decode, so ``image`` must not be used for pixels afterwards.
    """
    width, height = image.size
    buffer = _direct_buffer(4 * width * height)
    try:
        core = Image.core.map_buffer(buffer, (width, height), "raw", 0, ("RGBX", 0, 1))
    except (AttributeError, TypeError, ValueError):
        return None
    image.im = core
    image.load()
    if image.im is not core or image.size != (width, height):
        # The loader put the pixels elsewhere (none of DIRECT_RGB_FORMATS does today): the
        # image is loaded all the same, and the caller converts it the ordinary way.
        return None
    out = np.empty(width * height, dtype=np.uint8)
    _rgbx_to_l(buffer, out)
    return out.reshape(height, width)


def jpeg_dc_rounding_bias(image: Image.Image) -> float:
    """Mean excess of a 1/8-scale JPEG decode over the block means of the full decode.

    At 1/8 scale libjpeg outputs each 8x8 block as round_half_up(DC * q / 8), where q is the
    luma DC quantiser; the full decode averages to DC * q / 8 itself. With DC residues uniform,
    the excess averages 1 / (2m) grey levels for m = 8 / gcd(q, 8) > 1 (0.25 for q = 4), and 0
    when q is a multiple of 8. Returns 0 when the tables are not available.
    """
    try:
        table = image.layer[0][3]  # type: ignore[attr-defined]
        q = int(image.quantization[table][0])  # type: ignore[attr-defined]
    except (AttributeError, IndexError, KeyError, TypeError, ValueError):
        return 0.0
    if q <= 0:
        return 0.0
    m = 8 // math.gcd(q, 8)
    return 0.0 if m == 1 else 1.0 / (2 * m)


def transpose_region(
    region: tuple[float, float, float, float], width: int, height: int, orientation: int
) -> tuple[float, float, float, float]:
    """Where the rectangle ``region`` of a width x height image lands after the EXIF transpose."""
    x0, y0, x1, y1 = region
    return {
        2: (width - x1, y0, width - x0, y1),
        3: (width - x1, height - y1, width - x0, height - y0),
        4: (x0, height - y1, x1, height - y0),
        5: (y0, x0, y1, x1),
        6: (height - y1, x0, height - y0, x1),
        7: (height - y1, width - x1, height - y0, width - x0),
        8: (y0, width - x1, y1, width - x0),
    }[orientation]


def decode_gray(
    data: bytes,
    policy: DecodePolicy = DEFAULT_POLICY,
    draft_size: tuple[int, int] | None = None,
) -> np.ndarray:
    """Decode the first frame to a C-contiguous uint8 greyscale array of shape (height, width).

    ``draft_size`` lets a JPEG decode at 1/2..1/8 scale in the DCT domain (the fast hash mode); the
    result is then at least that large. Other formats ignore it and decode at full size.
    """
    return decode_gray_image(data, policy, draft_size).pixels


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
    orientation = exif_orientation(image) if policy.apply_exif_orientation else None
    if draft_size is not None and image.format == "JPEG":
        image.draft("RGB", draft_size)
    _load(image)
    try:
        rgb = composite_on_white(image).convert("RGB")
    except (OSError, ValueError) as exc:
        raise UndecodableImageError("unsupported_mode", f"mode {image.mode}: {exc}") from exc
    if orientation is not None and orientation != 1:
        rgb = rgb.transpose(EXIF_TRANSPOSE[orientation])
    return rgb


def decode_rgb(
    data: bytes,
    policy: DecodePolicy = DEFAULT_POLICY,
    draft_size: tuple[int, int] | None = None,
) -> np.ndarray:
    """Decode the first frame to a C-contiguous uint8 array of shape (height, width, 3), RGB."""
    return np.asarray(decode_rgb_image(data, policy, draft_size), dtype=np.uint8)

"""The hash engine's greyscale decode: the decode policy's pixels, as fast as they come.

The policy itself (size limit, first frame, alpha on white, when EXIF orientation is due) is
``assets.decode``; this module only decides *how* the greyscale pixels are produced: straight
into a reused buffer for JPEG, a compiled ``rgb2l`` over Pillow's own memory, DCT-domain drafts
for the fast mode (decoded by ``assets.hashing.jpeg`` without Pillow where it can vouch for the
file), and the orientation reported as still due (``GrayImage.orientation``) so the
engine can fold it into its resize. Pure: no Dagster import.
"""

import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numba
import numpy as np
import numpy.typing as npt
from PIL import Image

from assets.decode import (
    DEFAULT_POLICY,
    DecodePolicy,
    ImageProbe,
    UndecodableImageError,
    composite_on_white,
    guarded_load,
    header_facts_before_decode,
    load_pixels,
    open_image,
    orient,
    orientation_due,
)
from assets.hashing.jpeg import dc_rounding_bias, decode_draft

if TYPE_CHECKING:
    from PIL._imaging import ImagingCore


def to_dhash_gray(image: Image.Image) -> Image.Image:
    """The dhash package's conversion: RGBA/LA composited on white, then Pillow's convert('L')."""
    return composite_on_white(image).convert("L")


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
    1/8-scale JPEG drafts, see ``jpeg_dc_rounding_bias``). ``facts``: the catalog's header facts
    (``assets.decode.probe_header``) from the same open, when asked for and Pillow opened the
    file (None after the direct JPEG decode).
    """

    pixels: np.ndarray
    format: str
    drafted: bool
    region: tuple[float, float, float, float]
    bias: float = 0.0
    orientation: int = 1
    facts: ImageProbe | None = None


def decode_gray_stored(
    data: bytes,
    policy: DecodePolicy = DEFAULT_POLICY,
    draft_size: tuple[int, int] | None = None,
    facts: bool = False,
) -> GrayImage:
    """Decode the first frame to greyscale as stored, reporting the orientation still due.

    The pixels equal ``decode_gray_image``'s before its EXIF transpose; callers that can orient
    faster than Pillow (the hash engine) use this and apply ``GrayImage.orientation``
    themselves (``transpose_region`` maps the region).

    A drafted JPEG is decoded by ``assets.hashing.jpeg`` when it can (the same pixels with the
    GIL released throughout); every other file, and every JPEG it declines, goes through Pillow.
    ``facts``: also read the header facts from Pillow's open (``GrayImage.facts``).
    """
    if draft_size is not None and data.startswith(b"\xff\xd8\xff"):
        direct = decode_draft(data, policy, draft_size)
        if direct is not None:
            pixels, region, bias, orientation = direct
            return GrayImage(pixels, "JPEG", True, region, bias, orientation)
    return decode_gray_pillow(data, policy, draft_size, facts)


def decode_gray_pillow(
    data: bytes,
    policy: DecodePolicy = DEFAULT_POLICY,
    draft_size: tuple[int, int] | None = None,
    facts: bool = False,
) -> GrayImage:
    """``decode_gray_stored`` through Pillow alone, for every file (the reference of the
    direct JPEG decode)."""
    image = open_image(data, policy)
    # Before the draft and the load, which change what the header says.
    header = header_facts_before_decode(image) if facts else None
    fmt = (image.format or "UNKNOWN").upper()
    drafted = False
    bias = 0.0
    region: tuple[float, float, float, float] | None = None
    if draft_size is not None and fmt in DRAFT_FORMATS:
        applied = image.draft("L", (max(1, draft_size[0]), max(1, draft_size[1])))
        if applied is not None:
            drafted = True
            region = tuple(float(v) for v in applied[1])  # type: ignore[assignment]
            if image.mode == "L" and getattr(image, "decoderconfig", ())[:1] == (8,):
                bias = jpeg_dc_rounding_bias(image)
    pixels = None
    if not drafted and fmt in DIRECT_RGB_FORMATS and image.mode == "RGB":
        pixels = guarded_load(_load_rgb_as_gray, image)
    if pixels is None:
        load_pixels(image)
    orientation = orientation_due(image, policy)
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
        orientation=orientation,
        facts=header,
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
    turned = orient(Image.fromarray(gray.pixels), gray.orientation)
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

    def __init__(self, core: "ImagingCore") -> None:
        self.core = core

    def __arrow_c_array__(self, requested_schema: object = None) -> tuple[object, object]:
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


def _arrow_view(core: "ImagingCore") -> np.ndarray | None:
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
def _rgbx_to_l(  # pragma: no cover - compiled
    rgbx: npt.NDArray[np.uint8], out: npt.NDArray[np.uint8]
) -> None:
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
    return dc_rounding_bias(q)


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

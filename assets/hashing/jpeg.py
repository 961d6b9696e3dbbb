"""Fast mode's JPEG decode with the interpreter out of the way (pure: no Dagster import).

Fast mode decodes a JPEG in the DCT domain, to luma only, at the scale Pillow's ``draft`` picks
(``gray.decode_gray_stored``). Done through Pillow, a web-size picture spends about a fifth of
its time in Python with the GIL held (the header parser of ``JpegImagePlugin``, the ``draft``
and ``load`` wrappers, reading the stream in blocks), which is what keeps two worker threads
from scaling. Here the same pixels come from two compiled calls that release the GIL:

* ``scan_header`` (numba) walks the markers up to the start of scan and reports the size, the
  luma DC quantiser (for the 1/8-scale rounding bias) and whether the file carries metadata;
* libjpeg-turbo, through ``simplejpeg``, decodes to greyscale at the same DCT scale. It is the
  library Pillow's own decoder is built on, with the same defaults (accurate integer IDCT), so
  the pixels equal Pillow's draft decode; the tests compare them.

Only the plain case is taken: an 8-bit baseline, extended or progressive JPEG with one or
three components, whose header Pillow reads the same way and cannot fail on. A file with EXIF,
XMP or Photoshop metadata still has its header read by Pillow (orientation and any header error
exactly as before) but is decoded here. Anything else returns None and the caller takes
Pillow's path, which then decides as it always did: CMYK, 12-bit, arithmetic-coded or lossless
files, MPO containers, odd or damaged marker sequences, images above the pixel limit, and every
file libjpeg-turbo reports a problem with (``strict``: a truncated or corrupt stream is decoded
again by Pillow, so its quarantine reason is Pillow's).
"""

import math

import numpy as np
import numpy.typing as npt
import simplejpeg
from numba import njit
from PIL import Image

from assets.decode import DecodePolicy, open_image, orientation_due

# What ``scan_header`` found: a header Pillow's path must read (or decode) itself; a plain
# header; a plain header with metadata only Pillow's header reader interprets.
UNUSUAL, PLAIN, WITH_METADATA = 0, 1, 2

# Pillow's draft scales, largest first (``JpegImageFile.draft``).
_DRAFT_SCALES = (8, 4, 2, 1)


@njit(cache=True, nogil=True)
def _starts_with(data: npt.NDArray[np.uint8], start: int, end: int, prefix: bytes) -> bool:
    if end - start < len(prefix):
        return False
    for i in range(len(prefix)):
        if data[start + i] != prefix[i]:
            return False
    return True


@njit(cache=True, nogil=True)
def scan_header(data: npt.NDArray[np.uint8]) -> tuple[int, int, int, int]:  # pragma: no cover
    """``(kind, width, height, luma DC quantiser or -1)`` of a JPEG's header.

    ``kind`` is UNUSUAL unless the markers up to the start of scan are ones this module reads
    exactly as Pillow's ``JpegImagePlugin`` does and none of them can make Pillow's header reader
    fail: then PLAIN, or WITH_METADATA when an APP1 (EXIF, XMP) or APP13 (Photoshop) segment
    is present. The quantiser is the first value of the table the first component uses, the
    last definition of it winning, as in Pillow's ``quantization``.
    """
    n = data.shape[0]
    if n < 4 or data[0] != 0xFF or data[1] != 0xD8 or data[2] != 0xFF:
        return UNUSUAL, 0, 0, -1
    dc = np.full(256, -1, np.int64)  # per table byte; Pillow stores tables under id & 15
    kind = PLAIN
    width = height = np.int64(0)
    table = np.int64(-1)
    pos = np.int64(2)
    while True:
        if pos >= n or data[pos] != 0xFF:
            return UNUSUAL, 0, 0, -1
        while pos < n and data[pos] == 0xFF:  # fill bytes before a marker
            pos += 1
        if pos + 3 > n:
            return UNUSUAL, 0, 0, -1
        marker = data[pos]
        length = (np.int64(data[pos + 1]) << 8) | np.int64(data[pos + 2])
        start = pos + 3
        end = pos + 1 + length
        if length < 2 or end > n:
            return UNUSUAL, 0, 0, -1
        size = end - start
        if marker == 0xDA:  # start of scan
            if table < 0:
                return UNUSUAL, 0, 0, -1
            return kind, int(width), int(height), int(dc[table])
        if marker == 0xC0 or marker == 0xC1 or marker == 0xC2:
            if table >= 0 or size < 9 or data[start] != 8:
                return UNUSUAL, 0, 0, -1
            layers = np.int64(data[start + 5])
            if (layers != 1 and layers != 3) or size != 6 + 3 * layers:
                return UNUSUAL, 0, 0, -1
            height = (np.int64(data[start + 1]) << 8) | np.int64(data[start + 2])
            width = (np.int64(data[start + 3]) << 8) | np.int64(data[start + 4])
            if width == 0 or height == 0:
                return UNUSUAL, 0, 0, -1
            table = np.int64(data[start + 8])  # Pillow keeps the whole byte
        elif marker == 0xDB:  # quantisation tables, as Pillow's DQT reads them
            at = start
            while at < end:
                v = np.int64(data[at])
                precision = 1 if v // 16 == 0 else 2
                if end - at < 1 + 64 * precision:
                    return UNUSUAL, 0, 0, -1
                if precision == 1:
                    dc[v & 15] = np.int64(data[at + 1])
                else:
                    dc[v & 15] = (np.int64(data[at + 1]) << 8) | np.int64(data[at + 2])
                at += 1 + 64 * precision
        elif marker == 0xC4 or marker == 0xDD or marker == 0xFE:
            pass  # Huffman tables, restart interval, comment
        elif marker == 0xE0:
            if _starts_with(data, start, end, b"JFIF") and size < 7:
                return UNUSUAL, 0, 0, -1
        elif marker == 0xE1:
            if _starts_with(data, start, end, b"Exif\x00\x00") or _starts_with(
                data, start, end, b"http://ns.adobe.com/xap/1.0/\x00"
            ):
                kind = WITH_METADATA
        elif marker == 0xE2:
            if _starts_with(data, start, end, b"MPF\x00"):
                return UNUSUAL, 0, 0, -1
            if _starts_with(data, start, end, b"ICC_PROFILE\x00") and size < 14:
                return UNUSUAL, 0, 0, -1
        elif marker == 0xED:
            if _starts_with(data, start, end, b"Photoshop 3.0\x00"):
                kind = WITH_METADATA
        elif marker == 0xEE:
            if _starts_with(data, start, end, b"Adobe") and size < 7:
                return UNUSUAL, 0, 0, -1
        elif 0xE3 <= marker <= 0xEF:
            pass  # other application segments: kept as they are
        else:
            return UNUSUAL, 0, 0, -1
        pos = end


def draft_scale(width: int, height: int, draft_size: tuple[int, int]) -> int:
    """The DCT scale (8, 4, 2 or 1) Pillow's ``draft`` picks for a requested size."""
    limit = min(width // max(1, draft_size[0]), height // max(1, draft_size[1]))
    for scale in _DRAFT_SCALES:
        if limit >= scale:
            return scale
    return 1


def dc_rounding_bias(quantizer: int) -> float:
    """See ``gray.jpeg_dc_rounding_bias``: 1 / (2m) for m = 8 / gcd(q, 8) > 1, else 0."""
    if quantizer <= 0:
        return 0.0
    m = 8 // math.gcd(quantizer, 8)
    return 0.0 if m == 1 else 1.0 / (2 * m)


def decode_draft(
    data: bytes, policy: DecodePolicy, draft_size: tuple[int, int]
) -> tuple[np.ndarray, tuple[float, float, float, float], float, int] | None:
    """Greyscale pixels of a JPEG at Pillow's draft scale, without Pillow's decode path.

    Returns ``(pixels, region, bias, orientation)`` as ``gray.decode_gray_stored`` computes them
    through Pillow for ``draft_size``, or None when the file is for Pillow's path (see the
    module notes).
    Raises ``UndecodableImageError`` only where Pillow's header reader does, with its reason.
    """
    kind, width, height, quantizer = scan_header(np.frombuffer(data, np.uint8))
    if kind == UNUSUAL:
        return None
    pixels_total = width * height
    bomb_limit = Image.MAX_IMAGE_PIXELS
    if pixels_total > policy.max_pixels or (bomb_limit and pixels_total > 2 * bomb_limit):
        return None  # Pillow's path raises the limit's error
    scale = draft_scale(width, height, draft_size)
    out_width, out_height = -(-width // scale), -(-height // scale)
    try:
        if scale == 1:
            decoded = simplejpeg.decode_jpeg(data, "GRAY", strict=True)
        else:
            decoded = simplejpeg.decode_jpeg(
                data, "GRAY", min_height=out_height, min_width=out_width, strict=True
            )
    except ValueError:
        return None  # damaged or unsupported: Pillow's path decides what it is
    if decoded.shape != (out_height, out_width, 1):
        return None
    orientation = 1
    if kind == WITH_METADATA:
        # Pillow reads this header: its errors, and the orientation from EXIF or XMP.
        orientation = orientation_due(open_image(data, policy), policy)
    bias = dc_rounding_bias(int(quantizer)) if scale == 8 else 0.0
    region = (0.0, 0.0, width / scale, height / scale)  # Pillow's draft box
    return decoded.reshape(out_height, out_width), region, bias, orientation

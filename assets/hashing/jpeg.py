"""Fast mode's JPEG decode with the interpreter out of the way (pure: no Dagster import).

Fast mode decodes a JPEG in the DCT domain, to luma only, at the scale Pillow's ``draft`` picks
(``gray.decode_gray_stored``). Done through Pillow, a web-size picture spends about a fifth of
its time in Python with the GIL held (the header parser of ``JpegImagePlugin``, the ``draft``
and ``load`` wrappers, reading the stream in blocks), which is what keeps two worker threads
from scaling. Here the same pixels come from two compiled calls that release the GIL:

* ``scan_header`` (numba) walks the markers up to the start of scan and reports the size, the
  luma DC quantiser (for the 1/8-scale rounding bias) and the EXIF orientation, read from the
  EXIF block (or XMP) by Pillow's own rules;
* libjpeg-turbo, through ``simplejpeg``, decodes to greyscale at the same DCT scale. It is the
  library Pillow's own decoder is built on, with the same defaults (accurate integer IDCT), so
  the pixels equal Pillow's draft decode; the tests compare them.

Only the plain case is taken: an 8-bit baseline, extended or progressive JPEG with one or
three components, whose header Pillow reads the same way and cannot fail on. A file whose
metadata the scan cannot vouch for (several EXIF blocks, EXIF that Pillow
would warn about or read as something other than one SHORT orientation) still has its header
read by Pillow (orientation, warnings and any header error exactly as before) but is decoded
here. Anything else returns None and the caller takes
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
from PIL import Image, TiffImagePlugin

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


# Bytes per value of each TIFF field type Pillow's EXIF reader loads (0: a type it skips),
# taken from the installed Pillow so the scan skips and bounds-checks the same entries.
TIFF_UNIT_SIZES = np.zeros(
    max(256, max(TiffImagePlugin.ImageFileDirectory_v2._load_dispatch) + 1), np.int64
)
for _type, (_unit, _) in TiffImagePlugin.ImageFileDirectory_v2._load_dispatch.items():
    TIFF_UNIT_SIZES[_type] = _unit

_ORIENTATION, _RESOLUTION_UNIT, _X_RESOLUTION = 0x0112, 0x0128, 0x011A
_SHORT, _RATIONAL = 3, 5
# What ``_exif_orientation`` returns besides a tag value.
_NEEDS_PILLOW, _ABSENT = -1, -2


@njit(cache=True, nogil=True)
def _u16(data: npt.NDArray[np.uint8], at: int, little: bool) -> np.int64:
    if little:
        return (np.int64(data[at + 1]) << 8) | np.int64(data[at])
    return (np.int64(data[at]) << 8) | np.int64(data[at + 1])


@njit(cache=True, nogil=True)
def _u32(data: npt.NDArray[np.uint8], at: int, little: bool) -> np.int64:
    if little:
        return (_u16(data, at + 2, little) << 16) | _u16(data, at, little)
    return (_u16(data, at, little) << 16) | _u16(data, at + 2, little)


@njit(cache=True, nogil=True)
def _exif_orientation(  # pragma: no cover - compiled
    data: npt.NDArray[np.uint8], start: int, end: int, has_dpi: bool, units: npt.NDArray[np.int64]
) -> int:
    """The orientation tag of an APP1 EXIF payload ``data[start:end]`` as Pillow reads it.

    The tag's value when IFD0 holds it as one SHORT, _ABSENT when IFD0 has no such tag, and
    _NEEDS_PILLOW for anything Pillow might read differently or complain about: a header other
    than a classic little- or big-endian TIFF, entries or tag data outside the block (Pillow
    warns and stops), an orientation of another type or count; and, when the JFIF header gives
    no resolution (Pillow's header reader then reads ResolutionUnit and XResolution from EXIF),
    those tags in a type other than SHORT and RATIONAL. Entries follow Pillow's rules: skipped
    when of a type it does not load or empty, the first of a repeated tag counting.
    """
    t0 = start + 6  # after "Exif\0\0"
    size = end - t0
    if size == 0:
        return _ABSENT  # Pillow: no EXIF at all
    if size < 8 or _starts_with(data, t0, end, b"Exif\x00\x00"):
        return _NEEDS_PILLOW
    if _starts_with(data, t0, end, b"II*\x00"):
        little = True
    elif _starts_with(data, t0, end, b"MM\x00*"):
        little = False
    else:
        return _NEEDS_PILLOW
    ifd = _u32(data, t0 + 4, little)
    if ifd + 2 > size:
        return _NEEDS_PILLOW
    count = _u16(data, t0 + ifd, little)
    if ifd + 2 + 12 * count + 4 > size:
        return _NEEDS_PILLOW
    seen = np.empty(count, np.int64)
    n_seen = 0
    total = 0
    found = np.full(3, -1, np.int64)  # entry offsets of orientation, resolution unit, x-res
    for i in range(count):
        entry = t0 + ifd + 2 + 12 * i
        tag = _u16(data, entry, little)
        repeated = False
        for j in range(n_seen):
            if seen[j] == tag:
                repeated = True
                break
        if repeated:
            continue
        typ = _u16(data, entry + 2, little)
        unit = units[typ] if typ < units.shape[0] else 0
        if unit == 0:
            continue  # a type Pillow does not load
        nbytes = _u32(data, entry + 4, little) * unit
        if nbytes > 4:
            total += nbytes
            if total > size or _u32(data, entry + 8, little) + nbytes > size:
                return _NEEDS_PILLOW
        elif nbytes == 0:
            continue
        seen[n_seen] = tag
        n_seen += 1
        if tag == _ORIENTATION:
            found[0] = entry
        elif tag == _RESOLUTION_UNIT:
            found[1] = entry
        elif tag == _X_RESOLUTION:
            found[2] = entry
    if not has_dpi:
        for k, expected in ((1, _SHORT), (2, _RATIONAL)):
            entry = found[k]
            if entry >= 0 and (
                _u16(data, entry + 2, little) != expected or _u32(data, entry + 4, little) != 1
            ):
                return _NEEDS_PILLOW
    entry = found[0]
    if entry < 0:
        return _ABSENT
    if _u16(data, entry + 2, little) != _SHORT or _u32(data, entry + 4, little) != 1:
        return _NEEDS_PILLOW
    return int(_u16(data, entry + 8, little))


@njit(cache=True, nogil=True)
def _xmp_orientation(data: npt.NDArray[np.uint8], start: int, end: int) -> int:
    """Pillow's ``re.search(rb'tiff:Orientation(="|>)([0-9])', xmp)`` digit, or -1."""
    key = b"tiff:Orientation"
    for at in range(start, end - len(key)):
        if data[at] != key[0] or not _starts_with(data, at, end, key):
            continue
        after = at + len(key)
        if after + 2 < end and data[after] == 61 and data[after + 1] == 34:  # ="
            digit = np.int64(data[after + 2]) - 48
        elif after + 1 < end and data[after] == 62:  # >
            digit = np.int64(data[after + 1]) - 48
        else:
            continue
        if 0 <= digit <= 9:
            return int(digit)
    return -1


@njit(cache=True, nogil=True)
def _photoshop_readable(data: npt.NDArray[np.uint8], start: int, end: int) -> bool:
    """False when Pillow's APP13 reader would fail on this Photoshop block: it stops quietly on a
    short field (``struct.error``) but not when a resource's name length lies past the end."""
    size = end - start
    offset = np.int64(14)  # after "Photoshop 3.0\0"
    while offset + 4 <= size and _starts_with(data, start + offset, end, b"8BIM"):
        offset += 4  # the signature
        if offset + 2 > size:
            return True  # Pillow: struct.error reading the resource code, caught
        offset += 2
        if offset >= size:
            return False  # Pillow: IndexError reading the name length
        offset += 1 + np.int64(data[start + offset])
        offset += offset & 1
        if offset + 4 > size:
            return True
        length = (_u16(data, start + offset, False) << 16) | _u16(data, start + offset + 2, False)
        offset += 4 + length
        offset += offset & 1
    return True


@njit(cache=True, nogil=True)
def scan_header(  # pragma: no cover - compiled
    data: npt.NDArray[np.uint8], units: npt.NDArray[np.int64]
) -> tuple[int, int, int, int, int]:
    """``(kind, width, height, luma DC quantiser or -1, EXIF orientation)`` of a JPEG's header.

    ``kind`` is UNUSUAL unless the markers up to the start of scan are ones this module reads
    exactly as Pillow's ``JpegImagePlugin`` does and none of them can make Pillow's header reader
    fail: then PLAIN, or WITH_METADATA when only Pillow can tell the orientation (several EXIF
    blocks, EXIF ``_exif_orientation`` declines). The quantiser is the first
    value of the table the first component uses, the last definition of it winning, as in
    Pillow's ``quantization``. The orientation is what ``assets.decode.exif_orientation`` gives
    for a PLAIN header (1 when there is none): EXIF's tag, else XMP's ``tiff:Orientation``, kept
    when 1..8. ``units`` is ``TIFF_UNIT_SIZES``.
    """
    n = data.shape[0]
    if n < 4 or data[0] != 0xFF or data[1] != 0xD8 or data[2] != 0xFF:
        return UNUSUAL, 0, 0, -1, 1
    dc = np.full(256, -1, np.int64)  # per table byte; Pillow stores tables under id & 15
    kind = PLAIN
    width = height = np.int64(0)
    table = np.int64(-1)
    pos = np.int64(2)
    has_dpi = False
    exif_start = exif_end = xmp_start = xmp_end = np.int64(-1)
    while True:
        if pos >= n or data[pos] != 0xFF:
            return UNUSUAL, 0, 0, -1, 1
        while pos < n and data[pos] == 0xFF:  # fill bytes before a marker
            pos += 1
        if pos + 3 > n:
            return UNUSUAL, 0, 0, -1, 1
        marker = data[pos]
        length = (np.int64(data[pos + 1]) << 8) | np.int64(data[pos + 2])
        start = pos + 3
        end = pos + 1 + length
        if length < 2 or end > n:
            return UNUSUAL, 0, 0, -1, 1
        size = end - start
        if marker == 0xDA:  # start of scan
            if table < 0:
                return UNUSUAL, 0, 0, -1, 1
            orientation = 1
            if kind == PLAIN and exif_start >= 0:
                value = _exif_orientation(data, exif_start, exif_end, has_dpi, units)
                if value == _NEEDS_PILLOW:
                    kind = WITH_METADATA
                elif value != _ABSENT:
                    orientation = value if 1 <= value <= 8 else 1
                elif xmp_start >= 0:
                    value = _xmp_orientation(data, xmp_start, xmp_end)
                    orientation = value if 1 <= value <= 8 else 1
            elif kind == PLAIN and xmp_start >= 0:
                value = _xmp_orientation(data, xmp_start, xmp_end)
                orientation = value if 1 <= value <= 8 else 1
            return kind, int(width), int(height), int(dc[table]), orientation
        if marker == 0xC0 or marker == 0xC1 or marker == 0xC2:
            if table >= 0 or size < 9 or data[start] != 8:
                return UNUSUAL, 0, 0, -1, 1
            layers = np.int64(data[start + 5])
            if (layers != 1 and layers != 3) or size != 6 + 3 * layers:
                return UNUSUAL, 0, 0, -1, 1
            height = (np.int64(data[start + 1]) << 8) | np.int64(data[start + 2])
            width = (np.int64(data[start + 3]) << 8) | np.int64(data[start + 4])
            if width == 0 or height == 0:
                return UNUSUAL, 0, 0, -1, 1
            table = np.int64(data[start + 8])  # Pillow keeps the whole byte
        elif marker == 0xDB:  # quantisation tables, as Pillow's DQT reads them
            at = start
            while at < end:
                v = np.int64(data[at])
                precision = 1 if v // 16 == 0 else 2
                if end - at < 1 + 64 * precision:
                    return UNUSUAL, 0, 0, -1, 1
                if precision == 1:
                    dc[v & 15] = np.int64(data[at + 1])
                else:
                    dc[v & 15] = (np.int64(data[at + 1]) << 8) | np.int64(data[at + 2])
                at += 1 + 64 * precision
        elif marker == 0xC4 or marker == 0xDD or marker == 0xFE:
            pass  # Huffman tables, restart interval, comment
        elif marker == 0xE0:
            if _starts_with(data, start, end, b"JFIF"):
                if size < 7:
                    return UNUSUAL, 0, 0, -1, 1
                # Pillow records a resolution for units 1 and 2 (dots per inch / per cm)
                if size >= 12 and (data[start + 7] == 1 or data[start + 7] == 2):
                    has_dpi = True
        elif marker == 0xE1:
            if _starts_with(data, start, end, b"Exif\x00\x00"):
                if exif_start >= 0:
                    kind = WITH_METADATA  # Pillow joins several EXIF blocks
                exif_start, exif_end = start, end
            elif _starts_with(data, start, end, b"http://ns.adobe.com/xap/1.0/\x00"):
                xmp_start, xmp_end = start + 29, end  # the last one counts, after its NUL
        elif marker == 0xE2:
            if _starts_with(data, start, end, b"MPF\x00"):
                return UNUSUAL, 0, 0, -1, 1
            if _starts_with(data, start, end, b"ICC_PROFILE\x00") and size < 14:
                return UNUSUAL, 0, 0, -1, 1
        elif marker == 0xED:
            if _starts_with(data, start, end, b"Photoshop 3.0\x00") and not _photoshop_readable(
                data, start, end
            ):
                return UNUSUAL, 0, 0, -1, 1
        elif marker == 0xEE:
            if _starts_with(data, start, end, b"Adobe") and size < 7:
                return UNUSUAL, 0, 0, -1, 1
        elif 0xE3 <= marker <= 0xEF:
            pass  # other application segments: kept as they are
        else:
            return UNUSUAL, 0, 0, -1, 1
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
    kind, width, height, quantizer, orientation = scan_header(
        np.frombuffer(data, np.uint8), TIFF_UNIT_SIZES
    )
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
    if not policy.apply_exif_orientation:
        orientation = 1
    if kind == WITH_METADATA:
        # Pillow reads this header: its errors, and the orientation from EXIF or XMP.
        orientation = orientation_due(open_image(data, policy), policy)
    bias = dc_rounding_bias(int(quantizer)) if scale == 8 else 0.0
    region = (0.0, 0.0, width / scale, height / scale)  # Pillow's draft box
    return decoded.reshape(out_height, out_width), region, bias, orientation

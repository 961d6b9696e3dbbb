"""Blob names for published images (pure): the lab's layout, made safe.

``<prefix>/Train|Test/<label>/<DHashHex3>.<ext>`` — labels and names come from folders people
made, so they are neutralised before they become blob paths: path separators, ``.``/``..``
segments, control characters, and characters that are legal but troublesome in URLs are replaced;
the mapping from label to folder is recorded so nothing is ambiguous.
"""

import hashlib
import re
import unicodedata

FORMAT_EXTENSIONS = {
    "JPEG": "jpg",
    "PNG": "png",
    "BMP": "bmp",
    "GIF": "gif",
    "WEBP": "webp",
    "TIFF": "tif",
}

CONTENT_TYPES = {
    "jpg": "image/jpeg",
    "png": "image/png",
    "bmp": "image/bmp",
    "gif": "image/gif",
    "webp": "image/webp",
    "tif": "image/tiff",
}

SPLIT_FOLDERS = {"train": "Train", "test": "Test"}

_UNSAFE = re.compile(r"[\x00-\x1f\x7f/\\:*?\"<>|#%&{}^~\[\]`]+")
_MAX_SEGMENT = 120


def safe_segment(text: str | None) -> str:
    """One path segment that cannot escape its folder and reads the same everywhere."""
    text = unicodedata.normalize("NFC", text or "")
    text = _UNSAFE.sub("_", text).strip().strip(".")
    text = re.sub(r"\s+", " ", text)
    if not text:
        return "_"
    if len(text.encode()) > _MAX_SEGMENT:
        digest = hashlib.sha256(text.encode()).hexdigest()[:8]
        text = text.encode()[: _MAX_SEGMENT - 9].decode("utf-8", "ignore") + "-" + digest
    return text


def safe_labels(labels) -> dict[str, str]:
    """Label -> folder. Distinct labels that neutralise to the same text get a short suffix."""
    mapping: dict[str, str] = {}
    used: dict[str, str] = {}
    for label in sorted({str(x) for x in labels}):
        folder = safe_segment(label)
        if folder in used and used[folder] != label:
            folder = f"{folder}-{hashlib.sha256(label.encode()).hexdigest()[:8]}"
        used[folder] = label
        mapping[label] = folder
    return mapping


def join_blob_path(*parts: str) -> str:
    return "/".join(p.strip("/") for p in parts if p and p.strip("/"))

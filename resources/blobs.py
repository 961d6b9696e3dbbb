"""What a blob is and which names a blob store accepts (pure: no Dagster, no Azure SDK).

The data types and name rules every blob store implementation shares, and that modules which
only look at listings (the incoming sensors' cursor, the catalog's sources) use without loading a
store.
"""

import os
import re
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from urllib.parse import unquote_to_bytes, urlparse

_CONTAINER_RE = re.compile(r"^(?!.*--)[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$")
_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f]")
MAX_BLOB_NAME = 1024


class BlobNotFoundError(FileNotFoundError):
    """The blob (or its container) does not exist."""


@dataclass(frozen=True)
class BlobInfo:
    """A blob's name, size, last-modified time and etag, as listed."""

    container: str
    name: str
    size: int
    last_modified: datetime
    etag: str
    content_md5: str | None = None  # hex digest, when the store knows it
    content_type: str | None = None
    metadata: dict[str, str] = field(default_factory=dict)


def validate_container(container: str) -> str:
    """The container name, if Azure accepts it; else ValueError saying the rule."""
    if not _CONTAINER_RE.match(container or ""):
        raise ValueError(
            f"invalid container name {container!r}: 3-63 lowercase letters, digits and single "
            "hyphens, starting and ending with a letter or digit"
        )
    return container


def validate_blob_name(name: str) -> str:
    """The blob name, if both stores can hold it; else ValueError saying why."""
    if not name or len(name) > 1024:
        raise ValueError(f"invalid blob name {name!r}: empty or longer than 1024 characters")
    if name.startswith("/") or "\\" in name or _CONTROL_RE.search(name):
        raise ValueError(f"invalid blob name {name!r}: leading '/', backslash or control character")
    if any(part in ("", ".", "..") for part in name.split("/")):
        raise ValueError(f"invalid blob name {name!r}: empty, '.' or '..' path segment")
    return name


def check_readable_name(name: str) -> str:
    """A name some writer could have given a blob: non-empty, at most 1,024 characters, no NUL.

    Reads accept far more than ``validate_blob_name``: names come from whoever filled the
    container, and every one of them must be readable (or refused with a clear error)."""
    if not name or len(name) > MAX_BLOB_NAME or "\x00" in name:
        raise ValueError(f"invalid blob name {name!r}: empty, NUL or longer than 1024 characters")
    return name


def file_uri_path(uri: str) -> Path:
    """The local path of a ``file:`` URI, byte for byte (names need not be UTF-8)."""
    return Path(os.fsdecode(unquote_to_bytes(urlparse(uri).path)))

"""Cataloguing: turn source entries into catalog rows or quarantine rows (pure, no Dagster)."""

import hashlib
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from itertools import islice, repeat
from typing import Any

from assets.decode import DEFAULT_POLICY, DecodePolicy, UndecodableImageError, probe_image
from assets.ingest.sources import SourceEntry

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def seen_key(uri: str, size: int, last_modified: datetime) -> tuple[str, int, int]:
    """Identity of a source file version without reading it: location, size, mtime (µs)."""
    return uri, int(size), (last_modified.astimezone(UTC) - _EPOCH) // timedelta(microseconds=1)


@dataclass
class CatalogBatch:
    rows: list[dict[str, Any]] = field(default_factory=list)
    quarantined: list[dict[str, Any]] = field(default_factory=list)


def catalog_one(
    entry: SourceEntry,
    read: Callable[[SourceEntry], bytes],
    policy: DecodePolicy = DEFAULT_POLICY,
    now: datetime | None = None,
) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    """Read, fingerprint and probe one file: (catalog row, None) or (None, quarantine row)."""
    now = now or datetime.now(tz=UTC)
    base = {
        "source_uri": entry.uri,
        "name": entry.name,
        "label": entry.label,
        "byte_size": entry.size,
        "last_modified": entry.last_modified,
    }
    try:
        data = read(entry)
    except FileNotFoundError as exc:
        return None, {
            **base,
            "image_id": hashlib.sha256(b"").hexdigest(),
            "stage": "catalog",
            "reason": "vanished",
            "detail": f"removed before it could be read: {exc}",
            "quarantined_at": now,
        }
    image_id = hashlib.sha256(data).hexdigest()
    base["byte_size"] = len(data)
    if entry.label is None and entry.labelled:
        return None, {
            **base,
            "image_id": image_id,
            "stage": "catalog",
            "reason": "no_label_folder",
            "detail": "files must sit in a <label>/ folder under the source root",
            "quarantined_at": now,
        }
    try:
        probe = probe_image(data, policy)
    except UndecodableImageError as exc:
        return None, {
            **base,
            "image_id": image_id,
            "stage": "catalog",
            "reason": exc.reason,
            "detail": exc.detail[:2000],
            "quarantined_at": now,
        }
    return {
        **base,
        "image_id": image_id,
        "width": probe.width,
        "height": probe.height,
        "format": probe.format,
        "mode": probe.mode,
        "exif_orientation": probe.exif_orientation,
        "frame_count": probe.frame_count,
        "is_animated": probe.is_animated,
        "ingested_at": now,
    }, None


def catalog_entries(
    entries: Iterable[SourceEntry],
    read: Callable[[SourceEntry], bytes],
    policy: DecodePolicy = DEFAULT_POLICY,
    workers: int = 2,
    batch_size: int = 256,
) -> Iterator[CatalogBatch]:
    """Catalogue entries in input order, ``batch_size`` at a time, reading with ``workers`` threads.

    Hashing the bytes and decoding release the GIL, so threads use both cores; at most one batch of
    file contents is in memory at a time.
    """
    iterator = iter(entries)
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        while chunk := list(islice(iterator, batch_size)):
            now = datetime.now(tz=UTC)
            batch = CatalogBatch()
            results = pool.map(catalog_one, chunk, repeat(read), repeat(policy), repeat(now))
            for row, bad in results:
                if row is not None:
                    batch.rows.append(row)
                if bad is not None:
                    batch.quarantined.append(bad)
            yield batch

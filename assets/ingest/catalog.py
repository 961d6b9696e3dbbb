"""Cataloguing: turn source entries into catalog rows or quarantine rows (pure, no Dagster)."""

import hashlib
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import nullcontext
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from assets.decode import (
    DEFAULT_POLICY,
    DecodePolicy,
    ImageProbe,
    UndecodableImageError,
    check_size,
    may_be_image,
    probe_header,
    probe_image,
)
from assets.ingest.sources import DEFAULT_MAX_FILE_BYTES, SourceEntry, SourceReader
from assets.ordered import OrderedExecutor
from assets.tables import quarantine_row
from resources.retries import with_retries

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

# Files larger than this are looked at before they are read whole: the first HEAD_BYTES must be
# something an image format could start with.
HEAD_BYTES = 64 * 1024
# Consecutive files one pool task of ``catalog_entries`` catalogues, at most: per file, the pool's
# round trip would cost tens of microseconds of Python with the GIL held (as in ``hash_many``).
TASK_FILES = 8
# The image_id recorded for a file quarantined without being read (SHA-256 of no bytes).
UNREAD_IMAGE_ID = hashlib.sha256(b"").hexdigest()


@dataclass(frozen=True)
class Retries:
    """How often a read that fails transiently (network trouble, throttling, a blob service
    restarting) is tried before the step fails, and the first wait (doubling each time)."""

    attempts: int = 4
    base_delay_s: float = 1.0


def permanent_read_error(exc: BaseException) -> bool:
    """A read that will fail the same way next time (a name the store refuses, a permission, a
    folder where a file was): quarantine it. Network trouble and throttling are not: they are
    retried with backoff (``Retries``), then propagate and fail the step, whose rerun resumes
    after the last batch written."""
    if isinstance(exc, (ConnectionError, TimeoutError)):
        return False
    if isinstance(exc, (ValueError, OSError)):
        return True
    status = getattr(exc, "status_code", None)  # azure.core HttpResponseError
    return isinstance(status, int) and 400 <= status < 500 and status not in (408, 429)


# Called with (image_id, bytes) of a file about to be catalogued as an image: what it computed
# from them (the catalog then skips its own validation decode, which the hasher's decode
# replaces), or None when it could not decode them (the catalog's probe decides, as without it).
# When what it computed carries the header facts of its own open of the bytes (a ``facts``
# attribute holding an ImageProbe, see ``handed_facts``), the catalog records those instead of
# opening the bytes a second time. The image_hashes handoff: see assets/ingest/assets.py.
Hasher = Callable[[str, bytes], Any]

# The phases of cataloguing one file, timed in the thread that works on it (see CatalogBatch).
PHASES = ("read", "fingerprint", "hash", "probe")


def seen_key(uri: str, size: int, last_modified: datetime) -> tuple[str, int, int]:
    """Identity of a source file version without reading it: location, size, mtime (µs)."""
    return uri, int(size), (last_modified.astimezone(UTC) - _EPOCH) // timedelta(microseconds=1)


@dataclass
class CatalogBatch:
    """Catalog rows and quarantine rows of one batch of files, written together.

    ``hashed``: what the hasher computed, by image_id, for the images of ``rows``. ``seconds``:
    time spent per phase (``PHASES``) on the batch's files, summed over the threads that worked
    on them (so up to ``workers`` times the wall-clock time).
    """

    rows: list[dict[str, Any]] = field(default_factory=list)
    quarantined: list[dict[str, Any]] = field(default_factory=list)
    hashed: dict[str, Any] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Catalogued:
    """One file's outcome: its catalog row or its quarantine row, what the hasher computed from
    its bytes (None: no hasher, or it could not decode them), and the seconds of each phase."""

    row: dict[str, Any] | None
    quarantined: dict[str, Any] | None
    hashed: Any = None
    seconds: tuple[float, ...] = (0.0,) * len(PHASES)


def streamed_sha256(chunks: Iterable[bytes]) -> tuple[str, int]:
    """SHA-256 (hex) and size of a file read as a stream of chunks."""
    digest, size = hashlib.sha256(), 0
    for chunk in chunks:
        digest.update(chunk)
        size += len(chunk)
    return digest.hexdigest(), size


@dataclass(frozen=True)
class Unread:
    """A file quarantined without being read whole: what is known of it, and why."""

    image_id: str
    reason: str
    detail: str
    byte_size: int


# Reads a file whole when its first n bytes pass the check, else returns None having read only
# those (``SourceReader.read_if`` for one entry).
ReadIf = Callable[[int, Callable[[bytes], bool]], bytes | None]


def look_before_reading(
    size: int,
    read: Callable[[], bytes],
    read_if: ReadIf | None,
    digest: Callable[[], tuple[str, int]] | None,
    max_bytes: int = DEFAULT_MAX_FILE_BYTES,
) -> bytes | Unread:
    """A file of ``size`` bytes read whole, or why it is quarantined before it is read whole
    (``Unread``). One rule for every stage that reads images (the catalog, the nightly):

    * above ``max_bytes``: ``too_large``, nothing read (its image_id is that of no bytes);
    * above HEAD_BYTES, read with ``read_if``: whole when its first HEAD_BYTES are something an
      image format could start with, in one open or download; otherwise ``unidentified_format``,
      with the SHA-256 and size ``digest`` computes as a stream (``streamed_sha256``), never
      held whole;
    * otherwise read whole (``read``).

    ``read_if`` or ``digest`` None: the reader cannot look at a prefix or stream, and the file is
    read whole.
    """
    if size > max_bytes:
        return Unread(
            UNREAD_IMAGE_ID,
            "too_large",
            f"{size} bytes exceeds the limit of {max_bytes} bytes (max_file_bytes); not read",
            size,
        )
    if read_if is None or digest is None or size <= HEAD_BYTES:
        return read()
    data = read_if(HEAD_BYTES, may_be_image)
    if data is not None:
        return data
    image_id, streamed = digest()
    return Unread(
        image_id,
        "unidentified_format",
        f"no image format starts like its first {HEAD_BYTES} bytes; "
        "hashed as a stream, never held in memory",
        streamed,
    )


def catalog_file(
    entry: SourceEntry,
    read: SourceReader | Callable[[SourceEntry], bytes],
    policy: DecodePolicy = DEFAULT_POLICY,
    now: datetime | None = None,
    max_bytes: int = DEFAULT_MAX_FILE_BYTES,
    hasher: Hasher | None = None,
    compute_slots: threading.Semaphore | None = None,
    retries: Retries = Retries(),
) -> Catalogued:
    """Read, fingerprint and probe one file: its catalog row or its quarantine row, with what the
    hasher computed and the seconds of each phase (``Catalogued``).

    ``hasher`` sees the bytes of every file that passes the checks before the probe, so one read
    serves both. ``compute_slots`` (held from the fingerprint on) lets more threads read than
    compute: downloads overlap with decoding and hashing.

    Memory per file is bounded: a file above ``max_bytes`` is quarantined unread (too_large); a
    file above HEAD_BYTES whose first bytes no image format could start with is hashed as a
    stream and quarantined (unidentified_format) without being held whole.
    """
    now = now or datetime.now(tz=UTC)
    clock = time.perf_counter
    marks = [clock()]
    seconds = [0.0] * len(PHASES)

    def lap(phase: int) -> None:
        marks.append(clock())
        seconds[phase] += marks[-1] - marks[-2]

    base: dict[str, Any] = {
        "source_uri": entry.uri,
        "name": entry.name,
        "label": entry.label,
        "byte_size": entry.size,
        "last_modified": entry.last_modified,
    }

    def quarantine(image_id: str, reason: str, detail: str) -> Catalogued:
        row = quarantine_row(
            image_id=image_id, stage="catalog", reason=reason, detail=detail, at=now, **base
        )
        return Catalogued(None, row, None, tuple(seconds))

    def retried(fn: Callable[[], Any]) -> Any:
        return with_retries(fn, retries.attempts, retries.base_delay_s)

    read_if = digest = None
    if isinstance(read, SourceReader):
        reader = read

        def read_if(n: int, accept: Callable[[bytes], bool]) -> bytes | None:
            return retried(lambda: reader.read_if(entry, n, accept))

        def digest() -> tuple[str, int]:
            return retried(lambda: streamed_sha256(reader.chunks(entry)))

    try:
        data = look_before_reading(
            entry.size, lambda: retried(lambda: read(entry)), read_if, digest, max_bytes
        )
        if isinstance(data, Unread):
            lap(0)
            base["byte_size"] = data.byte_size
            return quarantine(data.image_id, data.reason, data.detail)
    except FileNotFoundError as exc:
        lap(0)
        return quarantine(UNREAD_IMAGE_ID, "vanished", f"removed before it could be read: {exc}")
    except Exception as exc:
        if not permanent_read_error(exc):
            raise
        lap(0)
        return quarantine(UNREAD_IMAGE_ID, "unreadable", f"{type(exc).__name__}: {exc}")
    lap(0)
    hashed = None
    with compute_slots or nullcontext():
        image_id = hashlib.sha256(data).hexdigest()
        base["byte_size"] = len(data)
        lap(1)
        if entry.label is None and entry.labelled:
            return quarantine(
                image_id,
                "no_label_folder",
                "files must sit in a <label>/ folder under the source root",
            )
        try:
            if hasher is not None:
                hashed = hasher(image_id, data)
                lap(2)
            if hashed is not None:  # the hasher's decode proved the pixels
                probe = handed_facts(hashed, policy) or probe_header(data, policy)
            else:
                probe = probe_image(data, policy)
        except UndecodableImageError as exc:
            lap(3)
            return quarantine(image_id, exc.reason, exc.detail)
        lap(3)
    row = {
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
        **asdict(probe.photo),
    }
    return Catalogued(row, None, hashed, tuple(seconds))


def handed_facts(hashed: Any, policy: DecodePolicy = DEFAULT_POLICY) -> ImageProbe | None:
    """The header facts the hasher read from its own open of the bytes (what ``probe_header``
    reads), held to the catalog's size limit as ``probe_header`` holds them; None when it did
    not hand any (e.g. a JPEG it decoded without Pillow)."""
    facts = getattr(hashed, "facts", None)
    if not isinstance(facts, ImageProbe):
        return None
    check_size(facts.width, facts.height, policy)
    return facts


def catalog_entries(
    entries: Iterable[SourceEntry],
    read: SourceReader | Callable[[SourceEntry], bytes],
    policy: DecodePolicy = DEFAULT_POLICY,
    workers: int = 2,
    batch_size: int = 256,
    max_bytes: int = DEFAULT_MAX_FILE_BYTES,
    hasher: Hasher | None = None,
    readers: int = 0,
    retries: Retries = Retries(),
) -> Iterator[CatalogBatch]:
    """Catalogue entries in input order, ``batch_size`` at a time, with ``workers`` threads
    fingerprinting, decoding (and hashing, see ``catalog_file``) at once.

    Hashing the bytes and decoding release the GIL, so threads use both cores. The threads do
    not wait for the caller: while it writes one batch, they go on with the next (up to
    ``batch_size`` files ahead), so the warehouse writes overlap with the work instead of
    stopping both cores once per batch. ``readers`` more threads only read: while ``workers`` of
    them compute, the others wait on the source (a blob download), so reads overlap with the
    work. At most ``workers + readers`` file contents are in memory at a time, whatever the
    batch size.
    """
    iterator = iter(entries)
    workers = max(1, workers)
    slots = threading.Semaphore(workers) if readers > 0 else None

    def stamped() -> Iterator[tuple[SourceEntry, datetime]]:
        # The files of one batch share a timestamp: when the first of them was taken up.
        now = datetime.now(tz=UTC)
        for i, entry in enumerate(iterator):
            if i and i % batch_size == 0:
                now = datetime.now(tz=UTC)
            yield entry, now

    def one(item: tuple[SourceEntry, datetime]) -> Catalogued:
        entry, now = item
        return catalog_file(entry, read, policy, now, max_bytes, hasher, slots, retries)

    with OrderedExecutor(workers + max(0, readers), max_in_flight=batch_size) as pool:
        batch, files = CatalogBatch(), 0
        for done in pool.map_in_runs(one, stamped(), TASK_FILES):
            files += 1
            if done.row is not None:
                batch.rows.append(done.row)
                if done.hashed is not None:
                    batch.hashed[done.row["image_id"]] = done.hashed
            if done.quarantined is not None:
                batch.quarantined.append(done.quarantined)
            for phase, seconds in zip(PHASES, done.seconds, strict=True):
                batch.seconds[phase] = batch.seconds.get(phase, 0.0) + seconds
            if files == batch_size:
                yield batch
                batch, files = CatalogBatch(), 0
        if files:
            yield batch

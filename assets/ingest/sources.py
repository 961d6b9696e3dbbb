"""Listing and reading raw images from a source: a local folder or a blob container (pure).

Every name is data. A file is either listed (and then catalogued or quarantined by the caller) or
skipped *by policy* and reported as such (``Skipped``): hidden files and folders (a leading dot,
OS droppings such as ``Thumbs.db``), and symbolic links that lead out of a folder source. Names
are never interpreted: backslashes, newlines, leading dashes, any Unicode, and on Linux even
bytes that are not UTF-8 (kept exactly in the URI, shown escaped in ``name`` and ``label``).

Readers look before they read: ``SourceReader.read_if`` returns a file whole only when its first
bytes pass a check, having fetched just those otherwise, and ``chunks`` streams a file, so a large
file that is not an image never has to sit in memory. A file that is looked at and then read is
opened (or downloaded) once.
"""

import os
import stat
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from resources.environment import SourceSpec

if TYPE_CHECKING:
    from resources.blob_store import BlobStore

# Files larger than this are quarantined as too_large without being read (RawImagesConfig
# max_file_bytes overrides it). Camera raw files and big TIFFs stay well below it. Defined here,
# beside the listing, so the asset's config can name it without importing the decoder.
DEFAULT_MAX_FILE_BYTES = 256 * 1024 * 1024

SYSTEM_FILES = frozenset({"Thumbs.db", "desktop.ini", "__MACOSX", "$RECYCLE.BIN"})


def printable(text: str) -> str:
    r"""``text`` as valid Unicode: bytes a Linux file name may hold that are not UTF-8 (decoded
    by Python as lone surrogates) are shown as ``\xNN`` escapes."""
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        return text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


@dataclass(frozen=True)
class SourceEntry:
    """One file at the source. ``relpath`` is relative to the source root, ``/``-separated."""

    uri: str
    relpath: str
    size: int
    last_modified: datetime
    labelled: bool = True  # False: an unlabelled source, whose folders are not labels

    @property
    def name(self) -> str:
        return printable(self.relpath.rsplit("/", 1)[-1])

    @property
    def label(self) -> str | None:
        """The first folder under the root; ``None`` for a file directly in the root or for any
        file of an unlabelled source."""
        head, sep, _ = self.relpath.partition("/")
        return printable(head) if sep and self.labelled else None


@dataclass(frozen=True)
class Skipped:
    """A file or folder left out by policy, reported so nothing disappears without a word."""

    uri: str
    relpath: str
    reason: str  # hidden, system_file, symlink_outside_source, symlinked_folder, not_a_file

    @property
    def name(self) -> str:
        return printable(self.relpath)


def skip_reason(part: str) -> str | None:
    """Why one path segment is skipped by policy, or None."""
    if part.startswith("."):
        return "hidden"
    if part in SYSTEM_FILES:
        return "system_file"
    return None


def path_skip_reason(relpath: str) -> str | None:
    """Why a ``/``-separated path under a source root is skipped by policy, or None."""
    return next((r for p in relpath.split("/") if (r := skip_reason(p))), None)


def _inside(path: Path, root: Path) -> bool:
    return path == root or root in path.parents


def list_folder(root: Path, skipped: list[Skipped] | None = None) -> Iterator[SourceEntry]:
    """Every regular file under ``root`` in a stable order. Hidden files and folders, and links
    that resolve outside ``root``, are left out and appended to ``skipped``."""
    root = root.resolve()
    if not root.is_dir():
        raise FileNotFoundError(f"source folder {root} does not exist")
    skipped = skipped if skipped is not None else []

    def skip(path: Path, reason: str) -> None:
        skipped.append(Skipped(path.as_uri(), path.relative_to(root).as_posix(), reason))

    for dirpath, dirnames, filenames in os.walk(root):
        here = Path(dirpath)
        kept = []
        for d in sorted(dirnames):
            reason = skip_reason(d)
            if reason is None and (here / d).is_symlink():
                # os.walk does not follow folder links; say so instead of dropping them.
                inside = _inside((here / d).resolve(), root)
                reason = "symlinked_folder" if inside else "symlink_outside_source"
            if reason:
                skip(here / d, reason)
            else:
                kept.append(d)
        dirnames[:] = kept
        for filename in sorted(filenames):
            path = here / filename
            reason = skip_reason(filename)
            if reason is None and path.is_symlink() and not _inside(path.resolve(), root):
                reason = "symlink_outside_source"
            if reason is None and path.exists() and not path.is_file():
                reason = "not_a_file"  # a FIFO, socket or device: reading it could block
            if reason:
                skip(path, reason)
                continue
            try:
                stat = path.stat()
            except FileNotFoundError:
                continue  # removed while listing (or a dangling link): nothing to catalogue
            yield SourceEntry(
                uri=path.as_uri(),
                relpath=path.relative_to(root).as_posix(),
                size=stat.st_size,
                last_modified=datetime.fromtimestamp(stat.st_mtime, tz=UTC),
            )


def list_blob_prefix(
    store: "BlobStore", container: str, prefix: str, skipped: list[Skipped] | None = None
) -> Iterator[SourceEntry]:
    skipped = skipped if skipped is not None else []
    for info in store.list_blobs(container, prefix):
        relpath = info.name[len(prefix) :]
        if not relpath or relpath.endswith("/"):
            continue  # a folder marker, not a file
        reason = path_skip_reason(relpath)
        if reason:
            skipped.append(Skipped(store.url(container, info.name), relpath, reason))
            continue
        yield SourceEntry(
            uri=store.url(container, info.name),
            relpath=relpath,
            size=info.size,
            last_modified=info.last_modified,
        )


def blob_entries(
    store: "BlobStore", container: str, prefix: str, names: Sequence[str]
) -> Iterator[SourceEntry]:
    """Entries for explicitly named blobs under ``prefix``, without listing the container.

    Names are full blob names. A blob deleted since it was named is left out (it is gone, there
    is nothing to catalogue); a name outside ``prefix`` is an error.
    """
    for name in dict.fromkeys(names):
        if not name.startswith(prefix) or name == prefix:
            raise ValueError(f"blob {name!r} is not under the source prefix {prefix!r}")
        info = store.get_info(container, name)
        if info is None:
            continue
        yield SourceEntry(
            uri=store.url(container, name),
            relpath=name[len(prefix) :],
            size=info.size,
            last_modified=info.last_modified,
        )


class SourceReader:
    """Reads one source's entries: whole, the first bytes only, or streamed in chunks."""

    def read(self, entry: SourceEntry) -> bytes:
        raise NotImplementedError

    def head(self, entry: SourceEntry, n: int) -> bytes:
        raise NotImplementedError

    def chunks(self, entry: SourceEntry, chunk_size: int = 1 << 20) -> Iterator[bytes]:
        raise NotImplementedError

    def read_if(self, entry: SourceEntry, n: int, accept: Callable[[bytes], bool]) -> bytes | None:
        """The whole file when its first ``n`` bytes pass ``accept``; otherwise None, having read
        only those. Readers that can go on from where the look stopped override this (one open,
        one download); this one looks, then reads the file again from the start."""
        if not accept(self.head(entry, n)):
            return None
        return self.read(entry)

    def __call__(self, entry: SourceEntry) -> bytes:
        return self.read(entry)


# Where Linux names the file behind a descriptor: the containment check reads the path of the
# file actually opened, so a link swapped in after any check cannot lead the read out.
_FD_PATHS = "/proc/self/fd"


def _read_to_end(fd: int, expected: int) -> bytes:
    """Everything left in ``fd``; ``expected`` (the size it had when opened) sizes the first
    read, and reading goes on until the end so a file that grew is read whole all the same."""
    data = os.read(fd, max(expected, 0) + 1)
    if not data:
        return data
    pieces = [data]
    while more := os.read(fd, 1 << 20):
        pieces.append(more)
    return pieces[0] if len(pieces) == 1 else b"".join(pieces)


class FolderReader(SourceReader):
    """Reads catalogued files from a folder source, never outside it.

    Each read opens the file once and checks that what was opened lies inside the folder: a
    file may have become a link since it was listed. On Linux the check is the kernel's name
    for the open descriptor (race-free, one system call); elsewhere the path is resolved."""

    def __init__(self, root: Path):
        self.root = root.resolve()
        self._prefix = os.path.join(str(self.root), "")
        self._fd_paths = os.path.isdir(_FD_PATHS)

    def _opened_inside(self, fd: int, path: str) -> bool:
        if self._fd_paths:
            try:
                opened = os.readlink(f"{_FD_PATHS}/{fd}")
            except OSError:
                pass  # /proc without this descriptor (a sandbox): resolve the path instead
            else:
                # (A file removed since it was opened is named "<path> (deleted)": its folder
                # still decides.)
                return opened.startswith(self._prefix)
        return _inside(Path(path).resolve(), self.root)

    def _open(self, entry: SourceEntry) -> tuple[int, int]:
        """A descriptor of the entry's file, checked to lie inside the folder and to be a
        regular file, and its size."""
        path = os.path.join(self._prefix, entry.relpath)
        # O_NONBLOCK: a file replaced by a FIFO since the listing must not block the open.
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
        try:
            if not self._opened_inside(fd, path):
                raise PermissionError(f"{entry.uri} now links outside the source folder")
            info = os.fstat(fd)
            if not stat.S_ISREG(info.st_mode):
                raise IsADirectoryError(f"{entry.uri} is no longer a regular file")
        except BaseException:
            os.close(fd)
            raise
        return fd, info.st_size

    def read(self, entry: SourceEntry) -> bytes:
        fd, size = self._open(entry)
        try:
            return _read_to_end(fd, size)
        finally:
            os.close(fd)

    def head(self, entry: SourceEntry, n: int) -> bytes:
        fd, _ = self._open(entry)
        try:
            return os.read(fd, n)
        finally:
            os.close(fd)

    def read_if(self, entry: SourceEntry, n: int, accept: Callable[[bytes], bool]) -> bytes | None:
        fd, size = self._open(entry)
        try:
            head = os.read(fd, n)
            if not accept(head):
                return None
            rest = _read_to_end(fd, size - len(head))
            return head + rest if rest else head
        finally:
            os.close(fd)

    def chunks(self, entry: SourceEntry, chunk_size: int = 1 << 20) -> Iterator[bytes]:
        fd, _ = self._open(entry)
        with os.fdopen(fd, "rb", buffering=0) as handle:
            while chunk := handle.read(chunk_size):
                yield chunk


class BlobReader(SourceReader):
    """Reads catalogued files from a blob container source."""

    def __init__(self, store: "BlobStore", container: str, prefix: str):
        self.store, self.container, self.prefix = store, container, prefix

    def read(self, entry: SourceEntry) -> bytes:
        return self.store.read_bytes(self.container, self.prefix + entry.relpath)

    def head(self, entry: SourceEntry, n: int) -> bytes:
        return self.store.read_range(self.container, self.prefix + entry.relpath, 0, n)

    def read_if(self, entry: SourceEntry, n: int, accept: Callable[[bytes], bool]) -> bytes | None:
        return self.store.read_if(self.container, self.prefix + entry.relpath, n, accept)

    def chunks(self, entry: SourceEntry, chunk_size: int = 1 << 20) -> Iterator[bytes]:
        return self.store.iter_chunks(self.container, self.prefix + entry.relpath, chunk_size)


def source_root_uri(spec: SourceSpec, store: "BlobStore") -> str:
    """The URI every entry of ``spec`` starts with (its files and nothing else's)."""
    if spec.kind == "folder":
        return Path(spec.path).resolve().as_uri().rstrip("/") + "/"
    if not spec.prefix.strip("/"):
        return store.url(spec.container).rstrip("/") + "/"
    # Through the store's own URL encoding, as every entry's URI is built.
    return store.url(spec.container, spec.prefix.strip("/")) + "/"


def open_source(
    spec: SourceSpec,
    store: "BlobStore",
    names: Sequence[str] | None = None,
    skipped: list[Skipped] | None = None,
) -> tuple[Iterator[SourceEntry], SourceReader]:
    """The entries of a source and a reader for them.

    ``names`` (blob sources only): catalogue exactly these blobs instead of listing the prefix.
    ``skipped`` collects what the listing leaves out by policy.
    """
    if names is not None and spec.kind != "blob":
        raise ValueError(f"explicit blob names need a blob source, not {spec.uri}")
    if spec.kind == "folder":
        root = Path(spec.path)
        return list_folder(root, skipped), FolderReader(root)
    reader = BlobReader(store, spec.container, spec.prefix)
    if names is not None:
        return blob_entries(store, spec.container, spec.prefix, names), reader
    return list_blob_prefix(store, spec.container, spec.prefix, skipped), reader


ReadFn = Callable[[SourceEntry], bytes]

"""Listing and reading raw images from a source: a local folder or a blob container (pure)."""

import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlparse
from urllib.request import url2pathname

from resources.blob_store import BlobStore
from resources.environment import SourceSpec


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
        return self.relpath.rsplit("/", 1)[-1]

    @property
    def label(self) -> str | None:
        """The first folder under the root; ``None`` for a file directly in the root or for any
        file of an unlabelled source."""
        head, sep, _ = self.relpath.partition("/")
        return head if sep and self.labelled else None


def _hidden(part: str) -> bool:
    return part.startswith(".") or part in ("Thumbs.db", "desktop.ini", "__MACOSX")


def list_folder(root: Path) -> Iterator[SourceEntry]:
    """Every regular file under ``root`` in a stable order; hidden files and folders skipped."""
    root = root.resolve()
    if not root.is_dir():
        raise FileNotFoundError(f"source folder {root} does not exist")
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not _hidden(d))
        for filename in sorted(filenames):
            if _hidden(filename):
                continue
            path = Path(dirpath) / filename
            try:
                stat = path.stat()
            except FileNotFoundError:
                continue  # removed while listing
            if not path.is_file():
                continue
            yield SourceEntry(
                uri=path.as_uri(),
                relpath=path.relative_to(root).as_posix(),
                size=stat.st_size,
                last_modified=datetime.fromtimestamp(stat.st_mtime, tz=UTC),
            )


def list_blob_prefix(store: BlobStore, container: str, prefix: str) -> Iterator[SourceEntry]:
    for info in store.list_blobs(container, prefix):
        relpath = info.name[len(prefix) :]
        if not relpath or any(_hidden(p) for p in relpath.split("/")):
            continue
        yield SourceEntry(
            uri=store.url(container, info.name),
            relpath=relpath,
            size=info.size,
            last_modified=info.last_modified,
        )


def blob_entries(
    store: BlobStore, container: str, prefix: str, names: Sequence[str]
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


def open_source(
    spec: SourceSpec, store: BlobStore, names: Sequence[str] | None = None
) -> tuple[Iterator[SourceEntry], Callable[[SourceEntry], bytes]]:
    """The entries of a source and a function that reads one entry's bytes.

    ``names`` (blob sources only): catalogue exactly these blobs instead of listing the prefix.
    """
    if names is not None and spec.kind != "blob":
        raise ValueError(f"explicit blob names need a blob source, not {spec.uri}")
    if spec.kind == "folder":
        root = Path(spec.path)

        def read_file(entry: SourceEntry) -> bytes:
            return (root / entry.relpath).read_bytes()

        return list_folder(root), read_file

    def read_blob(entry: SourceEntry) -> bytes:
        return store.read_bytes(spec.container, spec.prefix + entry.relpath)

    if names is not None:
        return blob_entries(store, spec.container, spec.prefix, names), read_blob
    return list_blob_prefix(store, spec.container, spec.prefix), read_blob


def read_uri(uri: str, store: BlobStore) -> bytes:
    """Read the bytes a catalog ``source_uri`` points to (a local file or a blob in ``store``)."""
    located = store.locate(uri)
    if located is not None:
        return store.read_bytes(*located)
    if uri.startswith("file:"):
        return Path(url2pathname(urlparse(uri).path)).read_bytes()
    raise ValueError(f"{uri!r} is neither a local file nor a blob in the configured store")

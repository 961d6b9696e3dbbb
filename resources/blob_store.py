"""Blob storage behind one interface: a local folder store and Azure Blob Storage.

Both implementations share the same semantics, so assets, sensors and tests do not care which one
they get:

* containers hold blobs named by ``/``-separated paths; a prefix lists a "folder";
* ``list_blobs`` yields ``BlobInfo`` (size, last-modified in UTC, etag, MD5 when known) in name
  order and pages through large containers;
* ``write_bytes`` sets the content type and string metadata and returns the new ``BlobInfo``;
* names the platform writes are validated the same way everywhere: no empty, ``.`` or ``..``
  segments, no leading ``/``, no backslashes or control characters, so nothing written can escape
  its container;
* names the platform reads are data: any name the store can hold (newlines, backslashes, leading
  dashes or dots, 1,024 characters, any Unicode) is listed and read; only a name that cannot
  exist in the store is refused, with ``ValueError``;
* ``read_range`` and ``iter_chunks`` read part of a blob or stream it, so a caller can look at a
  header or hash a large blob without holding it in memory; ``read_if`` looks at the first bytes
  and reads the rest only when they pass, without fetching any byte twice.
"""

import hashlib
import json
import os
import re
import tempfile
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from contextlib import suppress
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, unquote, urlparse
from urllib.request import url2pathname

import dagster as dg
from pydantic import Field, PrivateAttr

if TYPE_CHECKING:  # the Azure SDK loads on first use, not with the code location
    from azure.storage.blob import BlobServiceClient, ContainerClient

from resources.blobs import (
    BlobInfo,
    BlobNotFoundError,
    check_readable_name,
    file_uri_path,
    validate_blob_name,
    validate_container,
)

_META_DIR = ".blobmeta"
# How often AzureBlobStore.read_if starts over when the blob changes between its two downloads
# before it gives up (the last ResourceModifiedError propagates).
_READ_IF_ATTEMPTS = 3
# The local store's own in-flight writes (tempfile.mkstemp(prefix=".tmp-")): 8 random characters.
_TEMP_FILE_RE = re.compile(r"^\.tmp-[a-z0-9_]{8}$")


def _clean_metadata(metadata: dict[str, Any] | None) -> dict[str, str]:
    # Azure metadata values must be ASCII header values; keep both stores identical.
    out: dict[str, str] = {}
    for key, value in (metadata or {}).items():
        if not re.match(r"^[A-Za-z_][A-Za-z0-9_]*$", key):
            raise ValueError(f"invalid metadata key {key!r}: use a C identifier")
        text = "" if value is None else str(value)
        out[key] = text.encode("ascii", "backslashreplace").decode("ascii").replace("\n", " ")
    return out


class BlobStore(dg.ConfigurableResource, ABC):
    """The platform's blob storage interface (see the module docstring for the contract);
    ``LocalBlobStore`` and ``AzureBlobStore`` implement the abstract methods."""

    @abstractmethod
    def ensure_container(self, container: str, public: bool = False) -> None:
        raise NotImplementedError

    @abstractmethod
    def container_exists(self, container: str) -> bool:
        raise NotImplementedError

    @abstractmethod
    def list_blobs(self, container: str, prefix: str = "") -> Iterator[BlobInfo]:
        raise NotImplementedError

    @abstractmethod
    def get_info(self, container: str, name: str) -> BlobInfo | None:
        raise NotImplementedError

    def exists(self, container: str, name: str) -> bool:
        return self.get_info(container, name) is not None

    @abstractmethod
    def read_bytes(self, container: str, name: str) -> bytes:
        raise NotImplementedError

    @abstractmethod
    def read_range(self, container: str, name: str, offset: int, length: int) -> bytes:
        """At most ``length`` bytes from ``offset`` (fewer at the end of the blob)."""
        raise NotImplementedError

    @abstractmethod
    def iter_chunks(self, container: str, name: str, chunk_size: int = 1 << 20) -> Iterator[bytes]:
        """The blob's bytes in pieces of about ``chunk_size``: memory stays bounded."""
        raise NotImplementedError

    def read_if(
        self, container: str, name: str, n: int, accept: Callable[[bytes], bool]
    ) -> bytes | None:
        """The whole blob when its first ``n`` bytes pass ``accept``; otherwise None, having
        fetched only those. (This default looks, then reads the whole blob again; stores that
        can go on from where the look stopped override it.)"""
        if not accept(self.read_range(container, name, 0, n)):
            return None
        return self.read_bytes(container, name)

    @abstractmethod
    def write_bytes(
        self,
        container: str,
        name: str,
        data: bytes,
        content_type: str | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> BlobInfo:
        raise NotImplementedError

    @abstractmethod
    def delete(self, container: str, name: str) -> None:
        raise NotImplementedError

    @abstractmethod
    def url(self, container: str, name: str = "") -> str:
        raise NotImplementedError

    @abstractmethod
    def locate(self, url: str) -> tuple[str, str] | None:
        """The (container, name) that ``url`` points to in this store, or None."""
        raise NotImplementedError

    def read_uri(self, uri: str) -> bytes:
        """Read the bytes a catalog ``source_uri`` points to (a blob here, or a local file)."""
        located = self.locate(uri)
        if located is not None:
            return self.read_bytes(*located)
        if uri.startswith("file:"):
            return file_uri_path(uri).read_bytes()
        raise ValueError(f"{uri!r} is neither a local file nor a blob in the configured store")


class LocalBlobStore(BlobStore):
    """Blob semantics on a local folder: ``<root>/<container>/<name>``.

    Content type and metadata live in a sidecar tree ``<root>/.blobmeta/<container>/<name>.json``;
    files dropped into a container folder by hand are ordinary blobs without metadata.
    Writes are atomic (temporary file + rename), so a reader never sees half a blob.
    """

    root: str = Field(description="Folder that holds one sub-folder per container.")

    def _root(self) -> Path:
        return Path(self.root).expanduser().resolve()

    def _path(self, container: str, name: str = "", write: bool = True) -> Path:
        base = self._root() / validate_container(container)
        if not name:
            return base
        if write:
            validate_blob_name(name)
        else:
            check_readable_name(name)
            if name.startswith("/") or any(p in ("", ".", "..") for p in name.split("/")):
                raise ValueError(f"blob name {name!r} cannot exist in a folder store")
        path = (base / name).resolve()
        if base not in path.parents:
            raise ValueError(f"blob name {name!r} escapes container {container!r}")
        return path

    def _meta_path(self, container: str, name: str) -> Path:
        return self._root() / _META_DIR / container / (validate_blob_name(name) + ".json")

    def ensure_container(self, container: str, public: bool = False) -> None:
        self._path(container).mkdir(parents=True, exist_ok=True)

    def container_exists(self, container: str) -> bool:
        return self._path(container).is_dir()

    def _info(self, container: str, name: str, path: Path) -> BlobInfo:
        stat = path.stat()
        meta: dict[str, Any] = {}
        with suppress(FileNotFoundError, ValueError):
            meta = json.loads(self._meta_path(container, name).read_text())
        # Sidecar facts only count when they describe the bytes now on disk.
        fresh = meta.get("size") == stat.st_size and meta.get("mtime_ns") == stat.st_mtime_ns
        return BlobInfo(
            container=container,
            name=name,
            size=stat.st_size,
            last_modified=datetime.fromtimestamp(stat.st_mtime, tz=UTC),
            etag=f"{stat.st_mtime_ns:x}-{stat.st_size:x}",
            content_md5=meta.get("md5") if fresh else None,
            content_type=meta.get("content_type") if fresh else None,
            metadata=dict(meta.get("metadata", {})) if fresh else {},
        )

    def list_blobs(self, container: str, prefix: str = "") -> Iterator[BlobInfo]:
        base = self._path(container)
        if not base.is_dir():
            return
        found: list[str] = []
        for dirpath, _dirnames, filenames in os.walk(base):
            rel_dir = Path(dirpath).relative_to(base).as_posix()
            for filename in filenames:
                if _TEMP_FILE_RE.match(filename):
                    continue  # this store's own in-flight writes; every other name is a blob
                name = filename if rel_dir == "." else f"{rel_dir}/{filename}"
                if name.startswith(prefix):
                    found.append(name)
        for name in sorted(found):
            with suppress(FileNotFoundError):  # deleted while listing
                yield self._info(container, name, base / name)

    def get_info(self, container: str, name: str) -> BlobInfo | None:
        path = self._path(container, name, write=False)
        try:
            return self._info(container, name, path) if path.is_file() else None
        except FileNotFoundError:
            return None

    def read_bytes(self, container: str, name: str) -> bytes:
        try:
            return self._path(container, name, write=False).read_bytes()
        except (FileNotFoundError, IsADirectoryError) as exc:
            raise BlobNotFoundError(f"{container}/{name}") from exc

    def read_range(self, container: str, name: str, offset: int, length: int) -> bytes:
        try:
            with self._path(container, name, write=False).open("rb") as handle:
                handle.seek(offset)
                return handle.read(length)
        except (FileNotFoundError, IsADirectoryError) as exc:
            raise BlobNotFoundError(f"{container}/{name}") from exc

    def read_if(
        self, container: str, name: str, n: int, accept: Callable[[bytes], bool]
    ) -> bytes | None:
        try:
            with self._path(container, name, write=False).open("rb") as handle:
                head = handle.read(n)
                return head + handle.read() if accept(head) else None
        except (FileNotFoundError, IsADirectoryError) as exc:
            raise BlobNotFoundError(f"{container}/{name}") from exc

    def iter_chunks(self, container: str, name: str, chunk_size: int = 1 << 20) -> Iterator[bytes]:
        try:
            handle = self._path(container, name, write=False).open("rb")
        except (FileNotFoundError, IsADirectoryError) as exc:
            raise BlobNotFoundError(f"{container}/{name}") from exc
        with handle:
            while chunk := handle.read(chunk_size):
                yield chunk

    def write_bytes(
        self,
        container: str,
        name: str,
        data: bytes,
        content_type: str | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> BlobInfo:
        path = self._path(container, name)
        path.parent.mkdir(parents=True, exist_ok=True)
        _atomic_write(path, data)
        stat = path.stat()
        meta_path = self._meta_path(container, name)
        meta_path.parent.mkdir(parents=True, exist_ok=True)
        sidecar = {
            "size": stat.st_size,
            "mtime_ns": stat.st_mtime_ns,
            "md5": hashlib.md5(data).hexdigest(),
            "content_type": content_type,
            "metadata": _clean_metadata(metadata),
        }
        _atomic_write(meta_path, json.dumps(sidecar).encode())
        return self._info(container, name, path)

    def delete(self, container: str, name: str) -> None:
        with suppress(FileNotFoundError):
            self._path(container, name, write=False).unlink()
        with suppress(FileNotFoundError, ValueError):
            self._meta_path(container, name).unlink()

    def url(self, container: str, name: str = "") -> str:
        if not name:
            return self._path(container).as_uri()
        return self._path(container, name, write=False).as_uri()

    def locate(self, url: str) -> tuple[str, str] | None:
        if not url.startswith("file:"):
            return None
        path = Path(url2pathname(urlparse(url).path)).resolve()
        root = self._root()
        if root not in path.parents:
            return None
        container, _, name = path.relative_to(root).as_posix().partition("/")
        return (container, name) if name else None


def _atomic_write(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(tmp, path)
    except BaseException:
        with suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


class AzureBlobStore(BlobStore):
    """Azure Blob Storage (or Azurite) through the Azure SDK's ``BlobServiceClient``.

    The SDK is imported when a method first talks to the service, not with this module: the
    code location is loaded by every run, sensor tick and CLI call, most of which never touch
    Blob Storage.
    """

    account_url: str = Field(description="Blob service endpoint, e.g. https://<account>.blob...")
    account_key: str | None = Field(
        default=None,
        description=(
            "Shared key (a dg.EnvVar, never a literal). None: the workload's identity through "
            "DefaultAzureCredential."
        ),
    )
    page_size: int = Field(default=5000, description="Blobs per listing page (Azure's maximum).")
    max_concurrency: int = Field(default=4, description="Parallel connections per large upload.")
    # The SDK's own retries of every request (its ExponentialRetry; defaults are the SDK's): the
    # n-th retry waits initial + increment_base**n seconds, give or take the jitter. Callers add
    # their own retries on top (resources.retries), so an outage is ridden out for about
    # attempts x (sum of these waits); tests shorten them to stay fast.
    retry_total: int = Field(default=3, ge=0, description="SDK retries per request.")
    retry_initial_backoff_seconds: float = Field(
        default=15.0, ge=0, description="SDK wait before its first retry."
    )
    retry_increment_base_seconds: float = Field(
        default=3.0, ge=0, description="SDK retry n waits initial + increment_base**n."
    )
    retry_jitter_seconds: float = Field(
        default=3.0, ge=0, description="Random spread (+/-) of each SDK retry wait."
    )

    _client: Any = PrivateAttr(default=None)
    _lock: Any = PrivateAttr(default_factory=threading.Lock)

    def _service(self) -> "BlobServiceClient":
        # One service client per resource instance: it pools connections and is thread-safe.
        with self._lock:
            if self._client is None:
                from azure.storage.blob import BlobServiceClient, ExponentialRetry

                # The SDK computes with these waits as floats (the outage tests use fractions of a
                # second) although its signature annotates them int.
                waits: dict[str, Any] = {
                    "initial_backoff": self.retry_initial_backoff_seconds,
                    "increment_base": self.retry_increment_base_seconds,
                    "random_jitter_range": self.retry_jitter_seconds,
                }
                retry = ExponentialRetry(retry_total=self.retry_total, **waits)
                self._client = BlobServiceClient(
                    account_url=self.account_url,
                    credential=self._credential(),
                    retry_policy=retry,
                )
            return self._client

    def _credential(self) -> Any:
        if self.account_key:
            return self.account_key
        from azure.identity import DefaultAzureCredential

        return DefaultAzureCredential()

    def _container(self, container: str) -> "ContainerClient":
        return self._service().get_container_client(validate_container(container))

    def ensure_container(self, container: str, public: bool = False) -> None:
        from azure.core.exceptions import ResourceExistsError

        client = self._container(container)
        with suppress(ResourceExistsError):
            client.create_container(public_access="blob" if public else None)

    def container_exists(self, container: str) -> bool:
        return bool(self._container(container).exists())

    def _to_info(self, container: str, props: Any) -> BlobInfo:
        settings = props.content_settings
        md5 = getattr(settings, "content_md5", None) if settings is not None else None
        return BlobInfo(
            container=container,
            name=props.name,
            size=int(props.size),
            last_modified=props.last_modified.astimezone(UTC),
            # Listings return etags without quotes, get_blob_properties with them.
            etag=str(props.etag).strip('"'),
            content_md5=bytes(md5).hex() if md5 else None,
            content_type=getattr(settings, "content_type", None) if settings else None,
            metadata=dict(props.metadata or {}),
        )

    def list_blobs(self, container: str, prefix: str = "") -> Iterator[BlobInfo]:
        from azure.core.exceptions import ResourceNotFoundError

        client = self._container(container)
        pages = client.list_blobs(
            name_starts_with=prefix or None,
            include=["metadata"],
            results_per_page=self.page_size,
        ).by_page()
        try:
            for page in pages:
                for props in page:
                    yield self._to_info(container, props)
        except ResourceNotFoundError:
            return

    def get_info(self, container: str, name: str) -> BlobInfo | None:
        from azure.core.exceptions import ResourceNotFoundError

        try:
            props = (
                self._container(container)
                .get_blob_client(check_readable_name(name))
                .get_blob_properties()
            )
        except ResourceNotFoundError:
            return None
        return self._to_info(container, props)

    def read_bytes(self, container: str, name: str) -> bytes:
        from azure.core.exceptions import ResourceNotFoundError

        try:
            blob = self._container(container).get_blob_client(check_readable_name(name))
            return blob.download_blob(max_concurrency=self.max_concurrency).readall()
        except ResourceNotFoundError as exc:
            raise BlobNotFoundError(f"{container}/{name}") from exc

    def read_range(self, container: str, name: str, offset: int, length: int) -> bytes:
        info = self.get_info(container, name)
        if info is None:
            raise BlobNotFoundError(f"{container}/{name}")
        # A range past the end is refused by the service (416): ask only for what exists.
        return self._range(container, name, offset, max(0, min(length, info.size - offset)))

    def _range(self, container: str, name: str, offset: int, length: int) -> bytes:
        from azure.core.exceptions import ResourceNotFoundError

        if length <= 0:
            return b""
        try:
            blob = self._container(container).get_blob_client(name)
            return blob.download_blob(offset=offset, length=length).readall()
        except ResourceNotFoundError as exc:
            raise BlobNotFoundError(f"{container}/{name}") from exc

    def read_if(
        self, container: str, name: str, n: int, accept: Callable[[bytes], bool]
    ) -> bytes | None:
        # Two ranged downloads, the second only when the first bytes pass and only of what
        # follows them; the second is conditional on the first one's etag, so a blob replaced in
        # between is never stitched from two versions: it is looked at afresh.
        from azure.core import MatchConditions
        from azure.core.exceptions import (
            HttpResponseError,
            ResourceModifiedError,
            ResourceNotFoundError,
        )

        blob = self._container(container).get_blob_client(check_readable_name(name))
        for attempt in range(1, _READ_IF_ATTEMPTS + 1):
            try:
                first = blob.download_blob(offset=0, length=n)
            except ResourceNotFoundError as exc:
                raise BlobNotFoundError(f"{container}/{name}") from exc
            except HttpResponseError as exc:
                if exc.status_code != 416:
                    raise
                # An empty blob has no first byte to range over.
                return super().read_if(container, name, n, accept)
            head = first.readall()
            if not accept(head):
                return None
            total = int(str(first.properties.content_range).rsplit("/", 1)[1])
            if total <= len(head):
                return head
            try:
                rest = blob.download_blob(
                    offset=len(head),
                    length=total - len(head),
                    etag=first.properties.etag,
                    match_condition=MatchConditions.IfNotModified,
                    max_concurrency=self.max_concurrency,
                ).readall()
            except ResourceNotFoundError as exc:
                raise BlobNotFoundError(f"{container}/{name}") from exc
            except ResourceModifiedError:
                if attempt == _READ_IF_ATTEMPTS:
                    raise
                continue
            return head + rest
        raise AssertionError("unreachable")

    def iter_chunks(self, container: str, name: str, chunk_size: int = 1 << 20) -> Iterator[bytes]:
        # Ranged reads of chunk_size: the SDK's own download buffers up to 32 MiB at first.
        info = self.get_info(container, name)
        if info is None:
            raise BlobNotFoundError(f"{container}/{name}")
        for offset in range(0, info.size, chunk_size):
            yield self._range(container, name, offset, min(chunk_size, info.size - offset))

    def write_bytes(
        self,
        container: str,
        name: str,
        data: bytes,
        content_type: str | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> BlobInfo:
        from azure.storage.blob import ContentSettings

        md5 = hashlib.md5(data).digest()
        blob = self._container(container).get_blob_client(validate_blob_name(name))
        blob.upload_blob(
            data,
            overwrite=True,
            content_settings=ContentSettings(content_type=content_type, content_md5=bytearray(md5)),
            metadata=_clean_metadata(metadata),
            max_concurrency=self.max_concurrency,
        )
        info = self.get_info(container, name)
        if info is None:  # pragma: no cover - the service acknowledged the write
            raise BlobNotFoundError(f"{container}/{name} missing right after upload")
        return info

    def delete(self, container: str, name: str) -> None:
        from azure.core.exceptions import ResourceNotFoundError

        with suppress(ResourceNotFoundError):
            self._container(container).get_blob_client(check_readable_name(name)).delete_blob()

    def url(self, container: str, name: str = "") -> str:
        base = self.account_url.rstrip("/") + "/" + validate_container(container)
        return f"{base}/{quote(check_readable_name(name), safe='/')}" if name else base

    def locate(self, url: str) -> tuple[str, str] | None:
        base = self.account_url.rstrip("/") + "/"
        if not url.startswith(base):
            return None
        container, _, name = url[len(base) :].partition("/")
        return (container, unquote(name)) if name else None

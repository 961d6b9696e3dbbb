"""Helpers for the source-side fault scenarios: hostile names written past the platform's own
name checks (as any other writer could), and runs of the curation assets on real stores."""

import os
from pathlib import Path

import dagster as dg

from assets.ingest.assets import RawImagesConfig, raw_images
from resources.blob_store import AzureBlobStore, BlobStore, LocalBlobStore
from tests.support.resources import platform_resources

# Names a file system or Blob Storage accepts and a careless pipeline does not.
HOSTILE_BLOB_NAMES = [
    "new\nline.jpg",
    "tab\there.jpg",
    "carriage\rreturn.jpg",
    "-rf.jpg",
    "--help.jpg",
    "100% #1?.jpg",
    "%41 escaped.jpg",
    "猫 ünïcødé é.jpg",
    "emoji 🐈.jpg",
    "trailing dot.",
    "[brackets] {braces} (parens) 'quotes' \"dq\".jpg",
]


def put_raw(store: BlobStore, container: str, name: str, data: bytes) -> None:
    """Write a blob under any name the store can hold, bypassing the platform's write checks."""
    store.ensure_container(container)
    if isinstance(store, LocalBlobStore):
        path = Path(store.root) / container / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    elif isinstance(store, AzureBlobStore):
        store._container(container).upload_blob(name, data, overwrite=True)
    else:  # pragma: no cover - every store has a branch above
        raise TypeError(type(store).__name__)


def set_mtime(path: Path, timestamp: float) -> None:
    os.utime(path, (timestamp, timestamp))


def catalog(warehouse, blob_store, source: str, **config) -> tuple[dict, list]:
    result = dg.materialize(
        [raw_images],
        resources=platform_resources(warehouse, blob_store),
        run_config=dg.RunConfig({"raw_images": RawImagesConfig(source=source, **config)}),
    )
    assert result.success
    (mat,) = result.asset_materializations_for_node("raw_images")
    return mat.metadata, result.get_asset_check_evaluations()

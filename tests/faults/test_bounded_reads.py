"""Bounded memory per file, and folder sources that stay inside their folder."""

import hashlib
import os
import tracemalloc
from datetime import UTC, datetime, time
from pathlib import Path

import dagster as dg
import numpy as np
import pytest
from PIL import Image

from assets.inference.assets import NightlyConfig, nightly_classifications
from assets.ingest import sources
from assets.ingest.catalog import HEAD_BYTES, UNREAD_IMAGE_ID, catalog_file
from assets.ingest.sources import BlobReader, FolderReader, SourceEntry, list_folder
from assets.tables import IMAGE_PREDICTIONS, QUARANTINED_IMAGES, RAW_IMAGES
from tests.assets.test_classification import DAY, trained  # noqa: F401
from tests.assets.test_split_and_publish import prepared  # noqa: F401
from tests.support.images import encode, photo
from tests.support.resources import platform_resources
from tests.support.sources import catalog, put_raw, set_mtime

MB = 1024 * 1024


def _sparse_non_image(path, size: int) -> str:
    """A large file that is not an image (a zip header, then zeros), and its SHA-256."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as handle:
        handle.write(b"PK\x03\x04" + b"\x14" * 60)
        handle.truncate(size)
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(8 * MB):
            digest.update(chunk)
    return digest.hexdigest()


def _peak_bytes(fn):
    tracemalloc.start()
    try:
        result = fn()
        return result, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


class CountingReader(FolderReader):
    """A real folder reader that remembers how it was asked to read: ``calls`` says what was
    read ("head" for a look that stopped at the first bytes, "read" for a file read whole),
    ``opens`` how often a file was opened."""

    def __init__(self, root):
        super().__init__(root)
        self.calls: list[str] = []
        self.opens = 0

    def _open(self, entry):
        self.opens += 1
        return super()._open(entry)

    def read(self, entry):
        self.calls.append("read")
        return super().read(entry)

    def head(self, entry, n):
        self.calls.append("head")
        return super().head(entry, n)

    def read_if(self, entry, n, accept):
        data = super().read_if(entry, n, accept)
        self.calls.append("head" if data is None else "read")
        return data


def test_a_300_mb_file_that_is_not_an_image_is_quarantined_without_being_held(tmp_path):
    root = tmp_path / "src"
    expected = _sparse_non_image(root / "videos" / "movie.jpg", 300 * MB)
    (entry,) = list_folder(root)
    reader = CountingReader(root)
    done, peak = _peak_bytes(lambda: catalog_file(entry, reader, max_bytes=1024 * MB))
    row, bad = done.row, done.quarantined
    assert row is None and bad["reason"] == "unidentified_format"
    assert bad["image_id"] == expected and bad["byte_size"] == 300 * MB
    assert reader.calls == ["head"]
    assert peak < 16 * MB, f"peak {peak / MB:.1f} MB for a 300 MB file"


def test_a_file_above_the_size_limit_is_quarantined_unread(tmp_path, warehouse, local_blob_store):
    root = tmp_path / "src"
    _sparse_non_image(root / "videos" / "movie.mp4", 3 * MB)
    (root / "cats").mkdir()
    (root / "cats" / "cat.jpg").write_bytes(encode(photo("chelsea.png"), quality=90))
    (entry,) = [e for e in list_folder(root) if e.name == "movie.mp4"]
    reader = CountingReader(root)
    done = catalog_file(entry, reader, max_bytes=2 * MB)
    row, bad = done.row, done.quarantined
    assert row is None and bad["reason"] == "too_large" and reader.calls == []
    assert bad["image_id"] == UNREAD_IMAGE_ID and bad["byte_size"] == 3 * MB

    _, checks = catalog(warehouse, local_blob_store, str(root), max_file_bytes=2 * MB)
    quarantine = warehouse.read_table(QUARANTINED_IMAGES).set_index("name")
    assert quarantine.loc["movie.mp4", "reason"] == "too_large"
    assert list(warehouse.read_table(RAW_IMAGES).name) == ["cat.jpg"]
    assert all(check.passed for check in checks)


def test_large_real_images_are_still_catalogued_after_the_header_look(
    tmp_path, warehouse, local_blob_store
):
    root = tmp_path / "src" / "noise"
    root.mkdir(parents=True)
    rng = np.random.default_rng(3)
    pixels = rng.integers(0, 255, (700, 900, 3), dtype=np.uint8)
    (root / "big.png").write_bytes(encode(Image.fromarray(pixels), "PNG"))
    (root / "big.tga").write_bytes(encode(Image.fromarray(pixels), "TGA"))  # no magic prefix
    assert min(p.stat().st_size for p in root.iterdir()) > 1 * MB
    catalog(warehouse, local_blob_store, str(tmp_path / "src"))
    assert sorted(warehouse.read_table(RAW_IMAGES).format) == ["PNG", "TGA"]

    # Looked at and read whole in one open of each file.
    reader = CountingReader(tmp_path / "src")
    for entry in list_folder(tmp_path / "src"):
        done = catalog_file(entry, reader)
        assert done.row is not None and done.row["byte_size"] == entry.size
    assert reader.calls == ["read", "read"] and reader.opens == 2


def test_a_large_non_image_blob_is_hashed_as_a_stream(blob_store):
    data = b"%PDF-1.7\n" + bytes(range(256)) * (24 * MB // 256)
    put_raw(blob_store, "big-blobs", "lab/docs/manual.pdf", data)
    (info,) = blob_store.list_blobs("big-blobs", "lab/")
    entry = SourceEntry(
        blob_store.url("big-blobs", info.name), "docs/manual.pdf", info.size, info.last_modified
    )
    reader = BlobReader(blob_store, "big-blobs", "lab/")
    done, peak = _peak_bytes(lambda: catalog_file(entry, reader))
    row, bad = done.row, done.quarantined
    assert row is None and bad["reason"] == "unidentified_format"
    assert bad["image_id"] == hashlib.sha256(data).hexdigest()
    del data
    assert peak < 16 * MB, f"peak {peak / MB:.1f} MB for a 24 MB blob"


def test_a_large_image_blob_is_catalogued_without_fetching_a_byte_twice(blob_store):
    """Its first bytes, then only the rest: neither a whole-blob download after the look nor a
    second look (the store's read_bytes and read_range are never called)."""
    rng = np.random.default_rng(7)
    data = encode(Image.fromarray(rng.integers(0, 255, (300, 300, 3), dtype=np.uint8)), "PNG")
    assert len(data) > HEAD_BYTES
    put_raw(blob_store, "big-blobs", "lab/noise/big.png", data)
    (info,) = blob_store.list_blobs("big-blobs", "lab/")
    entry = SourceEntry(
        blob_store.url("big-blobs", info.name), "noise/big.png", info.size, info.last_modified
    )
    fetched: list[str] = []

    class Counting(type(blob_store)):
        def read_bytes(self, container, name):
            fetched.append("read_bytes")
            return super().read_bytes(container, name)

        def read_range(self, container, name, offset, length):
            fetched.append("read_range")
            return super().read_range(container, name, offset, length)

    store = Counting(**blob_store.model_dump())
    done = catalog_file(entry, BlobReader(store, "big-blobs", "lab/"))
    assert done.row is not None and done.row["image_id"] == hashlib.sha256(data).hexdigest()
    assert done.row["byte_size"] == len(data) and fetched == []


def test_no_symlink_leads_out_of_a_folder_source(tmp_path, warehouse, local_blob_store):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.jpg").write_bytes(encode(photo("coffee.png"), quality=80))
    root = tmp_path / "src"
    (root / "cats").mkdir(parents=True)
    (root / "cats" / "cat.jpg").write_bytes(encode(photo("chelsea.png"), quality=80))
    (root / "cats" / "secret.jpg").symlink_to(outside / "secret.jpg")
    (root / "cats" / "same-cat.jpg").symlink_to(root / "cats" / "cat.jpg")  # stays inside
    (root / "stolen").symlink_to(outside, target_is_directory=True)

    metadata, checks = catalog(warehouse, local_blob_store, str(root))

    assert sorted(warehouse.read_table(RAW_IMAGES).name) == ["cat.jpg", "same-cat.jpg"]
    assert warehouse.count(QUARANTINED_IMAGES) == 0
    assert metadata["skipped_by_policy_count"].value == 2
    shown = metadata["skipped_by_policy"].value
    assert "symlink_outside_source" in shown and "secret.jpg" in shown and "stolen" in shown
    assert all(check.passed for check in checks)

    # A file that turns into a link after it was listed is refused at read time.
    (entry,) = [e for e in list_folder(root) if e.name == "cat.jpg"]
    (root / "cats" / "cat.jpg").unlink()
    (root / "cats" / "cat.jpg").symlink_to(outside / "secret.jpg")
    done = catalog_file(entry, FolderReader(root))
    row, bad = done.row, done.quarantined
    assert row is None and bad["reason"] == "unreadable" and "outside" in bad["detail"]


@pytest.mark.parametrize("fd_paths", [True, False], ids=["proc-fd", "resolved-path"])
def test_files_that_became_links_after_listing_are_read_only_inside_the_folder(
    tmp_path, monkeypatch, fd_paths
):
    """Listed as plain files, then replaced by links before they are read: a link out of the
    folder is refused whatever the file's size (one look-and-read open above HEAD_BYTES, a plain
    read below), and by every kind of read; a link to another file inside is read. Checked on
    the descriptor's own path (Linux /proc) and, where /proc is missing, by resolving the path."""
    if not fd_paths:
        monkeypatch.setattr(sources, "_FD_PATHS", str(tmp_path / "no-proc"))
    rng = np.random.default_rng(5)
    big = encode(Image.fromarray(rng.integers(0, 255, (300, 300, 3), dtype=np.uint8)), "PNG")
    small = encode(photo("chelsea.png").resize((60, 40)), "PNG")
    assert len(big) > HEAD_BYTES > len(small)
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.png").write_bytes(big)
    root = tmp_path / "src"
    (root / "cats").mkdir(parents=True)
    for name in ("big-out.png", "small-out.png", "big-in.png"):
        (root / "cats" / name).write_bytes(small if name.startswith("small") else big)
    (root / "cats" / "kept.png").write_bytes(big)
    entries = {e.name: e for e in list_folder(root)}
    for name in ("big-out.png", "small-out.png"):
        (root / "cats" / name).unlink()
        (root / "cats" / name).symlink_to(outside / "secret.png")
    (root / "cats" / "big-in.png").unlink()
    (root / "cats" / "big-in.png").symlink_to(root / "cats" / "kept.png")
    reader = FolderReader(root)

    for name in ("big-out.png", "small-out.png"):
        done = catalog_file(entries[name], reader)
        assert done.row is None, name
        assert done.quarantined["reason"] == "unreadable"
        assert "links outside the source folder" in done.quarantined["detail"]
        with pytest.raises(PermissionError):
            reader.head(entries[name], 10)
        with pytest.raises(PermissionError):
            next(reader.chunks(entries[name]))
    done = catalog_file(entries["big-in.png"], reader)
    assert done.row is not None and done.row["image_id"] == hashlib.sha256(big).hexdigest()


def test_a_file_replaced_by_a_fifo_after_listing_is_quarantined_without_blocking(tmp_path):
    root = tmp_path / "src"
    (root / "cats").mkdir(parents=True)
    (root / "cats" / "cat.jpg").write_bytes(encode(photo("chelsea.png"), quality=80))
    (entry,) = list_folder(root)
    (root / "cats" / "cat.jpg").unlink()
    os.mkfifo(root / "cats" / "cat.jpg")  # a read of a FIFO without a writer waits forever
    done = catalog_file(entry, FolderReader(root))
    assert done.row is None and done.quarantined["reason"] == "unreadable"
    assert "no longer a regular file" in done.quarantined["detail"]


def test_a_nights_large_arrivals_are_looked_at_before_they_are_read(trained):  # noqa: F811
    """The nightly reads incoming blobs with the catalog's rule: a 100 MB non-image is hashed
    as a stream, a 200 MB file above max_file_bytes is never read, the others are classified."""
    warehouse, store, _ = trained
    noon = datetime.combine(DAY, time(12), tzinfo=UTC)
    folder = Path(store.root) / "incoming" / "2026" / "03" / "14"
    movie = _sparse_non_image(folder / "movie.jpg", 100 * MB)
    huge = folder / "huge.png"
    with huge.open("wb") as handle:  # starts like a PNG: only its size keeps it unread
        handle.write(encode(photo("chelsea.png").resize((40, 30)), "PNG"))
        handle.truncate(200 * MB)
    put_raw(store, "incoming", "2026/03/14/cat.jpg", encode(photo("chelsea.png"), quality=80))
    for path in folder.iterdir():
        set_mtime(path, noon.timestamp())

    result, peak = _peak_bytes(
        lambda: dg.materialize(
            [nightly_classifications],
            partition_key=DAY.isoformat(),
            resources=platform_resources(warehouse, store),
            run_config=dg.RunConfig(
                {"nightly_classifications": NightlyConfig(max_file_bytes=150 * MB)}
            ),
        )
    )

    assert result.success
    assert list(warehouse.read_table(IMAGE_PREDICTIONS).blob_path) == [
        "incoming/2026/03/14/cat.jpg"
    ]
    quarantine = warehouse.read_table(QUARANTINED_IMAGES)
    quarantine = quarantine[quarantine.stage == "classify"].set_index("name")
    assert quarantine.loc["huge.png", "reason"] == "too_large"
    assert quarantine.loc["huge.png", "image_id"] == UNREAD_IMAGE_ID
    assert quarantine.loc["huge.png", "byte_size"] == 200 * MB
    assert quarantine.loc["movie.jpg", "reason"] == "unidentified_format"
    assert quarantine.loc["movie.jpg", "image_id"] == movie
    (mat,) = result.asset_materializations_for_node("nightly_classifications")
    assert mat.metadata["quarantined_unread"].value == 2
    assert peak < 64 * MB, f"peak {peak / MB:.1f} MB for a night with 300 MB of arrivals"

"""The blob-store contract, against the local folder store and a real Azurite."""

import hashlib
import time

import pytest

from resources.blob_store import AzureBlobStore
from resources.blobs import BlobNotFoundError


def test_write_read_and_info_round_trip(blob_store):
    blob_store.ensure_container("roundtrip")
    data = b"\x89PNG fake but bytes are bytes" * 100
    info = blob_store.write_bytes(
        "roundtrip",
        "Train/cats/ab12.png",
        data,
        content_type="image/png",
        metadata={"label": "cats", "image_id": "abc", "source": "caf\u00e9"},
    )
    assert info.size == len(data)
    assert info.content_md5 == hashlib.md5(data).hexdigest()
    assert blob_store.read_bytes("roundtrip", "Train/cats/ab12.png") == data
    fetched = blob_store.get_info("roundtrip", "Train/cats/ab12.png")
    assert fetched.etag == info.etag and not fetched.etag.startswith('"')
    assert fetched.content_type == "image/png"
    assert fetched.metadata["label"] == "cats" and fetched.metadata["source"] == "caf\\xe9"
    assert fetched.last_modified.tzinfo is not None
    assert blob_store.exists("roundtrip", "Train/cats/ab12.png")
    assert not blob_store.exists("roundtrip", "Train/cats/missing.png")


def test_overwriting_changes_the_etag_and_listing_is_by_prefix_in_name_order(blob_store):
    blob_store.ensure_container("listing")
    for name in ["b/2.jpg", "a/1.jpg", "a/0.jpg", "ab/3.jpg"]:
        blob_store.write_bytes("listing", name, name.encode())
    assert [b.name for b in blob_store.list_blobs("listing", "a/")] == ["a/0.jpg", "a/1.jpg"]
    assert [b.name for b in blob_store.list_blobs("listing")] == [
        "a/0.jpg",
        "a/1.jpg",
        "ab/3.jpg",
        "b/2.jpg",
    ]
    before = blob_store.get_info("listing", "a/0.jpg")
    time.sleep(0.01)
    after = blob_store.write_bytes("listing", "a/0.jpg", b"new content")
    assert after.etag != before.etag and after.size == len(b"new content")
    listed = {b.name: b for b in blob_store.list_blobs("listing", "a/")}
    assert listed["a/0.jpg"].etag == after.etag


def test_listing_a_missing_container_is_empty_and_reading_a_missing_blob_raises(blob_store):
    assert list(blob_store.list_blobs("nosuchcontainer")) == []
    blob_store.ensure_container("reads")
    with pytest.raises(BlobNotFoundError):
        blob_store.read_bytes("reads", "nothing/here.jpg")


def test_delete_removes_a_blob_and_is_idempotent(blob_store):
    blob_store.ensure_container("deletes")
    blob_store.write_bytes("deletes", "x.bin", b"x")
    blob_store.delete("deletes", "x.bin")
    blob_store.delete("deletes", "x.bin")
    assert not blob_store.exists("deletes", "x.bin")


@pytest.mark.parametrize(
    "name", ["../escape.jpg", "a/../../b.jpg", "/abs.jpg", "a//b.jpg", "a\\b.jpg", "a/\x00b.jpg"]
)
def test_names_that_could_escape_the_container_are_refused(blob_store, name):
    blob_store.ensure_container("hostile")
    with pytest.raises(ValueError):
        blob_store.write_bytes("hostile", name, b"x")


def test_container_names_follow_azure_rules_everywhere(blob_store):
    for bad in ["UPPER", "a", "under_score", "double--hyphen", "-edge"]:
        with pytest.raises(ValueError):
            blob_store.ensure_container(bad)


def test_azure_listing_pages_through_large_containers(azure_blob_store):
    store = azure_blob_store.model_copy(update={"page_size": 7})
    store.ensure_container("paging")
    for i in range(30):
        store.write_bytes("paging", f"p/{i:03d}.bin", b"x")
    assert [b.name for b in store.list_blobs("paging", "p/")] == [
        f"p/{i:03d}.bin" for i in range(30)
    ]


def test_local_store_sees_files_dropped_in_by_hand(local_blob_store, tmp_path):
    local_blob_store.ensure_container("incoming")
    dropped = tmp_path / "blobs" / "incoming" / "2026" / "photo.jpg"
    dropped.parent.mkdir(parents=True)
    dropped.write_bytes(b"jpeg bytes")
    # The store's own in-flight write (tempfile.mkstemp(prefix=".tmp-")) is not a blob...
    (dropped.parent / ".tmp-k3x_9qz1").write_bytes(b"partial")
    # ...but a file someone named with a leading dot is one, like any other name.
    (dropped.parent / ".hidden photo.jpg").write_bytes(b"jpeg bytes")
    infos = list(local_blob_store.list_blobs("incoming"))
    assert [i.name for i in infos] == ["2026/.hidden photo.jpg", "2026/photo.jpg"]
    assert infos[1].content_md5 is None and infos[1].metadata == {}


def test_read_if_reads_the_rest_only_when_the_first_bytes_pass(blob_store):
    blob_store.ensure_container("looks")
    data = bytes(range(256)) * 1024  # 256 KiB: more than the look
    blob_store.write_bytes("looks", "big.bin", data)
    blob_store.write_bytes("looks", "small.bin", b"tiny")
    blob_store.write_bytes("looks", "empty.bin", b"")
    seen: list[bytes] = []

    def accept(head: bytes) -> bool:
        seen.append(head)
        return True

    assert blob_store.read_if("looks", "big.bin", 1000, accept) == data
    assert seen == [data[:1000]]
    assert blob_store.read_if("looks", "big.bin", 1000, lambda head: False) is None
    assert blob_store.read_if("looks", "small.bin", 1000, accept) == b"tiny"
    assert blob_store.read_if("looks", "empty.bin", 1000, accept) == b""
    assert blob_store.read_if("looks", "empty.bin", 1000, lambda head: False) is None
    with pytest.raises(BlobNotFoundError):
        blob_store.read_if("looks", "nothing/here.bin", 1000, accept)


def test_a_blob_replaced_while_it_is_looked_at_is_read_as_one_version(blob_store):
    """The rest of a blob is never stitched to the first bytes of another version: the store
    reads the version it looked at, or looks at the new one afresh."""
    blob_store.ensure_container("looks")
    old, new = b"A" * 300_000, b"B" * 200_000
    blob_store.write_bytes("looks", "photo.bin", old)
    seen: list[bytes] = []

    def accept_and_replace(head: bytes) -> bool:
        seen.append(head)
        if len(seen) == 1:
            blob_store.write_bytes("looks", "photo.bin", new)
        return True

    data = blob_store.read_if("looks", "photo.bin", 1000, accept_and_replace)
    # One look: the version looked at, read whole through the same open (the local store's
    # atomic replace leaves it intact). Two looks: the service refused the rest of the old
    # version, and the new one was looked at and read.
    assert data == (old if len(seen) == 1 else new)
    assert seen == [old[:1000]] or seen == [old[:1000], new[:1000]]
    assert len(seen) == (2 if isinstance(blob_store, AzureBlobStore) else 1)

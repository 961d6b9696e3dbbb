"""The incoming sensor end to end: real Azurite, a real Dagster instance, real runs, DuckDB."""

import logging
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime, timedelta

import dagster as dg
import pytest
from azure.storage.blob import BlobServiceClient

from assets.automation.sensors import new_blobs_sensor
from assets.ingest.assets import raw_images
from assets.run_tags import BATCH_TAG, SKIPPED_TAG
from assets.tables import IMAGE_HASHES, RAW_IMAGES, RAW_IMAGES_HISTORY
from tests.support.images import encode, photo
from tests.support.resources import platform_resources
from tests.support.services import AZURITE_ACCOUNT, AZURITE_KEY


@pytest.fixture
def incoming(platform_home, warehouse, monkeypatch, azure_blob_store):
    monkeypatch.setenv("IMAGE_PLATFORM_INCOMING", "blob://arrivals/drop/")
    monkeypatch.setenv("IMAGE_PLATFORM_DUCKDB_PATH", warehouse.path)
    azure_blob_store.ensure_container("arrivals")
    return azure_blob_store


def _tick(instance, store, cursor):
    with dg.build_sensor_context(
        instance=instance, cursor=cursor, resources=platform_resources(blob_store=store)
    ) as context:
        return new_blobs_sensor(context)


def _run(instance, warehouse, store, request):
    """The requested curation_job run, as the daemon would launch it."""
    from assets.definitions import defs

    result = defs.resolve_job_def("curation_job").execute_in_process(
        run_config=request.run_config,
        tags=request.tags,
        instance=instance,
        resources=platform_resources(warehouse, store, dbt=True),
    )
    assert result.success
    return result


def _catalogue_only(instance, warehouse, store, request):
    """Only the cataloguing step of a requested run (hashing and dbt add a minute per run)."""
    result = dg.materialize(
        [raw_images],
        run_config=request.run_config,
        tags=request.tags,
        instance=instance,
        resources=platform_resources(warehouse, store),
    )
    assert result.success


def _catalogued(warehouse) -> dict[str, int]:
    catalog = warehouse.read_table(RAW_IMAGES)
    return catalog.name.value_counts().to_dict()


def test_new_blobs_are_catalogued_hashed_and_deduplicated_exactly_once(incoming, warehouse):
    store = incoming
    cat, coffee = encode(photo("chelsea.png"), quality=90), encode(photo("coffee.png"), quality=90)
    store.write_bytes("arrivals", "drop/2026/07/01/cat.jpg", cat)
    store.write_bytes("arrivals", "drop/2026/07/01/coffee.jpg", coffee)
    instance = dg.DagsterInstance.ephemeral()

    first = _tick(instance, store, None)
    (request,) = first.run_requests
    assert request.run_key == f"incoming-{request.tags[BATCH_TAG]}"
    result = _run(instance, warehouse, store, request)
    assert result.dagster_run.tags[BATCH_TAG] == request.tags[BATCH_TAG]
    catalog = warehouse.read_table(RAW_IMAGES)
    assert sorted(catalog.name) == ["cat.jpg", "coffee.jpg"] and catalog.label.isna().all()
    assert set(warehouse.read_table(IMAGE_HASHES).image_id) == set(catalog.image_id)
    groups = warehouse.query_df("SELECT image_id FROM duplicate_groups")
    assert set(groups.image_id) == set(catalog.image_id)

    second = _tick(instance, store, first.cursor)
    assert not second.run_requests and "no new blobs" in second.skip_reason.skip_message

    store.write_bytes(
        "arrivals", "drop/2026/07/02/small_cat.png", encode(photo().resize((90, 60)), "PNG")
    )
    third = _tick(instance, store, second.cursor)
    (request,) = third.run_requests
    assert request.run_config["ops"]["raw_images"]["config"]["blob_names"] == [
        "drop/2026/07/02/small_cat.png"
    ]
    _catalogue_only(instance, warehouse, store, request)
    assert _tick(instance, store, third.cursor).skip_reason is not None

    time.sleep(1.1)  # a new last-modified second for the overwrite
    store.write_bytes("arrivals", "drop/2026/07/01/coffee.jpg", encode(photo("rocket.jpg")))
    fourth = _tick(instance, store, third.cursor)
    (request,) = fourth.run_requests
    assert request.run_config["ops"]["raw_images"]["config"]["blob_names"] == [
        "drop/2026/07/01/coffee.jpg"
    ]
    _catalogue_only(instance, warehouse, store, request)
    # One current row per location: the overwritten content is history, not a second row.
    assert _catalogued(warehouse) == {"cat.jpg": 1, "small_cat.png": 1, "coffee.jpg": 1}
    history = warehouse.read_table(RAW_IMAGES_HISTORY)
    assert list(history.name) == ["coffee.jpg"] and list(history.retired_reason) == ["overwritten"]
    assert _tick(instance, store, fourth.cursor).skip_reason is not None


def _names(result) -> set[str]:
    return {
        name
        for request in result.run_requests
        for name in request.run_config["ops"]["raw_images"]["config"]["blob_names"]
    }


def test_a_tick_on_a_container_of_ten_thousand_blobs_stays_under_ten_seconds(
    platform_home, monkeypatch, azurite, azure_blob_store
):
    log = logging.getLogger(__name__)
    monkeypatch.setenv("IMAGE_PLATFORM_INCOMING", "blob://bulk/")
    azure_blob_store.ensure_container("bulk")
    service = BlobServiceClient(
        account_url=azurite,
        credential={"account_name": AZURITE_ACCOUNT, "account_key": AZURITE_KEY},
    )
    container = service.get_container_client("bulk")
    # 100 past days of 100 arrivals each, in the YYYY/MM/DD layout.
    start = date(2026, 3, 1)
    names = [f"{start + timedelta(days=i // 100):%Y/%m/%d}/{i:05d}.jpg" for i in range(10_000)]
    with ThreadPoolExecutor(max_workers=32) as pool:
        list(pool.map(lambda n: container.upload_blob(n, n.encode(), overwrite=True), names))
    instance = dg.DagsterInstance.ephemeral()

    # The first ticks list the whole container: 10 runs of 500 each, then the rest.
    started = time.monotonic()
    first = _tick(instance, azure_blob_store, None)
    full_listing = time.monotonic() - started
    assert [
        len(r.run_config["ops"]["raw_images"]["config"]["blob_names"]) for r in first.run_requests
    ] == [500] * 10
    second = _tick(instance, azure_blob_store, first.cursor)
    assert not _names(first) & _names(second) and _names(first) | _names(second) == set(names)

    # From then on a tick lists only the date folders from the low-water mark's day on.
    monkeypatch.setenv("IMAGE_PLATFORM_INCOMING_DATE_FOLDERS", "%Y/%m/%d")
    new = f"{datetime.now(tz=UTC):%Y/%m/%d}/new.jpg"
    azure_blob_store.write_bytes("bulk", new, b"new")
    started = time.monotonic()
    third = _tick(instance, azure_blob_store, second.cursor)
    steady = time.monotonic() - started
    log.warning(
        "10,000-blob container: full-listing tick %.2f s, dated tick %.2f s", full_listing, steady
    )
    assert _names(third) == {new}
    assert steady < 10, f"tick took {steady:.1f}s"
    # Azurite serves a 10,000-blob listing in several seconds; still far inside the 60 s limit.
    assert full_listing < 30, f"full-listing tick took {full_listing:.1f}s"


def test_hidden_and_system_blobs_are_counted_and_listed_not_dropped_silently(incoming, warehouse):
    store = incoming
    cat = encode(photo("chelsea.png"), quality=90)
    store.write_bytes("arrivals", "drop/2026/07/01/cat.jpg", cat)
    store.write_bytes("arrivals", "drop/2026/07/01/.cat-copy.jpg", cat)
    store.write_bytes("arrivals", "drop/2026/07/01/Thumbs.db", b"thumbs")
    instance = dg.DagsterInstance.ephemeral()

    first = _tick(instance, store, None)
    (request,) = first.run_requests
    assert request.tags[SKIPPED_TAG] == "2"
    result = dg.materialize(
        [raw_images],
        run_config=request.run_config,
        tags=request.tags,
        instance=instance,
        resources=platform_resources(warehouse, store),
    )
    assert _catalogued(warehouse) == {"cat.jpg": 1}
    (mat,) = result.asset_materializations_for_node("raw_images")
    assert mat.metadata["skipped_by_policy_count"].value == 2
    listed = mat.metadata["skipped_by_policy"].value
    assert ".cat-copy.jpg" in listed and "Thumbs.db" in listed and "system_file" in listed

    # Reported once; a hidden blob arriving alone is named in the tick's skip reason.
    assert _tick(instance, store, first.cursor).run_requests == []
    store.write_bytes("arrivals", "drop/2026/07/01/.DS_Store", b"\0\0\0\1Bud1")
    alone = _tick(instance, store, first.cursor)
    assert alone.run_requests == []
    assert "1 new blobs skipped by policy" in alone.skip_reason.skip_message
    assert ".DS_Store" in alone.skip_reason.skip_message

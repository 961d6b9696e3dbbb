"""Azurite killed in the middle of publishing: a short outage is ridden out by the retries with
backoff; a long one fails the run, and the rerun after the restart completes it. Either way the
published blobs and published_images equal a clean publish: nothing lost, nothing twice."""

import signal
import threading
import time

import dagster as dg
import pytest

from assets.ingest.assets import RawImagesConfig, raw_images
from assets.publish.assets import PublishConfig, published_images
from assets.tables import PUBLISHED_IMAGES, RAW_IMAGES
from resources.blob_store import LocalBlobStore
from resources.warehouse.duckdb_warehouse import DuckDBWarehouse
from tests.assets.test_split_and_publish import _split
from tests.support.chain import write_source
from tests.support.dedup_tables import seed_dedup_tables
from tests.support.harness import Azurite, assert_same, blob_snapshot, table_snapshot
from tests.support.resources import platform_resources
from tests.support.services import local_environment

pytestmark = pytest.mark.slow


def _prepared(root, source):
    warehouse = DuckDBWarehouse(path=str(root / "warehouse.duckdb"))
    local = LocalBlobStore(root=str(root / "blobs"))
    config = dg.RunConfig({"raw_images": RawImagesConfig(source=str(source))})
    resources = platform_resources(warehouse, local)
    assert dg.materialize([raw_images], resources=resources, run_config=config).success
    # One group per distinct content: every catalogued image is kept and published.
    names = warehouse.read_table(RAW_IMAGES).drop_duplicates("image_id").name
    seed_dedup_tables(warehouse, local, {name: [name] for name in names})
    _split(warehouse, ratio=0.5)
    return warehouse


def _publish(warehouse, store, container, **config):
    return dg.materialize(
        [published_images],
        partition_key="train",
        resources=platform_resources(warehouse, store),
        run_config=dg.RunConfig(
            {"published_images": PublishConfig(container=container, max_concurrency=2, **config)}
        ),
        raise_on_error=False,
    )


def _state(warehouse, store, container):
    blobs = blob_snapshot(store, [container]).drop(columns=["container"])
    return {"published_images": table_snapshot(warehouse, PUBLISHED_IMAGES), "blobs": blobs}


def _kill_after_uploads(azurite, store, container: str, n: int, restart_after: float, sig):
    """Kill Azurite once ``n`` blobs are in ``container``; restart it after ``restart_after``
    seconds (never, when negative). Returns the thread and a dict it fills in."""
    seen = {}

    def watch():
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            try:
                count = sum(1 for _ in store.list_blobs(container))
            except Exception:
                count = 0
            if count >= n:
                azurite.kill(sig)
                seen["killed_with"] = count
                if restart_after >= 0:
                    time.sleep(restart_after)
                    azurite.start()
                    seen["restarted"] = True
                return
            time.sleep(0.02)

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    return thread, seen


@pytest.fixture(scope="module")
def outage(tmp_path_factory):
    """One Azurite and one clean publish for the module; each test publishes to its own
    container."""
    root = tmp_path_factory.mktemp("outage")
    with local_environment(root / "home"):
        source = write_source(root / "source")
        azurite = Azurite(root / "azurite").start()
        store = azurite.store()
        clean_wh = _prepared(root / "clean", source)
        assert _publish(clean_wh, store, "clean").success
        clean = _state(clean_wh, store, "clean")
        yield source, azurite, store, clean
        azurite.kill()


def test_a_short_outage_mid_publish_is_ridden_out_by_retries_with_backoff(
    tmp_path, platform_home, outage
):
    source, azurite, store, clean = outage
    warehouse = _prepared(tmp_path / "faulted", source)
    store.ensure_container("short-outage")
    thread, seen = _kill_after_uploads(azurite, store, "short-outage", 2, 0.5, signal.SIGTERM)

    result = _publish(warehouse, store, "short-outage", retry_attempts=9)
    thread.join(timeout=120)

    assert seen.get("restarted"), seen
    assert result.success
    assert_same(clean, _state(warehouse, store, "short-outage"))


def test_a_long_outage_fails_the_run_and_the_rerun_after_the_restart_completes_it(
    tmp_path, platform_home, outage
):
    source, azurite, store, clean = outage
    warehouse = _prepared(tmp_path / "faulted", source)
    store.ensure_container("long-outage")
    # A crash: the emulator may also lose uploads it had acknowledged; the rerun lists the side
    # first and uploads whatever is missing.
    thread, seen = _kill_after_uploads(azurite, store, "long-outage", 2, -1, signal.SIGKILL)

    failed = _publish(warehouse, store, "long-outage", retry_attempts=2)
    thread.join(timeout=120)

    assert seen.get("killed_with"), seen
    assert not failed.success
    azurite.start()
    assert _publish(warehouse, store, "long-outage").success
    assert_same(clean, _state(warehouse, store, "long-outage"))

"""Azurite stopped in the middle of cataloguing a blob source: a short outage is ridden out by
the catalog's retries with backoff; a long one fails the run after its retries, with the
batches written so far kept, and the rerun after the restart catalogues the rest. Either way
raw_images, its history and the quarantine equal a clean catalog: nothing lost, nothing twice.

The outage is injected at an exact point (after the n-th blob read) by a store that stops the
real Azurite from inside its read; everything else is the real store against the real service."""

import signal
import threading
import time

import dagster as dg
import pytest

from assets.ingest.assets import RawImagesConfig, raw_images
from assets.tables import QUARANTINED_IMAGES, RAW_IMAGES, RAW_IMAGES_HISTORY
from resources.blob_store import AzureBlobStore
from resources.warehouse.duckdb_warehouse import DuckDBWarehouse
from tests.support.chain import write_source
from tests.support.harness import Azurite, assert_same, table_snapshot
from tests.support.resources import platform_resources
from tests.support.services import local_environment
from tests.support.sources import put_raw

pytestmark = pytest.mark.slow

CONTAINER = "lab"
# One Azurite per module; the store's hook reads this to stop it at the chosen read.
_OUTAGE: dict = {}


class OutageAfterReads(AzureBlobStore):
    """The real Azure store; its n-th read stops Azurite (and restarts it ``restart_after``
    seconds later unless negative) before reading, so that read and the next ones meet a
    refused connection."""

    def _tick(self) -> None:
        with _OUTAGE["lock"]:
            _OUTAGE["reads"] += 1
            if _OUTAGE["reads"] != _OUTAGE["after"]:
                return
            azurite = _OUTAGE["azurite"]
            azurite.kill(_OUTAGE["signal"])
            _OUTAGE["stopped"] = True
            if _OUTAGE["restart_after"] >= 0:

                def restart():
                    time.sleep(_OUTAGE["restart_after"])
                    azurite.start()
                    _OUTAGE["restarted"] = True

                threading.Thread(target=restart, daemon=True).start()

    def read_bytes(self, container: str, name: str) -> bytes:
        self._tick()
        return super().read_bytes(container, name)

    def read_range(self, container: str, name: str, offset: int, length: int) -> bytes:
        self._tick()
        return super().read_range(container, name, offset, length)

    def read_if(self, container: str, name: str, n: int, accept) -> bytes | None:
        self._tick()
        return super().read_if(container, name, n, accept)


def _catalog(root, store, **config):
    warehouse = DuckDBWarehouse(path=str(root / "warehouse.duckdb"))
    result = dg.materialize(
        [raw_images],
        resources=platform_resources(warehouse, store),
        run_config=dg.RunConfig(
            {
                "raw_images": RawImagesConfig(
                    source=f"blob://{CONTAINER}", batch_size=4, readers=2, **config
                )
            }
        ),
        raise_on_error=False,
    )
    return warehouse, result


def _state(warehouse) -> dict:
    return {
        spec.name: table_snapshot(warehouse, spec)
        for spec in (RAW_IMAGES, RAW_IMAGES_HISTORY, QUARANTINED_IMAGES)
    }


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    """One Azurite holding a labelled collection, and its clean catalog."""
    root = tmp_path_factory.mktemp("catalog-outage")
    with local_environment(root / "home"):
        azurite = Azurite(root / "azurite").start()
        store = azurite.store()
        files = write_source(root / "source")
        for path in sorted(p for p in files.rglob("*") if p.is_file()):
            put_raw(store, CONTAINER, path.relative_to(files).as_posix(), path.read_bytes())
        clean_wh, result = _catalog(root / "clean", store)
        assert result.success
        clean = _state(clean_wh)
        assert len(clean["raw_images"]) > 10 and len(clean["quarantined_images"]) == 1
        yield azurite, clean
        azurite.kill()


def _outage(azurite, after: int, restart_after: float, sig=signal.SIGTERM):
    _OUTAGE.clear()
    _OUTAGE.update(
        lock=threading.Lock(),
        reads=0,
        after=after,
        azurite=azurite,
        signal=sig,
        restart_after=restart_after,
    )
    return OutageAfterReads(**azurite.store().model_dump())


def _wait_restarted(timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not _OUTAGE.get("restarted"):
        assert time.monotonic() < deadline, "Azurite was not restarted"
        time.sleep(0.1)


def test_a_short_outage_mid_catalog_is_ridden_out_by_retries_with_backoff(
    tmp_path, platform_home, source
):
    azurite, clean = source
    store = _outage(azurite, after=6, restart_after=0.5)

    warehouse, result = _catalog(tmp_path, store, retry_attempts=6, retry_base_delay_seconds=0.5)
    _wait_restarted()

    assert _OUTAGE.get("stopped")
    assert result.success
    assert_same(clean, _state(warehouse))


def test_a_long_outage_mid_catalog_fails_the_run_and_the_rerun_after_the_restart_completes_it(
    tmp_path, platform_home, source
):
    azurite, clean = source
    # A crash that outlasts the retries: the run fails; the batches written before it stay.
    store = _outage(azurite, after=10, restart_after=-1, sig=signal.SIGKILL)

    warehouse, failed = _catalog(tmp_path, store, retry_attempts=2, retry_base_delay_seconds=0.2)

    assert _OUTAGE.get("stopped")
    assert not failed.success
    written = len(warehouse.read_table(RAW_IMAGES))
    assert 0 < written < len(clean["raw_images"])  # the failure came mid-catalog
    azurite.start()
    warehouse, rerun = _catalog(tmp_path, azurite.store())
    assert rerun.success
    assert_same(clean, _state(warehouse))

"""A batch whose run fails is requested again by new_blobs_sensor (with backoff, under a new
run key) until it succeeds — never dropped because the cursor moved on."""

import subprocess
import sys
import time

import dagster as dg
import pytest

from assets.automation.retries import BatchRun, backoff_seconds, plan_retries
from assets.automation.sensors import new_blobs_sensor
from assets.ingest.assets import raw_images
from assets.run_tags import ATTEMPT_TAG, BATCH_TAG
from assets.tables import RAW_IMAGES
from resources.blob_store import LocalBlobStore
from resources.warehouse.duckdb_warehouse import DuckDBWarehouse
from tests.support.images import encode, photo
from tests.support.resources import platform_resources


def _tick(instance, store, cursor=None):
    with dg.build_sensor_context(
        instance=instance, cursor=cursor, resources=platform_resources(blob_store=store)
    ) as context:
        result = new_blobs_sensor(context)
    return result


def _execute(instance, request, warehouse, store):
    """The requested curation_job run, cataloguing step only (hashing and dbt add a minute)."""
    defs = dg.Definitions(
        assets=[raw_images],
        jobs=[dg.define_asset_job("curation_job", selection=[raw_images])],
        resources=platform_resources(warehouse, store),
    )
    return defs.resolve_job_def("curation_job").execute_in_process(
        run_config=request.run_config,
        tags=request.tags,
        instance=instance,
        raise_on_error=False,
    )


class OtherWriter:
    """Another process holding the DuckDB file open for writing (two writers at once)."""

    def __init__(self, path: str):
        code = (
            "import duckdb, sys, time\n"
            f"con = duckdb.connect({path!r})\n"
            "con.execute('CREATE TABLE IF NOT EXISTS other_writer (x INTEGER)')\n"
            "print('locked', flush=True)\n"
            "time.sleep(120)\n"
        )
        self.proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE)
        assert self.proc.stdout.readline().strip() == b"locked"

    def stop(self):
        self.proc.kill()
        self.proc.wait()


@pytest.fixture
def incoming(platform_home, monkeypatch):
    monkeypatch.setenv("IMAGE_PLATFORM_INCOMING_RETRY_DELAY_SECONDS", "0.5")
    monkeypatch.setenv("IMAGE_PLATFORM_INCOMING_MAX_ATTEMPTS", "3")
    store = LocalBlobStore(root=str(platform_home / "blobs"))
    store.ensure_container("incoming")
    for i, name in enumerate(["chelsea.png", "coffee.png", "rocket.jpg"]):
        image = photo(name).resize((120 + i, 90))
        store.write_bytes("incoming", f"2026/03/14/upload-{i}.jpg", encode(image))
    return store


def test_a_failed_batch_is_requested_again_under_a_new_run_key_and_catalogued(
    incoming, platform_home
):
    warehouse = DuckDBWarehouse(path=str(platform_home / "warehouse.duckdb"), lock_timeout_s=0.5)
    instance = dg.DagsterInstance.ephemeral()
    first = _tick(instance, incoming)
    (request,) = first.run_requests
    writer = OtherWriter(warehouse.path)
    try:
        failed = _execute(instance, request, warehouse, incoming)
    finally:
        writer.stop()
    assert not failed.success  # the file was locked by another writer

    # The cursor has moved past these blobs; the sensor still asks for the batch again.
    time.sleep(0.6)
    second = _tick(instance, incoming, first.cursor)
    (retry,) = second.run_requests
    assert retry.run_key == f"{request.run_key}-attempt-2"
    assert retry.tags[BATCH_TAG] == request.tags[BATCH_TAG] and retry.tags[ATTEMPT_TAG] == "2"
    assert retry.run_config == request.run_config

    assert _execute(instance, retry, warehouse, incoming).success
    assert sorted(warehouse.read_table(RAW_IMAGES).name) == [f"upload-{i}.jpg" for i in range(3)]
    # Done: nothing more is requested for it.
    time.sleep(0.6)
    assert not _tick(instance, incoming, second.cursor).run_requests


def test_a_batch_that_keeps_failing_is_given_up_after_the_configured_attempts_and_reported(
    incoming, platform_home
):
    warehouse = DuckDBWarehouse(path=str(platform_home / "warehouse.duckdb"), lock_timeout_s=0.5)
    instance = dg.DagsterInstance.ephemeral()
    result = _tick(instance, incoming)
    cursor = result.cursor
    writer = OtherWriter(warehouse.path)
    keys = []
    try:
        for _ in range(3):
            (request,) = result.run_requests
            keys.append(request.run_key)
            assert not _execute(instance, request, warehouse, incoming).success
            time.sleep(backoff_seconds(3, 0.5, 3600) + 0.1)
            result = _tick(instance, incoming, cursor)
            cursor = result.cursor
    finally:
        writer.stop()
    assert [k.rsplit("-attempt-", 1)[-1] for k in keys[1:]] == ["2", "3"]
    assert not result.run_requests  # three attempts made: reported, not requested again


def test_backoff_doubles_and_waits_for_the_last_failure():
    runs = [
        BatchRun("b", "FAILURE", 1, ended_at=100.0),
        BatchRun("b", "FAILURE", 2, ended_at=200.0),
    ]
    early = plan_retries(runs, now=210.0, max_attempts=5, base_delay_s=10, max_delay_s=3600)
    assert early.retry == [] and early.waiting == {"b": pytest.approx(10.0)}
    due = plan_retries(runs, now=220.0, max_attempts=5, base_delay_s=10, max_delay_s=3600)
    assert [r.attempt for r in due.retry] == [2]
    running = [*runs, BatchRun("b", "STARTED", 3, ended_at=None)]
    assert plan_retries(running, 1e9, 5, 10, 3600).retry == []
    done = [*runs, BatchRun("b", "SUCCESS", 3, ended_at=300.0)]
    assert plan_retries(done, 1e9, 5, 10, 3600).retry == []

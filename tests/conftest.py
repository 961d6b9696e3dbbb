"""Shared fixtures: real services (Azurite, DuckDB files, a temporary Dagster home), no mocks."""

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from azure.storage.blob import BlobServiceClient

from resources.blob_store import AzureBlobStore, LocalBlobStore
from resources.warehouse.duckdb_warehouse import DuckDBWarehouse
from tests.support.chain import write_source
from tests.support.services import (
    AZURITE_ACCOUNT,
    AZURITE_KEY,
    Postgres,
    as_server_user,
    azurite_binary,
    free_port,
    postgres_bin_dir,
)


@pytest.fixture(scope="session")
def azurite(tmp_path_factory) -> Iterator[str]:
    """A real Azurite blob service on a free loopback port; yields its account URL."""
    port = free_port()
    workdir = tmp_path_factory.mktemp("azurite")
    log = open(workdir / "azurite.log", "wb")
    proc = subprocess.Popen(
        [
            azurite_binary(),
            "--blobHost",
            "127.0.0.1",
            "--blobPort",
            str(port),
            "--skipApiVersionCheck",
            "--loose",
            "--disableTelemetry",
            "--location",
            str(workdir),
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    deadline = time.monotonic() + 60
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"Azurite exited early: {(workdir / 'azurite.log').read_text()}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                break
        except OSError:
            if time.monotonic() > deadline:
                raise RuntimeError("Azurite did not start within 60 s") from None
            time.sleep(0.2)
    try:
        yield f"http://127.0.0.1:{port}/{AZURITE_ACCOUNT}"
    finally:
        # npm's launcher may ignore SIGTERM; end the whole process group.
        for sig in (signal.SIGTERM, signal.SIGKILL):
            try:
                os.killpg(proc.pid, sig)
                proc.wait(timeout=10)
                break
            except (ProcessLookupError, subprocess.TimeoutExpired):
                continue
        log.close()


@pytest.fixture
def azure_blob_store(azurite) -> Iterator[AzureBlobStore]:
    """The Azure store on the session's Azurite. Azurite outlives a test, so every container a
    test leaves is deleted after it: each test lists only the blobs it wrote."""
    yield AzureBlobStore(account_url=azurite, account_key=AZURITE_KEY)
    service = BlobServiceClient(
        account_url=azurite,
        credential={"account_name": AZURITE_ACCOUNT, "account_key": AZURITE_KEY},
    )
    for container in service.list_containers():
        service.delete_container(container.name)


@pytest.fixture
def local_blob_store(tmp_path) -> LocalBlobStore:
    return LocalBlobStore(root=str(tmp_path / "blobs"))


@pytest.fixture(params=["local", "azurite"])
def blob_store(request):
    """Each blob-store test runs against the local folder store and a real Azurite."""
    if request.param == "local":
        return request.getfixturevalue("local_blob_store")
    return request.getfixturevalue("azure_blob_store")


@pytest.fixture
def warehouse(tmp_path) -> DuckDBWarehouse:
    return DuckDBWarehouse(path=str(tmp_path / "warehouse.duckdb"))


@pytest.fixture
def platform_home(tmp_path, monkeypatch) -> Path:
    """A private IMAGE_PLATFORM_HOME (local env) for tests that load the code location."""
    home = tmp_path / "home"
    (home / "dagster").mkdir(parents=True)
    monkeypatch.setenv("IMAGE_PLATFORM_ENV", "local")
    monkeypatch.setenv("IMAGE_PLATFORM_HOME", str(home))
    monkeypatch.setenv("DAGSTER_HOME", str(home / "dagster"))
    monkeypatch.delenv("IMAGE_PLATFORM_SOURCE", raising=False)
    monkeypatch.delenv("IMAGE_PLATFORM_DUCKDB_PATH", raising=False)
    return home


@pytest.fixture(scope="session")
def postgres() -> Iterator[Postgres]:
    """A throwaway PostgreSQL server on 127.0.0.1 and a free port, in a temporary folder."""
    bin_dir = postgres_bin_dir()
    workdir = Path(tempfile.mkdtemp(prefix="image-platform-pg-"))
    if os.geteuid() == 0:
        shutil.chown(workdir, "postgres", "postgres")
    data, log = workdir / "data", workdir / "server.log"
    user, password = "dagster", "dagster-test-only"
    pwfile = workdir / "pwfile"
    pwfile.write_text(password + "\n")
    if os.geteuid() == 0:
        shutil.chown(pwfile, "postgres", "postgres")
    subprocess.run(
        as_server_user(
            [
                str(bin_dir / "initdb"),
                "-D",
                str(data),
                "-U",
                user,
                f"--pwfile={pwfile}",
                "--auth=scram-sha-256",
                "-E",
                "UTF8",
                "--no-locale",
            ]
        ),
        check=True,
        capture_output=True,
        timeout=120,
    )
    port = free_port()
    options = f"-h 127.0.0.1 -p {port} -k {workdir} -c fsync=off -c max_connections=200"
    subprocess.run(
        as_server_user(
            [str(bin_dir / "pg_ctl"), "-D", str(data), "-l", str(log), "-o", options, "-w", "start"]
        ),
        check=True,
        capture_output=True,
        timeout=120,
    )
    try:
        yield Postgres("127.0.0.1", port, user, password, "postgres")
    finally:
        subprocess.run(
            as_server_user([str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop"]),
            capture_output=True,
            timeout=120,
        )
        shutil.rmtree(workdir, ignore_errors=True)


@pytest.fixture(scope="session")
def fault_source(tmp_path_factory):
    """The chain's source collection (two labels, a near-duplicate, a copy, a truncated file)."""
    return write_source(tmp_path_factory.mktemp("fault-source"))

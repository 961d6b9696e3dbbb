"""Where the test services live: the repository, Azurite's development account, free ports and
the PostgreSQL server binaries (the fixtures that start them are in ``tests/conftest.py``)."""

import glob
import os
import shutil
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

# Azurite's published development account (documented by Microsoft; not a secret).
AZURITE_ACCOUNT = "devstoreaccount1"
AZURITE_KEY = (
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def azurite_binary() -> str:
    local = REPO / "node_modules" / ".bin" / "azurite-blob"
    if local.exists():
        return str(local)
    found = shutil.which("azurite-blob")
    if not found:
        raise RuntimeError("azurite-blob not found: run `make install-test` (npm ci) first")
    return found


@dataclass(frozen=True)
class Postgres:
    """Where the tests' throwaway PostgreSQL server listens, and its login."""

    host: str
    port: int
    user: str
    password: str
    db_name: str


def postgres_bin_dir() -> Path:
    """The PostgreSQL server binaries: Debian's versioned folder, else initdb on PATH."""
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), reverse=True)
    found = candidates[0] if candidates else shutil.which("initdb")
    if not found:
        raise RuntimeError(
            "PostgreSQL server not found: run `make install-test` (apt-get install postgresql)"
        )
    return Path(found).resolve().parent


def as_server_user(argv: list[str]) -> list[str]:
    # initdb and postgres refuse to run as root (CI runs as root): use Debian's postgres account.
    if os.geteuid() != 0:
        return argv
    return ["runuser", "-u", "postgres", "--", *argv]


@contextmanager
def local_environment(home: Path) -> Iterator[pytest.MonkeyPatch]:
    """The local environment on a private IMAGE_PLATFORM_HOME, for fixtures wider than a test
    (the ``platform_home`` fixture is the per-test one): no source or DuckDB path inherited."""
    with pytest.MonkeyPatch.context() as env:
        env.setenv("IMAGE_PLATFORM_ENV", "local")
        env.setenv("IMAGE_PLATFORM_HOME", str(home))
        env.delenv("IMAGE_PLATFORM_SOURCE", raising=False)
        env.delenv("IMAGE_PLATFORM_DUCKDB_PATH", raising=False)
        yield env

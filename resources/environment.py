"""The one environment switch, and every setting read from ``IMAGE_PLATFORM_*`` variables.

``IMAGE_PLATFORM_ENV`` chooses where data lives; everything else derives from it:

=========  =================================  ==========================================
env        warehouse                          blob store
=========  =================================  ==========================================
local      DuckDB file under the home folder  a folder under the home folder
ci         DuckDB file under the home folder  Azure Blob API (Azurite on 127.0.0.1)
prod       Azure SQL                          Azure Blob Storage
=========  =================================  ==========================================

Secrets (account keys, SQL passwords) are never read here: resources receive them as
``dg.EnvVar`` so they are resolved at run time and never shown in the UI or logs.
"""

import os
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

ENV_PREFIX = "IMAGE_PLATFORM_"


class Environment(StrEnum):
    """Where the platform runs: local, ci or prod; every resource derives from it."""

    LOCAL = "local"
    CI = "ci"
    PROD = "prod"


def _get(name: str, default: str | None = None) -> str | None:
    value = os.environ.get(ENV_PREFIX + name)
    return value if value not in (None, "") else default


def get_environment() -> Environment:
    """The environment IMAGE_PLATFORM_ENV names (default local); ValueError on others."""
    raw = (_get("ENV", Environment.LOCAL.value) or "").strip().lower()
    try:
        return Environment(raw)
    except ValueError:
        allowed = ", ".join(e.value for e in Environment)
        raise ValueError(f"{ENV_PREFIX}ENV={raw!r} is not one of: {allowed}") from None


def get_timezone() -> str:
    """The timezone of the nightly partitions (IMAGE_PLATFORM_TIMEZONE, default UTC).

    The one setting read while the code location is imported: a partitions definition exists
    before any resource. Everything else reaches assets, ops, sensors and schedules as the
    ``settings`` resource (``resources.settings.PlatformSettings``), built from ``get_settings``
    in the code location's definitions, which reads this same variable.
    """
    return _get("TIMEZONE", "UTC") or "UTC"


def _repo_root() -> Path | None:
    root = Path(__file__).resolve().parent.parent
    return root if (root / "pyproject.toml").is_file() and (root / "assets").is_dir() else None


def get_home() -> Path:
    """The data folder of the embedded default: DuckDB file, local blob store, Dagster home."""
    configured = _get("HOME")
    if configured:
        return Path(configured).expanduser().resolve()
    root = _repo_root()
    return (root if root is not None else Path.cwd()) / ".image-platform"


@dataclass(frozen=True)
class SourceSpec:
    """Where raw images come from: a local ``<label>/<file>`` folder or a blob container/prefix.

    ``IMAGE_PLATFORM_SOURCE`` accepts a filesystem path, or ``blob://<container>/<prefix>`` for a
    container in the environment's blob store (a folder store locally, Azure Blob in ci/prod).
    """

    kind: str  # "folder" | "blob"
    path: str = ""
    container: str = ""
    prefix: str = ""

    @property
    def uri(self) -> str:
        if self.kind == "folder":
            return Path(self.path).as_uri()
        return f"blob://{self.container}/{self.prefix}"


def parse_source(spec: str) -> SourceSpec:
    """A source spec: a folder path, or ``blob://<container>/<prefix>``."""
    spec = spec.strip()
    if spec.startswith("blob://"):
        rest = spec[len("blob://") :]
        container, _, prefix = rest.partition("/")
        if not container:
            raise ValueError(f"source {spec!r} names no container (blob://<container>/<prefix>)")
        if prefix and not prefix.endswith("/"):
            prefix += "/"
        return SourceSpec(kind="blob", container=container, prefix=prefix)
    if "://" in spec:
        raise ValueError(f"source {spec!r}: use a folder path or blob://<container>/<prefix>")
    return SourceSpec(kind="folder", path=str(Path(spec).expanduser().resolve()))


def get_source() -> SourceSpec:
    """Where raw images come from (IMAGE_PLATFORM_SOURCE, default the demo collection)."""
    return parse_source(_get("SOURCE") or str(get_home() / "demo-collection"))


def get_incoming() -> SourceSpec:
    """Where new images arrive for nightly classification (default ``blob://incoming/``)."""
    spec = parse_source(_get("INCOMING") or "blob://incoming/")
    if spec.kind != "blob":
        raise ValueError(f"{ENV_PREFIX}INCOMING must be blob://<container>/<prefix>")
    return spec


@dataclass(frozen=True)
class Settings:
    """Non-secret settings, resolved once per code-location load."""

    env: Environment
    home: Path
    source: SourceSpec
    incoming: SourceSpec
    publish_container: str
    publish_prefix: str
    models_container: str
    predictions_container: str
    timezone: str
    incoming_batch_size: int = 500
    incoming_lookback_seconds: float = 120.0
    incoming_date_folders: str = ""
    incoming_max_attempts: int = 6
    incoming_retry_delay_seconds: float = 60.0
    # Azure Blob Storage (ci, prod): the account, and whether a shared key is configured (the key
    # itself is only ever read through dg.EnvVar, when the resource is initialised).
    azure_account_url: str | None = None
    azure_storage_key_set: bool = False

    @property
    def duckdb_path(self) -> Path:
        return Path(_get("DUCKDB_PATH") or self.home / "warehouse.duckdb")

    @property
    def local_blob_root(self) -> Path:
        return self.home / "blobs"

    @property
    def dagster_home(self) -> Path:
        return self.home / "dagster"


def get_settings() -> Settings:
    """Every setting, read once from the environment variables."""
    return Settings(
        env=get_environment(),
        home=get_home(),
        source=get_source(),
        incoming=get_incoming(),
        publish_container=_get("PUBLISH_CONTAINER", "images") or "images",
        publish_prefix=(_get("PUBLISH_PREFIX", "") or "").strip("/"),
        models_container=_get("MODELS_CONTAINER", "models") or "models",
        predictions_container=_get("PREDICTIONS_CONTAINER", "predictions") or "predictions",
        timezone=get_timezone(),
        incoming_batch_size=int(_get("INCOMING_BATCH_SIZE", "500") or 500),
        incoming_lookback_seconds=float(_get("INCOMING_LOOKBACK_SECONDS", "120") or 120),
        incoming_date_folders=_get("INCOMING_DATE_FOLDERS", "") or "",
        incoming_max_attempts=int(_get("INCOMING_MAX_ATTEMPTS", "6") or 6),
        incoming_retry_delay_seconds=float(_get("INCOMING_RETRY_DELAY_SECONDS", "60") or 60),
        azure_account_url=_get("AZURE_ACCOUNT_URL"),
        azure_storage_key_set=_get("AZURE_STORAGE_KEY") is not None,
    )

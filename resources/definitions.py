"""Resources derived from the one environment switch (``IMAGE_PLATFORM_ENV``)."""

import dagster as dg

from resources.blob_store import AzureBlobStore, BlobStore, LocalBlobStore
from resources.environment import Environment, Settings, get_settings
from resources.settings import PlatformSettings
from resources.warehouse.azure_sql_warehouse import AzureSqlWarehouse
from resources.warehouse.base import Warehouse
from resources.warehouse.duckdb_warehouse import DuckDBWarehouse

AZURITE_ACCOUNT_URL = "http://127.0.0.1:10000/devstoreaccount1"


def build_blob_store(settings: Settings) -> BlobStore:
    """The environment's blob store: a local folder, Azurite (ci) or Azure Blob (prod)."""
    if settings.env == Environment.LOCAL:
        return LocalBlobStore(root=str(settings.local_blob_root))
    default_url = AZURITE_ACCOUNT_URL if settings.env == Environment.CI else None
    account_url = settings.azure_account_url or default_url
    if not account_url:
        raise ValueError(
            "IMAGE_PLATFORM_AZURE_ACCOUNT_URL must be set when IMAGE_PLATFORM_ENV=prod"
        )
    # A shared key when one is provided (ci: Azurite's published development key), otherwise the
    # workload's managed identity through DefaultAzureCredential.
    key = None
    if settings.azure_storage_key_set or settings.env == Environment.CI:
        key = dg.EnvVar("IMAGE_PLATFORM_AZURE_STORAGE_KEY")
    return AzureBlobStore(account_url=account_url, account_key=key)


def build_warehouse(settings: Settings) -> Warehouse:
    """The environment's warehouse: DuckDB (local, ci) or Azure SQL (prod, secrets as EnvVar)."""
    if settings.env == Environment.PROD:
        return AzureSqlWarehouse(
            server=dg.EnvVar("IMAGE_PLATFORM_SQL_SERVER"),
            database=dg.EnvVar("IMAGE_PLATFORM_SQL_DATABASE"),
            user=dg.EnvVar("IMAGE_PLATFORM_SQL_USER"),
            password=dg.EnvVar("IMAGE_PLATFORM_SQL_PASSWORD"),
        )
    return DuckDBWarehouse(path=str(settings.duckdb_path))


def build_resources(settings: Settings | None = None) -> dict[str, dg.ConfigurableResource]:
    """Every resource the code location binds, derived from the settings."""
    settings = settings or get_settings()
    return {
        "warehouse": build_warehouse(settings),
        "blob_store": build_blob_store(settings),
        "settings": PlatformSettings.from_settings(settings),
    }

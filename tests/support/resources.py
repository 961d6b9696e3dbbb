"""The resource dict the platform's assets, ops and sensors take, for tests."""

from typing import Any

from resources.blob_store import BlobStore
from resources.environment import get_settings
from resources.settings import PlatformSettings
from resources.warehouse.base import Warehouse


def platform_settings() -> PlatformSettings:
    """The settings resource as the code location builds it, from the environment variables the
    test has set (``IMAGE_PLATFORM_*``) at the time of the call."""
    return PlatformSettings.from_settings(get_settings())


def platform_resources(
    warehouse: Warehouse | None = None,
    blob_store: BlobStore | None = None,
    *,
    dbt: bool = False,
    **extra: Any,
) -> dict[str, Any]:
    """The given warehouse and blob store, the settings resource (``platform_settings``), the
    environment's dbt resource when ``dbt`` is true (as the code location builds it), and any
    other resource by its key (``settings=...`` replaces the default one)."""
    settings = get_settings()
    resources: dict[str, Any] = {"settings": PlatformSettings.from_settings(settings)}
    if warehouse is not None:
        resources["warehouse"] = warehouse
    if blob_store is not None:
        resources["blob_store"] = blob_store
    if dbt:
        # The dbt assets load their manifest when imported: only for tests that run dbt.
        from assets.dedup.assets import DEDUP_PROJECT
        from assets.dedup.project import build_dbt_resource

        resources["dbt"] = build_dbt_resource(settings, DEDUP_PROJECT)
    resources.update(extra)
    return resources

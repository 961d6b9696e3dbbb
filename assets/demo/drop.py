"""Drop an image into the incoming container, as a phone or a scraper would upload it."""

from datetime import UTC, datetime
from pathlib import Path

from resources.blob_store import BlobStore
from resources.blobs import BlobInfo
from resources.environment import Settings


def drop_image(settings: Settings, store: BlobStore, path: Path) -> BlobInfo:
    """Write ``path`` into ``IMAGE_PLATFORM_INCOMING`` under today's date folder, modified now."""
    incoming = settings.incoming
    store.ensure_container(incoming.container)
    day = datetime.now(tz=UTC)
    name = f"{incoming.prefix}{day:%Y/%m/%d}/{path.name}"
    return store.write_bytes(incoming.container, name, path.read_bytes())

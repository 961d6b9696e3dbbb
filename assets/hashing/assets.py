"""The image_hashes asset: multi-size dHash of every catalogued image content."""

import time
from datetime import UTC, datetime
from typing import Literal

import dagster as dg
from pydantic import Field

from assets.hashing.bookkeeping import (
    HashWriter,
    accepted_versions,
    adopt_handoff,
    count_pending,
    drop_settled_handoff,
    ensure_tables,
    forget_unreadable,
    hash_summaries,
    pending_images,
    unreadable_before,
)
from assets.metadata import md_table
from assets.tables import HASH_SIZES, IMAGE_HASHES
from resources.blob_store import BlobStore
from resources.warehouse.base import Warehouse, table_schema


class ImageHashesConfig(dg.Config):
    """Run configuration of ``image_hashes``."""

    mode: Literal["exact", "fast"] = Field(
        default="exact",
        description=(
            "exact: bit-identical to the dhash package. fast: JPEGs decoded in the DCT domain at "
            "reduced scale (about 99% of bits agree); other formats take the exact path."
        ),
    )
    workers: int = Field(default=2, ge=1, le=64, description="Hashing threads (use every core).")
    batch_size: int = Field(
        default=512, ge=1, le=2000, description="Images per warehouse write (T-SQL: <= 2000)."
    )
    apply_exif_orientation: bool = Field(
        default=True, description="Hash photos as displayed (False: as stored, like the lab)."
    )


@dg.asset(
    group_name="hashing",
    kinds={"numba", "python", "duckdb"},
    pool="warehouse",
    deps=["raw_images"],
    # The table's meaning is written once, in assets/tables.py; here only what the asset does.
    description=(
        f"{IMAGE_HASHES.description} Also the size-8 hash of the content box (the picture "
        "inside solid borders; `content` says which links an image may take). Only images "
        "without a hash of the current algorithm version are hashed; a new version re-hashes "
        "everything. Images that fail to decode are quarantined (stage 'hash') with the reason."
    ),
    metadata={
        "dagster/column_schema": table_schema(IMAGE_HASHES),
        "table": IMAGE_HASHES.name,
    },
)
def image_hashes(
    context: dg.AssetExecutionContext,
    config: ImageHashesConfig,
    warehouse: Warehouse,
    blob_store: BlobStore,
) -> dg.MaterializeResult:
    # One warehouse connection for the step (a dozen opens and checkpoints of the DuckDB file
    # otherwise, more than taking over a collection's handed-over hashes costs).
    with warehouse.session():
        return _hash_pending(context, config, warehouse, blob_store)


def _hash_pending(
    context: dg.AssetExecutionContext,
    config: ImageHashesConfig,
    warehouse: Warehouse,
    blob_store: BlobStore,
) -> dg.MaterializeResult:
    from assets.decode import DecodePolicy, UndecodableImageError
    from assets.hashing.engine import (
        algorithm_version,
        enable_pillow_block_cache,
        hash_many,
        warm_up,
    )

    policy = DecodePolicy(apply_exif_orientation=config.apply_exif_orientation)
    version = algorithm_version(config.mode, policy)
    versions = accepted_versions(config.mode, policy)
    ensure_tables(warehouse)
    retried = unreadable_before(warehouse)
    adopted = adopt_handoff(warehouse, versions)
    if adopted:
        context.log.info(f"took over {len(adopted)} hashes raw_images computed while cataloguing")
        forget_unreadable(warehouse, [i for i in adopted if i in retried])
    pending = count_pending(warehouse, versions)
    # Reuse freed decode buffers instead of page-faulting fresh ones per large image (bounded).
    enable_pillow_block_cache()
    context.log.info(f"{pending} images to hash with {version} on {config.workers} workers")

    def read(uri: str):
        return lambda: blob_store.read_uri(uri)

    items = ((row, read(row.source_uri)) for row in pending_images(warehouse, versions))
    if pending:
        # Compile the kernels (or load them from numba's on-disk cache) before the clock starts,
        # so that images/s measures hashing.
        compiling = time.monotonic()
        warm_up()
        context.log.info(f"hash kernels ready in {time.monotonic() - compiling:.1f} s")
    started = time.monotonic()
    writer = HashWriter(warehouse, version, retried)
    for entry, result in hash_many(items, HASH_SIZES, config.mode, policy, workers=config.workers):
        if isinstance(result, UndecodableImageError):
            context.log.warning(f"cannot hash {entry.source_uri}: {result.reason}")
        writer.add(entry, result, datetime.now(tz=UTC))
        if writer.done % config.batch_size == 0:
            writer.flush()
            rate = writer.done / (time.monotonic() - started)
            context.log.info(f"hashed {writer.done}/{pending} images ({rate:.1f} images/s)")
    writer.flush()
    drop_settled_handoff(warehouse)
    elapsed = time.monotonic() - started
    done, hashed = writer.done, writer.hashed
    rate = done / elapsed if elapsed > 0 and done else 0.0
    if done:
        context.log.info(f"hashed {done} images in {elapsed:.1f} s ({rate:.1f} images/s)")

    total = warehouse.count(IMAGE_HASHES)
    tables = hash_summaries(warehouse)
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": total,
            "hashed_now": hashed,
            "taken_over_from_raw_images": len(adopted),
            "quarantined_now": writer.quarantined,
            "already_hashed": total - hashed - len(adopted),
            "mode": config.mode,
            "hash_version": version,
            "workers": config.workers,
            "images_per_second": round(rate, 1),
            "pillow_fallbacks": writer.backends.get("pillow", 0),
            "distinct_hashes_by_size": dg.MetadataValue.md(md_table(tables["distinct"])),
            "hashes_by_version": dg.MetadataValue.md(md_table(tables["versions"])),
            "images_by_content": dg.MetadataValue.md(md_table(tables["content"])),
            "preview": dg.MetadataValue.md(md_table(tables["preview"])),
        }
    )

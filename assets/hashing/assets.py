"""The image_hashes asset: multi-size dHash of every catalogued image content."""

import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal

import dagster as dg
from pydantic import Field

from assets.metadata import md_table
from assets.tables import (
    HASH_SIZES,
    IMAGE_HASHES,
    IMAGE_HASHES_HANDOFF,
    QUARANTINED_IMAGES,
    RAW_IMAGES,
    image_hash_row,
    image_hashes_frame,
    quarantine_row,
)
from resources.blob_store import BlobStore
from resources.warehouse.base import Warehouse, table_schema
from resources.warehouse.sql import row_limit

if TYPE_CHECKING:  # the engine (numba, Pillow) loads with the step, not with the code location
    from assets.decode import DecodePolicy


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


UNREADABLE = "unreadable"


def _unreadable_before(warehouse: Warehouse) -> set[str]:
    rows = warehouse.query_df(
        f"SELECT DISTINCT image_id FROM {QUARANTINED_IMAGES.name} "
        f"WHERE stage = 'hash' AND reason = ?",
        [UNREADABLE],
    )
    return set(rows.image_id)


def accepted_versions(mode: str, policy: "DecodePolicy") -> list[str]:
    """Hash versions that count as done for a run in ``mode``.

    Fast mode hashes only JPEGs in the DCT domain; every other image takes the exact path and is
    stored with the exact version, which a fast run must accept (or it would hash those images
    again on every run). An exact run accepts only exact hashes: switching to exact re-hashes
    what fast mode drafted.
    """
    from assets.hashing.engine import algorithm_version

    exact = algorithm_version("exact", policy)
    return [exact] if mode == "exact" else [algorithm_version(mode, policy), exact]


def _pending_filter(versions: list[str]) -> tuple[str, list]:
    """WHERE clause over ``raw_images r``: contents without a hash of an accepted version, minus
    those that failed to decode under the run's version (``versions[0]``). Contents that could
    not be read (a blob or file gone or failing at the time) are tried again on every run."""
    placeholders = ", ".join("?" for _ in versions)
    sql = (
        f"NOT EXISTS (SELECT 1 FROM {IMAGE_HASHES.name} h "
        f"  WHERE h.image_id = r.image_id AND h.hash_version IN ({placeholders})) "
        f"AND NOT EXISTS (SELECT 1 FROM {QUARANTINED_IMAGES.name} q "
        f"  WHERE q.image_id = r.image_id AND q.stage = 'hash' AND q.reason <> '{UNREADABLE}' "
        f"  AND q.detail LIKE ?)"
    )
    return sql, [*versions, f"[{versions[0]}]%"]


def _forget_unreadable(warehouse: Warehouse, image_ids: list[str]) -> None:
    """Readable again and hashed: the earlier 'unreadable' quarantine rows no longer hold."""
    for start in range(0, len(image_ids), 1000):  # T-SQL takes at most 2100 parameters
        chunk = image_ids[start : start + 1000]
        warehouse.execute(
            f"DELETE FROM {QUARANTINED_IMAGES.name} WHERE stage = 'hash' AND reason = ? "
            f"AND image_id IN ({', '.join('?' for _ in chunk)})",
            [UNREADABLE, *chunk],
        )


def _ensure_tables(warehouse: Warehouse) -> None:
    for spec in (RAW_IMAGES, IMAGE_HASHES, QUARANTINED_IMAGES):
        warehouse.ensure_table(spec)


def _count_pending(warehouse: Warehouse, versions: list[str]) -> int:
    _ensure_tables(warehouse)
    where, params = _pending_filter(versions)
    sql = f"SELECT COUNT(DISTINCT r.image_id) AS n FROM {RAW_IMAGES.name} r WHERE {where}"
    return int(warehouse.query_df(sql, params).n.iloc[0])


def pending_images(
    warehouse: Warehouse, versions: list[str], page_size: int = 10_000
) -> Iterator[Any]:
    """The contents to hash (one catalog location each), in ``image_id`` order, read a page at a
    time (keyset on ``image_id``), so a collection of millions is never held in memory."""
    _ensure_tables(warehouse)
    where, params = _pending_filter(versions)
    top, limit = row_limit(page_size, warehouse.dialect)
    after = ""
    while True:
        page = warehouse.query_df(
            f"SELECT {top}r.image_id, MIN(r.source_uri) AS source_uri, MIN(r.name) AS name, "
            f"MIN(r.label) AS label, MIN(r.byte_size) AS byte_size, "
            f"MIN(r.last_modified) AS last_modified "
            f"FROM {RAW_IMAGES.name} r WHERE r.image_id > ? AND {where} "
            f"GROUP BY r.image_id ORDER BY r.image_id{limit}",
            [after, *params],
        )
        yield from page.itertuples(index=False)
        if len(page) < page_size:
            return
        after = page.image_id.iloc[-1]


def distinct_hashes_sql() -> str:
    """Distinct (row, column) hashes per size, largest size first, in SQL both DuckDB and T-SQL
    run (no multi-column COUNT DISTINCT, no string concatenation)."""
    counts = ", ".join(
        f"(SELECT COUNT(*) FROM (SELECT DISTINCT dhash{s}_row, dhash{s}_col "
        f"FROM {IMAGE_HASHES.name}) AS d{s}) AS size_{s}"
        for s in sorted(HASH_SIZES, reverse=True)
    )
    return f"SELECT {counts}"


def adopt_handoff(warehouse: Warehouse, versions: list[str], page_size: int = 10_000) -> list[str]:
    """Move into image_hashes the hashes raw_images computed from the bytes it read (the
    handoff table) for images still without a hash of an accepted version. Returns the adopted
    image_ids.

    Pages by keyset on ``image_id``, like ``pending_images``, so memory stays flat.
    """
    if not warehouse.table_exists(IMAGE_HASHES_HANDOFF):
        return []
    placeholders = ", ".join("?" for _ in versions)
    top, limit = row_limit(page_size, warehouse.dialect)
    columns = ", ".join(f"h.{c}" for c in IMAGE_HASHES.column_names)
    adopted: list[str] = []
    after = ""
    while True:
        page = warehouse.query_df(
            f"SELECT {top}{columns} FROM {IMAGE_HASHES_HANDOFF.name} h "
            f"WHERE h.image_id > ? AND h.hash_version IN ({placeholders}) "
            f"AND EXISTS (SELECT 1 FROM {RAW_IMAGES.name} r WHERE r.image_id = h.image_id) "
            f"AND NOT EXISTS (SELECT 1 FROM {IMAGE_HASHES.name} x "
            f"  WHERE x.image_id = h.image_id AND x.hash_version IN ({placeholders})) "
            f"ORDER BY h.image_id, h.hash_version{limit}",
            [after, *versions, *versions],
        )
        if len(page):
            # One row per image: the run's own version first, then the others it accepts.
            rank = {v: i for i, v in enumerate(versions)}
            page = (
                page.assign(_rank=page.hash_version.map(rank))
                .sort_values(["image_id", "_rank"])
                .drop_duplicates("image_id")
                .drop(columns="_rank")
            )
            warehouse.upsert(IMAGE_HASHES, page)
            adopted.extend(page.image_id)
        if len(page) < page_size:
            break
        after = page.image_id.iloc[-1]
    return adopted


def drop_settled_handoff(warehouse: Warehouse) -> None:
    """Forget the handoff rows of every image that has a hash now (taken over or not)."""
    if warehouse.table_exists(IMAGE_HASHES_HANDOFF):
        warehouse.execute(
            f"DELETE FROM {IMAGE_HASHES_HANDOFF.name} WHERE EXISTS (SELECT 1 FROM "
            f"{IMAGE_HASHES.name} x WHERE x.image_id = {IMAGE_HASHES_HANDOFF.name}.image_id)"
        )


@dg.asset(
    group_name="hashing",
    kinds={"numba", "python", "duckdb"},
    pool="warehouse",
    deps=["raw_images"],
    description=(
        "Difference hashes (the dhash package's algorithm) of every catalogued image at sizes "
        "1..8: DHashHex1..DHashHex8 exactly as the lab computed them, plus integer row/column "
        "forms for Hamming distances in SQL, and the size-8 hash of the content box (the picture "
        "inside solid borders; `content` says which links an image may take). Only images "
        "without a hash of the current algorithm version are hashed; a new version re-hashes "
        "everything. Images that fail to decode are "
        "quarantined (stage 'hash') with the reason."
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
    import pandas as pd

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
    _ensure_tables(warehouse)
    retried = _unreadable_before(warehouse)
    adopted = adopt_handoff(warehouse, versions)
    if adopted:
        context.log.info(f"took over {len(adopted)} hashes raw_images computed while cataloguing")
        _forget_unreadable(warehouse, [i for i in adopted if i in retried])
    pending = _count_pending(warehouse, versions)
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
    rows: list[dict] = []
    bad: list[dict] = []
    recovered: list[str] = []
    hashed = quarantined = done = 0
    backends: dict[str, int] = {}

    def flush() -> None:
        nonlocal hashed, quarantined
        if rows:
            hashed += warehouse.upsert(IMAGE_HASHES, image_hashes_frame(rows))
            rows.clear()
        if bad:
            quarantined += warehouse.insert_new(QUARANTINED_IMAGES, pd.DataFrame(bad))
            bad.clear()
        if recovered:
            _forget_unreadable(warehouse, recovered)
            recovered.clear()

    for entry, result in hash_many(items, HASH_SIZES, config.mode, policy, workers=config.workers):
        now = datetime.now(tz=UTC)
        if isinstance(result, UndecodableImageError):
            context.log.warning(f"cannot hash {entry.source_uri}: {result.reason}")
            bad.append(
                quarantine_row(
                    image_id=entry.image_id,
                    source_uri=entry.source_uri,
                    stage="hash",
                    reason=result.reason,
                    detail=f"[{version}] {result.detail}",
                    at=now,
                    name=entry.name,
                    label=entry.label,
                    byte_size=entry.byte_size,
                    last_modified=entry.last_modified,
                )
            )
        else:
            rows.append(image_hash_row(entry.image_id, result, now))
            backends[result.backend] = backends.get(result.backend, 0) + 1
            if entry.image_id in retried:
                recovered.append(entry.image_id)
        done += 1
        if done % config.batch_size == 0:
            flush()
            rate = done / (time.monotonic() - started)
            context.log.info(f"hashed {done}/{pending} images ({rate:.1f} images/s)")
    flush()
    drop_settled_handoff(warehouse)
    elapsed = time.monotonic() - started
    rate = done / elapsed if elapsed > 0 and done else 0.0
    if done:
        context.log.info(f"hashed {done} images in {elapsed:.1f} s ({rate:.1f} images/s)")

    total = warehouse.count(IMAGE_HASHES)
    preview = warehouse.head(
        IMAGE_HASHES,
        ["image_id", "DHashHex3", "DHashHex8", "hash_mode", "hash_version", "hashed_at"],
        order_by="hashed_at DESC, image_id",
    )
    distinct = warehouse.query_df(distinct_hashes_sql())
    versions_table = warehouse.query_df(
        f"SELECT hash_version, hash_mode, COUNT(*) AS images FROM {IMAGE_HASHES.name} "
        f"GROUP BY hash_version, hash_mode ORDER BY hash_version, hash_mode"
    )
    content = warehouse.query_df(
        f"SELECT content, COUNT(*) AS images FROM {IMAGE_HASHES.name} "
        f"GROUP BY content ORDER BY content"
    )
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": total,
            "hashed_now": hashed,
            "taken_over_from_raw_images": len(adopted),
            "quarantined_now": quarantined,
            "already_hashed": total - hashed - len(adopted),
            "mode": config.mode,
            "hash_version": version,
            "workers": config.workers,
            "images_per_second": round(rate, 1),
            "pillow_fallbacks": backends.get("pillow", 0),
            "distinct_hashes_by_size": dg.MetadataValue.md(md_table(distinct)),
            "hashes_by_version": dg.MetadataValue.md(md_table(versions_table)),
            "images_by_content": dg.MetadataValue.md(md_table(content)),
            "preview": dg.MetadataValue.md(md_table(preview)),
        }
    )

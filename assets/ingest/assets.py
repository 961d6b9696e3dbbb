"""The image catalog (the lab's Paintings table) and its quarantine."""

import threading
import time
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import replace
from datetime import UTC, datetime
from functools import partial
from typing import TYPE_CHECKING, Any, cast

import dagster as dg
from pydantic import Field

from assets.ingest.sources import (
    DEFAULT_MAX_FILE_BYTES,
    Skipped,
    SourceReader,
    open_source,
    path_skip_reason,
    source_root_uri,
)
from assets.metadata import PhaseClock, md_table
from assets.tables import (
    IMAGE_HASHES,
    IMAGE_HASHES_HANDOFF,
    QUARANTINED_IMAGES,
    RAW_IMAGES,
    RAW_IMAGES_HISTORY,
    image_hashes_table,
)
from resources.blob_store import BlobStore
from resources.environment import parse_source
from resources.retries import with_retries
from resources.settings import PlatformSettings
from resources.warehouse.base import Warehouse, table_schema
from resources.warehouse.dialects import TSQL, quote
from resources.warehouse.schema import TableSpec, key_hash
from resources.warehouse.sql import delete_keys_sql, insert_all_sql, insert_new_sql

if TYPE_CHECKING:  # pandas loads with the step that uses it, not with the code location
    import pandas as pd
    import pyarrow as pa

    from assets.ingest.current import CatalogMoves

CHECK_EVERY_FILE_ACCOUNTED = "every_source_file_accounted_for"
PROGRESS_EVERY_S = 5.0  # seconds between progress lines in the run's log


class RawImagesConfig(dg.Config):
    """Run configuration of ``raw_images``."""

    source: str = Field(
        default="",
        description=(
            "Override IMAGE_PLATFORM_SOURCE for this run: a folder laid out <label>/<file>, or "
            "blob://<container>/<prefix>. Empty means the configured source."
        ),
    )
    workers: int = Field(
        default=2, ge=1, le=64, description="Threads fingerprinting, decoding and hashing files."
    )
    readers: int = Field(
        default=4,
        ge=0,
        le=64,
        description=(
            "Blob sources: threads that only download, so the next blobs arrive while the workers "
            "decode. Local folders read in the workers."
        ),
    )
    hash_while_reading: bool = Field(
        default=True,
        description=(
            "When image_hashes runs in the same run (curation_job), hash each new image from the "
            "bytes read to catalogue it, with that run's image_hashes settings, and hand the "
            "hashes to image_hashes: every image is read once. False: image_hashes reads the "
            "images again itself."
        ),
    )
    batch_size: int = Field(
        default=1024,
        ge=1,
        description=(
            "Files per write to the warehouse (one transaction each; a stopped run resumes after "
            "the last one). Each write has a fixed cost the step thread pays behind the workers."
        ),
    )
    blob_names: list[str] | None = Field(
        default=None,
        description=(
            "Blob sources only: catalogue exactly these blobs (full names under the source "
            "prefix) instead of listing the source, e.g. one batch of new arrivals. Blobs deleted "
            "in the meantime are skipped. Null means the whole source."
        ),
    )
    skipped_by_policy_blobs: list[str] | None = Field(
        default=None,
        description=(
            "Set by new_blobs_sensor: blobs (full names) its tick left out by the listing policy "
            "(hidden files and folders, system files), listed in this run's metadata as "
            "skipped_by_policy as a full listing lists them."
        ),
    )
    max_file_bytes: int = Field(
        default=DEFAULT_MAX_FILE_BYTES,
        ge=1,
        description=(
            "Files larger than this are quarantined as too_large without being read. Files are "
            "looked at (their first 64 KiB) before they are read whole, so a large file that is "
            "not an image is hashed as a stream and never held in memory."
        ),
    )
    retry_attempts: int = Field(
        default=4,
        ge=1,
        description=(
            "Tries of the listing and of each read when the blob store fails transiently "
            "(network trouble, throttling, a service restart), with exponential backoff; then the "
            "step fails, and a rerun resumes after the last batch written."
        ),
    )
    retry_base_delay_seconds: float = Field(
        default=1.0,
        ge=0,
        description="Wait before the second try; it doubles for each further try.",
    )
    record_gps_coordinates: bool = Field(
        default=False,
        description=(
            "Keep photos' GPS coordinates (gps_latitude, gps_longitude) in the catalog. Off by "
            "default: only whether a position is present (has_gps) is recorded."
        ),
    )
    require_label: bool = Field(
        default=True,
        description=(
            "True (labelled training sources): the label is the first folder under the source "
            "root and a file outside a label folder is quarantined as no_label_folder. False "
            "(the incoming container): the source carries no labels, its folders are not "
            "labels, and every image is catalogued with label NULL."
        ),
    )


def _hashing_settings(context: dg.AssetExecutionContext) -> dict | None:
    """image_hashes' config in this run, when image_hashes runs after this step; else None."""
    if dg.AssetKey(IMAGE_HASHES.name) not in context.job_def.asset_layer.selected_asset_keys:
        return None
    ops: dict[str, Any] = cast(dict, context.run.run_config.get("ops") or {})
    return dict((ops.get(IMAGE_HASHES.name) or {}).get("config") or {})


class HandoffHasher:
    """Hashes the bytes raw_images reads, as image_hashes would (its mode and EXIF setting), so
    that image_hashes need not read them again: each file's hashes travel with its catalog row
    (``CatalogBatch.hashed``) to the handoff table. Thread-safe.

    The same bytes at several locations are hashed once while their results are among the last
    ``RECENT`` (a bounded memory, not a collection's worth).

    The engine is a pure kernel, importable from any stage; the version strings it records keep
    the handoff honest: image_hashes takes over only hashes of a version it accepts.
    """

    RECENT = 1024

    def __init__(self, settings: dict):
        from assets.decode import DecodePolicy
        from assets.hashing import engine
        from assets.tables import HASH_SIZES

        self._engine = engine
        self.mode = settings.get("mode", "exact")
        self.policy = DecodePolicy(
            apply_exif_orientation=bool(settings.get("apply_exif_orientation", True))
        )
        self.sizes = HASH_SIZES
        self._recent: OrderedDict[str, Any] = OrderedDict()
        self._lock = threading.Lock()
        engine.enable_pillow_block_cache()
        engine.warm_up()

    @classmethod
    def for_run(cls, settings: dict) -> "HandoffHasher | None":
        """None when the run's mode cannot hash here (exact mode without the replicated
        Pillow): image_hashes then reads the images and reports why, as it always did."""
        from assets.hashing import engine

        if settings.get("mode", "exact") == "exact" and not engine.EXACT_MODE_AVAILABLE:
            return None
        return cls(settings)

    def __call__(self, image_id: str, data: bytes) -> Any:
        """The engine's result for ``data``, or None when it cannot decode them (the catalog's
        probe then decides; image_hashes reports it as before). The result carries the header
        facts of the engine's open of the bytes (``HashResult.facts``) for the catalog's row."""
        from assets.decode import UndecodableImageError

        with self._lock:
            known = self._recent.get(image_id)
        if known is not None:
            return known
        try:
            result = self._engine.hash_bytes(data, self.sizes, self.mode, self.policy, facts=True)
        except UndecodableImageError:
            return None
        with self._lock:
            self._recent[image_id] = result
            if len(self._recent) > self.RECENT:
                self._recent.popitem(last=False)
        return result

    @staticmethod
    def rows(hashed: dict[str, Any], hashed_at: datetime) -> "pa.Table":
        """The handoff rows of a batch's hashes (``CatalogBatch.hashed``)."""
        return image_hashes_table([(i, result, hashed_at) for i, result in hashed.items()])


def _known_versions(current: "pd.DataFrame", caught: "pd.DataFrame") -> set[tuple[str, int, int]]:
    import pandas as pd

    from assets.ingest.catalog import seen_key

    known: set[tuple[str, int, int]] = set()
    for df in (current, caught):
        cols = df[["source_uri", "byte_size", "last_modified"]]
        for uri, size, modified in cols.itertuples(index=False, name=None):
            if pd.notna(size) and pd.notna(modified):
                known.add(seen_key(uri, int(size), pd.Timestamp(modified).to_pydatetime()))
    return known


def migrate_catalog(warehouse: Warehouse, now: datetime) -> int:
    """A catalog written before locations had one current row each (several rows per location
    after overwrites, keyed by the full URI): keep the newest row of each location, move the
    older ones to raw_images_history, key by source_key. One transaction; 0 when current."""
    from assets.ingest.current import split_duplicated_locations

    have = warehouse.existing_columns(RAW_IMAGES)
    if have is None or "source_key" in have:
        return 0
    current, history = split_duplicated_locations(
        warehouse.query_df(f"SELECT * FROM {RAW_IMAGES.qualified(warehouse.dialect)}"), now
    )
    # Columns added since the old table was made start empty.
    current = current.reindex(columns=RAW_IMAGES.column_names)
    history = history.reindex(columns=RAW_IMAGES_HISTORY.column_names)
    warehouse.migrate(
        RAW_IMAGES,
        reshape=lambda _: current,
        also=[(RAW_IMAGES_HISTORY, history, [(_insert_new(warehouse, RAW_IMAGES_HISTORY), [])])],
    )
    return len(history)


def _insert_new(warehouse: Warehouse, spec: TableSpec) -> str:
    return insert_new_sql(spec, warehouse.staged, warehouse.dialect)


def move_sql(dialect: str, staged: str) -> dict[str, str]:
    """The statements a catalog move runs besides the generic ones, for ``dialect``: drop the
    catalog quarantine of the staged locations, and the hashes and hash-stage quarantine of
    staged contents no location holds any more."""
    raw, quarantine = RAW_IMAGES.qualified(dialect), QUARANTINED_IMAGES.qualified(dialect)
    q = partial(quote, dialect=dialect)
    orphans = (
        f"t.{q('image_id')} IN (SELECT {q('image_id')} FROM {staged}) AND NOT EXISTS "
        f"(SELECT 1 FROM {raw} r WHERE r.{q('image_id')} = t.{q('image_id')})"
    )

    def delete(table: str) -> str:  # T-SQL names the alias it deletes from
        return f"DELETE t FROM {table} t" if dialect == TSQL else f"DELETE FROM {table} t"

    return {
        "clear_quarantine": (
            f"DELETE FROM {quarantine} WHERE {q('stage')} = 'catalog' AND {q('source_key')} IN "
            f"(SELECT {q('source_key')} FROM {staged})"
        ),
        "orphan_hashes": f"{delete(IMAGE_HASHES.qualified(dialect))} WHERE {orphans}",
        "orphan_quarantine": f"{delete(quarantine)} WHERE t.{q('stage')} = 'hash' AND {orphans}",
    }


def _write_moves(
    warehouse: Warehouse, moves: "CatalogMoves", handoff: "pa.Table | None" = None
) -> int:
    """One transaction: history in, retired and replaced rows out, new rows in, the locations'
    catalog quarantine replaced, hashes of contents no location holds any more dropped, and the
    batch's handed-over hashes (``handoff``) in. Returns how many handed-over hashes were new."""
    from assets.ingest.current import blank

    d, staged = warehouse.dialect, warehouse.staged
    sql = move_sql(d, staged)
    parts: list[tuple[TableSpec, pd.DataFrame, list[tuple[str, list]]]] = [
        (RAW_IMAGES_HISTORY, moves.history, [(_insert_new(warehouse, RAW_IMAGES_HISTORY), [])]),
        (RAW_IMAGES, moves.removed, [(delete_keys_sql(RAW_IMAGES, staged, d), [])]),
        (
            RAW_IMAGES,
            moves.upserted,
            [
                (delete_keys_sql(RAW_IMAGES, staged, d), []),
                (insert_all_sql(RAW_IMAGES, staged, d), []),
            ],
        ),
        (
            QUARANTINED_IMAGES,
            blank(QUARANTINED_IMAGES, source_key=moves.cleared_locations),
            [(sql["clear_quarantine"], [])],
        ),
        (QUARANTINED_IMAGES, moves.quarantined, [(_insert_new(warehouse, QUARANTINED_IMAGES), [])]),
    ]
    if moves.retired_ids and warehouse.table_exists(IMAGE_HASHES):
        ids = sorted(set(moves.retired_ids))
        parts += [
            (
                IMAGE_HASHES,
                blank(IMAGE_HASHES, image_id=ids),
                [(sql["orphan_hashes"], [])],
            ),
            (
                QUARANTINED_IMAGES,
                blank(QUARANTINED_IMAGES, image_id=ids),
                [(sql["orphan_quarantine"], [])],
            ),
        ]
    if handoff is not None and len(handoff):
        parts.append(
            (IMAGE_HASHES_HANDOFF, handoff, [(_insert_new(warehouse, IMAGE_HASHES_HANDOFF), [])])
        )
        return warehouse.write_parts(parts)[-1]  # the last part written: empty ones are skipped
    warehouse.write_parts(parts)
    return 0


@dg.asset(
    group_name="ingest",
    kinds={"python", "pillow", "duckdb"},
    pool="warehouse",
    # The table's meaning is written once, in assets/tables.py; here only what the asset does.
    description=(
        f"{RAW_IMAGES.description} Read from IMAGE_PLATFORM_SOURCE. Incremental: files already "
        "catalogued (same location, size and modification time) are not read again. Files that "
        "cannot be decoded go to quarantined_images with a reason instead of failing the run."
    ),
    metadata={"dagster/column_schema": table_schema(RAW_IMAGES), "table": RAW_IMAGES.name},
    check_specs=[
        dg.AssetCheckSpec(
            CHECK_EVERY_FILE_ACCOUNTED,
            asset="raw_images",
            description=(
                "The listing and the catalog agree: every file listed at the source has a "
                "current row in raw_images or quarantined_images, and no current row of this "
                "source names a file that is no longer there."
            ),
        )
    ],
)
def raw_images(
    context: dg.AssetExecutionContext,
    config: RawImagesConfig,
    warehouse: Warehouse,
    blob_store: BlobStore,
    settings: PlatformSettings,
) -> dg.MaterializeResult:
    # One warehouse connection for the whole step: each open of the DuckDB file reads its
    # catalogue and each close checkpoints it, and the set-up and the check ran a dozen of each.
    with warehouse.session():
        return _catalogue(context, config, warehouse, blob_store, settings)


def _catalogue(
    context: dg.AssetExecutionContext,
    config: RawImagesConfig,
    warehouse: Warehouse,
    blob_store: BlobStore,
    settings: PlatformSettings,
) -> dg.MaterializeResult:
    # Pillow, numba and pandas load with the step that uses them, not with the code location.
    import pandas as pd

    from assets.decode import DecodePolicy
    from assets.ingest.catalog import Retries, catalog_entries, seen_key
    from assets.ingest.current import batch_moves, deleted_moves, with_keys

    clock = PhaseClock()
    # When image_hashes runs next, its kernels load on a thread of their own while the catalog
    # is read and the source listed (both mostly wait on the file system and DuckDB).
    hashing = _hashing_settings(context) if config.hash_while_reading else None
    preload = ThreadPoolExecutor(1, thread_name_prefix="hash-kernels")
    kernels = preload.submit(HandoffHasher.for_run, hashing) if hashing is not None else None
    preload.shutdown(wait=False)
    spec = parse_source(config.source) if config.source else settings.source_spec
    context.log.info(f"Cataloguing {spec.uri}")
    migrated = migrate_catalog(warehouse, datetime.now(tz=UTC))
    if migrated:
        context.log.warning(
            f"catalog migrated to one row per location: {migrated} older rows of overwritten "
            "locations moved to raw_images_history"
        )
    for table in (RAW_IMAGES, QUARANTINED_IMAGES, RAW_IMAGES_HISTORY):
        warehouse.ensure_table(table)
    # The catalog's current rows, by location, as the run found them. A location is listed once,
    # so a batch's locations can only match rows that were there before the run: the batches'
    # moves are decided against this view, and it is brought up to date once, after them.
    current_rows = with_keys(warehouse.read_table(RAW_IMAGES)).set_index("source_key")
    quarantine = with_keys(warehouse.read_table(QUARANTINED_IMAGES))
    caught = quarantine[quarantine.stage == "catalog"]
    known = _known_versions(current_rows, caught)
    skipped: list[Skipped] = []
    retries = Retries(config.retry_attempts, config.retry_base_delay_seconds)

    def listing() -> tuple[list, SourceReader]:
        skipped.clear()  # a retried listing starts over
        entries, read = open_source(spec, blob_store, config.blob_names, skipped)
        return [e if config.require_label else replace(e, labelled=False) for e in entries], read

    def retrying(attempt: int, exc: BaseException, delay: float) -> None:
        context.log.warning(
            f"listing {spec.uri} failed ({exc!r}); try {attempt + 1} in {delay:.1f}s"
        )

    listed, read = with_retries(listing, retries.attempts, retries.base_delay_s, on_retry=retrying)
    for name in config.skipped_by_policy_blobs or []:
        relpath = name[len(spec.prefix) :]
        reason = path_skip_reason(relpath) or "skipped_by_sensor"
        skipped.append(Skipped(blob_store.url(spec.container, name), relpath, reason))
    if config.blob_names is not None:
        context.log.info(
            f"{len(config.blob_names)} blobs named, {len(listed)} still there to catalogue"
        )
    todo = [e for e in listed if seen_key(e.uri, e.size, e.last_modified) not in known]
    context.log.info(f"{len(listed)} files listed, {len(todo)} new or changed")
    if skipped:
        context.log.info(
            f"{len(skipped)} files or folders left out by policy (hidden, system files, links "
            "outside the source): listed in the metadata as skipped_by_policy"
        )

    clock.lap("list and load the catalog")
    hasher = kernels.result() if kernels is not None and todo else None
    if hasher is not None:
        context.log.info(
            f"image_hashes runs next: hashing new images as they are read ({hasher.mode} mode)"
        )
    clock.lap("load the hash kernels")
    started = time.monotonic()
    next_progress = started + PROGRESS_EVERY_S
    worker_seconds: dict[str, float] = {}
    new_rows: list[pd.DataFrame] = []
    removed_keys: list[str] = []
    inserted = quarantined = processed = handed_over = overwritten = retired_now = 0
    for batch in catalog_entries(
        todo,
        read,
        DecodePolicy(),
        config.workers,
        config.batch_size,
        config.max_file_bytes,
        hasher=hasher,
        readers=config.readers if spec.kind == "blob" else 0,
        retries=retries,
    ):
        clock.lap("wait for the workers")
        for phase, seconds in batch.seconds.items():
            worker_seconds[phase] = worker_seconds.get(phase, 0.0) + seconds
        rows = pd.DataFrame(batch.rows)
        if len(rows) and not config.record_gps_coordinates:
            rows = rows.assign(gps_latitude=None, gps_longitude=None)
        bad = pd.DataFrame(batch.quarantined)
        moves = batch_moves(rows, bad, current_rows, datetime.now(tz=UTC))
        # The batch's rows and the hashes of their bytes land together (one transaction).
        handoff = hasher.rows(batch.hashed, datetime.now(tz=UTC)) if hasher else None
        handed_over += _write_moves(warehouse, moves, handoff)
        clock.lap("write catalog rows and handed-over hashes")
        removed_keys.extend(moves.removed.get("source_key", []))
        if len(moves.upserted):
            new_rows.append(moves.upserted)
        inserted += len(moves.upserted)
        quarantined += len(moves.quarantined)
        overwritten += moves.overwritten
        retired_now += len(moves.history)
        for row in batch.quarantined:
            context.log.warning(
                f"quarantined {row['source_uri']!r}: {row['reason']} ({row['detail']})"
            )
        processed += len(batch.rows) + len(batch.quarantined)
        # Progress every few seconds, not every batch: each log line is an event written to
        # the run's event log by the step thread, behind the workers.
        if time.monotonic() >= next_progress or processed == len(todo):
            rate = processed / max(time.monotonic() - started, 1e-9)
            context.log.info(f"catalogued {processed}/{len(todo)} files ({rate:.0f} files/s)")
            next_progress = time.monotonic() + PROGRESS_EVERY_S
        clock.lap("log progress")
    elapsed = time.monotonic() - started
    added = pd.concat(new_rows) if new_rows else pd.DataFrame(columns=RAW_IMAGES.column_names)
    if len(added) or removed_keys:
        up = added.set_index("source_key")[current_rows.columns]
        gone_now = [*removed_keys, *up.index]
        current_rows = pd.concat([current_rows.drop(index=gone_now, errors="ignore"), up])
    clock.lap("bring the catalog view up to date")

    # Locations no longer at the source: a full listing sees every file under the source root;
    # a named batch knows exactly which of its blobs are gone.
    root = source_root_uri(spec, blob_store)
    listed_keys = {key_hash(e.uri) for e in listed}
    if config.blob_names is None:
        in_scope = {
            k
            for k, u in zip(current_rows.index, current_rows.source_uri, strict=True)
            if u.startswith(root)
        }
        caught_scope = set(caught.source_key[caught.source_uri.str.startswith(root)])
        gone = (in_scope | caught_scope) - listed_keys
    else:
        named = {key_hash(blob_store.url(spec.container, n)) for n in config.blob_names}
        gone = named - listed_keys
    deleted = deleted_moves(current_rows, caught, gone, datetime.now(tz=UTC))
    if len(deleted.removed) or deleted.cleared_locations:
        _write_moves(warehouse, deleted)
        retired_now += len(deleted.history)
        context.log.info(
            f"{len(deleted.removed)} catalogued files no longer at the source moved to "
            f"raw_images_history (deleted)"
        )

    catalog = warehouse.read_table(RAW_IMAGES, ["image_id", "source_uri", "label", "format"])
    quarantine = warehouse.read_table(QUARANTINED_IMAGES, ["source_uri", "stage", "reason"])
    caught_now = quarantine.loc[quarantine.stage == "catalog", "source_uri"]
    accounted = set(catalog.source_uri) | set(caught_now)
    missing = sorted({e.uri for e in listed} - accounted)
    stale: list[str] = []
    if config.blob_names is None:
        listed_uris = {e.uri for e in listed}
        stale = sorted(
            u
            for u in (set(catalog.source_uri) | set(caught_now))
            if u.startswith(root) and u not in listed_uris
        )

    by_label = (
        catalog.groupby("label", dropna=False)
        .agg(images=("source_uri", "size"), distinct_contents=("image_id", "nunique"))
        .reset_index()
        .assign(new=lambda d: d.label.map(added.groupby("label").size()).fillna(0).astype(int))
    )
    by_format = catalog.groupby("format").size().rename("images").reset_index()
    reasons = (
        quarantine.groupby(["stage", "reason"]).size().rename("files").reset_index()
        if len(quarantine)
        else pd.DataFrame(columns=["stage", "reason", "files"])
    )
    preview_cols = ["label", "name", "width", "height", "format", "mode", "byte_size", "image_id"]
    if kernels is not None:  # nothing to hash: the kernels loaded for nothing, behind the check
        wait([kernels])
    clock.lap("check and summarise")
    context.log.info(
        "seconds by phase: "
        + ", ".join(f"{phase} {s:.1f}" for phase, s in clock.seconds.items())
        + "; summed over the worker threads: "
        + ", ".join(f"{phase} {s:.1f}" for phase, s in worker_seconds.items())
    )
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": len(catalog),
            "source": spec.uri,
            "files_listed": len(listed),
            "skipped_by_policy_count": len(skipped),
            "skipped_by_policy": dg.MetadataValue.md(
                md_table(
                    pd.DataFrame([(s.reason, s.name) for s in skipped], columns=["reason", "path"]),
                    50,
                )
            ),
            **({"blobs_named": len(config.blob_names)} if config.blob_names is not None else {}),
            "skipped_already_catalogued": len(listed) - len(todo),
            "new_rows": inserted,
            "new_quarantined": quarantined,
            "hashed_while_reading": handed_over,
            "overwritten": overwritten,
            "deleted": len(deleted.removed),
            "retired_to_history": retired_now,
            "quarantined_total": int((quarantine.stage == "catalog").sum()),
            "distinct_images": int(catalog.image_id.nunique()),
            "labels": int(catalog.label.nunique()),
            "files_per_second": round(processed / elapsed, 1) if elapsed > 0 else 0.0,
            "seconds_by_phase": dg.MetadataValue.json(
                {
                    "step": clock.rounded(),
                    "workers": {p: round(s, 2) for p, s in worker_seconds.items()},
                }
            ),
            "by_label": dg.MetadataValue.md(md_table(by_label, 100)),
            "by_format": dg.MetadataValue.md(md_table(by_format)),
            "quarantine_reasons": dg.MetadataValue.md(md_table(reasons)),
            "preview_new_rows": dg.MetadataValue.md(md_table(added[preview_cols], 10)),
        },
        check_results=[
            dg.AssetCheckResult(
                check_name=CHECK_EVERY_FILE_ACCOUNTED,
                passed=not missing and not stale,
                metadata={
                    "unaccounted_files": len(missing),
                    "examples": ", ".join(repr(u) for u in missing[:5]),
                    "stale_rows": len(stale),
                    "stale_examples": ", ".join(repr(u) for u in stale[:5]),
                },
            )
        ],
    )

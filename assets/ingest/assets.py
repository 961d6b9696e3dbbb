"""The image catalog (the lab's Paintings table) and its quarantine."""

import threading
import time
from dataclasses import replace
from datetime import UTC, datetime

import dagster as dg
from pydantic import Field

from assets.ingest.sources import DEFAULT_MAX_FILE_BYTES, Skipped, open_source
from assets.metadata import md_table
from assets.tables import (
    IMAGE_HASHES,
    IMAGE_HASHES_HANDOFF,
    QUARANTINED_IMAGES,
    RAW_IMAGES,
    image_hash_row,
)
from resources.blob_store import BlobStore
from resources.environment import get_settings, parse_source
from resources.warehouse import Warehouse

CHECK_EVERY_FILE_ACCOUNTED = "every_source_file_accounted_for"


class RawImagesConfig(dg.Config):
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
    batch_size: int = Field(default=256, ge=1, description="Files per write to the warehouse.")
    blob_names: list[str] | None = Field(
        default=None,
        description=(
            "Blob sources only: catalogue exactly these blobs (full names under the source "
            "prefix) instead of listing the source, e.g. one batch of new arrivals. Blobs deleted "
            "in the meantime are skipped. Null means the whole source."
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
    ops = context.run.run_config.get("ops") or {}
    return dict((ops.get(IMAGE_HASHES.name) or {}).get("config") or {})


class HandoffHasher:
    """Hashes the bytes raw_images reads, as image_hashes would (its mode and EXIF setting), so
    that image_hashes need not read them again: the results wait here until their batch is
    written to the handoff table. Thread-safe; holds one batch of results at a time.

    The engine is a pure kernel, importable from any stage; the version strings it records keep
    the handoff honest: image_hashes takes over only hashes of a version it accepts.
    """

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
        self._results: dict = {}
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

    def __call__(self, image_id: str, data: bytes) -> bool:
        from assets.decode import UndecodableImageError

        with self._lock:
            if image_id in self._results:  # the same bytes twice in one batch: hashed once
                return True
        try:
            result = self._engine.hash_bytes(data, self.sizes, self.mode, self.policy)
        except UndecodableImageError:
            return False  # the catalog probe decides; image_hashes reports it as before
        with self._lock:
            self._results[image_id] = result
        return True

    def take(self, image_ids, hashed_at) -> list[dict]:
        """The handoff rows of ``image_ids`` (the batch's catalogued images), forgetting the
        batch's results."""
        with self._lock:
            results, self._results = self._results, {}
        return [image_hash_row(i, results[i], hashed_at) for i in image_ids if i in results]


def _known_versions(warehouse: Warehouse) -> set[tuple[str, int, int]]:
    import pandas as pd

    from assets.ingest.catalog import seen_key

    known: set[tuple[str, int, int]] = set()
    for spec in (RAW_IMAGES, QUARANTINED_IMAGES):
        df = warehouse.read_table(spec, ["source_uri", "byte_size", "last_modified"])
        for uri, size, modified in df.itertuples(index=False, name=None):
            if pd.notna(size) and pd.notna(modified):
                known.add(seen_key(uri, int(size), pd.Timestamp(modified).to_pydatetime()))
    return known


@dg.asset(
    group_name="ingest",
    kinds={"python", "pillow", "duckdb"},
    pool="warehouse",
    description=(
        "The image catalog: one row per image content found at the source "
        "(IMAGE_PLATFORM_SOURCE) with its SHA-256 image_id, label (its folder), size, format, "
        "colour mode, EXIF orientation and frame count. Incremental: files already catalogued "
        "(same location, size and modification time) are not read again. Files that cannot be "
        "decoded go to quarantined_images with a reason instead of failing the run."
    ),
    metadata={"dagster/column_schema": RAW_IMAGES.table_schema(), "table": RAW_IMAGES.name},
    check_specs=[
        dg.AssetCheckSpec(
            CHECK_EVERY_FILE_ACCOUNTED,
            asset="raw_images",
            description="Every file listed at the source is in raw_images or quarantined_images.",
        )
    ],
)
def raw_images(
    context: dg.AssetExecutionContext,
    config: RawImagesConfig,
    warehouse: Warehouse,
    blob_store: BlobStore,
) -> dg.MaterializeResult:
    # Pillow, numba and pandas load with the step that uses them, not with the code location.
    import pandas as pd

    from assets.decode import DecodePolicy
    from assets.ingest.catalog import catalog_entries, seen_key

    spec = parse_source(config.source) if config.source else get_settings().source
    context.log.info(f"Cataloguing {spec.uri}")
    for table in (RAW_IMAGES, QUARANTINED_IMAGES):
        warehouse.ensure_table(table)
    known = _known_versions(warehouse)
    skipped: list[Skipped] = []
    entries, read = open_source(spec, blob_store, config.blob_names, skipped)
    listed = [e if config.require_label else replace(e, labelled=False) for e in entries]
    if config.blob_names is not None:
        context.log.info(
            f"{len(config.blob_names)} blobs named, {len(listed)} still there to catalogue"
        )
    todo = [e for e in listed if seen_key(e.uri, e.size, e.last_modified) not in known]
    context.log.info(f"{len(listed)} files listed, {len(todo)} not catalogued yet")
    if skipped:
        context.log.info(
            f"{len(skipped)} files or folders left out by policy (hidden, system files, links "
            "outside the source): listed in the metadata as skipped_by_policy"
        )

    settings = _hashing_settings(context) if config.hash_while_reading else None
    hasher = HandoffHasher.for_run(settings) if settings is not None and todo else None
    if hasher is not None:
        context.log.info(
            f"image_hashes runs next: hashing new images as they are read ({hasher.mode} mode)"
        )
    started = time.monotonic()
    new_rows: list[pd.DataFrame] = []
    new_quarantined: list[pd.DataFrame] = []
    inserted = quarantined = processed = handed_over = 0
    for batch in catalog_entries(
        todo,
        read,
        DecodePolicy(),
        config.workers,
        config.batch_size,
        config.max_file_bytes,
        hasher=hasher,
        readers=config.readers if spec.kind == "blob" else 0,
    ):
        if batch.rows:
            df = pd.DataFrame(batch.rows)
            if not config.record_gps_coordinates:
                df = df.assign(gps_latitude=None, gps_longitude=None)
            inserted += warehouse.insert_new(RAW_IMAGES, df)
            new_rows.append(df)
        if hasher is not None:
            ids = dict.fromkeys(r["image_id"] for r in batch.rows)
            handoff = hasher.take(ids, datetime.now(tz=UTC))
            if handoff:
                handed_over += warehouse.insert_new(IMAGE_HASHES_HANDOFF, pd.DataFrame(handoff))
        if batch.quarantined:
            df = pd.DataFrame(batch.quarantined)
            quarantined += warehouse.insert_new(QUARANTINED_IMAGES, df)
            new_quarantined.append(df)
            for row in batch.quarantined:
                context.log.warning(
                    f"quarantined {row['source_uri']}: {row['reason']} ({row['detail']})"
                )
        processed += len(batch.rows) + len(batch.quarantined)
        rate = processed / max(time.monotonic() - started, 1e-9)
        context.log.info(f"catalogued {processed}/{len(todo)} files ({rate:.0f} files/s)")
    elapsed = time.monotonic() - started

    catalog = warehouse.read_table(RAW_IMAGES, ["image_id", "source_uri", "label", "format"])
    quarantine = warehouse.read_table(QUARANTINED_IMAGES, ["source_uri", "stage", "reason"])
    accounted = set(catalog.source_uri) | set(
        quarantine.loc[quarantine.stage == "catalog", "source_uri"]
    )
    missing = sorted({e.uri for e in listed} - accounted)

    added = pd.concat(new_rows) if new_rows else pd.DataFrame(columns=RAW_IMAGES.column_names)
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
            "quarantined_total": int((quarantine.stage == "catalog").sum()),
            "distinct_images": int(catalog.image_id.nunique()),
            "labels": int(catalog.label.nunique()),
            "files_per_second": round(processed / elapsed, 1) if elapsed > 0 else 0.0,
            "by_label": dg.MetadataValue.md(md_table(by_label, 100)),
            "by_format": dg.MetadataValue.md(md_table(by_format)),
            "quarantine_reasons": dg.MetadataValue.md(md_table(reasons)),
            "preview_new_rows": dg.MetadataValue.md(md_table(added[preview_cols], 10)),
        },
        check_results=[
            dg.AssetCheckResult(
                check_name=CHECK_EVERY_FILE_ACCOUNTED,
                passed=not missing,
                metadata={"unaccounted_files": len(missing), "examples": ", ".join(missing[:5])},
            )
        ],
    )

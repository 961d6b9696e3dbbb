"""Nightly batch classification of the images that arrived in the incoming container."""

import hashlib
import time
from collections.abc import Callable
from datetime import UTC, date, datetime
from functools import partial
from typing import TYPE_CHECKING, Any

import dagster as dg
from pydantic import Field

from assets.inference.nightly import (
    assemble_night,
    day_rows,
    night_frames,
    predicted_labels_per_night,
    previous_results,
    published_train_labels,
    split_results,
    to_classify,
    vanished_results,
)
from assets.inference.windows import evening_window
from assets.ingest.sources import DEFAULT_MAX_FILE_BYTES, Skipped, path_skip_reason
from assets.metadata import md_image, md_table
from assets.tables import (
    IMAGE_PREDICTIONS,
    IMAGE_PROBABILITIES,
    QUARANTINED_IMAGES,
)
from resources.blob_store import BlobStore
from resources.blobs import BlobInfo
from resources.environment import get_timezone
from resources.retries import with_retries
from resources.settings import PlatformSettings
from resources.warehouse.base import Warehouse, table_schema

if TYPE_CHECKING:  # onnxruntime, pandas and matplotlib load with the step that classifies
    from assets.inference.checks import NightHealth
    from assets.ingest.catalog import Unread

NIGHTLY_START_DATE = "2026-01-01"
CHECK_LOW_CONFIDENCE = "low_confidence_share"
CHECK_CLASS_MIX = "class_mix_near_train"
CHECK_QUARANTINE_RATE = "quarantine_rate"
CHECK_ONE_MODEL = "one_model_version_per_evening"
RETRY_BASE_DELAY_SECONDS = 1.0


def nightly_partitions_def(timezone: str | None = None) -> dg.DailyPartitionsDefinition:
    """One partition per evening, keyed by its date in the configured timezone.

    Dagster knows the keys as days; the asset classifies the evening's window (23:00 the day
    before up to 23:00, ``assets.inference.windows``). ``end_offset=1`` makes today's partition
    exist while the day runs, so the 23:00 tick can request the evening that is just ending.
    """
    return dg.DailyPartitionsDefinition(
        start_date=NIGHTLY_START_DATE, timezone=timezone or get_timezone(), end_offset=1
    )


nightly_partitions = nightly_partitions_def()


class NightlyConfig(dg.Config):
    """Run configuration of ``nightly_classifications``."""

    batch_size: int = Field(default=64, ge=1, description="Images per inference batch.")
    intra_op_threads: int = Field(default=1, ge=1, description="onnxruntime threads.")
    decode_threads: int = Field(default=2, ge=1, description="Threads decoding images.")
    model_version: str = Field(default="", description="Model version; empty = current.")
    low_confidence_below: float = Field(
        default=0.5, ge=0, le=1, description="A prediction below this probability is uncertain."
    )
    max_low_confidence_share: float = Field(
        default=0.25, ge=0, le=1, description="Warn when more predictions than this are uncertain."
    )
    max_class_mix_distance: float = Field(
        default=0.35,
        ge=0,
        le=1,
        description="Warn when the predicted class mix is further than this from the Train "
        "side's (total variation distance; checked from 20 predictions on).",
    )
    max_quarantine_rate: float = Field(
        default=0.05, ge=0, le=1, description="Warn when more arrivals than this are undecodable."
    )
    max_file_bytes: int = Field(
        default=DEFAULT_MAX_FILE_BYTES,
        ge=1,
        description=(
            "Arrivals larger than this are quarantined as too_large without being read. Every "
            "arrival is looked at (its first 64 KiB) before it is read whole, so a large file "
            "that is not an image is hashed as a stream and never held in memory."
        ),
    )
    retry_attempts: int = Field(
        default=4,
        ge=1,
        description="Tries of each download when the blob store fails transiently, with backoff.",
    )
    clear_vanished: bool = Field(
        default=False,
        description=(
            "Drop the day's earlier results for images that are no longer in the incoming "
            "container (retention, a moved folder). By default they are kept when the same model "
            "classifies the day again, and the run fails when another model would mix versions."
        ),
    )


def arrivals(
    store: BlobStore, container: str, prefix: str, start: datetime, end: datetime
) -> "tuple[list[BlobInfo], list[Skipped]]":
    """Blobs under ``prefix`` last modified in [start, end), and those of them skipped by the
    platform's one listing policy (hidden files and folders, OS droppings: as the catalog and
    the new-blobs sensor skip them), which the run counts and lists instead of classifying."""
    arrived, skipped = [], []
    for info in store.list_blobs(container, prefix):
        if not start <= info.last_modified < end or info.name.endswith("/"):
            continue
        relpath = info.name[len(prefix) :]
        reason = path_skip_reason(relpath)
        if reason:
            skipped.append(Skipped(store.url(container, info.name), relpath, reason))
        else:
            arrived.append(info)
    return arrived, skipped


@dg.asset(
    group_name="inference",
    kinds={"onnx", "python", "duckdb"},
    pool="warehouse",
    partitions_def=nightly_partitions,
    deps=["image_classifier"],
    description=(
        "The evening's classification of every image that arrived in the incoming container "
        "from 23:00 the day before up to 23:00 on the partition's date (by last-modified, in "
        "the configured timezone), so the 23:00 run classifies what has arrived so far: "
        "predicted label and "
        "probability per image (image_predictions) and every class's probability "
        "(image_probabilities), plus Parquet copies under predictions/date=YYYY-MM-DD/. Rerunning "
        "a day replaces that day's rows exactly. Identical images already classified by the same "
        "model reuse their result; undecodable ones are quarantined and counted."
    ),
    metadata={"dagster/column_schema": table_schema(IMAGE_PREDICTIONS)},
    check_specs=[
        dg.AssetCheckSpec(name, asset="nightly_classifications", description=text)
        for name, text in (
            (CHECK_LOW_CONFIDENCE, "Share of predictions below the confidence threshold."),
            (CHECK_CLASS_MIX, "Predicted class mix close to the Train side's label mix."),
            (CHECK_QUARANTINE_RATE, "Share of the evening's arrivals that could not be decoded."),
            (CHECK_ONE_MODEL, "Every prediction of the evening comes from one model version."),
        )
    ],
)
def nightly_classifications(
    context: dg.AssetExecutionContext,
    config: NightlyConfig,
    warehouse: Warehouse,
    blob_store: BlobStore,
    settings: PlatformSettings,
) -> dg.MaterializeResult:
    import pandas as pd

    from assets.classifier.classify import Classifier
    from assets.inference.checks import night_health
    from assets.inference.migrate import migrate_to_evening_windows
    from assets.inference.outputs import write_parquet_copies
    from assets.inference.review_sheet import (
        least_confident,
        review_sheet_md,
        review_template_csv,
    )
    from assets.plots import predictions_per_night_png

    day = date.fromisoformat(context.partition_key)
    start, end = evening_window(day, settings.timezone)
    incoming = settings.incoming_spec
    classifier = Classifier.from_store(
        blob_store,
        settings.models_container,
        config.model_version or None,
        intra_op_threads=config.intra_op_threads,
        decode_threads=config.decode_threads,
    )
    version = classifier.version
    migrated = migrate_to_evening_windows(warehouse, blob_store, settings)
    if migrated:
        context.log.info(f"moved {migrated} rows of calendar-day partitions to their evenings")
    arrived, skipped = arrivals(
        blob_store, incoming.container, incoming.prefix, start.astimezone(UTC), end.astimezone(UTC)
    )
    window = f"{start.isoformat()} .. {end.isoformat()}"
    if not blob_store.container_exists(incoming.container):
        raise dg.Failure(
            f"the incoming container {incoming.container!r} does not exist: check "
            "IMAGE_PLATFORM_INCOMING (nothing was classified, nothing was replaced)"
        )
    if arrived:
        context.log.info(f"{len(arrived)} images arrived in {window}; model {version}")
    else:
        context.log.warning(f"no images arrived in {window} in {incoming.uri}; model {version}")
    if skipped:
        context.log.warning(
            f"{len(skipped)} arrivals left out by policy (hidden files and folders, system "
            "files): listed in the metadata as skipped_by_policy"
        )

    now = datetime.now(tz=UTC)
    contents, unread = _read_arrivals(blob_store, incoming.container, arrived, config)

    reuse = {i: g for i, g in previous_results(warehouse, version).groupby("image_id")}
    todo = to_classify(contents, reuse)

    started = time.monotonic()
    fresh, failed = split_results(classifier.classify_bytes(todo.items(), config.batch_size))
    elapsed = time.monotonic() - started

    night = assemble_night(
        day,
        version,
        now,
        incoming.container,
        partial(blob_store.url, incoming.container),
        contents,
        unread,
        fresh,
        reuse,
        failed,
    )
    predictions, probabilities, quarantine = (
        night.predictions,
        night.probabilities,
        night.quarantine,
    )
    # Earlier results of blobs that have since vanished (retention, a mistyped prefix) are kept
    # unless the user asks to clear them: a rerun never empties a night silently.
    previous = day_rows(warehouse, IMAGE_PREDICTIONS, day)
    present = {f"{incoming.container}/{info.name}" for info in arrived}
    kept, refusal = vanished_results(previous, present, version, config.clear_vanished)
    dropped = int((~previous.blob_path.isin(present)).sum()) - len(kept)
    if refusal:
        raise dg.Failure(description=refusal, metadata={"day": day.isoformat()})
    if len(kept):
        context.log.warning(
            f"{len(kept)} images classified earlier on {day} are no longer in "
            f"{incoming.uri}: their results are kept (clear_vanished=true drops them)"
        )
        previous_probs = day_rows(warehouse, IMAGE_PROBABILITIES, day)
        probabilities.append(
            previous_probs[
                previous_probs.image_id.isin(kept.image_id)
                & (previous_probs.model_version == version)
            ].assign(partition_date=day)
        )
        predictions.extend(kept.assign(partition_date=day).to_dict("records"))
    elif dropped:
        context.log.warning(
            f"clear_vanished: dropping the results of {dropped} images of {day} that are no "
            f"longer in {incoming.uri}"
        )

    pred_df, prob_df = night_frames(predictions, probabilities)
    # Both tables of the night in one transaction, with one model version.
    warehouse.replace_partition(
        [(IMAGE_PREDICTIONS, pred_df), (IMAGE_PROBABILITIES, prob_df)], {"partition_date": day}
    )
    if quarantine:
        warehouse.insert_new(QUARANTINED_IMAGES, pd.DataFrame(quarantine))
        for row in quarantine:
            context.log.warning(f"quarantined {row['source_uri']}: {row['reason']}")

    container = settings.predictions_container
    paths = write_parquet_copies(blob_store, container, day, pred_df, prob_df)
    links = {f: dg.MetadataValue.url(blob_store.url(container, p)) for f, p in paths.items()}
    # The least confident predictions, for a person to confirm or correct.
    uncertain = least_confident(pred_df)
    template = f"date={day.isoformat()}/review_template.csv"
    blob_store.write_bytes(container, template, review_template_csv(uncertain), "text/csv")
    sheet = review_sheet_md(
        uncertain,
        {i: g for i, g in prob_df.groupby("image_id")},
        {f"{incoming.container}/{name}": data for name, (_, data, _) in contents.items()},
    )

    per_class = (
        pred_df.groupby("predicted_label").size().rename("images").reset_index()
        if len(pred_df)
        else pd.DataFrame(columns=["predicted_label", "images"])
    )
    nights = predicted_labels_per_night(warehouse)
    health = night_health(
        day_rows(warehouse, IMAGE_PREDICTIONS, day),
        published_train_labels(warehouse),
        len(quarantine),
        len(arrived),
        config.low_confidence_below,
    )
    return dg.MaterializeResult(
        check_results=_check_results(health, config),
        metadata={
            "dagster/row_count": len(pred_df),
            "day": day.isoformat(),
            "window": window,
            "arrived": len(arrived),
            "classified": len(fresh),
            "reused": int(pred_df.reused.sum()) if len(pred_df) else 0,
            "quarantined": len(quarantine),
            "quarantined_unread": len(unread),
            "skipped_by_policy_count": len(skipped),
            "skipped_by_policy": dg.MetadataValue.md(
                md_table(
                    pd.DataFrame([(s.reason, s.name) for s in skipped], columns=["reason", "path"]),
                    50,
                )
            ),
            "kept_vanished": len(kept),
            "dropped_vanished": dropped,
            "model_version": version,
            "images_per_second": round(len(todo) / elapsed, 1) if elapsed > 0 and todo else 0.0,
            "predictions_per_class": dg.MetadataValue.md(md_table(per_class, 100)),
            "predictions_per_night_plot": dg.MetadataValue.md(
                md_image(predictions_per_night_png(nights), "predictions per class per night")
            ),
            "predictions_parquet": links["predictions.parquet"],
            "probabilities_parquet": links["probabilities.parquet"],
            "review_sheet": dg.MetadataValue.md(sheet),
            "review_template_csv": dg.MetadataValue.url(blob_store.url(container, template)),
        },
    )


def _read_arrivals(
    store: BlobStore, container: str, arrived: "list[BlobInfo]", config: NightlyConfig
) -> "tuple[dict[str, tuple[str, bytes, BlobInfo]], dict[str, tuple[BlobInfo, Unread]]]":
    """Each arrival's (image_id, bytes, info), read whole only after the catalog's look at its
    size and first bytes; and the arrivals quarantined without being read whole (too_large,
    unidentified_format). Memory per arrival is bounded by ``max_file_bytes``."""
    from assets.ingest.catalog import Unread, look_before_reading, streamed_sha256

    def retried(fn: Callable[[], Any]) -> Any:
        return with_retries(fn, config.retry_attempts, RETRY_BASE_DELAY_SECONDS)

    contents: dict[str, tuple[str, bytes, BlobInfo]] = {}
    unread: dict[str, tuple[BlobInfo, Unread]] = {}
    for info in arrived:
        name = info.name

        def read(name: str = name) -> bytes:
            return retried(partial(store.read_bytes, container, name))

        def read_if(n: int, accept: Callable[[bytes], bool], name: str = name) -> bytes | None:
            return retried(lambda: store.read_if(container, name, n, accept))

        def digest(name: str = name) -> tuple[str, int]:
            return retried(lambda: streamed_sha256(store.iter_chunks(container, name)))

        data = look_before_reading(info.size, read, read_if, digest, config.max_file_bytes)
        if isinstance(data, Unread):
            unread[name] = (info, data)
            continue
        contents[name] = (hashlib.sha256(data).hexdigest(), data, info)
    return contents, unread


def _check_results(health: "NightHealth", config: NightlyConfig) -> list[dg.AssetCheckResult]:
    warn = dg.AssetCheckSeverity.WARN
    distance = health.class_mix_distance
    return [
        dg.AssetCheckResult(
            check_name=CHECK_LOW_CONFIDENCE,
            passed=health.low_confidence_share <= config.max_low_confidence_share,
            severity=warn,
            description=(
                f"{health.low_confidence} of {health.predictions} predictions below "
                f"{config.low_confidence_below} (allowed share {config.max_low_confidence_share})"
            ),
            metadata={
                "share": round(health.low_confidence_share, 4),
                "low_confidence": health.low_confidence,
                "predictions": health.predictions,
            },
        ),
        dg.AssetCheckResult(
            check_name=CHECK_CLASS_MIX,
            passed=distance is None or distance <= config.max_class_mix_distance,
            severity=warn,
            description=(
                f"too few predictions ({health.predictions}) to judge the class mix"
                if distance is None
                else f"total variation distance {distance:.3f} from the Train side's labels "
                f"(allowed {config.max_class_mix_distance})"
            ),
            metadata={
                "distance": float("nan") if distance is None else round(distance, 4),
                "mix": dg.MetadataValue.md(md_table(health.mix.round(4), 100)),
            },
        ),
        dg.AssetCheckResult(
            check_name=CHECK_QUARANTINE_RATE,
            passed=health.quarantine_rate <= config.max_quarantine_rate,
            severity=warn,
            description=(
                f"{health.quarantined} of {health.arrived} arrivals undecodable "
                f"(allowed rate {config.max_quarantine_rate})"
            ),
            metadata={"rate": round(health.quarantine_rate, 4), "quarantined": health.quarantined},
        ),
        dg.AssetCheckResult(
            check_name=CHECK_ONE_MODEL,
            passed=len(health.model_versions) <= 1,
            severity=warn,
            description=f"model versions in this evening: {', '.join(health.model_versions)}",
            metadata={"model_versions": ", ".join(health.model_versions)},
        ),
    ]

"""Nightly batch classification of the images that arrived in the incoming container."""

import hashlib
import io
import time
from datetime import UTC, datetime

import dagster as dg
import pandas as pd
from pydantic import Field

from assets.decode import UndecodableImageError
from assets.inference.classify import Classifier
from assets.metadata import md_image, md_table
from assets.model.registry import load_version
from assets.plots import predictions_per_night_png
from assets.tables import IMAGE_PREDICTIONS, IMAGE_PROBABILITIES, QUARANTINED_IMAGES
from resources.blob_store import BlobStore
from resources.environment import get_settings
from resources.warehouse import Warehouse

NIGHTLY_START_DATE = "2026-01-01"
NIGHTLY_HOUR = 23  # the refund app classified at 23:00


def nightly_partitions_def(timezone: str | None = None) -> dg.DailyPartitionsDefinition:
    """Calendar days in the configured timezone; a day's partition exists once the day is over."""
    return dg.DailyPartitionsDefinition(
        start_date=NIGHTLY_START_DATE, timezone=timezone or get_settings().timezone
    )


nightly_partitions = nightly_partitions_def()


class NightlyConfig(dg.Config):
    batch_size: int = Field(default=64, ge=1, description="Images per inference batch.")
    intra_op_threads: int = Field(default=1, ge=1, description="onnxruntime threads.")
    decode_threads: int = Field(default=2, ge=1, description="Threads decoding images.")
    model_version: str = Field(default="", description="Model version; empty = current.")


def arrivals(store: BlobStore, container: str, prefix: str, start: datetime, end: datetime):
    """Blobs under ``prefix`` last modified in [start, end)."""
    return [
        info
        for info in store.list_blobs(container, prefix)
        if start <= info.last_modified < end and not info.name.endswith("/")
    ]


def _previous_results(warehouse: Warehouse, version: str) -> pd.DataFrame:
    if not warehouse.table_exists(IMAGE_PROBABILITIES):
        return pd.DataFrame(columns=["image_id", "label", "probability"])
    return warehouse.query_df(
        f"SELECT DISTINCT image_id, label, probability FROM {IMAGE_PROBABILITIES.name} "
        f"WHERE model_version = ?",
        [version],
    )


@dg.asset(
    group_name="inference",
    kinds={"onnx", "python", "duckdb"},
    pool="warehouse",
    partitions_def=nightly_partitions,
    deps=["image_classifier"],
    description=(
        "The night's classification of every image that arrived in the incoming container on "
        "that day (by last-modified, in the configured timezone): predicted label and "
        "probability per image (image_predictions) and every class's probability "
        "(image_probabilities), plus Parquet copies under predictions/date=YYYY-MM-DD/. Rerunning "
        "a day replaces that day's rows exactly. Identical images already classified by the same "
        "model reuse their result; undecodable ones are quarantined and counted."
    ),
    metadata={"dagster/column_schema": IMAGE_PREDICTIONS.table_schema()},
)
def nightly_classifications(
    context: dg.AssetExecutionContext,
    config: NightlyConfig,
    warehouse: Warehouse,
    blob_store: BlobStore,
) -> dg.MaterializeResult:
    settings = get_settings()
    window = context.partition_time_window
    day = window.start.date()
    incoming = settings.incoming
    model = load_version(blob_store, settings.models_container, config.model_version or None)
    version = model.version
    arrived = arrivals(
        blob_store,
        incoming.container,
        incoming.prefix,
        window.start.astimezone(UTC),
        window.end.astimezone(UTC),
    )
    context.log.info(f"{len(arrived)} images arrived on {day}; model {version}")

    now = datetime.now(tz=UTC)
    contents = {}
    for info in arrived:
        data = blob_store.read_bytes(incoming.container, info.name)
        contents[info.name] = (hashlib.sha256(data).hexdigest(), data, info)

    known = _previous_results(warehouse, version)
    reuse = {image_id: grp for image_id, grp in known.groupby("image_id")}
    todo = {}
    for image_id, data, _ in contents.values():
        if image_id not in reuse and image_id not in todo:
            todo[image_id] = data

    classifier = Classifier.load(
        model.onnx_bytes,
        model.spec,
        intra_op_threads=config.intra_op_threads,
        decode_threads=config.decode_threads,
    )
    started = time.monotonic()
    fresh: dict[str, pd.DataFrame] = {}
    failed: dict[str, UndecodableImageError] = {}
    for image_id, result in classifier.classify_bytes(todo.items(), config.batch_size):
        if isinstance(result, UndecodableImageError):
            failed[image_id] = result
        else:
            fresh[image_id] = pd.DataFrame(
                {
                    "image_id": image_id,
                    "label": list(result.class_names),
                    "probability": result.probabilities.astype(float),
                }
            )
    elapsed = time.monotonic() - started

    predictions, probabilities, quarantine = [], [], []
    for name, (image_id, data, info) in contents.items():
        blob_path = f"{incoming.container}/{name}"
        if image_id in failed:
            error = failed[image_id]
            quarantine.append(
                {
                    "image_id": image_id,
                    "source_uri": blob_store.url(incoming.container, name),
                    "stage": "classify",
                    "name": name.rsplit("/", 1)[-1],
                    "label": None,
                    "byte_size": len(data),
                    "last_modified": info.last_modified,
                    "reason": error.reason,
                    "detail": error.detail[:2000],
                    "quarantined_at": now,
                }
            )
            continue
        probs = fresh.get(image_id)
        reused = probs is None
        if reused:
            probs = reuse[image_id]
        best = probs.loc[probs.probability.idxmax()]
        predictions.append(
            {
                "partition_date": day,
                "blob_path": blob_path,
                "image_id": image_id,
                "predicted_label": best.label,
                "probability": float(best.probability),
                "model_version": version,
                "reused": reused,
                "last_modified": info.last_modified,
                "classified_at": now,
            }
        )
        probabilities.append(probs.assign(partition_date=day, model_version=version))

    pred_df = pd.DataFrame(predictions, columns=IMAGE_PREDICTIONS.column_names)
    prob_df = (
        pd.concat(probabilities).drop_duplicates(["image_id", "label"])
        if probabilities
        else pd.DataFrame(columns=IMAGE_PROBABILITIES.column_names)
    )
    warehouse.replace_where(IMAGE_PREDICTIONS, pred_df, {"partition_date": day})
    warehouse.replace_where(IMAGE_PROBABILITIES, prob_df, {"partition_date": day})
    if quarantine:
        warehouse.insert_new(QUARANTINED_IMAGES, pd.DataFrame(quarantine))
        for row in quarantine:
            context.log.warning(f"quarantined {row['source_uri']}: {row['reason']}")

    container = settings.predictions_container
    blob_store.ensure_container(container)
    links = {}
    for filename, frame in (
        ("predictions.parquet", IMAGE_PREDICTIONS.conform(pred_df)),
        ("probabilities.parquet", IMAGE_PROBABILITIES.conform(prob_df)),
    ):
        buffer = io.BytesIO()
        frame.to_parquet(buffer, index=False)
        path = f"date={day.isoformat()}/{filename}"
        blob_store.write_bytes(container, path, buffer.getvalue(), "application/vnd.apache.parquet")
        links[filename] = dg.MetadataValue.url(blob_store.url(container, path))

    per_class = (
        pred_df.groupby("predicted_label").size().rename("images").reset_index()
        if len(pred_df)
        else pd.DataFrame(columns=["predicted_label", "images"])
    )
    nights = warehouse.query_df(
        f"SELECT partition_date, predicted_label FROM {IMAGE_PREDICTIONS.name}"
    )
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": len(pred_df),
            "day": day.isoformat(),
            "window": f"{window.start.isoformat()} .. {window.end.isoformat()}",
            "arrived": len(arrived),
            "classified": len(fresh),
            "reused": int(pred_df.reused.sum()) if len(pred_df) else 0,
            "quarantined": len(quarantine),
            "model_version": version,
            "images_per_second": round(len(todo) / elapsed, 1) if elapsed > 0 and todo else 0.0,
            "predictions_per_class": dg.MetadataValue.md(md_table(per_class, 100)),
            "predictions_per_night_plot": dg.MetadataValue.md(
                md_image(predictions_per_night_png(nights), "predictions per class per night")
            ),
            "predictions_parquet": links["predictions.parquet"],
            "probabilities_parquet": links["probabilities.parquet"],
        }
    )

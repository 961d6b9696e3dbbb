"""One evening's classification as rows: what to classify, what to reuse, what to quarantine,
and the SQL the nightly asset reads with (pure: no Dagster; pandas loads with the step).

``nightly_classifications`` loads the arrivals and the model, calls these, writes the two tables
in one transaction and reports; the rules live here.
"""

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from assets.tables import (
    IMAGE_PREDICTIONS,
    IMAGE_PROBABILITIES,
    PUBLISHED_IMAGES,
    quarantine_row,
)
from resources.warehouse.schema import TableSpec

if TYPE_CHECKING:
    import pandas as pd

    from assets.classifier.classify import Prediction
    from assets.decode import UndecodableImageError
    from assets.ingest.catalog import Unread
    from resources.blobs import BlobInfo
    from resources.warehouse.base import Warehouse


def day_rows(warehouse: "Warehouse", spec: TableSpec, day: date) -> "pd.DataFrame":
    """The rows of ``spec`` (a nightly table) for one evening; empty when the table is new."""
    import pandas as pd

    if not warehouse.table_exists(spec):
        return pd.DataFrame(columns=spec.column_names)
    cols = ", ".join(spec.column_names)
    return warehouse.query_df(f"SELECT {cols} FROM {spec.name} WHERE partition_date = ?", [day])


def vanished_results(
    previous: "pd.DataFrame", present: set[str], version: str, clear: bool
) -> "tuple[pd.DataFrame, str | None]":
    """The day's earlier predictions whose blob is no longer listed, and what to do with them.

    Returns ``(rows to keep, error)``: every vanished row is kept when the same model classifies
    the day again; none when ``clear`` is set; and an error message (nothing is written) when
    keeping them would mix two model versions in one night.
    """
    gone = previous[~previous.blob_path.isin(present)]
    if gone.empty or clear:
        return gone.iloc[0:0], None
    others = sorted(set(gone.model_version) - {version})
    if others:
        return gone.iloc[0:0], (
            f"{len(gone)} images classified earlier for this day are no longer in the incoming "
            f"container (e.g. {gone.blob_path.iloc[0]}); their results come from model "
            f"{', '.join(others)} and cannot be recomputed with {version}. Rerun with "
            f"model_version={others[0]} to keep them, or with clear_vanished=true to drop them."
        )
    return gone, None


def previous_results(warehouse: "Warehouse", version: str) -> "pd.DataFrame":
    """Every (image_id, label, probability) ``version`` has computed on any evening: identical
    images arriving again reuse them instead of being classified again."""
    import pandas as pd

    if not warehouse.table_exists(IMAGE_PROBABILITIES):
        return pd.DataFrame(columns=["image_id", "label", "probability"])
    return warehouse.query_df(
        f"SELECT DISTINCT image_id, label, probability FROM {IMAGE_PROBABILITIES.name} "
        f"WHERE model_version = ?",
        [version],
    )


def predicted_labels_per_night(warehouse: "Warehouse") -> "pd.DataFrame":
    """(partition_date, predicted_label) of every evening, for the per-night chart."""
    return warehouse.query_df(
        f"SELECT partition_date, predicted_label FROM {IMAGE_PREDICTIONS.name}"
    )


def published_train_labels(warehouse: "Warehouse") -> "pd.Series":
    """The labels of the published Train side: the class mix the predictions are compared to."""
    train = warehouse.read_table(PUBLISHED_IMAGES, ["split", "label", "blob_name"])
    return train[(train.split == "train") & train.blob_name.notna()].label


def to_classify(
    contents: Mapping[str, tuple[str, bytes, Any]], reuse: Mapping[str, Any]
) -> dict[str, bytes]:
    """{image_id: bytes} of the evening's contents without a result of this model yet, each
    content once however many blobs hold it."""
    todo: dict[str, bytes] = {}
    for image_id, data, _ in contents.values():
        if image_id not in reuse and image_id not in todo:
            todo[image_id] = data
    return todo


def split_results(
    results: "Iterable[tuple[str, Prediction | UndecodableImageError]]",
) -> "tuple[dict[str, pd.DataFrame], dict[str, UndecodableImageError]]":
    """The classifier's results as ({image_id: probabilities per class}, {image_id: error})."""
    import pandas as pd

    fresh: dict[str, pd.DataFrame] = {}
    failed: dict[str, UndecodableImageError] = {}
    for image_id, result in results:
        if isinstance(result, Exception):
            failed[image_id] = result
        else:
            fresh[image_id] = pd.DataFrame(
                {
                    "image_id": image_id,
                    "label": list(result.class_names),
                    "probability": result.probabilities.astype(float),
                }
            )
    return fresh, failed


@dataclass
class Night:
    """One evening's rows before they are written."""

    predictions: list[dict]
    probabilities: "list[pd.DataFrame]"
    quarantine: list[dict]


def assemble_night(
    day: date,
    version: str,
    now: datetime,
    container: str,
    url: Callable[[str], str],
    contents: "Mapping[str, tuple[str, bytes, BlobInfo]]",
    unread: "Mapping[str, tuple[BlobInfo, Unread]]",
    fresh: "Mapping[str, pd.DataFrame]",
    reuse: "Mapping[str, pd.DataFrame]",
    failed: "Mapping[str, UndecodableImageError]",
) -> Night:
    """A prediction and its probabilities per arrival (fresh or reused), a quarantine row per
    arrival that could not be read or decoded; ``url(name)`` is a blob's URI."""
    predictions: list[dict] = []
    probabilities: list[pd.DataFrame] = []
    quarantine: list[dict] = []

    def quarantined(
        name: str, image_id: str, reason: str, detail: str, byte_size: int, info: "BlobInfo"
    ) -> None:
        quarantine.append(
            quarantine_row(
                image_id=image_id,
                source_uri=url(name),
                stage="classify",
                reason=reason,
                detail=detail,
                at=now,
                name=name.rsplit("/", 1)[-1],
                byte_size=byte_size,
                last_modified=info.last_modified,
            )
        )

    for name, (info, why) in unread.items():
        quarantined(name, why.image_id, why.reason, why.detail, why.byte_size, info)
    for name, (image_id, data, info) in contents.items():
        blob_path = f"{container}/{name}"
        if image_id in failed:
            error = failed[image_id]
            quarantined(name, image_id, error.reason, error.detail, len(data), info)
            continue
        probs = fresh.get(image_id)
        reused = probs is None
        if probs is None:
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
    return Night(predictions, probabilities, quarantine)


def night_frames(
    predictions: list[dict], probabilities: "list[pd.DataFrame]"
) -> "tuple[pd.DataFrame, pd.DataFrame]":
    """The evening's image_predictions and image_probabilities frames."""
    import pandas as pd

    pred_df = pd.DataFrame(predictions, columns=IMAGE_PREDICTIONS.column_names)
    prob_df = (
        pd.concat(p[IMAGE_PROBABILITIES.column_names] for p in probabilities).drop_duplicates(
            ["image_id", "label"]
        )
        if probabilities
        else pd.DataFrame(columns=IMAGE_PROBABILITIES.column_names)
    )
    return pred_df, prob_df

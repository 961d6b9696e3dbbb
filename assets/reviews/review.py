"""Confirmed labels: read review files, check every row, record them (no Dagster import).

A review names an image — by ``image_id`` (SHA-256 of its bytes) or by ``blob_path``
(``container/name`` as in ``image_predictions`` and the review sheet) — and the ``label`` a
person gives it; ``reviewer`` and ``note`` are optional. Files are CSV (UTF-8, header row) or
Parquet with those columns.

A file is recorded whole or not at all: any bad row (no image, an image the platform has never
seen, an empty label, a label that is neither a class of the current model nor a catalogued
label, one image given two labels) rejects the file with every problem listed by row, so a
person fixes it and drops it again.
"""

import io
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import pandas as pd

from assets.classifier.registry import load_version
from assets.tables import IMAGE_PREDICTIONS, LABEL_REVIEWS, RAW_IMAGES

COLUMNS = ("image_id", "blob_path", "label", "reviewer", "note")
MAX_REVIEW_FILE_BYTES = 64 * 1024 * 1024
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_PARAMS_PER_QUERY = 500


class ReviewFileError(ValueError):
    """A review file that cannot be read as a table of reviews."""


def parse_review_file(data: bytes, name: str) -> pd.DataFrame:
    """The file's rows as strings (None where empty) with a 1-based ``row`` number (the CSV
    line number for CSV files)."""
    lower = name.lower()
    try:
        if lower.endswith(".parquet") or data[:4] == b"PAR1":
            frame = pd.read_parquet(io.BytesIO(data))
            first_row = 1
        elif lower.endswith((".csv", ".txt")):
            frame = pd.read_csv(
                io.BytesIO(data), dtype=str, keep_default_na=False, encoding="utf-8"
            )
            first_row = 2  # line 1 is the header
        else:
            raise ReviewFileError(f"{name}: not a review file (use .csv or .parquet)")
    except ReviewFileError:
        raise
    except Exception as exc:  # any parser's complaint is the file's problem, said in its words
        raise ReviewFileError(f"{name}: cannot be read: {type(exc).__name__}: {exc}") from exc
    frame.columns = [str(c).strip().lower() for c in frame.columns]
    if "label" not in frame.columns or not {"image_id", "blob_path"} & set(frame.columns):
        raise ReviewFileError(
            f"{name}: needs a label column and an image_id or blob_path column, "
            f"has {list(frame.columns)}"
        )
    out = pd.DataFrame({"row": range(first_row, first_row + len(frame))})
    for column in COLUMNS:
        values = frame[column] if column in frame.columns else pd.Series([None] * len(frame))
        out[column] = [_text(v) for v in values]
    return out


def _text(value) -> str | None:
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return None
    text = str(value).strip()
    return text or None


@dataclass(frozen=True)
class Known:
    """What the rows are checked against."""

    images: set[str]  # image_ids the platform has catalogued or classified
    by_blob: dict[str, str]  # blob_path -> image_id
    predicted: dict[str, str]  # image_id -> latest predicted label
    labels: set[str]  # classes of the current model and catalogued labels


def check_reviews(
    rows: pd.DataFrame, known: Known, allow_new_labels: bool = False
) -> tuple[pd.DataFrame, list[str]]:
    """Resolve and check parsed rows: (reviews with image_id, problems). Any problem means the
    rows must not be recorded."""
    problems: list[str] = []
    resolved = []
    for row in rows.itertuples(index=False):
        where = f"row {row.row}"
        image_id = row.image_id.lower() if row.image_id else None
        if image_id is None and row.blob_path:
            image_id = known.by_blob.get(row.blob_path)
            if image_id is None:
                problems.append(f"{where}: blob_path {row.blob_path!r} was never classified")
                continue
        if image_id is None:
            problems.append(f"{where}: names no image (image_id or blob_path)")
            continue
        if not _SHA256.match(image_id):
            problems.append(f"{where}: image_id {row.image_id!r} is not a SHA-256 hex digest")
            continue
        if image_id not in known.images:
            problems.append(f"{where}: image {image_id} is neither catalogued nor classified")
            continue
        if not row.label:
            problems.append(f"{where}: empty label")
            continue
        if row.label not in known.labels and not allow_new_labels:
            listed = ", ".join(sorted(known.labels)[:20]) or "none"
            problems.append(
                f"{where}: label {row.label!r} is not a class of the current model nor a "
                f"catalogued label (known: {listed})"
            )
            continue
        resolved.append({**row._asdict(), "image_id": image_id})
    reviews = pd.DataFrame(resolved, columns=["row", *COLUMNS])
    for image_id, group in reviews.groupby("image_id"):
        if group.label.nunique() > 1:
            problems.append(
                f"rows {', '.join(map(str, group.row))}: image {image_id} is given different "
                f"labels ({', '.join(sorted(set(group.label)))})"
            )
    return reviews.drop_duplicates("image_id"), problems


def _in_chunks(warehouse, sql: str, values: Sequence[str]) -> pd.DataFrame:
    frames = []
    values = list(dict.fromkeys(values))
    for start in range(0, len(values), _PARAMS_PER_QUERY):
        chunk = values[start : start + _PARAMS_PER_QUERY]
        marks = ", ".join("?" for _ in chunk)
        frames.append(warehouse.query_df(sql.format(marks=marks), chunk))
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def known_for(warehouse, store, models_container: str, rows: pd.DataFrame) -> Known:
    """Look up exactly the images and blob paths the rows name, and the allowed labels."""
    ids = [i.lower() for i in rows.image_id.dropna()]
    blobs = list(rows.blob_path.dropna())
    images: set[str] = set()
    by_blob: dict[str, str] = {}
    predicted: dict[str, str] = {}
    if warehouse.table_exists(IMAGE_PREDICTIONS) and (ids or blobs):
        table = IMAGE_PREDICTIONS.qualified(warehouse.dialect)
        columns = "image_id, blob_path, predicted_label, classified_at"
        found = pd.concat(
            [
                _in_chunks(
                    warehouse,
                    f"SELECT {columns} FROM {table} WHERE blob_path IN ({{marks}})",
                    blobs,
                ),
                _in_chunks(
                    warehouse, f"SELECT {columns} FROM {table} WHERE image_id IN ({{marks}})", ids
                ),
            ],
            ignore_index=True,
        )
        if len(found):
            found = found.sort_values("classified_at")
            by_blob.update(zip(found.blob_path, found.image_id, strict=True))
            predicted.update(zip(found.image_id, found.predicted_label, strict=True))
            images.update(found.image_id)
    if warehouse.table_exists(RAW_IMAGES):
        table = RAW_IMAGES.qualified(warehouse.dialect)
        catalogued = _in_chunks(
            warehouse, f"SELECT image_id FROM {table} WHERE image_id IN ({{marks}})", ids
        )
        images.update(catalogued.get("image_id", []))
        urls = {}
        for blob in blobs:
            container, _, name = blob.partition("/")
            if name and blob not in by_blob:
                urls[store.url(container, name)] = blob
        located = _in_chunks(
            warehouse,
            f"SELECT image_id, source_uri FROM {table} WHERE source_uri IN ({{marks}})",
            list(urls),
        )
        for image_id, uri in zip(
            located.get("image_id", []), located.get("source_uri", []), strict=True
        ):
            by_blob.setdefault(urls[uri], image_id)
            images.add(image_id)
    return Known(images, by_blob, predicted, allowed_labels(warehouse, store, models_container))


def allowed_labels(warehouse, store, models_container: str) -> set[str]:
    """Classes of the current model and every catalogued label."""
    labels: set[str] = set()
    if warehouse.table_exists(RAW_IMAGES):
        table = RAW_IMAGES.qualified(warehouse.dialect)
        labels.update(
            warehouse.query_df(
                f"SELECT DISTINCT label FROM {table} WHERE label IS NOT NULL"
            ).label.astype(str)
        )
    try:
        labels.update(load_version(store, models_container).spec.class_names)
    except LookupError:
        pass  # no model yet: catalogued labels only
    return labels


def review_rows(
    reviews: pd.DataFrame, known: Known, source: str, at: datetime | None = None
) -> pd.DataFrame:
    """Rows of ``label_reviews`` for checked reviews."""
    at = at or datetime.now(tz=UTC)
    predicted = reviews.image_id.map(known.predicted)
    decision = [
        "labelled" if pd.isna(p) else ("confirmed" if p == label else "corrected")
        for p, label in zip(predicted, reviews.label, strict=True)
    ]
    return pd.DataFrame(
        {
            "image_id": reviews.image_id,
            "label": reviews.label,
            "predicted_label": predicted,
            "decision": decision,
            "blob_path": reviews.blob_path,
            "reviewer": reviews.reviewer,
            "note": reviews.note,
            "source": source,
            "reviewed_at": at,
        },
        columns=LABEL_REVIEWS.column_names,
    )


def review_one(
    warehouse,
    store,
    models_container: str,
    image: str,
    label: str,
    reviewer: str,
    note: str | None,
    source: str,
    allow_new_labels: bool = False,
) -> pd.DataFrame:
    """Check and record one review (``image``: an image_id or a blob path); raises ValueError
    with the problem, recording nothing, when it is not valid."""
    image = image.strip()
    is_id = bool(_SHA256.match(image.lower()))
    rows = pd.DataFrame(
        [
            {
                "row": 1,
                "image_id": image if is_id else None,
                "blob_path": None if is_id else image,
                "label": _text(label),
                "reviewer": _text(reviewer),
                "note": _text(note),
            }
        ]
    )
    known = known_for(warehouse, store, models_container, rows)
    reviews, problems = check_reviews(rows, known, allow_new_labels)
    if problems:
        raise ValueError("; ".join(p.removeprefix("row 1: ") for p in problems))
    recorded = review_rows(reviews, known, source)
    warehouse.upsert(LABEL_REVIEWS, recorded)
    return recorded

"""label_reviews: confirmed and corrected labels from review files and single corrections."""

from datetime import UTC, datetime
from typing import TYPE_CHECKING

import dagster as dg
from pydantic import Field

from assets.metadata import md_image, md_table
from assets.splits.membership import group_members, label_conflicts
from assets.tables import LABEL_REVIEWS, REVIEW_FILES
from resources.blob_store import BlobStore
from resources.settings import PlatformSettings
from resources.warehouse.base import Warehouse, table_schema
from resources.warehouse.schema import TableSpec

if TYPE_CHECKING:  # loaded by the steps that use them, not with the code location
    import pandas as pd


DUPLICATE_GROUPS = TableSpec(name="duplicate_groups", columns=())  # a dbt model: read only

REVIEWS_CONTAINER = "reviews"


class LabelReviewsConfig(dg.Config):
    """Run configuration of ``label_reviews``: where review files are read."""

    container: str = Field(
        default=REVIEWS_CONTAINER, description="Where people drop review files (CSV, Parquet)."
    )
    prefix: str = Field(default="", description="Only files under this prefix.")
    allow_new_labels: bool = Field(
        default=False,
        description="Accept labels that are neither a class of the current model nor catalogued.",
    )


def _processed(warehouse: Warehouse) -> set[tuple[str, str]]:
    done = warehouse.read_table(REVIEW_FILES, ["name", "etag"])
    return set(zip(done.name, done.etag, strict=True))


@dg.asset(
    group_name="reviews",
    kinds={"python", "duckdb"},
    pool="warehouse",
    description=(
        "Labels people confirmed or corrected (label_reviews), one row per image content, the "
        "latest review winning. Filled from CSV or Parquet files dropped in the reviews "
        "container (columns label and image_id or blob_path; reviewer and note optional), "
        "each file read once per version and recorded whole or rejected whole with every bad "
        "row listed (review_files), and by confirm_label_job / `python -m assets.reviews`. The "
        "split takes these labels before catalogued ones."
    ),
    metadata={"dagster/column_schema": table_schema(LABEL_REVIEWS)},
)
def label_reviews(
    context: dg.AssetExecutionContext,
    config: LabelReviewsConfig,
    warehouse: Warehouse,
    blob_store: BlobStore,
    settings: PlatformSettings,
) -> dg.MaterializeResult:
    import pandas as pd

    from assets.reviews.review import (
        MAX_REVIEW_FILE_BYTES,
        ReviewFileError,
        check_reviews,
        known_for,
        parse_review_file,
        review_rows,
    )

    blob_store.ensure_container(config.container)
    done = _processed(warehouse)
    files = [
        info
        for info in blob_store.list_blobs(config.container, config.prefix)
        if not info.name.endswith("/") and (info.name, info.etag) not in done
    ]
    outcomes = []
    recorded = 0
    for info in sorted(files, key=lambda i: (i.last_modified, i.name)):
        now = datetime.now(tz=UTC)
        status, reason, rows = "applied", None, 0
        try:
            if info.size > MAX_REVIEW_FILE_BYTES:
                raise ReviewFileError(
                    f"{info.name}: {info.size} bytes exceeds {MAX_REVIEW_FILE_BYTES}; not read"
                )
            parsed = parse_review_file(
                blob_store.read_bytes(config.container, info.name), info.name
            )
            rows = len(parsed)
            known = known_for(warehouse, blob_store, settings.models_container, parsed)
            reviews, problems = check_reviews(parsed, known, config.allow_new_labels)
            if problems:
                raise ReviewFileError("; ".join(problems[:50]))
            source = f"{config.container}/{info.name}@{info.etag}"
            warehouse.upsert(LABEL_REVIEWS, review_rows(reviews, known, source, now))
            recorded += len(reviews)
        except ReviewFileError as exc:
            status, reason = "rejected", str(exc)
            context.log.warning(f"review file {info.name} rejected, nothing recorded: {exc}")
        outcomes.append(
            {
                "name": info.name,
                "etag": info.etag,
                "status": status,
                "rows": rows,
                "reason": reason,
                "processed_at": now,
            }
        )
    if outcomes:
        warehouse.insert_new(REVIEW_FILES, pd.DataFrame(outcomes))
    table = warehouse.read_table(LABEL_REVIEWS)
    by_decision = (
        table.groupby(["label", "decision"]).size().rename("images").reset_index()
        if len(table)
        else pd.DataFrame(columns=["label", "decision", "images"])
    )
    rejected = [o for o in outcomes if o["status"] == "rejected"]
    conflicts, sheet = _conflicts(context, warehouse, blob_store)
    return dg.MaterializeResult(
        metadata={
            "groups_with_conflicting_labels": len(conflicts),
            "label_conflicts": dg.MetadataValue.md(md_table(conflicts, 50)),
            "label_conflicts_sheet": dg.MetadataValue.md(
                md_image(sheet, "duplicate groups with conflicting labels")
            ),
            "dagster/row_count": len(table),
            "files_read": len(outcomes),
            "files_rejected": len(rejected),
            "reviews_recorded": recorded,
            "per_label": dg.MetadataValue.md(md_table(by_decision, 100)),
            "rejected_files": dg.MetadataValue.md(
                md_table(pd.DataFrame(rejected, columns=["name", "rows", "reason"]), 50)
            ),
        }
    )


MAX_CONFLICT_GROUPS = 8


def _conflicts(
    context: dg.AssetExecutionContext, warehouse: Warehouse, store: BlobStore
) -> "tuple[pd.DataFrame, bytes]":
    """Duplicate groups whose members carry different labels (reviewed or catalogued), as the
    split sees them, and a contact sheet of them: every member with its label."""
    import pandas as pd

    from assets.dedup.review import SheetRow, Tile, contact_sheet

    if not warehouse.table_exists(DUPLICATE_GROUPS):
        empty = pd.DataFrame(columns=["group_id", "labels", "images", "reviewed"])
        return empty, contact_sheet("Duplicate groups with conflicting labels", [], lambda _: None)
    members = group_members(warehouse)
    conflicts = label_conflicts(members)
    shown = conflicts.head(MAX_CONFLICT_GROUPS)
    uris = warehouse.query_df(
        f"SELECT image_id, source_uri FROM {DUPLICATE_GROUPS.name} WHERE group_id IN "
        f"({', '.join('?' for _ in shown.group_id) or 'NULL'})",
        list(shown.group_id),
    )
    uri = dict(zip(uris.image_id, uris.source_uri, strict=True))
    rows = []
    for conflict in shown.itertuples():
        group = members[members.group_id == conflict.group_id].sort_values(
            ["is_representative", "image_id"], ascending=[False, True]
        )
        tiles = tuple(
            Tile(
                m.image_id,
                (
                    f"{m.label or '(no label)'}"
                    + (" (reviewed)" if pd.notna(m.reviewed_label) else ""),
                    m.image_id[:12] + (" KEPT" if m.is_representative else ""),
                ),
                bool(m.is_representative),
            )
            for m in group.itertuples()
        )
        rows.append(SheetRow(f"group {conflict.group_id[:12]}: {conflict.labels}", tiles))

    def load(image_id: str) -> bytes | None:
        try:
            return store.read_uri(uri[image_id])
        except (OSError, ValueError, KeyError) as error:
            context.log.warning(f"cannot show {image_id}: {error}")
            return None

    return conflicts, contact_sheet("Duplicate groups with conflicting labels", rows, load)


class ConfirmLabelConfig(dg.Config):
    """Run configuration of ``confirm_label_job``: one image and its right label."""

    image: str = Field(description="The image: its image_id, or its blob path (container/name).")
    label: str = Field(description="The right label.")
    reviewer: str = Field(default="", description="Who reviews (recorded).")
    note: str = Field(default="", description="Why, or anything worth keeping.")
    allow_new_labels: bool = Field(default=False, description="Accept a label nobody knows yet.")


@dg.op(description="Record one confirmed or corrected label in label_reviews.")
def confirm_label(
    context: dg.OpExecutionContext,
    config: ConfirmLabelConfig,
    warehouse: Warehouse,
    blob_store: BlobStore,
    settings: PlatformSettings,
) -> None:
    import pandas as pd

    from assets.reviews.review import (
        review_one,
    )

    try:
        row = review_one(
            warehouse,
            blob_store,
            settings.models_container,
            config.image,
            config.label,
            config.reviewer or f"confirm_label_job run {context.run.run_id}",
            config.note,
            f"confirm_label_job run {context.run.run_id}",
            config.allow_new_labels,
        )
    except ValueError as exc:
        raise dg.Failure(f"nothing recorded: {exc}") from exc
    record = row.iloc[0]
    context.log.info(f"{record.image_id}: {record.decision} as {record.label!r}")
    context.log_event(
        dg.AssetObservation(
            asset_key="label_reviews",
            metadata={
                "image_id": str(record.image_id),
                "label": str(record.label),
                "decision": str(record.decision),
                "predicted_label": (
                    str(record.predicted_label) if pd.notna(record.predicted_label) else ""
                ),
            },
        )
    )


@dg.job(
    description=(
        "Confirm or correct one image's label (config: image — image_id or blob path — and "
        "label). The next split and publication take it."
    ),
)
def confirm_label_job() -> None:
    confirm_label()

"""Keeping the catalog current with its sources (pure, no Dagster).

One current row per location (``source_key``). When a file changes, its new content's row
replaces the old one and the old row moves to ``raw_images_history`` with when and why; when a
file is deleted (or becomes something that is not an image) its row moves there too. The
functions here decide those moves; the asset writes each batch's moves in one transaction.
"""

from dataclasses import dataclass, field
from datetime import datetime

import pandas as pd

from assets.tables import QUARANTINED_IMAGES, RAW_IMAGES, RAW_IMAGES_HISTORY
from resources.warehouse.schema import TableSpec, key_hash


def with_keys(df: pd.DataFrame) -> pd.DataFrame:
    """``df`` with ``source_key`` computed from ``source_uri`` where it is missing."""
    if "source_key" in df.columns and df.source_key.notna().all():
        return df
    return df.assign(source_key=df.source_uri.map(key_hash))


def retired(
    rows: pd.DataFrame, reason: str, now: datetime, replaced_by: pd.Series | None = None
) -> pd.DataFrame:
    """History rows for catalog ``rows`` leaving the catalog for ``reason``."""
    out = rows.assign(retired_at=now, retired_reason=reason)
    out["replaced_by"] = None if replaced_by is None else replaced_by.values
    return out


def split_duplicated_locations(
    old: pd.DataFrame, now: datetime
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A catalog from before locations had one row each: the newest row of every location stays
    current, the older ones become history (``overwritten`` by the newest)."""
    old = with_keys(old)
    ordered = old.sort_values(["source_key", "ingested_at", "last_modified", "image_id"])
    current = ordered.drop_duplicates("source_key", keep="last")
    older = ordered.drop(index=current.index)
    newest = current.set_index("source_key").image_id
    history = retired(older, "overwritten", now, older.source_key.map(newest))
    return current.reset_index(drop=True), history.reset_index(drop=True)


def blank(spec: TableSpec, **columns: pd.Series | list) -> pd.DataFrame:
    """A frame shaped like ``spec`` carrying only ``columns`` (keys to stage for a delete)."""
    n = len(next(iter(columns.values())))
    data = {c: list(columns[c]) if c in columns else [None] * n for c in spec.column_names}
    return pd.DataFrame(data)


@dataclass
class CatalogMoves:
    """What one batch (or the end of a listing) changes, to be written in one transaction."""

    upserted: pd.DataFrame  # new current rows (replace any row of the same location)
    removed: pd.DataFrame  # current rows whose location has no image any more
    history: pd.DataFrame  # rows leaving the catalog, with when and why
    cleared_locations: list[str] = field(default_factory=list)  # catalog quarantine to drop
    quarantined: pd.DataFrame = field(default_factory=pd.DataFrame)
    retired_ids: list[str] = field(default_factory=list)  # contents that may now be orphans

    @property
    def overwritten(self) -> int:
        return int((self.history.retired_reason == "overwritten").sum()) if len(self.history) else 0


def batch_moves(
    rows: pd.DataFrame, quarantined: pd.DataFrame, current: pd.DataFrame, now: datetime
) -> CatalogMoves:
    """The moves for one batch of freshly read files.

    ``rows``: new catalog rows; ``quarantined``: new catalog-stage quarantine rows; ``current``:
    the catalog's current rows indexed by ``source_key`` (full rows).
    """
    rows = with_keys(rows) if len(rows) else pd.DataFrame(columns=RAW_IMAGES.column_names)
    quarantined = (
        with_keys(quarantined)
        if len(quarantined)
        else pd.DataFrame(columns=QUARANTINED_IMAGES.column_names)
    )
    history = []
    # Same location, new content: the old row is history, replaced by the new content.
    before = current.reindex(rows.source_key)
    had = before.image_id.notna().values
    changed = had & (before.image_id.values != rows.image_id.values)
    if changed.any():
        old = before[changed].reset_index()
        history.append(retired(old, "overwritten", now, rows.image_id[changed]))
    # Same location, same content (touched, copied over itself): keep when it was first seen.
    same = had & ~changed
    if same.any():
        rows = rows.copy()
        rows.loc[same, "ingested_at"] = before.ingested_at.values[same]
    # A location whose file is no longer an image (or vanished while being read).
    gone = current.reindex(quarantined.source_key).dropna(subset=["image_id"]).reset_index()
    if len(gone):
        reasons = quarantined.set_index("source_key").reason.reindex(gone.source_key)
        history.append(
            retired(gone, "not_an_image_now", now).assign(
                retired_reason=[
                    "deleted" if r == "vanished" else "not_an_image_now" for r in reasons
                ]
            )
        )
    history_df = pd.concat(history, ignore_index=True) if history else _empty_history()
    return CatalogMoves(
        upserted=rows,
        removed=gone,
        history=history_df,
        cleared_locations=list(rows.source_key) + list(quarantined.source_key),
        quarantined=quarantined,
        retired_ids=list(history_df.image_id),
    )


def deleted_moves(
    current: pd.DataFrame, caught: pd.DataFrame, gone_keys: set[str], now: datetime
) -> CatalogMoves:
    """The moves for locations that are no longer at the source: their catalog rows become
    history (``deleted``) and their catalog quarantine rows are dropped."""
    rows = current[current.index.isin(gone_keys)].reset_index()
    history = retired(rows, "deleted", now) if len(rows) else _empty_history()
    cleared = sorted(set(caught.source_key) & gone_keys) if len(caught) else []
    return CatalogMoves(
        upserted=pd.DataFrame(columns=RAW_IMAGES.column_names),
        removed=rows,
        history=history,
        cleared_locations=list(rows.source_key) + cleared,
        retired_ids=list(rows.image_id),
    )


def _empty_history() -> pd.DataFrame:
    return pd.DataFrame(columns=RAW_IMAGES_HISTORY.column_names)

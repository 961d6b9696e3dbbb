"""One-time migration of nightly rows written when partitions were calendar days.

Before evening windows (``assets.inference.windows``), partition ``D`` of ``image_predictions``
and ``image_probabilities`` held the arrivals of the calendar day ``D`` (00:00 to 24:00). Now it
holds those from 23:00 on ``D - 1`` up to 23:00 on ``D``. The rows are migrated, not left with
their old meaning: a calendar-day row whose arrival (``last_modified``) falls in the last hour of
its day, 23:00 to 24:00 local time, moves to partition ``D + 1`` with its probabilities; every
other calendar-day row already lies in evening ``D``'s window and stays. No row written with
evening windows can match that rule (its arrival is on ``D`` before 23:00 or on ``D - 1`` from
23:00), so applying it twice changes nothing; each step is idempotent, so an interrupted
migration completes on the next run. The Parquet copies of the touched partitions are rewritten.
"""

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pandas as pd

from assets.inference.outputs import write_parquet_copies
from assets.inference.windows import CUTOFF
from assets.tables import IMAGE_PREDICTIONS, IMAGE_PROBABILITIES, SCHEMA_MIGRATIONS

MIGRATION = "nightly-partitions-evening-windows"


def late_calendar_day_rows(predictions: pd.DataFrame, timezone: str) -> pd.Series:
    """A mask of rows written for a calendar day whose arrival was in its last hour."""
    if predictions.empty:
        return pd.Series(False, index=predictions.index)
    local = pd.to_datetime(predictions.last_modified, utc=True).dt.tz_convert(ZoneInfo(timezone))
    day = pd.to_datetime(predictions.partition_date).dt.date
    return (local.dt.date == day) & (local.dt.time >= CUTOFF)


def _applied(warehouse) -> bool:
    if not warehouse.table_exists(SCHEMA_MIGRATIONS):
        return False
    rows = warehouse.query_df(
        f"SELECT name FROM {SCHEMA_MIGRATIONS.qualified(warehouse.dialect)} WHERE name = ?",
        [MIGRATION],
    )
    return len(rows) > 0


def migrate_to_evening_windows(warehouse, store, settings) -> int:
    """Apply the migration once; returns how many prediction rows moved."""
    if _applied(warehouse):
        return 0
    moved = 0
    if warehouse.table_exists(IMAGE_PREDICTIONS):
        predictions = warehouse.read_table(IMAGE_PREDICTIONS)
        late = predictions[late_calendar_day_rows(predictions, settings.timezone)]
        moved = len(late)
        if moved:
            _move(warehouse, store, settings.predictions_container, late)
    warehouse.insert_new(
        SCHEMA_MIGRATIONS,
        pd.DataFrame(
            [
                {
                    "name": MIGRATION,
                    "applied_at": datetime.now(tz=UTC),
                    "detail": f"{moved} prediction rows moved to the next evening "
                    f"(timezone {settings.timezone})",
                }
            ]
        ),
    )
    return moved


def _move(warehouse, store, container: str, late: pd.DataFrame) -> None:
    old_days = sorted(set(pd.to_datetime(late.partition_date).dt.date))
    touched = sorted(set(old_days) | {d + timedelta(days=1) for d in old_days})
    probabilities = warehouse.read_table(IMAGE_PROBABILITIES)
    probabilities = probabilities[
        pd.to_datetime(probabilities.partition_date).dt.date.isin(old_days)
    ]
    target = late.assign(
        partition_date=pd.to_datetime(late.partition_date).dt.date + timedelta(days=1)
    )
    # 1. The moved images' probabilities, copied to the next evening (kept where present).
    keys = late[["partition_date", "image_id", "model_version"]].drop_duplicates()
    keys = keys.assign(partition_date=pd.to_datetime(keys.partition_date).dt.date)
    probabilities = probabilities.assign(
        partition_date=pd.to_datetime(probabilities.partition_date).dt.date
    )
    copied = probabilities.merge(keys, on=["partition_date", "image_id", "model_version"])
    copied = copied.assign(partition_date=copied.partition_date + timedelta(days=1))
    warehouse.insert_new(IMAGE_PROBABILITIES, copied)
    # 2. The predictions: inserted at their evening (a row already there wins), then removed
    #    from the calendar day.
    warehouse.insert_new(IMAGE_PREDICTIONS, target)
    warehouse.delete_keys(IMAGE_PREDICTIONS, late)
    # 3. Probabilities no prediction of their day refers to any more.
    remaining = warehouse.read_table(IMAGE_PREDICTIONS)
    remaining = remaining.assign(partition_date=pd.to_datetime(remaining.partition_date).dt.date)
    used = remaining[["partition_date", "image_id", "model_version"]].drop_duplicates()
    orphans = probabilities.merge(used, how="left", indicator=True)
    warehouse.delete_keys(IMAGE_PROBABILITIES, orphans[orphans._merge == "left_only"])
    # 4. The Parquet copies of every touched partition.
    all_probabilities = warehouse.read_table(IMAGE_PROBABILITIES)
    all_probabilities = all_probabilities.assign(
        partition_date=pd.to_datetime(all_probabilities.partition_date).dt.date
    )
    for day in touched:
        write_parquet_copies(
            store,
            container,
            day,
            remaining[remaining.partition_date == day],
            all_probabilities[all_probabilities.partition_date == day],
        )

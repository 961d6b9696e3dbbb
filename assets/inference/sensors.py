"""The nightly classification's optional early trigger (stopped by default).

``early_classification_sensor`` requests ``nightly_classifications`` for an evening as soon as
that evening's window has closed (23:00 in ``IMAGE_PLATFORM_TIMEZONE``) and incoming batches that
arrived in it were catalogued by ``new_blobs_sensor``'s runs, instead of waiting for the 23:00
schedule; an incoming batch catalogued for an evening that was already classified classifies that
evening again (its rows are replaced exactly). The nightly schedule stays the default way to
classify.
"""

import json
from datetime import UTC, date, datetime

import dagster as dg

from assets.inference.assets import NIGHTLY_START_DATE
from assets.inference.windows import evening_window
from assets.run_tags import ARRIVAL_DAYS_TAG, CURATION_JOB, NIGHTLY_JOB, TRIGGER_TAG
from resources.settings import PlatformSettings


def day_is_complete(day: date, timezone: str, now: datetime) -> bool:
    """An evening can be classified in full once its window has closed (23:00 that day in the
    partitions' timezone); the partition then exists."""
    if day < date.fromisoformat(NIGHTLY_START_DATE):
        return False
    return evening_window(day, timezone)[1] <= now


@dg.sensor(
    name="early_classification_sensor",
    job_name=NIGHTLY_JOB,
    minimum_interval_seconds=60,
    default_status=dg.DefaultSensorStatus.STOPPED,
    description=(
        "Optional, off by default: classifies an evening's late arrivals once its window has "
        "closed. After new_blobs_sensor's curation runs succeed, it requests "
        "nightly_classifications for each arrival evening whose window (23:00 the day before up "
        "to 23:00, IMAGE_PLATFORM_TIMEZONE) is over; evenings still open wait for their 23:00 "
        "run. A batch catalogued after its evening was classified (e.g. an upload at 22:59 "
        "curated at 23:01) reclassifies that evening (its rows are replaced exactly). The "
        "nightly schedule stays the default."
    ),
)
def early_classification_sensor(context: dg.SensorEvaluationContext, settings: PlatformSettings):
    state = json.loads(context.cursor) if context.cursor else {}
    after = datetime.fromtimestamp(state.get("after", 0.0), tz=UTC)
    pending = set(state.get("pending", []))
    records = context.instance.get_run_records(
        filters=dg.RunsFilter(
            job_name=CURATION_JOB,
            statuses=[dg.DagsterRunStatus.SUCCESS],
            tags={TRIGGER_TAG: "new_blobs_sensor"},
            updated_after=after,
        ),
        order_by="update_timestamp",
        ascending=True,
        limit=500,
    )
    for record in records:
        days = record.dagster_run.tags.get(ARRIVAL_DAYS_TAG, "")
        pending.update(d for d in days.split(",") if d)
        after = max(after, record.update_timestamp)
    now = datetime.now(tz=UTC)
    ready = sorted(
        d for d in pending if day_is_complete(date.fromisoformat(d), settings.timezone, now)
    )
    cursor = json.dumps(
        {"after": after.timestamp(), "pending": sorted(pending - set(ready))}, separators=(",", ":")
    )
    if not ready:
        waiting = ", ".join(sorted(pending)) or "none"
        return dg.SensorResult(
            skip_reason=dg.SkipReason(f"no completed arrival day to classify (waiting: {waiting})"),
            cursor=cursor,
        )
    return dg.SensorResult(
        run_requests=[
            dg.RunRequest(
                run_key=f"early-{day}-{after.timestamp():.6f}",
                partition_key=day,
                tags={TRIGGER_TAG: "early_classification_sensor"},
            )
            for day in ready
        ],
        cursor=cursor,
    )

"""Sensors that move newly arrived images through the platform without anyone launching runs.

* ``new_blobs_sensor`` watches the incoming container (``IMAGE_PLATFORM_INCOMING``) and requests
  one ``curation_job`` run per batch of new or overwritten blobs: the batch is catalogued (label
  NULL, no listing of the container), hashed, and the dedup tables and the split are refreshed.
* ``early_classification_sensor`` requests ``nightly_classifications`` for a day as soon as that
  day's partition exists (right after midnight in ``IMAGE_PLATFORM_TIMEZONE``) and incoming
  batches that arrived on it were catalogued, instead of waiting for the 23:00 schedule the next
  evening; an incoming batch catalogued for a day that was already classified classifies that day
  again (a day's rows are replaced exactly).

Both are stopped by default; the nightly schedule stays the default way to classify.
"""

import json
import time
from datetime import UTC, date, datetime, timedelta

import dagster as dg

from assets.automation.cursor import (
    BlobCursor,
    arrival_days,
    batch_id,
    listing_prefixes,
    plan_tick,
)
from assets.automation.retries import BatchRun, plan_retries
from assets.inference.assets import NIGHTLY_START_DATE
from assets.inference.windows import evening_window
from resources.blob_store import BlobStore
from resources.environment import get_settings

CURATION_JOB = "curation_job"
NIGHTLY_JOB = "nightly_classification_job"
BATCH_TAG = "image-platform/incoming-batch"
TRIGGER_TAG = "image-platform/trigger"
ARRIVAL_DAYS_TAG = "image-platform/arrival-days"
BATCH_SIZE_TAG = "image-platform/batch-blobs"
ATTEMPT_TAG = "image-platform/attempt"
MAX_RUNS_PER_TICK = 10
MAX_RETRY_DELAY_SECONDS = 3600.0
# How far back the sensor looks for failed batches to retry (and to report as given up).
RETRY_LOOKBACK = timedelta(days=7)


@dg.sensor(
    name="new_blobs_sensor",
    job_name=CURATION_JOB,
    minimum_interval_seconds=30,
    default_status=dg.DefaultSensorStatus.STOPPED,
    description=(
        "Watches the incoming container (IMAGE_PLATFORM_INCOMING) and runs curation_job for each "
        "batch of new or overwritten blobs (at most IMAGE_PLATFORM_INCOMING_BATCH_SIZE, default "
        "500, per run): the batch is catalogued unlabelled, hashed, and the dedup tables and the "
        "split are refreshed. The cursor is a last-modified low-water mark with a look-back "
        "window (IMAGE_PLATFORM_INCOMING_LOOKBACK_SECONDS, default 120) and the blobs already "
        "taken inside it, so nothing is missed or taken twice."
    ),
)
def new_blobs_sensor(context: dg.SensorEvaluationContext, blob_store: BlobStore):
    settings = get_settings()
    incoming = settings.incoming
    lookback = timedelta(seconds=settings.incoming_lookback_seconds)
    cursor = BlobCursor.from_json(context.cursor)
    started = time.monotonic()
    prefixes = listing_prefixes(
        incoming.prefix,
        settings.incoming_date_folders,
        cursor.low_water,
        lookback,
        datetime.now(tz=UTC),
    )
    listing = [b for p in prefixes for b in blob_store.list_blobs(incoming.container, p)]
    plan = plan_tick(
        listing,
        cursor,
        lookback,
        max_batch=settings.incoming_batch_size,
        max_batches=MAX_RUNS_PER_TICK,
        prefix=incoming.prefix,
    )
    context.log.info(
        f"listed {len(listing)} blobs under {len(prefixes)} prefix(es) of {incoming.uri} in "
        f"{time.monotonic() - started:.2f}s; {plan.considered} inside the window, "
        f"{sum(map(len, plan.batches))} new, {plan.waiting} left for the next tick"
    )
    retries = _retry_requests(context, settings)
    if not plan.batches and not retries:
        return dg.SensorResult(
            skip_reason=dg.SkipReason(
                f"no new blobs in {incoming.uri} since {cursor.low_water or 'the start'}"
            ),
            cursor=plan.cursor.to_json(),
        )
    requests = list(retries)
    for batch in plan.batches:
        bid = batch_id(batch)
        days = arrival_days(batch, settings.timezone)
        requests.append(
            dg.RunRequest(
                run_key=f"incoming-{bid}",
                run_config={
                    "ops": {
                        "raw_images": {
                            "config": {
                                "source": incoming.uri,
                                "blob_names": [b.name for b in batch],
                                "require_label": False,
                            }
                        }
                    }
                },
                tags={
                    BATCH_TAG: bid,
                    TRIGGER_TAG: "new_blobs_sensor",
                    BATCH_SIZE_TAG: str(len(batch)),
                    ARRIVAL_DAYS_TAG: ",".join(d.isoformat() for d in days),
                    ATTEMPT_TAG: "1",
                },
            )
        )
    return dg.SensorResult(run_requests=requests, cursor=plan.cursor.to_json())


def _batch_runs(context: dg.SensorEvaluationContext, since: datetime) -> list[BatchRun]:
    """Every run of each batch that has a failed run since ``since``."""
    instance = context.instance
    failed = instance.get_run_records(
        filters=dg.RunsFilter(
            job_name=CURATION_JOB,
            statuses=[dg.DagsterRunStatus.FAILURE, dg.DagsterRunStatus.CANCELED],
            tags={TRIGGER_TAG: "new_blobs_sensor"},
            updated_after=since,
        ),
        limit=500,
    )
    batches = sorted(
        {r.dagster_run.tags[BATCH_TAG] for r in failed if BATCH_TAG in r.dagster_run.tags}
    )
    runs = []
    for batch in batches:
        for record in instance.get_run_records(filters=dg.RunsFilter(tags={BATCH_TAG: batch})):
            run = record.dagster_run
            runs.append(
                BatchRun(
                    batch=batch,
                    status=run.status.value,
                    attempt=int(run.tags.get(ATTEMPT_TAG, "1")),
                    ended_at=record.end_time,
                    run_config=dict(run.run_config),
                    tags=dict(run.tags),
                )
            )
    return runs


def _retry_requests(context: dg.SensorEvaluationContext, settings) -> list[dg.RunRequest]:
    """Failed batches requested again (with backoff) instead of being dropped."""
    now = datetime.now(tz=UTC)
    plan = plan_retries(
        _batch_runs(context, now - RETRY_LOOKBACK),
        now.timestamp(),
        settings.incoming_max_attempts,
        settings.incoming_retry_delay_seconds,
        MAX_RETRY_DELAY_SECONDS,
    )
    if plan.given_up:
        context.log.warning(
            f"{len(plan.given_up)} incoming batches failed {settings.incoming_max_attempts} "
            f"times and are no longer retried: {', '.join(plan.given_up[:20])} (tag "
            f"{BATCH_TAG}); re-execute them from the UI"
        )
    if plan.waiting:
        context.log.info(
            "failed batches waiting to be retried: "
            + ", ".join(f"{b} in {s:.0f}s" for b, s in sorted(plan.waiting.items())[:20])
        )
    requests = []
    for last in plan.retry:
        attempt = last.attempt + 1
        tags = {k: v for k, v in last.tags.items() if k.startswith("image-platform/")} | {
            ATTEMPT_TAG: str(attempt),
            TRIGGER_TAG: "new_blobs_sensor",
        }
        context.log.info(f"retrying incoming batch {last.batch}: attempt {attempt}")
        requests.append(
            dg.RunRequest(
                run_key=f"incoming-{last.batch}-attempt-{attempt}",
                run_config=last.run_config,
                tags=tags,
            )
        )
    return requests


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
def early_classification_sensor(context: dg.SensorEvaluationContext):
    settings = get_settings()
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

"""The sensor that moves newly arrived images through the platform without anyone launching runs.

``new_blobs_sensor`` watches the incoming container (``IMAGE_PLATFORM_INCOMING``) and requests
one ``curation_job`` run per batch of new or overwritten blobs: the batch is catalogued (label
NULL, no listing of the container), hashed, and the dedup tables and the split are refreshed.

It drives ``curation_job``, which spans the stages from ingest to splits, so it lives here, on
top of them. It is stopped by default. The runs it requests carry the tags in
``assets.run_tags``, which ``early_classification_sensor`` (beside the nightly classification,
in ``assets.inference.sensors``) reads.
"""

import time
from datetime import UTC, datetime, timedelta

import dagster as dg

from assets.automation.cursor import (
    BlobCursor,
    arrival_days,
    batch_id,
    listing_prefixes,
    plan_tick,
)
from assets.automation.retries import BatchRun, plan_retries
from assets.run_tags import (
    ARRIVAL_DAYS_TAG,
    ATTEMPT_TAG,
    BATCH_SIZE_TAG,
    BATCH_TAG,
    CURATION_JOB,
    SKIPPED_TAG,
    TRIGGER_TAG,
)
from resources.blob_store import BlobStore
from resources.settings import PlatformSettings

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
def new_blobs_sensor(
    context: dg.SensorEvaluationContext, blob_store: BlobStore, settings: PlatformSettings
):
    incoming = settings.incoming_spec
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
    skipped = ""
    if plan.skipped:
        # Left out by the catalog's own policy, and said so: in this tick's log and skip reason,
        # and in the metadata of the tick's first curation run (skipped_by_policy).
        shown = ", ".join(f"{name!r} ({reason})" for name, reason in plan.skipped[:20])
        more = f" and {len(plan.skipped) - 20} more" if len(plan.skipped) > 20 else ""
        skipped = f"; {len(plan.skipped)} new blobs skipped by policy: {shown}{more}"
        context.log.warning(
            f"{len(plan.skipped)} new blobs in {incoming.uri} are hidden or system files and are "
            f"not catalogued (the catalog's listing policy): {shown}{more}"
        )
    retries = _retry_requests(context, settings)
    if not plan.batches and not retries:
        return dg.SensorResult(
            skip_reason=dg.SkipReason(
                f"no new blobs in {incoming.uri} since {cursor.low_water or 'the start'}" + skipped
            ),
            cursor=plan.cursor.to_json(),
        )
    requests = list(retries)
    for i, batch in enumerate(plan.batches):
        bid = batch_id(batch)
        days = arrival_days(batch, settings.timezone)
        config = {
            "source": incoming.uri,
            "blob_names": [b.name for b in batch],
            "require_label": False,
        }
        tags = {
            BATCH_TAG: bid,
            TRIGGER_TAG: "new_blobs_sensor",
            BATCH_SIZE_TAG: str(len(batch)),
            ARRIVAL_DAYS_TAG: ",".join(d.isoformat() for d in days),
            ATTEMPT_TAG: "1",
        }
        if i == 0 and plan.skipped:
            config["skipped_by_policy_blobs"] = [name for name, _ in plan.skipped]
            tags[SKIPPED_TAG] = str(len(plan.skipped))
        requests.append(
            dg.RunRequest(
                run_key=f"incoming-{bid}",
                run_config={"ops": {"raw_images": {"config": config}}},
                tags=tags,
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


def _retry_requests(
    context: dg.SensorEvaluationContext, settings: PlatformSettings
) -> list[dg.RunRequest]:
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

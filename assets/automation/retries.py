"""Which failed incoming batches to request again, and when (pure, no Dagster).

``new_blobs_sensor`` advances its cursor when it requests a batch, so a batch whose run fails
(the warehouse locked, the blob store down, a killed run) would never be listed as new again.
Instead the sensor looks at the runs of its recent batches every tick: a batch with no
successful run and none in progress is requested again, with exponential backoff after its
last failure, under a new run key (``incoming-<batch id>-attempt-<n>``, so Dagster's run-key
deduplication still protects each attempt). After ``max_attempts`` the batch is reported as
given up in every tick's log (for as long as the look-back over failed runs reaches it) and can
be re-executed from the UI.
"""

from dataclasses import dataclass, field
from typing import Any

SUCCESS = "SUCCESS"
FAILED = ("FAILURE", "CANCELED")


@dataclass(frozen=True)
class BatchRun:
    """One run of an incoming batch, as the sensor sees it in the run history."""

    batch: str
    status: str  # a DagsterRunStatus value
    attempt: int
    ended_at: float | None  # epoch seconds; None while in progress
    run_config: dict[str, Any] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class RetryPlan:
    """Failed batches to request again now, those waiting out their back-off, those given up."""

    retry: list[BatchRun]  # the last failed run of each batch to request again
    waiting: dict[str, float]  # batch -> seconds until its next attempt
    given_up: list[str]


def backoff_seconds(attempt: int, base_s: float, max_s: float) -> float:
    """Wait after the ``attempt``-th failure: base, 2·base, 4·base … capped at ``max_s``."""
    return min(max_s, base_s * 2 ** max(0, attempt - 1))


def plan_retries(
    runs: list[BatchRun], now: float, max_attempts: int, base_delay_s: float, max_delay_s: float
) -> RetryPlan:
    by_batch: dict[str, list[BatchRun]] = {}
    for run in runs:
        by_batch.setdefault(run.batch, []).append(run)
    retry, waiting, given_up = [], {}, []
    for batch, batch_runs in sorted(by_batch.items()):
        if any(r.status == SUCCESS or r.status not in FAILED for r in batch_runs):
            continue  # done, or an attempt is queued or running
        last = max(batch_runs, key=lambda r: (r.attempt, r.ended_at or 0.0))
        attempts = max(r.attempt for r in batch_runs)
        if attempts >= max_attempts:
            given_up.append(batch)
            continue
        due = (last.ended_at or now) + backoff_seconds(attempts, base_delay_s, max_delay_s)
        if due <= now:
            retry.append(last)
        else:
            waiting[batch] = due - now
    return RetryPlan(retry, waiting, given_up)

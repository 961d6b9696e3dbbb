"""Which classifier is current: the promotion gate, manual promotion and rollback, their record.

A trained (or registered) model becomes current only when its blocking checks pass:

* its accuracy on the Test side is at least the configured floor, and
* it is no worse than the current model re-scored on the same Test images today (the Test side
  grows and changes; an accuracy remembered from the current model's own training day would
  compare two different exams).

Otherwise it is stored as a candidate, the reason is recorded in ``model_evaluations`` and the
pointer stays where it was, so the next night classifies with the model that was already trusted.
A person can still promote any stored version, or roll back, by the ``promote_model_job`` or
``python -m assets.model``; every change of the pointer is one row of ``model_promotions``
(who, when, why, from which version, and the metrics known for the new one).

No Dagster import here: the asset, the job and the command line all call these functions.
"""

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from assets.classifier.registry import (
    clear_current,
    current_version,
    require_version,
    set_current,
)
from assets.tables import MODEL_EVALUATIONS, MODEL_PROMOTIONS

if TYPE_CHECKING:  # numpy and pandas load with the steps that decide, not with the code location
    import pandas as pd

PROMOTED = "promoted"
CANDIDATE = "candidate"
ALREADY_CURRENT = "already_current"

GATE = "gate"
PROMOTE = "promote"
ROLLBACK = "rollback"


def accuracy_of(truth: list[str], predicted: list[str]) -> float | None:
    """The fraction of equal labels; None when there is nothing to compare."""
    import numpy as np

    if not truth:
        return None
    return float(np.mean(np.asarray(truth, dtype=object) == np.asarray(predicted, dtype=object)))


@dataclass(frozen=True)
class GateResult:
    """The promotion gate's two blocking checks for one model.

    ``accuracy``: the candidate on the whole Test side; ``candidate_on_common`` and
    ``baseline_accuracy``: both models on the images both could classify (``compared_images``).
    """

    accuracy: float | None
    floor: float
    baseline_version: str | None = None
    baseline_accuracy: float | None = None
    candidate_on_common: float | None = None
    compared_images: int = 0
    tolerance: float = 0.0

    @property
    def floor_passed(self) -> bool:
        return self.accuracy is not None and self.accuracy >= self.floor

    @property
    def floor_reason(self) -> str:
        if self.accuracy is None:
            return "no Test image could be classified, so the accuracy is unknown"
        relation = ">=" if self.floor_passed else "<"
        return f"Test accuracy {self.accuracy:.4f} {relation} floor {self.floor:.4f}"

    @property
    def comparison_passed(self) -> bool:
        if self.baseline_version is None:
            return True
        if self.candidate_on_common is None or self.baseline_accuracy is None:
            return False
        return self.candidate_on_common >= self.baseline_accuracy - self.tolerance

    @property
    def comparison_reason(self) -> str:
        if self.baseline_version is None:
            return "no current model to compare with"
        if self.candidate_on_common is None or self.baseline_accuracy is None:
            return (
                f"no Test image could be classified by both this model and the current model "
                f"{self.baseline_version}, so it cannot be shown to be no worse"
            )
        relation = "no worse than" if self.comparison_passed else "worse than"
        allowed = f" (tolerance {self.tolerance:.4f})" if self.tolerance else ""
        return (
            f"accuracy {self.candidate_on_common:.4f} is {relation} the current model "
            f"{self.baseline_version}'s {self.baseline_accuracy:.4f} on the same "
            f"{self.compared_images} Test images{allowed}"
        )

    @property
    def promote(self) -> bool:
        return self.floor_passed and self.comparison_passed

    @property
    def reason(self) -> str:
        failed = [
            text
            for passed, text in (
                (self.floor_passed, self.floor_reason),
                (self.comparison_passed, self.comparison_reason),
            )
            if not passed
        ]
        if failed:
            return "kept as a candidate: " + "; ".join(failed)
        return "promoted: " + "; ".join((self.floor_reason, self.comparison_reason))


def _number(value: float | None) -> float | None:
    import numpy as np

    return None if value is None or np.isnan(value) else float(value)


def record_evaluation(
    warehouse,
    run_id: str,
    version: str,
    source: str,
    gate: GateResult,
    test_images: int,
    decision: str,
    reason: str,
    at: datetime | None = None,
) -> None:
    import pandas as pd

    row = {
        "run_id": run_id,
        "model_version": version,
        "source": source,
        "evaluated_at": at or datetime.now(tz=UTC),
        "test_images": test_images,
        "accuracy": _number(gate.accuracy),
        "accuracy_floor": gate.floor,
        "baseline_version": gate.baseline_version,
        "baseline_accuracy": _number(gate.baseline_accuracy),
        "compared_images": gate.compared_images,
        "decision": decision,
        "reason": reason,
    }
    warehouse.upsert(MODEL_EVALUATIONS, pd.DataFrame([row], columns=MODEL_EVALUATIONS.column_names))


def latest_evaluation(warehouse, version: str) -> dict | None:
    """The most recent gate evaluation of ``version``, or None."""
    if not warehouse.table_exists(MODEL_EVALUATIONS):
        return None
    rows = warehouse.query_df(
        f"SELECT * FROM {MODEL_EVALUATIONS.qualified(warehouse.dialect)} "
        f"WHERE model_version = ? ORDER BY evaluated_at DESC",
        [version],
    )
    return None if rows.empty else rows.iloc[0].to_dict()


@dataclass(frozen=True)
class Promotion:
    """One change of the current model: when, from and to which version, who and why."""

    promoted_at: datetime
    model_version: str
    previous_version: str | None
    action: str
    promoted_by: str
    reason: str


def change_current(
    warehouse,
    store,
    container: str,
    version: str,
    *,
    action: str,
    promoted_by: str,
    reason: str,
    run_id: str | None = None,
    accuracy: float | None = None,
    baseline_accuracy: float | None = None,
    test_images: int | None = None,
) -> Promotion:
    """Point the current model at ``version`` and record who, why and the metrics.

    The version must be stored; a manual change needs a reason. When recording fails, the
    pointer is put back, so the pointer never moves without its row.
    """
    import pandas as pd

    if action not in (GATE, PROMOTE, ROLLBACK):
        raise ValueError(f"unknown action {action!r}")
    if not reason.strip():
        raise ValueError("say why the current model changes (reason)")
    version = require_version(store, container, version)
    previous = current_version(store, container)
    if previous == version:
        raise ValueError(f"model {version} is already the current model")
    if action != GATE and accuracy is None:
        known = latest_evaluation(warehouse, version)
        if known is not None:
            accuracy = _number(known["accuracy"])
            test_images = None if pd.isna(known["test_images"]) else int(known["test_images"])
    event = Promotion(datetime.now(tz=UTC), version, previous, action, promoted_by, reason.strip())
    row = {
        "promoted_at": event.promoted_at,
        "model_version": version,
        "previous_version": previous,
        "action": action,
        "promoted_by": promoted_by,
        "reason": event.reason,
        "accuracy": _number(accuracy),
        "baseline_accuracy": _number(baseline_accuracy),
        "test_images": test_images,
        "run_id": run_id,
    }
    set_current(store, container, version)
    try:
        warehouse.insert_new(
            MODEL_PROMOTIONS, pd.DataFrame([row], columns=MODEL_PROMOTIONS.column_names)
        )
    except BaseException:
        if previous is None:
            clear_current(store, container)
        else:
            set_current(store, container, previous)
        raise
    return event


def rollback_target(warehouse, store, container: str) -> str:
    """The version that was current before the current one (from ``model_promotions``)."""
    current = current_version(store, container)
    if current is None:
        raise LookupError("there is no current model to roll back")
    if warehouse.table_exists(MODEL_PROMOTIONS):
        rows = warehouse.query_df(
            f"SELECT previous_version FROM {MODEL_PROMOTIONS.qualified(warehouse.dialect)} "
            f"WHERE model_version = ? ORDER BY promoted_at DESC",
            [current],
        )
        if len(rows) and rows.previous_version.iloc[0]:
            return str(rows.previous_version.iloc[0])
    raise LookupError(
        f"no version recorded as current before {current}: name the version to roll back to"
    )


def promotion_history(warehouse, n: int = 20) -> "pd.DataFrame":
    """The latest ``n`` changes of the current model, newest first."""
    columns = [
        "promoted_at",
        "model_version",
        "previous_version",
        "action",
        "promoted_by",
        "reason",
        "accuracy",
    ]
    return warehouse.head(MODEL_PROMOTIONS, columns, "promoted_at DESC", n)


def candidates(warehouse, n: int = 20) -> "pd.DataFrame":
    """The latest ``n`` gate decisions, newest first."""
    columns = [
        "evaluated_at",
        "model_version",
        "decision",
        "accuracy",
        "baseline_version",
        "baseline_accuracy",
        "reason",
    ]
    return warehouse.head(MODEL_EVALUATIONS, columns, "evaluated_at DESC", n)

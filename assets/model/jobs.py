"""promote_model_job: make a stored classifier version current, or roll back, from the UI."""

import dagster as dg
from pydantic import Field

from assets.metadata import md_table
from assets.model.promotion import (
    PROMOTE,
    ROLLBACK,
    change_current,
    promotion_history,
    rollback_target,
)
from resources.blob_store import BlobStore
from resources.settings import PlatformSettings
from resources.warehouse.base import Warehouse


class PromoteModelConfig(dg.Config):
    """Run configuration of ``promote_model_job``."""

    action: str = Field(
        default=PROMOTE,
        description="promote: make `version` current. rollback: return to `version`, or when "
        "it is empty to the version that was current before the current one.",
    )
    version: str = Field(default="", description="The model version (see model_evaluations).")
    reason: str = Field(description="Why the current model changes; recorded with the change.")
    promoted_by: str = Field(default="", description="Who decides (recorded); default: the run.")


@dg.op(
    description=(
        "Point the current classifier at a stored version and record who, when and why in "
        "model_promotions; reported on image_classifier's page as an observation."
    ),
)
def change_current_model(
    context: dg.OpExecutionContext,
    config: PromoteModelConfig,
    warehouse: Warehouse,
    blob_store: BlobStore,
    settings: PlatformSettings,
) -> None:
    if config.action not in (PROMOTE, ROLLBACK):
        raise dg.Failure(f"action must be {PROMOTE} or {ROLLBACK}, not {config.action!r}")
    container = settings.models_container
    version = config.version
    if not version:
        if config.action != ROLLBACK:
            raise dg.Failure("name the version to promote (config: version)")
        version = rollback_target(warehouse, blob_store, container)
    run_id = context.run.run_id
    event = change_current(
        warehouse,
        blob_store,
        container,
        version,
        action=config.action,
        promoted_by=config.promoted_by or "promote_model_job",  # the run is in run_id
        reason=config.reason,
        run_id=run_id,
    )
    context.log.info(
        f"{event.action}: current model {event.previous_version} -> {event.model_version}"
    )
    context.log_event(
        dg.AssetObservation(
            asset_key="image_classifier",
            metadata={
                "current_model_version": event.model_version,
                "previous_version": event.previous_version or "",
                "action": event.action,
                "promoted_by": event.promoted_by,
                "reason": event.reason,
                "promotion_history": dg.MetadataValue.md(
                    md_table(promotion_history(warehouse, 10), 10)
                ),
            },
        )
    )


@dg.job(
    description=(
        "Promote a stored classifier version by hand, or roll back: config action, version, "
        "reason (and promoted_by). Every change is recorded in model_promotions."
    ),
    tags={"image-platform/kind": "model-promotion"},
)
def promote_model_job() -> None:
    change_current_model()

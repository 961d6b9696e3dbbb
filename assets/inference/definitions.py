"""The inference stage's definitions: the nightly asset, its job and 23:00 schedule."""

from typing import TYPE_CHECKING

import dagster as dg

from assets.inference.assets import nightly_classifications
from assets.inference.jobs import classify_images_job
from assets.inference.sensors import early_classification_sensor
from assets.inference.windows import NIGHTLY_HOUR

if TYPE_CHECKING:
    from dagster._core.definitions.partitions.partitioned_schedule import (
        UnresolvedPartitionedAssetScheduleDefinition,
    )


def nightly_schedule(
    job,
) -> "dg.ScheduleDefinition | UnresolvedPartitionedAssetScheduleDefinition":
    """23:00 in the partitions' timezone, requesting the evening that is just ending."""
    return dg.build_schedule_from_partitioned_job(
        job,
        hour_of_day=NIGHTLY_HOUR,
        minute_of_hour=0,
        name="nightly_classification_schedule",
        description=(
            "Every evening at 23:00 (IMAGE_PLATFORM_TIMEZONE) classify what arrived since 23:00 "
            "the day before; backfill older evenings from the asset's partitions page."
        ),
        default_status=dg.DefaultScheduleStatus.STOPPED,
    )


def nightly_job(asset=nightly_classifications):
    # The job's partitions (and so the schedule's cron and timezone) come from the asset.
    return dg.define_asset_job(
        "nightly_classification_job",
        selection=dg.AssetSelection.assets(asset),
        description=(
            "Classify the images that arrived in the incoming container in one evening's window "
            "(23:00 the day before up to 23:00)."
        ),
    )


nightly_classification_job = nightly_job()
nightly_classification_schedule = nightly_schedule(nightly_classification_job)

defs = dg.Definitions(
    assets=[nightly_classifications],
    jobs=[nightly_classification_job, classify_images_job],
    schedules=[nightly_classification_schedule],
    sensors=[early_classification_sensor],
)

import dagster as dg

from assets.inference.assets import NIGHTLY_HOUR, nightly_classifications, nightly_partitions

nightly_classification_job = dg.define_asset_job(
    "nightly_classification_job",
    selection=dg.AssetSelection.assets(nightly_classifications),
    partitions_def=nightly_partitions,
    description="Classify the images that arrived in the incoming container on one day.",
)

nightly_classification_schedule = dg.build_schedule_from_partitioned_job(
    nightly_classification_job,
    hour_of_day=NIGHTLY_HOUR,
    minute_of_hour=0,
    name="nightly_classification_schedule",
    description=(
        "Every night at 23:00 (IMAGE_PLATFORM_TIMEZONE) classify the last complete day of "
        "arrivals; backfill older days from the asset's partitions page."
    ),
    default_status=dg.DefaultScheduleStatus.STOPPED,
)

defs = dg.Definitions(
    assets=[nightly_classifications],
    jobs=[nightly_classification_job],
    schedules=[nightly_classification_schedule],
)

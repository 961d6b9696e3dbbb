"""The dedup stage's definitions: the dbt models as assets and the review (the dbt resource is
bound with the code location's other resources, in ``assets.definitions``)."""

import dagster as dg

from assets.dedup.assets import dedup_tables
from assets.dedup.review_assets import duplicate_review

dedup_job = dg.define_asset_job(
    "dedup_job",
    selection=dg.AssetSelection.assets(dedup_tables, duplicate_review),
    description=(
        "Refresh the dedup tables (duplicate_groups, unique_images, ...) from the catalog and "
        "the hashes — incrementally from the images added since the last refresh when only "
        "additions happened, in full otherwise — run their tests and draw the review contact "
        "sheets."
    ),
)

dedup_full_refresh_job = dg.define_asset_job(
    "dedup_full_refresh_job",
    selection=dg.AssetSelection.assets(dedup_tables, duplicate_review),
    config={"ops": {"dedup_dbt_models": {"config": {"full_refresh": True}}}},
    description=(
        "Rebuild every dedup table from the whole collection (the runs after new images refresh "
        "incrementally), run their tests and draw the review contact sheets."
    ),
)

defs = dg.Definitions(
    assets=[dedup_tables, duplicate_review],
    jobs=[dedup_job, dedup_full_refresh_job],
)

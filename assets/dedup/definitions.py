"""The dedup stage's definitions: the dbt models as assets, their dbt resource, the review."""

import dagster as dg

from assets.dedup.assets import DEDUP_PROJECT, dedup_tables
from assets.dedup.project import build_dbt_resource
from assets.dedup.review_assets import duplicate_review
from resources.environment import get_settings

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
    resources={"dbt": build_dbt_resource(get_settings(), DEDUP_PROJECT)},
)

import dagster as dg

from assets.dedup.assets import DEDUP_PROJECT, dedup_tables
from assets.dedup.project import build_dbt_resource
from resources.environment import get_settings

dedup_job = dg.define_asset_job(
    "dedup_job",
    selection=dg.AssetSelection.assets(dedup_tables),
    description=(
        "Rebuild the dedup tables (duplicate_groups, unique_images, ...) from the catalog and "
        "the hashes, and run their tests."
    ),
)

defs = dg.Definitions(
    assets=[dedup_tables],
    jobs=[dedup_job],
    resources={"dbt": build_dbt_resource(get_settings(), DEDUP_PROJECT)},
)

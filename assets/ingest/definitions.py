"""The catalog stage's definitions: ``raw_images`` and ``catalog_job``."""

import dagster as dg

from assets.ingest.assets import raw_images

catalog_job = dg.define_asset_job(
    "catalog_job",
    selection=dg.AssetSelection.assets(raw_images),
    description="Catalogue the configured source into raw_images (quarantining bad files).",
)

defs = dg.Definitions(assets=[raw_images], jobs=[catalog_job])

"""The publishing stage's definitions: ``published_images`` and ``publish_job``."""

import dagster as dg

from assets.publish.assets import published_images

publish_job = dg.define_asset_job(
    "publish_job",
    selection=dg.AssetSelection.assets(published_images),
    description="Publish one side (train or test) of the split to blob storage.",
)

defs = dg.Definitions(assets=[published_images], jobs=[publish_job])

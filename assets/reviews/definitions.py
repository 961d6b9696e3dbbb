"""The review stage's definitions: ``label_reviews`` and its two jobs."""

import dagster as dg

from assets.reviews.assets import confirm_label_job, label_reviews

label_reviews_job = dg.define_asset_job(
    "label_reviews_job",
    selection=dg.AssetSelection.assets(label_reviews),
    description="Read the review files dropped in the reviews container into label_reviews.",
)

defs = dg.Definitions(assets=[label_reviews], jobs=[label_reviews_job, confirm_label_job])

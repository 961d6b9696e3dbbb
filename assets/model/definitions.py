"""The model stage's definitions: ``image_classifier`` and the promotion job."""

import dagster as dg

from assets.model.assets import image_classifier
from assets.model.jobs import promote_model_job

model_job = dg.define_asset_job(
    "model_job",
    selection=dg.AssetSelection.assets(image_classifier),
    description=(
        "Train (or register) the classifier, evaluate it on the Test side, store it, and make it "
        "current only when its blocking checks pass."
    ),
)

defs = dg.Definitions(assets=[image_classifier], jobs=[model_job, promote_model_job])

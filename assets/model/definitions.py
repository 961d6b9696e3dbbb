import dagster as dg

from assets.model.assets import image_classifier

defs = dg.Definitions(assets=[image_classifier])

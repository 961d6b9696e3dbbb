"""The hashing stage's definitions: ``image_hashes``."""

import dagster as dg

from assets.hashing.assets import image_hashes

defs = dg.Definitions(assets=[image_hashes])

"""The code location: every stage's definitions merged, with resources from the environment."""

import dagster as dg

from assets.ingest import definitions as ingest
from assets.publish import definitions as publish
from assets.splits import definitions as splits
from resources.definitions import build_resources

defs = dg.Definitions.merge(
    ingest.defs,
    splits.defs,
    publish.defs,
    dg.Definitions(resources=build_resources()),
)

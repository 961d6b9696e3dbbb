"""The code location: every stage's definitions merged, with resources from the environment."""

import dagster as dg

from assets.ingest import definitions as ingest
from resources.definitions import build_resources

defs = dg.Definitions.merge(
    ingest.defs,
    dg.Definitions(resources=build_resources()),
)

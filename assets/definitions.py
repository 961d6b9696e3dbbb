"""The code location: every stage's definitions merged, with resources from the environment."""

import dagster as dg

from assets.ingest.definitions import defs as ingest_defs
from resources.definitions import build_resources

defs = dg.Definitions.merge(
    ingest_defs,
    dg.Definitions(resources=build_resources()),
)

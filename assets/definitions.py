"""The code location: every stage's definitions merged, with resources from the environment."""

import dagster as dg

# Stage modules, not their Definitions objects: Dagster refuses a module that holds several
# Definitions at module scope.
from assets.dedup import definitions as dedup
from assets.ingest import definitions as ingest
from resources.definitions import build_resources

defs = dg.Definitions.merge(
    ingest.defs,
    dedup.defs,
    dg.Definitions(resources=build_resources()),
)

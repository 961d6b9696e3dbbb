"""The code location: every stage's definitions merged, with resources from the environment.

The settings are read from the environment here, once per load, and reach every asset, op,
sensor and schedule as resources (``settings``, ``warehouse``, ``blob_store``, ``dbt``).
"""

import dagster as dg

# Stage modules, not their Definitions objects: Dagster refuses a module that holds several
# Definitions at module scope.
from assets.automation import definitions as automation
from assets.dedup import definitions as dedup
from assets.dedup.assets import DEDUP_PROJECT
from assets.dedup.project import build_dbt_resource
from assets.hashing import definitions as hashing
from assets.inference import definitions as inference
from assets.ingest import definitions as ingest
from assets.model import definitions as model
from assets.publish import definitions as publish
from assets.reviews import definitions as reviews
from assets.splits import definitions as splits
from resources.definitions import build_resources
from resources.environment import get_settings

_settings = get_settings()

curation_job = dg.define_asset_job(
    "curation_job",
    selection=dg.AssetSelection.groups("ingest", "hashing", "dedup", "splits"),
    description=(
        "Catalogue the source, hash what is new, rebuild the dedup tables and update the "
        "train/test split (with its blocking leakage check)."
    ),
    # The chain is sequential (catalog -> hashes -> dbt -> split), so a process per step gains
    # no parallelism and costs a Python start and a code-location import per step. Each run
    # still runs in its own process (its own pod in Kubernetes): the run launcher isolates runs,
    # and the steps inside a run use threads where they have work to share.
    executor_def=dg.in_process_executor,
)

defs = dg.Definitions.merge(
    ingest.defs,
    hashing.defs,
    dedup.defs,
    splits.defs,
    publish.defs,
    model.defs,
    inference.defs,
    reviews.defs,
    automation.defs,
    dg.Definitions(
        jobs=[curation_job],
        resources={
            **build_resources(_settings),
            "dbt": build_dbt_resource(_settings, DEDUP_PROJECT),
        },
    ),
)

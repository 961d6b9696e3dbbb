"""The dedup tables: the dbt models of dbt/ as Dagster assets, downstream of the catalog and
the hashes, with their dbt tests as asset checks."""

import json
from collections.abc import Iterator, Mapping
from typing import Any

import dagster as dg
import yaml
from dagster_dbt import (
    DagsterDbtTranslator,
    DagsterDbtTranslatorSettings,
    DbtCliResource,
    DbtProject,
    dbt_assets,
)
from pydantic import Field

from assets.dedup.project import (
    build_dbt_project,
    dbt_vars,
    default_selection_from_manifest,
    prepare_manifest,
    prune_invocation_targets,
    remove_invocation_target,
)
from assets.dedup.summary import model_relations, summarize
from assets.tables import IMAGE_HASHES, RAW_IMAGES
from resources.environment import get_settings
from resources.warehouse.base import Warehouse

GROUP_NAME = "dedup"

# The Python assets that write the dbt sources, by source table name.
SOURCE_ASSET_KEYS = {
    RAW_IMAGES.name: dg.AssetKey(RAW_IMAGES.name),
    IMAGE_HASHES.name: dg.AssetKey(IMAGE_HASHES.name),
}

_settings = get_settings()
DEDUP_PROJECT: DbtProject = build_dbt_project(_settings)
prepare_manifest(DEDUP_PROJECT, _settings)


class DedupTranslator(DagsterDbtTranslator):
    """Sources map onto the Python assets that write them, so catalog, hashes and dedup tables
    form one graph; every model sits in the ``dedup`` group under its table name."""

    def get_asset_key(self, dbt_resource_props: Mapping[str, Any]) -> dg.AssetKey:
        if dbt_resource_props["resource_type"] == "source":
            name = dbt_resource_props["name"]
            if name in SOURCE_ASSET_KEYS:
                return SOURCE_ASSET_KEYS[name]
        return super().get_asset_key(dbt_resource_props)

    def get_group_name(self, dbt_resource_props: Mapping[str, Any]) -> str | None:
        return GROUP_NAME


class DedupConfig(dg.Config):
    """Run configuration of the dbt dedup models."""

    dbt_vars: str = Field(
        default="",
        description=(
            "dbt variables for this run, as a YAML mapping overriding dbt/dbt_project.yml, e.g. "
            "'{dedup_same_hash_link: true}' for the lab's equal-DHashHex3 rule."
        ),
    )


def run_vars(config: DedupConfig) -> dict[str, Any]:
    """The run's overrides (empty: the project's own variables)."""
    overrides = yaml.safe_load(config.dbt_vars) if config.dbt_vars.strip() else {}
    if not isinstance(overrides, dict):
        raise ValueError(f"dbt_vars must be a mapping, got {config.dbt_vars!r}")
    return overrides


def _build_dedup_tables(
    context: dg.AssetExecutionContext,
    dbt: DbtCliResource,
    warehouse: Warehouse,
    config: DedupConfig,
) -> Iterator[Any]:
    """Build the dedup tables and run their tests (``dbt build``), then describe each table."""
    # The catalog and the hashes are dbt sources: on a fresh warehouse (a job or a subset without
    # raw_images / image_hashes) they exist empty, and the tables build empty instead of failing.
    for source in (RAW_IMAGES, IMAGE_HASHES):
        warehouse.ensure_table(source)
    pruned = prune_invocation_targets(DEDUP_PROJECT.project_dir / "target")
    if pruned:
        context.log.info(f"removed {pruned} dbt target folders left by runs that did not finish")
    overrides = run_vars(config)
    args = ["build", *(["--vars", json.dumps(overrides)] if overrides else [])]
    invocation = dbt.cli(args, context=context, raise_on_error=False)
    # DuckDB lets one process open the file for writing: read the tables only after dbt exits,
    # so the events are collected first and released with their metadata.
    events = list(invocation.stream())
    built = {
        context.asset_key_for_output(e.output_name).path[-1]
        for e in events
        if isinstance(e, dg.Output)
    }
    try:
        relations = model_relations(invocation.get_artifact("manifest.json"))
        variables = {**dbt_vars(DEDUP_PROJECT.project_dir), **overrides}
        extra = summarize(warehouse, relations, built, variables)
    except Exception as exc:  # the tables are built: a summary query must not undo that
        context.log.warning(f"could not summarise the dedup tables: {exc!r}")
        extra = {}
    for event in events:
        if isinstance(event, dg.Output):
            model = context.asset_key_for_output(event.output_name).path[-1]
            event = event.with_metadata({**event.metadata, **extra.get(model, {})})
        yield event
    error = None if invocation.is_successful() else invocation.get_error()
    failed = not invocation.is_successful()
    # Everything this run needs from its target folder (events, manifest) has been read.
    remove_invocation_target(invocation.target_path)
    if failed:
        raise error or dg.Failure("dbt build failed")


with default_selection_from_manifest():
    dedup_tables = dbt_assets(
        manifest=DEDUP_PROJECT.manifest_path,
        project=DEDUP_PROJECT,
        dagster_dbt_translator=DedupTranslator(
            settings=DagsterDbtTranslatorSettings(enable_asset_checks=True)
        ),
        name="dedup_dbt_models",
        pool="warehouse",
    )(_build_dedup_tables)

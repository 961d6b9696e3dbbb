"""The dedup tables: the dbt models of dbt/ as Dagster assets, downstream of the catalog and
the hashes, with their dbt tests as asset checks."""

import json
import threading
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
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
    BUILD_FLAGS,
    WarehouseDbtCliResource,
    dbt_vars,
    dedup_project,
    default_selection_from_manifest,
    prune_invocation_targets,
    remove_invocation_target,
)
from assets.dedup.recovery import missing_parents
from assets.dedup.refresh import (
    LastRefresh,
    Marks,
    RefreshPlan,
    plan_refresh,
    project_fingerprint,
)
from assets.dedup.summary import model_relations, summarize
from assets.tables import DEDUP_REFRESHES, IMAGE_HASHES, RAW_IMAGES
from resources.warehouse.base import Warehouse
from resources.warehouse.schema import TableSpec

GROUP_NAME = "dedup"

# The Python assets that write the dbt sources, by source table name.
SOURCE_ASSET_KEYS = {
    RAW_IMAGES.name: dg.AssetKey(RAW_IMAGES.name),
    IMAGE_HASHES.name: dg.AssetKey(IMAGE_HASHES.name),
}

DEDUP_PROJECT: DbtProject = dedup_project()


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

    full_refresh: bool = Field(
        default=False,
        description=(
            "Rebuild every dedup table from the whole collection. Off: refresh from the images "
            "added since the last complete refresh when only additions happened (a removed, "
            "overwritten or re-hashed image, or changed models or variables, rebuild in full "
            "anyway)."
        ),
    )
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


def _marks_now(warehouse: Warehouse) -> Marks:
    catalog = warehouse.query_df(
        f"SELECT MAX(ingested_at) AS mark, COUNT(*) AS n FROM {RAW_IMAGES.name}"
    ).iloc[0]
    hashes = warehouse.query_df(
        f"SELECT MAX(hashed_at) AS mark, COUNT(*) AS n FROM {IMAGE_HASHES.name}"
    ).iloc[0]
    return Marks(_timestamp(catalog.mark), _timestamp(hashes.mark), int(catalog.n), int(hashes.n))


def _timestamp(value: Any) -> datetime | None:
    import pandas as pd

    return None if value is None or pd.isna(value) else pd.Timestamp(value).to_pydatetime()


def _rows_at(warehouse: Warehouse, spec: TableSpec, column: str, mark: datetime | None) -> int:
    if mark is None:
        return 0
    return int(
        warehouse.query_df(
            f"SELECT COUNT(*) AS n FROM {spec.name} WHERE {column} <= ?", [mark]
        ).n.iloc[0]
    )


def _last_refresh(warehouse: Warehouse) -> LastRefresh | None:
    rows = warehouse.query_df(
        f"SELECT catalog_mark, hash_mark, catalog_rows, hash_rows, fingerprint "
        f"FROM {DEDUP_REFRESHES.name} ORDER BY refreshed_at DESC"
    )
    if rows.empty:
        return None
    row = rows.iloc[0]
    marks = Marks(
        _timestamp(row.catalog_mark),
        _timestamp(row.hash_mark),
        int(row.catalog_rows),
        int(row.hash_rows),
    )
    return LastRefresh(marks, str(row.fingerprint))


def plan_dedup_refresh(
    warehouse: Warehouse,
    models: list[str],
    requested_full: bool,
    overrides: Mapping[str, Any],
) -> tuple[RefreshPlan, Marks, str]:
    """The refresh to run, the marks it will cover (read before dbt starts, so images arriving
    during the build are new next time) and the project's fingerprint."""
    for spec in (RAW_IMAGES, IMAGE_HASHES, DEDUP_REFRESHES):
        warehouse.ensure_table(spec)
    marks = _marks_now(warehouse)
    fingerprint = project_fingerprint(
        DEDUP_PROJECT.project_dir, {**dbt_vars(DEDUP_PROJECT.project_dir), **overrides}
    )
    last = _last_refresh(warehouse)
    rows = None
    if last is not None:
        rows = (
            _rows_at(warehouse, RAW_IMAGES, "ingested_at", last.marks.catalog_mark),
            _rows_at(warehouse, IMAGE_HASHES, "hashed_at", last.marks.hash_mark),
        )
    exist = all(warehouse.table_exists(TableSpec(name=m, columns=())) for m in models)
    plan = plan_refresh(
        requested_full=requested_full,
        last=last,
        rows_at_last_marks=rows,
        fingerprint=fingerprint,
        tables_exist=exist,
    )
    return plan, marks, fingerprint


def _record_refresh(
    warehouse: Warehouse, run_id: str, plan: RefreshPlan, marks: Marks, fingerprint: str
) -> None:
    row = {
        "refresh_id": run_id,
        "refreshed_at": datetime.now(tz=UTC),
        "mode": "full" if plan.full else "incremental",
        "reason": plan.reason,
        "catalog_mark": marks.catalog_mark,
        "hash_mark": marks.hash_mark,
        "catalog_rows": marks.catalog_rows,
        "hash_rows": marks.hash_rows,
        "fingerprint": fingerprint,
    }
    import pandas as pd

    warehouse.upsert(DEDUP_REFRESHES, pd.DataFrame([row]))


def _build_dedup_tables(
    context: dg.AssetExecutionContext,
    dbt: DbtCliResource,
    warehouse: Warehouse,
    config: DedupConfig,
) -> Iterator[Any]:
    """Build the dedup tables and run their tests (``dbt build``), then describe each table.

    Incremental from the images added since the last complete refresh when that is exact, in
    full otherwise or when ``full_refresh`` is set (dedup_full_refresh_job)."""
    # The catalog and the hashes are dbt sources: on a fresh warehouse (a job or a subset without
    # raw_images / image_hashes) they exist empty, and the tables build empty instead of failing.
    models = [key.path[-1] for key in context.assets_def.keys]
    overrides = run_vars(config)
    # One warehouse connection for the planning queries, closed before dbt opens the file.
    with warehouse.session():
        plan, marks, fingerprint = plan_dedup_refresh(
            warehouse, models, config.full_refresh, overrides
        )
    mode = "full" if plan.full else "incremental"
    context.log.info(f"dedup refresh: {mode} ({plan.reason})")
    pruned = prune_invocation_targets(DEDUP_PROJECT.project_dir / "target")
    if pruned:
        context.log.info(f"removed {pruned} dbt target folders left by runs that did not finish")
    dbt_args = plan.dbt_args(overrides)
    _build_missing_parents(context, dbt, warehouse, dbt_args)
    # The summaries draw a chart after dbt exits: load matplotlib while dbt runs instead.
    threading.Thread(target=_warm_up_charts, name="warm-up-charts", daemon=True).start()
    invocation = dbt.cli(["build", *BUILD_FLAGS, *dbt_args], context=context, raise_on_error=False)
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
        with warehouse.session():  # dbt has exited: the summaries' queries share a connection
            extra = summarize(warehouse, relations, built, variables)
    except Exception as exc:  # the tables are built: a summary query must not undo that
        context.log.warning(f"could not summarise the dedup tables: {exc!r}")
        extra = {}
    refresh = {"dedup_refresh": mode, "dedup_refresh_reason": plan.reason}
    # Every table is built and committed by now: record the tables first, then the ~70 test
    # results (each an event of its own), instead of each table after the tests before it.
    outputs = [e for e in events if isinstance(e, dg.Output)]
    for event in outputs:
        model = context.asset_key_for_output(event.output_name).path[-1]
        yield event.with_metadata({**event.metadata, **extra.get(model, {}), **refresh})
    yield from (e for e in events if not isinstance(e, dg.Output))
    error = None if invocation.is_successful() else invocation.get_error()
    failed = not invocation.is_successful()
    if not overrides and isinstance(dbt, WarehouseDbtCliResource):
        dbt.keep_parse_state(invocation)
    # Everything this run needs from its target folder (events, manifest) has been read.
    remove_invocation_target(invocation.target_path)
    if failed:
        raise error or dg.Failure("dbt build failed")
    # Only a refresh of every table moves the marks: after a subset, the next refresh still
    # covers everything since the last complete one.
    if built == set(models):
        _record_refresh(warehouse, context.run.run_id, plan, marks, fingerprint)


def _warm_up_charts() -> None:
    from assets.plots import warm_up

    warm_up()


def _build_missing_parents(
    context: dg.AssetExecutionContext,
    dbt: DbtCliResource,
    warehouse: Warehouse,
    vars_args: list[str],
) -> None:
    """A subset whose parent tables were never built (a first build killed, a fresh warehouse)
    builds those parents first, instead of failing on a missing table."""
    selected = {key.path[-1] for key in context.selected_asset_keys}
    manifest = json.loads(DEDUP_PROJECT.manifest_path.read_text())
    nodes = {
        n["name"]: n
        for n in manifest.get("nodes", {}).values()
        if n.get("resource_type") == "model"
    }
    if selected >= set(nodes):
        return  # everything is rebuilt in dependency order anyway

    def exists(model: str) -> bool:
        node = nodes[model]
        spec = TableSpec(name=node.get("alias") or model, columns=(), schema=node.get("schema"))
        return warehouse.table_exists(spec)

    missing = missing_parents(manifest, selected, exists)
    if not missing:
        return
    context.log.warning(
        f"parent tables {', '.join(missing)} do not exist (never built, or their first build "
        "was interrupted): building them before the selected models"
    )
    # Without the context: these models are not outputs of this step, only its prerequisites.
    # One --select value holding the union (dagster-dbt reads a single value after --select).
    rebuild = dbt.cli(["run", "--select", " ".join(missing), *vars_args], raise_on_error=False)
    errors = [
        str(event.raw_event.get("info", {}).get("msg", ""))
        for event in rebuild.stream_raw_events()
        if event.raw_event.get("info", {}).get("level") == "error"
    ]
    ok = rebuild.is_successful()
    remove_invocation_target(rebuild.target_path)
    if not ok:
        raise dg.Failure(
            f"could not build the missing parent tables {', '.join(missing)}",
            metadata={"dbt_errors": "\n".join(errors)[-4000:]},
        )


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

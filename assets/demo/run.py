"""Materialise every asset of the platform on the configured environment, in dependency order."""

import dagster as dg

from resources.environment import Settings


def materialize_everything(settings: Settings) -> int:
    from assets.definitions import defs

    instance = dg.DagsterInstance.get()
    graph = defs.resolve_asset_graph()
    unpartitioned = [
        key
        for key in graph.get_all_asset_keys()
        if graph.get(key).is_materializable and graph.get(key).partitions_def is None
    ]
    job = defs.resolve_implicit_global_asset_job_def().get_subset(
        asset_selection=set(unpartitioned)
    )
    result = job.execute_in_process(instance=instance, raise_on_error=False)
    for event in result.get_asset_materialization_events():
        key = event.asset_key.to_user_string()
        print(f"materialised {key}")
    failed = [e for e in result.all_events if e.is_step_failure]
    print(f"\nwarehouse: {settings.duckdb_path}")
    print(f"blob store: {settings.local_blob_root}")
    print(f"dagster home: {instance.root_directory}")
    print("open the UI with: make dev   (then http://127.0.0.1:3000)")
    return 1 if failed or not result.success else 0

"""Every step that opens the warehouse waits for the `warehouse` pool (DuckDB: one process)."""

from assets.definitions import defs

WAREHOUSE_RESOURCES = {"warehouse", "dbt"}


def test_every_asset_that_touches_the_warehouse_holds_the_warehouse_pool():
    graph = defs.resolve_asset_graph()
    touching, outside = [], []
    for assets_def in graph.assets_defs:
        if not assets_def.is_executable:
            continue
        if not WAREHOUSE_RESOURCES & set(assets_def.required_resource_keys):
            continue
        name = assets_def.node_def.name
        touching.append(name)
        if assets_def.node_def.pool != "warehouse":
            outside.append(name)
    assert {"published_images", "image_classifier", "nightly_classifications"} <= set(touching)
    assert outside == []

"""What the Dagster UI shows about each dedup table after a build (queries only, no Dagster run).

Every query is plain SQL valid in DuckDB and T-SQL, run through the ``Warehouse`` resource on
the relation dbt just built (its name from the run's manifest).
"""

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import dagster as dg

from assets.metadata import md_image, md_table
from resources.warehouse.base import Warehouse

if TYPE_CHECKING:  # pandas and matplotlib load with the step that summarises
    import pandas as pd

Metadata = dict[str, Any]


def model_relations(manifest: Mapping[str, Any]) -> dict[str, str]:
    """Model name -> fully qualified relation, from a dbt manifest."""
    return {
        node["name"]: node["relation_name"]
        for node in manifest.get("nodes", {}).values()
        if node.get("resource_type") == "model" and node.get("relation_name")
    }


def _ints(df: "pd.DataFrame") -> "pd.DataFrame":
    # T-SQL drivers return Decimal for SUM(...) and DuckDB may return floats for nullable sums.
    return df.apply(lambda c: c.astype("int64") if c.name != df.columns[0] else c)


def _stg_images(warehouse: Warehouse, relation: str, dbt_vars: Mapping[str, Any]) -> Metadata:
    row = warehouse.query_df(
        "SELECT COUNT(*) AS images, "
        "SUM(CASE WHEN location_count > 1 THEN 1 ELSE 0 END) AS at_several_locations, "
        "SUM(CASE WHEN label_count > 1 THEN 1 ELSE 0 END) AS under_several_labels "
        f"FROM {relation}"
    ).iloc[0]
    return {
        "dagster/row_count": int(row.images),
        "images_at_several_locations": int(row.at_several_locations or 0),
        "images_under_several_labels": int(row.under_several_labels or 0),
    }


def _near_duplicate_pairs(
    warehouse: Warehouse, relation: str, dbt_vars: Mapping[str, Any]
) -> Metadata:
    by_distance = warehouse.query_df(
        f"SELECT distance, COUNT(*) AS pairs FROM {relation} GROUP BY distance ORDER BY distance"
    )
    return {
        "dagster/row_count": int(by_distance.pairs.sum()) if len(by_distance) else 0,
        "near_duplicate_threshold": int(dbt_vars["near_duplicate_threshold"]),
        "pairs_by_distance": dg.MetadataValue.md(md_table(_ints(by_distance), 200)),
    }


def _duplicate_groups(warehouse: Warehouse, relation: str, dbt_vars: Mapping[str, Any]) -> Metadata:
    totals = warehouse.query_df(
        "SELECT COUNT(*) AS images, COUNT(DISTINCT group_id) AS groups_, "
        "MAX(group_size) AS largest_group "
        f"FROM {relation}"
    ).iloc[0]
    by_reason = warehouse.query_df(
        f"SELECT reason_code, COUNT(*) AS images FROM {relation} "
        "GROUP BY reason_code ORDER BY reason_code"
    )
    images, groups = int(totals.images), int(totals.groups_)
    return {
        "dagster/row_count": images,
        "groups": groups,
        "dropped_images": images - groups,
        "largest_group": int(totals.largest_group) if images else 0,
        "dedup_hash_size": int(dbt_vars["dedup_hash_size"]),
        "same_hash_link": bool(dbt_vars.get("dedup_same_hash_link", True)),
        "near_duplicate_trim_threshold": int(dbt_vars.get("near_duplicate_trim_threshold", -1)),
        "images_by_reason": dg.MetadataValue.md(md_table(_ints(by_reason))),
    }


def _unique_images(warehouse: Warehouse, relation: str, dbt_vars: Mapping[str, Any]) -> Metadata:
    by_label = warehouse.query_df(
        "SELECT label, COUNT(*) AS unique_images, "
        "SUM(group_size) AS images_before_dedup, "
        "SUM(CASE WHEN group_size > 1 THEN 1 ELSE 0 END) AS groups_with_duplicates, "
        "SUM(CASE WHEN group_label_count > 1 THEN 1 ELSE 0 END) AS groups_with_label_conflict "
        f"FROM {relation} GROUP BY label ORDER BY label"
    )
    return {
        "dagster/row_count": int(by_label.unique_images.sum()) if len(by_label) else 0,
        "labels": len(by_label),
        "unique_images_by_label": dg.MetadataValue.md(md_table(_ints(by_label), 200)),
    }


def _unique_counts_by_label(
    warehouse: Warehouse, relation: str, dbt_vars: Mapping[str, Any]
) -> Metadata:
    from assets.plots import unique_counts_png

    counts = _ints(warehouse.query_df(f"SELECT * FROM {relation} ORDER BY label"))
    return {
        "dagster/row_count": len(counts),
        "counts": dg.MetadataValue.md(md_table(counts, 200)),
        "counts_plot": dg.MetadataValue.md(
            md_image(unique_counts_png(counts), "distinct images per label by hash size")
        ),
    }


def _similar_images(warehouse: Warehouse, relation: str, dbt_vars: Mapping[str, Any]) -> Metadata:
    import pandas as pd

    threshold = int(dbt_vars["near_duplicate_threshold"])
    row = warehouse.query_df(
        "SELECT COUNT(*) AS pairs, "
        f"SUM(CASE WHEN distance > {threshold} THEN 1 ELSE 0 END) AS beyond_threshold, "
        "MAX(distance) AS max_distance "
        f"FROM {relation}"
    ).iloc[0]
    pairs = int(row.pairs)
    return {
        "dagster/row_count": pairs,
        # SUM over no rows is NULL (pd.NA, whose truth value is ambiguous)
        "pairs_beyond_near_duplicate_threshold": (
            int(row.beyond_threshold) if pd.notna(row.beyond_threshold) else 0
        ),
        "max_distance": int(row.max_distance) if pairs else 0,
    }


def _border_trimmed_pairs(
    warehouse: Warehouse, relation: str, dbt_vars: Mapping[str, Any]
) -> Metadata:
    by_distance = warehouse.query_df(
        f"SELECT distance, COUNT(*) AS pairs FROM {relation} GROUP BY distance ORDER BY distance"
    )
    return {
        "dagster/row_count": int(by_distance.pairs.sum()) if len(by_distance) else 0,
        "near_duplicate_trim_threshold": int(dbt_vars["near_duplicate_trim_threshold"]),
        "pairs_by_distance": dg.MetadataValue.md(md_table(_ints(by_distance), 200)),
    }


def _multi_size_pairs(warehouse: Warehouse, relation: str, dbt_vars: Mapping[str, Any]) -> Metadata:
    by_distance = warehouse.query_df(
        f"SELECT distance, COUNT(*) AS pairs FROM {relation} GROUP BY distance ORDER BY distance"
    )
    return {
        "dagster/row_count": int(by_distance.pairs.sum()) if len(by_distance) else 0,
        "near_duplicate_confirm_size": int(dbt_vars["near_duplicate_confirm_size"]),
        "near_duplicate_confirm_distance": int(dbt_vars["near_duplicate_confirm_distance"]),
        "near_duplicate_fine_size": int(dbt_vars["near_duplicate_fine_size"]),
        "near_duplicate_fine_distance": int(dbt_vars["near_duplicate_fine_distance"]),
        "near_duplicate_loose_threshold": int(dbt_vars["near_duplicate_loose_threshold"]),
        "pairs_by_distance": dg.MetadataValue.md(md_table(_ints(by_distance), 200)),
    }


def _probe_link(variable: str) -> Callable[[Warehouse, str, Mapping[str, Any]], Metadata]:
    """The summary of a probe-hash link model (centre_pairs, edge_cut_pairs): pairs by distance
    and the threshold ``variable``."""

    def summary(warehouse: Warehouse, relation: str, dbt_vars: Mapping[str, Any]) -> Metadata:
        by_distance = warehouse.query_df(
            f"SELECT distance, COUNT(*) AS pairs FROM {relation} "
            "GROUP BY distance ORDER BY distance"
        )
        return {
            "dagster/row_count": int(by_distance.pairs.sum()) if len(by_distance) else 0,
            variable: int(dbt_vars[variable]),
            "pairs_by_distance": dg.MetadataValue.md(md_table(_ints(by_distance), 200)),
        }

    return summary


def _bucket_links(warehouse: Warehouse, relation: str, dbt_vars: Mapping[str, Any]) -> Metadata:
    row = warehouse.query_df(
        "SELECT COUNT(*) AS links, COUNT(DISTINCT node) AS buckets FROM ("
        f"SELECT node_lo AS node FROM {relation} UNION ALL SELECT node_hi FROM {relation}"
        ") AS ends"
    ).iloc[0]
    return {
        "dagster/row_count": int(row.links) // 2,
        # buckets that some link joins to another: the nodes of the connected components
        "linked_buckets": int(row.buckets),
    }


SUMMARIES: dict[str, Callable[[Warehouse, str, Mapping[str, Any]], Metadata]] = {
    "stg_images": _stg_images,
    "near_duplicate_pairs": _near_duplicate_pairs,
    "border_trimmed_pairs": _border_trimmed_pairs,
    "multi_size_pairs": _multi_size_pairs,
    "centre_pairs": _probe_link("near_duplicate_centre_threshold"),
    "edge_cut_pairs": _probe_link("near_duplicate_cut_threshold"),
    "bucket_links": _bucket_links,
    "duplicate_groups": _duplicate_groups,
    "unique_images": _unique_images,
    "unique_counts_by_label": _unique_counts_by_label,
    "similar_images": _similar_images,
}


def summarize(
    warehouse: Warehouse,
    relations: Mapping[str, str],
    models: set[str],
    dbt_vars: Mapping[str, Any],
) -> dict[str, Metadata]:
    """Metadata for each built model of ``models`` that has a summary."""
    return {
        name: SUMMARIES[name](warehouse, relations[name], dbt_vars)
        for name in sorted(models)
        if name in SUMMARIES and name in relations
    }

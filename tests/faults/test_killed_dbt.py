"""A run SIGKILLed while dbt builds the dedup tables for the first time leaves them absent (each
model is built in one transaction, so a table is either as it was or rebuilt, never half-built).
The next run that builds only some of them (duplicate_groups alone, as from the UI) builds the
absent parents first instead of failing, and the tables equal a clean run's."""

import duckdb
import pytest

from tests.support.harness import Platform, assert_same, seeded_rng, warehouse_snapshot

pytestmark = pytest.mark.slow

DBT_STEP = "dedup_dbt_models"
PARENTS = ["near_duplicate_pairs", "border_trimmed_pairs"]
DEDUP_TABLES = [
    "stg_images",
    *PARENTS,
    "similar_images",
    "duplicate_groups",
    "unique_images",
    "unique_counts_by_label",
]


def _tables(path) -> set[str]:
    with duckdb.connect(str(path), read_only=True) as con:
        return {
            r[0] for r in con.execute("SELECT table_name FROM information_schema.tables").fetchall()
        }


def test_a_partial_rerun_after_dbt_was_killed_builds_the_absent_parent_tables(
    tmp_path, fault_source, clean_chain
):
    clean, _ = clean_chain
    rng, seed = seeded_rng("dbt")
    platform = Platform(tmp_path / "home", fault_source)

    # The first curation run catalogues and hashes the source (each step commits on its own),
    # then is killed within a second of the dbt step's start: before its first model committed.
    kill = platform.run_killed([{"job": "curation_job"}], "curation_job", [DBT_STEP], rng, 1.0)
    context = f"seed {seed}: {kill}"
    assert kill.returncode == -9, context
    assert not set(PARENTS) & _tables(platform.warehouse_path), context

    platform.run([{"job": "curation_job", "assets": ["duplicate_groups"]}], release=True)
    after = warehouse_snapshot(platform.warehouse_path, {str(platform.home): "<home>"})
    assert_same(
        {t: clean[t] for t in [*PARENTS, "duplicate_groups"]},
        {t: after[t] for t in [*PARENTS, "duplicate_groups"]},
    )

    platform.run([{"job": "curation_job"}])
    after = warehouse_snapshot(platform.warehouse_path, {str(platform.home): "<home>"})
    curated = ["raw_images", "image_hashes", *DEDUP_TABLES]
    assert_same({t: clean[t] for t in curated}, {t: after[t] for t in curated})

"""Regression: a collection where every picture exists about ten times.

The two inputs of ``duplicate_groups`` for such a collection (3,320 images, 217 distinct size-8
hashes, 122,640 near-duplicate pairs) live in ``../shared/repro/dense-duplicate-groups/`` beside
the checkout. On the locked DuckDB (2.0.0) the former model crashed (``INTERNAL Error:
dict-surviving cache``, database invalidated); on DuckDB 1.5.6 it took 161-193 s, all of it in
the optimizer planning twelve unrolled rounds of connected components. These tests build the
models on those files with the DuckDB this environment locks, so an upgrade that brings either
back fails here, and compare every decision with a plain-Python computation.
"""

import shutil
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from assets.dedup.assets import DEDUP_PROJECT
from assets.dedup.project import (
    WarehouseDbtCliResource,
    dbt_executable,
    dbt_vars,
    warehouse_profiles_dir,
)
from tests.support.dedup_models import DENSE_REPRO, load_dense_repro
from tests.support.dedup_reference import (
    DECISION_COLUMNS,
    components,
    expand_links,
    expected_duplicate_groups,
)

K = int(dbt_vars()["dedup_hash_size"])
THRESHOLD = int(dbt_vars()["near_duplicate_threshold"])


def _dbt(path: Path) -> WarehouseDbtCliResource:
    return WarehouseDbtCliResource(
        project_dir=DEDUP_PROJECT,
        target="duckdb",
        dbt_executable=dbt_executable(),
        duckdb_path=str(path),
        profiles_dir=str(warehouse_profiles_dir(path.parent, str(path))),
    )


def _build(path: Path, select: str) -> dict[str, str]:
    """``dbt build`` of ``select``; status of every node that ran."""
    invocation = (
        _dbt(path)
        .cli(
            [
                "build",
                "--select",
                select,
                "--indirect-selection",
                "buildable",
                # the lab's rule (equal size-k hashes link), as the reproducer was recorded
                "--vars",
                '{"dedup_same_hash_link": true}',
            ],
            raise_on_error=False,
        )
        .wait()
    )
    results = invocation.get_artifact("run_results.json")["results"]
    return {r["unique_id"].split(".")[-1]: r["status"] for r in results}


def _read(path: Path, sql: str) -> pd.DataFrame:
    with duckdb.connect(str(path), read_only=True) as con:
        return con.execute(sql).df()


@pytest.fixture(scope="module")
def repro(tmp_path_factory) -> Path:
    if not (DENSE_REPRO / "stg_images.parquet").is_file():
        pytest.fail(f"the dense-duplicates reproducer is missing: expected it in {DENSE_REPRO}")
    path = tmp_path_factory.mktemp("dense") / "warehouse.duckdb"
    load_dense_repro(path)
    return path


@pytest.fixture(scope="module")
def from_given_pairs(repro, tmp_path_factory):
    """duplicate_groups built on the reproducer's own pairs (all 122,640 of them)."""
    status = _build(repro, "bucket_links duplicate_groups")
    groups = _read(repro, "SELECT * FROM duplicate_groups ORDER BY image_id")
    copy = tmp_path_factory.mktemp("dense-star") / "warehouse.duckdb"
    shutil.copy(repro, copy)
    return status, groups, copy


def test_duplicate_groups_builds_on_the_dense_reproducer_and_its_checks_pass(from_given_pairs):
    status, groups, _ = from_given_pairs
    assert status["duplicate_groups"] == "success"
    assert set(status.values()) == {"success", "pass"}, status
    assert "assert_duplicate_groups_converged" in status
    assert len(groups) == 3320


def test_dense_groups_equal_a_python_union_find_over_the_same_pairs(repro, from_given_pairs):
    _, groups, _ = from_given_pairs
    images = _read(repro, "SELECT * FROM stg_images")
    pairs = _read(repro, "SELECT image_id_a, image_id_b FROM near_duplicate_pairs")
    expected = components(images, pairs.itertuples(index=False), K)
    assert dict(zip(groups.image_id, groups.group_id, strict=True)) == expected
    assert groups.group_id.nunique() < 200  # dense indeed: about 30 images per group


def test_dense_keep_rule_and_every_reason_equal_the_python_computation(repro, from_given_pairs):
    _, groups, _ = from_given_pairs
    images = _read(repro, "SELECT * FROM stg_images")
    pairs = _read(repro, "SELECT * FROM near_duplicate_pairs")
    expected = expected_duplicate_groups(images, pairs, K, THRESHOLD)
    pd.testing.assert_frame_equal(
        groups[DECISION_COLUMNS].reset_index(drop=True), expected, check_dtype=False
    )
    assert {"near_duplicate", "transitive"} <= set(groups.reason_code)


def test_stored_links_are_a_star_per_hash_and_give_the_same_decisions(repro, from_given_pairs):
    """near_duplicate_pairs rebuilt from the hashes: copies linked to their hash's centre,
    distinct hashes centre to centre; the pairs they stand for are exactly the reproducer's,
    and duplicate_groups decides every image exactly as it did on all pairs."""
    _, on_all_pairs, copy = from_given_pairs
    given = _read(repro, "SELECT image_id_a, image_id_b, distance FROM near_duplicate_pairs")
    status = _build(copy, "near_duplicate_pairs bucket_links duplicate_groups")
    assert set(status.values()) == {"success", "pass"}, status
    links = _read(copy, "SELECT * FROM near_duplicate_pairs")
    images = _read(copy, "SELECT * FROM stg_images")
    distinct = images[["dhash8_row", "dhash8_col"]].drop_duplicates()
    copies = len(images) - len(distinct)
    assert (links.distance == 0).sum() == copies
    # a few hundred rows between distinct hashes instead of 122,640 between images
    assert len(links) - copies < 5_000 and len(links) < len(given) / 10
    assert expand_links(links, images) == {
        (r.image_id_a, r.image_id_b): r.distance for r in given.itertuples(index=False)
    }
    on_star = _read(copy, "SELECT * FROM duplicate_groups ORDER BY image_id")
    pd.testing.assert_frame_equal(on_star, on_all_pairs)

"""The dedup tables, built by the Dagster asset (real dbt, real DuckDB file) on a synthetic
collection whose duplicates are known, and compared with an independent computation here."""

import hashlib
import itertools
import json
import shutil
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import dagster as dg
import dhash
import duckdb
import numpy as np
import pandas as pd
import pytest

from assets.dedup.assets import DEDUP_PROJECT, dedup_tables
from assets.dedup.project import (
    WarehouseDbtCliResource,
    dbt_executable,
    dbt_vars,
    warehouse_profiles_dir,
)
from assets.dedup.synthetic import (
    flip_bits,
    hamming,
    image_hashes_row,
    random_hash,
    raw_images_row,
)
from assets.tables import IMAGE_HASHES, RAW_IMAGES
from resources.environment import get_settings
from resources.warehouse.duckdb_warehouse import DuckDBWarehouse
from tests.support.dedup_models import TABLE_KEYS as TABLES
from tests.support.dedup_reference import expand_links
from tests.support.resources import platform_resources
from tests.support.services import local_environment

THRESHOLD = int(dbt_vars()["near_duplicate_threshold"])
K = int(dbt_vars()["dedup_hash_size"])
# This module checks the lab's rule (equal size-k hashes link) with the size-8 link; the shipped
# defaults (equal size-k hashes alone do not link, plus the border-trimmed link and the content
# guard) are checked in tests/assets/test_dedup_border_link.py.
# The synthetic hashes have no borders (content-box hash = size-8 hash), so the trimmed link at
# the size-8 threshold adds nothing here.
LAB_VARS = {"dedup_same_hash_link": True, "near_duplicate_trim_threshold": THRESHOLD}
SAME = f"same_dhash{K}"
T0 = datetime(2024, 5, 1, tzinfo=UTC)


@dataclass
class Collection:
    """Catalog rows and hashes of a synthetic collection, built image by image."""

    rng: np.random.Generator
    catalog: list[dict] = field(default_factory=list)
    hashes: list[dict] = field(default_factory=list)
    ids: dict[str, str] = field(default_factory=dict)
    used_coarse: set[tuple[int, int]] = field(default_factory=set)

    def coarse(self) -> tuple[int, int]:
        """A size-k hash no other image has (random ones collide at 18 bits otherwise)."""
        while (h := random_hash(self.rng, K)) in self.used_coarse:
            pass
        self.used_coarse.add(h)
        return h

    def add(
        self,
        name: str,
        label: str,
        width: int,
        height: int,
        byte_size: int,
        hash8: tuple[int, int] | None = None,
        coarse: tuple[int, int] | None = None,
        locations: list[tuple[str, str, datetime]] | None = None,
        hashed: bool = True,
        image_id: str | None = None,
    ) -> str:
        image_id = image_id or hashlib.sha256(name.encode()).hexdigest()
        self.ids[name] = image_id
        for uri_label, filename, ingested in locations or [(label, f"{name}.jpg", T0)]:
            self.catalog.append(
                raw_images_row(
                    image_id,
                    f"file:///collection/{uri_label}/{filename}",
                    uri_label,
                    width,
                    height,
                    byte_size,
                    T0,
                    ingested,
                )
            )
        if hashed:
            sizes = {s: random_hash(self.rng, s) for s in range(1, 9)}
            sizes[K] = coarse if coarse is not None else self.coarse()
            sizes[8] = hash8 if hash8 is not None else random_hash(self.rng, 8)
            self.hashes.append(image_hashes_row(image_id, sizes))
        return image_id

    def bits(self, n: int) -> list[int]:
        return [int(b) for b in self.rng.choice(128, size=n, replace=False)]


def build_collection(seed: int = 7) -> Collection:
    c = Collection(np.random.default_rng(seed))

    # A: a photo, two near-duplicates (2 bits, and exactly the threshold), one linked only
    # through a near-duplicate (7 bits from a1, threshold + 1 from a0), and a decoy just beyond
    # the threshold from a0 that must stay apart. a0 and a2 tie on size: a0 is the larger file.
    a0 = random_hash(c.rng, 8)
    a1 = flip_bits(a0, [0, 1])
    a2 = flip_bits(a0, range(20, 20 + THRESHOLD))
    a3 = flip_bits(a1, range(2, 9))
    decoy = flip_bits(a0, range(40, 40 + THRESHOLD + 1))
    c.add("a0", "cats", 1024, 768, 300_000, a0)
    c.add("a1", "cats", 640, 480, 90_000, a1)
    c.add("a2", "cats", 1024, 768, 250_000, a2)
    c.add("a3", "cats", 800, 600, 150_000, a3)
    c.add("decoy", "cats", 2000, 1500, 900_000, decoy)

    # B: equal size-k hashes, size-8 hashes unrelated. b0 and b1 tie on width, height and file
    # size (the smaller image_id wins); b2 is as wide but shorter; b3 far taller but narrower.
    shared = c.coarse()
    c.add("b0", "dogs", 1200, 900, 500_000, coarse=shared)
    c.add("b1", "dogs", 1200, 900, 500_000, coarse=shared)
    c.add("b2", "dogs", 1200, 300, 900_000, coarse=shared)
    c.add("b3", "dogs", 1100, 2000, 990_000, coarse=shared)

    # C: the lab's hex format prints these two different size-3 hashes identically.
    c.add("c0", "birds", 500, 500, 10_000, coarse=(0x10, 0x1AB))
    c.add("c1", "birds", 500, 500, 10_000, coarse=(0x101, 0xAB))
    c.used_coarse |= {(0x10, 0x1AB), (0x101, 0xAB)}

    # D: the same bytes at two locations under two labels (dogs catalogued first), and at two
    # locations catalogued at the same moment (the smaller URI represents it).
    c.add(
        "e0",
        "dogs",
        700,
        700,
        70_000,
        locations=[("cats", "e0.jpg", T0 + timedelta(hours=1)), ("dogs", "e0.jpg", T0)],
    )
    c.add(
        "e1", "birds", 640, 640, 60_000, locations=[("birds", "z.jpg", T0), ("birds", "a.jpg", T0)]
    )

    # E: a chain of near-duplicates (each 6 bits from the previous, the ends far apart) whose
    # image_ids increase along the chain: the slowest shape for the components iteration.
    chain_ids = sorted(hashlib.sha256(f"chain{i}".encode()).hexdigest() for i in range(48))
    h = random_hash(c.rng, 8)
    for i, image_id in enumerate(chain_ids):
        c.add(
            f"chain{i}",
            ["birds", "cats"][i % 2],
            int(c.rng.choice([640, 800, 1024])),
            int(c.rng.choice([480, 600])),
            int(c.rng.integers(50_000, 60_000)),
            h,
            image_id=image_id,
        )
        h = flip_bits(h, c.bits(6))

    # F: g0 and g1 share a size-k hash; g1 is a near-duplicate of h0 (3 bits), the largest.
    shared_f = c.coarse()
    h0 = random_hash(c.rng, 8)
    c.add("h0", "dogs", 1600, 1200, 400_000, h0)
    c.add("g1", "dogs", 800, 600, 80_000, flip_bits(h0, [5, 70, 100]), coarse=shared_f)
    c.add("g0", "dogs", 1000, 700, 100_000, coarse=shared_f)

    # I: byte-different copies sharing one size-8 hash (different size-k hashes) and a
    # near-duplicate of them: stored as a star around the smallest image_id, never a clique.
    i_hash = random_hash(c.rng, 8)
    for i, (width, height) in enumerate([(800, 600), (1024, 768), (800, 600), (640, 480)]):
        c.add(f"i{i}", "birds", width, height, 80_000 + i, i_hash)
    c.add("i4", "birds", 1024, 768, 70_000, flip_bits(i_hash, [3, 50, 90]))

    # G: unrelated photos, sizes drawn from a few common ones so that ties are frequent.
    for i in range(150):
        c.add(
            f"photo{i}",
            ["cats", "dogs", "birds"][i % 3],
            int(c.rng.choice([640, 800, 1024])),
            int(c.rng.choice([480, 600, 768])),
            int(c.rng.integers(40_000, 400_000)),
        )

    # H: catalogued but not hashed yet.
    c.add("unhashed", "cats", 4000, 3000, 2_000_000, hashed=False)
    return c


# --- an independent computation of what the tables must hold ---------------------------------


def brute_force_pairs(hashes: pd.DataFrame) -> dict[tuple[str, str], int]:
    pairs = {}
    rows = list(hashes[["image_id", "dhash8_row", "dhash8_col"]].itertuples(index=False))
    for a, b in itertools.combinations(sorted(rows), 2):
        d = hamming((a.dhash8_row, a.dhash8_col), (b.dhash8_row, b.dhash8_col))
        if d <= THRESHOLD:
            pairs[(a.image_id, b.image_id)] = d
    return pairs


def expected_groups(hashes: pd.DataFrame, pairs) -> dict[str, str]:
    """image_id -> smallest image_id of its component (equal size-k hash or near-duplicate)."""
    parent = {i: i for i in hashes.image_id}

    def find(x):
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    def union(a, b):
        ra, rb = find(a), find(b)
        parent[max(ra, rb)] = min(ra, rb)

    for _, bucket in hashes.groupby([f"dhash{K}_row", f"dhash{K}_col"]):
        ids = sorted(bucket.image_id)
        for other in ids[1:]:
            union(ids[0], other)
    for a, b in pairs:
        union(a, b)
    return {i: find(i) for i in parent}


# --- the build ----------------------------------------------------------------------------------


@dataclass
class Build:
    """The dedup tables built twice on one collection, with what each run returned."""

    collection: Collection
    path: Path
    hashes: pd.DataFrame
    first: dg.ExecuteInProcessResult
    second: dg.ExecuteInProcessResult
    tables: dict[str, pd.DataFrame]
    rebuilt: dict[str, pd.DataFrame]


def read_tables(path: Path) -> dict[str, pd.DataFrame]:
    with duckdb.connect(str(path), read_only=True) as con:
        return {
            name: con.execute(f"SELECT * FROM {name}").df().sort_values(keys, ignore_index=True)
            for name, keys in TABLES.items()
        }


@pytest.fixture(scope="module")
def build(tmp_path_factory) -> Build:
    home = tmp_path_factory.mktemp("home")
    collection = build_collection()
    # The path dbt writes must come from the environment switch alone: the home folder.
    with local_environment(home):
        settings = get_settings()
        warehouse = DuckDBWarehouse(path=str(settings.duckdb_path))
        warehouse.insert_new(RAW_IMAGES, pd.DataFrame(collection.catalog))
        warehouse.insert_new(IMAGE_HASHES, pd.DataFrame(collection.hashes))
        resources = platform_resources(warehouse, dbt=True)
        lab = {"ops": {"dedup_dbt_models": {"config": {"dbt_vars": json.dumps(LAB_VARS)}}}}
        first = dg.materialize([dedup_tables], resources=resources, run_config=lab)
        tables = read_tables(settings.duckdb_path)
        second = dg.materialize([dedup_tables], resources=resources, run_config=lab)
        rebuilt = read_tables(settings.duckdb_path)
    hashes = warehouse.read_table(IMAGE_HASHES)
    return Build(collection, settings.duckdb_path, hashes, first, second, tables, rebuilt)


def group_of(build: Build, name: str) -> pd.Series:
    groups = build.tables["duplicate_groups"].set_index("image_id")
    return groups.loc[build.collection.ids[name]]


def test_dbt_writes_the_duckdb_file_the_environment_names(build):
    assert build.first.success and build.second.success
    assert build.path.name == "warehouse.duckdb" and build.path.is_file()
    assert len(build.tables["duplicate_groups"]) == len(build.hashes)


def test_near_duplicate_links_stand_for_exactly_the_brute_force_pairs(build):
    links = build.tables["near_duplicate_pairs"]
    found = expand_links(links, build.hashes)
    assert found == brute_force_pairs(build.hashes)
    # the set exercises the boundary on both sides
    ids = build.collection.ids
    assert found[(min(ids["a0"], ids["a2"]), max(ids["a0"], ids["a2"]))] == THRESHOLD
    assert (min(ids["a0"], ids["decoy"]), max(ids["a0"], ids["decoy"])) not in found


def test_copies_of_one_hash_are_linked_as_a_star_around_its_smallest_image(build):
    links = build.tables["near_duplicate_pairs"]
    by_hash = build.hashes.groupby(["dhash8_row", "dhash8_col"]).image_id.apply(sorted)
    star = {(ids[0], other) for ids in by_hash for other in ids[1:]}
    assert set(zip(links.image_id_a, links.image_id_b, strict=True)) >= star
    assert (links.distance == 0).sum() == len(star) > 0
    centres = {ids[0] for ids in by_hash}
    between = links[links.distance > 0]
    assert set(between.image_id_a) | set(between.image_id_b) <= centres


def test_every_hashed_image_is_in_exactly_one_group_and_unhashed_images_in_none(build):
    groups = build.tables["duplicate_groups"]
    assert groups.image_id.is_unique
    assert set(groups.image_id) == set(build.hashes.image_id)
    assert build.collection.ids["unhashed"] not in set(groups.image_id)


def test_groups_are_the_components_of_equal_size_k_hashes_and_near_duplicate_pairs(build):
    expected = expected_groups(build.hashes, brute_force_pairs(build.hashes))
    actual = dict(
        zip(
            build.tables["duplicate_groups"].image_id,
            build.tables["duplicate_groups"].group_id,
            strict=True,
        )
    )
    assert actual == expected


def test_a_chain_of_near_duplicates_forms_one_group(build):
    chain = [group_of(build, f"chain{i}") for i in range(48)]
    assert {g.group_id for g in chain} == {build.collection.ids["chain0"]}
    assert chain[0].group_size == 48


def test_the_representative_is_the_widest_then_tallest_member(build):
    groups = build.tables["duplicate_groups"]
    for _, members in groups.groupby("group_id"):
        kept = members[members.is_representative]
        assert len(kept) == 1
        best = members.sort_values(
            ["width", "height", "byte_size", "image_id"], ascending=[False, False, False, True]
        ).iloc[0]
        assert kept.image_id.iloc[0] == best.image_id
        assert (members.representative_image_id == best.image_id).all()
    # as wide and taller beats as wide and shorter; wider beats taller
    b = min(build.collection.ids["b0"], build.collection.ids["b1"])
    assert group_of(build, "b3").representative_image_id == b
    assert group_of(build, "b2").representative_image_id == b


def test_ties_on_width_and_height_go_to_the_larger_file_then_the_smaller_image_id(build):
    ids = build.collection.ids
    assert group_of(build, "a2").representative_image_id == ids["a0"]  # same size, larger file
    b0, b1 = group_of(build, "b0"), group_of(build, "b1")  # same size and file size
    assert b0.representative_image_id == b1.representative_image_id == min(ids["b0"], ids["b1"])


def test_every_dropped_image_has_a_reason_naming_the_image_it_duplicates(build):
    groups = build.tables["duplicate_groups"]
    dropped = groups[~groups.is_representative]
    assert len(dropped) > 0
    assert dropped.reason.notna().all() and dropped.linked_image_id.notna().all()
    assert set(dropped.reason_code) == {SAME, "near_duplicate", "transitive"}
    for row in dropped.itertuples():
        assert row.linked_image_id in row.reason
    kept = groups[groups.is_representative]
    assert set(kept.reason_code) == {"unique", "representative"}

    ids = build.collection.ids
    assert group_of(build, "a1").reason == f"near_duplicate (distance 2) of {ids['a0']}"
    assert group_of(build, "a2").reason == f"near_duplicate (distance {THRESHOLD}) of {ids['a0']}"
    assert group_of(build, "a3").reason == (
        f"transitive duplicate of {ids['a0']}: near_duplicate (distance 7) of {ids['a1']}"
    )
    rep_b = min(ids["b0"], ids["b1"])
    assert group_of(build, "b2").reason == f"{SAME} as {rep_b}"
    assert group_of(build, "g1").reason == f"near_duplicate (distance 3) of {ids['h0']}"
    assert group_of(build, "g0").reason == (
        f"transitive duplicate of {ids['h0']}: {SAME} as {ids['g1']}"
    )
    assert group_of(build, "a0").reason == "kept: largest of 4 duplicates"
    assert group_of(build, "i0").reason == f"near_duplicate (distance 0) of {ids['i1']}"
    assert group_of(build, "i4").reason == f"near_duplicate (distance 3) of {ids['i1']}"
    assert group_of(build, "decoy").reason == "kept: no duplicate"


def test_lab_hex_collisions_are_not_duplicates(build):
    hashes = build.hashes.set_index("image_id")
    c0, c1 = build.collection.ids["c0"], build.collection.ids["c1"]
    assert (
        hashes.loc[c0, "DHashHex3"]
        == hashes.loc[c1, "DHashHex3"]
        == dhash.format_hex(0x10, 0x1AB, size=3)
    )
    assert group_of(build, "c0").group_id != group_of(build, "c1").group_id
    similar = build.tables["similar_images"]
    assert not ((similar.image_id_a == min(c0, c1)) & (similar.image_id_b == max(c0, c1))).any()


def test_unique_images_hold_one_representative_per_group(build):
    unique = build.tables["unique_images"]
    groups = build.tables["duplicate_groups"]
    assert unique.group_id.is_unique
    assert set(unique.group_id) == set(groups.group_id)
    kept = groups[groups.is_representative].set_index("group_id").image_id
    assert (unique.set_index("group_id").image_id == kept.loc[unique.group_id].values).all()
    hashes = build.hashes.set_index("image_id").loc[unique.image_id]
    for column in ["DHashHex3", "dhash8_row", "dhash8_col", "dhash3_row"]:
        assert list(unique[column]) == list(hashes[column])
    # the copy under two labels shows up as a label conflict of its group
    e0 = unique[unique.image_id == build.collection.ids["e0"]].iloc[0]
    assert (e0.label, e0.group_labels, e0.group_label_count) == ("dogs", "cats, dogs", 2)


def test_staging_keeps_the_earliest_then_smallest_location_and_counts_the_others(build):
    stg = build.tables["stg_images"].set_index("image_id")
    e0, e1 = stg.loc[build.collection.ids["e0"]], stg.loc[build.collection.ids["e1"]]
    assert e0.source_uri.endswith("/dogs/e0.jpg") and e0.location_count == 2
    assert (e0.label_count, e0.labels) == (2, "cats, dogs")
    assert e1.source_uri.endswith("/birds/a.jpg") and e1.location_count == 2


def test_unique_counts_by_label_match_a_pandas_computation(build):
    catalog = pd.DataFrame(build.collection.catalog)[["label", "image_id"]].drop_duplicates()
    joined = catalog.merge(build.hashes, on="image_id")
    expected = pd.DataFrame(
        {
            "label": label,
            "images": part.image_id.nunique(),
            **{
                f"Count{s}": len(part[[f"dhash{s}_row", f"dhash{s}_col"]].drop_duplicates())
                for s in range(8, 0, -1)
            },
        }
        for label, part in joined.groupby("label")
    )
    actual = build.tables["unique_counts_by_label"]
    assert list(actual.columns) == list(expected.columns)
    pd.testing.assert_frame_equal(actual, expected, check_dtype=False)
    assert (expected.Count3 < expected.images).any()  # some label holds size-3 duplicates


def test_similar_images_are_equal_size_k_pairs_that_differ_at_size_8(build):
    h = build.hashes
    expected = set()
    for _, bucket in h.groupby([f"dhash{K}_row", f"dhash{K}_col"]):
        for a, b in itertools.combinations(sorted(bucket.itertuples(index=False)), 2):
            if (a.dhash8_row, a.dhash8_col) != (b.dhash8_row, b.dhash8_col):
                d = hamming((a.dhash8_row, a.dhash8_col), (b.dhash8_row, b.dhash8_col))
                expected.add((a.image_id, b.image_id, d))
    similar = build.tables["similar_images"]
    assert set(zip(similar.image_id_a, similar.image_id_b, similar.distance, strict=True)) == (
        expected
    )
    assert len(expected) >= 6  # group B's pairs at least
    assert (similar.is_near_duplicate == (similar.distance <= THRESHOLD)).all()


def test_a_rebuild_gives_identical_tables(build):
    for name in TABLES:
        pd.testing.assert_frame_equal(build.tables[name], build.rebuilt[name])


def test_dbt_tests_run_as_passing_asset_checks(build):
    evaluations = build.first.get_asset_check_evaluations()
    names = {e.check_name for e in evaluations}
    assert {
        "assert_representative_is_largest",
        "assert_every_image_in_exactly_one_group",
        "assert_duplicate_groups_converged",
        "assert_unique_images_one_row_per_group",
        "unique_unique_images_group_id",
    } <= names
    assert all(e.passed for e in evaluations)


def test_materializations_carry_row_counts_and_unique_images_per_label(build):
    metadata = {
        e.asset_key.path[-1]: e.materialization.metadata
        for e in build.first.get_asset_materialization_events()
    }
    assert set(metadata) == set(TABLES)
    for name, table in build.tables.items():
        assert metadata[name]["dagster/row_count"].value == len(table)
    per_label = metadata["unique_images"]["unique_images_by_label"].value
    counts = build.tables["unique_images"].groupby("label").size()
    for label, n in counts.items():
        assert f"| {label} | {n} |" in per_label
    groups = build.tables["duplicate_groups"]
    assert metadata["duplicate_groups"]["dropped_images"].value == int(
        (~groups.is_representative).sum()
    )


def dbt_on_a_copy(build, tmp_path_factory, name: str) -> tuple[Path, WarehouseDbtCliResource]:
    """A copy of the built warehouse, and a dbt resource that runs the project against it."""
    copy = tmp_path_factory.mktemp(name) / "warehouse.duckdb"
    shutil.copy(build.path, copy)
    dbt = WarehouseDbtCliResource(
        project_dir=DEDUP_PROJECT,
        target="duckdb",
        dbt_executable=dbt_executable(),
        duckdb_path=str(copy),
        profiles_dir=str(warehouse_profiles_dir(copy.parent, str(copy))),
    )
    return copy, dbt


@pytest.fixture(scope="module")
def tight_bounds(build, tmp_path_factory) -> tuple[dict[str, str], pd.DataFrame]:
    """A copy of the warehouse rebuilt with the unrolled (T-SQL) components iteration cut to one
    round and buckets of at most 3 pairs listed in full: the 48-image chain cannot converge,
    group B (4 images) is paired as a star."""
    copy, dbt = dbt_on_a_copy(build, tmp_path_factory, "tight")
    invocation = dbt.cli(
        [
            "build",
            "--select",
            "duplicate_groups similar_images",
            "--vars",
            '{"dedup_cc_rounds": 1, "dedup_cc_unrolled": true, '
            '"similar_images_max_bucket_size": 3, "dedup_same_hash_link": true, '
            f'"near_duplicate_trim_threshold": {THRESHOLD}}}',
        ],
        raise_on_error=False,
    ).wait()
    results = {
        r["unique_id"].split(".")[-1]: r["status"]
        for r in invocation.get_artifact("run_results.json")["results"]
    }
    with duckdb.connect(str(copy), read_only=True) as con:
        similar = con.execute("SELECT * FROM similar_images").df()
    return results, similar


def test_the_convergence_check_fails_when_the_round_bound_is_too_small(tight_bounds):
    results, _ = tight_bounds
    assert results["duplicate_groups"] == "success"
    assert results["assert_duplicate_groups_converged"] == "fail"


def test_similar_images_pair_a_large_bucket_only_with_its_first_image(build, tight_bounds):
    _, similar = tight_bounds
    ids = build.collection.ids
    bucket_b = sorted(ids[f"b{i}"] for i in range(4))
    in_b = similar[similar.image_id_a.isin(bucket_b) & similar.image_id_b.isin(bucket_b)]
    assert set(zip(in_b.image_id_a, in_b.image_id_b, strict=True)) == {
        (bucket_b[0], other) for other in bucket_b[1:]
    }
    assert (in_b.bucket_size == 4).all()
    full = build.tables["similar_images"]
    assert (full.image_id_a.isin(bucket_b) & full.image_id_b.isin(bucket_b)).sum() == 6


@pytest.mark.parametrize("agreement", [1, 2])
def test_both_candidate_key_shapes_find_exactly_the_brute_force_pairs(
    build, tmp_path_factory, agreement
):
    copy, dbt = dbt_on_a_copy(build, tmp_path_factory, f"agreement{agreement}")
    dbt.cli(
        [
            "run",
            "--select",
            "near_duplicate_pairs",
            "--vars",
            f'{{"near_duplicate_band_agreement": {agreement}}}',
        ]
    ).wait()
    with duckdb.connect(str(copy), read_only=True) as con:
        links = con.execute("SELECT * FROM near_duplicate_pairs").df()
    assert expand_links(links, build.hashes) == brute_force_pairs(build.hashes)


def test_the_unrolled_tsql_components_iteration_gives_the_same_groups_on_duckdb(
    build, tmp_path_factory
):
    """Azure SQL cannot recurse with GROUP BY, so it runs dedup_cc_rounds unrolled rounds;
    the same SQL runs here on DuckDB and must decide every image as the recursive form does."""
    copy, dbt = dbt_on_a_copy(build, tmp_path_factory, "unrolled")
    dbt.cli(
        [
            "build",
            "--select",
            "duplicate_groups",
            "--vars",
            json.dumps({"dedup_cc_unrolled": True, **LAB_VARS}),
        ]
    ).wait()
    with duckdb.connect(str(copy), read_only=True) as con:
        unrolled = con.execute("SELECT * FROM duplicate_groups").df()
    expected = build.tables["duplicate_groups"]
    pd.testing.assert_frame_equal(unrolled.sort_values("image_id", ignore_index=True), expected)

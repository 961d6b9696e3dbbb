"""Incremental refresh of the dedup tables: batches of new images, in random orders, end in
exactly the tables a full rebuild gives, and anything but an addition rebuilds in full.

Real dbt on a real DuckDB file through the Dagster asset; the collection is dense (pictures with
many copies, identical and near size-8 hashes, shared size-k hashes, chains that only join when
a later batch brings the link, bordered copies that join their picture only through the
border-trimmed link, blank pictures that take no link), so batches merge groups, move hash
centres of both link models and change representatives.
"""

import hashlib
from datetime import UTC, datetime, timedelta

import dagster as dg
import duckdb
import numpy as np
import pandas as pd
import pytest

from assets.dedup.assets import DedupConfig, dedup_tables
from assets.dedup.project import dbt_vars
from assets.dedup.refresh import LastRefresh, Marks, plan_refresh
from assets.dedup.synthetic import flip_bits, image_hashes_row, random_hash, raw_images_row
from assets.tables import DEDUP_REFRESHES, IMAGE_HASHES
from resources.environment import get_settings
from tests.support.dedup_models import TABLE_KEYS as TABLES
from tests.support.dedup_models import add_batch, dbt_resources, random_batches
from tests.support.dedup_reference import components

VARS = dbt_vars()
K = int(VARS["dedup_hash_size"])
# the size of duplicate_groups' equal-hash buckets (macro dedup_bucket_size)
BUCKET = K if VARS["dedup_same_hash_link"] else 8
TRIM = int(VARS["near_duplicate_trim_threshold"])
T0 = datetime(2025, 3, 1, tzinfo=UTC)
LINK_MODELS = (
    "near_duplicate_pairs",
    "border_trimmed_pairs",
    "multi_size_pairs",
    "centre_pairs",
    "edge_cut_pairs",
)


def dense_collection(seed: int) -> list[tuple[dict, dict]]:
    """(catalog row, hashes row) per image: pictures with 1..12 copies, some bordered, a few
    blank; some copies meet their picture only by a centre hash a few bits away or by an area
    hash near the picture's hash with a strip cut off (and chains of those)."""
    rng = np.random.default_rng(seed)
    images = []
    for picture in range(40):
        base8 = random_hash(rng, 8)
        base_trim = base8
        base_centre = random_hash(rng, 8)
        base_cut = random_hash(rng, 8)
        coarse = random_hash(rng, K)
        width, height = [(640, 480), (800, 600), (1024, 768)][picture % 3]
        for copy in range(int(rng.integers(1, 13))):
            kind = rng.random()
            # identical size-8 hash (a re-encode), a few bits away, or a chain step further
            bits = [] if kind < 0.4 else [int(b) for b in rng.choice(128, int(rng.integers(1, 7)))]
            hash8 = flip_bits(base8, bits)
            if kind > 0.9:  # a step away from the previous copy: links only through it
                base8 = hash8
            sizes = {s: random_hash(rng, s) for s in range(1, 9)}
            sizes[8] = hash8
            sizes[K] = coarse if rng.random() < 0.5 else random_hash(rng, K)
            content, trim = "whole", None
            if 0.75 < kind <= 0.9:
                # a bordered copy: its whole-frame hash is far from the picture, its content
                # box's hash a few bits from the picture's (or a chain step further)
                sizes[8] = random_hash(rng, 8)
                steps = [int(b) for b in rng.choice(128, int(rng.integers(0, TRIM // 2)))]
                content, trim = "trimmed", flip_bits(base_trim, steps)
                if kind > 0.85:
                    base_trim = trim
            elif copy == 0 and picture % 13 == 0:
                content = "blank"  # takes no hash link, however many images share its hash
            # probe hashes: unrelated unless this copy meets its picture through one of them
            probes = {
                name: random_hash(rng, 8)
                for name in ("area", "centre", "cut_top", "cut_bottom", "cut_left", "cut_right")
            }
            if copy == 0:
                probes["centre"], probes["cut_bottom"] = base_centre, base_cut
            link = rng.random()
            if copy and link < 0.15:
                # a rotated copy: far at size 8, its centre a few bits from the picture's
                sizes[8] = random_hash(rng, 8)
                content, trim = "whole", None
                probes["centre"] = flip_bits(
                    base_centre, [int(b) for b in rng.choice(128, int(rng.integers(0, 6)))]
                )
                if link < 0.05:
                    base_centre = probes["centre"]
            elif copy and link < 0.3:
                # a copy cut at the bottom: its area hash near the picture's bottom-cut hash
                sizes[8] = random_hash(rng, 8)
                content, trim = "whole", None
                probes["area"] = flip_bits(
                    base_cut, [int(b) for b in rng.choice(128, int(rng.integers(0, 5)))]
                )
                if link < 0.2:
                    base_cut = probes["cut_bottom"]  # the next cut copy meets this one
            name = f"p{picture}c{copy}"
            image_id = hashlib.sha256(f"{seed}/{name}".encode()).hexdigest()
            scale = [1, 1, 0.5, 2][int(rng.integers(0, 4))]
            label = ["cats", "dogs"][picture % 2]
            catalog = raw_images_row(
                image_id,
                f"file:///c/{label}/{name}.jpg",
                label,
                int(width * scale),
                int(height * scale),
                int(rng.choice([50_000, 60_000])),
                T0,
                T0,
            )
            row = image_hashes_row(image_id, sizes, content=content, trim=trim, probes=probes)
            images.append((catalog, row))
    return images


# bucket_links holds image keys, renumbered by full rebuilds: compared as each bucket's smallest
# image_id
_SELECT = {
    "bucket_links": f"""
        WITH b AS (
            SELECT image_key, min(image_id) OVER (
                PARTITION BY dhash{BUCKET}_row, dhash{BUCKET}_col, unlinkable_id
            ) AS first_id
            FROM stg_images
        )
        SELECT least(lo.first_id, hi.first_id) AS node_lo,
            greatest(lo.first_id, hi.first_id) AS node_hi
        FROM bucket_links AS l
        JOIN b AS lo ON lo.image_key = l.node_lo
        JOIN b AS hi ON hi.image_key = l.node_hi
    """
}


def _read(path) -> dict[str, pd.DataFrame]:
    with duckdb.connect(str(path), read_only=True) as con:
        tables = {
            name: con.execute(_SELECT.get(name, f"SELECT * FROM {name}"))
            .df()
            .sort_values(keys, ignore_index=True)
            for name, keys in TABLES.items()
        }
    # a compact join key, renumbered by full rebuilds: never compared
    tables["stg_images"] = tables["stg_images"].drop(columns=["image_key"])
    return tables


def _refresh(resources, full: bool = False) -> dict:
    result = dg.materialize(
        [dedup_tables],
        resources=resources,
        run_config=dg.RunConfig(
            {
                # the defaults: every link on, the edge-cut link's incremental form included
                "dedup_dbt_models": DedupConfig(full_refresh=full)
            }
        ),
    )
    assert result.success
    (mat, *_) = result.asset_materializations_for_node("dedup_dbt_models")
    checks = result.get_asset_check_evaluations()
    assert checks and all(c.passed for c in checks)
    return {k: v.value for k, v in mat.metadata.items()}


def _assert_groups_follow_the_links(path) -> dict[str, pd.DataFrame]:
    """Every refresh's groups are the union-find components of equal hashes and of every link
    of every link model (images that may take no link alone)."""
    tables = _read(path)
    images = tables["stg_images"]
    linkable = images[images.unlinkable_id.isna()]
    links = pd.concat([tables[m] for m in LINK_MODELS])
    expected = components(linkable, zip(links.image_id_a, links.image_id_b, strict=True), BUCKET)
    expected |= {i: i for i in images.image_id[images.unlinkable_id.notna()]}
    got = tables["duplicate_groups"].set_index("image_id").group_id.to_dict()
    assert got == expected
    return tables


@pytest.fixture
def resources(platform_home):
    return dbt_resources()


@pytest.mark.slow
def test_batches_in_random_order_refresh_to_exactly_the_full_rebuild(resources):
    rng = np.random.default_rng(3)
    images = dense_collection(3)
    batches = random_batches(rng, len(images))
    path = get_settings().duckdb_path
    modes = []
    for number, batch in enumerate(batches):
        add_batch(resources["warehouse"], images, batch, T0 + timedelta(minutes=number))
        modes.append(_refresh(resources)["dedup_refresh"])
        # every refresh, not only the last, decides exactly what the rules say
        _assert_groups_follow_the_links(path)
    assert modes == ["full", "incremental", "incremental"]
    incremental = _read(path)
    assert _refresh(resources, full=True)["dedup_refresh"] == "full"
    full = _read(path)
    for name in TABLES:
        pd.testing.assert_frame_equal(incremental[name], full[name], obj=name)
    groups = full["duplicate_groups"]
    assert groups.group_size.max() >= 10 and (groups.reason_code == "transitive").any()
    assert (groups.reason_code == "border_trimmed").any()
    assert (groups.reason.str.contains(": border_trimmed")).any()
    # the probe-hash links took part: rotated and cut copies joined by them alone
    assert len(full["centre_pairs"]) and len(full["edge_cut_pairs"])
    assert {"centre", "edge_cut"} <= set(groups.reason_code) | {
        link for link in ("centre", "edge_cut") if groups.reason.str.contains(f": {link}").any()
    }


@pytest.mark.slow
def test_another_order_refreshes_exactly_and_a_rehash_rebuilds_in_full(resources):
    """A second random order (most images first, then a batch that joins their groups), then
    one image re-hashed to another picture: its old links must go, so the refresh is full."""
    rng = np.random.default_rng(11)
    images = dense_collection(11)
    order = rng.permutation(len(images))
    first, second = order[: len(order) * 3 // 4], order[len(order) * 3 // 4 :]
    warehouse, path = resources["warehouse"], get_settings().duckdb_path
    add_batch(warehouse, images, first, T0)
    assert _refresh(resources)["dedup_refresh"] == "full"
    add_batch(warehouse, images, second, T0 + timedelta(minutes=1))
    assert _refresh(resources)["dedup_refresh"] == "incremental"
    _assert_groups_follow_the_links(path)

    catalog, _ = images[int(second[0])]
    sizes = {s: random_hash(np.random.default_rng(0), s) for s in range(1, 9)}
    changed = image_hashes_row(catalog["image_id"], sizes, hashed_at=T0 + timedelta(days=1))
    warehouse.upsert(IMAGE_HASHES, pd.DataFrame([changed]))
    metadata = _refresh(resources)
    assert metadata["dedup_refresh"] == "full"
    assert "re-hashed" in metadata["dedup_refresh_reason"]
    tables = _assert_groups_follow_the_links(path)
    moved = tables["duplicate_groups"].set_index("image_id").loc[catalog["image_id"]]
    assert moved.reason_code == "unique"
    refreshes = warehouse.read_table(DEDUP_REFRESHES).sort_values("refreshed_at")
    assert list(refreshes["mode"]) == ["full", "incremental", "full"]


def _marks(catalog_rows=10, hash_rows=10):
    return Marks(T0, T0, catalog_rows, hash_rows)


def test_only_additions_with_the_same_models_refresh_incrementally():
    last = LastRefresh(_marks(), "f")
    same = {"rows_at_last_marks": (10, 10), "fingerprint": "f", "tables_exist": True}
    plan = plan_refresh(requested_full=False, last=last, **same)
    assert not plan.full and plan.since == last.marks
    assert "dedup_since" in plan.dbt_args()[1]
    # the models read the marks from dedup_refreshes: every incremental refresh passes the same
    # variables, so dbt keeps its partial parse from one batch to the next
    later = LastRefresh(Marks(T0 + timedelta(hours=1), T0 + timedelta(hours=2), 11, 12), "f")
    next_plan = plan_refresh(
        requested_full=False, last=later, **{**same, "rows_at_last_marks": (11, 12)}
    )
    assert not next_plan.full and next_plan.dbt_args() == plan.dbt_args()
    assert plan_refresh(requested_full=True, last=last, **same).full
    assert plan_refresh(requested_full=False, last=None, **same).full
    for change in (
        {"rows_at_last_marks": (9, 10)},  # a catalogue row removed or overwritten
        {"rows_at_last_marks": (10, 9)},  # an image re-hashed
        {"fingerprint": "g"},  # models or variables changed
        {"tables_exist": False},
    ):
        plan = plan_refresh(requested_full=False, last=last, **{**same, **change})
        assert plan.full and plan.dbt_args() == ["--full-refresh"], change

"""edge_cut_pairs, built from distinct hashes (stars, matches of distinct area and cut hashes,
attachments), groups exactly what the image-pair form of the link groups: every image whose area
hash is within the threshold of another image's cut hash joins it.

Real dbt on a real DuckDB file through the Dagster asset, on a collection made to stress the
distinct-hash form: copies sharing area hashes and cut hashes exactly (stars on both sides),
cropped copies whose area hash lies a few bits from one of their picture's shared cut hashes,
copies just beyond the threshold (must stay apart), cut hashes shared by pictures that no area
hash matches (must not join them), flat sides and blank pictures. Batches in random order move
centres and bring matches for cut hashes that matched nothing before; after every refresh the
groups are compared with a plain-Python union-find over the image-pair form, and the last
incremental tables with a full rebuild.
"""

import hashlib
from datetime import UTC, datetime, timedelta

import dagster as dg
import duckdb
import numpy as np
import pandas as pd
import pytest

from assets.dedup.assets import DedupConfig, dedup_tables
from assets.dedup.synthetic import flip_bits, hamming, image_hashes_row, random_hash, raw_images_row
from resources.environment import get_settings
from tests.support.dedup_models import TABLE_KEYS, add_batch, dbt_resources, random_batches
from tests.support.dedup_reference import UnionFind

THRESHOLD = 6
SIDES = ("top", "bottom", "left", "right")
OTHER_LINKS = ("near_duplicate_pairs", "border_trimmed_pairs", "multi_size_pairs", "centre_pairs")
T0 = datetime(2025, 5, 1, tzinfo=UTC)


def _flip(rng: np.random.Generator, words: tuple[int, int], n: int) -> tuple[int, int]:
    return flip_bits(words, [int(b) for b in rng.choice(128, n, replace=False)])


def collection(seed: int) -> list[tuple[dict, dict]]:
    """(catalog row, hashes row) per image; see the module docstring."""
    rng = np.random.default_rng(seed)
    shared_cut = random_hash(rng, 8)  # a cut hash of two unrelated pictures, matched by nothing
    images = []
    for picture in range(24):
        areas = [random_hash(rng, 8)] + [None] * 2
        areas[1] = _flip(rng, areas[0], 1)
        areas[2] = _flip(rng, areas[0], 3)
        cuts = {side: [random_hash(rng, 8) for _ in range(3)] for side in SIDES}
        if picture in (3, 4):
            cuts["left"] = [shared_cut] * 3
        for copy in range(int(rng.integers(1, 16))):
            # pictures 3 and 4 (their shared cut hash) have no cropped copy
            kind = 1.0 if picture in (3, 4) else rng.random()
            variant = int(rng.integers(0, 3))
            probes = {"area": areas[variant], "centre": random_hash(rng, 8)}
            probes |= {f"cut_{side}": cuts[side][variant] for side in SIDES}
            if copy and kind < 0.3:
                # cropped at one side: its area hash a few bits from one of the picture's cut
                # hashes (shared by its copies), beyond the threshold for some
                side = SIDES[int(rng.integers(0, 4))]
                bits = int(rng.integers(0, THRESHOLD + 1)) if kind < 0.25 else THRESHOLD + 2
                probes["area"] = _flip(rng, cuts[side][int(rng.integers(0, 3))], bits)
                probes |= {f"cut_{s}": random_hash(rng, 8) for s in SIDES}
            elif copy and kind < 0.35:
                # a crop of a crop: its area near the cut hash of an earlier cropped copy
                _, earlier = images[-1]
                if earlier["dhash8_cut_top_row"] is not None:
                    cut = (earlier["dhash8_cut_top_row"], earlier["dhash8_cut_top_col"])
                    probes["area"] = _flip(rng, cut, 2)
            if rng.random() < 0.1:
                probes.pop(f"cut_{SIDES[int(rng.integers(0, 4))]}")  # a flat side: no cut hash
            content = "blank" if copy == 1 and picture % 7 == 0 else "whole"
            sizes = {s: random_hash(rng, s) for s in range(1, 9)}
            name = f"p{picture}c{copy}"
            image_id = hashlib.sha256(f"edge-cut/{seed}/{name}".encode()).hexdigest()
            catalog = raw_images_row(
                image_id,
                f"file:///e/{name}.jpg",
                ["cats", "dogs"][picture % 2],
                int(rng.choice([640, 800])),
                int(rng.choice([480, 600])),
                int(rng.choice([50_000, 60_000])),
                T0,
                T0,
            )
            images.append(
                (catalog, image_hashes_row(image_id, sizes, content=content, probes=probes))
            )
    return images


def _read(path) -> dict[str, pd.DataFrame]:
    with duckdb.connect(str(path), read_only=True) as con:
        tables = {
            name: con.execute(f"SELECT * FROM {name}").df().sort_values(keys, ignore_index=True)
            for name, keys in TABLE_KEYS.items()
            if name != "bucket_links"  # made of per-build keys
        }
    tables["stg_images"] = tables["stg_images"].drop(columns=["image_key"])
    return tables


def image_pair_form(images: pd.DataFrame) -> list[tuple[str, str]]:
    """The edge-cut link between images, pair by pair: equal area hashes, and an area hash
    within the threshold of another image's cut hash (what the model stood for before it was
    built from distinct hashes)."""
    linkable = images[images.unlinkable_id.isna() & images.dhash8_area_row.notna()]
    rows = list(linkable.itertuples(index=False))
    pairs = []
    for x in rows:
        area = (int(x.dhash8_area_row), int(x.dhash8_area_col))
        for y in rows:
            if x.image_id == y.image_id:
                continue
            if area == (int(y.dhash8_area_row), int(y.dhash8_area_col)):
                pairs.append((x.image_id, y.image_id))
                continue
            for side in SIDES:
                row, col = (
                    getattr(y, f"dhash8_cut_{side}_row"),
                    getattr(y, f"dhash8_cut_{side}_col"),
                )
                if pd.notna(row) and hamming(area, (int(row), int(col))) <= THRESHOLD:
                    pairs.append((x.image_id, y.image_id))
                    break
    return pairs


def _components(ids, pairs) -> dict[str, str]:
    uf = UnionFind(ids)
    for a, b in pairs:
        uf.union(a, b)
    return {i: uf.find(i) for i in ids}


def _assert_same_groups_as_the_image_pair_form(tables: dict[str, pd.DataFrame]) -> None:
    images = tables["stg_images"]
    ids = list(images.image_id)
    pairs = image_pair_form(images)
    rows = tables["edge_cut_pairs"]
    # the link alone: the same components as its image-pair form
    assert _components(ids, zip(rows.image_id_a, rows.image_id_b, strict=True)) == _components(
        ids, pairs
    )
    # every row is within the threshold and joins images that form joins
    assert rows.distance.between(0, THRESHOLD).all()
    # duplicate_groups: groups and kept copy as with the image-pair form among the other links
    linkable = images[images.unlinkable_id.isna()]
    edges = list(pairs)
    for _, bucket in linkable.groupby(["dhash8_row", "dhash8_col"]):
        first, *rest = sorted(bucket.image_id)
        edges += [(first, other) for other in rest]
    for model in OTHER_LINKS:
        edges += list(zip(tables[model].image_id_a, tables[model].image_id_b, strict=True))
    expected = _components(ids, edges)
    groups = tables["duplicate_groups"].set_index("image_id")
    assert groups.group_id.to_dict() == expected
    keep = images.assign(group=images.image_id.map(expected)).sort_values(
        ["group", "width", "height", "byte_size", "image_id"],
        ascending=[True, False, False, False, True],
    )
    kept = keep.groupby("group").image_id.first()
    assert groups.representative_image_id.to_dict() == {i: kept[g] for i, g in expected.items()}


def _refresh(resources, full: bool = False) -> str:
    result = dg.materialize(
        [dedup_tables],
        resources=resources,
        run_config=dg.RunConfig(
            {
                "dedup_dbt_models": DedupConfig(
                    full_refresh=full, dbt_vars=f"{{near_duplicate_cut_threshold: {THRESHOLD}}}"
                )
            }
        ),
    )
    assert result.success
    (mat, *_) = result.asset_materializations_for_node("dedup_dbt_models")
    assert all(c.passed for c in result.get_asset_check_evaluations())
    return mat.metadata["dedup_refresh"].value


@pytest.fixture
def resources(platform_home):
    return dbt_resources()


@pytest.mark.slow
def test_distinct_hash_rows_group_like_the_image_pair_form_full_and_incremental(resources):
    rng = np.random.default_rng(5)
    images = collection(5)
    batches = random_batches(rng, len(images))
    path = get_settings().duckdb_path
    modes = []
    for number, batch in enumerate(batches):
        add_batch(resources["warehouse"], images, batch, T0 + timedelta(minutes=number))
        modes.append(_refresh(resources))
        _assert_same_groups_as_the_image_pair_form(_read(path))
    assert modes == ["full", "incremental", "incremental"]
    incremental = _read(path)
    assert _refresh(resources, full=True) == "full"
    full = _read(path)
    for name in full:
        pd.testing.assert_frame_equal(incremental[name], full[name], obj=name)
    # the collection exercised the distinct-hash form: groups made by the link alone, stars of
    # shared cut hashes, and a cut hash two pictures share that joined nothing
    rows = full["edge_cut_pairs"]
    assert (rows.distance > 0).sum() >= 10 and (rows.distance == 0).any()
    groups = full["duplicate_groups"]
    assert (groups.reason_code == "edge_cut").any()
    by_name = {c["name"]: c["image_id"] for c, _ in images}
    group_of = groups.set_index("image_id").group_id
    assert group_of[by_name["p3c0.jpg"]] != group_of[by_name["p4c0.jpg"]]

"""Dedup quality on labelled images: the benchmark's rules scored, and the dedup_quality asset
on a user's labelled pairs of catalogued images."""

from dataclasses import replace

import dagster as dg
import pandas as pd
import pytest
from PIL import Image, ImageOps

from assets.dedup.project import dbt_vars
from assets.demo.benchmark import FAMILIES, MANIFEST, build_benchmark
from assets.demo.collection import source_photos
from assets.hashing.assets import image_hashes
from assets.ingest.assets import RawImagesConfig, raw_images
from assets.splits import quality
from assets.splits.quality_assets import (
    CHECK_PRECISION,
    CHECK_RECALL,
    DedupQualityConfig,
    dedup_quality,
)
from tests.support.resources import platform_resources

NEW = quality.Rule("new", same_size=None, threshold=8, trim_threshold=12, guard=True)
SHIPPED = quality.rule_from_vars(dbt_vars())


@pytest.fixture(scope="module")
def labelled(tmp_path_factory):
    photos = [p for p in source_photos() if p.name in ("grace_hopper", "chelsea")]
    root = tmp_path_factory.mktemp("benchmark")
    build_benchmark(root, photos)
    return quality.hash_labelled(root, pd.read_csv(root / MANIFEST), "exact", workers=2)


def test_the_benchmark_has_every_family_at_several_strengths_and_the_negatives(labelled):
    copies = labelled[labelled.family.isin(FAMILIES)]
    strengths = copies.groupby("family").strength.nunique()
    assert set(strengths.index) == set(FAMILIES) and (strengths >= 3).all()
    assert {"tile", "mirror", "rotate90", "degenerate"} <= set(labelled.family)
    assert labelled.group.nunique() > 10


def test_images_without_a_picture_are_never_grouped_with_anything(labelled):
    for rule in (
        NEW,
        SHIPPED,
        quality.Rule(
            "loose",
            same_size=3,
            threshold=16,
            trim_threshold=16,
            guard=True,
            confirm_size=5,
            confirm_distance=3,
            loose_threshold=32,
        ),
    ):
        q = quality.evaluate(labelled, rule)
        degenerate = labelled.index[labelled.family == "degenerate"]
        groups = pd.Series(q.predicted_group)
        assert all((groups == groups[i]).sum() == 1 for i in degenerate), rule.name


def test_the_trimmed_link_finds_bordered_copies_the_previous_defaults_missed(labelled):
    previous = quality.evaluate(labelled, quality.PREVIOUS_RULE)
    new = quality.evaluate(labelled, NEW)
    border = {
        q.rule.name: q.by_family.set_index("family").recall["border"] for q in (previous, new)
    }
    assert border["new"] == 1.0 and border["previous defaults: DHashHex3 or size 8 <= 8"] < 0.8
    assert new.precision == 1.0 and new.recall > previous.recall
    assert len(new.missed) < len(previous.missed)
    # Mirror images and 90-degree rotations are different pictures.
    assert new.false_links.empty


def test_the_multi_size_link_adds_copies_without_a_false_link(labelled):
    without = quality.evaluate(labelled, replace(SHIPPED, confirm_size=None, fine_size=None))
    shipped = quality.evaluate(labelled, SHIPPED)
    assert SHIPPED.confirm_size == 5 and SHIPPED.loose_threshold is not None
    assert SHIPPED.fine_size == 7
    assert shipped.false_links.empty
    assert shipped.recall >= without.recall
    assert len(shipped.missed) <= len(without.missed)


def test_rule_from_vars_reads_the_links_duplicate_groups_applies():
    variables = {
        "dedup_hash_size": 3,
        "near_duplicate_threshold": 8,
        "near_duplicate_trim_threshold": 12,
        "dedup_same_hash_link": False,
        "near_duplicate_confirm_size": 5,
        "near_duplicate_confirm_distance": 1,
        "near_duplicate_loose_threshold": 20,
        "near_duplicate_fine_size": 7,
        "near_duplicate_fine_distance": 5,
    }
    rule = quality.rule_from_vars(variables)
    assert (rule.same_size, rule.threshold, rule.trim_threshold, rule.guard) == (None, 8, 12, True)
    assert (rule.confirm_size, rule.confirm_distance, rule.loose_threshold) == (5, 1, 20)
    assert (rule.fine_size, rule.fine_distance) == (7, 5)
    coarse_off = quality.rule_from_vars({**variables, "near_duplicate_confirm_distance": -1})
    assert coarse_off.confirm_size is None and coarse_off.loose_threshold == 20
    off = quality.rule_from_vars(
        {**variables, "near_duplicate_confirm_distance": -1, "near_duplicate_fine_distance": -1}
    )
    assert off.confirm_size is None and off.fine_size is None and off.loose_threshold is None


def _jpeg(image: Image.Image, path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path, "JPEG", quality=90)


def test_dedup_quality_scores_a_users_labelled_pairs(tmp_path, warehouse, local_blob_store):
    photos = {p.name: p.path for p in source_photos()}
    chelsea = Image.open(photos["chelsea"]).convert("RGB")
    source = tmp_path / "collection"
    _jpeg(chelsea, source / "cats" / "chelsea.jpg")
    _jpeg(ImageOps.expand(chelsea, (0, 30, 0, 30), fill="black"), source / "cats" / "boxed.jpg")
    _jpeg(chelsea.resize((225, 150)), source / "cats" / "small.jpg")
    _jpeg(Image.open(photos["coffee"]).convert("RGB"), source / "cups" / "coffee.jpg")
    resources = platform_resources(warehouse, local_blob_store)
    assert dg.materialize(
        [raw_images, image_hashes],
        resources=resources,
        run_config=dg.RunConfig({"raw_images": RawImagesConfig(source=str(source))}),
    ).success
    pairs = tmp_path / "pairs.csv"
    pairs.write_text(
        "a,b,duplicate,family\n"
        "cats/chelsea.jpg,cats/boxed.jpg,1,border\n"
        "cats/chelsea.jpg,cats/small.jpg,true,resize\n"
        "cats/chelsea.jpg,cups/coffee.jpg,0,different\n"
    )
    result = dg.materialize(
        [dedup_quality],
        resources=resources,
        run_config=dg.RunConfig({"dedup_quality": DedupQualityConfig(labelled_pairs=str(pairs))}),
    )
    assert result.success
    (mat,) = result.asset_materializations_for_node("dedup_quality")
    metadata = {key: value.value for key, value in mat.metadata.items()}
    shipped = quality.rule_from_vars(__import__("assets.dedup.project", fromlist=["x"]).dbt_vars())
    expect_border = shipped.trim_threshold is not None
    assert metadata["precision"] == 1.0
    assert metadata["recall"] == (1.0 if expect_border else 0.5)
    assert "| border |" in metadata["recall_by_family"]
    assert metadata["missed_pairs_sheet"].startswith("![missed pairs](data:image/png;base64,")
    checks = {c.check_name: c.passed for c in result.get_asset_check_evaluations()}
    assert checks[CHECK_PRECISION] and checks[CHECK_RECALL] == expect_border


def test_a_pairs_file_naming_an_image_not_catalogued_fails_with_the_name(
    tmp_path, warehouse, local_blob_store
):
    pairs = tmp_path / "pairs.csv"
    pairs.write_text("a,b,duplicate\nx/a.jpg,x/b.jpg,1\n")
    with pytest.raises(Exception, match="not catalogued"):
        dg.materialize(
            [dedup_quality],
            resources=platform_resources(warehouse, local_blob_store),
            run_config=dg.RunConfig(
                {"dedup_quality": DedupQualityConfig(labelled_pairs=str(pairs))}
            ),
        )

"""The train/test partition of the kept images, and the checks that keep it honest."""

from datetime import UTC, datetime
from typing import TYPE_CHECKING

import dagster as dg
from pydantic import Field

from assets.metadata import md_image, md_table
from assets.splits.membership import find_leakage, group_members, label_conflicts
from assets.tables import TRAIN_TEST_SPLIT
from resources.warehouse.base import Warehouse, table_schema

if TYPE_CHECKING:  # loaded by the steps that use them, not with the code location
    pass


CHECK_NO_LEAKAGE = "no_duplicate_crosses_the_split"
CHECK_TRAIN_SHARE = "train_share_per_label_near_target"


class SplitConfig(dg.Config):
    """Run configuration of ``train_test_split``."""

    train_ratio: float = Field(default=0.8, gt=0.0, lt=1.0, description="Target train share.")
    seed: int = Field(default=0, description="Seed of the stored per-group random values.")
    tolerance: float = Field(
        default=0.1, ge=0.0, description="Allowed |train share - ratio| per label."
    )
    min_groups_to_check: int = Field(
        default=10, ge=1, description="Labels with fewer groups are reported, not judged."
    )


@dg.asset(
    group_name="splits",
    kinds={"python", "duckdb"},
    pool="warehouse",
    deps=["duplicate_groups", "near_duplicate_pairs", "label_reviews"],
    # The table's meaning is written once, in assets/tables.py; here only what the asset does.
    description=(
        f"{TRAIN_TEST_SPLIT.description} The lab's stored random value cut at 0.8, made "
        "duplicate-group aware: a whole group (the kept image and every copy it stands for) lands "
        "on one side, so no near-duplicate sits on both. Groups without any labelled member "
        "(unlabelled arrivals) stay out; a group whose kept image is unlabelled takes a labelled "
        "member's label."
    ),
    metadata={
        "dagster/column_schema": table_schema(TRAIN_TEST_SPLIT),
        "table": TRAIN_TEST_SPLIT.name,
    },
)
def train_test_split(
    context: dg.AssetExecutionContext, config: SplitConfig, warehouse: Warehouse
) -> dg.MaterializeResult:
    import pandas as pd

    from assets.plots import split_counts_png
    from assets.splits.split import TEST, TRAIN, assign_splits, train_share_by_label

    members = group_members(warehouse)
    previous = warehouse.read_table(TRAIN_TEST_SPLIT, ["image_id", "split", "assigned_at"])
    outcome = assign_splits(members, previous, config.train_ratio, config.seed)
    now = datetime.now(tz=UTC)
    table = outcome.assignments.assign(
        seed=config.seed,
        train_ratio=config.train_ratio,
        # Microseconds, as `now` has them (a coarser stored unit cannot take it as a fill value).
        assigned_at=lambda d: (
            pd.to_datetime(
                d.image_id.map(dict(zip(previous.image_id, previous.assigned_at, strict=False))),
                utc=True,
            )
            .astype("datetime64[us, UTC]")
            .fillna(pd.Timestamp(now))
        ),
    )
    warehouse.replace_where(TRAIN_TEST_SPLIT, table, {})
    if outcome.moved_images:
        context.log.warning(
            f"{outcome.moved_images} images changed side because dedup merged groups that sat on "
            "different sides; leakage is prevented, the move is recorded in this materialisation."
        )
    conflicts = label_conflicts(members)
    if len(conflicts):
        context.log.warning(
            f"{len(conflicts)} duplicate groups carry conflicting labels; each is split under its "
            "representative's label and listed in label_conflicts for review"
        )
    shares = train_share_by_label(table, config.train_ratio, config.min_groups_to_check)
    reps = table[table.is_representative.astype(bool)]
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": len(table),
            "train_images": int((table.split == TRAIN).sum()),
            "test_images": int((table.split == TEST).sum()),
            "kept_train": int((reps.split == TRAIN).sum()),
            "kept_test": int((reps.split == TEST).sum()),
            "groups": int(table.group_id.nunique()),
            "new_images": outcome.new_images,
            "new_groups": outcome.new_groups,
            "moved_images": outcome.moved_images,
            "unlabelled_groups_left_out": outcome.unlabelled_groups,
            "reviewed_images": int(members.reviewed_label.notna().sum()),
            "groups_with_conflicting_labels": len(conflicts),
            "label_conflicts": dg.MetadataValue.md(md_table(conflicts, 50)),
            "train_ratio": config.train_ratio,
            "per_label": dg.MetadataValue.md(md_table(shares, 200)),
            "per_label_plot": dg.MetadataValue.md(
                md_image(split_counts_png(table), "kept images per label, train and test")
            ),
        }
    )


@dg.asset_check(
    asset=train_test_split,
    name=CHECK_NO_LEAKAGE,
    pool="warehouse",  # reads the warehouse: wait for the writers' pool
    blocking=True,
    description=(
        "Blocking: no duplicate group and no near-duplicate pair has members on both sides. "
        "Publishing waits for this check."
    ),
)
def no_duplicate_crosses_the_split(warehouse: Warehouse) -> dg.AssetCheckResult:
    leaks = find_leakage(warehouse)
    return dg.AssetCheckResult(
        passed=leaks.clean,
        metadata={
            "groups_on_both_sides": len(leaks.groups),
            "near_duplicate_pairs_on_both_sides": leaks.pairs,
            "examples": ", ".join(leaks.groups[:5]),
        },
    )


@dg.asset_check(
    asset=train_test_split,
    name=CHECK_TRAIN_SHARE,
    pool="warehouse",  # reads the warehouse: wait for the writers' pool
    description=(
        "Per label, the train share of duplicate groups is within the tolerance of the target. "
        "Labels with too few groups to judge are listed, not failed."
    ),
)
def train_share_per_label_near_target(
    warehouse: Warehouse, config: SplitConfig
) -> dg.AssetCheckResult:
    from assets.splits.split import train_share_by_label

    stored = warehouse.read_table(TRAIN_TEST_SPLIT)
    shares = train_share_by_label(stored, config.train_ratio, config.min_groups_to_check)
    judged = shares[shares.checkable]
    off = judged[judged.deviation > config.tolerance]
    return dg.AssetCheckResult(
        passed=off.empty,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={
            "labels_checked": len(judged),
            "labels_outside_tolerance": len(off),
            "labels_too_small_to_judge": ", ".join(map(str, shares[~shares.checkable].label)),
            "per_label": dg.MetadataValue.md(md_table(shares, 200)),
        },
    )

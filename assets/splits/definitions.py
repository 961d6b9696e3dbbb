"""The split stage's definitions: ``train_test_split``, its checks, ``dedup_quality``."""

import dagster as dg

from assets.splits.assets import (
    no_duplicate_crosses_the_split,
    train_share_per_label_near_target,
    train_test_split,
)
from assets.splits.quality_assets import dedup_quality

defs = dg.Definitions(
    assets=[train_test_split, dedup_quality],
    asset_checks=[no_duplicate_crosses_the_split, train_share_per_label_near_target],
)

"""Who belongs to which duplicate group with which label, and whether a group or a
near-duplicate pair crosses the split (pure: no Dagster; the SQL runs on DuckDB and T-SQL).

The split, its checks, publishing and the label reviews all read the groups this way.
"""

from dataclasses import dataclass
from typing import TYPE_CHECKING

from assets.tables import LABEL_REVIEWS, TRAIN_TEST_SPLIT

if TYPE_CHECKING:
    import pandas as pd

    from resources.warehouse.base import Warehouse


def group_members_sql(dialect: str, reviewed: bool) -> str:
    """The members query of ``group_members``; ``reviewed``: label_reviews exists."""
    review_join = (
        f"LEFT JOIN {LABEL_REVIEWS.qualified(dialect)} r ON r.image_id = g.image_id "
        if reviewed
        else ""
    )
    return (
        "SELECT g.image_id, g.group_id, "
        f"COALESCE({'r.label, ' if reviewed else ''}g.label, c.label) AS label, "
        f"{'r.label' if reviewed else 'NULL'} AS reviewed_label, g.is_representative "
        "FROM duplicate_groups g LEFT JOIN (SELECT image_id, MIN(label) AS label "
        "FROM raw_images WHERE label IS NOT NULL GROUP BY image_id) c ON c.image_id = g.image_id "
        + review_join
    )


def group_members(warehouse: "Warehouse") -> "pd.DataFrame":
    """Every image of every duplicate group with the label the split uses for it: the label a
    person confirmed (label_reviews), else its catalogued label. An image catalogued at several
    locations may have an unlabelled one (an incoming arrival) as its representative location:
    then a label any of its locations carries."""
    reviewed = warehouse.table_exists(LABEL_REVIEWS)
    return warehouse.query_df(group_members_sql(warehouse.dialect, reviewed))


def label_conflicts(members: "pd.DataFrame") -> "pd.DataFrame":
    """Duplicate groups whose members carry different labels: one row per group with its
    labels and how many members are reviewed. They are split by the group's one label (its
    representative's) and listed here for a person to settle."""
    import pandas as pd

    labelled = members[members.label.notna()]
    counts = labelled.groupby("group_id").label.nunique()
    conflicted = labelled[labelled.group_id.isin(counts[counts > 1].index)]
    if conflicted.empty:
        return pd.DataFrame(columns=["group_id", "labels", "images", "reviewed"])
    return (
        conflicted.groupby("group_id")
        .agg(
            labels=("label", lambda v: ", ".join(sorted(set(map(str, v))))),
            images=("image_id", "count"),
            reviewed=("reviewed_label", "count"),
        )
        .reset_index()
    )


@dataclass(frozen=True)
class Leakage:
    """Duplicate groups and near-duplicate pairs found on both sides of the split."""

    groups: list[str]
    pairs: int

    @property
    def clean(self) -> bool:
        return not self.groups and not self.pairs


def find_leakage(warehouse: "Warehouse") -> Leakage:
    """Duplicate groups and near-duplicate pairs with members on both sides of the split."""
    split = warehouse.read_table(TRAIN_TEST_SPLIT)
    sides = split.groupby("group_id").split.nunique()
    pairs = warehouse.query_df("SELECT image_id_a, image_id_b FROM near_duplicate_pairs")
    side = dict(zip(split.image_id, split.split, strict=False))
    a, b = pairs.image_id_a.map(side), pairs.image_id_b.map(side)
    return Leakage(sorted(sides[sides > 1].index), int((a.notna() & b.notna() & (a != b)).sum()))

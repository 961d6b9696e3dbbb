"""The train/test rule (pure): stored seeded randoms, stratified by label, whole groups per side.

The lab stored a random value per image and cut at 0.8. Here the unit that is assigned is the
duplicate *group* (so near-duplicates never sit on both sides), its random value is derived from a
seed and the group id (so it is reproducible and never reshuffled), and the cut is made per label
(so every label gets its share):

* Within a label, groups are ordered by their random value. Groups already assigned keep their
  side. New groups are walked in random-value order and each goes to the side whose count is
  furthest below its target, so a label's train share stays as close to the ratio as whole groups
  allow, and earlier assignments never move.
* A label with a single group puts it in train; a label with two or more groups keeps at least
  one group in test.
* If dedup later merges groups that sat on different sides, the merged group follows the side of
  its representative's previous assignment (or the majority of its members); members that change
  side are reported as ``moved`` — leaking a near-duplicate across the split is worse than moving
  an image, and the move is visible in the metadata.
"""

import hashlib
from dataclasses import dataclass

import pandas as pd

TRAIN = "train"
TEST = "test"


def seeded_random(seed: int, key: str) -> float:
    """A uniform value in [0, 1) from (seed, key): stable across runs, machines and versions."""
    digest = hashlib.sha256(f"{seed}:{key}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


@dataclass(frozen=True)
class SplitOutcome:
    """The split's assignments and what changed since the previous split."""

    assignments: pd.DataFrame  # image_id, group_id, label, is_representative, split, random_value
    new_images: int
    moved_images: int
    new_groups: int
    unlabelled_groups: int = 0  # groups left out: no member has a label


def assign_splits(
    members: pd.DataFrame,
    previous: pd.DataFrame,
    ratio: float = 0.8,
    seed: int = 0,
) -> SplitOutcome:
    """Assign every image of ``members`` to train or test.

    ``members``: one row per image — image_id, group_id, label (may be null: unlabelled arrivals),
    is_representative. ``previous``: earlier assignments (image_id, split). The output carries
    the group's label on every member and leaves out groups without any labelled member.
    """
    if not 0.0 < ratio < 1.0:
        raise ValueError(f"train ratio must be strictly between 0 and 1, got {ratio}")
    required = {"image_id", "group_id", "label", "is_representative"}
    if missing := required - set(members.columns):
        raise ValueError(f"members lack columns {sorted(missing)}")

    members = members.copy()
    prev_side = dict(zip(previous.image_id, previous.split, strict=False)) if len(previous) else {}
    members["previous_split"] = members.image_id.map(prev_side)

    # A group's label is its representative's; an unlabelled representative (an incoming image
    # kept because it is the largest copy) borrows a labelled member's label (the smallest, to be
    # deterministic), and a group with no labelled member at all has nothing to learn from and
    # stays out of the split.
    labelled = members[members.label.notna()]
    rep_labels = labelled[labelled.is_representative.astype(bool)]
    group_label = dict(zip(rep_labels.group_id, rep_labels.label, strict=False))
    for gid, label in labelled.groupby("group_id").label.min().items():
        group_label.setdefault(gid, label)
    unlabelled_groups = int(members.group_id.nunique()) - len(group_label)
    members = members[members.group_id.isin(group_label)].copy()
    members["label"] = members.group_id.map(group_label)

    group_side: dict[str, str] = {}
    for gid, group in members.groupby("group_id", sort=False):
        known = group.previous_split.dropna()
        if known.empty:
            continue
        rep_prev = group.loc[group.is_representative.astype(bool), "previous_split"].dropna()
        if len(rep_prev):
            group_side[gid] = rep_prev.iloc[0]
        else:
            counts = known.value_counts()
            # Majority, ties to train: a deterministic rule.
            group_side[gid] = TRAIN if counts.get(TRAIN, 0) >= counts.get(TEST, 0) else TEST

    groups = pd.DataFrame({"group_id": list(group_label), "label": list(group_label.values())})
    groups["random_value"] = [seeded_random(seed, str(g)) for g in groups.group_id]
    new_groups = 0
    for _, label_groups in groups.groupby("label", sort=True):
        ordered = label_groups.sort_values(["random_value", "group_id"])
        n_total = len(ordered)
        train = sum(1 for g in ordered.group_id if group_side.get(g) == TRAIN)
        test = sum(1 for g in ordered.group_id if group_side.get(g) == TEST)
        target_train = _target_train(n_total, ratio)
        for gid in ordered.group_id:
            if gid in group_side:
                continue
            new_groups += 1
            want_train = target_train - train
            want_test = (n_total - target_train) - test
            # The deficits add up to the unassigned groups left (>= 1), so one of them is > 0.
            side = TRAIN if want_train >= want_test else TEST
            group_side[gid] = side
            train += side == TRAIN
            test += side == TEST

    members["split"] = members.group_id.map(group_side)
    members["random_value"] = members.group_id.map(groups.set_index("group_id").random_value)
    moved = int((members.previous_split.notna() & (members.previous_split != members.split)).sum())
    new_images = int(members.previous_split.isna().sum())
    out = members[["image_id", "group_id", "label", "is_representative", "split", "random_value"]]
    return SplitOutcome(
        out.reset_index(drop=True), new_images, moved, new_groups, unlabelled_groups
    )


def _target_train(n_groups: int, ratio: float) -> int:
    if n_groups <= 1:
        return n_groups
    return min(max(round(n_groups * ratio), 1), n_groups - 1)


def train_share_by_label(assignments: pd.DataFrame, ratio: float, min_groups: int) -> pd.DataFrame:
    """Per label: groups on each side, the train share and whether it is checkable and within
    one group of the target (the best whole groups allow)."""
    groups = assignments.drop_duplicates("group_id")
    table = (
        groups.groupby("label")
        .split.value_counts()
        .unstack(fill_value=0)
        .reindex(columns=[TRAIN, TEST], fill_value=0)
        .reset_index()
    )
    table["groups"] = table[TRAIN] + table[TEST]
    table["train_share"] = (table[TRAIN] / table.groups).round(4)
    table["checkable"] = table.groups >= min_groups
    table["deviation"] = (table.train_share - ratio).abs().round(4)
    return table

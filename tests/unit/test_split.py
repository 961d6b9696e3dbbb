"""The train/test rule: stratified, group-aware, stable under reruns and new images."""

import pandas as pd
import pytest

from assets.splits.split import TEST, TRAIN, assign_splits, seeded_random, train_share_by_label

NO_PREVIOUS = pd.DataFrame(columns=["image_id", "split"])


def _members(labels: dict[str, int], copies: int = 2, start: int = 0) -> pd.DataFrame:
    rows = []
    for label, n_groups in labels.items():
        for g in range(start, start + n_groups):
            gid = f"{label}-g{g:04d}"
            for c in range(copies):
                rows.append(
                    {
                        "image_id": f"{gid}-i{c}",
                        "group_id": gid,
                        "label": label,
                        "is_representative": c == 0,
                    }
                )
    return pd.DataFrame(rows)


def test_every_label_gets_the_target_share_of_groups():
    out = assign_splits(_members({"a": 50, "b": 20, "c": 7}), NO_PREVIOUS, 0.8, seed=1)
    shares = train_share_by_label(out.assignments, 0.8, min_groups=1).set_index("label")
    assert shares.loc["a", TRAIN] == 40 and shares.loc["b", TRAIN] == 16
    assert shares.loc["c", TRAIN] == round(7 * 0.8)


def test_all_members_of_a_group_land_on_the_same_side():
    out = assign_splits(_members({"a": 30}, copies=4), NO_PREVIOUS, 0.7, seed=3)
    assert out.assignments.groupby("group_id").split.nunique().max() == 1


def test_the_assignment_is_reproducible_and_depends_on_the_seed():
    members = _members({"a": 100})
    first = assign_splits(members, NO_PREVIOUS, 0.8, seed=5).assignments
    again = assign_splits(members.sample(frac=1, random_state=2), NO_PREVIOUS, 0.8, seed=5)
    other = assign_splits(members, NO_PREVIOUS, 0.8, seed=6).assignments
    key = ["image_id"]
    pd.testing.assert_frame_equal(
        first.sort_values(key).reset_index(drop=True),
        again.assignments.sort_values(key).reset_index(drop=True),
    )
    assert (first.set_index("image_id").split != other.set_index("image_id").split).any()


def test_new_images_never_move_earlier_assignments_and_keep_the_share():
    first = assign_splits(_members({"a": 40, "b": 10}), NO_PREVIOUS, 0.8, seed=0).assignments
    grown = pd.concat([_members({"a": 40, "b": 10}), _members({"a": 20, "b": 5}, start=100)])
    second = assign_splits(grown, first[["image_id", "split"]], 0.8, seed=0)
    merged = first.merge(second.assignments, on="image_id", suffixes=("_old", "_new"))
    assert (merged.split_old == merged.split_new).all()
    assert second.moved_images == 0 and second.new_images == 2 * 25
    shares = train_share_by_label(second.assignments, 0.8, 1).set_index("label")
    assert abs(shares.loc["a", "train_share"] - 0.8) <= 1 / 60
    assert abs(shares.loc["b", "train_share"] - 0.8) <= 1 / 15


def test_groups_merged_by_a_later_dedup_follow_their_representative_and_report_the_move():
    previous = pd.DataFrame({"image_id": ["x", "y"], "split": [TRAIN, TEST]})
    members = pd.DataFrame(
        {
            "image_id": ["x", "y"],
            "group_id": ["x", "x"],
            "label": ["a", "a"],
            "is_representative": [True, False],
        }
    )
    out = assign_splits(members, previous, 0.8, seed=0)
    assert set(out.assignments.split) == {TRAIN} and out.moved_images == 1


def test_tiny_labels_are_handled_one_group_trains_two_groups_split():
    out = assign_splits(_members({"solo": 1, "pair": 2}), NO_PREVIOUS, 0.8, seed=0).assignments
    groups = out.drop_duplicates("group_id")
    assert list(groups[groups.label == "solo"].split) == [TRAIN]
    assert sorted(groups[groups.label == "pair"].split) == [TEST, TRAIN]


def test_ratio_must_leave_room_for_both_sides():
    with pytest.raises(ValueError):
        assign_splits(_members({"a": 3}), NO_PREVIOUS, 1.0)


def test_seeded_random_is_uniform_enough_and_stable():
    values = [seeded_random(0, str(i)) for i in range(20000)]
    assert 0.49 < sum(values) / len(values) < 0.51
    assert seeded_random(0, "group") == seeded_random(0, "group")


def test_a_group_without_any_labelled_member_stays_out_of_the_split():
    members = _members({"a": 6})
    arrivals = pd.DataFrame(
        [
            {"image_id": "new-0", "group_id": "new", "label": None, "is_representative": True},
            {"image_id": "new-1", "group_id": "new", "label": None, "is_representative": False},
        ]
    )
    out = assign_splits(pd.concat([members, arrivals]), NO_PREVIOUS, 0.8, seed=1)
    assert "new" not in set(out.assignments.group_id)
    assert out.assignments.label.notna().all() and out.unlabelled_groups == 1
    assert len(out.assignments) == len(members)


def test_a_group_whose_kept_image_is_unlabelled_takes_a_labelled_members_label():
    members = _members({"a": 3, "b": 3})
    rep = members.is_representative & (members.group_id == "b-g0001")
    members.loc[rep, "label"] = None
    out = assign_splits(members, NO_PREVIOUS, 0.8, seed=1).assignments
    group = out[out.group_id == "b-g0001"]
    assert len(group) == 2 and set(group.label) == {"b"}
    assert out.groupby("label").group_id.nunique().to_dict() == {"a": 3, "b": 3}


def test_a_group_whose_kept_copy_is_an_animation_publishes_its_best_still_copy():
    from assets.publish.publisher import choose_publishable

    members = pd.DataFrame(
        {
            "image_id": ["gif", "jpg", "png", "solo"],
            "group_id": ["g", "g", "g", "s"],
            "is_representative": [True, False, False, True],
            "rank_in_group": [1, 2, 3, 1],
            "format": ["GIF", "JPEG", "PNG", "TIFF"],
            "is_animated": [True, False, False, False],
        }
    )
    chosen = choose_publishable(members).set_index("group_id")
    assert chosen.loc["g", "image_id"] == "jpg" and chosen.loc["g", "stands_in_for"] == "gif"
    # Nothing publishable: the kept image stays, to be listed as skipped with its reason.
    assert chosen.loc["s", "image_id"] == "solo" and pd.isna(chosen.loc["s", "stands_in_for"])

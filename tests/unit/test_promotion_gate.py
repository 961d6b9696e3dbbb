"""The promotion gate's decision and the words it records (pure)."""

from assets.model.promotion import GateResult, accuracy_of


def test_without_a_current_model_only_the_floor_decides():
    assert GateResult(0.6, 0.5).promote
    failed = GateResult(0.4, 0.5)
    assert not failed.promote and failed.comparison_passed
    assert failed.reason == "kept as a candidate: Test accuracy 0.4000 < floor 0.5000"


def test_a_model_worse_than_the_current_one_on_the_same_images_is_kept_a_candidate():
    gate = GateResult(
        0.9, 0.5, "abc", baseline_accuracy=0.95, candidate_on_common=0.9, compared_images=20
    )
    assert gate.floor_passed and not gate.comparison_passed and not gate.promote
    assert "worse than the current model abc's 0.9500 on the same 20 Test images" in gate.reason
    assert GateResult(0.9, 0.5, "abc", 0.95, 0.9, 20, tolerance=0.05).promote
    assert GateResult(0.95, 0.5, "abc", 0.95, 0.95, 20).promote  # a tie is no worse


def test_nothing_classified_is_never_promoted():
    assert not GateResult(None, 0.0).promote
    assert "accuracy is unknown" in GateResult(None, 0.0).reason
    no_common = GateResult(0.9, 0.5, "abc", None, None, 0)
    assert not no_common.promote and "cannot be shown to be no worse" in no_common.reason


def test_accuracy_is_the_share_of_equal_labels():
    assert accuracy_of(["a", "b", "c", "a"], ["a", "b", "a", "b"]) == 0.5
    assert accuracy_of([], []) is None

"""The numbers behind the nightly asset checks (pure)."""

import pandas as pd
import pytest

from assets.inference.checks import night_health


def _predictions(labels, probabilities, versions=None):
    return pd.DataFrame(
        {
            "predicted_label": labels,
            "probability": probabilities,
            "model_version": versions or ["v1"] * len(labels),
        }
    )


def test_a_night_like_the_train_side_is_healthy():
    night = _predictions(["cat"] * 10 + ["dog"] * 10, [0.9] * 19 + [0.3])
    health = night_health(night, pd.Series(["cat", "dog"] * 50), 1, 21, 0.5)
    assert health.low_confidence == 1 and health.low_confidence_share == pytest.approx(0.05)
    assert health.class_mix_distance == pytest.approx(0.0)
    assert health.quarantine_rate == pytest.approx(1 / 21)
    assert health.model_versions == ("v1",)


def test_a_night_of_one_class_is_far_from_a_balanced_train_side():
    night = _predictions(["cat"] * 20, [0.9] * 20)
    health = night_health(night, pd.Series(["cat", "dog", "bird", "fish"] * 5), 0, 20, 0.5)
    assert health.class_mix_distance == pytest.approx(0.75)
    mix = health.mix.set_index("class")
    assert mix.loc["cat"].predicted_share == 1.0 and mix.loc["dog"].train_share == 0.25


def test_small_nights_do_not_judge_the_mix_and_mixed_versions_are_listed():
    night = _predictions(["cat", "dog"], [0.9, 0.2], ["v1", "v2"])
    health = night_health(night, pd.Series(["cat"]), 0, 0, 0.5)
    assert health.class_mix_distance is None
    assert health.model_versions == ("v1", "v2")
    assert health.quarantine_rate == 0.0
    empty = night_health(night.iloc[:0], pd.Series([], dtype=str), 0, 0, 0.5)
    assert empty.low_confidence_share == 0.0 and empty.model_versions == ()

"""A night's two tables are replaced together or not at all (DuckDB and the T-SQL it would run)."""

from datetime import date

import pandas as pd
import pytest

from assets.tables import IMAGE_PREDICTIONS, IMAGE_PROBABILITIES

DAY = date(2026, 3, 14)


def _predictions(blobs, version="v1"):
    return pd.DataFrame(
        {
            "partition_date": DAY,
            "blob_path": blobs,
            "image_id": [f"id-{b}" for b in blobs],
            "predicted_label": "cat",
            "probability": 0.9,
            "model_version": version,
            "reused": False,
            "last_modified": pd.Timestamp("2026-03-14T12:00Z"),
            "classified_at": pd.Timestamp("2026-03-15T23:00Z"),
        }
    )


def _probabilities(blobs, version="v1"):
    return pd.DataFrame(
        {
            "partition_date": DAY,
            "image_id": [f"id-{b}" for b in blobs for _ in range(2)],
            "label": ["cat", "dog"] * len(blobs),
            "probability": [0.9, 0.1] * len(blobs),
            "model_version": version,
        }
    )


def test_a_failure_in_the_second_table_leaves_the_first_one_as_it_was(warehouse):
    warehouse.replace_partition(
        [
            (IMAGE_PREDICTIONS, _predictions(["a", "b"])),
            (IMAGE_PROBABILITIES, _probabilities(["a", "b"])),
        ],
        {"partition_date": DAY},
    )
    before = warehouse.read_table(IMAGE_PREDICTIONS)
    # The second part breaks its primary key: the whole replacement must roll back.
    broken = pd.concat([_probabilities(["c"], "v2")] * 2)
    with pytest.raises(Exception, match=r"(?i)constraint|duplicate"):
        warehouse.replace_partition(
            [(IMAGE_PREDICTIONS, _predictions(["c"], "v2")), (IMAGE_PROBABILITIES, broken)],
            {"partition_date": DAY},
        )
    pd.testing.assert_frame_equal(warehouse.read_table(IMAGE_PREDICTIONS), before)
    assert set(warehouse.read_table(IMAGE_PROBABILITIES).model_version) == {"v1"}


def test_both_tables_are_replaced_by_one_call(warehouse):
    where = {"partition_date": DAY}
    first = [
        (IMAGE_PREDICTIONS, _predictions(["a", "b"])),
        (IMAGE_PROBABILITIES, _probabilities(["a", "b"])),
    ]
    assert warehouse.replace_partition(first, where) == [2, 4]
    second = [
        (IMAGE_PREDICTIONS, _predictions(["c"], "v2")),
        (IMAGE_PROBABILITIES, _probabilities(["c"], "v2")),
    ]
    warehouse.replace_partition(second, where)
    assert list(warehouse.read_table(IMAGE_PREDICTIONS).blob_path) == ["c"]
    assert set(warehouse.read_table(IMAGE_PROBABILITIES).model_version) == {"v2"}

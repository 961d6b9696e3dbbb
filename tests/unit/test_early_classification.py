"""When the early classification sensor may classify a day: once its partition exists."""

from datetime import UTC, date, datetime

from assets.automation.sensors import day_is_complete


def test_a_day_is_classifiable_only_after_midnight_in_the_partitions_timezone():
    day = date(2026, 7, 1)
    assert not day_is_complete(day, "UTC", datetime(2026, 7, 1, 23, 59, tzinfo=UTC))
    assert day_is_complete(day, "UTC", datetime(2026, 7, 2, 0, 0, tzinfo=UTC))
    # Midnight in Amsterdam (UTC+2 in July) comes two hours before midnight UTC.
    assert day_is_complete(day, "Europe/Amsterdam", datetime(2026, 7, 1, 22, 0, tzinfo=UTC))
    assert not day_is_complete(day, "America/New_York", datetime(2026, 7, 2, 3, 0, tzinfo=UTC))


def test_days_before_the_first_partition_never_exist():
    assert not day_is_complete(date(2025, 12, 31), "UTC", datetime(2026, 7, 1, tzinfo=UTC))

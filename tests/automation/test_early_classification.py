"""When the early classification sensor may classify an evening: once its window has closed."""

from datetime import UTC, date, datetime

from assets.inference.sensors import day_is_complete


def test_an_evening_is_complete_at_23_00_in_the_partitions_timezone():
    day = date(2026, 7, 1)
    assert not day_is_complete(day, "UTC", datetime(2026, 7, 1, 22, 59, tzinfo=UTC))
    assert day_is_complete(day, "UTC", datetime(2026, 7, 1, 23, 0, tzinfo=UTC))
    # 23:00 in Amsterdam (UTC+2 in July) is 21:00 UTC.
    assert day_is_complete(day, "Europe/Amsterdam", datetime(2026, 7, 1, 21, 0, tzinfo=UTC))
    assert not day_is_complete(day, "America/New_York", datetime(2026, 7, 2, 2, 59, tzinfo=UTC))


def test_days_before_the_first_partition_never_exist():
    assert not day_is_complete(date(2025, 12, 31), "UTC", datetime(2026, 7, 1, tzinfo=UTC))

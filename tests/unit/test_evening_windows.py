"""Evening windows: 23:00 the day before up to 23:00, in local time (pure)."""

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pandas as pd

from assets.inference.migrate import late_calendar_day_rows
from assets.inference.windows import evening_of, evening_window

AMS = ZoneInfo("Europe/Amsterdam")


def test_an_arrival_belongs_to_the_evening_that_follows_it():
    assert evening_of(datetime(2026, 7, 1, 9, 0, tzinfo=AMS), "Europe/Amsterdam") == date(
        2026, 7, 1
    )
    assert evening_of(datetime(2026, 7, 1, 22, 59, 59, tzinfo=AMS), "Europe/Amsterdam") == date(
        2026, 7, 1
    )
    assert evening_of(datetime(2026, 7, 1, 23, 0, tzinfo=AMS), "Europe/Amsterdam") == date(
        2026, 7, 2
    )
    # 21:30 UTC is 23:30 in Amsterdam in July: already the next evening there, not in UTC.
    late = datetime(2026, 7, 1, 21, 30, tzinfo=UTC)
    assert evening_of(late, "Europe/Amsterdam") == date(2026, 7, 2)
    assert evening_of(late, "UTC") == date(2026, 7, 1)


def test_windows_end_at_23_00_local_time_across_daylight_saving_changes():
    start, end = evening_window(date(2026, 7, 1), "Europe/Amsterdam")
    assert (start.isoformat(), end.isoformat()) == (
        "2026-06-30T23:00:00+02:00",
        "2026-07-01T23:00:00+02:00",
    )
    # Clocks go forward on 29 March 2026 in Amsterdam: that evening's window is 23 hours long.
    start, end = evening_window(date(2026, 3, 29), "Europe/Amsterdam")
    assert end.astimezone(UTC) - start.astimezone(UTC) == timedelta(hours=23)
    # Consecutive windows tile time: each ends where the next begins.
    for day in pd.date_range("2026-03-25", "2026-04-02").date:
        assert (
            evening_window(day, "Europe/Amsterdam")[1]
            == evening_window(day + timedelta(days=1), "Europe/Amsterdam")[0]
        )


def test_only_calendar_day_rows_from_the_last_hour_of_their_day_are_migrated():
    rows = pd.DataFrame(
        {
            "partition_date": [date(2026, 7, 1)] * 4,
            "last_modified": [
                datetime(2026, 7, 1, 10, 0, tzinfo=UTC),  # calendar day and evening agree
                datetime(2026, 7, 1, 23, 30, tzinfo=UTC),  # calendar row: moves to 2 July
                datetime(2026, 6, 30, 23, 30, tzinfo=UTC),  # written for evening 1 July
                datetime(2026, 7, 1, 22, 59, tzinfo=UTC),
            ],
        }
    )
    assert list(late_calendar_day_rows(rows, "UTC")) == [False, True, False, False]
    assert not late_calendar_day_rows(rows.iloc[:0], "UTC").any()

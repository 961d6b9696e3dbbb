"""The nightly partitions' windows: each evening's run classifies what arrived since the last one.

A partition is keyed by the date of its evening, ``YYYY-MM-DD``, and holds the arrivals from
23:00 the day before up to 23:00 that day, in ``IMAGE_PLATFORM_TIMEZONE``: the 23:00 run
classifies what has arrived so far, as the refund app's evening batch did. An image that arrives
at 09:00 is classified at 23:00 the same day; one that arrives at 23:30 by the next evening.

Windows are built from local wall-clock times, so across a daylight-saving change a window is 23
or 25 hours long and always ends at 23:00 local time. (Pure: no Dagster import.)
"""

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

NIGHTLY_HOUR = 23  # the refund app classified at 23:00
CUTOFF = time(NIGHTLY_HOUR)


def evening_window(evening: date, timezone: str) -> tuple[datetime, datetime]:
    """[23:00 the day before, 23:00 on ``evening``) as aware datetimes in ``timezone``."""
    tz = ZoneInfo(timezone)
    return (
        datetime.combine(evening - timedelta(days=1), CUTOFF, tzinfo=tz),
        datetime.combine(evening, CUTOFF, tzinfo=tz),
    )


def evening_of(moment: datetime, timezone: str) -> date:
    """The evening whose window holds ``moment`` (an aware datetime)."""
    local = moment.astimezone(ZoneInfo(timezone))
    return local.date() + timedelta(days=1) if local.time() >= CUTOFF else local.date()

"""Calendar arithmetic of spec/domain.md §3: months with end-of-month clamping, birthdays,
and the dealer's local time (a zoneinfo name such as ``Asia/Shanghai``) ↔ UTC.

Standard library only. Every function is pure; the current time is always passed in.
"""

from __future__ import annotations

import calendar
from datetime import UTC, date, datetime, time, tzinfo
from functools import lru_cache
from zoneinfo import ZoneInfo

END_OF_DAY = time(23, 59, 59)


# --- months ----------------------------------------------------------------------------


def add_months(d: date, n: int) -> date:
    """``d`` plus ``n`` months (negative: minus), the day clamped to the target month's end.

    Jan 31 + 1 month = Feb 28 (Feb 29 in a leap year); Nov 30 + 3 months = Feb 28/29;
    Mar 31 − 1 month = Feb 28/29.
    """
    months = d.year * 12 + (d.month - 1) + n
    year, month = divmod(months, 12)
    month += 1
    day = min(d.day, calendar.monthrange(year, month)[1])
    return date(year, month, day)


def first_of_month(d: date) -> date:
    return d.replace(day=1)


def end_of_month(d: date) -> date:
    return d.replace(day=calendar.monthrange(d.year, d.month)[1])


def month_key(d: date) -> str:
    """``YYYY-MM`` of the month containing ``d``."""
    return f"{d.year:04d}-{d.month:02d}"


# --- birthdays -------------------------------------------------------------------------


def birthday_in_year(birthday: date, year: int) -> date:
    """The day a (solar) birthday is greeted in ``year``: 29 February → 28 February in a
    common year."""
    if birthday.month == 2 and birthday.day == 29 and not calendar.isleap(year):
        return date(year, 2, 28)
    return birthday.replace(year=year)


# --- local time ↔ UTC ------------------------------------------------------------------


@lru_cache(maxsize=32)
def zone(tz_name: str) -> ZoneInfo:
    """The ZoneInfo for a name (cached); raises ZoneInfoNotFoundError for an unknown one."""
    return ZoneInfo(tz_name)


def is_aware(dt: datetime) -> bool:
    tz: tzinfo | None = dt.tzinfo
    return tz is not None and tz.utcoffset(dt) is not None


def _require_aware(dt: datetime) -> None:
    if not is_aware(dt):
        raise ValueError("a naive datetime was given where an aware one is needed")


def local_datetime(d: date, t: time, tz_name: str) -> datetime:
    """The aware datetime for local date ``d`` at local wall-clock time ``t``."""
    return datetime.combine(d, t.replace(tzinfo=None), tzinfo=zone(tz_name))


def end_of_day(d: date, tz_name: str) -> datetime:
    """23:59:59 local time on ``d`` (the due time of a task whose deadline is a day)."""
    return local_datetime(d, END_OF_DAY, tz_name)


def start_of_day(d: date, tz_name: str) -> datetime:
    return local_datetime(d, time(0, 0), tz_name)


def to_local(dt: datetime, tz_name: str) -> datetime:
    """An aware datetime seen in the dealer's time zone."""
    _require_aware(dt)
    return dt.astimezone(zone(tz_name))


def to_utc(dt: datetime) -> datetime:
    """An aware datetime converted to UTC."""
    _require_aware(dt)
    return dt.astimezone(UTC)


def local_to_utc(naive: datetime, tz_name: str) -> datetime:
    """A naive local wall-clock datetime (as a DMS export writes it) → aware UTC."""
    if naive.tzinfo is not None:
        raise ValueError("local_to_utc expects a naive local datetime")
    return naive.replace(tzinfo=zone(tz_name)).astimezone(UTC)


def utc_to_local(dt: datetime, tz_name: str) -> datetime:
    """Aware (any zone, usually UTC) → aware local time; same as to_local."""
    return to_local(dt, tz_name)


def local_date(dt: datetime, tz_name: str) -> date:
    """The dealer's calendar date of an aware instant."""
    return to_local(dt, tz_name).date()


def local_today(now: datetime, tz_name: str) -> date:
    """Today's date at the dealer for an injected aware ``now``."""
    return local_date(now, tz_name)

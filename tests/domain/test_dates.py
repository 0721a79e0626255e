"""care.domain.dates: clamped month arithmetic, birthdays, local time ↔ UTC."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

import pytest

from care.domain.dates import (
    add_months,
    birthday_in_year,
    end_of_day,
    end_of_month,
    first_of_month,
    local_date,
    local_datetime,
    local_to_utc,
    month_key,
    to_local,
    to_utc,
    utc_to_local,
)

SH = "Asia/Shanghai"


@pytest.mark.parametrize(
    ("start", "months", "expected"),
    [
        (date(2026, 1, 31), 1, date(2026, 2, 28)),
        (date(2028, 1, 31), 1, date(2028, 2, 29)),  # leap year
        (date(2025, 11, 30), 3, date(2026, 2, 28)),
        (date(2027, 11, 30), 3, date(2028, 2, 29)),
        (date(2026, 3, 31), -1, date(2026, 2, 28)),
        (date(2026, 5, 31), 1, date(2026, 6, 30)),
        (date(2026, 9, 15), 3, date(2026, 12, 15)),
        (date(2026, 11, 15), 2, date(2027, 1, 15)),  # across the year
        (date(2026, 1, 15), -1, date(2025, 12, 15)),
        (date(2026, 1, 15), -13, date(2024, 12, 15)),
        (date(2026, 6, 30), 0, date(2026, 6, 30)),
        (date(2026, 8, 31), 6, date(2027, 2, 28)),
        (date(2026, 8, 31), 24, date(2028, 8, 31)),
    ],
)
def test_add_months_clamps_to_the_end_of_the_month(start, months, expected):
    assert add_months(start, months) == expected


def test_month_helpers():
    assert first_of_month(date(2026, 2, 17)) == date(2026, 2, 1)
    assert end_of_month(date(2026, 2, 17)) == date(2026, 2, 28)
    assert end_of_month(date(2028, 2, 1)) == date(2028, 2, 29)
    assert end_of_month(date(2026, 12, 5)) == date(2026, 12, 31)
    assert month_key(date(2026, 3, 9)) == "2026-03"


@pytest.mark.parametrize(
    ("birthday", "year", "expected"),
    [
        (date(1988, 2, 29), 2028, date(2028, 2, 29)),  # leap year: the day itself
        (date(1988, 2, 29), 2026, date(2026, 2, 28)),  # common year: 28 February
        (date(1988, 2, 29), 2100, date(2100, 2, 28)),  # 2100 is not a leap year
        (date(1990, 7, 4), 2026, date(2026, 7, 4)),
        (date(1990, 2, 28), 2028, date(2028, 2, 28)),
    ],
)
def test_birthday_in_year(birthday, year, expected):
    assert birthday_in_year(birthday, year) == expected


def test_local_datetime_and_end_of_day_are_aware_local_times():
    start = local_datetime(date(2026, 3, 1), time(8, 30), SH)
    assert start.utcoffset() == timedelta(hours=8)
    assert (start.hour, start.minute) == (8, 30)
    assert to_utc(start) == datetime(2026, 3, 1, 0, 30, tzinfo=UTC)

    eod = end_of_day(date(2026, 3, 1), SH)
    assert (eod.hour, eod.minute, eod.second) == (23, 59, 59)
    assert eod.date() == date(2026, 3, 1)
    assert to_utc(eod) == datetime(2026, 3, 1, 15, 59, 59, tzinfo=UTC)


def test_local_date_of_an_instant_depends_on_the_zone():
    late_utc = datetime(2026, 3, 1, 17, 0, tzinfo=UTC)  # 01:00 on 2 March in Shanghai
    assert local_date(late_utc, SH) == date(2026, 3, 2)
    assert local_date(late_utc, "UTC") == date(2026, 3, 1)
    assert to_local(late_utc, SH).hour == 1
    assert utc_to_local(late_utc, SH) == to_local(late_utc, SH)


def test_local_to_utc_from_a_naive_wall_clock_time():
    assert local_to_utc(datetime(2026, 3, 2, 9, 0), SH) == datetime(2026, 3, 2, 1, 0, tzinfo=UTC)
    # a zone with daylight saving time: the offset follows the date
    assert local_to_utc(datetime(2026, 7, 1, 12, 0), "Europe/Berlin").hour == 10
    assert local_to_utc(datetime(2026, 1, 1, 12, 0), "Europe/Berlin").hour == 11


def test_naive_and_aware_mix_ups_are_refused():
    with pytest.raises(ValueError):
        to_local(datetime(2026, 1, 1, 12, 0), SH)
    with pytest.raises(ValueError):
        to_utc(datetime(2026, 1, 1, 12, 0))
    with pytest.raises(ValueError):
        local_to_utc(datetime(2026, 1, 1, 12, 0, tzinfo=UTC), SH)

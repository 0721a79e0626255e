"""care.calendars: the lunardate adapter (checked against lunardate itself)."""

from __future__ import annotations

from datetime import date

import pytest
from lunardate import LunarDate

from care.calendars import lunar_birthday_in_year, parse_lunar_mm_dd


def _month_has_30_days(year: int, month: int) -> bool:
    try:
        LunarDate(year, month, 30).to_solar_date()
    except ValueError:
        return False
    return True


def test_mid_autumn_2026_matches_lunardate():
    expected = LunarDate(2026, 8, 15).to_solar_date()
    assert expected == date(2026, 9, 25)  # the brief's example, confirmed by lunardate
    assert lunar_birthday_in_year("08-15", 2026) == expected


@pytest.mark.parametrize("year", [2024, 2025, 2026, 2027])
def test_new_year_is_the_first_day_of_the_lunar_year(year):
    assert lunar_birthday_in_year("01-01", year) == LunarDate(year, 1, 1).to_solar_date()


def test_late_lunar_months_fall_in_the_next_solar_year():
    day = lunar_birthday_in_year("12-20", 2025)
    assert day == LunarDate(2025, 12, 20).to_solar_date()
    assert day.year == 2026


def test_day_30_in_a_29_day_month_is_day_29():
    year, month = next(
        (y, m) for y in range(2024, 2030) for m in range(1, 13) if not _month_has_30_days(y, m)
    )
    assert (
        lunar_birthday_in_year(f"{month:02d}-30", year)
        == LunarDate(year, month, 29).to_solar_date()
    )


def test_day_30_in_a_30_day_month_is_kept():
    year, month = next(
        (y, m) for y in range(2024, 2030) for m in range(1, 13) if _month_has_30_days(y, m)
    )
    assert (
        lunar_birthday_in_year(f"{month:02d}-30", year)
        == LunarDate(year, month, 30).to_solar_date()
    )


def test_a_leap_month_birthday_is_greeted_in_the_regular_month():
    leap_year = next(y for y in range(2020, 2040) if LunarDate.leap_month_for_year(y))
    leap_month = LunarDate.leap_month_for_year(leap_year)
    regular = LunarDate(leap_year, leap_month, 10, False).to_solar_date()
    leap = LunarDate(leap_year, leap_month, 10, True).to_solar_date()
    assert regular != leap
    assert lunar_birthday_in_year(f"{leap_month:02d}-10", leap_year) == regular
    assert lunar_birthday_in_year(f"闰{leap_month:02d}-10", leap_year) == regular
    assert lunar_birthday_in_year(f"L{leap_month}-10", leap_year) == regular


@pytest.mark.parametrize("text", ["8-15", "08/15", "8月15日", " 08-15 "])
def test_lenient_spellings(text):
    assert parse_lunar_mm_dd(text) == (8, 15)


@pytest.mark.parametrize("text", ["", "13-01", "00-10", "08-31", "08-00", "abc", "0815", None])
def test_not_a_lunar_date(text):
    assert parse_lunar_mm_dd(text) is None
    assert lunar_birthday_in_year(text, 2026) is None


def test_year_outside_the_library_range():
    assert lunar_birthday_in_year("08-15", 1899) is None
    assert lunar_birthday_in_year("08-30", 2100) is None

"""Lunar calendar adapter over the third-party ``lunardate`` package, and the Chinese
public holidays of the maintained ``holidays`` package (:func:`chinese_holidays`).

It lives outside ``care/domain`` (which is standard-library only); the pure rules take
:func:`lunar_birthday_in_year` as a parameter (``care.domain.task_rules.propose_birthday``).
"""

from __future__ import annotations

import re
from datetime import date

from lunardate import LunarDate

# "MM-DD", also "M-D", "MM/DD", "MM月DD日"; an optional leap marker (闰 or L) in front is
# accepted and ignored (see below).
_LUNAR_RE = re.compile(r"^\s*(?:闰|[Ll])?\s*(\d{1,2})\s*[-/月.]\s*(\d{1,2})\s*日?\s*$")


def parse_lunar_mm_dd(mm_dd: str | None) -> tuple[int, int] | None:
    """``"08-15"`` → ``(8, 15)``; None when it is not a lunar month 1–12 and day 1–30."""
    m = _LUNAR_RE.match(mm_dd or "")
    if not m:
        return None
    month, day = int(m.group(1)), int(m.group(2))
    if not (1 <= month <= 12 and 1 <= day <= 30):
        return None
    return month, day


def lunar_birthday_in_year(mm_dd: str | None, year: int) -> date | None:
    """The solar date of lunar month-day ``mm_dd`` in lunar year ``year``.

    - Day 30 in a year whose month has only 29 days → day 29 (the month's last day).
    - A birthday in a leap month is greeted in the regular month of the same number:
      the regular month is always used (a leading 闰/L marker is ignored).
    - None for text that is not a lunar date, or a year outside the library's range
      (1900–2099).

    Lunar year ``year`` begins at the Chinese new year of solar ``year``, so months 11
    and 12 may fall in January–February of solar ``year + 1``.
    """
    parsed = parse_lunar_mm_dd(mm_dd)
    if parsed is None:
        return None
    month, day = parsed
    for candidate in (day, 29) if day == 30 else (day,):
        try:
            return LunarDate(year, month, candidate, False).to_solar_date()
        except ValueError:
            continue  # day out of range (a 29-day month) or year out of range
    return None


# The names ``holidays.China`` gives (language en_US) to each festival's first day; the
# observed and substituted days carry other names and are not festivals of their own.
_HOLIDAY_NAMES = {
    "New Year's Day": "new_year",
    "Chinese New Year (Spring Festival)": "spring_festival",
    "Tomb-Sweeping Day": "qingming",
    "Labor Day": "labour_day",
    "Dragon Boat Festival": "dragon_boat",
    "Mid-Autumn Festival": "mid_autumn",
    "National Day": "national_day",
}


def chinese_holidays(year: int) -> dict[str, date]:
    """The day of each holiday greeted by campaigns (care.domain.campaigns.HOLIDAYS) in
    solar ``year``: the public holidays from ``holidays.China`` (as the State Council
    publishes them), the Lantern Festival (lunar 1-15, not a day off, so not in that
    package) from ``lunardate``. A holiday the library does not know for the year is
    left out."""
    import holidays

    found: dict[str, date] = {}
    for day, name in sorted(holidays.China(years=year, language="en_US").items()):
        key = _HOLIDAY_NAMES.get(name)
        if key is not None and key not in found:
            found[key] = day
    try:
        found["lantern"] = LunarDate(year, 1, 15).to_solar_date()
    except ValueError:  # outside lunardate's years
        pass
    return found

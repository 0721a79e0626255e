"""The settings registry: parsing, bounds, kinds, cross-field rules and fallbacks."""

from __future__ import annotations

from datetime import time

import pytest

from care.domain.settings import (
    BY_KEY,
    GROUPS,
    RATE,
    SCORE,
    SETTINGS,
    SettingError,
    Settings,
    check_consistency,
    definition,
    parse_slots,
    parse_time,
)


def parse(key, text):
    return BY_KEY[key].parse(text)


def test_every_default_parses_and_is_canonical():
    for sdef in SETTINGS:
        assert sdef.canonical(sdef.default) == sdef.canonical(sdef.canonical(sdef.default)), sdef.key
        assert sdef.group in GROUPS, sdef.key
        assert sdef.label, sdef.key
    check_consistency(Settings.defaults().as_dict())


def test_keys_are_unique():
    assert len({s.key for s in SETTINGS}) == len(SETTINGS)


@pytest.mark.parametrize("text, value", [("600", 600), (" 5000 ", 5000), ("5,000", 5000), ("10_000", 10000)])
def test_int_accepts_plain_and_grouped_numbers(text, value):
    assert parse("maintenance_interval_km", text) == value


@pytest.mark.parametrize("text", ["", "three", "3.5", "1e3", "--2"])
def test_int_refuses_what_is_not_a_whole_number(text):
    with pytest.raises(SettingError) as info:
        parse("attempts_max", text)
    assert "whole number" in str(info.value)
    assert "'" not in str(info.value)  # no Python repr shown to a user
    assert info.value.template and "%(value)s" in info.value.template


@pytest.mark.parametrize(
    "key, text, message",
    [
        ("attempts_max", "0", "must be at least 1"),
        ("attempts_max", "11", "must be at most 10"),
        ("top_box_target", "1.5", "more than 1: write it as a percentage"),
        ("top_box_target", "-0.1", "between 0% and 100%"),
        ("top_box_target", "101%", "between 0% and 100%"),
        ("ssi_target", "101", "must be at most 100"),
        ("penalty_plan_late", "200-10001", "must be at most 10000"),
    ],
)
def test_bounds(key, text, message):
    with pytest.raises(SettingError, match=message):
        parse(key, text)


def test_bounds_are_inclusive():
    assert parse("attempts_max", "1") == 1
    assert parse("attempts_max", "10") == 10
    assert parse("top_box_target", "0") == 0.0


@pytest.mark.parametrize("text, value", [("60%", 0.6), (" 80% ", 0.8), ("0.6", 0.6), ("100%", 1.0), ("0%", 0.0)])
def test_percent_and_fraction(text, value):
    assert parse("insurance_sample_rate", text) == pytest.approx(value)


def test_float_canonical_spelling():
    assert BY_KEY["insurance_sample_rate"].canonical("60%") == "0.6"
    with pytest.raises(SettingError, match="not a number"):
        parse("insurance_sample_rate", "sixty")
    with pytest.raises(SettingError, match="between 0% and 100%"):
        parse("insurance_sample_rate", "120%")


# --- issue 10: each percentage setting is read, stored and shown one way ---------------


RATES = ["top_box_target", "insurance_sample_rate", "insurance_sample_target", "reminder_rate_target",
         "first_service_reminder_min"]


@pytest.mark.parametrize("key", RATES)
def test_rates_are_fractions_shown_as_percentages(key):
    sdef = BY_KEY[key]
    assert sdef.kind is RATE and sdef.kind.hint
    assert sdef.parse("80%") == sdef.parse("80 ％") == sdef.parse("0.8") == pytest.approx(0.8)
    assert sdef.canonical("80%") == "0.8"  # stored (and shown by `care settings`) as the fraction
    assert sdef.kind.show(sdef.parse("80%")) == "80%"  # shown on the settings page as a percentage
    assert sdef.kind.show(0.955) == "95.5%" and sdef.kind.show(0.07) == "7%"
    assert sdef.parse(sdef.kind.show(sdef.default_value)) == pytest.approx(sdef.default_value)
    with pytest.raises(SettingError, match="more than 1: write it as a percentage") as info:
        sdef.parse("80")  # 80 would be 8000 %: the user meant 80 %
    assert info.value.params == {"value": "80", "percent": "80%"}


def test_the_ssi_target_is_an_index_not_a_percentage():
    """The SSI is an index from 0 to 100 (domain.md §6, R23 "below 80"): "80", never 0.8."""
    sdef = BY_KEY["ssi_target"]
    assert sdef.kind is SCORE and sdef.kind.hint
    assert sdef.parse("80") == 80 and sdef.parse("85.5") == 85.5 and sdef.canonical("80") == "80"
    assert sdef.kind.show is None and sdef.kind.fmt(80.0) == "80"  # shown as stored
    with pytest.raises(SettingError, match="without %"):
        sdef.parse("80%")  # was taken as 0.8, an SSI target of 0.8 points


def test_every_number_kind_shows_what_it_parses():
    for sdef in SETTINGS:
        shown = (sdef.kind.show or sdef.kind.fmt)(sdef.default_value)
        assert sdef.parse(shown) == sdef.default_value or sdef.parse(shown) == pytest.approx(sdef.default_value)


@pytest.mark.parametrize("text, value", [("50-100", (50, 100)), ("80", (80, 80)), (" 200 - 300 ", (200, 300))])
def test_range(text, value):
    assert parse("penalty_plan_late", text) == value


def test_range_canonical_and_errors():
    sdef = BY_KEY["penalty_reminder_not_standard"]
    assert sdef.canonical("80-80") == "80"
    assert sdef.canonical(" 50 - 100 ") == "50-100"
    with pytest.raises(SettingError, match="upper bound is below"):
        sdef.parse("100-50")
    with pytest.raises(SettingError, match="whole number"):
        sdef.parse("50-lots")


@pytest.mark.parametrize("text, value", [("08:30", time(8, 30)), ("8:30", time(8, 30)), (" 23:59 ", time(23, 59)), ("0:00", time(0, 0))])
def test_time(text, value):
    assert parse_time(text) == value


@pytest.mark.parametrize("text", ["24:00", "12:60", "830", "8.30", "08:30pm", "", "ab:cd", "08:3"])
def test_bad_time(text):
    with pytest.raises(SettingError, match="time of day"):
        parse("workday_start", text)


def test_time_canonical():
    assert BY_KEY["workday_start"].canonical("8:05") == "08:05"


def test_slots_parse_sort_and_name():
    slots = parse_slots("evening=18:30-20:30; morning=09:00-12:00，14:00-17:30")
    assert [s.name for s in slots] == ["morning", "slot3", "evening"]
    assert slots[0].start == time(9) and slots[0].end == time(12)
    assert slots[0].contains(time(9)) and not slots[0].contains(time(12))


def test_slots_canonical_round_trip():
    sdef = BY_KEY["call_slots"]
    text = sdef.canonical(" morning = 9:00-12:00 , evening=18:30-20:30 ")
    assert text == "morning=09:00-12:00, evening=18:30-20:30"
    assert sdef.canonical(text) == text


@pytest.mark.parametrize(
    "text, message",
    [
        ("", "at least one time slot"),
        (" , ;", "at least one time slot"),
        ("morning=09:00-12:00, late=11:00-13:00", "overlap"),
        ("a=09:00-12:00, a=13:00-14:00", "names must differ"),
        ("morning=12:00-09:00", "ends before it starts"),
        ("morning=09:00-09:00", "ends before it starts"),
        ("morning 09:00 to 12:00", "not a slot"),
        ("morning=09:00-25:00", "time of day"),
    ],
)
def test_bad_slots(text, message):
    with pytest.raises(SettingError, match=message):
        parse("call_slots", text)


def test_adjacent_slots_do_not_overlap():
    assert len(parse_slots("a=09:00-12:00, b=12:00-13:00")) == 2


def test_text_and_timezone():
    assert parse("dealer_city", "  重庆 ") == "重庆"
    with pytest.raises(SettingError, match="may not be empty"):
        parse("dealer_city", "   ")
    assert parse("timezone", "Europe/Berlin") == "Europe/Berlin"
    with pytest.raises(SettingError, match="not a time zone"):
        parse("timezone", "Mars/Olympus")
    with pytest.raises(SettingError, match="not a time zone"):
        parse("timezone", "../etc/passwd")


def test_unknown_key():
    with pytest.raises(SettingError, match="unknown setting") as info:
        definition("no_such_thing")
    assert info.value.params == {"key": "no_such_thing"}


def _values(**changes):
    values = Settings.defaults().as_dict()
    values.update(changes)
    return values


@pytest.mark.parametrize(
    "changes, keys",
    [
        ({"first_service_open_months": 3}, ("first_service_open_months", "first_service_deadline_months")),
        ({"lapsed_min_days": 400}, ("lapsed_min_days", "lapsed_max_days")),
        ({"workday_start": time(18, 0)}, ("workday_start", "workday_end")),
        ({"workday_end": time(8, 30)}, ("workday_start", "workday_end")),
        ({"attempts_max": 10, "attempt_window_days": 3}, ("attempts_max", "attempt_window_days")),
    ],
)
def test_consistency_errors_name_both_settings(changes, keys):
    with pytest.raises(SettingError) as info:
        check_consistency(_values(**changes))
    assert info.value.keys == keys
    assert keys[0] in str(info.value) and keys[1] in str(info.value)


def test_attempts_may_fill_every_slot_of_the_window():
    check_consistency(_values(attempts_max=9, attempt_window_days=3))


def test_settings_access():
    s = Settings.defaults()
    assert s.attempts_max == 3 and s["attempts_max"] == 3
    assert s.top_box_target == pytest.approx(0.8)
    assert s.penalty_plan_late == (200, 300)
    assert [slot.name for slot in s.call_slots] == ["morning", "afternoon", "evening"]
    with pytest.raises(AttributeError):
        s.no_such_setting  # noqa: B018


def test_from_texts_uses_stored_values_and_falls_back_for_garbage():
    s = Settings.from_texts(
        {
            "attempts_max": "4",
            "workday_start": "25:99",  # garbage: default
            "call_slots": "nonsense",  # garbage: default
            "top_box_target": "5",  # out of range: default
            "dealer_city": "重庆",
            "retired_setting": "whatever",  # no longer in the registry: ignored
        }
    )
    assert s.attempts_max == 4
    assert s.workday_start == time(8, 30)
    assert len(s.call_slots) == 3
    assert s.top_box_target == pytest.approx(0.8)
    assert s.dealer_city == "重庆"
    assert "retired_setting" not in s.as_dict()


def test_setting_error_is_english_text_with_template_and_params():
    with pytest.raises(SettingError) as info:
        parse("attempts_max", "zwei")
    exc = info.value
    assert str(exc) == "“zwei” is not a whole number"
    assert exc.template % exc.params == str(exc)

"""The call-attempt policy R13/R14/R15 (care.domain.attempts)."""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo

import pytest

from care.domain.attempts import (
    AttemptRecord,
    Refusal,
    RefusalCode,
    check_call,
    counts_as_attempt,
    is_success,
    normalize_outcome,
    plan,
    slot_of,
    stored_attempt,
    violation,
)
from care.domain.settings import Settings, parse_slots
from care.domain.task_rules import TaskType

S = Settings.defaults()
SH = ZoneInfo("Asia/Shanghai")


def settings(**overrides) -> Settings:
    return Settings({**S.as_dict(), **overrides})


def at(day: date | str, hh: int, mm: int = 0) -> datetime:
    """Local (Shanghai) time on ``day``."""
    d = date.fromisoformat(day) if isinstance(day, str) else day
    return datetime.combine(d, time(hh, mm), tzinfo=SH)


def rec(when: datetime, outcome: str = "no_answer") -> AttemptRecord:
    return AttemptRecord(when, outcome)


def slot_names(p) -> list[str]:
    return [s.name for s in p.open_slots]


# --- outcomes --------------------------------------------------------------------------


def test_outcome_vocabulary():
    assert counts_as_attempt("no_answer") and counts_as_attempt("busy")
    assert counts_as_attempt("voicemail") and counts_as_attempt("machine")
    assert counts_as_attempt("failed") and counts_as_attempt("rejected")
    assert counts_as_attempt("in_progress")
    assert not counts_as_attempt("canceled")
    assert not counts_as_attempt("invalid_number")  # R12: correction queue, not an attempt
    assert is_success("completed") and is_success("reached")
    assert not is_success("no_answer") and not is_success("in_progress")
    assert normalize_outcome("no-answer") == "no_answer"
    assert normalize_outcome("ringing") == "in_progress"
    with pytest.raises(ValueError):
        normalize_outcome("whatever")


def test_attempt_record_needs_an_aware_time():
    with pytest.raises(ValueError):
        AttemptRecord(datetime(2026, 1, 30, 9, 0), "busy")  # noqa: DTZ001


def test_stored_attempt_is_read_by_counted_then_outcome_then_status():
    when = at("2026-01-30", 9, 30)
    # a terminal attempt: its outcome
    assert stored_attempt(when, "no_answer", "no_answer", counted=True) == AttemptRecord(when, "no_answer")
    # still ringing: no outcome yet, its status says it is in progress (and occupies its slot)
    assert stored_attempt(when, None, "ringing", counted=True) == AttemptRecord(when, "in_progress")
    # not counted: a call that never left our side (provider error), or canceled
    assert stored_attempt(when, "failed", "failed", counted=False) is None
    assert stored_attempt(when, "canceled", "canceled", counted=False) is None
    # counted by the provider's events after all: read as its outcome says
    assert stored_attempt(when, "busy", "busy", counted=True).outcome == "busy"
    # invalid_number is stored counted (it is a final state) and the policy does not count it
    record = stored_attempt(when, "invalid_number", "invalid_number", counted=True)
    assert record is not None and not counts_as_attempt(record.outcome)
    with pytest.raises(ValueError):
        stored_attempt(when, None, "whatever", counted=True)


def test_a_call_that_never_left_neither_counts_nor_uses_its_slot():
    never_left = stored_attempt(at("2026-01-30", 9, 30), "failed", "failed", counted=False)
    attempts = [r for r in (never_left,) if r is not None]
    p = plan(attempts, S, at("2026-01-30", 9, 31))
    assert p.used == 0 and p.used_slots == () and p.window_starts_on is None
    assert check_call(attempts, S, at("2026-01-30", 9, 31)) is None


# --- slots -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("hh", "mm", "expected"),
    [
        (8, 59, None),
        (9, 0, "morning"),
        (11, 59, "morning"),
        (12, 0, None),
        (13, 59, None),
        (14, 0, "afternoon"),
        (17, 29, "afternoon"),
        (17, 30, None),
        (18, 30, "evening"),
        (20, 29, "evening"),
        (20, 30, None),
    ],
)
def test_slot_boundaries_are_start_inclusive_end_exclusive(hh, mm, expected):
    slot = slot_of(at("2026-03-02", hh, mm), S)
    assert (slot.name if slot else None) == expected


def test_time_zone_utc_input_is_read_in_shanghai():
    # 01:30 UTC = 09:30 in Shanghai (morning); 04:00 UTC = 12:00 (quiet)
    assert slot_of(datetime(2026, 3, 2, 1, 30, tzinfo=UTC), S).name == "morning"
    assert slot_of(datetime(2026, 3, 2, 4, 0, tzinfo=UTC), S) is None
    # 23:00 UTC on Jan 29 is 07:00 Jan 30 in Shanghai: the window starts Jan 30
    p = plan([rec(datetime(2026, 1, 30, 1, 15, tzinfo=UTC))], S, at("2026-01-30", 15))
    assert p.window_starts_on == date(2026, 1, 30)
    assert p.used_slots[0].name == "morning"
    # an attempt at 16:00 UTC Jan 29 = 00:00 Jan 30 local: its day is Jan 30
    p = plan([rec(datetime(2026, 1, 29, 16, 0, tzinfo=UTC))], S, at("2026-01-30", 15))
    assert p.window_starts_on == date(2026, 1, 30)


def test_naive_now_is_refused():
    with pytest.raises(ValueError):
        plan([], S, datetime(2026, 1, 30, 9, 0))  # noqa: DTZ001


# --- the window ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("first", "last"),
    [("2026-01-30", "2026-02-01"), ("2026-11-30", "2026-12-02"), ("2024-02-28", "2024-03-01")],
)
def test_window_is_three_calendar_days_across_a_month_end(first, last):
    attempts = [rec(at(first, 9, 30))]
    last_day = date.fromisoformat(last)
    p = plan(attempts, S, at(first, 10))
    assert p.window_starts_on == date.fromisoformat(first)
    assert p.window_ends_at == datetime.combine(last_day, time(23, 59, 59), tzinfo=SH)
    assert not p.window_closed
    assert check_call(attempts, S, at(last, 18, 30)) is None  # last evening still open
    last_instant = datetime.combine(last_day, time(23, 59, 59, 999999), tzinfo=SH)
    assert not plan(attempts, S, last_instant).window_closed
    next_day = date.fromordinal(last_day.toordinal() + 1)
    assert plan(attempts, S, at(next_day, 0, 0)).window_closed


def test_window_closes_the_next_day():
    p = plan([rec(at("2026-01-30", 9, 30))], S, at("2026-02-02", 0, 0))
    assert p.window_closed and p.exhausted and p.fallback_due
    assert p.open_slots == ()


def test_no_attempt_yet_means_no_window_and_every_slot_open():
    p = plan([], S, at("2026-03-02", 13))
    assert p.window_starts_on is None and p.window_ends_at is None
    assert p.used == 0 and p.left == 3
    assert slot_names(p) == ["afternoon", "evening", "morning"]  # by next occurrence
    assert check_call([], S, at("2026-03-02", 14)) is None


# --- open slots and refusals -----------------------------------------------------------


def test_open_slots_list_the_remaining_occurrences_from_now():
    attempts = [rec(at("2026-01-30", 9, 30))]
    p = plan(attempts, S, at("2026-01-30", 15))
    assert [s.name for s in p.used_slots] == ["morning"]
    assert slot_names(p) == ["afternoon", "evening"]
    afternoon, evening = p.open_slots
    assert [o.day for o in afternoon.occurrences] == [
        date(2026, 1, 30),
        date(2026, 1, 31),
        date(2026, 2, 1),
    ]
    assert afternoon.occurrences[0].starts_at == at("2026-01-30", 14)
    assert afternoon.occurrences[0].ends_at == at("2026-01-30", 17, 30)
    assert p.current(at("2026-01-30", 15)) == afternoon.occurrences[0]
    assert len(evening.occurrences) == 3
    # on the last evening only that evening is left
    p = plan(attempts, S, at("2026-02-01", 19))
    assert [(s.name, [o.day for o in s.occurrences]) for s in p.open_slots] == [
        ("evening", [date(2026, 2, 1)])
    ]


def test_quiet_hours_refusal_names_the_next_slot():
    r = check_call([], S, at("2026-03-02", 12, 0))
    assert isinstance(r, Refusal)
    assert r.code == RefusalCode.QUIET_HOURS
    assert r.params == {"slot": "afternoon", "starts_at": at("2026-03-02", 14)}
    assert "afternoon" in str(r)
    # after the evening: tomorrow morning
    r = check_call([], S, at("2026-03-02", 20, 30))
    assert r.code == "quiet_hours" and r.params["starts_at"] == at("2026-03-03", 9)
    # the next *open* slot: the morning is used, so 12:00 → afternoon, 21:00 → tomorrow afternoon
    attempts = [rec(at("2026-03-02", 9, 10))]
    assert check_call(attempts, S, at("2026-03-02", 21)).params == {
        "slot": "afternoon",
        "starts_at": at("2026-03-03", 14),
    }


def test_a_call_in_a_used_slot_is_refused_also_the_next_day():
    attempts = [rec(at("2026-01-30", 9, 30), "busy")]
    r = check_call(attempts, S, at("2026-01-30", 11))
    assert r.code == RefusalCode.SLOT_USED
    assert r.params == {
        "slot": "morning",
        "next_slot": "afternoon",
        "next_starts_at": at("2026-01-30", 14),
    }
    assert check_call(attempts, S, at("2026-01-31", 9, 5)).code == "slot_used"
    assert check_call(attempts, S, at("2026-01-30", 14)) is None
    assert check_call(attempts, S, at("2026-01-31", 18, 30)) is None


def test_canceled_call_is_not_counted_and_does_not_use_its_slot():
    attempts = [rec(at("2026-01-30", 9, 30), "canceled")]
    p = plan(attempts, S, at("2026-01-30", 10))
    assert p.used == 0 and p.left == 3 and p.used_slots == ()
    assert p.window_starts_on is None
    assert check_call(attempts, S, at("2026-01-30", 10)) is None


def test_invalid_number_goes_to_correction_and_does_not_count():
    attempts = [rec(at("2026-01-30", 9, 30), "invalid_number")]
    p = plan(attempts, S, at("2026-01-30", 10))
    assert p.needs_number_correction and p.used == 0 and p.window_starts_on is None
    # corrected later: the next attempt starts the window
    attempts.append(rec(at("2026-02-03", 9, 30), "busy"))
    p = plan(attempts, S, at("2026-02-03", 10))
    assert not p.needs_number_correction and p.window_starts_on == date(2026, 2, 3)


def test_call_in_progress_occupies_its_slot_and_blocks_another_call():
    attempts = [rec(at("2026-01-30", 9, 30), "in_progress")]
    p = plan(attempts, S, at("2026-01-30", 9, 31))
    assert p.in_progress and p.used == 0 and p.left == 2
    assert [s.name for s in p.used_slots] == ["morning"]
    assert check_call(attempts, S, at("2026-01-30", 9, 31)).code == "call_in_progress"


def test_network_failure_may_be_retried_once_in_the_same_slot():
    failed = rec(at("2026-01-30", 9, 30), "failed")
    assert check_call([failed], S, at("2026-01-30", 9, 35)) is None
    assert check_call([failed], S, at("2026-01-31", 9, 35)).code == "slot_used"  # not another day
    retried = [failed, rec(at("2026-01-30", 9, 40), "no_answer")]
    p = plan(retried, S, at("2026-01-30", 9, 45))
    assert p.used == 1 and p.left == 2  # the retry replaces the failed attempt
    assert check_call(retried, S, at("2026-01-30", 9, 45)).code == "slot_used"  # once only
    twice = [failed, rec(at("2026-01-30", 9, 40), "failed")]
    assert check_call(twice, S, at("2026-01-30", 9, 45)).code == "slot_used"


# --- exhausted, fallback, reached ------------------------------------------------------


def test_three_failures_in_three_slots_exhaust_and_fallback_is_due():
    attempts = [
        rec(at("2026-01-30", 9, 30), "no_answer"),
        rec(at("2026-01-30", 15, 0), "busy"),
        rec(at("2026-01-31", 19, 0), "voicemail"),
    ]
    p = plan(attempts, S, at("2026-01-31", 19, 5))
    assert p.used == 3 and p.left == 0
    assert p.exhausted and p.fallback_due and not p.violation
    assert [s.name for s in p.used_slots] == ["morning", "afternoon", "evening"]
    assert p.open_slots == ()
    r = check_call(attempts, S, at("2026-02-01", 9, 30))
    assert r.code == RefusalCode.ATTEMPTS_EXHAUSTED and r.params == {"attempts_max": 3}


def test_two_failures_are_not_yet_exhausted():
    attempts = [rec(at("2026-01-30", 9, 30)), rec(at("2026-01-30", 15))]
    p = plan(attempts, S, at("2026-01-31", 8))
    assert p.used == 2 and p.left == 1 and not p.exhausted and not p.fallback_due
    assert slot_names(p) == ["evening"]


def test_reached_stops_everything():
    attempts = [rec(at("2026-01-30", 9, 30)), rec(at("2026-01-30", 14, 10), "completed")]
    p = plan(attempts, S, at("2026-02-05", 10))
    assert p.reached and not p.exhausted and not p.fallback_due and not p.violation
    assert p.open_slots == () and p.left == 0
    r = check_call(attempts, S, at("2026-01-30", 18, 45))
    assert r.code == RefusalCode.ALREADY_REACHED
    assert not violation(attempts, S, at("2026-02-05", 10))


def test_window_closed_refusal():
    attempts = [rec(at("2026-01-30", 9, 30)), rec(at("2026-01-30", 15))]
    r = check_call(attempts, S, at("2026-02-02", 9, 30))
    assert r.code == RefusalCode.WINDOW_CLOSED
    assert r.params == {"ends_at": datetime(2026, 2, 1, 23, 59, 59, tzinfo=SH)}
    p = plan(attempts, S, at("2026-02-02", 9, 30))
    assert p.exhausted and p.fallback_due  # R15: the task is not dropped
    assert not p.violation  # it was followed up once


def test_no_slot_left_in_the_window():
    attempts = [rec(at("2026-01-30", 19), "busy")]
    r = check_call(attempts, S, at("2026-02-01", 21))
    assert r.code == RefusalCode.NO_SLOT_LEFT


# --- R14 birthday ----------------------------------------------------------------------


def test_birthday_falls_back_after_the_first_failed_attempt():
    attempts = [rec(at("2026-05-20", 9, 10), "no_answer")]
    p = plan(attempts, S, at("2026-05-20", 9, 12), task_type=TaskType.BIRTHDAY)
    assert p.attempts_max == 1 and p.exhausted and p.fallback_due
    assert not p.violation
    assert (
        check_call(attempts, S, at("2026-05-20", 14), task_type=TaskType.BIRTHDAY).code
        == "attempts_exhausted"
    )
    assert not violation(attempts, S, at("2026-05-25", 9), task_type=TaskType.BIRTHDAY)


def test_birthday_falls_back_when_the_morning_window_passes():
    bd = TaskType.BIRTHDAY
    p = plan([], S, at("2026-05-20", 10, 29), task_type=bd)
    assert not p.fallback_due and slot_names(p) == ["morning"]
    assert len(p.open_slots[0].occurrences) == 1
    assert check_call([], S, at("2026-05-20", 10, 29), task_type=bd) is None
    p = plan([], S, at("2026-05-20", 10, 30), task_type=bd)
    assert p.window_closed and p.exhausted and p.fallback_due and p.open_slots == ()
    r = check_call([], S, at("2026-05-20", 11), task_type=bd)
    assert r.code == "window_closed" and r.params == {"ends_at": at("2026-05-20", 10, 30)}
    # the task's own due time wins
    due = at("2026-05-20", 11, 30)
    assert not plan([], S, at("2026-05-20", 11), task_type=bd, due_at=due).fallback_due


def test_birthday_call_in_progress_holds_the_fallback():
    attempts = [rec(at("2026-05-20", 10, 25), "in_progress")]
    p = plan(attempts, S, at("2026-05-20", 10, 31), task_type=TaskType.BIRTHDAY)
    assert p.exhausted and not p.fallback_due


# --- R15 -------------------------------------------------------------------------------


def test_r15_violation_one_failed_attempt_and_the_window_passed():
    attempts = [rec(at("2026-01-30", 9, 30), "no_answer")]
    assert not violation(attempts, S, at("2026-02-01", 21))
    assert violation(attempts, S, at("2026-02-02", 0, 0))
    p = plan(attempts, S, at("2026-02-02", 8))
    assert p.violation and p.exhausted and p.fallback_due and p.used == 1
    # a canceled follow-up is no follow-up
    assert violation([*attempts, rec(at("2026-01-31", 15), "canceled")], S, at("2026-02-02", 8))
    # a real follow-up is
    assert not violation([*attempts, rec(at("2026-01-31", 15), "busy")], S, at("2026-02-02", 8))
    assert not violation([], S, at("2026-02-02", 8))


# --- settings honoured -----------------------------------------------------------------


def test_changed_slots_and_attempts_max_are_honoured():
    s = settings(
        attempts_max=2,
        attempt_window_days=2,
        call_slots=parse_slots("a=08:00-10:00, b=10:00-12:00, c=13:00-15:00, d=16:00-19:00"),
    )
    assert slot_of(at("2026-01-30", 10), s).name == "b"
    attempts = [rec(at("2026-01-30", 8, 30))]
    p = plan(attempts, s, at("2026-01-30", 9))
    assert slot_names(p) == ["b", "c", "d"]
    assert p.window_ends_at == datetime(2026, 1, 31, 23, 59, 59, tzinfo=SH)
    attempts.append(rec(at("2026-01-31", 16, 30)))
    p = plan(attempts, s, at("2026-01-31", 17))
    assert p.used == 2 and p.exhausted and p.fallback_due
    # R15 with a 2-day window
    assert violation(attempts[:1], s, at("2026-02-01", 8))


def test_more_attempts_than_slots_reuse_a_slot_name_on_another_day():
    s = settings(
        attempts_max=4, call_slots=parse_slots("morning=09:00-12:00, afternoon=14:00-17:30")
    )
    attempts = [rec(at("2026-01-30", 9, 30)), rec(at("2026-01-30", 15))]
    p = plan(attempts, s, at("2026-01-30", 16))
    assert check_call(attempts, s, at("2026-01-30", 16)).code == "slot_used"  # same day
    assert check_call(attempts, s, at("2026-01-31", 9, 30)) is None
    attempts.append(rec(at("2026-01-31", 9, 30)))
    assert check_call(attempts, s, at("2026-02-01", 9, 30)).code == "slot_used"  # twice max
    assert check_call(attempts, s, at("2026-02-01", 14, 30)) is None
    assert p.left == 2

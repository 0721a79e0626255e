"""When the window of a task nobody called closes (care.domain.attempts: first_call_*).

A task without a counted attempt has no R13 window; its own window (domain.md §3,
created … deadline) closes at the end of its deadline's local day + expiry_grace_days, a
birthday greeting at its deadline (R6). From then on the plan says: closed, exhausted,
fallback due, and a first call is refused.
"""

from __future__ import annotations

from datetime import date, datetime, time
from zoneinfo import ZoneInfo

from care.domain.attempts import (
    AttemptRecord,
    check_call,
    first_call_deadline,
    first_call_last_day,
    first_call_overdue,
    plan,
)
from care.domain.settings import BY_KEY, Settings
from care.domain.task_rules import TaskType

S = Settings.defaults()
SH = ZoneInfo("Asia/Shanghai")
BD = TaskType.BIRTHDAY


def at(day: str, hh: int, mm: int = 0, ss: int = 0) -> datetime:
    return datetime.combine(date.fromisoformat(day), time(hh, mm, ss), tzinfo=SH)


def settings(**overrides) -> Settings:
    return Settings({**S.as_dict(), **overrides})


DUE = at("2026-05-20", 23, 59, 59)  # a day deadline (R1–R5, R8–R10): 23:59:59 local


def test_the_grace_setting_defaults_to_none_and_is_bounded():
    assert S.expiry_grace_days == 0 and S.sweep_interval_minutes == 5
    assert BY_KEY["expiry_grace_days"].minimum == 0 and BY_KEY["sweep_interval_minutes"].minimum == 1


def test_a_day_deadline_closes_at_the_end_of_its_day():
    assert first_call_last_day(S, DUE) == date(2026, 5, 20)
    assert first_call_deadline(S, DUE) == at("2026-05-20", 23, 59, 59)
    assert not first_call_overdue(S, DUE, at("2026-05-20", 23, 59, 59))
    assert first_call_overdue(S, DUE, at("2026-05-21", 0, 0))


def test_an_hour_deadline_closes_at_the_end_of_its_day_too():
    """R7: delivery + 24 h, e.g. 10:45 — a late first call is still accepted that day."""
    due = at("2026-05-20", 10, 45)
    assert not first_call_overdue(S, due, at("2026-05-20", 18, 0))
    assert first_call_overdue(S, due, at("2026-05-21", 0, 0))


def test_grace_days_move_the_end():
    two = settings(expiry_grace_days=2)
    assert first_call_last_day(two, DUE) == date(2026, 5, 22)
    assert not first_call_overdue(two, DUE, at("2026-05-22", 22, 0))
    assert first_call_overdue(two, DUE, at("2026-05-23", 0, 0))


def test_a_birthday_closes_at_its_deadline_whatever_the_grace():
    due = at("2026-05-20", 10, 30)
    for s in (S, settings(expiry_grace_days=3)):
        assert first_call_deadline(s, due, task_type=BD) == due
        assert not first_call_overdue(s, due, at("2026-05-20", 10, 29), task_type=BD)
        assert first_call_overdue(s, due, at("2026-05-20", 10, 30), task_type=BD)


def test_plan_of_a_task_nobody_called():
    before = plan([], S, at("2026-05-20", 15), due_at=DUE)
    assert not before.window_closed and not before.fallback_due
    assert before.first_call_by == at("2026-05-20", 23, 59, 59) and before.window_ends_at is None
    # the first call must come before the window closes: only today's slots are offered
    assert {o.day for s in before.open_slots for o in s.occurrences} == {date(2026, 5, 20)}
    assert check_call([], S, at("2026-05-20", 15), due_at=DUE) is None
    after = plan([], S, at("2026-05-21", 9, 30), due_at=DUE)
    assert after.window_closed and after.exhausted and after.fallback_due and after.open_slots == ()
    assert not after.violation  # R15 needs a failed first attempt
    refusal = check_call([], S, at("2026-05-21", 9, 30), due_at=DUE)
    assert refusal.code == "window_closed" and refusal.params == {"ends_at": at("2026-05-20", 23, 59, 59)}


def test_without_due_at_a_task_nobody_called_never_closes():
    assert not plan([], S, at("2027-01-01", 10)).window_closed


def test_once_called_the_r13_window_rules_not_the_deadline():
    """A first attempt on the deadline day still gets its 3 days (R13)."""
    attempts = [AttemptRecord(at("2026-05-20", 19, 0), "no_answer")]
    p = plan(attempts, S, at("2026-05-22", 10), due_at=DUE)
    assert not p.window_closed and p.first_call_by is None
    assert check_call(attempts, S, at("2026-05-22", 10), due_at=DUE) is None
    closed = plan(attempts, S, at("2026-05-23", 0, 0), due_at=DUE)
    assert closed.window_closed and closed.fallback_due and closed.violation


def test_birthday_plan_names_its_deadline_as_the_first_call_deadline():
    due = at("2026-05-20", 10, 30)
    p = plan([], S, at("2026-05-20", 9), task_type=BD, due_at=due)
    assert p.first_call_by == due and not p.fallback_due
    assert plan([], S, at("2026-05-20", 10, 30), task_type=BD, due_at=due).fallback_due

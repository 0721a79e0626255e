"""Deadlines act by themselves (issue 10 item 4): the deadline sweep with frozen time.

``care.services.fallback.sweep_fallbacks`` (run by ``care sweep`` and the scheduler) at
injected instants: a birthday at its deadline (R6, R14), tasks that expire with and
without attempts, with and without a fallback, the R15 violation, a second run, a
catch-up after missed runs, and two processes closing the same task. No sleeps: every
``now`` is passed in.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select, text

from care.models import CallAttempt, CareTask, OutboxMessage, ReminderFailure, Setting
from care.services import fallback, sweep, tasks
from care.services import worklist as wl
from tests import factories

SH = ZoneInfo("Asia/Shanghai")
D = date(2026, 3, 16)  # a Monday


def local(day: date, hh: int, mm: int = 0, ss: int = 0) -> datetime:
    """The UTC instant of a dealer-local wall-clock time."""
    return datetime.combine(day, time(hh, mm, ss), tzinfo=SH).astimezone(UTC)


def day(n: int) -> date:
    return D + timedelta(days=n)


def birthday(session, on: date = D, **kw) -> CareTask:
    return factories.make_task(
        session, kw.pop("customer", None), type="birthday", fallback="sms", opens_on=on,
        due_at=local(on, 10, 30), reason_id="birthday.reason", reason_params={"birthday": on.isoformat()}, **kw,
    )  # fmt: skip


def reminder(session, due: date = D, **kw) -> CareTask:
    """A first-service reminder whose deadline is the end of ``due`` (SMS fallback)."""
    customer = kw.pop("customer", None) or factories.make_customer(session)
    vehicle = factories.make_vehicle(session, customer)
    kw.setdefault("fallback", "sms")
    return factories.make_task(
        session, customer, vehicle_id=vehicle.id, opens_on=due - timedelta(days=30),
        due_at=local(due, 23, 59, 59), **kw,
    )  # fmt: skip


def attempt(session, task, started_at, outcome="no_answer", **kw) -> CallAttempt:
    values = {
        "task_id": task.id, "customer_id": task.customer_id, "provider": "sim", "to_number": "+8613800000000",
        "status": "completed" if outcome == "completed" else (outcome or "").replace("_", "-"), "outcome": outcome,
        "started_at": started_at, "ended_at": started_at + timedelta(minutes=1), "finalized_at": started_at,
    }  # fmt: skip
    values.update(kw)
    row = CallAttempt(**values)
    session.add(row)
    session.flush()
    return row


def messages(session) -> list[OutboxMessage]:
    return list(session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)))


def failure_of(session, task) -> ReminderFailure | None:
    return session.scalar(select(ReminderFailure).where(ReminderFailure.task_id == task.id))


def run(session, now: datetime) -> dict:
    return fallback.sweep_fallbacks(session, now=now)


# --- the birthday greeting (R6, R14) -------------------------------------------------------


def test_birthday_nobody_called_gets_its_sms_at_the_deadline_the_same_morning(session):
    task = birthday(session)
    assert run(session, local(D, 10, 29))["expired"] == 0  # before: nothing
    assert messages(session) == [] and task.status == "open"

    counts = run(session, local(D, 10, 30))  # at the deadline
    assert counts["expired"] == 1 and counts["birthday_fallbacks"] == 1 and counts["queued"] == 1
    [sms] = messages(session)
    assert sms.status == "queued" and sms.channel == "sms" and sms.idempotency_key == f"fallback:{task.id}"
    assert sms.next_attempt_at == local(D, 10, 30) and "生日快乐" in sms.body
    assert task.status == "expired" and task.outcome == "expired" and task.closed_at == local(D, 10, 30)
    record = failure_of(session, task)
    assert record.reason == "no_attempt" and record.attempt_ids == [] and record.message_id == sms.id


def test_birthday_after_a_failed_greeting_call_fails_with_its_sms(session):
    task = birthday(session)
    attempt(session, task, local(D, 9, 5), "busy")  # the hook never ran (a crash): the sweep catches up
    counts = run(session, local(D, 9, 10))
    assert counts["failed"] == 1 and counts["birthday_fallbacks"] == 1
    assert task.status == "failed" and failure_of(session, task).reason == "birthday"
    assert messages(session)[0].status == "queued"


def test_birthday_swept_the_next_day_is_closed_without_its_sms(session):
    task = birthday(session)
    counts = run(session, local(day(1), 9, 0))  # the server was down at 10:30
    assert counts["expired"] == 1 and counts["queued"] == 0 and counts["skipped"] == 1
    assert counts["birthday_fallbacks"] == 0
    [sms] = messages(session)
    assert sms.status == "skipped" and sms.last_error == "too_late"
    assert task.status == "expired" and failure_of(session, task).reason == "no_attempt"


def test_birthday_swept_after_the_sms_hours_of_its_day_is_too_late_as_well(session):
    """A text queued at 21:00 would wait for the morning (outbox.sms_hours) and greet a day late."""
    birthday(session)
    run(session, local(D, 20, 30))
    assert messages(session)[0].last_error == "too_late"


def test_birthday_of_a_customer_refusing_sms(session):
    customer = factories.make_customer(session, no_sms=True)
    task = birthday(session, customer=customer)
    counts = run(session, local(D, 10, 31))
    assert counts["expired"] == 1 and counts["skipped"] == 1
    assert messages(session)[0].last_error == "consent" and task.status == "expired"


# --- expiry of other tasks -------------------------------------------------------------------


def test_a_task_nobody_called_expires_after_its_deadline_day_with_its_fallback(session):
    task = reminder(session, due=D)
    assert run(session, local(D, 23, 0))["expired"] == 0  # its last day: still open
    counts = run(session, local(day(1), 0, 5))
    assert counts == {
        "checked": 1, "queued": 1, "skipped": 0, "failed": 0, "expired": 1, "birthday_fallbacks": 0, "violations": 0,
    }  # fmt: skip
    [sms] = messages(session)
    assert "首保" in sms.body and sms.status == "queued"
    assert task.status == "expired" and failure_of(session, task).reason == "no_attempt"


def test_a_task_without_fallback_expires_without_a_message(session):
    task = factories.make_task(
        session, type="service_callback", due_at=local(D, 23, 59, 59), opens_on=day(-3),
        reason_id="service_callback.reason", reason_params={},
    )  # fmt: skip
    counts = run(session, local(day(1), 9, 0))
    assert counts["expired"] == 1 and counts["queued"] == counts["skipped"] == 0
    assert messages(session) == []
    record = failure_of(session, task)
    assert record.reason == "no_attempt" and record.message_id is None and task.status == "expired"


def test_the_grace_setting_keeps_a_task_nobody_called_open_longer(session):
    session.add(Setting(key="expiry_grace_days", value="2"))
    task = reminder(session, due=D)
    assert run(session, local(day(2), 20, 0))["expired"] == 0 and task.status == "open"
    assert run(session, local(day(3), 0, 0))["expired"] == 1 and task.status == "expired"


def test_first_attempt_failed_and_not_followed_up_is_an_r15_violation(session):
    user = factories.make_user(session, "specialist")
    task = reminder(session, due=day(10), assignee=user)
    first = attempt(session, task, local(D, 10, 0), user_id=user.id)
    assert run(session, local(day(2), 20, 0))["expired"] == 0  # the 3 days are not over
    counts = run(session, local(day(3), 0, 0))
    assert counts["expired"] == 1 and counts["violations"] == 1 and counts["queued"] == 1
    record = failure_of(session, task)
    assert record.reason == "not_followed_up" and record.attempt_ids == [first.id]
    assert task.status == "expired"
    # the derived R15 list names the same task, with the specialist of the first attempt
    [v] = fallback.violations(session, month=date(2026, 3, 1), now=local(day(3), 0, 0))
    assert v.task.id == task.id and v.specialist.id == user.id and v.attempt_id == first.id


def test_two_attempts_then_the_window_closed_is_expired_without_violation(session):
    task = reminder(session, due=day(10))
    a1 = attempt(session, task, local(D, 10, 0))
    a2 = attempt(session, task, local(day(1), 15, 0), "busy")
    counts = run(session, local(day(3), 1, 0))
    assert counts["expired"] == 1 and counts["violations"] == 0
    record = failure_of(session, task)
    assert record.reason == "window_closed" and record.attempt_ids == [a1.id, a2.id]


def test_three_failed_attempts_fail_the_task_even_when_its_type_has_no_fallback(session):
    task = factories.make_task(
        session, type="delivery_survey", due_at=local(day(2), 23, 59, 59), opens_on=D,
        reason_id="delivery_survey.reason", reason_params={},
    )  # fmt: skip
    for n, (h, outcome) in enumerate(((10, "no_answer"), (15, "busy"), (19, "no_answer"))):
        last = attempt(session, task, local(D, h, 0), outcome)
        assert n == 2 or fallback.on_attempt_final(session, last, now=local(D, h, 2)) is None
    record = fallback.on_attempt_final(session, last, now=local(D, 19, 2))
    assert record is not None and record.reason == "attempts_exhausted" and record.message_id is None
    assert task.status == "failed" and task.outcome == "reminder_failed"
    assert run(session, local(day(5), 9, 0))["failed"] == 0  # nothing left for the sweep


def test_a_reached_task_waits_for_its_outcome(session):
    task = reminder(session, due=D)
    attempt(session, task, local(D, 10, 0), "completed")
    assert run(session, local(day(10), 9, 0))["expired"] == 0
    assert task.status == "open" and messages(session) == []


def test_a_call_in_progress_holds_the_expiry(session):
    task = reminder(session, due=day(10))
    attempt(session, task, local(D, 10, 0))
    attempt(session, task, local(day(2), 20, 25), None, status="answered", ended_at=None)
    assert run(session, local(day(3), 0, 1))["expired"] == 0 and task.status == "open"


def test_a_blocked_task_expires_when_its_own_window_closes(session):
    customer = factories.make_customer(session, mobile=None)
    task = reminder(session, due=D, customer=customer, status="blocked")
    assert run(session, local(D, 22, 0))["expired"] == 0
    counts = run(session, local(day(1), 0, 1))
    assert counts["expired"] == 1 and counts["skipped"] == 1
    assert failure_of(session, task).reason == "number_not_corrected"
    assert messages(session)[0].last_error == "no_address" and task.status == "expired"


def test_an_expired_task_is_open_nowhere(session):
    user = factories.make_user(session, "specialist")
    task = reminder(session, due=D, assignee=user)
    other = reminder(session, due=day(20), customer=task.customer, assignee=user)
    run(session, local(day(1), 9, 0))
    assert [t.id for t in tasks.open_tasks_of(session, task.customer_id)] == [other.id]
    page = wl.worklist(session, wl.WorklistFilter(), user=user, now=local(day(1), 9, 0))
    assert [t.id for c in page.contacts for t in c.tasks] == [other.id]


# --- idempotent, catch-up, concurrency -------------------------------------------------------


def test_a_second_run_changes_nothing(session):
    birthday(session)
    reminder(session, due=D)
    first = run(session, local(day(1), 9, 0))
    assert first["expired"] == 2
    before = (len(messages(session)), session.scalar(select(func.count(ReminderFailure.id))))
    again = run(session, local(day(1), 9, 5))
    assert again == {
        "checked": 0, "queued": 0, "skipped": 0, "failed": 0, "expired": 0, "birthday_fallbacks": 0, "violations": 0,
    }  # fmt: skip
    assert (len(messages(session)), session.scalar(select(func.count(ReminderFailure.id)))) == before == (2, 2)


def test_one_run_catches_up_the_runs_missed_while_the_server_was_down(session):
    """Down from Monday 09:00 to Thursday 10:45: Monday's and Wednesday's birthdays get no
    SMS (too late), Thursday's gets it now; the reminders due Monday and Tuesday expire,
    the one due Thursday stays open, the 3-day window of Monday's attempt is over."""
    old_birthdays = [birthday(session, on=D), birthday(session, on=day(2))]
    today_birthday = birthday(session, on=day(3))
    due_monday, due_tuesday, due_thursday = reminder(session, due=D), reminder(session, due=day(1)), reminder(session, due=day(3))
    called = reminder(session, due=day(10))
    attempt(session, called, local(D, 10, 0))
    counts = run(session, local(day(3), 10, 45))
    assert counts["expired"] == 6 and counts["violations"] == 1 and counts["birthday_fallbacks"] == 1
    assert [t.status for t in old_birthdays] == ["expired", "expired"]
    assert {m.task_id: (m.status, m.last_error) for m in messages(session)} == {
        old_birthdays[0].id: ("skipped", "too_late"),
        old_birthdays[1].id: ("skipped", "too_late"),
        today_birthday.id: ("queued", None),
        due_monday.id: ("queued", None),
        due_tuesday.id: ("queued", None),
        called.id: ("queued", None),
    }
    assert due_thursday.status == "open"


def test_a_task_another_process_closed_meanwhile_is_left_alone(session):
    """The sweep read the task open; before it claims it, another process recorded an
    outcome. The claim (a conditional UPDATE) fails: no message, no record."""
    task = reminder(session, due=D)
    session.execute(text("UPDATE care_tasks SET status = 'done', outcome = 'will_come' WHERE id = :id"), {"id": task.id})
    assert task.status == "open"  # what this session still believes
    assert fallback.settle(session, task, now=local(day(1), 9, 0)) is None
    assert messages(session) == [] and failure_of(session, task) is None
    session.refresh(task)
    assert task.status == "done"


def test_a_call_started_meanwhile_is_seen_after_the_claim(session):
    """The first look (stale attempts: none) says expire; after the claim the task's
    attempts are read again and a call placed meanwhile holds it."""
    task = reminder(session, due=day(10))
    stale: list[CallAttempt] = []
    attempt(session, task, local(day(1), 10, 0), None, status="ringing", ended_at=None)
    assert fallback.settle(session, task, now=local(day(11), 9, 0), attempts=stale) is None
    assert task.status == "open" and failure_of(session, task) is None


def test_the_whole_sweep_reports_the_deadlines(session):
    birthday(session)
    counts = sweep.sweep(session, local(D, 10, 35))
    assert counts["fallbacks"]["expired"] == 1 and counts["fallbacks"]["birthday_fallbacks"] == 1
    assert sweep.lock_sweep(session, wait=False)  # the same transaction may take it again


@pytest.mark.parametrize("outcome", ["no_answer", "busy"])
def test_the_final_hook_expires_a_task_whose_window_closed_meanwhile(session, outcome):
    """A late terminal event after the 3 days: the hook closes the task as expired (R15)."""
    task = reminder(session, due=day(10))
    first = attempt(session, task, local(D, 20, 25), outcome)
    record = fallback.on_attempt_final(session, first, now=local(day(3), 8, 0))
    assert record is not None and record.reason == "not_followed_up" and task.status == "expired"

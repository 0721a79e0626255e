"""Calls recorded by hand count like a provider's; late provider events reconcile (issue 10 item 5)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from care.models import OutboxMessage, ReminderFailure
from care.models.call import CallAttempt
from care.services import calls as call_service
from care.services import manual_calls as svc
from care.services.outcomes import record_outcome
from care.services.settings import load_settings
from tests.factories import make_customer, make_task, make_user
from tests.services.call_event_helpers import generic, post

D1_MORNING = datetime(2026, 5, 11, 2, 0, tzinfo=UTC)  # 10:00 Shanghai
D1_AFTERNOON = datetime(2026, 5, 11, 7, 0, tzinfo=UTC)  # 15:00
D1_EVENING = datetime(2026, 5, 11, 11, 0, tzinfo=UTC)  # 19:00
D1_QUIET = datetime(2026, 5, 11, 5, 0, tzinfo=UTC)  # 13:00


@pytest.fixture
def w(session):
    me = make_user(session, "specialist")
    customer = make_customer(session)
    tasks = [
        make_task(session, customer, assignee=me, now=D1_MORNING, type=kind, fallback="sms")
        for kind in ("first_service", "inspection")
    ]
    return {"s": session, "me": me, "tasks": tasks, "settings": load_settings(session)}


def manual(w, at, result="no_answer", now=None, **kw):
    return svc.record_manual_call(
        w["s"], w["tasks"], user=w["me"], at=at, result=result, now=now or at + timedelta(minutes=5),
        settings=w["settings"], **kw,
    )  # fmt: skip


def plan(w, task, now):
    attempts = call_service.attempts_of(w["s"], task.id)
    return call_service.plan_for(task, attempts, w["settings"], now)


def test_a_call_from_the_desk_phone_counts_for_each_task(w):
    a = manual(w, D1_MORNING)
    assert (a.provider, a.outcome, a.counted, a.slot) == ("manual", "no_answer", True, "morning")
    for task in w["tasks"]:
        p = plan(w, task, D1_MORNING)
        assert p.used == 1 and [u.name for u in p.used_slots] == ["morning"]


def test_three_hand_attempts_exhaust_the_task_and_send_the_fallback(w):
    for at in (D1_MORNING, D1_AFTERNOON, D1_EVENING):
        manual(w, at, "busy")
    s = w["s"]
    assert {t.status for t in w["tasks"]} == {"failed"}
    assert s.query(ReminderFailure).count() == 2
    assert s.query(OutboxMessage).count() == 2


def test_a_reached_customer_by_hand_is_reached(w):
    a = manual(w, D1_MORNING, "completed")
    assert a.answered and a.outcome == "completed"
    assert plan(w, w["tasks"][0], D1_MORNING).reached


def test_the_hand_result_goes_onto_the_call_in_progress_and_late_events_do_not_double_it(w):
    """The app rang, the provider's result did not come: the hand result is that call's;
    the provider's late events fill in the duration, never a second attempt."""
    s = w["s"]
    ringing = call_service.start_contact_call(s, w["tasks"], user=w["me"], now=D1_MORNING, settings=w["settings"])
    a = manual(w, D1_MORNING, "no_answer")
    assert a.id == ringing.id and a.outcome == "no_answer"
    post(s, generic(a.id, "late-1", "ringing", sequence=1), now=D1_MORNING + timedelta(minutes=20))
    post(s, generic(a.id, "late-2", "no_answer", sequence=2, duration_s=31), now=D1_MORNING + timedelta(minutes=21))
    s.refresh(a)
    assert s.query(CallAttempt).count() == 1
    assert (a.outcome, a.duration_s) == ("no_answer", 31)
    assert plan(w, w["tasks"][0], D1_MORNING).used == 1


def test_the_hand_result_wins_over_a_contradicting_late_terminal(w):
    s = w["s"]
    ringing = call_service.start_contact_call(s, w["tasks"], user=w["me"], now=D1_MORNING, settings=w["settings"])
    manual(w, D1_MORNING, "busy")
    post(s, generic(ringing.id, "late-3", "completed", sequence=3, duration_s=5), now=D1_MORNING + timedelta(minutes=30))
    s.refresh(ringing)
    assert ringing.outcome == "busy" and ringing.duration_s == 5


def test_a_call_the_provider_never_placed_is_not_the_desk_phone_call(w):
    s = w["s"]
    broken = call_service.start_contact_call(s, w["tasks"], user=w["me"], now=D1_MORNING, settings=w["settings"])
    broken.error, broken.status, broken.outcome, broken.rank, broken.counted = "down", "failed", "failed", 4, False
    s.flush()
    a = manual(w, D1_MORNING + timedelta(minutes=2))
    assert a.id != broken.id and a.counted
    assert plan(w, w["tasks"][0], D1_MORNING).used == 1


def test_one_slot_used_by_hand_refuses_a_second_hand_attempt_in_it(w):
    manual(w, D1_MORNING)
    with pytest.raises(svc.ManualCallRefused):
        manual(w, D1_MORNING + timedelta(minutes=30))


@pytest.mark.parametrize(
    ("at", "result", "now", "field"),
    [
        (D1_MORNING, "maybe", D1_MORNING, "result"),
        (D1_MORNING + timedelta(hours=1), "busy", D1_MORNING, "at"),  # in the future
        (D1_MORNING, "busy", D1_MORNING + timedelta(hours=25), "at"),  # older than the setting
        (D1_QUIET, "busy", D1_QUIET, "at"),  # quiet hours: no attempt
        (datetime(2026, 5, 11, 10, 0), "busy", D1_MORNING, "at"),  # naive
    ],
)
def test_bad_input_is_refused_and_nothing_is_written(w, at, result, now, field):
    with pytest.raises(svc.ManualCallRefused) as info:
        manual(w, at, result, now=now)
    assert info.value.field == field
    assert w["s"].query(CallAttempt).count() == 0


def test_not_reached_by_hand_counts_once_per_call(w):
    s, task = w["s"], w["tasks"][0]
    first = record_outcome(s, task, "not_reached", detail={}, note=None, script_version_id=None, user=w["me"], now=D1_MORNING)
    assert first.detail["attempt_id"]
    again = record_outcome(
        s, task, "not_reached", detail={}, note=None, script_version_id=None, user=w["me"], now=D1_MORNING + timedelta(minutes=10)
    )  # fmt: skip
    assert again.detail["not_counted"] == "same_call"
    assert plan(w, task, D1_MORNING).used == 1
    later = record_outcome(s, task, "not_reached", detail={}, note=None, script_version_id=None, user=w["me"], now=D1_AFTERNOON)
    assert later.detail["attempt_id"] and plan(w, task, D1_AFTERNOON).used == 2


def test_not_reached_after_the_providers_no_answer_is_the_same_call(w):
    s, task = w["s"], w["tasks"][0]
    a = call_service.start_contact_call(s, [task], user=w["me"], now=D1_MORNING, settings=w["settings"])
    post(s, generic(a.id, "p-1", "no_answer", sequence=1), now=D1_MORNING + timedelta(minutes=1))
    o = record_outcome(
        s, task, "not_reached", detail={}, note=None, script_version_id=None, user=w["me"], now=D1_MORNING + timedelta(minutes=2)
    )  # fmt: skip
    assert o.detail == {"not_counted": "same_call"}
    assert s.query(CallAttempt).count() == 1


def test_not_reached_on_several_tasks_at_once_is_one_call(w):
    """The contact page records "not reached" on each row in one go: one hand call,
    counted once for each task."""
    s, (first, second) = w["s"], w["tasks"]
    a = record_outcome(s, first, "not_reached", detail={}, note=None, script_version_id=None, user=w["me"], now=D1_MORNING)
    b = record_outcome(s, second, "not_reached", detail={}, note=None, script_version_id=None, user=w["me"], now=D1_MORNING)
    assert a.detail["attempt_id"] == b.detail["attempt_id"]
    assert s.query(CallAttempt).count() == 1
    for task in (first, second):
        assert plan(w, task, D1_MORNING).used == 1

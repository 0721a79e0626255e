"""One call per contact (issue 10 item 1): one attempt feeds every task's R13 budget."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from care.models import CallAttemptTask, OutboxMessage, ReminderFailure
from care.models.call import CallAttempt
from care.services import calls as svc
from care.services import fallback
from care.services.settings import load_settings
from tests.factories import make_customer, make_task, make_user

MORNING = datetime(2026, 5, 11, 2, 0, tzinfo=UTC)  # 10:00 Shanghai, morning slot
AFTERNOON = datetime(2026, 5, 11, 7, 0, tzinfo=UTC)  # 15:00, afternoon slot
NEXT_MORNING = datetime(2026, 5, 12, 2, 0, tzinfo=UTC)


@pytest.fixture
def contact(session):
    me = make_user(session, "specialist")
    customer = make_customer(session)
    tasks = [
        make_task(session, customer, assignee=me, now=MORNING, type=kind, fallback="sms")
        for kind in ("first_service", "inspection", "warranty")
    ]
    return {"s": session, "me": me, "customer": customer, "tasks": tasks, "settings": load_settings(session)}


def call(w, now, tasks=None):
    return svc.start_contact_call(
        w["s"], tasks or w["tasks"], user=w["me"], now=now, settings=w["settings"]
    )


def end(session, attempt, outcome, now):
    attempt.status = attempt.outcome = outcome
    attempt.rank = 4
    session.flush()
    fallback.on_attempt_final(session, attempt, now=now)


def linked(session, attempt) -> list[int]:
    return sorted(session.scalars(
        CallAttemptTask.__table__.select().with_only_columns(CallAttemptTask.task_id)
        .where(CallAttemptTask.attempt_id == attempt.id)
    ))  # fmt: skip


def test_one_attempt_counts_for_every_task_of_the_contact(contact):
    s, tasks = contact["s"], contact["tasks"]
    a = call(contact, MORNING)
    assert s.query(CallAttempt).count() == 1
    assert a.task_id == tasks[0].id  # the lead
    assert linked(s, a) == sorted(t.id for t in tasks)
    end(s, a, "no_answer", MORNING)
    by_task = svc.attempts_by_task(s, [t.id for t in tasks])
    for task in tasks:
        plan = svc.plan_for(task, by_task[task.id], contact["settings"], MORNING)
        assert plan.used == 1 and [u.name for u in plan.used_slots] == ["morning"]


def test_each_task_keeps_its_own_slots(contact):
    """A task whose morning slot is used is left out of the next morning call; the others
    are called: one closed slot does not block the contact."""
    s, (first, second, third) = contact["s"], contact["tasks"]
    a = call(contact, MORNING, [first])
    end(s, a, "no_answer", MORNING)
    b = call(contact, NEXT_MORNING)  # first: morning used; second, third: fresh
    assert b.task_id == second.id
    assert linked(s, b) == sorted([second.id, third.id])
    end(s, b, "busy", NEXT_MORNING)
    c = call(contact, datetime(2026, 5, 12, 7, 0, tzinfo=UTC))  # afternoon: all three
    assert linked(s, c) == sorted(t.id for t in contact["tasks"])


def test_nothing_callable_raises_the_lead_refusal(contact):
    s = contact["s"]
    a = call(contact, MORNING)
    end(s, a, "no_answer", MORNING)
    with pytest.raises(svc.CallRefused) as info:
        call(contact, MORNING)
    assert info.value.code == "slot_used"
    assert s.query(CallAttempt).count() == 1


def test_a_call_in_progress_refuses_a_second_one_for_any_task(contact):
    s, (first, second, _third) = contact["s"], contact["tasks"]
    call(contact, MORNING, [first])  # still ringing
    with pytest.raises(svc.CallRefused) as info:
        call(contact, MORNING, [second, first])
    assert info.value.code == "call_in_progress"
    assert s.query(CallAttempt).count() == 1


def test_someone_elses_task_is_left_out(contact, session):
    other = make_user(session, "specialist")
    foreign = make_task(session, contact["customer"], assignee=other, now=MORNING, type="maintenance")
    a = call(contact, MORNING, [*contact["tasks"], foreign])
    assert foreign.id not in linked(session, a)


def test_final_hook_runs_for_every_linked_task(contact, session):
    """A birthday in the bundle is exhausted by one unsuccessful attempt (R6/R14): its
    fallback goes out, the other tasks stay open with one attempt used."""
    birthday = make_task(
        session, contact["customer"], assignee=contact["me"], now=MORNING, type="birthday",
        fallback="sms", due_at=datetime(2026, 5, 11, 2, 30, tzinfo=UTC), reason_id="birthday.reason",
    )  # fmt: skip
    a = call(contact, MORNING, [*contact["tasks"], birthday])
    assert birthday.id in linked(session, a)
    end(session, a, "no_answer", MORNING)
    assert birthday.status == "failed"
    failure = session.query(ReminderFailure).filter_by(task_id=birthday.id).one()
    assert failure.attempt_ids == [a.id]
    assert session.query(OutboxMessage).filter_by(task_id=birthday.id).count() == 1
    assert {t.status for t in contact["tasks"]} == {"open"}


def test_invalid_number_blocks_every_linked_task(contact):
    s = contact["s"]
    a = call(contact, MORNING)
    end(s, a, "invalid_number", MORNING)
    assert {t.status for t in contact["tasks"]} == {"blocked"}


def test_the_assignee_of_any_linked_task_may_follow_the_call(contact, session):
    """A colleague who owns another task of the contact (care manager made the call for
    both) may see the call that counted for their task; a stranger may not."""
    manager = make_user(session, "care_manager")
    colleague = make_user(session, "specialist")
    theirs = make_task(session, contact["customer"], assignee=colleague, now=MORNING, type="maintenance")
    a = svc.start_contact_call(session, [contact["tasks"][0], theirs], user=manager, now=MORNING, settings=contact["settings"])
    assert theirs.id in linked(session, a)
    assert svc.may_see(colleague, a) and svc.may_see(contact["me"], a)
    assert not svc.may_see(make_user(session, "specialist"), a)

"""The number-correction queue (care.services.number_corrections, domain.md §3 R12)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from care.models import AuditLog, PhoneCorrection
from care.services import number_corrections as svc
from tests.factories import make_customer, make_task, make_user

NOW = datetime(2026, 5, 10, 2, 0, tzinfo=UTC)


@pytest.fixture
def w(session):
    user = make_user(session, "specialist")
    customer = make_customer(session, mobile=None, phone2=None)
    blocked = [
        make_task(session, customer, status="blocked", due_at=NOW + timedelta(days=d)) for d in (3, 1)
    ]
    open_task = make_task(session, customer, now=NOW)
    return {"s": session, "user": user, "customer": customer, "blocked": blocked, "open": open_task}


def test_the_queue_lists_customers_with_blocked_tasks(w):
    s = w["s"]
    make_task(s, make_customer(s), now=NOW)  # open only: not in the queue
    later = make_customer(s, mobile="+8613800138000")
    make_task(s, later, status="blocked", due_at=NOW + timedelta(days=5))
    customers = list(s.scalars(svc.queue_statement()))
    assert [c.id for c in customers] == [w["customer"].id, later.id]  # earliest deadline first
    entries = svc.queue_entries(s, customers)
    assert entries[0].why == svc.NO_NUMBER
    assert [t.id for t in entries[0].tasks] == [w["blocked"][1].id, w["blocked"][0].id]
    assert entries[1].why == svc.REPORTED
    assert svc.queue_size(s) == 2


def test_an_invalid_stored_number_is_shown_as_invalid(w):
    w["customer"].mobile = "12345"
    assert svc.problem_of(w["customer"]) == svc.INVALID


def test_correcting_releases_the_blocked_tasks(w):
    s = w["s"]
    correction = svc.correct_number(s, w["customer"], "mobile", "138 0013 8000", user=w["user"], now=NOW, ip="10.0.0.1")
    assert w["customer"].mobile == "+8613800138000"
    assert all(t.status == "open" for t in w["blocked"])
    assert (correction.field, correction.old_value, correction.new_value) == ("mobile", None, "+8613800138000")
    assert correction.corrected_by_id == w["user"].id and correction.corrected_at == NOW
    assert correction.released_tasks == 2
    audit = s.scalar(select(AuditLog).where(AuditLog.action == "customer.phone_corrected"))
    assert audit.object_id == str(w["customer"].id) and audit.user_id == w["user"].id
    assert audit.detail == {"field": "mobile", "correction_id": correction.id, "released_tasks": 2}
    assert "8000" not in str(audit.detail)  # no phone number in the audit trail
    assert list(s.scalars(svc.queue_statement())) == []


def test_correcting_the_other_phone_keeps_the_old_value(w):
    w["customer"].phone2 = "+8602887654321"
    correction = svc.correct_number(w["s"], w["customer"], "phone2", "028-8765-4322", user=w["user"], now=NOW)
    assert correction.old_value == "+8602887654321" and correction.new_value == "+862887654322"
    assert w["customer"].phone2 == "+862887654322"


@pytest.mark.parametrize(("field", "value", "at"), [
    ("mobile", "12345", "number"),
    ("mobile", "not a number", "number"),
    ("mobile", "  ", "number"),
    ("mobile", None, "number"),
    ("email", "13800138000", "field"),
])
def test_invalid_input_changes_nothing(w, field, value, at):
    s = w["s"]
    with pytest.raises(svc.NumberInvalid) as info:
        svc.correct_number(s, w["customer"], field, value, user=w["user"], now=NOW)
    assert info.value.field == at
    assert w["customer"].mobile is None
    assert all(t.status == "blocked" for t in w["blocked"])
    assert s.scalar(select(func.count(PhoneCorrection.id))) == 0
    assert "12345" not in str(info.value)  # the message never carries the number typed


def test_only_the_owner_of_a_blocked_task_or_a_care_manager_corrects(w):
    """Issue 9 item 1: a caller may not correct a customer's number unless a blocked task
    of theirs (or an unassigned one) waits for it; a care manager may always."""
    s = w["s"]
    owner, other = w["user"], make_user(s, "consultant")
    for task in w["blocked"]:
        task.assignee_id = owner.id
    with pytest.raises(svc.CorrectionRefused):
        svc.correct_number(s, w["customer"], "mobile", "138 0013 8000", user=other, now=NOW)
    not_queued = make_customer(s)
    with pytest.raises(svc.CorrectionRefused):
        svc.correct_number(s, not_queued, "mobile", "138 0013 8000", user=owner, now=NOW)
    assert w["customer"].mobile is None and not_queued.mobile != "+8613800138000"
    assert s.scalar(select(func.count()).select_from(PhoneCorrection)) == 0
    assert [e.may_correct for e in svc.queue_entries(s, [w["customer"]], other)] == [False]
    assert [e.may_correct for e in svc.queue_entries(s, [w["customer"]], owner)] == [True]
    manager = make_user(s, "care_manager")
    svc.correct_number(s, not_queued, "mobile", "138 0013 8000", user=manager, now=NOW)
    assert not_queued.mobile == "+8613800138000"

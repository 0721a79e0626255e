"""Booking from a task's booking form gives the task its booking outcome, through the
same code as the outcome form (care.services.outcomes.book_from_task; issue 10)."""

from __future__ import annotations

from datetime import UTC, date, datetime, time

import pytest
from sqlalchemy import select

from care.domain.outcomes import OutcomeInvalid
from care.models import Appointment, TaskOutcome
from care.services import appointments as appointment_svc
from care.services import outcomes as svc
from tests.factories import make_customer, make_task, make_user, make_vehicle

NOW = datetime(2026, 5, 10, 2, 0, tzinfo=UTC)  # Sunday 10 May 2026, 10:00 in Shanghai


@pytest.fixture
def w(session):
    user = make_user(session, "specialist")
    customer = make_customer(session)
    vehicle = make_vehicle(session, customer)
    return {"s": session, "user": user, "customer": customer, "vehicle": vehicle}


def request(w, **kw):
    values = {"date": "2026-05-11", "time": "10:00", "service_kind": "maintenance", "vehicle_id": w["vehicle"].id}
    values.update(kw)
    return appointment_svc.BookingRequest(**values)


def outcomes(w, task) -> list[TaskOutcome]:
    return list(w["s"].scalars(select(TaskOutcome).where(TaskOutcome.task_id == task.id).order_by(TaskOutcome.id)))


@pytest.mark.parametrize(
    ("task_type", "code"),
    [("first_service", "will_come"), ("maintenance", "will_come"), ("lapsed_recall", "will_return"),
     ("appointment", "booked")],
)
def test_the_task_gets_its_booking_outcome(w, task_type, code):
    task = make_task(w["s"], w["customer"], type=task_type, assignee=w["user"], now=NOW)
    appointment = svc.book_from_task(w["s"], task, request(w), user=w["user"], now=NOW)
    assert (appointment.task_id, appointment.date, appointment.time) == (task.id, date(2026, 5, 11), time(10, 0))
    assert (task.status, task.outcome, task.closed_at, task.closed_by_id) == ("done", code, NOW, w["user"].id)
    [row] = outcomes(w, task)
    assert (row.outcome, row.closes_task, row.detail, row.recorded_by_id) == (
        code, True, {"appointment_id": appointment.id}, w["user"].id
    )


def test_the_same_record_as_booking_with_the_outcome(w):
    """The booking form and the outcome form leave the same rows behind."""
    by_form = make_task(w["s"], w["customer"], assignee=w["user"], now=NOW)
    by_outcome = make_task(w["s"], w["customer"], assignee=w["user"], now=NOW)
    a = svc.book_from_task(w["s"], by_form, request(w), user=w["user"], now=NOW)
    row = svc.record_outcome(w["s"], by_outcome, "will_come", detail={}, note=None, script_version_id=None,
                             user=w["user"], now=NOW, booking=request(w, time="11:00"))
    b = w["s"].get(Appointment, row.detail["appointment_id"])
    [form_row] = outcomes(w, by_form)
    keys = ("outcome", "closes_task", "source", "note", "script_version_id")
    assert [getattr(form_row, k) for k in keys] == [getattr(row, k) for k in keys]
    assert (by_form.status, by_form.outcome) == (by_outcome.status, by_outcome.outcome)
    assert (a.service_kind, a.status, a.created_by_id) == (b.service_kind, b.status, b.created_by_id)


def test_a_task_without_a_booking_outcome_keeps_its_own(w):
    task = make_task(w["s"], w["customer"], type="service_callback", assignee=w["user"], now=NOW)
    appointment = svc.book_from_task(w["s"], task, request(w), user=w["user"], now=NOW)
    assert appointment.task_id == task.id and task.status == "open" and outcomes(w, task) == []


def test_an_invalid_booking_records_nothing(w):
    task = make_task(w["s"], w["customer"], assignee=w["user"], now=NOW)
    with pytest.raises(appointment_svc.AppointmentInvalid) as info:
        svc.book_from_task(w["s"], task, request(w, date="", time=""), user=w["user"], now=NOW)
    assert set(info.value.errors) == {"date", "time"}  # the booking form's names
    assert task.status == "open" and outcomes(w, task) == []


def test_someone_elses_or_a_closed_task_is_refused(w):
    other = make_user(w["s"], "specialist")
    theirs = make_task(w["s"], w["customer"], assignee=other, now=NOW)
    with pytest.raises(appointment_svc.BookingRefused) as info:
        svc.book_from_task(w["s"], theirs, request(w), user=w["user"], now=NOW)
    assert info.value.status == 403
    done = make_task(w["s"], w["customer"], assignee=w["user"], status="done", now=NOW)
    with pytest.raises(appointment_svc.BookingRefused) as info:
        svc.book_from_task(w["s"], done, request(w), user=w["user"], now=NOW)
    assert info.value.status == 409
    assert w["s"].scalar(select(Appointment.id)) is None


def test_the_same_vehicle_and_time_is_refused_on_the_outcome_form_too(w):
    """record_outcome books through check_booking: the clash is an appointment_time error."""
    first = make_task(w["s"], w["customer"], assignee=w["user"], now=NOW)
    second = make_task(w["s"], w["customer"], type="maintenance", assignee=w["user"], now=NOW)
    svc.book_from_task(w["s"], first, request(w), user=w["user"], now=NOW)
    with pytest.raises(OutcomeInvalid) as info:
        svc.record_outcome(w["s"], second, "will_come", detail={}, note=None, script_version_id=None,
                           user=w["user"], now=NOW, booking=request(w))
    assert set(info.value.errors) == {"appointment_time"}
    assert second.status == "open"

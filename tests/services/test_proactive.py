"""R16 proactive appointment tasks in the generator, bundled into the customer's contact,
and closed by a booking (care/services/proactive.py)."""

from __future__ import annotations

from datetime import UTC, date, datetime, time

from sqlalchemy import select

from care.models import Appointment, CareTask, TaskOutcome
from care.services import Actor
from care.services import appointments as appointment_svc
from care.services import outcomes as outcome_svc
from care.services.generator import generate
from care.services.worklist import parse_filter, worklist
from tests import factories as f

D = date(2026, 7, 14)  # a Tuesday
NOW = datetime(2026, 7, 14, 1, 0, tzinfo=UTC)  # 09:00 in Shanghai


def run(session, day=D, now=NOW):
    return generate(session, day, actor=Actor("tester"), now=now)


def of_type(session, task_type):
    return list(session.scalars(select(CareTask).where(CareTask.type == task_type).order_by(CareTask.id)))


def maintenance_customer(session, **kw):
    """A customer with a birthday today whose vehicle's maintenance is due on 20 July
    (last service 20 January, 6 months): R2's reminder and R16's invitation both open on
    13 July (7 days before)."""
    customer = f.make_customer(session, birthday=date(1985, 7, 14), **kw)
    vehicle = f.make_vehicle(session, customer, delivery_date=date(2025, 1, 10))
    f.make_visit(session, vehicle, date=date(2026, 1, 20), kind="maintenance")
    return customer, vehicle


def test_an_appointment_task_joins_the_customers_other_reasons(session):
    user = f.make_user(session, "specialist", username="a")
    f.make_user(session, "specialist", username="b")
    customer, vehicle = maintenance_customer(session)
    result = run(session)
    # (no visit since January: the lapsed recall of this month is another reason)
    assert result.created == {"maintenance": 1, "birthday": 1, "appointment": 1, "lapsed_recall": 1}
    [task] = of_type(session, "appointment")
    assert (task.customer_id, task.vehicle_id, task.channel, task.fallback) == (customer.id, vehicle.id, "call", None)
    assert task.cycle_key == f"appointment:{vehicle.vin}:2026-01-20" and task.reason_id == "appointment.reason_maintenance"
    tasks = session.scalars(select(CareTask).where(CareTask.customer_id == customer.id)).all()
    assert len({t.assignee_id for t in tasks}) == 1  # one specialist, one call
    # one line of the worklist with all the reasons: never a second call the same day
    owner = session.get(type(user), tasks[0].assignee_id)
    page = worklist(session, parse_filter(), user=owner, now=NOW)
    [contact] = page.contacts
    assert contact.customer.id == customer.id
    assert sorted(t.type for t in contact.tasks) == ["appointment", "birthday", "lapsed_recall", "maintenance"]


def test_not_created_twice(session):
    f.make_user(session, "specialist")
    maintenance_customer(session)
    run(session)
    again = run(session, date(2026, 7, 15))
    assert "appointment" not in (again.created or {})
    assert again.skipped["appointment"] == {"already_exists": 1}
    assert len(of_type(session, "appointment")) == 1


def test_an_active_appointment_means_no_task(session):
    f.make_user(session, "specialist")
    customer, vehicle = maintenance_customer(session)
    canceled = Appointment(customer_id=customer.id, vehicle_id=vehicle.id, date=date(2026, 7, 18), time=time(10),
                           service_kind="maintenance", status="canceled")  # fmt: skip
    past = Appointment(customer_id=customer.id, vehicle_id=vehicle.id, date=date(2026, 7, 1), time=time(10),
                       service_kind="maintenance", status="booked")  # fmt: skip
    session.add_all([canceled, past])
    session.flush()
    run(session)
    assert len(of_type(session, "appointment")) == 1  # neither counts: a cancelled one, one in the past
    session.rollback()

    f.make_user(session, "specialist")
    customer, vehicle = maintenance_customer(session)
    session.add(Appointment(customer_id=customer.id, vehicle_id=vehicle.id, date=date(2026, 7, 18), time=time(10),
                            service_kind="maintenance", status="booked"))  # fmt: skip
    session.flush()
    result = run(session)
    assert of_type(session, "appointment") == []
    assert result.skipped["appointment"] == {"purpose_met": 1}
    assert result.created == {"maintenance": 1, "birthday": 1, "lapsed_recall": 1}


def test_booking_from_the_maintenance_reminder_closes_the_appointment_task(session):
    f.make_user(session, "specialist")
    customer, vehicle = maintenance_customer(session)
    run(session)
    [maintenance] = of_type(session, "maintenance")
    [invitation] = of_type(session, "appointment")
    user = maintenance.assignee
    booking = appointment_svc.BookingRequest("2026-07-18", "10:00", "maintenance", vehicle.id)
    outcome_svc.record_outcome(session, maintenance, "will_come", detail={}, note=None, script_version_id=None,
                               user=user, now=NOW, booking=booking)  # fmt: skip
    session.refresh(invitation)
    assert (invitation.status, invitation.outcome, invitation.closed_at) == ("done", "booked", NOW)
    [row] = session.scalars(select(TaskOutcome).where(TaskOutcome.task_id == invitation.id)).all()
    [appointment] = session.scalars(select(Appointment)).all()
    assert (row.outcome, row.source, row.detail) == ("booked", "system", {"appointment_id": appointment.id})
    # the next run neither reopens nor recreates it
    assert "appointment" not in (run(session, date(2026, 7, 15)).created or {})


def test_the_appointment_task_books_itself(session):
    f.make_user(session, "specialist")
    _customer, vehicle = maintenance_customer(session)
    run(session)
    [invitation] = of_type(session, "appointment")
    booking = appointment_svc.BookingRequest("2026-07-18", "10:00", "maintenance", vehicle.id)
    row = outcome_svc.record_outcome(session, invitation, "booked", detail={}, note=None, script_version_id=None,
                                     user=invitation.assignee, now=NOW, booking=booking)  # fmt: skip
    assert (invitation.status, invitation.outcome, row.source) == ("done", "booked", "manual")
    assert len(session.scalars(select(TaskOutcome).where(TaskOutcome.task_id == invitation.id)).all()) == 1


def test_the_outcome_may_be_a_reason_instead(session):
    f.make_user(session, "specialist")
    maintenance_customer(session)
    run(session)
    [invitation] = of_type(session, "appointment")
    outcome_svc.record_outcome(session, invitation, "declined", detail={"reason": "车准备卖掉了"}, note=None,
                               script_version_id=None, user=invitation.assignee, now=NOW)  # fmt: skip
    assert (invitation.status, invitation.outcome) == ("done", "declined")


def test_a_booking_made_elsewhere_closes_it_on_the_next_run(session):
    f.make_user(session, "specialist")
    customer, vehicle = maintenance_customer(session)
    run(session)
    [invitation] = of_type(session, "appointment")
    # e.g. the front desk's copy imported from the DMS: no task, no app booking path
    appointment = Appointment(customer_id=customer.id, vehicle_id=vehicle.id, date=date(2026, 7, 19), time=time(9),
                              service_kind="maintenance", status="confirmed")  # fmt: skip
    session.add(appointment)
    session.flush()
    later = datetime(2026, 7, 15, 0, 25, tzinfo=UTC)
    run(session, date(2026, 7, 15), now=later)
    session.refresh(invitation)
    assert (invitation.status, invitation.outcome, invitation.closed_at) == ("done", "booked", later)
    [row] = session.scalars(select(TaskOutcome).where(TaskOutcome.task_id == invitation.id)).all()
    assert row.detail == {"appointment_id": appointment.id}

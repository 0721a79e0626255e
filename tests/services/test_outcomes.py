"""Recording outcomes on care tasks (care.services.outcomes); the contact timeline and a
customer's open tasks (care.services.tasks) on the same world."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

import pytest
from sqlalchemy import func, select, update

from care.domain.outcomes import OutcomeInvalid
from care.models import Appointment, CareTask, PhoneCorrection, Script, ScriptVersion, TaskOutcome
from care.services import ServiceError, tasks
from care.services import outcomes as svc
from care.services.appointments import BookingRequest
from tests.factories import make_customer, make_task, make_user, make_vehicle

NOW = datetime(2026, 5, 10, 2, 0, tzinfo=UTC)  # 10:00 in Shanghai


def script_version(session, task_type: str, version: int = 1) -> ScriptVersion:
    script = session.scalar(select(Script).where(Script.task_type == task_type))
    if script is None:
        script = Script(task_type=task_type)
        session.add(script)
        session.flush()
    row = ScriptVersion(script_id=script.id, version=version, title=f"{task_type} v{version}", body="您好")
    session.add(row)
    session.flush()
    return row


@pytest.fixture
def world(session):
    specialist = make_user(session, "specialist")
    other = make_user(session, "specialist")
    manager = make_user(session, "care_manager")
    customer = make_customer(session)
    vehicle = make_vehicle(session, customer)
    task = make_task(session, customer, assignee=specialist, vehicle_id=vehicle.id, now=NOW)
    return {"s": session, "me": specialist, "other": other, "manager": manager, "customer": customer,
            "vehicle": vehicle, "task": task}


def record(w, code, *, task=None, user=None, detail=None, note=None, version=None, booking=None, now=NOW):
    return svc.record_outcome(
        w["s"],
        task or w["task"],
        code,
        detail=detail or {},
        note=note,
        script_version_id=version,
        user=user or w["me"],
        now=now,
        booking=booking,
    )


def outcome_count(session) -> int:
    return session.scalar(select(func.count(TaskOutcome.id)))


def test_serviced_elsewhere_closes_the_task(world):
    row = record(world, "serviced_elsewhere", detail={"shop": "速修", "location": "成都", "price": "688"})
    task = world["task"]
    assert task.status == "done" and task.outcome == "serviced_elsewhere"
    assert task.closed_at == NOW and task.closed_by_id == world["me"].id
    assert row.closes_task and row.source == "manual" and row.recorded_by_id == world["me"].id
    assert row.detail == {"shop": "速修", "location": "成都", "price": "688.00"}
    assert row.recorded_at == NOW


def test_missing_shop_is_an_error_on_that_field_and_nothing_is_written(world):
    with pytest.raises(OutcomeInvalid) as info:
        record(world, "serviced_elsewhere", detail={"shop": "", "location": "成都", "price": "688"})
    assert set(info.value.errors) == {"shop"}
    assert world["task"].status == "open"
    assert outcome_count(world["s"]) == 0


def test_not_reached_keeps_the_task_open(world):
    row = record(world, "not_reached")
    assert not row.closes_task
    task = world["task"]
    assert task.status == "open" and task.outcome is None and task.closed_at is None
    record(world, "not_reached", now=NOW + timedelta(hours=4))
    assert len(task.outcomes) == 2


@pytest.mark.parametrize("status", ["done", "failed", "canceled"])
def test_a_closed_task_refuses_outcomes(world, status):
    world["task"].status = status
    with pytest.raises(svc.OutcomeRefused) as info:
        record(world, "declined", detail={"reason": "忙"})
    assert info.value.status == 409
    assert outcome_count(world["s"]) == 0


def test_after_closing_the_next_outcome_is_refused(world):
    record(world, "declined", detail={"reason": "忙"})
    with pytest.raises(svc.OutcomeRefused):
        record(world, "will_come")


def test_a_task_closed_meanwhile_is_refused_by_the_conditional_update(world):
    s = world["s"]
    task = world["task"]
    assert task.status == "open"  # loaded as open …
    s.execute(  # … then closed elsewhere (another request, a call) behind this session's back
        update(CareTask).where(CareTask.id == task.id).values(status="done")
        .execution_options(synchronize_session=False)
    )
    assert task.status == "open"  # the stale copy still says open
    with pytest.raises(svc.OutcomeRefused) as info:
        record(world, "declined", detail={"reason": "忙"})
    assert info.value.status == 409


def test_another_specialists_task_is_refused(world):
    with pytest.raises(svc.OutcomeRefused) as info:
        record(world, "declined", detail={"reason": "忙"}, user=world["other"])
    assert info.value.status == 403
    assert world["task"].status == "open"


def test_a_care_manager_may_record_on_anyones_task(world):
    record(world, "declined", detail={"reason": "忙"}, user=world["manager"])
    assert world["task"].status == "done" and world["task"].closed_by_id == world["manager"].id


def test_an_unassigned_task_may_be_recorded_by_anyone_allowed(world):
    task = make_task(world["s"], world["customer"], now=NOW)
    record(world, "not_reached", task=task, user=world["other"])
    assert task.outcomes[0].recorded_by_id == world["other"].id


def test_a_blocked_task_can_be_recorded(world):
    world["task"].status = "blocked"
    record(world, "declined", detail={"reason": "客户来电"})
    assert world["task"].status == "done"


def test_the_script_version_is_recorded(world):
    version = script_version(world["s"], "first_service")
    row = record(world, "not_reached", version=str(version.id))
    assert row.script_version_id == version.id
    assert row.script_version.version == 1


@pytest.mark.parametrize("bad", ["other_type", "999999", "abc", "-1"])
def test_a_script_version_of_another_type_is_refused(world, bad):
    other = script_version(world["s"], "birthday")
    value = str(other.id) if bad == "other_type" else bad
    with pytest.raises(ServiceError) as info:
        record(world, "not_reached", version=value)
    assert info.value.field == "script_version_id"
    assert outcome_count(world["s"]) == 0


def test_will_come_books_in_the_same_step(world):
    booking = BookingRequest("2026-05-12", "09:30", "first_service", world["vehicle"].id, "带保养手册")
    row = record(world, "will_come", booking=booking)
    appointment = world["s"].get(Appointment, row.detail["appointment_id"])
    assert appointment.task_id == world["task"].id and appointment.customer_id == world["customer"].id
    assert (appointment.date, appointment.time) == (date(2026, 5, 12), time(9, 30))
    assert appointment.created_by_id == world["me"].id and appointment.notes == "带保养手册"
    assert world["task"].status == "done"


def test_will_come_without_a_booking_is_fine(world):
    row = record(world, "will_come", booking=BookingRequest())
    assert row.detail is None
    assert world["s"].scalar(select(func.count(Appointment.id))) == 0


def test_a_bad_booking_refuses_the_outcome_too(world):
    booking = BookingRequest("2026-05-09", "23:00", "first_service", world["vehicle"].id)
    with pytest.raises(OutcomeInvalid) as info:
        record(world, "will_come", booking=booking)
    assert set(info.value.errors) == {"appointment_date", "appointment_time"}
    assert outcome_count(world["s"]) == 0
    assert world["s"].scalar(select(func.count(Appointment.id))) == 0


def test_an_invalid_outcome_books_nothing(world):
    task = make_task(world["s"], world["customer"], type="lapsed_recall", assignee=world["me"], now=NOW)
    booking = BookingRequest("2026-05-12", "09:30", "maintenance", world["vehicle"].id)
    with pytest.raises(OutcomeInvalid):
        record(world, "lost", task=task, detail={}, booking=booking)
    assert world["s"].scalar(select(func.count(Appointment.id))) == 0


def test_the_appointment_task_needs_a_booking(world):
    task = make_task(world["s"], world["customer"], type="appointment", assignee=world["me"], now=NOW)
    with pytest.raises(OutcomeInvalid) as info:
        record(world, "booked", task=task)
    assert set(info.value.errors) == {"appointment_date"}
    world["s"].add(
        Appointment(customer_id=world["customer"].id, task_id=task.id, date=date(2026, 5, 11),
                    time=time(9, 0), service_kind="maintenance", created_at=NOW)
    )
    world["s"].flush()
    record(world, "booked", task=task)  # already booked for this task
    assert task.status == "done"


def test_timeline_has_outcomes_appointments_and_corrections_newest_first(world):
    s = world["s"]
    record(world, "not_reached", now=NOW)
    correction = PhoneCorrection(customer_id=world["customer"].id, field="mobile", old_value=None,
                                 new_value="+8613800138000", corrected_by_id=world["me"].id,
                                 corrected_at=NOW + timedelta(hours=1), released_tasks=1)
    s.add(correction)
    booking = BookingRequest("2026-05-12", "09:30", "first_service", world["vehicle"].id)
    record(world, "will_come", booking=booking, now=NOW + timedelta(hours=2))
    # another customer's rows stay out
    stranger = make_customer(s)
    record(world, "not_reached", task=make_task(s, stranger, now=NOW), now=NOW + timedelta(hours=3))

    entries = tasks.timeline(s, world["customer"].id)
    # "not reached" recorded by hand is also the call it stands for (issue 10 item 5)
    assert [e.kind for e in entries] == ["outcome", "appointment", "phone_correction", "outcome", "call"]
    assert [e.at for e in entries] == sorted((e.at for e in entries), reverse=True)
    assert entries[0].item.outcome == "will_come" and entries[-2].item.outcome == "not_reached"
    assert entries[-1].item.provider == "manual"
    assert entries[2].item.id == correction.id
    assert len(tasks.timeline(s, world["customer"].id, limit=2)) == 2
    assert tasks.timeline(s, 999999) == []


def test_open_tasks_of_lists_open_and_blocked_by_deadline(world):
    s = world["s"]
    blocked = make_task(s, world["customer"], status="blocked", due_at=NOW + timedelta(days=1))
    make_task(s, world["customer"], status="done")
    ids = [t.id for t in tasks.open_tasks_of(s, world["customer"].id)]
    assert ids == [blocked.id, world["task"].id]

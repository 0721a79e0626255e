"""Booking service appointments (care.services.appointments, domain.md §5 R16)."""

from __future__ import annotations

import threading
from datetime import UTC, date, datetime, time

import pytest
from sqlalchemy import func, select

from care.extensions import db
from care.models import Appointment, Setting, User, Vehicle
from care.services import appointments as svc
from tests.conftest import PG_URL
from tests.factories import make_customer, make_task, make_user, make_vehicle

NOW = datetime(2026, 5, 10, 2, 0, tzinfo=UTC)  # Sunday 10 May 2026, 10:00 in Shanghai


@pytest.fixture
def w(session):
    user = make_user(session, "specialist")
    customer = make_customer(session)
    vehicle = make_vehicle(session, customer)
    return {"s": session, "user": user, "customer": customer, "vehicle": vehicle}


def book(w, **kw):
    values = {
        "customer": w["customer"],
        "vehicle": w["vehicle"],
        "task": None,
        "date": date(2026, 5, 11),
        "time": time(9, 0),
        "service_kind": "maintenance",
        "notes": None,
        "user": w["user"],
        "now": NOW,
    }
    values.update(kw)
    return svc.book(w["s"], **values)


def errors(w, **kw) -> dict:
    with pytest.raises(svc.AppointmentInvalid) as info:
        book(w, **kw)
    return info.value.errors


def test_a_valid_booking(w):
    task = make_task(w["s"], w["customer"], now=NOW)
    a = book(w, task=task, date="2026-05-11", time="14:15", notes="  带上保养手册 ")
    assert (a.date, a.time, a.service_kind, a.status) == (date(2026, 5, 11), time(14, 15), "maintenance", "booked")
    assert a.vehicle_id == w["vehicle"].id and a.task_id == task.id and a.created_by_id == w["user"].id
    assert a.notes == "带上保养手册" and a.created_at == NOW


def test_the_date_may_not_be_in_the_past(w):
    assert set(errors(w, date=date(2026, 5, 9))) == {"date"}
    book(w, date=date(2026, 5, 10), time=time(15, 0))  # later today is fine


def test_the_past_is_the_dealers_local_day(w):
    # 17:00 UTC on 9 May is already 10 May 01:00 in Shanghai: 9 May is the past there.
    late = datetime(2026, 5, 9, 17, 0, tzinfo=UTC)
    assert set(errors(w, date=date(2026, 5, 9), now=late)) == {"date"}


def test_a_time_passed_today_is_refused(w):
    assert set(errors(w, date=date(2026, 5, 10), time=time(9, 30))) == {"time"}


@pytest.mark.parametrize("at", [time(8, 0), time(17, 30), time(20, 0), time(0, 0)])
def test_the_time_must_be_within_the_work_day(w, at):
    err = errors(w, time=at)
    assert set(err) == {"time"}
    assert err["time"].params == {"start": "08:30", "end": "17:30"}


def test_the_opening_hours_come_from_the_settings(w):
    w["s"].add(Setting(key="service_closes", value="19:00", updated_by="test"))
    w["s"].flush()
    book(w, time=time(18, 30))


def test_the_service_kind_is_a_visit_kind(w):
    assert set(errors(w, service_kind="car_wash")) == {"service_kind"}
    for hour, kind in enumerate(("first_service", "maintenance", "repair", "warranty", "other"), start=9):
        book(w, service_kind=kind, time=time(hour, 0))


def test_a_vehicle_of_another_customer_is_refused(w):
    stranger = make_vehicle(w["s"], make_customer(w["s"]))
    assert set(errors(w, vehicle=stranger)) == {"vehicle"}
    assert set(errors(w, vehicle=str(stranger.id))) == {"vehicle"}
    assert set(errors(w, vehicle="999999")) == {"vehicle"}
    assert set(errors(w, vehicle="x1")) == {"vehicle"}


def test_the_vehicle_is_needed_when_the_customer_has_one(w):
    assert set(errors(w, vehicle=None)) == {"vehicle"}
    no_car = make_customer(w["s"])
    assert book(w, customer=no_car, vehicle=None).vehicle_id is None


def test_a_task_of_another_customer_is_refused(w):
    task = make_task(w["s"], make_customer(w["s"]), now=NOW)
    assert set(errors(w, task=task)) == {"task"}


@pytest.mark.parametrize(("field", "value"), [("date", "10/05/2026"), ("date", "2026-02-30"), ("time", "9h"), ("time", "25:00")])
def test_unreadable_date_or_time(w, field, value):
    assert field in errors(w, **{field: value})


def test_empty_values_are_errors_all_at_once(w):
    err = errors(w, date="", time="", service_kind="", notes="x" * 1001)
    assert set(err) == {"date", "time", "service_kind", "notes"}


def test_for_day_and_for_task(w):
    task = make_task(w["s"], w["customer"], now=NOW)
    b = book(w, time=time(14, 0), task=task)
    a = book(w, time=time(9, 0))
    book(w, date=date(2026, 5, 12))
    assert [x.id for x in svc.for_day(w["s"], date(2026, 5, 11))] == [a.id, b.id]
    assert [x.id for x in svc.for_task(w["s"], task.id)] == [b.id]
    b.status = "cancelled"
    assert svc.for_task(w["s"], task.id) == []


def test_booking_request_is_empty_without_date_and_time():
    assert svc.BookingRequest(notes="x", service_kind="maintenance").is_empty()
    assert not svc.BookingRequest(date="2026-05-11").is_empty()


def test_default_kind_from_the_task(w):
    assert svc.default_kind(None) == "maintenance"
    assert svc.default_kind(make_task(w["s"], w["customer"], now=NOW)) == "first_service"
    assert svc.default_kind(make_task(w["s"], w["customer"], type="warranty_expiry", now=NOW)) == "warranty"


def test_today_is_the_dealers_day_just_after_midnight(w):
    # 00:30 on 1 June in Shanghai is still 31 May in UTC
    just_after_midnight = datetime(2026, 5, 31, 16, 30, tzinfo=UTC)
    assert svc.local_today(w["s"], just_after_midnight) == date(2026, 6, 1)
    # 31 May has passed at the dealer (in UTC it would still be today); 1 June is bookable
    assert set(errors(w, date=date(2026, 5, 31), time=time(15, 0), now=just_after_midnight)) == {"date"}
    assert book(w, date=date(2026, 6, 1), now=just_after_midnight).date == date(2026, 6, 1)


def test_booking_from_someone_elses_or_a_closed_task_is_refused(w):
    """Issue 9 item 2: the same rule as calling and recording on the task."""
    s = w["s"]
    other = make_user(s, "specialist")
    theirs = make_task(s, w["customer"], assignee=other)
    with pytest.raises(svc.BookingRefused) as info:
        book(w, task=theirs)
    assert info.value.status == 403
    mine_done = make_task(s, w["customer"], assignee=w["user"], status="done")
    with pytest.raises(svc.BookingRefused) as info:
        book(w, task=mine_done)
    assert info.value.status == 409
    manager = make_user(s, "care_manager")
    assert book(w, task=theirs, user=manager).task_id == theirs.id
    # unassigned: anyone (another time: the vehicle is booked at 09:00 now)
    assert book(w, task=make_task(s, w["customer"]), time=time(10, 0)).task_id is not None


# --- issue 10: one active booking per vehicle and moment; a second one that day warns ----


def test_the_same_vehicle_at_the_same_time_is_refused(w):
    book(w)
    err = errors(w)
    assert set(err) == {"time"} and err["time"].params == {"time": "09:00"}
    # another vehicle at that time, or this one at another time, is fine
    assert book(w, vehicle=make_vehicle(w["s"], w["customer"])).time == time(9, 0)
    assert book(w, time=time(9, 15)).time == time(9, 15)


def test_a_canceled_appointment_frees_its_time(w):
    book(w).status = "cancelled"
    w["s"].flush()
    assert book(w).status == "booked"


def test_another_booking_that_day_is_a_warning_to_confirm(w):
    first = book(w)
    request = svc.BookingRequest(date(2026, 5, 11), time(14, 0), "maintenance", w["vehicle"].id)
    checked = svc.check_booking(w["s"], request, customer=w["customer"], task=None, now=NOW)
    assert [a.id for a in checked.same_day] == [first.id]  # reported to callers that do not ask
    err = errors(w, time=time(14, 0), confirm_same_day=False)
    assert set(err) == {"same_day"} and err["same_day"].params == {"times": "09:00"}
    assert book(w, time=time(14, 0), confirm_same_day=True).time == time(14, 0)
    assert book(w, date=date(2026, 5, 12), confirm_same_day=False).date == date(2026, 5, 12)


def test_the_index_refuses_a_booking_that_raced_past_the_check(w):
    """Two requests both checked before either added (what two concurrent bookings do):
    the partial unique index refuses the second, as a form error, and the session goes on."""
    s = w["s"]
    request = svc.BookingRequest(date(2026, 5, 11), time(9, 0), "maintenance", w["vehicle"].id)
    first = svc.check_booking(s, request, customer=w["customer"], task=None, now=NOW)
    second = svc.check_booking(s, request, customer=w["customer"], task=None, now=NOW)
    svc.add_checked(s, first, customer=w["customer"], task=None, user=w["user"], now=NOW)
    with pytest.raises(svc.AppointmentInvalid) as info:
        svc.add_checked(s, second, customer=w["customer"], task=None, user=w["user"], now=NOW)
    assert set(info.value.errors) == {"time"}
    assert len(svc.for_day(s, date(2026, 5, 11))) == 1  # the transaction is still usable


@pytest.mark.skipif(not PG_URL, reason="two concurrent bookings: PostgreSQL (SQLite serializes the writers)")
def test_two_concurrent_bookings_of_one_vehicle_and_moment_book_once(app):
    """Both requests pass the check before either adds: the index refuses the second."""
    with app.app_context():
        s = db.session
        ids = (make_user(s, "specialist").id, make_vehicle(s, make_customer(s)).id)
        s.commit()
    barrier = threading.Barrier(2)
    outcomes: list[str] = []

    def book_one():
        with app.app_context():
            s = db.session
            try:
                user, vehicle = s.get(User, ids[0]), s.get(Vehicle, ids[1])
                request = svc.BookingRequest(date(2026, 5, 11), time(9, 0), "maintenance", vehicle.id)
                checked = svc.check_booking(s, request, customer=vehicle.customer, task=None, now=NOW)
                barrier.wait(10)  # both checked: no appointment yet
                svc.add_checked(s, checked, customer=vehicle.customer, task=None, user=user, now=NOW)
                s.commit()
                outcomes.append("booked")
            except svc.AppointmentInvalid as exc:
                s.rollback()
                outcomes.append(next(iter(exc.errors)))
            finally:
                s.remove()

    threads = [threading.Thread(target=book_one) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert sorted(outcomes) == ["booked", "time"]
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Appointment)) == 1

"""The appointment list and the booking form (care/web/appointments.py)."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

import pytest
import time_machine
from sqlalchemy import func, select

from care.extensions import db
from care.models import Appointment, CareTask, TaskOutcome, User
from tests.factories import make_customer, make_task, make_vehicle

HX = {"HX-Request": "true"}
EN = {"Accept-Language": "en"}
NOW = datetime(2026, 5, 10, 2, 0, tzinfo=UTC)  # 10:00 on 10 May 2026 in Shanghai


@pytest.fixture(autouse=True)
def frozen():
    with time_machine.travel(NOW, tick=False):
        yield


@pytest.fixture
def w(app, login_as):
    me = login_as("specialist", username="spec", display_name="Specialist Zhang")
    with app.app_context():
        s = db.session
        c = make_customer(s, name="王小明")
        v = make_vehicle(s, c, plate="川A12345", model="Tiguan L")
        task = make_task(s, c, assignee=me, vehicle_id=v.id, now=NOW)
        other = make_vehicle(s, make_customer(s, name="李四"))
        s.commit()
        return {"me": me.id, "customer": c.id, "vehicle": v.id, "task": task.id, "other_vehicle": other.id}


def form(**kw):
    data = {"date": "2026-05-11", "time": "09:30", "service_kind": "first_service", "vehicle": "", "notes": ""}
    data.update(kw)
    return data


def appointments(app) -> list[Appointment]:
    with app.app_context():
        return list(db.session.scalars(select(Appointment).order_by(Appointment.id)))


def test_booking_form_prefilled_from_the_task(client, w):
    r = client.get(f"/appointments/new?task={w['task']}", headers=EN)
    assert r.status_code == 200
    html = r.get_data(as_text=True)
    assert "王小明" in html and "First service" in html
    assert f'<option selected value="{w["vehicle"]}">' in html or f'value="{w["vehicle"]}" selected' in html
    assert 'min="2026-05-10"' in html and 'max="17:30"' in html
    frag = client.get(f"/appointments/new?task={w['task']}", headers={**EN, **HX}).get_data(as_text=True)
    assert "<html" not in frag and 'id="booking"' in frag


def test_booking_from_a_task_returns_to_the_contact(app, client, w):
    r = client.post(f"/appointments/new?task={w['task']}", data=form(vehicle=str(w["vehicle"]), notes="早上来"), headers=EN)
    assert r.status_code == 303
    assert r.headers["Location"].endswith(f"/tasks/contact/{w['customer']}")
    [a] = appointments(app)
    assert (a.date, a.time, a.task_id, a.vehicle_id, a.created_by_id) == (
        date(2026, 5, 11), time(9, 30), w["task"], w["vehicle"], w["me"]
    )
    html = client.get(r.headers["Location"], headers=EN).get_data(as_text=True)
    assert "Appointment booked for 王小明" in html
    assert "Outcome recorded: Will come." in html
    # issue 10: the task gets its outcome, as when booked with the outcome on the contact page
    with app.app_context():
        task = db.session.get(CareTask, w["task"])
        [row] = db.session.scalars(select(TaskOutcome).where(TaskOutcome.task_id == task.id)).all()
        assert (task.status, task.outcome, task.closed_by_id) == ("done", "will_come", w["me"])
        assert (row.outcome, row.closes_task, row.detail) == ("will_come", True, {"appointment_id": a.id})


def test_the_form_says_the_task_gets_its_outcome(client, w):
    html = client.get(f"/appointments/new?task={w['task']}", headers=EN).get_data(as_text=True)
    assert "Booking records the outcome “Will come” and closes the task." in html


def test_booking_a_closed_task_is_refused_without_an_appointment(app, client, w):
    assert client.post(f"/appointments/new?task={w['task']}", data=form(vehicle=str(w["vehicle"]))).status_code == 303
    r = client.post(f"/appointments/new?task={w['task']}", data=form(vehicle=str(w["vehicle"]), time="11:00"))
    assert r.status_code == 409
    assert len(appointments(app)) == 1


def test_the_same_vehicle_at_the_same_time_is_refused(app, client, w):
    """Issue 10: a second booking of the vehicle at the same date and time."""
    first = client.post(f"/appointments/new?customer={w['customer']}", data=form(vehicle=str(w["vehicle"])))
    assert first.status_code == 303
    r = client.post(f"/appointments/new?task={w['task']}", data=form(vehicle=str(w["vehicle"])), headers=EN)
    assert r.status_code == 422
    assert "This vehicle is booked at 09:30 on that day already; choose another time." in r.get_data(as_text=True)
    assert len(appointments(app)) == 1
    with app.app_context():  # nothing else was written either: the task is still open
        assert db.session.get(CareTask, w["task"]).status == "open"


def test_a_second_booking_of_the_vehicle_that_day_needs_a_tick(app, client, w):
    assert client.post(f"/appointments/new?customer={w['customer']}", data=form(vehicle=str(w["vehicle"]))).status_code == 303
    data = form(vehicle=str(w["vehicle"]), time="14:00")
    r = client.post(f"/appointments/new?task={w['task']}", data=data, headers=EN)
    assert r.status_code == 422
    html = r.get_data(as_text=True)
    assert "This vehicle already has an appointment that day, at 09:30." in html
    assert 'name="confirm_same_day"' in html and len(appointments(app)) == 1
    r = client.post(f"/appointments/new?task={w['task']}", data={**data, "confirm_same_day": "y"}, headers=EN)
    assert r.status_code == 303
    assert [a.time for a in appointments(app)] == [time(9, 30), time(14, 0)]
    # another day needs no tick
    r = client.post(f"/appointments/new?customer={w['customer']}", data=form(vehicle=str(w["vehicle"]), date="2026-05-12"))
    assert r.status_code == 303


def test_booking_from_a_customer(app, client, w):
    r = client.post(f"/appointments/new?customer={w['customer']}", data=form(vehicle=str(w["vehicle"])))
    assert r.status_code == 303
    assert appointments(app)[0].task_id is None


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"date": "2026-05-09"}, "The date is in the past."),
        ({"time": "07:00"}, "Choose a time within the opening hours, 08:30 to 17:30."),
        ({"time": "18:00"}, "Choose a time within the opening hours, 08:30 to 17:30."),
        ({"date": "2026-05-10", "time": "09:00"}, "This time has passed already today."),
        ({"service_kind": "car_wash"}, "Choose the kind of service."),
        ({"date": "tomorrow"}, "Enter a date as YYYY-MM-DD."),
    ],
)
def test_invalid_booking_is_422(app, client, w, changes, message):
    data = form(vehicle=str(w["vehicle"]), **changes)
    r = client.post(f"/appointments/new?task={w['task']}", data=data, headers=EN)
    assert r.status_code == 422
    assert message in r.get_data(as_text=True)
    assert appointments(app) == []


def test_a_vehicle_of_another_customer_is_refused(app, client, w):
    r = client.post(f"/appointments/new?task={w['task']}", data=form(vehicle=str(w["other_vehicle"])), headers=EN)
    assert r.status_code == 422
    assert "Choose one of this customer&#39;s vehicles." in r.get_data(as_text=True)
    assert appointments(app) == []


def test_htmx_invalid_returns_the_form_fragment(client, w):
    r = client.post(f"/appointments/new?task={w['task']}", data=form(date=""), headers={**EN, **HX})
    assert r.status_code == 422
    html = r.get_data(as_text=True)
    assert "<html" not in html and "Choose the date." in html


@pytest.mark.parametrize(("query", "status"), [
    ("", 400), ("?task=abc", 400), ("?task=999999", 404), ("?customer=999999", 404), ("?customer=1.5", 400),
])
def test_booking_target_errors(client, w, query, status):
    assert client.get(f"/appointments/new{query}").status_code == status


def test_the_day_list(app, client, w):
    with app.app_context():
        s = db.session
        me = s.get(User, w["me"])
        for day, at in ((date(2026, 5, 11), time(14, 0)), (date(2026, 5, 11), time(9, 0)), (date(2026, 5, 12), time(9, 0))):
            s.add(Appointment(customer_id=w["customer"], vehicle_id=w["vehicle"], task_id=w["task"], date=day,
                              time=at, service_kind="maintenance", created_by_id=me.id, created_at=NOW))
        s.commit()
    r = client.get("/appointments/?date=2026-05-11", headers=EN)
    assert r.status_code == 200
    html = r.get_data(as_text=True)
    assert html.index("09:00") < html.index("14:00")
    assert "王小明" in html and "川A12345" in html and "Regular maintenance" in html
    assert "Specialist Zhang" in html and f"/tasks/{w['task']}" in html
    assert "?date=2026-05-10" in html and "?date=2026-05-12" in html  # previous and next day
    assert "2 appointments" in html
    today = client.get("/appointments/", headers=EN).get_data(as_text=True)
    assert "No appointments on this day." in today and "today" in today
    frag = client.get("/appointments/?date=2026-05-12", headers={**EN, **HX}).get_data(as_text=True)
    assert "<html" not in frag and 'id="appointments"' in frag and "1 appointment" in frag


@pytest.mark.parametrize("bad", ["2026-13-01", "yesterday", "0001-01-01", "9999-12-31"])
def test_a_bad_day_is_400(client, w, bad):
    assert client.get(f"/appointments/?date={bad}").status_code == 400


def test_front_desk_reads_the_list_but_cannot_book(app, client, w, login_as):
    client.post("/auth/logout")
    login_as("front_desk")
    assert client.get("/appointments/").status_code == 200
    assert client.get(f"/appointments/new?task={w['task']}").status_code == 403
    assert client.post(f"/appointments/new?task={w['task']}", data=form()).status_code == 403
    html = client.get("/appointments/", headers=EN).get_data(as_text=True)
    assert "Book appointment" not in html


def test_no_booking_without_the_vehicle(app, client, w):
    r = client.post(f"/appointments/new?customer={w['customer']}", data=form(vehicle=""), headers=EN)
    assert r.status_code == 422 and "Choose the vehicle." in r.get_data(as_text=True)
    with app.app_context():
        assert db.session.scalar(select(func.count(Appointment.id))) == 0


def test_a_customer_without_vehicles_can_be_booked(app, client, w):
    with app.app_context():
        c = make_customer(db.session)
        db.session.commit()
        cid = c.id
    html = client.get(f"/appointments/new?customer={cid}", headers=EN).get_data(as_text=True)
    assert "No vehicle recorded for this customer." in html
    r = client.post(f"/appointments/new?customer={cid}", data=form(date=(NOW + timedelta(days=2)).date().isoformat()))
    assert r.status_code == 303

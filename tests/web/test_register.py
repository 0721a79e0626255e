"""The register's pages (care/web/register.py, R17): the day, submitting, status buttons,
the front desk's copy, the XLSX export, and the booking form's free places."""

from __future__ import annotations

import io
from datetime import UTC, date, datetime, time

import openpyxl
import pytest
import time_machine
from sqlalchemy import select

from care.extensions import db
from care.models import Appointment, FrontDeskAppointment, RegisterSubmission, User
from tests.factories import make_customer, make_task, make_user, make_vehicle

EN = {"Accept-Language": "en"}
NOW = datetime(2026, 5, 11, 2, 0, tzinfo=UTC)  # Monday 11 May 2026, 10:00 in Shanghai
DAY = date(2026, 5, 12)


@pytest.fixture(autouse=True)
def frozen():
    with time_machine.travel(NOW, tick=False):
        yield


def appointment(s, booked_by, *, hh=9, mm=0, kind="maintenance", day=DAY, task=None):
    c = make_customer(s, name=f"客户{hh}{mm}")
    v = make_vehicle(s, c)
    a = Appointment(customer_id=c.id, vehicle_id=v.id, date=day, time=time(hh, mm), service_kind=kind, status="booked",
                    created_by_id=booked_by.id, created_at=NOW, task_id=task.id if task else None)  # fmt: skip
    s.add(a)
    s.flush()
    return a


@pytest.fixture
def w(app, login_as):
    me = login_as("specialist", username="spec", display_name="Specialist Zhang")
    with app.app_context():
        s = db.session
        other = make_user(s, "specialist", username="peer")
        mine = appointment(s, me, hh=9)
        theirs = appointment(s, other, hh=10)
        s.add(FrontDeskAppointment(appt_no="YY1", vehicle_id=mine.vehicle_id, customer_id=mine.customer_id, date=DAY,
                                   time=time(9, 30), service_kind="maintenance"))  # fmt: skip
        s.commit()
        return {"me": me.id, "mine": mine.id, "theirs": theirs.id, "mine_vin": mine.vehicle.vin}


def test_the_day_shows_both_copies_and_their_differences(client, w):
    html = client.get("/register/?date=2026-05-12", headers=EN).get_data(as_text=True)
    assert "The care department" in html and "YY1" in html
    assert "Time differs" in html and "Missing at the front desk" in html
    assert "Not submitted: due at 17:30 that day." in html
    assert "Submit the register to the front desk" in html


def test_submitting_shows_who_and_when_and_a_later_change(client, app, w):
    r = client.post("/register/submit?date=2026-05-12", headers=EN)
    assert r.status_code == 303
    html = client.get("/register/?date=2026-05-12", headers=EN).get_data(as_text=True)
    assert "Submitted by Specialist Zhang at 2026-05-11 10:00." in html and "on time" in html
    assert "changed after submission" not in html
    r = client.post(f"/register/appointments/{w['mine']}/status", data={"status": "cancelled", "reason": "客户出差"})
    assert r.status_code == 303
    html = client.get("/register/?date=2026-05-12", headers=EN).get_data(as_text=True)
    assert "changed after submission" in html and "Submit the register again" in html
    with app.app_context():
        assert db.session.scalar(select(RegisterSubmission.times)) == 1


def test_a_late_day_is_flagged_to_the_care_manager(app, client, login_as, w):
    client.post("/auth/logout")
    login_as("care_manager", username="boss")
    with time_machine.travel(datetime(2026, 5, 12, 9, 45, tzinfo=UTC), tick=False):  # 17:45 in Shanghai
        html = client.get("/register/?date=2026-05-12", headers=EN).get_data(as_text=True)
    assert "Registers not submitted by the deadline" in html and "not submitted" in html


def test_status_buttons_follow_ownership(client, w):
    assert client.post(f"/register/appointments/{w['mine']}/status", data={"status": "confirmed"}).status_code == 303
    assert client.post(f"/register/appointments/{w['theirs']}/status", data={"status": "confirmed"}).status_code == 403
    r = client.post(f"/register/appointments/{w['mine']}/status", data={"status": "cancelled"}, headers=EN)
    assert r.status_code == 422 and "Say why the appointment is cancelled." in r.get_data(as_text=True)
    r = client.post(f"/register/appointments/{w['mine']}/status", data={"status": "booked"}, headers=EN)
    assert r.status_code == 422 and "cannot become" in r.get_data(as_text=True)


def test_the_front_desk_marks_arrivals_and_keeps_its_copy(app, client, login_as, w):
    client.post("/auth/logout")
    login_as("front_desk", username="desk")
    assert client.post(f"/register/appointments/{w['theirs']}/status", data={"status": "confirmed"}).status_code == 403
    assert client.post(f"/register/appointments/{w['theirs']}/status", data={"status": "arrived"}).status_code == 303
    html = client.get("/register/?date=2026-05-12", headers=EN).get_data(as_text=True)
    assert "Add a line to the front desk" in html  # the front desk's own view
    r = client.post("/register/front-desk?date=2026-05-12", data={"vin": "NOPE", "time": "9:99", "kind": "repair"}, headers=EN)
    body = r.get_data(as_text=True)
    assert r.status_code == 422 and "No vehicle with this VIN exists." in body and "Enter a time as HH:MM." in body
    r = client.post("/register/front-desk?date=2026-05-12", data={"vin": w["mine_vin"], "time": "09:00", "kind": "maintenance"})
    assert r.status_code == 303
    with app.app_context():
        line = db.session.scalar(select(FrontDeskAppointment).where(FrontDeskAppointment.source == "app"))
        imported = db.session.scalar(select(FrontDeskAppointment.id).where(FrontDeskAppointment.appt_no == "YY1"))
    assert client.post(f"/register/front-desk/{imported}/delete").status_code == 409
    assert client.post(f"/register/front-desk/{line.id}/delete").status_code == 303


def test_the_export_is_a_workbook_of_the_day(client, w):
    r = client.get("/register/export.xlsx?date=2026-05-12", headers=EN)
    assert r.status_code == 200 and r.mimetype.endswith("spreadsheetml.sheet")
    book = openpyxl.load_workbook(io.BytesIO(r.data))
    rows = list(book.worksheets[0].iter_rows(values_only=True))
    assert rows[0][0] == "Appointment register of 2026-05-12"
    assert [row[0] for row in rows[2:]] == ["09:00", "10:00"]
    differences = list(book.worksheets[1].iter_rows(values_only=True))
    assert {row[0] for row in differences[1:]} == {"Time differs", "Missing at the front desk"}


def test_a_bad_day_is_a_400(client, w):
    assert client.get("/register/?date=2026-13-40").status_code == 400
    assert client.get("/register/?date=1800-01-01").status_code == 400


def test_the_booking_form_shows_free_places_and_refuses_a_full_slot(app, client, w):
    with app.app_context():
        s = db.session
        me = s.get(User, w["me"])
        for mm in (0, 5, 10):
            appointment(s, me, hh=14, mm=mm)
        c = make_customer(s)
        v = make_vehicle(s, c)
        task = make_task(s, c, assignee=me, vehicle_id=v.id, now=NOW)
        s.commit()
        task_id, vehicle_id, customer_id = task.id, v.id, c.id
    fragment = client.get("/register/slots?date=2026-05-12", headers=EN).get_data(as_text=True)
    assert "14:00" in fragment and "1 free" in fragment
    data = {"date": "2026-05-12", "time": "14:15", "service_kind": "maintenance", "vehicle": str(vehicle_id)}
    assert client.post(f"/appointments/new?task={task_id}", data=data).status_code == 303  # the last place
    r = client.post(f"/appointments/new?customer={customer_id}", data={**data, "time": "14:20", "confirm_same_day": "y"}, headers=EN)
    assert r.status_code == 422
    assert "The 14:00–14:30 slot is full (4 of 4 places)" in r.get_data(as_text=True)
    data = {**data, "time": "14:20", "confirm_same_day": "y", "overbook_reason": "老客户只能这个时间"}
    assert client.post(f"/appointments/new?customer={customer_id}", data=data).status_code == 303
    with app.app_context():
        reasons = db.session.scalars(select(Appointment.overbook_reason).where(Appointment.vehicle_id == vehicle_id)
                                     .order_by(Appointment.id)).all()  # fmt: skip
    assert reasons == [None, "老客户只能这个时间"]

"""The appointment register (care.services.register, R17): capacity and overbooking,
refusals, submission and its deadline, changes after submission, the violation, the
reminder SMS the day before, arrivals and no-shows from the visits, the front desk's
copy from `care import appointments`, and `care register --json`."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, time
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import time_machine
from sqlalchemy import select

from care.messaging import outbox
from care.models import (
    AppointmentStatusChange,
    CareTask,
    FrontDeskAppointment,
    OutboxMessage,
    RegisterSubmission,
    Setting,
)
from care.services import Actor
from care.services import appointments as booking
from care.services import register as svc
from care.services.imports import run_import
from care.services.settings import load_settings
from tests.factories import make_customer, make_user, make_vehicle, make_visit

# Monday 11 May 2026, 10:00 in Shanghai
NOW = datetime(2026, 5, 11, 2, 0, tzinfo=UTC)
DAY = date(2026, 5, 12)  # tomorrow


def at(day: date, hh: int, mm: int = 0) -> datetime:
    """A wall-clock time in Shanghai as aware UTC."""
    return datetime(day.year, day.month, day.day, hh, mm, tzinfo=ZoneInfo("Asia/Shanghai")).astimezone(UTC)


@pytest.fixture
def w(session):
    user = make_user(session, "specialist")
    return {"s": session, "user": user}


def book(w, *, day=DAY, hh=9, mm=0, kind="maintenance", customer=None, vehicle=None, now=NOW, **kw):
    customer = customer or make_customer(w["s"])
    vehicle = vehicle or make_vehicle(w["s"], customer)
    return booking.book(
        w["s"], customer=customer, vehicle=vehicle, task=None, date=day, time=time(hh, mm), service_kind=kind,
        notes=None, user=kw.pop("user", w["user"]), now=now, **kw,
    )  # fmt: skip


def refusal(w, **kw) -> dict:
    with pytest.raises(booking.AppointmentInvalid) as info:
        book(w, **kw)
    return info.value.errors


# --- booking: capacity, overbooking, the past, opening hours ------------------------------


def test_a_full_slot_needs_a_reason_which_is_stored(w):
    for _ in range(4):  # the capacity (4 per 30-minute slot)
        book(w, hh=9, mm=10)
    errors = refusal(w, hh=9, mm=20)
    assert set(errors) == {"time"}
    assert errors["time"].params == {"slot": "09:00–09:30", "used": 4, "capacity": 4}
    fifth = book(w, hh=9, mm=20, overbook_reason="  老客户，只能这个时间 ")
    assert fifth.overbook_reason == "老客户，只能这个时间"
    uses = booking.day_slots(w["s"], DAY)
    nine = next(u for u in uses if u.slot.start == time(9, 0))
    assert (nine.used, nine.free, nine.over) == (5, 0, 1)
    assert book(w, hh=9, mm=30).overbook_reason is None  # the next slot has room


def test_the_front_desks_own_bookings_take_places_too(w):
    for n in range(3):
        v = make_vehicle(w["s"], make_customer(w["s"]))
        w["s"].add(FrontDeskAppointment(appt_no=f"FD{n}", vehicle_id=v.id, date=DAY, time=time(9, 0), service_kind="repair"))
    w["s"].flush()
    book(w, hh=9)
    assert set(refusal(w, hh=9, mm=15)) == {"time"}


def test_a_slot_setting_changes_the_capacity(w):
    w["s"].add(Setting(key="appointment_slot_capacity", value="1", updated_by="t"))
    w["s"].flush()
    book(w, hh=14)
    assert set(refusal(w, hh=14, mm=10)) == {"time"}


def test_the_past_and_outside_opening_hours_are_refused(w):
    assert set(refusal(w, day=date(2026, 5, 10))) == {"date"}
    assert set(refusal(w, day=date(2026, 5, 11), hh=9)) == {"time"}  # earlier today
    err = refusal(w, hh=18)
    assert err["time"].template == "Choose a time within the opening hours, %(start)s to %(end)s."
    assert set(refusal(w, hh=8, mm=0)) == {"time"}


def test_a_long_overbooking_reason_is_refused(w):
    assert set(refusal(w, overbook_reason="x" * 501)) == {"overbook_reason"}


def test_the_advisor_is_a_front_desk_user_or_a_name(w):
    desk = make_user(w["s"], "front_desk", display_name="何佳")
    assert book(w, advisor="何佳").advisor_id == desk.id
    named = book(w, hh=10, advisor="王磊")
    assert named.advisor_id is None and named.advisor_name == "王磊"


# --- status changes -----------------------------------------------------------------------


def test_status_changes_keep_their_history(w):
    a = book(w)
    svc.change_status(w["s"], a, "confirmed", user=w["user"], now=NOW)
    with pytest.raises(svc.RegisterError):
        svc.change_status(w["s"], a, "cancelled", user=w["user"], now=NOW)  # no reason
    svc.change_status(w["s"], a, "cancelled", user=w["user"], now=NOW, reason="客户出差")
    with pytest.raises(svc.RegisterError):
        svc.change_status(w["s"], a, "confirmed", user=w["user"], now=NOW)
    rows = w["s"].scalars(select(AppointmentStatusChange).where(AppointmentStatusChange.appointment_id == a.id)
                          .order_by(AppointmentStatusChange.id)).all()  # fmt: skip
    assert [(r.from_status, r.to_status, r.reason) for r in rows] == [
        (None, "booked", None), ("booked", "confirmed", None), ("confirmed", "cancelled", "客户出差")
    ]
    assert all(r.changed_by_id == w["user"].id for r in rows)


def test_rescheduling_moves_it_and_a_refused_time_changes_nothing(w):
    a = book(w)
    with pytest.raises(booking.AppointmentInvalid):
        svc.reschedule(w["s"], a, booking.BookingRequest(date="2026-05-12", time="19:00"), user=w["user"], now=NOW)
    w["s"].refresh(a)
    assert a.status == "booked"
    new = svc.reschedule(w["s"], a, booking.BookingRequest(date="2026-05-13", time="10:30", notes="客户改期"), user=w["user"], now=NOW)
    assert (a.status, a.rescheduled_to_id) == ("rescheduled", new.id)
    assert (new.date, new.time, new.status, new.vehicle_id) == (date(2026, 5, 13), time(10, 30), "confirmed", a.vehicle_id)


# --- submission, its deadline, changes after it, the violation --------------------------------


def test_submission_before_and_after_the_deadline(w):
    a = book(w)
    with time_machine.travel(at(DAY, 17, 29), tick=False):
        reg = svc.day_register(w["s"], DAY, now=datetime.now(UTC))
        assert not reg.submission.submitted and not reg.submission.overdue
    with time_machine.travel(at(DAY, 17, 31), tick=False):
        now = datetime.now(UTC)
        assert svc.day_register(w["s"], DAY, now=now).submission.overdue
        assert svc.overdue_days(w["s"], now=now) == [DAY]
        row = svc.submit(w["s"], DAY, user=w["user"], now=now)
    assert row.late and row.submitted_by_id == w["user"].id and row.submitted_at == at(DAY, 17, 31)
    doc = svc.register_document(w["s"], DAY, now=at(DAY, 18, 0))
    assert doc["submitted_at"] == "2026-05-12T17:31:00+08:00" and doc["late"] is True
    assert [x["id"] for x in doc["appointments"]] == [a.id]


def test_a_submission_on_time_is_not_late(w):
    book(w)
    row = svc.submit(w["s"], DAY, user=w["user"], now=at(DAY, 17, 30))
    assert not row.late
    assert svc.overdue_days(w["s"], now=at(DAY, 20, 0)) == []


def test_a_change_after_submission_is_marked_until_submitted_again(w):
    a = book(w)
    b = book(w, hh=10)
    svc.submit(w["s"], DAY, user=w["user"], now=NOW)
    assert not svc.day_register(w["s"], DAY, now=NOW).submission.changed
    svc.change_status(w["s"], a, "confirmed", user=w["user"], now=NOW)  # no change of the register
    assert not svc.day_register(w["s"], DAY, now=NOW).submission.changed
    svc.change_status(w["s"], b, "cancelled", user=w["user"], now=NOW, reason="改天")
    c = book(w, hh=11)
    sub = svc.day_register(w["s"], DAY, now=NOW).submission
    assert sub.changed and sub.changes == {"added": [c.id], "removed": [b.id], "changed": []}
    assert svc.register_document(w["s"], DAY, now=NOW)["changed_after_submission"] is True
    again = svc.submit(w["s"], DAY, user=w["user"], now=NOW)
    assert again.times == 2 and not svc.day_register(w["s"], DAY, now=NOW).submission.changed


def test_a_day_not_submitted_is_a_violation_of_the_care_manager(w):
    manager = make_user(w["s"], "care_manager")
    book(w)  # on the 12th
    book(w, day=date(2026, 5, 13))
    settings = load_settings(w["s"])
    with time_machine.travel(at(DAY, 17, 0), tick=False):
        assert svc.find_violations(w["s"], date(2026, 5, 1), settings) == []  # not due yet
    with time_machine.travel(at(date(2026, 5, 13), 9, 0), tick=False):
        found = svc.find_violations(w["s"], date(2026, 5, 1), settings)
    assert found == [{
        "rule": "register_not_submitted", "person_id": manager.id, "evidence": [("register_day", "2026-05-12")],
        "count": 1, "detail": {"day": "2026-05-12", "deadline": "17:30", "submitted_at": None}, "key": "2026-05-12",
    }]  # fmt: skip
    # the registry accepts it: one violation per day
    from care.domain.violations import as_finding

    assert as_finding(found[0]).key == "2026-05-12"
    svc.submit(w["s"], DAY, user=w["user"], now=at(DAY, 19, 0))  # late: still a violation
    with time_machine.travel(at(date(2026, 5, 14), 9, 0), tick=False):
        found = svc.find_violations(w["s"], date(2026, 5, 1), settings)
    assert [f["evidence"] for f in found] == [[("register_day", "2026-05-12")], [("register_day", "2026-05-13")]]
    assert found[0]["detail"]["submitted_at"] == "2026-05-12 19:00"


# --- the reminder SMS the day before ------------------------------------------------------------


class Recorder:
    name = "fake"

    def __init__(self):
        self.sent = []

    def send(self, message):
        self.sent.append(message)
        return f"fake-{len(self.sent)}"


def test_the_reminder_goes_the_day_before_with_consent_and_a_number(w):
    ok = book(w, customer=make_customer(w["s"], name="王伟"))
    refused = book(w, hh=10, customer=make_customer(w["s"], no_sms=True))
    nonumber = book(w, hh=11, customer=make_customer(w["s"], mobile=None))
    later = book(w, day=date(2026, 5, 14), hh=9)
    counts = svc.queue_reminders(w["s"], now=NOW)
    assert counts == {"reminders_queued": 1, "reminders_skipped": 2}
    messages = {m.idempotency_key: m for m in w["s"].scalars(select(OutboxMessage))}
    sent = messages[svc.reminder_key(ok.id)]
    assert sent.status == "queued" and "2026年5月12日 09:00" in sent.body and "王伟车主" in sent.body
    assert (messages[svc.reminder_key(refused.id)].status, messages[svc.reminder_key(refused.id)].last_error) == ("skipped", "consent")
    assert messages[svc.reminder_key(nonumber.id)].last_error == "no_address"
    assert svc.reminder_key(later.id) not in messages
    assert svc.queue_reminders(w["s"], now=NOW) == {"reminders_queued": 0, "reminders_skipped": 0}  # once


def test_the_reminder_waits_for_the_end_of_quiet_hours(w):
    book(w)
    night = at(date(2026, 5, 11), 6, 0)  # the day before, 06:00: quiet hours
    svc.queue_reminders(w["s"], now=night)
    fake = Recorder()
    counts = outbox.send_due(w["s"], settings=load_settings(w["s"]), now=night, adapter_for=lambda ch: fake)
    assert counts["deferred"] == 1 and fake.sent == []
    morning = at(date(2026, 5, 11), 9, 0)
    counts = outbox.send_due(w["s"], settings=load_settings(w["s"]), now=morning, adapter_for=lambda ch: fake)
    assert counts["sent"] == 1 and len(fake.sent) == 1


def test_a_cancelled_appointment_gets_no_reminder(w):
    a = book(w)
    svc.queue_reminders(w["s"], now=NOW)
    svc.change_status(w["s"], a, "cancelled", user=w["user"], now=NOW, reason="不来了")
    message = w["s"].scalar(select(OutboxMessage).where(OutboxMessage.idempotency_key == svc.reminder_key(a.id)))
    assert (message.status, message.last_error) == ("skipped", svc.WITHDRAWN)


# --- arrivals and no-shows from the visits import -------------------------------------------------


def write_csv(tmp_path: Path, name: str, lines: list[str]) -> Path:
    path = tmp_path / name
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_a_visits_import_marks_arrivals_and_the_next_morning_the_no_shows(w, tmp_path):
    came = book(w, day=DAY)
    late = book(w, day=DAY, hh=10)
    missed = book(w, day=DAY, hh=11)
    make_visit(w["s"], missed.vehicle, date=date(2026, 5, 1), ro_no="ROOLD")  # before the booking: no arrival
    path = write_csv(tmp_path, "visits.csv", [
        "ro_no,vin,date,kind,mileage",
        f"RO1,{came.vehicle.vin},2026-05-12,maintenance,5200",
        f"RO2,{late.vehicle.vin},2026-05-13,maintenance,7000",  # a day late: within the tolerance
    ])  # fmt: skip
    run = run_import(w["s"], "visits", path, filename="visits.csv", actor=Actor("tester"), now=at(date(2026, 5, 13), 23, 0))
    assert run.status == "done" and run.created == 2
    for a in (came, late, missed):
        w["s"].refresh(a)
    assert (came.status, late.status, missed.status) == ("arrived", "arrived", "booked")
    assert came.visit.ro_no == "RO1"
    # the morning after the appointment's day: the one with no visit is a no-show
    counts = svc.sweep_appointments(w["s"], now=at(date(2026, 5, 13), 8, 30))
    assert counts["appointments_no_show"] == 1
    w["s"].refresh(missed)
    assert missed.status == "no_show" and missed.follow_up_task_id is not None
    task = w["s"].get(CareTask, missed.follow_up_task_id)
    assert (task.type, task.status, task.reason_id, task.assignee_id) == (
        "appointment", "open", svc.NO_SHOW_REASON, w["user"].id
    )
    assert task.reason_params == {"date": "2026-05-12", "time": "11:00"}
    assert svc.sweep_appointments(w["s"], now=at(date(2026, 5, 13), 9, 0))["appointments_no_show"] == 0
    # it came after all (a late import): arrived, and the follow-up call is withdrawn
    make_visit(w["s"], missed.vehicle, date=date(2026, 5, 13), ro_no="RO3")
    svc.mark_arrivals(w["s"], now=at(date(2026, 5, 13), 12, 0))
    w["s"].refresh(missed)
    w["s"].refresh(task)
    assert missed.status == "arrived" and task.status == "canceled"
    rates = svc.show_rates(w["s"], DAY)
    assert (rates.day.numerator, rates.day.denominator) == (3, 3)


def test_no_no_show_before_the_morning_after(w):
    a = book(w)
    assert svc.mark_no_shows(w["s"], now=at(DAY, 23, 0)) == 0
    assert svc.mark_no_shows(w["s"], now=at(date(2026, 5, 13), 8, 0)) == 0
    assert svc.mark_no_shows(w["s"], now=at(date(2026, 5, 13), 8, 30)) == 1
    w["s"].refresh(a)
    assert a.status == "no_show"


def test_a_customer_who_refuses_calls_gets_no_follow_up_call(w):
    a = book(w, customer=make_customer(w["s"], no_call=True))
    svc.mark_no_shows(w["s"], now=at(date(2026, 5, 13), 9, 0))
    w["s"].refresh(a)
    assert a.status == "no_show" and a.follow_up_task_id is None


def test_the_month_show_rate_in_the_report(w):
    from care.domain.kpis import report_document
    from care.services.kpis import monthly_kpis

    arrived, missed = book(w), book(w, hh=10)
    book(w, day=date(2026, 5, 20))  # still ahead: not decided
    svc.change_status(w["s"], arrived, "arrived", user=w["user"], now=NOW)
    svc.mark_no_shows(w["s"], now=at(date(2026, 5, 13), 9, 0))
    w["s"].refresh(missed)
    doc = report_document(monthly_kpis(w["s"], date(2026, 5, 1), now=at(date(2026, 5, 13), 9, 0)))
    assert doc["appointment_show_rate"] == {"rate": 0.5, "numerator": 1, "denominator": 2}
    empty = report_document(monthly_kpis(w["s"], date(2026, 4, 1), now=at(date(2026, 5, 13), 9, 0)))
    assert empty["appointment_show_rate"] == {"rate": None, "numerator": 0, "denominator": 0}


# --- the front desk's copy: the appointments import and the reconciliation ---------------------------


def test_the_appointments_import_and_its_rejects(w, tmp_path):
    customer = make_customer(w["s"], customer_no="C900001")
    v1 = make_vehicle(w["s"], customer)
    v2 = make_vehicle(w["s"], customer)
    desk = make_user(w["s"], "front_desk", display_name="何佳")
    path = write_csv(tmp_path, "yy.csv", [
        "预约单号,车架号,客户编号,预约日期,预约时间,预约类型,服务顾问",
        f"YY1,{v1.vin},C900001,2026-05-12,09:00,定保,何佳",
        f"YY2,{v2.vin},C900001,2026/5/12,10:30,维修,王磊",
        "YY3,LSVAB218000000000,C900001,2026-05-12,11:00,定保,",
        f"YY4,{v1.vin},C900001,2026-05-12,25:00,定保,",
        f"YY5,{v1.vin},C999999,2026-05-12,09:00,定保,",
    ])  # fmt: skip
    run = run_import(w["s"], "appointments", path, filename="yy.csv", actor=Actor("tester"), now=NOW)
    assert (run.created, run.rejected) == (2, 3)
    rejects = {(r["row"], r["column"]): r["error"] for r in run.all_rejects}
    assert set(rejects) == {(4, "vin"), (5, "time"), (6, "customer_no")}
    assert "No vehicle with VIN" in rejects[(4, "vin")] or "check digit" in rejects[(4, "vin")]
    assert "not a time of day" in rejects[(5, "time")]
    assert "No customer with customer_no" in rejects[(6, "customer_no")]
    assert [(w_["row"], w_["column"]) for w_ in run.all_warnings] == [(3, "advisor")]
    lines = w["s"].scalars(select(FrontDeskAppointment).order_by(FrontDeskAppointment.appt_no)).all()
    assert [(x.appt_no, x.time, x.service_kind, x.advisor_id, x.advisor_name, x.source) for x in lines] == [
        ("YY1", time(9, 0), "maintenance", desk.id, "何佳", "import"),
        ("YY2", time(10, 30), "repair", None, "王磊", "import"),
    ]
    again = run_import(w["s"], "appointments", path, filename="yy.csv", actor=Actor("tester"), now=NOW)
    assert (again.created, again.unchanged) == (0, 2)


def test_an_unknown_vehicle_is_rejected_not_guessed(w, tmp_path):
    from tests.factories import vin_for

    path = write_csv(tmp_path, "yy.csv", ["appt_no,vin,date,time,kind", f"YY9,{vin_for(987654)},2026-05-12,09:00,maintenance"])
    run = run_import(w["s"], "appointments", path, filename="yy.csv", actor=Actor("tester"), now=NOW)
    assert run.created == 0
    assert [(r["row"], r["column"]) for r in run.all_rejects] == [(2, "vin")]
    assert "No vehicle with VIN" in run.all_rejects[0]["error"]


def test_the_register_json_reconciles_the_two_copies(w, app):
    a = book(w, hh=9)
    b = book(w, hh=10)
    c = book(w, hh=11, kind="maintenance")
    stranger = make_vehicle(w["s"], make_customer(w["s"]))
    w["s"].add_all([
        FrontDeskAppointment(appt_no="YY1", vehicle_id=a.vehicle_id, customer_id=a.customer_id, date=DAY, time=time(9, 0), service_kind="maintenance"),
        FrontDeskAppointment(appt_no="YY3", vehicle_id=c.vehicle_id, customer_id=c.customer_id, date=DAY, time=time(11, 30), service_kind="repair"),
        FrontDeskAppointment(appt_no="YY4", vehicle_id=stranger.id, customer_id=stranger.customer_id, date=DAY, time=time(14, 0), service_kind="repair"),
    ])  # fmt: skip
    w["s"].commit()
    result = app.test_cli_runner().invoke(args=["care", "register", "--date", "2026-05-12", "--json"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.output)
    assert set(doc) >= {"date", "submitted_at", "submitted_by", "changed_after_submission", "appointments", "differences"}
    assert (doc["date"], doc["submitted_at"], doc["submitted_by"], doc["changed_after_submission"]) == ("2026-05-12", None, None, False)
    rows = {(x["vin"], x["source"]) for x in doc["appointments"]}
    assert rows == {(a.vehicle.vin, "both"), (b.vehicle.vin, "care"), (c.vehicle.vin, "both"), (stranger.vin, "front_desk")}
    first = next(x for x in doc["appointments"] if x["id"] == a.id)
    assert first == {"id": a.id, "vin": a.vehicle.vin, "customer_no": a.customer.customer_no, "time": "09:00",
                     "kind": "maintenance", "status": "booked", "source": "both"}  # fmt: skip
    assert [(d["kind"], d["vin"]) for d in doc["differences"]] == [
        ("missing_at_front_desk", b.vehicle.vin),
        ("time_differs", c.vehicle.vin),
        ("kind_differs", c.vehicle.vin),
        ("missing_in_care", stranger.vin),
    ]
    assert doc["differences"][1]["care"] == {"time": "11:00", "kind": "maintenance"}
    assert doc["differences"][1]["front_desk"] == {"time": "11:30", "kind": "repair"}
    bad = app.test_cli_runner().invoke(args=["care", "register", "--date", "12/05/2026", "--json"])
    assert bad.exit_code != 0


def test_a_front_desk_line_kept_in_the_app(w):
    v = make_vehicle(w["s"], make_customer(w["s"]))
    line = svc.add_front_desk_line(w["s"], vin=v.vin.lower(), day=DAY, at="09:30", kind="repair", advisor="王磊",
                                   appt_no=None, user=w["user"], now=NOW)  # fmt: skip
    assert (line.appt_no, line.source, line.vehicle_id) == ("APP-20260512-001", "app", v.id)
    with pytest.raises(svc.FrontDeskInvalid) as info:
        svc.add_front_desk_line(w["s"], vin="NOPE", day=DAY, at="9", kind="car_wash", advisor=None, appt_no=None,
                                user=w["user"], now=NOW)  # fmt: skip
    assert set(info.value.errors) == {"vin", "time", "kind"}
    assert w["s"].scalar(select(RegisterSubmission)) is None

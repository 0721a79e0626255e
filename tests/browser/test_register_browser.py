"""The appointment register in a real browser (R17): a specialist books from a task into a
nearly full day (the form shows the one place left in the slot), submits the day's
register, and once the front desk has written its copy the two copies are reconciled."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import expect

from care.extensions import db
from care.models import Appointment, FrontDeskAppointment
from tests.factories import PASSWORD, make_customer, make_task, make_user, make_vehicle

pytestmark = pytest.mark.browser


def seed(app) -> dict:
    tomorrow = (datetime.now(UTC).astimezone(ZoneInfo("Asia/Shanghai")) + timedelta(days=1)).date()
    with app.app_context():
        s = db.session
        me = make_user(s, "specialist", username="spec", display_name="刘婷", locale="en")
        make_user(s, "front_desk", username="desk", display_name="何佳", locale="en")
        other = make_user(s, "specialist", username="peer")
        wang = make_customer(s, name="王小明")
        car = make_vehicle(s, wang, plate="川A12345")
        task = make_task(s, wang, assignee=me, vehicle_id=car.id, type="maintenance")
        for n in range(3):  # 09:00–09:30 holds 4: three are taken
            c = make_customer(s, name=f"客户{n}")
            v = make_vehicle(s, c)
            s.add(Appointment(customer_id=c.id, vehicle_id=v.id, date=tomorrow, time=time(9, 0), service_kind="maintenance",
                              status="booked", created_by_id=other.id, created_at=datetime.now(UTC)))  # fmt: skip
            s.add(FrontDeskAppointment(appt_no=f"YY{n}", vehicle_id=v.id, customer_id=c.id, date=tomorrow,
                                       time=time(9, 0), service_kind="maintenance"))  # fmt: skip
        s.commit()
        return {"task": task.id, "vin": car.vin, "day": tomorrow.isoformat()}


def log_in(page, live_server, username):
    page.goto(live_server("/auth/login"))
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(lambda url: "/auth/login" not in url)


def test_book_into_a_nearly_full_day_submit_and_reconcile(page, live_server):
    world = seed(live_server.app)
    log_in(page, live_server, "spec")

    # Booking from the task: choosing the day shows the places left per slot.
    page.goto(live_server(f"/appointments/new?task={world['task']}"))
    page.fill("#date", world["day"])
    page.locator("#date").dispatch_event("change")
    nine = page.locator("#slot-places .slot-place", has_text="09:00")
    expect(nine).to_contain_text("1 free")
    page.fill("#time", "09:00")
    page.get_by_role("button", name="Book appointment").click()
    page.wait_for_url(lambda url: "/appointments/new" not in url)
    expect(page.locator(".flashes")).to_contain_text("Appointment booked")

    # The register of that day: the slot is full now, the new one is missing at the front desk.
    page.goto(live_server(f"/register/?date={world['day']}"))
    expect(page.locator(".slot-cell", has_text="09:00")).to_contain_text("4/4")
    differences = page.locator(".difference-table")
    expect(differences).to_contain_text("Missing at the front desk")
    expect(differences).to_contain_text(world["vin"])
    page.get_by_role("button", name="Submit the register to the front desk").click()
    expect(page.locator(".submission")).to_contain_text("Submitted by 刘婷")
    expect(page.locator(".submission")).to_contain_text("on time")

    # The front desk writes the booking into its copy: the two copies agree.
    page.get_by_role("button", name="Log out").click()
    log_in(page, live_server, "desk")
    page.goto(live_server(f"/register/?date={world['day']}"))
    expect(page.locator(".submission")).to_contain_text("Submitted by 刘婷")
    page.fill("#vin", world["vin"])
    page.fill("form.desk-form #time", "09:00")
    page.select_option("#kind", "maintenance")
    page.get_by_role("button", name="Add", exact=True).click()
    expect(page.locator(".flashes")).to_contain_text("Added to the front desk's copy.")
    expect(page.locator("#h-differences")).to_contain_text("0")
    expect(page.locator("#register")).to_contain_text("The two copies agree.")
    expect(page.locator(".register-table")).not_to_contain_text("care department only")

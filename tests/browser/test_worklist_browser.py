"""The worklist in a real browser: keyboard moves, filters in place, reassignment by htmx;
and working a bundled contact opened from it (the contact page, outcomes by htmx)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest

from care.extensions import db
from tests.factories import PASSWORD, make_customer, make_task, make_user, make_vehicle, make_visit

pytestmark = pytest.mark.browser


def seed(app, role: str):
    """Three customers with tasks for one specialist; a second specialist; a user of `role`."""
    now = datetime.now(UTC)
    with app.app_context():
        s = db.session
        spec = make_user(s, "specialist", username="spec-1", display_name="Spec One", locale="en")
        make_user(s, "specialist", username="spec-2", display_name="Spec Two", locale="en")
        user = spec if role == "specialist" else make_user(s, role, username=f"{role}-1", locale="en")
        for i, name in enumerate(["张三", "李四", "王五"]):
            c = make_customer(s, name=name)
            make_task(s, c, assignee=spec, due_at=now + timedelta(days=1 + i))
            if i == 0:
                make_task(s, c, assignee=spec, type="birthday", reason_id="birthday.reason",
                          reason_params={"birthday": "1990-01-01"}, due_at=now + timedelta(days=2))
        s.commit()
        return user.username


def log_in(page, live_server, username):
    page.goto(live_server("/auth/login"))
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(live_server("/tasks/"))


def selected_name(page):
    return page.locator("[data-contact].is-selected [data-contact-link]").inner_text()


def test_specialist_moves_with_j_k_and_opens_with_enter(page, live_server):
    log_in(page, live_server, seed(live_server.app, "specialist"))
    rows = page.locator("[data-contact]")
    assert rows.count() == 3
    page.keyboard.press("j")
    assert selected_name(page) == "张三"
    assert page.evaluate("document.activeElement.matches('[data-contact-link]')")
    page.keyboard.press("j")
    page.keyboard.press("j")
    page.keyboard.press("j")  # stays on the last line
    assert selected_name(page) == "王五"
    page.keyboard.press("k")
    assert selected_name(page) == "李四"
    page.keyboard.press("/")
    assert page.evaluate("document.activeElement.name") == "status"
    page.locator("[data-contact]").nth(1).locator("[data-contact-link]").focus()
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r".*/(tasks/contact|customers)/\d+$"))


def test_filters_update_the_list_in_place(page, live_server):
    log_in(page, live_server, seed(live_server.app, "specialist"))
    page.locator("input[name=type][value=birthday]").check()
    page.wait_for_url(re.compile(r".*type=birthday.*"))
    page.locator("[data-contact]").first.wait_for()
    page.wait_for_function("document.querySelectorAll('[data-contact]').length === 1")
    assert page.locator("[data-contact] [data-contact-link]").inner_text() == "张三"
    assert page.locator("#task-counts").inner_text().startswith("1 contact")


def test_manager_reassigns_a_contact_line(page, live_server):
    log_in(page, live_server, seed(live_server.app, "care_manager"))
    load = page.locator("aside.load")
    assert "Spec One" in load.inner_text()
    first = page.locator("[data-contact]").first
    first.locator("[data-select-line]").check()
    # Ticking the line ticks each of its tasks.
    assert first.locator("input[form=reassign-form]:not([data-select-line])").evaluate_all(
        "boxes => boxes.every(b => b.checked)"
    )
    page.select_option("#reassign-to", label="Spec Two")
    page.get_by_role("button", name="Reassign the ticked tasks").click()
    page.get_by_text("2 tasks reassigned to Spec Two.").wait_for()
    assert page.url == live_server("/tasks/")  # no full-page navigation
    row = page.locator("aside.load tr", has_text="Spec Two")
    assert row.get_attribute("data-total") == "2"


# --- the bundled contact: from the worklist to the contact page and back ---------------
# A specialist has two first-service tasks and a birthday task of three customers; one of
# the first-service customers also has a warranty-expiry task (a bundled contact). The
# specialist filters the worklist to first service, opens that contact, records "serviced
# elsewhere" (after being told the price is missing) and "declined", and goes back to the
# worklist, where the customer is no longer listed.


def seed_bundled_contact(app) -> dict:
    with app.app_context():
        s = db.session
        me = make_user(s, "specialist", username="spec-1", display_name="Specialist Zhang", locale="en")
        now = datetime.now(UTC)
        wang = make_customer(s, customer_no="K300001", name="王小明", mobile="+8613800138000", no_sms=True)
        car = make_vehicle(s, wang, plate="川A12345", model="Tiguan L", mileage=4321)
        make_visit(s, car, kind="maintenance", mileage=3000)
        first = make_task(s, wang, assignee=me, vehicle_id=car.id, due_at=now + timedelta(days=5))
        warranty = make_task(
            s, wang, assignee=me, vehicle_id=car.id, type="warranty_expiry", due_at=now + timedelta(days=6),
            reason_id="warranty_expiry.reason", reason_params={"warranty_end": "2027-01-31"},
        )
        li = make_customer(s, customer_no="K300002", name="李四")
        make_task(s, li, assignee=me, vehicle_id=make_vehicle(s, li).id, due_at=now + timedelta(days=7))
        zhang = make_customer(s, customer_no="K300003", name="张三")
        make_task(s, zhang, assignee=me, type="birthday", reason_id="birthday.reason",
                  reason_params={"birthday": now.date().isoformat()}, due_at=now + timedelta(hours=2))
        s.commit()
        return {"user": me.username, "first": first.id, "warranty": warranty.id}


def test_work_a_bundled_contact_from_the_worklist(page, live_server, tmp_path):
    ids = seed_bundled_contact(live_server.app)
    log_in(page, live_server, ids["user"])  # the worklist is a specialist's start page
    worklist = page.locator("#worklist")
    for name in ("王小明", "李四", "张三"):
        worklist.get_by_role("link", name=name).wait_for()

    # filter to first-service tasks (htmx swaps the list)
    page.locator(".type-filter").get_by_label("First service").check()
    worklist.get_by_role("link", name="张三").wait_for(state="detached")
    assert worklist.get_by_role("link", name="李四").count() == 1

    worklist.get_by_role("link", name="王小明").click()
    page.wait_for_url(re.compile(r".*/tasks/contact/\d+$"))
    page.get_by_role("heading", name="Outcomes").wait_for()
    page.screenshot(path=str(tmp_path / "contact.png"), full_page=True)

    # one outcome panel beside the call, a row per task (issue 10 item 1)
    first = page.locator(f"#orow-{ids['first']}")
    warranty = page.locator(f"#orow-{ids['warranty']}")
    record = page.locator("#contact-outcomes").get_by_role("button", name="Record outcomes")
    assert first.get_by_label("Shop name").is_hidden()  # the fields follow the outcome chosen
    first.get_by_label("Will come").check()
    assert first.get_by_label("Date").is_visible()  # booking offered in the same step
    page.screenshot(path=str(tmp_path / "contact_will_come.png"), full_page=True)

    # serviced elsewhere, first without the price: the error comes back beside the field
    first.get_by_label("Already serviced elsewhere").check()
    first.get_by_label("Shop name").fill("速修汽修")
    first.get_by_label("Location").fill("成都高新区")
    record.click()
    first.get_by_text("Fill in this field.").wait_for()
    assert first.get_by_label("Shop name").input_value() == "速修汽修"
    page.screenshot(path=str(tmp_path / "contact_error.png"), full_page=True)
    first.get_by_label("Price (CNY)").fill("688")
    record.click()
    page.locator("#contact-outcomes").get_by_text("Recorded: First service: Already serviced elsewhere.").wait_for()
    page.locator("#recent-timeline").get_by_text("Already serviced elsewhere").wait_for()  # out of band
    assert page.locator("#open-count").inner_text() == "(1)"

    # declined on the other task; the contact is settled
    warranty.get_by_label("Declined").check()
    warranty.get_by_label("Reason").fill("车已经卖了")
    record.click()
    page.get_by_text("All tasks of this contact are settled.").wait_for()
    page.screenshot(path=str(tmp_path / "contact_done.png"), full_page=True)

    page.get_by_role("link", name="Back to the worklist").last.click()
    page.wait_for_url(re.compile(r".*/tasks/$"))
    worklist = page.locator("#worklist")
    worklist.get_by_role("link", name="李四").wait_for()
    assert worklist.get_by_role("link", name="王小明").count() == 0
    assert worklist.get_by_role("link", name="张三").count() == 1

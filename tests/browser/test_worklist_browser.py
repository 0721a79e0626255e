"""The worklist in a real browser: keyboard moves, filters in place, reassignment by htmx;
working a bundled contact opened from it (the contact page, outcomes by htmx); the call
states and the "next contact" key n (issue 10 items 2-3)."""

from __future__ import annotations

import os
import re
from datetime import UTC, datetime, timedelta

import pytest

from care.extensions import db
from tests.browser.test_accessibility import AXE, axe_violations
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
    page.wait_for_load_state()
    if page.url != live_server("/tasks/"):  # the care manager lands on the dashboard
        page.goto(live_server("/tasks/"))
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
    page.wait_for_url(re.compile(r".*/tasks/contact/\d+\?type=first_service$"))  # the list's filter kept
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


# --- call states and "next contact" (issue 10 items 2-3) ---------------------------------
# At 10:00 (CARE_NOW, the morning slot) a specialist has five contacts: two callable, one
# called this morning without an answer, one ringing, one answered without an outcome.


@pytest.fixture
def axe_js():
    """axe-core, as tests/browser/test_accessibility.py finds it (missing: skipped, on CI failed)."""
    if not AXE.exists():
        reason = f"{AXE} is missing: run scripts/ensure-axe.sh (make browser-deps)"
        if os.environ.get("CI") == "true":
            pytest.fail(reason, pytrace=False)
        pytest.skip(reason)
    return str(AXE)


def seed_call_states(app, locale="en") -> dict:
    from care.domain.dates import local_datetime
    from care.models.call import CallAttemptTask
    from tests.factories import make_attempt

    now = datetime(2026, 10, 10, 2, 0, tzinfo=UTC)  # 10:00 in Shanghai
    app.config["CARE_NOW"] = now.isoformat()  # the app fixture restores the config

    def at(hh, mm):
        return local_datetime(now.date(), datetime.min.time().replace(hour=hh, minute=mm), "Asia/Shanghai")

    with app.app_context():
        s = db.session
        me = make_user(s, "specialist", username="spec-1", display_name="Spec One", locale=locale)
        ids = {}
        for i, (name, kind) in enumerate([("赵一", "waiting"), ("钱二", "callable"), ("孙三", "ringing"),
                                          ("李四", "answered"), ("周五", "callable")]):  # fmt: skip
            c = make_customer(s, name=name)
            tasks = [make_task(s, c, assignee=me, due_at=now + timedelta(days=1 + i), opens_on=now.date())]
            if name == "赵一":  # three reasons, one call
                tasks += [make_task(s, c, assignee=me, type=t, due_at=now + timedelta(days=1), opens_on=now.date())
                          for t in ("inspection", "warranty_expiry")]  # fmt: skip
            if kind == "waiting":
                a = make_attempt(s, tasks[0], status="no_answer", outcome="no_answer", started_at=at(9, 5))
                s.add_all(CallAttemptTask(attempt_id=a.id, task_id=t.id) for t in tasks[1:])
            elif kind == "ringing":
                make_attempt(s, tasks[0], status="ringing", started_at=at(9, 58))
            elif kind == "answered":
                make_attempt(s, tasks[0], status="completed", outcome="completed", answered=True, started_at=at(9, 30))
            ids[name] = c.id
        s.commit()
        return {"user": me.username, **ids}


def test_call_states_on_the_worklist_and_n_for_the_next_contact(page, live_server, axe_js):
    ids = seed_call_states(live_server.app)
    log_in(page, live_server, ids["user"])
    rows = page.locator("[data-contact]")
    states = rows.evaluate_all("rs => rs.map(r => [r.querySelector('[data-contact-link]').textContent, r.dataset.state])")
    assert states == [["钱二", "callable"], ["周五", "callable"], ["赵一", "waiting"], ["孙三", "in_progress"],
                      ["李四", "outcome_missing"]]  # fmt: skip
    zhao = page.locator(f"[data-customer-id='{ids['赵一']}']")
    assert "Unsuccessful attempts 1/3" in zhao.inner_text() and "next: afternoon 14:00" in zhao.inner_text()
    assert page.locator("#state-counts [data-state=callable]").get_attribute("data-count") == "2"
    assert axe_violations(page, axe_js) == []

    # n does nothing while a field has the focus, nor with Shift
    link = page.locator("a[data-next-contact]")
    link.evaluate("a => a.addEventListener('click', e => { window.clicks = (window.clicks || 0) + 1; e.preventDefault(); })")
    page.locator("select[name=status]").focus()
    page.keyboard.press("n")
    page.locator("input[name=type][value=birthday]").focus()
    page.keyboard.press("n")
    page.evaluate("document.activeElement.blur()")
    page.keyboard.press("Shift+N")
    assert page.evaluate("window.clicks || 0") == 0
    page.keyboard.press("n")
    assert page.evaluate("window.clicks") == 1

    # for real: n opens the first callable contact
    page.reload()
    page.keyboard.press("n")
    page.wait_for_url(live_server(f"/tasks/contact/{ids['钱二']}"))
    # the next after it, then none left: back to the list with the message
    page.goto(live_server(f"/tasks/next?after={ids['钱二']}"))
    page.wait_for_url(live_server(f"/tasks/contact/{ids['周五']}"))
    page.goto(live_server(f"/tasks/next?after={ids['周五']}"))
    page.wait_for_url(live_server(f"/tasks/contact/{ids['钱二']}"))  # from the top again
    page.goto(live_server("/tasks/?state=waiting"))
    assert page.locator("[data-contact]").count() == 1
    page.goto(live_server(f"/tasks/next?after={ids['钱二']}&type=birthday"))
    page.wait_for_url(live_server("/tasks/?type=birthday"))
    page.get_by_text("No more callable contacts right now.").wait_for()


def test_the_call_states_in_chinese_pass_axe(browser, live_server, axe_js):
    ids = seed_call_states(live_server.app, locale="zh_CN")
    context = browser.new_context(locale="zh-CN", extra_http_headers={"Accept-Language": "zh-CN,zh"},
                                  viewport={"width": 1280, "height": 900})  # fmt: skip
    try:
        page = context.new_page()
        log_in(page, live_server, ids["user"])
        page.goto(live_server("/tasks/"))
        text = page.locator("#worklist").inner_text()
        for words in ("现在可拨", "等待拨打时段", "下一时段：下午 14:00", "通话中", "已接通，待记录结果", "未接通 1/3 次",
                      "从第一位可拨打的联系人开始"):  # fmt: skip
            assert words in text, words
        assert axe_violations(page, axe_js) == []
    finally:
        context.close()

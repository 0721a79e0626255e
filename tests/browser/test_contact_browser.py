"""The contact as one conversation in a real browser (issue 10 items 1, 3 and 6): a
three-reason contact worked in one call with the simulator; a double click on Call
starts one call; three contacts worked in a row with `n`.

As in test_call_browser.py: the live server's app runs the simulator's thread, which posts
signed events to the server's own webhook; CARE_NOW puts the requests in tomorrow's
morning slot (the webhook's real clock never sees the window closed).
"""

from __future__ import annotations

import re
from datetime import datetime, time, timedelta
from time import sleep
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from care.extensions import db
from care.models import CallAttemptTask, TaskOutcome
from care.models.call import CallAttempt
from care.models.types import utcnow
from care.services import scripts as script_service
from tests.factories import PASSWORD, make_customer, make_task, make_user, make_vehicle

pytestmark = pytest.mark.browser

TZ = ZoneInfo("Asia/Shanghai")


def at(hour: int) -> datetime:
    tomorrow = datetime.now(TZ).date() + timedelta(days=1)
    return datetime.combine(tomorrow, time(hour, 0), TZ)


def calling(app) -> None:
    app.config.update(
        CARE_SIM_THREAD=True, CARE_SIM_DELAY=0.05, CARE_NOW=at(10).isoformat(), CARE_WEBHOOK_APPLY="background"
    )


def log_in(page, live_server, username: str) -> None:
    page.goto(live_server("/auth/login"))
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(live_server("/tasks/"))


def seed(app, reasons: dict[str, tuple[str, ...]]) -> dict:
    """A specialist, the default scripts, and a customer per name with a task per reason;
    the customers' deadlines in the order given (the worklist's order)."""
    with app.app_context():
        s = db.session
        script_service.ensure_default_scripts(s, now=utcnow())
        me = make_user(s, "specialist", username="caller", display_name="Caller", locale="en")
        found = {"user": me.username, "customers": {}, "tasks": {}}
        for n, (name, kinds) in enumerate(reasons.items()):
            c = make_customer(s, name=name)
            v = make_vehicle(s, c, plate=f"川A9{n:04d}")
            due = at(10) + timedelta(days=2 + n)
            found["customers"][name] = c.id
            found["tasks"][name] = [
                make_task(s, c, assignee=me, vehicle_id=v.id, type=kind, due_at=due + timedelta(minutes=i)).id
                for i, kind in enumerate(kinds)
            ]
        s.commit()
        return found


def call_and_wait(page, outcome: str = "answered") -> None:
    area = page.locator("#contact-call")
    area.locator("select[name=force]").select_option(outcome)
    area.get_by_role("button", name="Call", exact=True).click()
    status = "completed" if outcome == "answered" else outcome
    page.wait_for_selector(f'#contact-call .call-panel[data-status="{status}"]', timeout=15_000)


def test_a_three_reason_contact_in_one_call(page, live_server, tmp_path):
    app = live_server.app
    calling(app)
    w = seed(app, {"王小明": ("first_service", "inspection", "warranty_expiry")})
    first, inspection, warranty = w["tasks"]["王小明"]
    log_in(page, live_server, w["user"])
    page.goto(live_server(f"/tasks/contact/{w['customers']['王小明']}"))

    # one Call button for the contact, one script: greeting once, three reasons, closing once
    area = page.locator("#contact-call")
    assert area.get_by_role("button", name="Call", exact=True).count() == 1
    assert area.locator('[data-callable="yes"]').count() == 3
    script = page.locator(".contact-script")
    assert script.locator(".script-greeting").count() == 1 and script.locator(".script-closing").count() == 1
    assert script.locator(".script-part").count() == 3
    assert script.inner_text().count("【问候】") == 1 and script.inner_text().count("【结束语】") == 1
    # the outcome panel is beside the call, not below the script
    call_box = area.bounding_box()
    outcomes_box = page.locator("#contact-outcomes").bounding_box()
    assert outcomes_box["x"] > call_box["x"] + call_box["width"] - 1 and outcomes_box["y"] < call_box["y"] + 50
    page.screenshot(path=str(tmp_path / "contact-before-call.png"), full_page=True)

    call_and_wait(page)
    assert page.locator("#contact-call .call-line").count() == 3
    page.locator('#contact-call .call-meaning[data-counts="reached"]').wait_for()

    rows = {t: page.locator(f"#orow-{t}") for t in (first, inspection, warranty)}
    rows[first].get_by_label("Will come").check()
    rows[inspection].get_by_label("Declined").check()
    rows[inspection].get_by_label("Reason").fill("刚年检过")
    rows[warranty].get_by_label("Checked elsewhere").check()
    rows[warranty].get_by_label("Shop name").fill("路边店")
    rows[warranty].get_by_label("Location").fill("高新区")
    page.locator("#contact-outcomes").get_by_role("button", name="Record outcomes").click()
    rows[warranty].get_by_text("Fill in this field.").wait_for()  # the price: nothing recorded yet
    assert rows[inspection].get_by_label("Reason").input_value() == "刚年检过"  # the other rows kept
    rows[warranty].get_by_label("Price (CNY)").fill("300")
    page.locator("#contact-outcomes").get_by_role("button", name="Record outcomes").click()
    page.get_by_text("All tasks of this contact are settled.").wait_for()
    page.screenshot(path=str(tmp_path / "contact-done.png"), full_page=True)

    with app.app_context():
        s = db.session
        [attempt] = s.scalars(select(CallAttempt)).all()
        assert attempt.outcome == "completed"
        assert sorted(s.scalars(select(CallAttemptTask.task_id).where(CallAttemptTask.attempt_id == attempt.id))) == [
            first, inspection, warranty
        ]  # fmt: skip
        recorded = {o.task_id: o for o in s.scalars(select(TaskOutcome))}
        assert {t: o.outcome for t, o in recorded.items()} == {
            first: "will_come", inspection: "declined", warranty: "serviced_elsewhere"
        }  # fmt: skip
        assert all(o.script_version_id is not None for o in recorded.values())  # each its own version
        assert len({o.script_version_id for o in recorded.values()}) == 3


def test_a_double_click_starts_one_call(page, live_server):
    """Issue 10 item 6: the Call button is disabled while its request runs (the request is
    held back here to make sure the second click lands during it), and nothing replaces the
    live panel."""
    app = live_server.app
    calling(app)
    app.config["CARE_SIM_DELAY"] = 0.4
    w = seed(app, {"李四": ("first_service", "maintenance")})
    log_in(page, live_server, w["user"])
    page.goto(live_server(f"/tasks/contact/{w['customers']['李四']}"))
    starts: list[str] = []

    def slow(route):
        starts.append(route.request.url)
        sleep(0.4)  # the browser goes on meanwhile: the second click lands during the request
        route.continue_()

    page.route(re.compile(r".*/calls/contact/\d+$"), slow)
    area = page.locator("#contact-call")
    area.locator("select[name=force]").select_option("no_answer")
    area.get_by_role("button", name="Call", exact=True).dblclick()
    page.locator("#contact-call .call-panel").wait_for()
    assert page.locator("#contact-call .call-state-live").count() == 2  # "call in progress" at once, on both
    page.wait_for_selector('#contact-call .call-panel[data-status="no_answer"]', timeout=15_000)
    assert page.locator("#call-messages .call-refusal").count() == 0
    assert len(starts) == 1
    with app.app_context():
        assert db.session.query(CallAttempt).count() == 1


def test_three_contacts_in_a_row_with_n(page, live_server):
    """A specialist's day: from the worklist, three contacts (one with three reasons)
    called and settled one after the other, `n` leading to the next contact each time."""
    app = live_server.app
    calling(app)
    w = seed(app, {"赵一": ("first_service", "inspection", "warranty_expiry"), "钱二": ("maintenance",),
                   "孙三": ("first_service",)})  # fmt: skip
    log_in(page, live_server, w["user"])
    page.keyboard.press("j")
    page.keyboard.press("Enter")
    visited = []
    for name in ("赵一", "钱二", "孙三"):
        page.wait_for_url(live_server(f"/tasks/contact/{w['customers'][name]}"))
        visited.append(name)
        call_and_wait(page)
        for task_id in w["tasks"][name]:
            page.locator(f"#orow-{task_id}").get_by_label("Declined").check()
            page.locator(f"#orow-{task_id}").get_by_label("Reason").fill("暂不需要")
        page.locator("#contact-outcomes").get_by_role("button", name="Record outcomes").click()
        page.get_by_text("All tasks of this contact are settled.").wait_for()
        if name != "孙三":
            page.locator("#contact-outcomes").get_by_role("link", name=re.compile("Next contact")).wait_for()
            page.locator("body").focus()
            page.keyboard.press("n")
    assert visited == ["赵一", "钱二", "孙三"]
    with app.app_context():
        assert db.session.query(CallAttempt).count() == 3
        assert db.session.query(TaskOutcome).count() == 5


def test_the_contact_works_with_the_keyboard_only(page, live_server):
    """Tab to Call and press Enter; choose an outcome with the arrow keys (its fields
    appear), fill them, and record with Enter: no mouse."""
    app = live_server.app
    calling(app)
    w = seed(app, {"周五": ("first_service", "inspection")})
    first, inspection = w["tasks"]["周五"]
    log_in(page, live_server, w["user"])
    page.goto(live_server(f"/tasks/contact/{w['customers']['周五']}"))
    page.locator("#contact-call select[name=force]").select_option("answered")

    def tab_to(selector: str, limit: int = 80) -> None:
        for _ in range(limit):
            page.keyboard.press("Tab")
            if page.evaluate("(s) => document.activeElement && document.activeElement.matches(s)", selector):
                return
        raise AssertionError(f"Tab never reached {selector}")

    page.locator("body").focus()
    tab_to("#contact-call .call-button")
    page.keyboard.press("Enter")
    page.wait_for_selector('#contact-call .call-panel[data-status="completed"]', timeout=15_000)

    page.locator("body").focus()
    tab_to(f"#orow-{inspection} input[type=radio]")  # the group's checked radio: "Not now"
    page.keyboard.press("ArrowRight")  # Will come
    page.keyboard.press("ArrowRight")  # Inspected elsewhere: its fields appear
    row = page.locator(f"#orow-{inspection}")
    assert row.get_by_label("Shop name").is_visible() and row.locator("textarea").is_visible()
    page.keyboard.press("Tab")
    page.keyboard.type("年检站")
    page.keyboard.press("Tab")
    page.keyboard.type("高新区")
    page.keyboard.press("Tab")
    page.keyboard.type("300")
    tab_to("#contact-outcomes button[type=submit]")
    page.keyboard.press("Enter")
    page.locator("#contact-outcomes").get_by_text("Recorded: Annual inspection: Inspected elsewhere.").wait_for()
    assert page.locator(f"#orow-{first}").count() == 1 and page.locator(f"#orow-{inspection}").count() == 0

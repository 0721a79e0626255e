"""A complaint walked through its eight steps in a real browser, each step by the user
whose role takes it (R20): the specialist records the customer's own complaint from the
customer page; the care manager writes the opinion, the general manager reviews, the sales
manager dispatches to a consultant and returns the handled form; the care manager calls
the customer back through the simulator — dissatisfied the first time, so the complaint
goes back to step 2 (reopened) — and, after the second round, satisfied; the general
manager signs off and the specialist archives it. Every page is checked with axe."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from care.extensions import db
from care.models import Complaint
from tests.browser.test_accessibility import AXE, TAGS
from tests.factories import PASSWORD, make_customer, make_user, make_vehicle

pytestmark = pytest.mark.browser


def seed(app) -> dict:
    app.config.update(CARE_SIM_THREAD=True, CARE_SIM_DELAY=0.05, CARE_WEBHOOK_APPLY="background")
    with app.app_context():
        s = db.session
        make_user(s, "specialist", username="spec", display_name="专员 刘婷")
        make_user(s, "care_manager", username="cm", display_name="客服经理 周红梅")
        make_user(s, "general_manager", username="gm", display_name="总经理 郑国华")
        make_user(s, "sales_manager", username="sm", display_name="销售经理 黄建国")
        make_user(s, "consultant", username="cons", display_name="顾问 张伟")
        wang = make_customer(s, name="王小明", mobile="+8613800138000")
        make_vehicle(s, wang, plate="川A12345", model="Tiguan L")
        s.commit()
        return {"customer": wang.id}


class Desk:
    """One browser context per user, logged in once."""

    def __init__(self, browser, live_server):
        self.browser, self.live_server, self.pages, self.contexts = browser, live_server, {}, []

    def __call__(self, username: str):
        if username not in self.pages:
            context = self.browser.new_context(locale="en-US", viewport={"width": 1280, "height": 900})
            context.set_default_timeout(10_000)
            self.contexts.append(context)
            page = context.new_page()
            page.goto(self.live_server("/auth/login"))
            page.fill("input[name=username]", username)
            page.fill("input[name=password]", PASSWORD)
            page.click("button[type=submit]")
            page.wait_for_url(lambda url: "/auth/login" not in url)
            self.pages[username] = page
        return self.pages[username]

    def close(self):
        for context in self.contexts:
            context.close()


@pytest.fixture
def desk(browser, live_server):
    d = Desk(browser, live_server)
    yield d
    d.close()


def no_axe_violations(page):
    if not AXE.exists():
        return
    page.add_script_tag(path=str(AXE))
    found = page.evaluate(
        "tags => axe.run(document, {runOnly: {type: 'tag', values: tags}}).then(r => r.violations.map(v => v.id + ': ' + v.help))",
        TAGS,
    )
    assert found == [], f"{page.url}: {found}"


def take(desk, live_server, username, complaint_id, text=None, *, check=None, select=None):
    page = desk(username)
    page.goto(live_server(f"/complaints/{complaint_id}"))
    form = page.locator("form.step-form")
    if select:
        form.locator("select[name=handler]").select_option(label=select)
    if check:
        form.get_by_label(check, exact=True).check()
    if text is not None:
        form.locator("textarea[name=text]").fill(text)
    step = form.locator("input[name=step]").get_attribute("value")
    form.get_by_role("button").click()
    page.wait_for_selector(".flash")
    return page, int(step)


def call_back(desk, live_server, complaint_id):
    page = desk("cm")
    page.goto(live_server(f"/complaints/{complaint_id}"))
    page.locator("select[name=force]").select_option("answered")
    page.get_by_role("button", name="Call the customer back").click()
    expect(page.locator(".call-panel")).to_have_attribute("data-status", "completed", timeout=15_000)


def test_walk_a_complaint_through_eight_steps_with_a_reopening(desk, live_server):
    world = seed(live_server.app)
    spec = desk("spec")
    spec.goto(live_server(f"/customers/{world['customer']}"))
    spec.get_by_role("link", name="Record a complaint").click()
    no_axe_violations(spec)
    spec.get_by_role("button", name="Record the complaint").click()  # empty: refused, said why
    expect(spec.locator("p.error")).to_contain_text("Describe the complaint")
    spec.locator("textarea[name=text]").fill("交车时发现左后门有划痕")
    spec.get_by_label("Sales complaint").check()
    spec.get_by_role("button", name="Record the complaint").click()
    spec.wait_for_selector("text=waits for the care manager's handling opinion")
    complaint_id = int(spec.url.rstrip("/").rsplit("/", 1)[1])
    no_axe_violations(spec)

    # The general manager may not write the opinion: no form for them
    gm = desk("gm")
    gm.goto(live_server(f"/complaints/{complaint_id}"))
    assert gm.locator("form.step-form").count() == 0
    assert "This step is taken by the Care manager" in gm.inner_text("#step-form")

    # the care manager sees it waiting in the navigation
    cm = desk("cm")
    cm.goto(live_server("/complaints/mine"))
    expect(cm.locator("nav.nav")).to_contain_text("Complaints")
    assert cm.locator(f"#complaint-{complaint_id}").count() == 1
    no_axe_violations(cm)

    def round_two_to_six(satisfied: bool):
        assert take(desk, live_server, "cm", complaint_id, "请销售部核实，向客户致歉")[1] == 2
        assert take(desk, live_server, "gm", complaint_id, "同意")[1] == 3
        assert take(desk, live_server, "sm", complaint_id, "", select="顾问 张伟")[1] == 4
        assert take(desk, live_server, "sm", complaint_id, "已补漆，客户已确认")[1] == 5
        call_back(desk, live_server, complaint_id)
        no_axe_violations(desk("cm"))
        verdict = "Satisfied" if satisfied else "Not satisfied: back to the handling opinion"
        page, step = take(desk, live_server, "cm", complaint_id, "客户回访意见", check=verdict)
        assert step == 6
        return page

    page = round_two_to_six(satisfied=False)
    expect(page.locator(".flash")).to_contain_text("reopened")
    expect(page.locator("h1")).to_contain_text("reopened once")
    expect(page.locator("#step-form h2")).to_contain_text("Step 2")

    round_two_to_six(satisfied=True)
    assert take(desk, live_server, "gm", complaint_id, "")[1] == 7
    page, step = take(desk, live_server, "spec", complaint_id, "")
    assert step == 8
    expect(page.locator(".flash")).to_contain_text("closed and archived")
    history = page.inner_text("#h-history >> xpath=..")
    assert history.count("Handling opinion") == 2 and "dissatisfied: reopened" in history
    no_axe_violations(page)
    with live_server.app.app_context():
        complaint = db.session.get(Complaint, complaint_id)
        assert complaint.closed_at is not None and complaint.reopened == 1
        assert [s.step for s in complaint.steps] == [1, 2, 3, 4, 5, 6, 2, 3, 4, 5, 6, 7, 8]


def test_a_low_phone_survey_score_opens_a_complaint_walked_through_all_eight_steps(desk, live_server):
    """R19 → R20 in one go: the specialist takes the post-delivery survey on the phone and
    gives one item a 3; finishing it opens the complaint (its form already naming the low
    item), which the five users walk through the eight steps, reopened once at step 6."""
    from datetime import UTC, datetime, timedelta

    from sqlalchemy import select

    from care.models.types import utcnow
    from care.services import phone_survey
    from care.services import scripts as script_service
    from tests.factories import make_delivery, make_task

    world = seed(live_server.app)
    app = live_server.app
    app.config.update(CARE_NOW=(datetime.now(UTC) + timedelta(days=1)).replace(hour=2, minute=0).isoformat())
    with app.app_context():
        s = db.session
        script_service.ensure_default_scripts(s, now=utcnow())
        from care.models import User, Vehicle

        spec_user = s.scalars(select(User).where(User.username == "spec")).one()
        car = s.scalars(select(Vehicle).where(Vehicle.customer_id == world["customer"])).one()
        task = make_task(s, car.customer, assignee=spec_user, vehicle_id=car.id, type="delivery_survey",
                         delivery_id=make_delivery(s, car).id, reason_id="delivery_survey.reason",
                         due_at=datetime.now(UTC) + timedelta(days=3))  # fmt: skip
        s.commit()
        codes = [r.item.code for r in phone_survey.survey_for(s, task, user=spec_user, now=utcnow()).rows]
        task_id = task.id

    spec = desk("spec")
    spec.goto(live_server(f"/tasks/contact/{world['customer']}"))
    panel = spec.locator(f"#survey-{task_id}")
    panel.wait_for()
    settled = "n => document.querySelectorAll('.si-saved').length >= n && !document.querySelector('.htmx-request')"
    for n, (code, score) in enumerate(zip(codes, ("7", "3", "6"), strict=False), start=1):
        panel.locator(f'[data-survey-item="{code}"] input[value="{score}"]').check()
        spec.wait_for_function(settled, arg=n)
    panel.get_by_role("button", name="Finish survey").click()
    spec.locator(f"#survey-{task_id}").get_by_text("outcome recorded").wait_for()

    with app.app_context():
        complaint = db.session.scalars(select(Complaint).where(Complaint.source == "survey")).one()
        complaint_id, kind = complaint.id, complaint.kind
    assert kind == "sales"  # an SSI response: the sales manager dispatches it
    page, step = take(desk, live_server, "spec", complaint_id, "客户对交车流程的一项评分为 3 分")
    assert step == 1

    def round_two_to_six(satisfied: bool):
        assert take(desk, live_server, "cm", complaint_id, "请销售部核实，向客户致歉")[1] == 2
        assert take(desk, live_server, "gm", complaint_id, "同意")[1] == 3
        assert take(desk, live_server, "sm", complaint_id, "", select="顾问 张伟")[1] == 4
        assert take(desk, live_server, "sm", complaint_id, "已向客户说明并致歉")[1] == 5
        call_back(desk, live_server, complaint_id)
        verdict = "Satisfied" if satisfied else "Not satisfied: back to the handling opinion"
        assert take(desk, live_server, "cm", complaint_id, "客户回访意见", check=verdict)[1] == 6

    round_two_to_six(satisfied=False)
    round_two_to_six(satisfied=True)
    assert take(desk, live_server, "gm", complaint_id, "")[1] == 7
    page, step = take(desk, live_server, "spec", complaint_id, "")
    assert step == 8
    expect(page.locator(".flash")).to_contain_text("closed and archived")
    no_axe_violations(page)
    with app.app_context():
        complaint = db.session.get(Complaint, complaint_id)
        assert complaint.closed_at is not None and complaint.reopened == 1 and complaint.survey_response_id is not None
        assert [s.step for s in complaint.steps] == [1, 2, 3, 4, 5, 6, 2, 3, 4, 5, 6, 7, 8]

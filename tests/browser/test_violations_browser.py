"""The violations pages in a real browser (R23): the care manager derives October, sees
the late birthday greetings with their evidence, confirms one at an amount within its
range (an amount outside it is refused with the reason shown), waives another with a
reason, and the summary per person follows; the specialist sees only their own."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from care.extensions import db
from care.models import User
from care.services import Actor, sampling
from care.services.settings import set_settings
from tests.browser.test_accessibility import log_in
from tests.factories import make_customer, make_task, make_user
from tests.services.helpers_sampling import NOW, OCTOBER, call, october

pytestmark = pytest.mark.browser


def seed(app) -> dict:
    app.config["CARE_NOW"] = NOW.isoformat()  # early November at the dealer
    with app.app_context():
        s = db.session
        make_user(s, "care_manager", username="cm", display_name="客服经理 周红梅", locale="en")
        a = make_user(s, "specialist", username="spec_a", display_name="客服 刘婷", locale="en")
        b = make_user(s, "insurance", username="ins_b", display_name="保险 孙丽", locale="en")
        for day in (8, 9):
            due = datetime(2026, 10, day, 3, tzinfo=UTC)
            make_task(s, make_customer(s, name=f"客户{day}"), type="birthday", assignee=a, due_at=due,
                      status="expired", outcome="expired", closed_at=due)  # fmt: skip
        # an insurance call judged "not done" in the sample: the insurance specialist's, 50–100 yuan
        cm = s.scalars(select(User).where(User.username == "cm")).one()
        call(s, b, october(3))
        draw = sampling.draw_sample(s, OCTOBER, seed=1, user=cm, actor=Actor.of(cm), now=NOW)
        sampling.record_verdict(s, draw.calls[0], "not_done", "没有提醒保险到期", user=cm, actor=Actor.of(cm), now=NOW)
        set_settings(s, {"campaigns_per_month": "0"}, actor=Actor.of(cm), now=NOW)  # no R11 quota in this world
        s.commit()
        return {"a": a.id}


def summary_of(page, name: str) -> list[str]:
    row = page.locator("table.violations-summary tbody tr", has_text=name)
    return [c.strip() for c in row.locator("td").all_inner_texts()]


def test_derive_confirm_and_waive(page, live_server):
    seed(live_server.app)
    log_in(page, live_server, "cm")
    page.goto(live_server("/violations/?month=2026-10"))
    page.get_by_role("button", name="Derive now").click()
    expect(page.locator("text=Derived 2026-10: 3 new")).to_be_visible()
    greetings = page.locator("table.violations-list tr", has_text="Birthday greeting late or not done")
    expect(greetings).to_have_count(2)
    assert summary_of(page, "客服 刘婷") == ["2", "2", "0", "0", "0", "100"]

    # the insurance reminder not done: 50–100 yuan; 120 is refused, 80 is taken
    page.locator("table.violations-list tr", has_text="Insurance reminder below standard").locator("td").first.get_by_role("link").click()
    page.get_by_label("Confirm", exact=True).check()
    page.fill("#decision-amount", "120")
    page.evaluate("document.querySelector('#decision-amount').removeAttribute('max')")  # past the browser's check
    page.get_by_role("button", name="Save decision").click()
    expect(page.get_by_role("alert")).to_have_text("The amount must be from 50 to 100 yuan.")
    page.fill("#decision-amount", "80")
    page.get_by_role("button", name="Save decision").click()
    expect(page.locator("table.violations-list tr", has_text="Insurance reminder below standard").locator(".badge")).to_have_text("confirmed")
    assert summary_of(page, "保险 孙丽") == ["1", "0", "1", "0", "80", "0"]

    # waive the first greeting: the reason is required
    greetings.first.locator("td").first.get_by_role("link").click()
    page.get_by_label("Waive", exact=True).check()
    page.get_by_role("button", name="Save decision").click()
    expect(page.get_by_role("alert")).to_have_text("Say why the violation is waived.")
    page.get_by_label("Reason (required to waive)").fill("客户当天住院，家属要求改期问候")
    page.get_by_role("button", name="Save decision").click()
    expect(page.locator("text=waived.").first).to_be_visible()
    assert summary_of(page, "客服 刘婷") == ["2", "1", "0", "1", "0", "50"]
    page.screenshot(path="/tmp/violations-list.png", full_page=True)

    # the specialist: only her own, read-only
    page.context.clear_cookies()
    log_in(page, live_server, "spec_a")
    page.goto(live_server("/violations/?month=2026-10"))
    expect(page.get_by_role("heading", level=1)).to_contain_text("My violations")
    expect(page.locator("table.violations-list tbody tr")).to_have_count(2)
    assert "保险 孙丽" not in page.content()
    page.locator("table.violations-list tbody tr").first.locator("td").first.get_by_role("link").click()
    expect(page.get_by_role("button", name="Save decision")).to_have_count(0)

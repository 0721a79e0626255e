"""The monthly report page in a real browser (R22 workflow): the care manager generates
March's report, writes and submits it; the general manager sees the trend charts,
cannot return it without a comment, approves it; the page passes axe; printed (print
media, A4 width) it keeps the figures and the charts and drops the navigation and forms."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import expect

from care.extensions import db
from tests.browser.test_accessibility import AXE, TAGS, log_in
from tests.factories import make_customer, make_task, make_user, make_vehicle

pytestmark = pytest.mark.browser

SH = ZoneInfo("Asia/Shanghai")
NOW = datetime(2026, 4, 2, 2, 0, tzinfo=UTC)  # 2 April 10:00 at the dealer


def seed(app) -> None:
    app.config["CARE_NOW"] = NOW.isoformat()
    with app.app_context():
        s = db.session
        make_user(s, "care_manager", username="cm", display_name="周红梅", locale="en")
        make_user(s, "general_manager", username="gm", display_name="郑国华", locale="en")
        spec = make_user(s, "specialist", username="spec", display_name="刘婷")
        wang = make_customer(s, name="王小明")
        car = make_vehicle(s, wang, delivery_date=date(2025, 12, 5))
        make_task(s, wang, vehicle_id=car.id, assignee=spec, status="done", outcome="will_come",
                  due_at=datetime(2026, 3, 20, 23, tzinfo=SH), closed_at=datetime(2026, 3, 2, 10, tzinfo=SH))  # fmt: skip
        make_task(s, assignee=spec, due_at=datetime(2026, 3, 25, 23, tzinfo=SH))
        s.commit()


def log_out(page):
    page.get_by_role("button", name="Log out").click()
    page.wait_for_url(lambda url: "/auth/login" in url)


def axe(page) -> list:
    page.add_script_tag(path=str(AXE))
    return page.evaluate(
        "tags => axe.run(document, {runOnly: {type: 'tag', values: tags}}).then(r => r.violations.map(v => v.id + ': ' + v.nodes.map(n => n.target.join(' ')).slice(0, 3).join(', ')))",
        TAGS,
    )


def test_generate_submit_approve_and_print(page, live_server):
    seed(live_server.app)
    log_in(page, live_server, "cm")
    page.goto(live_server("/reports/"))
    page.get_by_role("link", name="Report of 2026-03").click()
    page.get_by_role("button", name="Generate the report").click()
    expect(page.locator(".flash-success")).to_contain_text("generated")
    expect(page.locator("h1 .badge")).to_have_text("Draft")
    page.get_by_label("Analysis of the month").fill("首保提醒率只有 50%，一个任务无人处理。")
    page.get_by_role("button", name="Submit for approval").click()
    expect(page.locator(".flash-error")).to_contain_text("improvement plan")  # the plan is missing
    expect(page.get_by_label("Analysis of the month")).to_have_value("首保提醒率只有 50%，一个任务无人处理。")
    page.get_by_label("Improvement plan for next month").fill("每天上午检查首保任务。")
    page.get_by_role("button", name="Submit for approval").click()
    expect(page.locator("h1 .badge")).to_have_text("Awaiting approval")
    expect(page.locator(".report-history tbody tr")).to_have_count(2)
    expect(page.get_by_role("button", name="Approve")).to_have_count(0)  # not the care manager's step
    log_out(page)

    log_in(page, live_server, "gm")
    page.goto(live_server("/reports/2026-03"))
    expect(page.locator("#trend-returns")).to_be_visible()
    expect(page.locator("svg[role=img]")).to_have_count(4 + 2)
    expect(page.get_by_role("button", name="Submit for approval")).to_have_count(0)
    assert axe(page) == []
    page.get_by_role("button", name="Return to the care manager").click()
    expect(page.locator(".error#comment-error")).to_contain_text("comment is required")
    expect(page.locator("h1 .badge")).to_have_text("Awaiting approval")
    page.get_by_role("button", name="Approve").click()
    expect(page.locator("h1 .badge")).to_have_text("Approved")
    expect(page.locator(".report-history tbody tr").last).to_contain_text("郑国华")
    assert axe(page) == []

    # printed: A4 width, no navigation, no forms or buttons; figures, texts and charts kept
    page.set_viewport_size({"width": 794, "height": 1123})
    page.emulate_media(media="print")
    expect(page.locator(".topbar")).to_be_hidden()
    expect(page.locator(".report-exports")).to_be_hidden()
    assert page.locator("form:visible").count() == 0 and page.locator("button:visible").count() == 0
    expect(page.locator(".report-dealer")).to_be_visible()
    expect(page.get_by_text("每天上午检查首保任务。", exact=True)).to_be_visible()
    assert page.locator("svg[role=img]:visible").count() == 6
    assert page.evaluate("document.documentElement.scrollWidth") <= 794  # nothing wider than the page
    shot = page.screenshot(full_page=True)
    assert len(shot) > 10_000
    pdf = page.pdf(format="A4")
    assert pdf.startswith(b"%PDF")

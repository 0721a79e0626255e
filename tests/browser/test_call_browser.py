"""Click-to-call in a real browser: the simulator rings through the app's own webhook.

The live server's app runs the simulator's thread (CARE_SIM_THREAD, CARE_SIM_DELAY
small), which posts signed events to the live server's /webhooks/events; the panel
polls until the call ends. CARE_NOW (honoured only when app.testing) puts the request
in a call slot: tomorrow 10:00 (morning), then 15:00 (afternoon) in the dealer's time
zone — in the future, so the webhook's real clock never sees the window closed.
"""

from __future__ import annotations

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from care.extensions import db
from care.models.call import CallAttempt
from tests.factories import PASSWORD, make_customer, make_task, make_user

pytestmark = pytest.mark.browser

TZ = ZoneInfo("Asia/Shanghai")


def at(hour: int) -> str:
    tomorrow = datetime.now(TZ).date() + timedelta(days=1)
    return datetime.combine(tomorrow, time(hour, 0), TZ).isoformat()


def test_specialist_calls_busy_then_answered(page, live_server):
    app = live_server.app
    app.config.update(CARE_SIM_THREAD=True, CARE_SIM_DELAY=0.05, CARE_NOW=at(10), CARE_WEBHOOK_APPLY="background")
    with app.app_context():
        s = db.session
        spec = make_user(s, "specialist", username="caller", display_name="Caller", locale="en")
        c = make_customer(s, name="赵六")
        task = make_task(s, c, assignee=spec)
        s.commit()
        customer_id, task_id = c.id, task.id

    page.goto(live_server("/auth/login"))
    page.fill("input[name=username]", "caller")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(live_server("/tasks/"))

    page.goto(live_server(f"/tasks/contact/{customer_id}"))
    area = page.locator("#contact-call")
    assert area.locator(f'[data-task="{task_id}"] .slot-open[data-slot="morning"]').count() == 1
    area.locator("select[name=force]").select_option("busy")
    area.get_by_role("button", name="Call", exact=True).click()
    panel = page.locator("#contact-call .call-panel")
    panel.wait_for()
    page.wait_for_selector('#contact-call .call-panel[data-status="busy"]', timeout=15_000)
    # "Counts as an unsuccessful attempt." from the last poll, then "Unsuccessful attempt 1
    # of 3: call again in another time slot." once the area reloads with the task's plan
    page.wait_for_selector('#contact-call .call-meaning:has-text("Unsuccessful attempt 1 of 3")')
    panel = page.locator("#contact-call .call-panel")
    assert "call again in another time slot" in panel.inner_text()
    assert panel.get_attribute("hx-get") is None  # polling stopped

    page.reload()
    area = page.locator("#contact-call")
    assert area.locator('.slot-used[data-slot="morning"]').count() == 1
    assert "already used" in area.locator(f'[data-task="{task_id}"] .call-refusal').inner_text()
    assert area.get_by_role("button", name="Call", exact=True).count() == 0

    app.config["CARE_NOW"] = at(15)
    page.reload()
    area = page.locator("#contact-call")
    area.locator("select[name=force]").select_option("answered")
    area.get_by_role("button", name="Call", exact=True).click()
    page.wait_for_selector('#contact-call .call-panel[data-status="completed"]', timeout=15_000)
    assert "not an unsuccessful attempt" in page.locator("#contact-call .call-panel").inner_text()

    row = page.locator(f"#orow-{task_id}")
    row.get_by_label("Will come").check()
    page.locator("#contact-outcomes").get_by_role("button", name="Record outcomes").click()
    page.wait_for_selector("text=All tasks of this contact are settled.")

    with app.app_context():
        rows = db.session.query(CallAttempt).order_by(CallAttempt.id).all()
        assert [(a.slot, a.outcome, a.counted) for a in rows] == [
            ("morning", "busy", True),
            ("afternoon", "completed", True),
        ]

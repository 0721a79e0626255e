"""The questionnaire beside the call in a real browser (issue 11 items 2, 3): a
post-service callback taken on the phone with the keyboard only (digits, "n", Tab), one
score low, resumed after a reload and finished; a post-delivery survey handed to the
simulator's automated survey during a live call, its answers arriving by themselves.
"""

from __future__ import annotations

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from care.extensions import db
from care.models import CareTask, SurveyResponse
from care.models.types import utcnow
from care.services import phone_survey
from care.services import scripts as script_service
from care.services import surveys as survey_service
from tests.factories import (
    PASSWORD,
    make_customer,
    make_delivery,
    make_task,
    make_user,
    make_vehicle,
)

pytestmark = pytest.mark.browser

TZ = ZoneInfo("Asia/Shanghai")


def at(hour: int) -> datetime:
    tomorrow = datetime.now(TZ).date() + timedelta(days=1)
    return datetime.combine(tomorrow, time(hour, 0), TZ)


def log_in(page, live_server, username: str) -> None:
    page.goto(live_server("/auth/login"))
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(live_server("/tasks/"))


def seed(app, kind: str) -> dict:
    with app.app_context():
        s = db.session
        script_service.ensure_default_scripts(s, now=utcnow())
        me = make_user(s, "specialist", username="caller", display_name="Caller", locale="en")
        c = make_customer(s, name="周杰")
        v = make_vehicle(s, c, plate="川A70007", model="帕萨特")
        d = make_delivery(s, v)
        task = make_task(s, c, assignee=me, vehicle_id=v.id, type=kind, due_at=at(10) + timedelta(days=2),
                         delivery_id=d.id if kind == "delivery_survey" else None, reason_id=f"{kind}.reason")  # fmt: skip
        s.commit()
        codes = [r.item.code for r in phone_survey.survey_for(s, task, user=me, now=utcnow()).rows]
        return {"user": me.username, "customer": c.id, "task": task.id, "codes": codes}


def answers(app, task_id) -> dict:
    with app.app_context():
        r = db.session.scalars(select(SurveyResponse).where(SurveyResponse.task_id == task_id)).first()
        return {} if r is None else {a.item.code: (a.score, a.unanswered, a.source) for a in r.answers}


def test_a_phone_survey_taken_with_the_keyboard(page, live_server, tmp_path):
    app = live_server.app
    app.config.update(CARE_NOW=at(10).isoformat())
    w = seed(app, "service_callback")
    codes = w["codes"]
    log_in(page, live_server, w["user"])
    page.goto(live_server(f"/tasks/contact/{w['customer']}"))
    panel = page.locator(f"#survey-{w['task']}")
    panel.wait_for()
    progress = panel.locator(".survey-progress")
    assert f"0 of {len(codes)}" in progress.inner_text()

    # the first item's score buttons get the focus; from there the keyboard only
    panel.locator(f'[data-survey-item="{codes[0]}"] input[name=score]').first.focus()
    # 9 is no score on 1–7 (ignored); the 5 after it changes the fourth item's 2
    for key in ("7", "Tab", "6", "Tab", "n", "Tab", "2", "9", "5"):
        page.keyboard.press(key)
    settled = "n => document.querySelectorAll('.si-saved').length >= n && !document.querySelector('.htmx-request')"
    page.wait_for_function(settled, arg=4)  # each answer saved as it was typed
    assert f"4 of {len(codes)}" in progress.inner_text() and "low" not in progress.inner_text()
    assert answers(app, w["task"]) == {
        codes[0]: (7, False, "phone"), codes[1]: (6, False, "phone"), codes[2]: (None, True, "phone"),
        codes[3]: (5, False, "phone"),
    }  # fmt: skip
    # one low score: the fifth item, typed after Tab
    page.keyboard.press("Tab")
    page.keyboard.press("3")
    page.wait_for_function(settled, arg=5)
    assert answers(app, w["task"])[codes[4]] == (3, False, "phone")
    assert "1 low score" in progress.inner_text()
    page.screenshot(path=str(tmp_path / "phone-survey.png"), full_page=True)

    # a dropped call loses nothing: reopening resumes with the answers checked
    page.reload()
    panel = page.locator(f"#survey-{w['task']}")
    assert panel.locator(f'[data-survey-item="{codes[0]}"] input[value="7"]').is_checked()
    assert panel.locator(f'[data-survey-item="{codes[2]}"] input[value="none"]').is_checked()
    assert panel.locator(f'[data-survey-item="{codes[4]}"] input[value="3"]').is_checked()

    panel.get_by_label("Note").fill("客户对交车时间不满")
    panel.get_by_role("button", name="Finish survey").click()
    panel = page.locator(f"#survey-{w['task']}")
    panel.get_by_text("outcome recorded: Reached, has an issue").wait_for()
    assert panel.locator("input[name=score]:not([disabled])").count() == 0 or panel.locator("fieldset[disabled]").count() > 0
    page.locator("#contact-outcomes").get_by_text("This customer has no open task.").wait_for()
    with app.app_context():
        task = db.session.get(CareTask, w["task"])
        assert (task.status, task.outcome) == ("done", "reached_issue")
        text = next(i.text_zh for i in survey_service.current_version(db.session, "csi").items if i.code == codes[4])
        assert text in task.outcomes[-1].note and "客户对交车时间不满" in task.outcomes[-1].note
    page.screenshot(path=str(tmp_path / "phone-survey-finished.png"), full_page=True)


def test_a_customer_handed_to_the_simulated_ivr(page, live_server, tmp_path):
    app = live_server.app
    app.config.update(
        CARE_SIM_THREAD=True, CARE_SIM_DELAY=0.05, CARE_SIM_TALK=120, CARE_SIM_SURVEY_MIX="6=1",
        CARE_NOW=at(10).isoformat(), CARE_WEBHOOK_APPLY="background",
    )  # fmt: skip
    w = seed(app, "delivery_survey")
    log_in(page, live_server, w["user"])
    page.goto(live_server(f"/tasks/contact/{w['customer']}"))
    area = page.locator("#contact-call")
    area.locator("select[name=force]").select_option("answered")
    area.get_by_role("button", name="Call", exact=True).click()
    hand = page.get_by_role("button", name="Hand over to the automated survey")
    hand.wait_for(timeout=30_000)  # in the live panel once the customer answered
    hand.click()
    panel = page.locator(f"#survey-{w['task']}")
    panel.get_by_text("outcome recorded").or_(panel.get_by_text("Finished")).first.wait_for(timeout=60_000)
    page.screenshot(path=str(tmp_path / "ivr-survey.png"), full_page=True)
    got = answers(app, w["task"])
    assert len(got) == len(w["codes"]) and set(got.values()) == {(6, False, "ivr")}
    with app.app_context():
        task = db.session.get(CareTask, w["task"])
        assert (task.status, task.outcome) == ("done", "reached_satisfied")

"""Best time to call on the pages: the contact card's words and the worklist's order."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from care.extensions import db
from tests import factories as f

NOW = datetime(2026, 7, 14, 11, 0, tzinfo=UTC)  # Tuesday, 19:00 in Shanghai (evening slot)
EN = {"Accept-Language": "en"}


def calls(session, task, slot, answered, unanswered, hour_utc):
    for n, result in enumerate(["completed"] * answered + ["no_answer"] * unanswered):
        on = date(2026, 6, 2) + timedelta(days=n)
        f.make_attempt(session, task, slot=slot, slot_date=on, outcome=result, status=result, counted=True,
                       started_at=datetime(on.year, on.month, on.day, hour_utc, tzinfo=UTC))  # fmt: skip


@pytest.fixture
def desk(app, login_as):
    me = login_as("specialist", username="spec")
    app.config["CARE_NOW"] = NOW.isoformat()
    with app.app_context():
        s = db.session
        evening = f.make_customer(s, name="晚上接")
        fresh = f.make_customer(s, name="新客户")
        tasks = {}
        for c in (evening, fresh):
            tasks[c.id] = f.make_task(s, c, assignee=me, due_at=NOW + timedelta(days=2), now=NOW)
        past = f.make_task(s, evening, status="done", due_at=NOW - timedelta(days=40), now=NOW)
        calls(s, past, "evening", 4, 1, 11)
        calls(s, past, "morning", 0, 2, 2)
        s.commit()
        return {"evening": evening.id, "fresh": fresh.id}


def test_the_contact_card_says_when_they_usually_answer(client, desk):
    html = client.get(f"/tasks/contact/{desk['evening']}", headers=EN).get_data(as_text=True)
    assert "usually answers in the evening (4 of 5)" in html
    assert 'data-best-slot="evening"' in html and "Best open slot left: evening 18:30" in html
    assert "slot-best" in html
    fresh = client.get(f"/tasks/contact/{desk['fresh']}", headers=EN).get_data(as_text=True)
    assert "no calls yet; the desk reaches most customers in the evening" in fresh
    assert "usually answers" not in fresh


def test_the_contact_card_in_chinese(client, desk):
    html = client.get(f"/tasks/contact/{desk['evening']}", headers={"Accept-Language": "zh-CN"}).get_data(as_text=True)
    assert "通常在晚上接听（5 次中 4 次）" in html


def test_the_worklist_orders_by_reachability(client, desk):
    r = client.get("/tasks/?order=reachable", headers=EN)
    assert r.status_code == 200
    html = r.get_data(as_text=True)
    assert html.index("晚上接") < html.index("新客户")
    assert "likely to answer in the evening" in html and "usually answers in the evening (4 of 5)" in html
    assert 'value="reachable" selected' in html
    assert client.get("/tasks/?order=nonsense", headers=EN).status_code == 400

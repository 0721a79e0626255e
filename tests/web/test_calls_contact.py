"""One call for a contact (care/web/calls.py contact_start, contact_panel, contact_manual):
one attempt for every task that may be called now, the others shown and left out; a
double click makes one attempt and its refusal never carries a panel over the live one
(issue 10 items 1, 5 and 6)."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from care.extensions import db
from care.models import CallAttemptTask, CareTask, Customer, User
from care.models.call import CallAttempt
from tests.factories import (
    PASSWORD,
    make_attempt,
    make_customer,
    make_task,
    make_user,
    make_vehicle,
)

HX = {"HX-Request": "true", "Accept-Language": "en"}
EN = {"Accept-Language": "en"}
MORNING = datetime(2026, 5, 11, 2, 0, tzinfo=UTC)  # Monday 10:00 Shanghai, the morning slot
KINDS = ("first_service", "inspection", "warranty_expiry")


@pytest.fixture
def world(app, login_as):
    """A specialist and a customer with three open tasks of theirs, in the morning slot."""
    app.config["CARE_NOW"] = MORNING.isoformat()
    me = login_as("specialist", username="spec")
    with app.app_context():
        s = db.session
        c = make_customer(s, name="李雷", mobile="+8613800138000")
        v = make_vehicle(s, c, plate="川A10001")
        tasks = [make_task(s, c, assignee=me, vehicle_id=v.id, now=MORNING, type=kind) for kind in KINDS]
        s.commit()
        return {"me": me.id, "customer": c.id, "tasks": [t.id for t in tasks]}


def start(client, world, **kw):
    return client.post(f"/calls/contact/{world['customer']}", data={"force": "busy", **kw.pop("data", {})},
                       headers=kw.pop("headers", HX), **kw)  # fmt: skip


def attempts(app) -> list[CallAttempt]:
    with app.app_context():
        return list(db.session.scalars(select(CallAttempt).order_by(CallAttempt.id)))


def linked(app, attempt_id) -> list[int]:
    with app.app_context():
        return sorted(db.session.scalars(select(CallAttemptTask.task_id).where(CallAttemptTask.attempt_id == attempt_id)))


def end(app, attempt_id, outcome="no_answer"):
    with app.app_context():
        a = db.session.get(CallAttempt, attempt_id)
        a.status = a.outcome = outcome
        a.rank = 4
        db.session.commit()


def test_the_contact_page_has_one_call_button_for_every_task(client, world):
    html = client.get(f"/tasks/contact/{world['customer']}", headers=EN).get_data(as_text=True)
    assert html.count('class="button primary call-button"') == 1
    assert "This call counts for 3 tasks." in html
    assert html.count('data-callable="yes"') == 3
    assert "/calls/start/" not in html  # no Call button per task any more
    assert 'hx-disabled-elt="find button"' in html  # disabled while the request runs


def test_one_attempt_counts_for_every_task_and_the_area_shows_the_call_at_once(app, client, world):
    r = start(client, world)
    assert r.status_code == 200, r.get_data(as_text=True)[:500]
    [a] = attempts(app)
    assert a.task_id == world["tasks"][0]  # the most urgent leads (the first made, same deadline)
    assert linked(app, a.id) == sorted(world["tasks"])
    html = r.get_data(as_text=True)
    assert html.lstrip().startswith('<section id="contact-call"')  # the whole area, swapped at once
    assert f'id="call-panel-{a.id}"' in html and 'hx-trigger="every 1s"' in html  # the live panel polls
    assert html.count("call in progress") == 3  # every task it counts for says so now
    assert "call-button" not in html  # no second Call while it runs


def test_a_task_that_may_not_be_called_now_is_shown_and_does_not_block_the_others(app, client, world):
    first, second, third = world["tasks"]
    with app.app_context():
        s = db.session
        make_attempt(s, s.get(CareTask, first), user_id=world["me"], status="no_answer", outcome="no_answer",
                     rank=4, slot="morning", started_at=MORNING - timedelta(minutes=40))  # fmt: skip
        s.commit()
    html = client.get(f"/tasks/contact/{world['customer']}", headers=EN).get_data(as_text=True)
    line = html[html.index(f'data-task="{first}"'):]
    line = line[: line.index("</li>")]
    assert f'data-task="{first}" data-callable="no"' in html and "not called now" in line
    assert "The morning slot was already used for this task." in line
    assert "Next open slot: afternoon" in line
    assert "This call counts for 2 tasks." in html
    r = start(client, world)
    assert r.status_code == 200
    a = attempts(app)[-1]
    assert a.task_id == second and linked(app, a.id) == sorted([second, third])


def test_a_task_whose_window_closed_is_shown_as_such(app, client, world):
    first, second, third = world["tasks"]
    with app.app_context():
        s = db.session
        make_attempt(s, s.get(CareTask, first), user_id=world["me"], status="busy", outcome="busy", rank=4,
                     slot="morning", started_at=MORNING - timedelta(days=4))  # fmt: skip
        s.commit()
    html = client.get(f"/tasks/contact/{world['customer']}", headers=EN).get_data(as_text=True)
    line = html[html.index(f'data-task="{first}"'):]
    line = line[: line.index("</li>")]
    assert "The time for the call attempts ended" in line
    assert start(client, world).status_code == 200
    assert linked(app, attempts(app)[-1].id) == sorted([second, third])


def test_a_second_click_is_refused_into_the_message_slot_never_over_the_live_panel(app, client, world):
    assert start(client, world).status_code == 200
    r = start(client, world)
    assert r.status_code == 422
    assert r.headers["HX-Retarget"] == "#call-messages" and r.headers["HX-Reswap"] == "innerHTML"
    body = r.get_data(as_text=True)
    assert "still in progress" in body
    assert "call-panel" not in body and "hx-get" not in body and 'id="contact-call"' not in body
    assert len(attempts(app)) == 1


def test_two_clicks_at_once_make_one_attempt(app, client, world):
    """Issue 10 item 6: concurrent starts (a double click, two tabs) ring once."""
    clients = [app.test_client() for _ in range(3)]
    for c in clients:
        assert c.post("/auth/login", data={"username": "spec", "password": PASSWORD}).status_code == 303
    barrier = threading.Barrier(len(clients))
    answers: list = []

    def click(c):
        barrier.wait(10)
        r = c.post(f"/calls/contact/{world['customer']}", data={"force": "busy"}, headers=HX)
        answers.append((r.status_code, r.headers.get("HX-Retarget"), r.get_data(as_text=True)))

    threads = [threading.Thread(target=click, args=(c,)) for c in clients]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert sorted(code for code, _t, _b in answers) == [200, 422, 422], [a[:2] for a in answers]
    for code, target, body in answers:
        if code == 422:
            assert target == "#call-messages" and "call-panel" not in body
    [a] = attempts(app)
    assert linked(app, a.id) == sorted(world["tasks"])


def test_a_colleague_s_task_of_the_same_contact_is_not_called(app, client, world):
    with app.app_context():
        s = db.session
        other = make_user(s, "specialist", display_name="Colleague Li")
        theirs = make_task(s, s.get(Customer, world["customer"]), assignee=other, now=MORNING, type="maintenance")
        s.commit()
        theirs_id = theirs.id
    html = client.get(f"/tasks/contact/{world['customer']}", headers=EN).get_data(as_text=True)
    assert f'data-task="{theirs_id}" data-callable' not in html  # not among the calls
    assert f'id="orow-{theirs_id}"' in html and f'name="t{theirs_id}-outcome"' not in html  # read-only row
    assert "Assigned to Colleague Li" in html
    assert start(client, world).status_code == 200
    assert theirs_id not in linked(app, attempts(app)[-1].id)


def test_only_colleagues_tasks_is_403(app, client, world, login_as):
    client.post("/auth/logout")
    login_as("specialist", username="peer")
    assert start(client, world).status_code == 403
    assert start(client, world, headers=EN).status_code == 403
    assert attempts(app) == []


def test_plain_post_goes_back_to_the_contact(app, client, world):
    r = start(client, world, headers=EN)
    assert r.status_code == 303 and r.headers["Location"].endswith(f"/tasks/contact/{world['customer']}")
    r = start(client, world, headers=EN)  # refused: a flash on the contact page
    assert r.status_code == 303
    assert "still in progress" in client.get(r.headers["Location"], headers=EN).get_data(as_text=True)
    assert len(attempts(app)) == 1


def test_the_call_area_fragment(app, client, world):
    start(client, world)
    [a] = attempts(app)
    r = client.get(f"/calls/contact/{world['customer']}/panel", headers=HX)
    assert r.status_code == 200 and f'id="call-panel-{a.id}"' in r.get_data(as_text=True)
    end(app, a.id, "busy")
    html = client.get(f"/calls/contact/{world['customer']}/panel", headers=HX).get_data(as_text=True)
    assert 'data-status="busy"' in html and "hx-trigger=\"every 1s\"" not in html  # the ended call stays in view
    assert "call-button" not in html  # the morning slot is used for all three
    r = client.get(f"/calls/contact/{world['customer']}/panel", headers=EN)
    assert r.status_code == 302 and r.headers["Location"].endswith(f"/tasks/contact/{world['customer']}")
    assert client.get("/calls/contact/999999/panel", headers=HX).status_code == 404
    assert client.post("/calls/contact/999999", headers=HX).status_code == 404


def test_the_area_reloads_on_tasks_changed_and_the_panel_end_fires_it(app, client, world):
    start(client, world)
    [a] = attempts(app)
    end(app, a.id, "busy")
    r = client.get(f"/calls/{a.id}/panel", headers={**HX, "HX-Trigger": f"call-panel-{a.id}"})
    assert "tasks-changed" in json.loads(r.headers["HX-Trigger"])
    html = client.get(f"/tasks/contact/{world['customer']}", headers=EN).get_data(as_text=True)
    assert 'hx-trigger="tasks-changed[!detail.manual] from:body"' in html


# --- a call made outside the app (issue 10 item 5) ------------------------------------


def manual(client, world, headers=HX, **data):
    return client.post(f"/calls/contact/{world['customer']}/manual", data=data, headers=headers)


def test_a_call_from_another_phone_counts_for_the_contact_s_tasks(app, client, world):
    html = client.get(f"/tasks/contact/{world['customer']}", headers=EN).get_data(as_text=True)
    assert "Called from another phone? Record the call" in html and 'value="2026-05-11T10:00"' in html
    r = manual(client, world, at="2026-05-11T09:40", result="no_answer")
    assert r.status_code == 200, r.get_data(as_text=True)[:400]
    trigger = json.loads(r.headers["HX-Trigger"])["tasks-changed"]
    assert trigger["manual"] is True
    [a] = attempts(app)
    assert a.provider == "manual" and a.slot == "morning" and a.outcome == "no_answer" and a.counted
    assert linked(app, a.id) == sorted(world["tasks"])
    html = r.get_data(as_text=True)
    assert "Call recorded: No answer." in html and html.count("attempts 1/3") == 3


def test_a_hand_result_goes_to_the_call_in_progress(app, client, world):
    start(client, world)
    [a] = attempts(app)
    r = manual(client, world, result="completed")
    assert r.status_code == 200
    [b] = attempts(app)
    assert b.id == a.id and b.outcome == "completed"


@pytest.mark.parametrize("data, field, text", [
    ({"at": "2026-05-11T09:40"}, "result", "Choose the result of the call."),
    ({"at": "2026-05-11T11:30", "result": "busy"}, "at", "in the future"),
    ({"at": "not a time", "result": "busy"}, "at", "Enter the time of the call."),
    ({"at": "2026-05-11T07:30", "result": "busy"}, "at", "quiet hours"),
])  # fmt: skip
def test_a_refused_hand_call_comes_back_beside_the_live_panel(app, client, world, data, field, text):
    r = manual(client, world, **data)
    assert r.status_code == 422
    assert r.headers["HX-Retarget"] == "#manual-call" and r.headers["HX-Reswap"] == "outerHTML"
    body = r.get_data(as_text=True)
    assert body.lstrip().startswith('<details id="manual-call" class="manual-call" open>')  # unfolded
    assert text in body and "call-panel" not in body, body
    assert f'name="{field}" ' in body or f'name="{field}"' in body
    assert attempts(app) == []


def test_a_hand_call_plain_post(app, client, world):
    r = manual(client, world, headers=EN, result="busy")
    assert r.status_code == 303
    assert "Call recorded: Busy." in client.get(r.headers["Location"], headers=EN).get_data(as_text=True)
    r = manual(client, world, headers=EN)
    assert r.status_code == 303 and len(attempts(app)) == 1


def test_a_hand_call_for_a_colleague_s_contact_is_403(app, client, world, login_as):
    client.post("/auth/logout")
    login_as("specialist", username="peer")
    assert manual(client, world, result="busy").status_code == 403
    assert attempts(app) == []
    with app.app_context():
        assert db.session.scalar(select(User).where(User.username == "peer")) is not None


def test_the_call_area_of_a_settled_contact_says_there_is_nothing_to_call(app, client, world):
    for task_id in world["tasks"]:
        r = client.post(f"/tasks/contact/{world['customer']}/outcomes", headers=HX,
                        data={f"t{task_id}-outcome": "declined", f"t{task_id}-declined-reason": "不需要"})  # fmt: skip
        assert r.status_code == 200
    html = client.get(f"/calls/contact/{world['customer']}/panel", headers=HX).get_data(as_text=True)
    assert "This customer has no open task: no call is placed." in html
    assert "assignee" not in html and "call-button" not in html and "manual-call" not in html

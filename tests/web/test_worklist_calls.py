"""The worklist page's call states (issue 10 item 2) and GET /tasks/next with the "Next
contact" partial (item 3), at a frozen time (CARE_NOW)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, time, timedelta

import pytest

from care.domain.dates import end_of_day, local_datetime
from care.extensions import db
from care.models.call import CallAttemptTask
from tests import factories as f

TZ = "Asia/Shanghai"
NOW = datetime(2026, 10, 10, 2, 0, tzinfo=UTC)  # 10:00 in Shanghai: the morning slot
TODAY = NOW.date()
HX = {"HX-Request": "true"}
EN = {"Accept-Language": "en"}
ZH = {"Accept-Language": "zh-CN"}


@pytest.fixture(autouse=True)
def frozen(app):
    app.config["CARE_NOW"] = NOW.isoformat()  # the app fixture restores the config


def at(hh: int, mm: int = 0) -> datetime:
    return local_datetime(TODAY, time(hh, mm), TZ)


def line(app, owner_id, *, due_days=3, calls=(), customer=None, **kw) -> int:
    """A customer with one task of ``owner_id``; ``calls``: (outcome, status, started) of
    calls made for it. Returns the customer id."""
    with app.app_context():
        s = db.session
        c = f.make_customer(s, **(customer or {}))
        t = f.make_task(
            s, c, assignee_id=owner_id, due_at=end_of_day(TODAY + timedelta(days=due_days), TZ),
            opens_on=TODAY - timedelta(days=3), **kw,
        )  # fmt: skip
        for outcome, status, started in calls:
            f.make_attempt(s, t, outcome=outcome, status=status, started_at=started, answered=outcome == "completed")
        s.commit()
        return c.id


def rows(html: str) -> list[tuple[int, str]]:
    return [(int(c), s) for c, s in re.findall(r'data-customer-id="(\d+)" data-state="([a-z_]+)"', html)]


def state_count(html: str, state: str) -> int:
    return int(re.search(rf'data-state="{state}" data-count="(\d+)"', html).group(1))


# --- the worklist page -----------------------------------------------------------------------


def test_after_a_no_answer_the_line_says_1_of_3_and_the_next_slot(app, client, login_as):
    me = login_as("specialist")
    cid = line(app, me.id, calls=[("no_answer", "no_answer", at(9, 20))])
    html = client.get("/tasks/", headers=EN).get_data(as_text=True)
    assert rows(html) == [(cid, "waiting")]
    assert "Waiting for a slot" in html and "next: afternoon 14:00" in html
    assert 'data-used="1" data-max="3">Unsuccessful attempts 1/3' in html
    assert re.search(r'data-slot="morning" data-used="yes"><span aria-hidden="true">✓</span> morning', html)
    assert 'data-slot="afternoon" data-used="no"' in html
    zh = client.get("/tasks/", headers=ZH).get_data(as_text=True)
    assert "等待拨打时段" in zh and "下一时段：下午 14:00" in zh and "未接通 1/3 次" in zh
    assert "拨打状态" in zh


def test_states_order_counts_and_the_start_link(app, client, login_as):
    me = login_as("specialist")
    ringing = line(app, me.id, due_days=0, calls=[(None, "ringing", at(9, 58))])
    answered = line(app, me.id, due_days=1, calls=[("completed", "completed", at(9, 30))])
    late = line(app, me.id, due_days=5)
    soon = line(app, me.id, due_days=2)
    blocked = line(app, me.id, due_days=0, status="blocked")
    refuses = line(app, me.id, due_days=4, customer={"no_call": True})
    html = client.get("/tasks/", headers=EN).get_data(as_text=True)
    assert rows(html) == [
        (soon, "callable"), (late, "callable"),
        (ringing, "in_progress"), (blocked, "blocked"), (answered, "outcome_missing"), (refuses, "blocked"),
    ]  # fmt: skip
    assert "Callable now" in html and "until 12:00" in html
    assert "Call in progress" in html and "Answered — outcome missing" in html and "Refuses calls" in html
    assert state_count(html, "callable") == 2 and state_count(html, "blocked") == 2
    assert state_count(html, "in_progress") == 1 and state_count(html, "outcome_missing") == 1
    assert 'href="/tasks/?state=callable"' in html
    assert re.search(r'<a class="button primary next-contact" href="/tasks/next" data-next-contact aria-keyshortcuts="n"', html)
    assert "Start with the first callable contact" in html
    # the state filter, its link back, and the deadline order
    only = client.get("/tasks/?state=callable", headers=EN).get_data(as_text=True)
    assert rows(only) == [(soon, "callable"), (late, "callable")]
    assert re.search(r'href="/tasks/"\s+data-state="callable" data-count="2" aria-current="true"', only)
    assert f'href="/tasks/contact/{soon}?state=callable"' in only  # the contact link keeps the filter
    by_due = client.get("/tasks/?order=due", headers=EN).get_data(as_text=True)
    assert [c for c, _ in rows(by_due)] == sorted([ringing, blocked], key=int) + [answered, soon, refuses, late]
    frag = client.get("/tasks/?state=outcome_missing", headers={**HX, **EN}).get_data(as_text=True)
    assert rows(frag) == [(answered, "outcome_missing")]


def test_quiet_hours_say_when_the_next_slot_opens(app, client, login_as):
    app.config["CARE_NOW"] = at(12, 30).isoformat()
    me = login_as("specialist")
    line(app, me.id)
    html = client.get("/tasks/", headers=EN).get_data(as_text=True)
    assert state_count(html, "callable") == 0 and "data-next-contact" not in html
    assert "Quiet hours: no contact is callable now. Next call slot: afternoon 14:00." in html
    app.config["CARE_NOW"] = at(21, 0).isoformat()
    assert "Next call slot: tomorrow morning 09:00." in client.get("/tasks/", headers=EN).get_data(as_text=True)
    assert "下一拨打时段：明天上午 09:00。" in client.get("/tasks/", headers=ZH).get_data(as_text=True)


@pytest.mark.parametrize("query", ["state=ringing", "order=name", "state=callable&order=x"])
def test_bad_state_and_order_are_400(client, login_as, query):
    login_as("specialist")
    assert client.get(f"/tasks/?{query}").status_code == 400
    assert client.get(f"/tasks/next?{query}").status_code == 400


# --- next contact -------------------------------------------------------------------------------


def test_next_goes_to_the_next_callable_contact_with_the_filter(app, client, login_as):
    me = login_as("specialist")
    first = line(app, me.id, due_days=1, type="inspection")
    waiting = line(app, me.id, due_days=2, type="inspection", calls=[("busy", "busy", at(9, 1))])
    second = line(app, me.id, due_days=3, type="inspection")
    other_type = line(app, me.id, due_days=2)
    r = client.get("/tasks/next")
    assert r.status_code == 303 and r.headers["Location"] == f"/tasks/contact/{first}"
    r = client.get(f"/tasks/next?after={first}")
    assert r.headers["Location"] == f"/tasks/contact/{other_type}"
    r = client.get(f"/tasks/next?after={first}&type=inspection")
    assert r.headers["Location"] == f"/tasks/contact/{second}?type=inspection"
    r = client.get(f"/tasks/next?after={waiting}&type=inspection")
    assert r.headers["Location"] == f"/tasks/contact/{second}?type=inspection"
    # htmx: the browser is sent there
    r = client.get(f"/tasks/next?after={first}", headers=HX)
    assert r.status_code == 204 and r.headers["HX-Redirect"] == f"/tasks/contact/{other_type}"


def test_none_left_goes_back_to_the_list_with_a_message(app, client, login_as):
    me = login_as("specialist")
    only = line(app, me.id)
    r = client.get(f"/tasks/next?after={only}&type=first_service", headers=EN)
    assert r.status_code == 303 and r.headers["Location"] == "/tasks/?type=first_service"
    html = client.get(r.headers["Location"], headers=EN).get_data(as_text=True)
    assert "No more callable contacts right now." in html


def test_next_never_leads_to_another_specialists_contact(app, client, login_as):
    me = login_as("specialist")
    other = f_user(app, "specialist")
    theirs = line(app, other, due_days=0)
    line(app, me.id, due_days=1, status="blocked")
    for query in ("", f"?owner={other}", f"?after={theirs}"):
        r = client.get(f"/tasks/next{query}")
        assert r.status_code == 303 and r.headers["Location"].startswith("/tasks/"), query
        assert f"/contact/{theirs}" not in r.headers["Location"]


def test_a_care_manager_goes_through_everyones_contacts(app, client, login_as):
    login_as("care_manager")
    spec = f_user(app, "specialist")
    a = line(app, spec, due_days=1)
    b = line(app, None, due_days=2)
    assert client.get(f"/tasks/next?after={a}").headers["Location"] == f"/tasks/contact/{b}"
    assert client.get(f"/tasks/next?after={b}&owner={spec}").headers["Location"] == f"/tasks/contact/{a}?owner={spec}"


@pytest.mark.parametrize("after", ["abc", "0", "-1", "99999999999", "1e3", "2147483648"])
def test_a_bad_after_is_400(client, login_as, after):
    login_as("specialist")
    assert client.get(f"/tasks/next?after={after}").status_code == 400


def f_user(app, role):
    with app.app_context():
        u = f.make_user(db.session, role)
        db.session.commit()
        return u.id


# --- the partial the contact page includes -------------------------------------------------------


def render_partial(app, user_id, url, source):
    from flask import render_template_string
    from flask_login import login_user

    with app.test_request_context(url, headers=EN):
        login_user(db.session.get(f.User, user_id))
        return render_template_string(source)


def test_the_next_contact_partial_renders_in_another_template(app):
    spec = f_user(app, "specialist")
    include = '{% with next_after=5 %}{% include "worklist/_next_contact.html" %}{% endwith %}'
    html = render_partial(app, spec, "/tasks/contact/5?type=birthday&state=callable&bogus=1", include)
    assert 'href="/tasks/next?type=birthday&amp;state=callable&amp;after=5"' in html
    assert 'aria-keyshortcuts="n"' in html and "Next contact" in html and "<kbd" in html
    assert 'src="/static/js/next-contact.js"' in html
    # no filter (or a broken one) in the URL: the default list
    assert 'href="/tasks/next?after=5"' in render_partial(app, spec, "/tasks/contact/5", include)
    assert 'href="/tasks/next?after=5"' in render_partial(app, spec, "/tasks/contact/5?type=nope", include)
    # without next_after: the first callable contact; a role that may not: nothing
    assert 'href="/tasks/next"' in render_partial(app, spec, "/", '{% include "worklist/_next_contact.html" %}')
    manager = f_user(app, "general_manager")
    assert "next-contact" not in render_partial(app, manager, "/", include)


def test_one_contact_call_for_several_reasons_shows_one_state(app, client, login_as):
    me = login_as("specialist")
    with app.app_context():
        s = db.session
        c = f.make_customer(s)
        tasks = [
            f.make_task(s, c, assignee_id=me.id, type=kind, due_at=end_of_day(TODAY + timedelta(days=2), TZ),
                        opens_on=TODAY - timedelta(days=1))
            for kind in ("first_service", "inspection", "warranty_expiry")
        ]  # fmt: skip
        attempt = f.make_attempt(s, tasks[0], outcome="no_answer", status="no_answer", started_at=at(9, 5))
        s.add_all(CallAttemptTask(attempt_id=attempt.id, task_id=t.id) for t in tasks[1:])
        s.commit()
        cid = c.id
    html = client.get("/tasks/", headers=EN).get_data(as_text=True)
    assert rows(html) == [(cid, "waiting")]
    assert html.count("Unsuccessful attempts 1/3") == 1  # the line's; the reasons agree, none repeats it

"""The worklist page (/tasks/), its fragment, paging links, reassignment and the home page."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from care.domain.task_rules import REASON_MESSAGES, Channel, OwnerRule, TaskType
from care.extensions import db
from care.models import AuditLog, CareTask, TaskStatus
from care.web import labels
from tests import factories as f

HX = {"HX-Request": "true"}


def now():
    return datetime.now(UTC)


def add_task(app, customer_id=None, **kw) -> int:
    with app.app_context():
        customer = db.session.get(f.Customer, customer_id) if customer_id else None
        t = f.make_task(db.session, customer, **kw)
        db.session.commit()
        return t.id


def add_customer(app, **kw) -> int:
    with app.app_context():
        c = f.make_customer(db.session, **kw)
        db.session.commit()
        return c.id


def add_user(app, *roles, **kw) -> int:
    with app.app_context():
        u = f.make_user(db.session, *roles, **kw)
        db.session.commit()
        return u.id


def contact_ids(html: str) -> list[int]:
    return [int(x) for x in re.findall(r'data-customer-id="(\d+)"', html)]


def task_ids(html: str) -> list[int]:
    return [int(x) for x in re.findall(r'data-task-id="(\d+)"', html)]


def assignee_of(app, task_id):
    with app.app_context():
        return db.session.get(CareTask, task_id).assignee_id


# --- the page and its fragment -----------------------------------------------------------


def test_page_and_fragment(app, client, login_as):
    me = login_as("specialist")
    cid = add_customer(app, name="王小明", city="绵阳")
    add_task(app, cid, assignee_id=me.id, reason_params={"delivered": "2026-09-15", "due": "2026-12-15"})
    page = client.get("/tasks/", headers={"Accept-Language": "en"})
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "<html" in html and 'id="worklist"' in html and "Filter the worklist" in html
    assert "王小明" in html and "绵阳" in html
    assert "delivered 2026-09-15 → first service due by 2026-12-15" in html
    assert "HX-Request" in page.headers.get("Vary", "")
    frag = client.get("/tasks/", headers={**HX, "Accept-Language": "en"})
    body = frag.get_data(as_text=True)
    assert frag.status_code == 200
    assert "<html" not in body and body.lstrip().startswith("<section id=\"worklist\"")
    assert "王小明" in body and 'hx-trigger="tasks-changed[!detail.refreshed] from:body"' in body


def test_a_specialist_sees_own_tasks_with_full_phone_and_no_manager_parts(app, client, login_as):
    me = login_as("specialist")
    other = add_user(app, "specialist")
    mine = add_customer(app, mobile="+8613800138000")
    theirs = add_customer(app)
    add_task(app, mine, assignee_id=me.id)
    add_task(app, theirs, assignee_id=other)
    add_task(app, theirs)
    html = client.get(f"/tasks/?owner={other}").get_data(as_text=True)
    assert contact_ids(html) == [mine]
    assert "138 0013 8000" in html
    assert "reassign-form" not in html and 'class="load' not in html and 'name="owner"' not in html


def test_a_manager_sees_everyone_masked_phones_and_the_load_panel(app, client, login_as):
    login_as("general_manager")
    spec = add_user(app, "specialist", display_name="Spec One")
    a = add_customer(app, mobile="+8613800138000")
    b = add_customer(app)
    add_task(app, a, assignee_id=spec, due_at=now() + timedelta(days=2))
    add_task(app, b, due_at=now() + timedelta(days=1))
    html = client.get("/tasks/").get_data(as_text=True)
    assert contact_ids(html) == [b, a]
    assert "138****8000" in html and "138 0013 8000" not in html
    assert f'data-load="{spec}" data-total="1"' in html
    assert 'data-load="unassigned" data-total="1"' in html
    assert "reassign-form" in html  # the general manager may reassign
    only = client.get(f"/tasks/?owner={spec}").get_data(as_text=True)
    assert contact_ids(only) == [a]
    assert contact_ids(client.get("/tasks/?owner=unassigned").get_data(as_text=True)) == [b]


def test_a_sales_manager_sees_everything_but_cannot_reassign(app, client, login_as):
    login_as("sales_manager")
    add_task(app, add_customer(app))
    html = client.get("/tasks/").get_data(as_text=True)
    assert len(contact_ids(html)) == 1
    assert "reassign-form" not in html and 'class="load' in html


def test_filters_in_the_query_string_and_counts(app, client, login_as):
    me = login_as("specialist")
    c = add_customer(app)
    fs = add_task(app, c, assignee_id=me.id, type="first_service")
    bd = add_task(app, c, assignee_id=me.id, type="birthday", status="blocked",
                  reason_id="birthday.reason", reason_params={"birthday": "2026-10-10"})
    late = add_task(app, c, assignee_id=me.id, type="inspection", due_at=now() - timedelta(hours=3),
                    reason_id="inspection.reason", reason_params={"inspection_due": "2026-10-09"})
    html = client.get("/tasks/").get_data(as_text=True)
    assert sorted(task_ids(html)) == sorted([fs, bd, late])
    assert re.search(r'data-type="first_service" data-count="1"', html)
    assert 'badge badge-danger' in html  # the contact is overdue (its earliest deadline passed)
    assert task_ids(client.get("/tasks/?type=birthday&type=inspection").get_data(as_text=True)) in ([late, bd], [bd, late])
    assert task_ids(client.get("/tasks/?status=blocked").get_data(as_text=True)) == [bd]
    assert sorted(task_ids(client.get("/tasks/?status=open").get_data(as_text=True))) == sorted([fs, late])
    assert task_ids(client.get("/tasks/?due=overdue").get_data(as_text=True)) == [late]
    filtered = client.get("/tasks/?type=birthday").get_data(as_text=True)
    assert 'data-type="birthday" data-count="1"' in filtered and 'data-type="first_service"' not in filtered


def test_empty_states(app, client, login_as):
    login_as("specialist")
    assert "Nothing due today." in client.get("/tasks/", headers={"Accept-Language": "en"}).get_data(as_text=True)
    html = client.get("/tasks/?type=birthday", headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert "No tasks match these filters." in html and "Nothing due today." not in html


@pytest.mark.parametrize(
    "query",
    [
        "after=garbage",
        "after=2026-10-10T00:00:00Z",
        "after=2026-10-10T00:00:00|12",  # no offset
        "after=2026-99-10T00:00:00Z|12",
        "after=2026-10-10T00:00:00Z|x",
        "type=oil_change",
        "status=closed",
        "due=tomorrow",
        "owner=boss",
    ],
)
def test_bad_query_values_are_400(app, client, login_as, query):
    login_as("care_manager")
    response = client.get(f"/tasks/?{query}")
    assert response.status_code == 400
    assert client.get(f"/tasks/?{query}", headers=HX).status_code == 400


def test_next_links_page_through_every_contact(app, client, login_as):
    app.config["CARE_PAGE_SIZE"] = 25
    login_as("care_manager")
    with app.app_context():
        base = now()
        expected = []
        for i in range(60):
            c = f.make_customer(db.session)
            f.make_task(db.session, c, due_at=base + timedelta(hours=1 + i % 10))
            expected.append((i % 10, c.id))
        db.session.commit()
    expected = [cid for _, cid in sorted(expected)]
    seen, url, pages = [], "/tasks/?status=all", 0
    while url:
        response = client.get(url)
        assert response.status_code == 200
        html = response.get_data(as_text=True)
        seen += contact_ids(html)
        pages += 1
        m = re.search(r'<a href="([^"]+)" hx-get="[^"]+" hx-push-url="true" rel="next"', html)
        url = m.group(1).replace("&amp;", "&") if m else None
        if url:
            assert "after=" in url and "status=" not in url  # the default filter is not repeated
    assert pages == 3 and seen == expected
    # The last page offers the way back to the first.
    assert "First page" in html or "首页" in html or "first page" in html.lower()


# --- reassignment ------------------------------------------------------------------------


def test_reassign_by_plain_form_redirects_with_a_flash(app, client, login_as):
    login_as("care_manager")
    target = add_user(app, "specialist", display_name="Target Person")
    c = add_customer(app)
    t1, t2 = add_task(app, c), add_task(app, c)
    other = add_task(app, add_customer(app))
    response = client.post(
        "/tasks/reassign?type=first_service&due=all",
        data={"task_id": [f"{t1},{t2}"], "assignee_id": str(target)},
        headers={"Accept-Language": "en"},
    )
    assert response.status_code == 303
    assert response.headers["Location"].endswith("/tasks/?type=first_service")
    assert [assignee_of(app, t) for t in (t1, t2, other)] == [target, target, None]
    html = client.get(response.headers["Location"], headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert "2 tasks reassigned to Target Person." in html
    with app.app_context():
        logged = db.session.scalars(select(AuditLog.object_id).where(AuditLog.action == "task.reassign")).all()
    assert sorted(logged) == sorted([str(t1), str(t2)])


def test_reassign_with_htmx_returns_the_list_and_the_event(app, client, login_as):
    login_as("care_manager")
    target = add_user(app, "consultant", display_name="Cons")
    t1 = add_task(app, add_customer(app))
    closed = add_task(app, add_customer(app), status=TaskStatus.DONE.value)
    response = client.post(
        "/tasks/reassign",
        data={"task_id": [str(t1), str(closed)], "assignee_id": str(target)},
        headers={**HX, "Accept-Language": "en"},
    )
    assert response.status_code == 200
    body = response.get_data(as_text=True)
    assert body.lstrip().startswith('<section id="worklist"')
    assert "1 task reassigned to Cons." in body
    assert f"1 task is closed and was not reassigned: #{closed}." in body
    event = json.loads(response.headers["HX-Trigger"])
    assert event["tasks-changed"]["refreshed"] == "worklist" and event["tasks-changed"]["reassigned"] == 1
    assert assignee_of(app, t1) == target and assignee_of(app, closed) is None


def test_reassign_only_closed_tasks_is_refused_with_the_list(app, client, login_as):
    login_as("care_manager")
    target = add_user(app, "specialist")
    closed = add_task(app, add_customer(app), status="canceled")
    response = client.post("/tasks/reassign", data={"task_id": str(closed), "assignee_id": str(target)},
                           headers={"Accept-Language": "en"})
    assert response.status_code == 303
    html = client.get(response.headers["Location"], headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert f"1 task is closed and was not reassigned: #{closed}." in html
    hx = client.post("/tasks/reassign", data={"task_id": str(closed), "assignee_id": str(target)}, headers=HX)
    assert hx.status_code == 422 and "HX-Trigger" not in hx.headers


@pytest.mark.parametrize(
    ("roles", "kw", "message"),
    [
        (("specialist",), {"active": False}, "is inactive and cannot take tasks"),
        (("front_desk",), {}, "cannot take tasks"),
        (("care_manager",), {}, "cannot take tasks"),
    ],
)
def test_reassign_to_a_user_who_cannot_own_tasks_is_422(app, client, login_as, roles, kw, message):
    login_as("care_manager")
    target = add_user(app, *roles, **kw)
    t = add_task(app, add_customer(app))
    for headers in ({}, HX):
        response = client.post("/tasks/reassign", data={"task_id": str(t), "assignee_id": str(target)},
                               headers={**headers, "Accept-Language": "en"})
        assert response.status_code == 422
        assert message in response.get_data(as_text=True)
    assert assignee_of(app, t) is None


def test_reassign_input_errors(app, client, login_as):
    login_as("care_manager")
    target = add_user(app, "specialist")
    t = add_task(app, add_customer(app))
    no_target = client.post("/tasks/reassign", data={"task_id": str(t)}, headers={"Accept-Language": "en"})
    assert no_target.status_code == 422 and "Choose who gets the tasks." in no_target.get_data(as_text=True)
    no_tasks = client.post("/tasks/reassign", data={"assignee_id": str(target)}, headers={"Accept-Language": "en"})
    assert no_tasks.status_code == 422 and "Choose at least one task" in no_tasks.get_data(as_text=True)
    assert client.post("/tasks/reassign", data={"task_id": "1;DROP", "assignee_id": str(target)}).status_code == 400
    assert client.post("/tasks/reassign", data={"task_id": str(t), "assignee_id": "me"}).status_code == 400
    assert client.post("/tasks/reassign", data={"task_id": str(t), "assignee_id": "999999"}).status_code == 422
    assert client.post("/tasks/reassign?after=junk", data={"task_id": str(t), "assignee_id": str(target)}).status_code == 400
    evil = client.post("/tasks/reassign", data={"task_id": str(t), "assignee_id": str(target), "next": "https://evil.example/"})
    assert evil.status_code == 400
    assert assignee_of(app, t) is None


def test_single_task_form_returns_to_next(app, client, login_as):
    login_as("general_manager")
    target = add_user(app, "insurance", display_name="Ins")
    t = add_task(app, add_customer(app))
    response = client.post("/tasks/reassign", data={"task_id": str(t), "assignee_id": str(target), "next": "/customers/"})
    assert response.status_code == 303 and response.headers["Location"].endswith("/customers/")
    assert assignee_of(app, t) == target
    back = add_user(app, "specialist", display_name="Back")
    hx = client.post("/tasks/reassign", data={"task_id": str(t), "assignee_id": str(back), "next": "/customers/"},
                     headers={**HX, "Accept-Language": "en"})
    body = hx.get_data(as_text=True)
    assert hx.status_code == 200 and body.lstrip().startswith("<form") and "reassign-single" in body
    assert "1 task reassigned to Back." in body
    assert json.loads(hx.headers["HX-Trigger"])["tasks-changed"]["refreshed"] == ""
    bad = client.post("/tasks/reassign", data={"task_id": str(t), "next": "/customers/"}, headers=HX)
    assert bad.status_code == 422 and "reassign-single" in bad.get_data(as_text=True)


def test_the_single_task_fragment_renders_from_another_template(app):
    manager = add_user(app, "care_manager")
    add_user(app, "specialist", display_name="Someone")
    with app.test_request_context("/"):
        from flask import render_template_string
        from flask_login import login_user

        from care.services.worklist import task_owners

        login_user(db.session.get(f.User, manager))
        html = render_template_string(
            '{% set reassign_task_ids = [5] %}{% set reassign_next = "/tasks/5" %}'
            '{% include "worklist/_reassign.html" %}',
            targets=task_owners(db.session),
        )
    assert 'name="next" value="/tasks/5"' in html and 'name="task_id" value="5"' in html
    assert "Someone" in html


@pytest.mark.parametrize("role", ["specialist", "insurance", "consultant", "sales_manager", "front_desk"])
def test_reassign_is_forbidden_for_other_roles(app, client, login_as, role):
    login_as(role)
    target = add_user(app, "specialist")
    t = add_task(app, add_customer(app))
    assert client.post("/tasks/reassign", data={"task_id": str(t), "assignee_id": str(target)}).status_code == 403
    assert assignee_of(app, t) is None


# --- home and labels ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("roles", "target"),
    [
        (("specialist",), "/tasks/"),
        (("insurance",), "/tasks/"),
        (("consultant",), "/tasks/"),
        (("care_manager",), "/dashboard/"),
        (("sales_manager",), "/tasks/"),
        (("general_manager",), "/dashboard/"),
        (("front_desk",), "/customers/"),
        (("admin",), "/settings/"),
        (("admin", "specialist"), "/tasks/"),
        (("front_desk", "admin"), "/customers/"),
    ],
)
def test_home_sends_each_role_to_its_start_page(client, login_as, roles, target):
    login_as(*roles)
    response = client.get("/")
    assert response.status_code == 302
    assert response.headers["Location"].endswith(target)


def test_every_task_vocabulary_value_has_a_label():
    assert set(labels.TASK_TYPES) == {t.value for t in TaskType}
    assert set(labels.TASK_STATUSES) == {s.value for s in TaskStatus}
    assert set(labels.CHANNELS) == {c.value for c in Channel}
    assert set(labels.OWNER_RULES) == {o.value for o in OwnerRule}
    assert set(labels.REASON_TEMPLATES) == set(REASON_MESSAGES)
    # The translated templates use the same fields as the English ones.
    field = re.compile(r"\{(\w+)")
    for key, english in REASON_MESSAGES.items():
        assert set(field.findall(str(labels.REASON_TEMPLATES[key]))) == set(field.findall(english)), key


def test_reasons_and_deadlines_are_shown_in_the_dealer_time_zone(app, client, login_as):
    me = login_as("specialist")
    due = now() + timedelta(days=1)
    add_task(
        app,
        add_customer(app),
        assignee_id=me.id,
        type="delivery_call",
        due_at=due,
        reason_id="delivery_call.reason",
        reason_params={"delivered_at": "2026-09-15T02:00:00+00:00", "due_at": "2026-09-16T02:00:00+00:00"},
    )
    html = client.get("/tasks/", headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert "delivered 2026-09-15 10:00 → call by 2026-09-16 10:00" in html  # Asia/Shanghai
    from zoneinfo import ZoneInfo

    assert due.astimezone(ZoneInfo("Asia/Shanghai")).strftime("%Y-%m-%d %H:%M") in html

"""The audit log in words and names (issue 10): actions as phrases with their codes kept,
who acted and what was touched by name, with a link where the viewer may open it."""

from __future__ import annotations

import html as htmllib
import re
from datetime import date

import pytest
from sqlalchemy import select

from care.extensions import db
from care.models import GenerationRun, ImportRun, User
from care.models.types import utcnow
from care.services import Actor, audit
from tests.factories import make_customer, make_task, make_user

EN = {"Accept-Language": "en"}
ZH = {"Accept-Language": "zh-CN"}


@pytest.fixture
def world(app):
    """A log with one entry of each kind the page names."""
    with app.app_context():
        s = db.session
        now = utcnow()
        li = make_user(s, "specialist", username="li.na", display_name="李娜", extension=None)
        wang = make_user(s, "specialist", username="wang", display_name="王伟", extension=None)
        customer = make_customer(s, name="王小明", customer_no="C000777")
        task = make_task(s, customer, assignee=wang)
        run = ImportRun(kind="vehicles", filename="车辆.csv", status="done", actor="root")
        gen = GenerationRun(for_date=date(2026, 5, 4), actor="scheduler")
        s.add_all([run, gen])
        s.flush()
        me = Actor.of(li, "10.0.0.7")

        def rec(action, actor=me, **kw):
            entry = audit.record(s, actor=actor, action=action, now=now, **kw)
            s.flush()
            return entry.id

        ids = {
            "failed_unknown": rec("login.failed", Actor("ghost", ip="10.0.0.9"), detail={"reason": "unknown"}),
            "failed": rec("login.failed", me, detail={"reason": "password"}),
            "login": rec("login"),
            "view": rec("customer.view", object_type="customer", object_id=customer.id),
            "search": rec("customer.search", object_type="customer", detail={"by": "phone", "results": 2}),
            "reassign": rec("task.reassign", object_type="care_task", object_id=task.id,
                            detail={"from": wang.id, "to": li.id}),
            "settings": rec("settings.update", object_type="settings",
                            detail={"top_box_target": {"old": "0.8", "new": "0.85"}, "ssi_target": {"old": "80", "new": "82"}}),
            "user": rec("user.update", object_type="user", object_id=wang.id,
                        detail={"roles": {"old": ["specialist"], "new": ["care_manager", "specialist"]}}),
            "rejects": rec("export", object_type="import_run", object_id=run.id, detail={"what": "rejects", "rows": 3}),
            "generation": rec("generation.run", Actor.SCHEDULER, object_type="generation_run", object_id=gen.id,
                              detail={"days": ["2026-05-04"], "created": 12}),
            "script": rec("script.save", object_type="script", object_id="birthday", detail={"version": 2, "fields": []}),
            "template": rec("message_template.save", object_type="message_template", object_id="birthday:sms"),
            "new_code": rec("complaint.archive", object_type="complaint", object_id=5),
        }
        s.commit()
        return {"ids": ids, "customer": customer.id, "task": task.id, "wang": wang.id, "li": li.id, "run": run.id,
                "gen": gen.id}


def _row(html: str, entry_id: int) -> str:
    start = html.index(f'<tr id="audit-{entry_id}">')
    return html[start:html.index("</tr>", start)]


def _text(fragment: str) -> str:
    return htmllib.unescape(" ".join(re.sub(r"<[^>]+>", " ", fragment).split()))


def test_actions_are_words_and_keep_their_codes(client, login_as, world):
    login_as("admin", username="root", extension=None)
    html = client.get("/admin/audit", headers=EN).get_data(as_text=True)
    ids = world["ids"]
    row = _row(html, ids["failed_unknown"])
    assert 'title="login.failed">Log-in failed</a>' in row
    assert "“ghost” (no such user)" in _text(row) and "Why: no such user name" in _text(row)
    row = _row(html, ids["failed"])
    assert "李娜 (li.na)" in _text(row) and "Why: wrong password" in _text(row)
    assert "Logged in" in _text(_row(html, ids["login"]))
    assert "Downloaded the rejected rows of an import" in _text(_row(html, ids["rejects"]))
    row = _row(html, ids["generation"])
    assert "automatic (daily)" in _text(row) and "Generated care tasks" in _text(row)
    assert f'<a href="/generation/{world["gen"]}">Task generation of 2026-05-04</a>' in row
    assert f'href="/tasks/{world["task"]}"' not in _row(html, ids["reassign"])  # no contact pages for admins
    row = _row(html, ids["new_code"])  # an action this page has no words for yet shows its code
    assert "complaint.archive" in _text(row) and "complaint 5" in _text(row)


def test_objects_by_name_with_links_for_those_who_may_open_them(client, login_as, world):
    login_as("general_manager", username="gm", extension=None)
    html = client.get("/admin/audit", headers=EN).get_data(as_text=True)
    ids = world["ids"]
    row = _row(html, ids["view"])
    assert f'title="customer {world["customer"]}"' in row
    assert f'<a href="/customers/{world["customer"]}">王小明 · C000777</a>' in row
    row = _row(html, ids["reassign"])
    assert f'<a href="/tasks/{world["task"]}">First service · 王小明 · C000777</a>' in row
    assert "First service · 王小明 · C000777" in _text(row) and "From 王伟 (wang) to 李娜 (li.na)" in _text(row)
    assert "Searched by: phone number" in _text(_row(html, ids["search"]))
    row = _row(html, ids["settings"])
    assert "Very-satisfied target per consultant: 80% → 85%" in _text(row)  # as the settings page shows it
    assert "Monthly SSI target: 80 → 82" in _text(row)
    row = _row(html, ids["user"])
    assert "Roles: Care specialist → Care manager, Care specialist" in _text(row)
    assert f'href="/admin/users/{world["wang"]}"' not in row  # the users page is the administrator's
    assert "Script: Birthday" in _text(_row(html, ids["script"]))
    assert "Message template: Birthday · SMS" in _text(_row(html, ids["template"]))
    row = _row(html, ids["rejects"])
    assert f"Vehicles import #{world['run']} (车辆.csv)" in _text(row)


def test_an_administrator_sees_customers_masked_and_users_linked(client, login_as, world):
    """Administrators may not read customers: the name is masked, as phones are."""
    login_as("admin", username="root", extension=None)
    html = client.get("/admin/audit", headers=EN).get_data(as_text=True)
    row = _row(html, world["ids"]["view"])
    assert "王** · C000777" in _text(row) and "王小明" not in row and "/customers/" not in row
    assert "王小明" not in html
    row = _row(html, world["ids"]["user"])
    assert f'<a href="/admin/users/{world["wang"]}">王伟 (wang)</a>' in row
    row = _row(html, world["ids"]["rejects"])
    assert f'href="/imports/{world["run"]}"' in row


def test_the_filter_offers_the_actions_in_words(client, login_as, world):
    login_as("admin", username="root", extension=None)
    html = client.get("/admin/audit", headers=EN).get_data(as_text=True)
    assert '<option value="login.failed">Log-in failed</option>' in html
    assert '<option value="login.*">Every log-in attempt</option>' in html
    assert '<optgroup label="Log-ins">' in html
    assert '<option value="complaint.archive">complaint.archive</option>' in html  # found in the log
    # one action chosen: only itself ("Logged in" is not "Log-in failed")
    page = client.get("/admin/audit?action=login", headers=EN).get_data(as_text=True)
    shown = re.findall(r'<tr id="audit-(\d+)"', page)
    assert str(world["ids"]["login"]) in shown and len(shown) == 2  # li.na's and root's own log-in
    assert "Log-in failed" not in _text(page[page.index('id="audit-table"'):])
    assert '<option value="login" selected>Logged in</option>' in page
    # the group: every log-in event
    page = client.get("/admin/audit?action=login.*", headers=EN).get_data(as_text=True)
    assert len(re.findall(r'<tr id="audit-', page)) == 4  # 2 failed, 2 logged in
    # typed by hand, a prefix still finds its sub-actions
    page = client.get("/admin/audit?action=customer", headers=EN).get_data(as_text=True)
    assert len(re.findall(r'<tr id="audit-', page)) == 2
    assert '<option value="customer" selected>customer</option>' in page


def test_the_log_reads_in_chinese(client, login_as, world):
    login_as("general_manager", username="gm", extension=None)
    html = client.get("/admin/audit", headers=ZH).get_data(as_text=True)
    assert "登录失败" in _text(_row(html, world["ids"]["failed"]))
    assert "查看客户" in _text(_row(html, world["ids"]["view"]))


def test_a_page_of_entries_costs_a_query_per_kind(app, world):
    from sqlalchemy import event

    with app.app_context():
        page = audit.entries(db.session, limit=50)
        statements: list[str] = []
        listener = lambda *args: statements.append(args[2])  # noqa: E731
        event.listen(db.engine, "before_cursor_execute", listener)
        try:
            found = audit.named_objects(db.session, page)
        finally:
            event.remove(db.engine, "before_cursor_execute", listener)
        # users (and their roles, loaded with them), customers, tasks, import runs, generation runs
        assert len(statements) == 6
        assert set(found.users) == {world["wang"], world["li"]}
        assert set(found.customers) == {world["customer"]} and set(found.tasks) == {world["task"]}
        assert db.session.scalar(select(User.id).where(User.username == "ghost")) is None

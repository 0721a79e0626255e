"""User administration and the audit log pages."""

from __future__ import annotations

import re
from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
from babel.dates import format_datetime
from sqlalchemy import select

from care.domain.roles import Role
from care.extensions import db
from care.models import AuditLog, User
from care.models.types import utcnow
from care.services import Actor, audit
from care.services.settings import set_settings
from tests import factories

EN = {"Accept-Language": "en"}
HX = {"HX-Request": "true", **EN}


@pytest.fixture
def admin(login_as):
    # No extension: the factory's numbering could give root the 8001 the tests create.
    return login_as("admin", username="root", extension=None)


def _user(app, username):
    with app.app_context():
        user = db.session.scalar(select(User).where(User.username == username))
        if user is not None:
            _ = user.roles  # load before the session closes
        return user


def _errors(html):
    return re.findall(r'<p class="error"[^>]*>([^<]*)</p>', html)


# --- list ------------------------------------------------------------------------------


def test_user_list_shows_roles_extension_status_and_lock(app, client, admin):
    with app.app_context():
        factories.make_user(db.session, "specialist", "insurance", username="li.na", extension="8123")
        factories.make_user(db.session, "consultant", username="gone", active=False)
        factories.make_user(db.session, "front_desk", username="locked", locked_until=utcnow() + timedelta(minutes=10))
        db.session.commit()
    html = client.get("/admin/users", headers=EN).get_data(as_text=True)
    row = html[html.index(">li.na<"):][:900]
    assert "Care specialist" in row and "Insurance specialist" in row and "8123" in row and "active" in row
    gone = html[html.index(">gone<"):][:900]
    assert "inactive" in gone
    locked = html[html.index(">locked<"):][:1200]
    assert "badge-warn" in locked
    assert "4 users" in html


def test_user_list_search_and_fragment(app, client, admin):
    with app.app_context():
        factories.make_user(db.session, username="wang.wei", display_name="王伟")
        factories.make_user(db.session, username="zhao")
        db.session.commit()
    html = client.get("/admin/users?q=王", headers=EN).get_data(as_text=True)
    assert "wang.wei" in html and ">zhao<" not in html
    response = client.get("/admin/users?q=zha", headers=HX)
    fragment = response.get_data(as_text=True)
    assert "<html" not in fragment and 'id="users-table"' in fragment and ">zhao<" in fragment
    assert "No user matches" in client.get("/admin/users?q=%25", headers=EN).get_data(as_text=True)


def test_user_list_is_paginated(app, client, admin):
    app.config["CARE_PAGE_SIZE"] = 3
    with app.app_context():
        for i in range(5):
            factories.make_user(db.session, username=f"u{i}")
        db.session.commit()
    first = client.get("/admin/users", headers=EN).get_data(as_text=True)
    assert "Page 1 of 2" in first and "page=2" in first
    second = client.get("/admin/users?page=2", headers=EN).get_data(as_text=True)
    assert "Page 2 of 2" in second
    assert client.get("/admin/users?page=99").status_code == 200
    assert client.get("/admin/users?page=abc").status_code == 400


# --- create ----------------------------------------------------------------------------


def _new(**kw):
    data = {
        "username": "li.na",
        "display_name": "李娜",
        "roles": ["specialist", "insurance"],
        "extension": "8001",
        "password": "long-enough-1",
        "confirm": "long-enough-1",
    }
    data.update(kw)
    return data


def test_create_user(app, client, admin):
    form = client.get("/admin/users/new", headers=EN).get_data(as_text=True)
    assert 'type="checkbox"' in form and "Front desk (service reception)" in form
    response = client.post("/admin/users/new", data=_new(), headers=EN)
    assert response.status_code == 303
    user = _user(app, "li.na")
    assert response.headers["Location"].endswith(f"/admin/users/{user.id}")
    assert user.roles == {Role.SPECIALIST, Role.INSURANCE} and user.extension == "8001" and user.display_name == "李娜"
    assert user.check_password("long-enough-1")
    with app.app_context():
        entry = db.session.scalars(select(AuditLog).where(AuditLog.action == "user.create")).one()
        assert entry.actor == "root" and entry.user_id == admin.id and entry.object_id == str(user.id)
    # the new user can log in
    client.post("/auth/logout")
    assert client.post("/auth/login", data={"username": "li.na", "password": "long-enough-1"}).status_code == 303


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"confirm": "something-else"}, "The two passwords differ."),
        ({"password": "short", "confirm": "short"}, "needs 10 to 256 characters"),
        ({"roles": []}, "Choose at least one role."),
        ({"username": "a b"}, "letters, digits"),
        ({"extension": "80x1"}, "Digits only"),
        ({"roles": ["specialist", "emperor"]}, "Not a valid choice"),
    ],
)
def test_create_user_errors_keep_the_form(app, client, admin, changes, message):
    response = client.post("/admin/users/new", data=_new(**changes), headers=EN)
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert any(message.lower() in e.lower() for e in _errors(html)), _errors(html)
    assert 'value="李娜"' in html  # what was typed stays
    assert _user(app, "li.na") is None


def test_create_duplicate_user_and_extension(app, client, admin):
    with app.app_context():
        factories.make_user(db.session, username="LI.NA", extension="8777")
        db.session.commit()
    html = client.post("/admin/users/new", data=_new(), headers=EN).get_data(as_text=True)
    assert "user “li.na” exists already" in _errors(html)
    html = client.post("/admin/users/new", data=_new(username="other", extension="8777"), headers=EN).get_data(as_text=True)
    assert "extension 8777 belongs to LI.NA already" in _errors(html)


# --- edit ------------------------------------------------------------------------------


def _edit(user, **kw):
    data = {
        "display_name": user.display_name,
        "roles": sorted(r.value for r in user.roles),
        "extension": user.extension or "",
        "locale": user.locale or "",
        "active": "y" if user.active else "",
    }
    data.update(kw)
    if not data["active"]:
        del data["active"]  # an unticked box is not sent
    return data


def test_edit_user(app, client, admin):
    with app.app_context():
        target = factories.make_user(db.session, "specialist", username="zhang")
        db.session.commit()
        target_id = target.id
    page = client.get(f"/admin/users/{target_id}", headers=EN).get_data(as_text=True)
    assert 'value="specialist" checked' in page or re.search(r'checked[^>]*value="specialist"', page)
    target = _user(app, "zhang")
    response = client.post(
        f"/admin/users/{target_id}",
        data=_edit(target, display_name="张三", roles=["care_manager"], locale="en", extension="8500", active=""),
        headers=EN,
    )
    assert response.status_code == 303
    target = _user(app, "zhang")
    assert target.display_name == "张三" and target.roles == {Role.CARE_MANAGER} and target.locale == "en"
    assert target.extension == "8500" and target.active is False
    with app.app_context():
        entry = db.session.scalars(select(AuditLog).where(AuditLog.action == "user.update")).one()
        assert entry.detail["active"] == {"old": True, "new": False}
        assert entry.object_id == str(target_id) and entry.actor == "root"
    assert "Changes to zhang saved." in client.get(f"/admin/users/{target_id}", headers=EN).get_data(as_text=True)


def test_edit_without_changes(app, client, admin):
    with app.app_context():
        target = factories.make_user(db.session, "specialist")
        db.session.commit()
        data, target_id = _edit(target), target.id
    response = client.post(f"/admin/users/{target_id}", data=data, headers=EN, follow_redirects=True)
    assert "Nothing changed." in response.get_data(as_text=True)


def test_admin_cannot_remove_own_admin_role_or_deactivate_self(app, client, admin):
    me = _user(app, "root")
    response = client.post(f"/admin/users/{me.id}", data=_edit(me, roles=["care_manager"]), headers=EN)
    assert response.status_code == 422
    assert "you cannot remove your own administrator role" in _errors(response.get_data(as_text=True))
    response = client.post(f"/admin/users/{me.id}", data=_edit(me, active=""), headers=EN)
    assert response.status_code == 422
    assert "you cannot deactivate your own account" in _errors(response.get_data(as_text=True))
    me = _user(app, "root")
    assert Role.ADMIN in me.roles and me.active
    # still an admin: the page still opens
    assert client.get("/admin/users").status_code == 200


def test_edit_invalid_form(app, client, admin):
    with app.app_context():
        target = factories.make_user(db.session, "specialist")
        db.session.commit()
        target_id = target.id
    response = client.post(f"/admin/users/{target_id}", data={"display_name": "x"}, headers=EN)
    assert response.status_code == 422
    assert "Choose at least one role." in _errors(response.get_data(as_text=True))
    response = client.post(f"/admin/users/{target_id}", data={"roles": ["specialist"], "locale": "fr"}, headers=EN)
    assert response.status_code == 422


def test_unknown_user_is_404(client, admin):
    assert client.get("/admin/users/99999").status_code == 404
    assert client.post("/admin/users/99999", data={}).status_code == 404
    assert client.post("/admin/users/99999/password", data={}).status_code == 404
    assert client.post("/admin/users/99999/unlock").status_code == 404


def test_user_page_fragment(app, client, admin):
    me = _user(app, "root")
    response = client.get(f"/admin/users/{me.id}", headers=HX)
    assert response.status_code == 200 and "<html" not in response.get_data(as_text=True)


# --- password and unlock ---------------------------------------------------------------


def test_reset_password(app, client, admin):
    with app.app_context():
        target = factories.make_user(db.session, "specialist", username="zhao", locked_until=utcnow() + timedelta(minutes=9))
        db.session.commit()
        target_id = target.id
    response = client.post(f"/admin/users/{target_id}/password", data={"password": "fresh-password", "confirm": "fresh-password"})
    assert response.status_code == 303
    target = _user(app, "zhao")
    assert target.check_password("fresh-password") and target.locked_until is None
    with app.app_context():
        entry = db.session.scalars(select(AuditLog).where(AuditLog.action == "user.password_reset")).one()
        assert "fresh-password" not in repr(entry.detail)


def test_reset_password_errors(app, client, admin):
    with app.app_context():
        target = factories.make_user(db.session, "specialist", username="zhao")
        db.session.commit()
        target_id = target.id
    response = client.post(f"/admin/users/{target_id}/password", data={"password": "fresh-password", "confirm": "other-password"}, headers=EN)
    assert response.status_code == 422
    assert "The two passwords differ." in _errors(response.get_data(as_text=True))
    response = client.post(f"/admin/users/{target_id}/password", data={"password": "short", "confirm": "short"}, headers=EN)
    assert response.status_code == 422
    assert _user(app, "zhao").check_password(factories.PASSWORD)


def test_unlock(app, client, admin):
    with app.app_context():
        target = factories.make_user(db.session, "specialist", username="zhao", locked_until=utcnow() + timedelta(minutes=9), failed_logins=0)
        db.session.commit()
        target_id = target.id
    page = client.get(f"/admin/users/{target_id}", headers=EN).get_data(as_text=True)
    assert f"/admin/users/{target_id}/unlock" in page
    response = client.post(f"/admin/users/{target_id}/unlock", headers=EN, follow_redirects=True)
    assert "zhao is unlocked" in response.get_data(as_text=True)
    assert _user(app, "zhao").locked_until is None
    # the user can log in again
    client.post("/auth/logout")
    assert client.post("/auth/login", data={"username": "zhao", "password": factories.PASSWORD}).status_code == 303
    with app.app_context():
        assert db.session.scalars(select(AuditLog).where(AuditLog.action == "user.unlock")).one().actor == "root"


def test_a_locked_users_page_shows_the_failed_log_ins_and_the_lock(app, client, admin):
    """Issue 10: it showed 0 failed log-ins for a locked user."""
    with app.app_context():
        set_settings(db.session, {"login_max_failures": "3", "login_lockout_minutes": "15"}, actor=Actor("t"), now=utcnow())
        target = factories.make_user(db.session, "specialist", username="zhao")
        db.session.commit()
        target_id = target.id
    client.post("/auth/logout")
    for _ in range(3):
        assert client.post("/auth/login", data={"username": "zhao", "password": "wrong-password"}).status_code == 422
    client.post("/auth/login", data={"username": "root", "password": factories.PASSWORD})
    html = client.get(f"/admin/users/{target_id}", headers=EN).get_data(as_text=True)
    facts = html[html.index("Failed log-ins"):]
    assert re.search(r"Failed log-ins</dt>\s*<dd>3\b", facts)
    user = _user(app, "zhao")
    start, end = (format_datetime(t, "short", tzinfo=ZoneInfo("Asia/Shanghai"), locale="en")
                  for t in (user.locked_at, user.locked_until))
    assert _text(f"Locked since {start} until {end}") in _text(facts)
    assert '/admin/audit?user=zhao&amp;action=login.*' in html  # every log-in event of theirs


def _text(html: str) -> str:
    return " ".join(re.sub(r"<[^>]+>", " ", html).split())


# --- audit log -------------------------------------------------------------------------


def _entries(app, n, actor="zhang", **kw):
    with app.app_context():
        now = utcnow()
        for i in range(n):
            values = {"action": "customer.view", "object_type": "customer", "object_id": i}
            values.update(kw)
            audit.record(db.session, actor=Actor(actor, ip="10.1.2.3"), now=now, **values)
        db.session.commit()


def test_audit_log_newest_first_with_keyset_paging(app, client, login_as):
    login_as("general_manager", username="gm")
    _entries(app, 60)
    html = client.get("/admin/audit", headers=EN).get_data(as_text=True)
    ids = [int(i) for i in re.findall(r'<tr id="audit-(\d+)"', html)]
    assert len(ids) == 50 and ids == sorted(ids, reverse=True)
    older = re.search(r'href="/admin/audit\?before=(\d+)"', html)
    assert older and int(older.group(1)) == ids[-1]
    html2 = client.get(f"/admin/audit?before={ids[-1]}", headers=EN).get_data(as_text=True)
    ids2 = [int(i) for i in re.findall(r'<tr id="audit-(\d+)"', html2)]
    with app.app_context():
        every = sorted(db.session.scalars(select(AuditLog.id)), reverse=True)
    assert ids + ids2 == every  # two pages, nothing skipped, nothing twice
    assert 'rel="next"' not in html2  # the last page has no "older" link
    assert 'href="/admin/audit"' in html2  # but a way back to the newest
    assert "10.1.2.3" in html and "customer.view" in html and "zhang" in html


def test_audit_log_filters(app, client, admin):
    _entries(app, 2, actor="zhang", action="customer.view")
    _entries(app, 1, actor="Wang", action="customer.export")
    _entries(app, 1, actor="wang", action="settings.update", object_type="settings", object_id=None,
             detail={"attempts_max": {"old": "3", "new": "4"}})
    html = client.get("/admin/audit?user=WANG", headers=EN).get_data(as_text=True)
    assert html.count('<tr id="audit-') == 2
    html = client.get("/admin/audit?action=customer", headers=EN).get_data(as_text=True)
    assert html.count('<tr id="audit-') == 3  # customer.view ×2, customer.export
    html = client.get("/admin/audit?action=customer.view&user=zhang", headers=EN).get_data(as_text=True)
    assert html.count('<tr id="audit-') == 2
    html = client.get("/admin/audit?action=settings.update", headers=EN).get_data(as_text=True)
    assert "Unsuccessful attempts before fallback: 3 → 4" in html  # the setting by its label
    html = client.get("/admin/audit?action=nothing%25", headers=EN).get_data(as_text=True)
    assert "No entries match these filters." in html


def test_audit_log_fragment_and_bad_cursor(app, client, admin):
    _entries(app, 3)
    response = client.get("/admin/audit?user=zhang", headers=HX)
    html = response.get_data(as_text=True)
    assert response.status_code == 200 and "<html" not in html and 'id="audit-table"' in html
    assert client.get("/admin/audit?before=abc").status_code == 400


def test_audit_log_shows_time_in_the_dealer_time_zone(app, client, admin):
    from datetime import UTC, datetime

    with app.app_context():
        audit.record(db.session, actor=Actor("zhang"), action="probe", now=datetime(2026, 3, 1, 1, 30, tzinfo=UTC))
        db.session.commit()
    html = client.get("/admin/audit?action=probe", headers=EN).get_data(as_text=True)
    assert "2026-03-01 09:30:00" in html  # Asia/Shanghai, UTC+8


def test_audit_is_for_admins_and_general_managers_only(client, login_as):
    login_as("care_manager")
    assert client.get("/admin/audit").status_code == 403


def test_edit_user_email_for_the_complaint_notices(app, client, admin):
    with app.app_context():
        target = factories.make_user(db.session, "care_manager", username="zhou")
        db.session.commit()
        target_id = target.id
    target = _user(app, "zhou")
    response = client.post(f"/admin/users/{target_id}", data=_edit(target, email="bad address"), headers=EN)
    assert response.status_code == 422 and "is not an e-mail address" in response.get_data(as_text=True)
    response = client.post(f"/admin/users/{target_id}", data=_edit(target, email="zhou@dealer.example"), headers=EN)
    assert response.status_code == 303
    assert _user(app, "zhou").email == "zhou@dealer.example"
    assert 'value="zhou@dealer.example"' in client.get(f"/admin/users/{target_id}", headers=EN).get_data(as_text=True)

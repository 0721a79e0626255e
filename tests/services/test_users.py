"""Users: creation rules, profile changes with their guards, passwords, lock-out."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from care.domain.roles import Role
from care.models import AuditLog, User
from care.services import Actor, ServiceError
from care.services import users as svc
from care.services.settings import set_settings
from tests import factories

NOW = datetime(2026, 5, 4, 2, 0, tzinfo=UTC)


def _create(session, name="li.na", **kw):
    values = {"roles": ["specialist"], "password": "long-enough-1", "actor": Actor("admin"), "now": NOW}
    values.update(kw)
    return svc.create_user(session, name, **values)


def _audit(session, action):
    return session.scalars(select(AuditLog).where(AuditLog.action == action).order_by(AuditLog.id)).all()


def test_create_user(session):
    user = _create(session, " li.na ", roles=["Specialist", "insurance"], extension="8001", display_name=" 李娜 ")
    assert user.username == "li.na" and user.display_name == "李娜" and user.extension == "8001"
    assert user.roles == {Role.SPECIALIST, Role.INSURANCE}
    assert user.check_password("long-enough-1") and not user.check_password("wrong")
    assert user.active and user.created_at == NOW
    (entry,) = _audit(session, "user.create")
    assert entry.object_id == str(user.id) and entry.detail["roles"] == ["insurance", "specialist"]


def test_display_name_defaults_to_user_name(session):
    assert _create(session, "wang").display_name == "wang"


@pytest.mark.parametrize(
    "name, kw, field, message",
    [
        ("x", {}, "username", "user name"),
        ("has space", {}, "username", "user name"),
        ("ok.name", {"roles": []}, "roles", "at least one role"),
        ("ok.name", {"roles": ["boss"]}, "roles", "unknown role “boss”"),
        ("ok.name", {"password": "short"}, "password", "at least 10 characters"),
        ("ok.name", {"password": "qwertyuiop"}, "password", "too common"),
        ("ok.name", {"extension": "80-01"}, "extension", "digits only"),
        ("ok.name", {"display_name": "x" * 121}, "display_name", "at most 120"),
    ],
)
def test_create_user_refusals(session, name, kw, field, message):
    with pytest.raises(ServiceError, match=message) as info:
        _create(session, name, **kw)
    assert info.value.field == field
    assert session.scalars(select(User)).all() == []


def test_user_names_are_unique_regardless_of_case(session):
    _create(session, "Zhang")
    with pytest.raises(ServiceError, match="exists already"):
        _create(session, "zhang")


def test_extensions_are_unique(session):
    _create(session, "a1", extension="8001")
    with pytest.raises(ServiceError, match="8001 belongs to a1"):
        _create(session, "b2", extension="8001")


def test_find_user_by_name_or_display(session):
    factories.make_user(session, username="wang.wei", display_name="王伟")
    factories.make_user(session, username="li1", display_name="李明")
    factories.make_user(session, username="li2", display_name="李明")
    assert svc.find_user(session, " WANG.WEI ").username == "wang.wei"
    assert svc.find_user_by_name_or_display(session, "王伟").username == "wang.wei"
    assert svc.find_user_by_name_or_display(session, "李明") is None  # ambiguous: not guessed
    assert svc.find_user_by_name_or_display(session, "nobody") is None


def _update(session, user, by=None, **kw):
    values = {
        "display_name": user.display_name,
        "roles": [r.value for r in user.roles],
        "extension": user.extension,
        "locale": user.locale,
        "active": user.active,
        "actor": Actor("boss", by),
        "now": NOW,
    }
    values.update(kw)
    return svc.update_user(session, user, **values)


def test_update_user_records_what_changed(session):
    user = factories.make_user(session, "specialist", extension="8100")
    changes = _update(session, user, roles=["specialist", "care_manager"], locale="en", extension="8101", display_name="新名字")
    assert user.roles == {Role.SPECIALIST, Role.CARE_MANAGER} and user.locale == "en" and user.extension == "8101"
    assert changes["roles"] == {"old": ["specialist"], "new": ["care_manager", "specialist"]}
    assert set(changes) == {"roles", "locale", "extension", "display_name"}
    (entry,) = _audit(session, "user.update")
    assert entry.detail == changes and entry.object_id == str(user.id)


def test_update_without_changes_audits_nothing(session):
    user = factories.make_user(session, "specialist")
    assert _update(session, user) == {}
    assert _audit(session, "user.update") == []


def test_update_refuses_bad_values(session):
    user = factories.make_user(session, "specialist")
    other = factories.make_user(session, "specialist", extension="8999")
    with pytest.raises(ServiceError, match="at least one role"):
        _update(session, user, roles=[])
    with pytest.raises(ServiceError, match="unknown language"):
        _update(session, user, locale="fr")
    with pytest.raises(ServiceError, match=f"belongs to {other.username}"):
        _update(session, user, extension="8999")
    assert _update(session, user, extension=user.extension) == {}  # one's own extension is fine


def test_an_admin_cannot_demote_or_deactivate_themselves(session):
    admin = factories.make_user(session, "admin")
    with pytest.raises(ServiceError, match="your own administrator role") as info:
        _update(session, admin, by=admin.id, roles=["specialist"])
    assert info.value.field == "roles"
    with pytest.raises(ServiceError, match="deactivate your own account"):
        _update(session, admin, by=admin.id, active=False)
    with pytest.raises(ServiceError, match="deactivate your own account"):
        svc.set_active(session, admin, False, actor=Actor("x", admin.id), now=NOW)
    assert Role.ADMIN in admin.roles and admin.active
    # Other changes to oneself are fine; another admin may demote them.
    _update(session, admin, by=admin.id, roles=["admin", "care_manager"])
    other = factories.make_user(session, "admin")
    _update(session, admin, by=other.id, roles=["care_manager"], active=False)
    assert admin.roles == {Role.CARE_MANAGER} and not admin.active


def test_set_active(session):
    user = factories.make_user(session, "specialist")
    assert svc.set_active(session, user, False, actor=Actor("boss"), now=NOW) is True
    assert svc.set_active(session, user, False, actor=Actor("boss"), now=NOW) is False
    assert not user.active
    assert [e.action for e in session.scalars(select(AuditLog))] == ["user.deactivate"]


def test_reset_password_also_lifts_a_lock(session):
    user = factories.make_user(session, "specialist", locked_until=NOW + timedelta(minutes=5), failed_logins=3)
    with pytest.raises(ServiceError, match="at least 10"):
        svc.reset_password(session, user, "short", actor=Actor("boss"), now=NOW)
    svc.reset_password(session, user, "brand-new-pass", actor=Actor("boss"), now=NOW)
    assert user.check_password("brand-new-pass") and user.locked_until is None and user.failed_logins == 0
    (entry,) = _audit(session, "user.password_reset")
    assert "brand-new-pass" not in str(entry.detail)


def test_unlock(session):
    user = factories.make_user(session, "specialist", locked_until=NOW + timedelta(minutes=5))
    assert svc.unlock(session, user, actor=Actor("boss"), now=NOW) is True
    assert user.locked_until is None
    assert svc.unlock(session, user, actor=Actor("boss"), now=NOW) is False
    assert len(_audit(session, "user.unlock")) == 1


# --- authenticate ----------------------------------------------------------------------


def _login(session, name, password, now=NOW):
    return svc.authenticate(session, name, password, now=now, ip="10.0.0.9")


def test_authenticate_success_resets_the_counter(session):
    user = factories.make_user(session, "specialist", failed_logins=2)
    assert _login(session, user.username.upper(), factories.PASSWORD) is user
    assert user.failed_logins == 0 and user.last_login_at == NOW
    assert _audit(session, "login")[0].ip == "10.0.0.9"


def test_lock_out_after_the_configured_failures_and_expiry(session):
    set_settings(session, {"login_max_failures": "3", "login_lockout_minutes": "10"}, actor=Actor("t"), now=NOW)
    user = factories.make_user(session, "specialist")
    for _ in range(2):
        with pytest.raises(svc.LoginRefused) as info:
            _login(session, user.username, "wrong")
        assert info.value.reason == "invalid"
    with pytest.raises(svc.LoginRefused) as info:
        _login(session, user.username, "wrong")
    assert info.value.reason == "locked" and info.value.until == NOW + timedelta(minutes=10)
    # Locked: even the right password is refused until the time has passed.
    with pytest.raises(svc.LoginRefused, match="locked"):
        _login(session, user.username, factories.PASSWORD, now=NOW + timedelta(minutes=9))
    assert _login(session, user.username, factories.PASSWORD, now=NOW + timedelta(minutes=10)) is user
    assert user.locked_until is None


def test_a_locked_user_keeps_the_count_and_the_time_of_the_lock(session):
    """Issue 10: the user page showed 0 failed log-ins for a locked user (the counter was
    reset at the lock). It now keeps counting until the next try after the lock-out, a
    right password or an administrator's unlock; ``locked_at`` says when the lock began."""
    set_settings(session, {"login_max_failures": "3", "login_lockout_minutes": "10"}, actor=Actor("t"), now=NOW)
    user = factories.make_user(session, "specialist")
    for i in range(3):
        with pytest.raises(svc.LoginRefused):
            _login(session, user.username, "wrong", now=NOW + timedelta(seconds=i))
    locked_at = NOW + timedelta(seconds=2)
    assert (user.failed_logins, user.locked_at, user.locked_until) == (3, locked_at, locked_at + timedelta(minutes=10))
    with pytest.raises(svc.LoginRefused, match="locked"):  # tries while locked are refused, not counted
        _login(session, user.username, factories.PASSWORD, now=NOW + timedelta(minutes=5))
    assert (user.failed_logins, user.locked_at) == (3, locked_at)
    # after the lock-out the count starts again with the next try
    with pytest.raises(svc.LoginRefused) as info:
        _login(session, user.username, "wrong", now=NOW + timedelta(minutes=11))
    assert info.value.reason == "invalid"
    assert (user.failed_logins, user.locked_at, user.locked_until) == (1, None, None)
    with pytest.raises(svc.LoginRefused):
        _login(session, user.username, "wrong", now=NOW + timedelta(minutes=12))
    with pytest.raises(svc.LoginRefused) as info:
        _login(session, user.username, "wrong", now=NOW + timedelta(minutes=13))
    assert info.value.reason == "locked" and (user.failed_logins, user.locked_at) == (3, NOW + timedelta(minutes=13))
    assert svc.unlock(session, user, actor=Actor("admin"), now=NOW + timedelta(minutes=14))
    assert (user.failed_logins, user.locked_at, user.locked_until) == (0, None, None)


def test_an_expired_lock_with_the_full_count_lets_the_right_password_in(session):
    set_settings(session, {"login_max_failures": "3"}, actor=Actor("t"), now=NOW)
    user = factories.make_user(
        session, "specialist", failed_logins=3, locked_at=NOW - timedelta(minutes=20), locked_until=NOW - timedelta(minutes=5)
    )
    assert _login(session, user.username, factories.PASSWORD) is user
    assert (user.failed_logins, user.locked_at, user.locked_until) == (0, None, None)


def test_unknown_user_and_inactive_user(session):
    with pytest.raises(svc.LoginRefused) as info:
        _login(session, "ghost", "whatever")
    assert info.value.reason == "invalid"
    user = factories.make_user(session, "specialist", active=False)
    with pytest.raises(svc.LoginRefused) as info:
        _login(session, user.username, factories.PASSWORD)
    assert info.value.reason == "inactive"
    assert [e.detail["reason"] for e in _audit(session, "login.failed")] == ["unknown", "inactive"]


# --- password rules and the change of one's own password --------------------------------


@pytest.mark.parametrize(
    "password, message",
    [
        ("12345678", "at least 10 characters"),
        ("aaaaaaaa", "at least 10 characters"),
        ("aaaaaaaaaaaa", "one character repeated"),
        ("abcabcabcabc", "one character repeated"),
        ("1234567890", "too common"),
        ("bcdefghijklm", "a run like"),
        ("jihgfedcba", "a run like"),
        ("password123", "too common"),
        ("Qwertyuiop", "too common"),
        ("my-li.na-pass", "the user name"),
    ],
)
def test_password_rules(session, password, message):
    user = factories.make_user(session, "specialist", username="li.na")
    with pytest.raises(ServiceError, match=message) as info:
        svc.reset_password(session, user, password, actor=Actor("boss"), now=NOW)
    assert info.value.field == "password"
    assert user.check_password(factories.PASSWORD)


def test_an_admin_reset_forces_a_change_and_ends_the_sessions(session):
    user = factories.make_user(session, "specialist")
    version = user.session_version
    svc.reset_password(session, user, "brand-new-pass", actor=Actor("boss"), now=NOW)
    assert user.must_change_password and user.session_version == version + 1


def test_change_own_password(session):
    user = factories.make_user(session, "specialist", username="li.na", must_change_password=True)
    version = user.session_version
    with pytest.raises(ServiceError, match="current password is wrong") as info:
        svc.change_password(session, user, "not-it", "Another-good-1", now=NOW)
    assert info.value.field == "current_password"
    with pytest.raises(ServiceError, match="differ from the current"):
        svc.change_password(session, user, factories.PASSWORD, factories.PASSWORD, now=NOW)
    with pytest.raises(ServiceError, match="too common"):
        svc.change_password(session, user, factories.PASSWORD, "iloveyou123", now=NOW)
    svc.change_password(session, user, factories.PASSWORD, "Another-good-1", now=NOW, ip="10.0.0.9")
    assert user.check_password("Another-good-1") and not user.must_change_password
    assert user.session_version == version + 1
    (entry,) = _audit(session, "user.password_change")
    assert entry.actor == "li.na" and "Another-good-1" not in str(entry.detail)

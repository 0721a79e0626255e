"""Log-in, lock-out, log-out, safe redirects, CSRF and the language choice."""

from __future__ import annotations

import re
from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
from babel.dates import format_datetime
from sqlalchemy import select

from care.extensions import db
from care.models import AuditLog, User
from care.models.types import utcnow
from care.services import Actor
from care.services.settings import set_settings
from tests import factories
from tests.conftest import make_app

EN = {"Accept-Language": "en"}
WRONG = "Wrong user name or password."


@pytest.fixture
def user(app) -> int:
    """A specialist "li.na" with the factories' password; the fixture's value is the id."""
    with app.app_context():
        u = factories.make_user(db.session, "specialist", username="li.na")
        db.session.commit()
        return u.id


def _login(client, username="li.na", password=factories.PASSWORD, **kw):
    return client.post("/auth/login", data={"username": username, "password": password}, headers=EN, **kw)


def _errors(response):
    return re.findall(r'<p class="error"[^>]*>([^<]*)</p>', response.get_data(as_text=True))


def _reload(app, username="li.na") -> User:
    with app.app_context():
        return db.session.scalar(select(User).where(User.username == username))


def test_login_page(client):
    response = client.get("/auth/login", headers=EN)
    assert response.status_code == 200
    assert 'name="username"' in response.get_data(as_text=True)


def test_login_and_home(app, client, user):
    response = _login(client)
    assert response.status_code == 303
    assert client.get("/").status_code in (200, 302)
    assert _reload(app).last_login_at is not None
    # a logged-in user visiting the log-in page goes home
    assert client.get("/auth/login").status_code == 302


def test_wrong_password_and_unknown_user_get_the_same_message(app, client, user):
    wrong = _login(client, password="not-the-password")
    unknown = _login(client, username="nobody", password="whatever")
    assert wrong.status_code == unknown.status_code == 422
    assert _errors(wrong) == _errors(unknown) == [WRONG]
    assert 'value="nobody"' in unknown.get_data(as_text=True)  # the name typed stays
    with app.app_context():
        reasons = [e.detail["reason"] for e in db.session.scalars(select(AuditLog).where(AuditLog.action == "login.failed").order_by(AuditLog.id))]
        assert reasons == ["password", "unknown"]


def test_empty_form_is_422_not_500(client):
    assert client.post("/auth/login", data={}).status_code == 422


def test_lock_out_after_the_configured_failures_shows_the_time(app, client, user):
    with app.app_context():
        set_settings(db.session, {"login_max_failures": "3", "login_lockout_minutes": "20"}, actor=Actor("t"), now=utcnow())
        db.session.commit()
    for _ in range(2):
        assert _errors(_login(client, password="bad-password")) == [WRONG]
    response = _login(client, password="bad-password")
    assert response.status_code == 422
    locked_until = _reload(app).locked_until
    assert locked_until is not None and timedelta(minutes=19) < locked_until - utcnow() <= timedelta(minutes=20)
    shown = format_datetime(locked_until, "short", tzinfo=ZoneInfo("Asia/Shanghai"), locale="en")
    (message,) = _errors(response)
    assert message == f"Too many failed attempts. Try again after {shown}."
    # while locked, even the right password is refused
    response = _login(client)
    assert response.status_code == 422 and "Too many failed attempts" in _errors(response)[0]
    assert client.get("/").status_code == 302  # not logged in


def test_lock_out_expires(app, client, user):
    with app.app_context():
        u = db.session.get(User, user)
        u.locked_until = utcnow() - timedelta(seconds=1)
        u.failed_logins = 4
        db.session.commit()
    assert _login(client).status_code == 303
    u = _reload(app)
    assert u.locked_until is None and u.failed_logins == 0


def test_inactive_user_is_refused(app, client):
    with app.app_context():
        factories.make_user(db.session, "specialist", username="gone", active=False)
        db.session.commit()
    response = _login(client, username="gone")
    assert response.status_code == 422
    assert _errors(response) == ["This account is disabled."]
    assert client.get("/").status_code == 302


def test_deactivated_while_logged_in_is_logged_out(app, client, user):
    _login(client)
    with app.app_context():
        db.session.get(User, user).active = False
        db.session.commit()
    response = client.get("/")
    assert response.status_code == 302 and "/auth/login" in response.headers["Location"]


@pytest.mark.parametrize("target", ["/admin/audit", "/customers/?q=%E5%BC%A0"])
def test_next_goes_to_a_local_path(client, user, target):
    response = client.post("/auth/login", query_string={"next": target}, data={"username": "li.na", "password": factories.PASSWORD})
    assert response.status_code == 303 and response.headers["Location"] == target


@pytest.mark.parametrize(
    "target",
    ["//evil.example", "https://evil.example", "https://evil.example/auth/login", "//evil.example/x", "javascript:alert(1)",
     "evil.example", "/\t/evil.example", "///evil.example", "/\\evil.example"],
)
def test_next_refuses_other_sites(client, user, target):
    response = client.post("/auth/login", query_string={"next": target}, data={"username": "li.na", "password": factories.PASSWORD})
    assert response.status_code == 303
    location = response.headers["Location"]
    assert location == "/"
    assert "evil" not in location


def test_anonymous_page_visit_sends_to_login_with_next(client):
    response = client.get("/admin/users?q=x")
    assert response.status_code == 302
    assert "/auth/login?next=" in response.headers["Location"]


def test_htmx_request_with_expired_session_gets_hx_redirect(client):
    response = client.get("/admin/users", headers={"HX-Request": "true"})
    assert response.status_code == 401 and "/auth/login" in response.headers["HX-Redirect"]


def test_logout_is_post_only(app, client, user):
    _login(client)
    assert client.get("/auth/logout").status_code == 405
    still = client.get("/")
    assert "/auth/login" not in still.headers.get("Location", "")  # a GET did not log out
    response = client.post("/auth/logout", headers=EN)
    assert response.status_code == 303 and response.headers["Location"].endswith("/auth/login")
    after = client.get("/")
    assert after.status_code == 302 and "/auth/login" in after.headers["Location"]
    with app.app_context():
        assert db.session.scalars(select(AuditLog).where(AuditLog.action == "logout")).one().actor == "li.na"


# --- CSRF ------------------------------------------------------------------------------


@pytest.fixture
def csrf_app(app):
    app.config["WTF_CSRF_ENABLED"] = True  # read per request; the app fixture restores it
    with app.app_context():
        factories.make_user(db.session, "admin", username="boss")
        db.session.commit()
    return app


def _token(client) -> str:
    html = client.get("/auth/login", headers=EN).get_data(as_text=True)
    return re.search(r'"X-CSRFToken": "([^"]+)"', html).group(1)


def test_post_without_csrf_token_is_a_clear_400(csrf_app):
    client = csrf_app.test_client()
    response = client.post("/auth/login", data={"username": "boss", "password": factories.PASSWORD}, headers=EN)
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    assert "Your form expired or was sent from elsewhere" in html and "<html" in html


def test_htmx_post_without_token_gets_the_error_fragment(csrf_app):
    client = csrf_app.test_client()
    response = client.post("/language", data={"locale": "en"}, headers={"HX-Request": "true", **EN})
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    assert "<html" not in html and "Your form expired" in html


def test_form_with_token_and_htmx_with_header_pass(csrf_app):
    client = csrf_app.test_client()
    token = _token(client)
    assert 'name="csrf_token"' in client.get("/auth/login").get_data(as_text=True)
    response = client.post(
        "/auth/login", data={"username": "boss", "password": factories.PASSWORD, "csrf_token": token}
    )
    assert response.status_code == 303
    token = _token_from_page(client, "/settings/")
    response = client.post(
        "/settings/dealer_city/reset", headers={"HX-Request": "true", "X-CSRFToken": token}
    )
    assert response.status_code == 200
    response = client.post("/language", data={"locale": "en"}, headers={"HX-Request": "true", "X-CSRFToken": token})
    assert response.status_code == 303


def _token_from_page(client, url):
    html = client.get(url).get_data(as_text=True)
    return re.search(r'"X-CSRFToken": "([^"]+)"', html).group(1)


# --- language --------------------------------------------------------------------------


def _lang(response) -> str:
    return re.search(r'<html lang="([^"]+)"', response.get_data(as_text=True)).group(1)


def test_accept_language_picks_english_for_en_us(client):
    assert _lang(client.get("/auth/login", headers={"Accept-Language": "en-US,en;q=0.9"})) == "en"
    assert _lang(client.get("/auth/login", headers={"Accept-Language": "zh-CN,zh;q=0.9"})).startswith("zh")


def test_without_a_known_browser_language_the_default_is_chinese(tmp_path, pg_schema):
    # An app of its own: Flask-Babel reads BABEL_DEFAULT_LOCALE when the app is made.
    app = make_app(tmp_path, pg_schema, BABEL_DEFAULT_LOCALE="zh_CN")
    try:
        client = app.test_client()
        assert _lang(client.get("/auth/login")).startswith("zh")
        assert _lang(client.get("/auth/login", headers={"Accept-Language": "fr-FR"})).startswith("zh")
    finally:
        with app.app_context():
            db.engine.dispose()


def test_language_switch_sets_the_session(client):
    response = client.post("/language", data={"locale": "en", "next": "/auth/login"}, headers={"Accept-Language": "zh-CN"})
    assert response.status_code == 303 and response.headers["Location"] == "/auth/login"
    assert _lang(client.get("/auth/login", headers={"Accept-Language": "zh-CN"})) == "en"
    client.post("/language", data={"locale": "zh_CN"})
    assert _lang(client.get("/auth/login", headers=EN)).startswith("zh")


def test_language_switch_ignores_unknown_and_foreign_next(client):
    response = client.post("/language", data={"locale": "xx", "next": "https://evil.example"})
    assert response.status_code == 303 and "evil" not in response.headers["Location"]
    assert _lang(client.get("/auth/login", headers=EN)) == "en"


def test_logged_in_users_saved_locale_wins(app, client, login_as):
    user_name = login_as("admin", locale="en").username
    assert _lang(client.get("/settings/", headers={"Accept-Language": "zh-CN"})) == "en"
    client.post("/language", data={"locale": "zh_CN"})
    with app.app_context():
        assert db.session.scalar(select(User).where(User.username == user_name)).locale == "zh_CN"  # saved on the user
    assert _lang(client.get("/settings/", headers=EN)).startswith("zh")


# --- races, probing and sessions (issue 9) ---------------------------------------------


def test_concurrent_wrong_passwords_check_at_most_the_limit(app, user, monkeypatch):
    """40 wrong passwords from 8 threads: at most ``login_max_failures`` passwords are
    checked before the lock (the count is claimed in one statement), and the account is
    locked."""
    import threading

    checks = []
    real_check = User.check_password
    gate = threading.Barrier(8)

    def counting_check(self, password):
        checks.append(password)
        return real_check(self, password)

    monkeypatch.setattr(User, "check_password", counting_check)
    statuses = []

    def attack():
        client = app.test_client()
        gate.wait()
        for _ in range(5):
            statuses.append(_login(client, password="bad-password").status_code)

    threads = [threading.Thread(target=attack) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert statuses == [422] * 40
    assert 1 <= len(checks) <= 5
    assert _reload(app).locked_until is not None
    # the right password is refused while locked, without being checked
    checks.clear()
    assert "Too many failed attempts" in _errors(_login(app.test_client()))[0]
    assert checks == []


def test_a_locked_account_and_an_unknown_name_get_the_same_answer(app, user):
    """The lock-out must not tell which names exist: after the same tries, a real account
    and an unknown name get the same status and text (the unknown name is throttled too)."""
    with app.app_context():
        set_settings(db.session, {"login_max_failures": "3", "login_lockout_minutes": "20"}, actor=Actor("t"), now=utcnow())
        db.session.commit()
    real, unknown = app.test_client(), app.test_client()
    for attempt in range(5):
        a = _login(real, username="li.na", password="bad-password")
        b = _login(unknown, username="no.such.user", password="bad-password")
        assert a.status_code == b.status_code == 422, attempt
        assert _errors(a) == _errors(b), attempt
    assert "Too many failed attempts" in _errors(b)[0]
    # the name is matched in any case, as log-in names are
    assert _errors(_login(unknown, username="No.Such.User")) == _errors(b)


def _cookies(client) -> dict[str, str]:
    return {c.key: c.value for c in client._cookies.values()}


def _replay(app, cookies: dict[str, str]):
    """A fresh browser that sends only these cookies; its answer to the home page."""
    other = app.test_client()
    for key, value in cookies.items():
        other.set_cookie(key, value)
    return other.get("/")


def _logged_in(response) -> bool:
    return "/auth/login" not in response.headers.get("Location", "")


def test_a_session_cookie_replayed_after_log_out_is_refused(app, client, user):
    _login(client)
    stolen = _cookies(client)
    assert _logged_in(_replay(app, stolen))
    client.post("/auth/logout")
    assert not _logged_in(_replay(app, stolen))


def test_an_admin_password_reset_ends_the_old_sessions_and_remember_me(app, client, user):
    client.post("/auth/login", data={"username": "li.na", "password": factories.PASSWORD, "remember": "y"})
    session_cookie = _cookies(client)
    remember = {"remember_token": session_cookie.pop("remember_token")}
    assert _logged_in(_replay(app, remember))  # the remember-me cookie alone logs in
    with app.app_context():
        from care.services import users as user_service

        user_service.reset_password(db.session, db.session.get(User, user), "Fresh-passw0rd-x", actor=Actor("boss"), now=utcnow())
        db.session.commit()
    assert not _logged_in(client.get("/"))
    assert not _logged_in(_replay(app, session_cookie))
    assert not _logged_in(_replay(app, remember))


def test_deactivation_ends_the_sessions(app, client, user):
    _login(client)
    stolen = _cookies(client)
    with app.app_context():
        from care.services import users as user_service

        u = db.session.get(User, user)
        user_service.set_active(db.session, u, False, actor=Actor("boss"), now=utcnow())
        user_service.set_active(db.session, u, True, actor=Actor("boss"), now=utcnow())
        db.session.commit()
    assert not _logged_in(_replay(app, stolen))  # active again, the old session stays ended


def test_cookie_flags(app, user):
    app.config.update(SESSION_COOKIE_SECURE=True, REMEMBER_COOKIE_SECURE=True)  # as CARE_HTTPS sets them
    client = app.test_client()
    response = client.post("/auth/login", data={"username": "li.na", "password": factories.PASSWORD, "remember": "y"})
    assert response.status_code == 303
    cookies = {h.split("=", 1)[0]: h for h in response.headers.getlist("Set-Cookie")}
    assert set(cookies) >= {"session", "remember_token"}
    for header in cookies.values():
        flags = {part.strip().split("=")[0].lower() for part in header.split(";")[1:]}
        assert {"secure", "httponly", "samesite"} <= flags, header
        assert "SameSite=Lax" in header
    assert app.config["REMEMBER_COOKIE_DURATION"] == timedelta(days=14)  # not Flask-Login's 365


@pytest.mark.parametrize("overrides, secure", [({"CARE_HTTPS": True}, True), ({}, False), ({"TESTING": False}, True)])
def test_care_https_turns_on_secure_cookies(tmp_path, pg_schema, overrides, secure):
    app = make_app(tmp_path, pg_schema, **overrides)  # TESTING unless told: off by default
    try:
        assert app.config["SESSION_COOKIE_SECURE"] is app.config["REMEMBER_COOKIE_SECURE"] is secure
    finally:
        with app.app_context():
            db.engine.dispose()


# --- changing one's own password --------------------------------------------------------


def _change(client, current=factories.PASSWORD, new="Another-good-1", confirm=None, **kw):
    data = {"current_password": current, "password": new, "confirm": new if confirm is None else confirm}
    return client.post("/auth/password", data=data, headers=EN, **kw)


def test_change_own_password(app, client, user):
    _login(client)
    page = client.get("/auth/password", headers=EN)
    assert page.status_code == 200 and 'name="current_password"' in page.get_data(as_text=True)
    wrong = _change(client, current="not-the-password")
    assert wrong.status_code == 422 and any("current password is wrong" in e for e in _errors(wrong))
    weak = _change(client, new="1234567890")
    assert weak.status_code == 422 and any("too common" in e for e in _errors(weak))
    assert _change(client, confirm="something-else").status_code == 422
    response = _change(client)
    assert response.status_code == 303
    assert _logged_in(client.get("/"))  # this browser stays logged in
    client.post("/auth/logout")
    assert _login(client).status_code == 422
    assert _login(client, password="Another-good-1").status_code == 303


def test_change_password_needs_the_csrf_token(csrf_app):
    client = csrf_app.test_client()
    token = _token(client)
    client.post("/auth/login", data={"username": "boss", "password": factories.PASSWORD, "csrf_token": token})
    response = _change(client)
    assert response.status_code == 400
    with csrf_app.app_context():
        assert _reload(csrf_app, "boss").check_password(factories.PASSWORD)


def test_after_an_admin_reset_every_page_leads_to_the_change(app, client, user):
    with app.app_context():
        from care.services import users as user_service

        user_service.reset_password(db.session, db.session.get(User, user), "Reset-by-boss-1", actor=Actor("boss"), now=utcnow())
        db.session.commit()
    response = _login(client, password="Reset-by-boss-1")
    assert response.status_code == 303 and response.headers["Location"] == "/auth/password"
    for url in ("/", "/tasks/", "/customers/"):
        response = client.get(url)
        assert response.status_code == 302 and response.headers["Location"] == "/auth/password", url
    htmx = client.get("/tasks/", headers={"HX-Request": "true"})
    assert htmx.headers.get("HX-Redirect") == "/auth/password"
    assert client.post("/language", data={"locale": "en"}).status_code == 302
    assert client.get("/static/app.css").status_code in (200, 404)  # never redirected
    assert client.get("/auth/password").status_code == 200
    assert _change(client, current="Reset-by-boss-1").status_code == 303
    assert client.get("/tasks/").status_code == 200
    assert not _reload(app).must_change_password


def test_log_out_works_while_a_change_is_due(app, client, user):
    with app.app_context():
        db.session.get(User, user).must_change_password = True
        db.session.commit()
    _login(client)
    response = client.post("/auth/logout")
    assert response.status_code == 303 and response.headers["Location"].endswith("/auth/login")


def test_every_page_names_its_icon_and_the_icon_is_served(client):
    """Browsers asked for /favicon.ico on every page (a 404 each time): the pages name
    their icon, and it is there."""
    html = client.get("/auth/login").get_data(as_text=True)
    assert '<link rel="icon" href="/static/favicon.svg" type="image/svg+xml">' in html
    icon = client.get("/static/favicon.svg")
    assert icon.status_code == 200 and icon.mimetype == "image/svg+xml"

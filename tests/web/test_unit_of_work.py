"""One commit per request (care/web/unit_of_work.py); the CLI's, per command: tests/test_cli_core.py."""

from __future__ import annotations

import contextlib

import pytest
from flask import abort
from sqlalchemy import event, func, select

from care.extensions import db
from care.models import AuditLog, User
from care.models.types import utcnow
from care.services import audit
from care.web import unit_of_work
from care.web.access import public


@contextlib.contextmanager
def counting_commits(app):
    """The COMMITs the database receives inside the block (a list that grows)."""
    with app.app_context():
        engine = db.engine
    seen: list[str] = []

    def on_commit(conn):
        seen.append("COMMIT")

    event.listen(engine, "commit", on_commit)
    try:
        yield seen
    finally:
        event.remove(engine, "commit", on_commit)


def probe_rows(app) -> list[str]:
    with app.app_context():
        return list(db.session.scalars(select(AuditLog.detail["note"].as_string()).where(AuditLog.action == "probe")))


@pytest.fixture
def probe(app):
    """POST /probe/<answer>: writes an audit row (flushed), then answers as told."""
    calls: list[str] = []

    @app.route("/probe/<answer>", methods=["POST"])
    @public
    def probe_view(answer: str):
        audit.record(db.session, actor="probe", action="probe", detail={"note": answer}, now=utcnow())
        db.session.flush()
        if answer == "raise":
            raise RuntimeError("boom")
        if answer == "abort":
            abort(404)
        if answer == "keep":
            unit_of_work.keep_on_error()
            return "kept", 422
        if answer == "keep-then-raise":
            unit_of_work.keep_on_error()
            raise RuntimeError("boom")
        if answer in ("after", "after-422"):
            unit_of_work.after_commit(lambda: calls.append("committed"), otherwise=lambda: calls.append("rolled back"))
            return answer, 200 if answer == "after" else 422
        return answer, int(answer)

    @app.route("/probe-read")
    @public
    def probe_read():
        return str(db.session.scalar(select(func.count()).select_from(AuditLog)))

    return calls


@pytest.mark.parametrize("answer", ["raise", "abort", "422", "500", "keep-then-raise"])
def test_a_failed_request_leaves_nothing_behind(app, client, probe, answer):
    response = client.post(f"/probe/{answer}")
    assert response.status_code >= 400
    assert probe_rows(app) == []


@pytest.mark.parametrize("answer", ["200", "201", "303"])
def test_an_answer_below_400_commits_once(app, client, probe, answer):
    with counting_commits(app) as commits:
        response = client.post(f"/probe/{answer}")
    assert response.status_code == int(answer)
    assert probe_rows(app) == [answer]
    assert commits == ["COMMIT"]


def test_a_refusal_that_is_a_record_is_kept_on_an_error_answer(app, client, probe):
    assert client.post("/probe/keep").status_code == 422
    assert probe_rows(app) == ["keep"]


def test_after_commit_runs_only_after_the_commit(app, client, probe):
    client.post("/probe/after")
    client.post("/probe/after-422")
    assert probe == ["committed", "rolled back"]
    assert probe_rows(app) == ["after"]


def test_a_get_that_reads_commits_nothing(app, client, probe, login_as):
    login_as("specialist")
    with counting_commits(app) as commits:
        assert client.get("/probe-read").status_code == 200
        assert client.get("/tasks/").status_code == 200  # a real page: the worklist
    assert commits == []


def test_a_get_that_audits_a_customer_view_commits_once(app, client, login_as):
    from tests import factories

    login_as("front_desk")
    with app.app_context():
        customer = factories.make_customer(db.session)
        db.session.commit()
        customer_id = customer.id
    with counting_commits(app) as commits:
        assert client.get(f"/customers/{customer_id}").status_code == 200
    assert commits == ["COMMIT"]
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(AuditLog).where(AuditLog.action == "customer.view")) == 1


def test_a_failed_commit_is_an_error_page_and_changes_no_cookie(app, client, login_as):
    """The language choice is written to the user row; its commit fails: 500, the locale
    is not saved, and the session cookie (which would carry the choice) is not sent."""
    user = login_as("specialist")

    def refuse(session):
        raise RuntimeError("the database went away")

    event.listen(db.session, "before_commit", refuse)
    try:
        response = client.post("/language", data={"locale": "en", "next": "/"}, headers={"Accept": "text/html"})
    finally:
        event.remove(db.session, "before_commit", refuse)
    assert response.status_code == 500
    assert "Nothing was saved" in response.get_data(as_text=True)
    assert "Set-Cookie" not in response.headers
    with app.app_context():
        assert db.session.get(User, user.id).locale is None


def test_the_failed_log_in_count_survives_its_422(app, client):
    from tests import factories

    with app.app_context():
        factories.make_user(db.session, "specialist", username="counted")
        db.session.commit()
    response = client.post("/auth/login", data={"username": "counted", "password": "wrong"})
    assert response.status_code == 422
    with app.app_context():
        user = db.session.scalar(select(User).where(User.username == "counted"))
        assert user.failed_logins == 1
        assert db.session.scalar(select(func.count()).select_from(AuditLog).where(AuditLog.action == "login.failed")) == 1

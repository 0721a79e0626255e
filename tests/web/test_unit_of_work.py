"""One commit per request (care/web/unit_of_work.py); the CLI's, per command: tests/test_cli_core.py."""

from __future__ import annotations

import contextlib

import pytest
from flask import abort
from sqlalchemy import delete, event, func, select

from care.extensions import db
from care.models import AuditLog, User
from care.models.types import utcnow
from care.services import Actor, audit
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
        return list(db.session.scalars(select(AuditLog.detail["note"].as_string()).where(AuditLog.action == "probe").order_by(AuditLog.id)))


@pytest.fixture(scope="module")
def probe_app(tmp_path_factory, pg_schema):
    """An app of its own with probe routes (routes cannot be added to an app that has
    served requests): POST /probe/<answer> writes an audit row (flushed), then answers as
    told; GET /probe-read only reads. ``probe_app.calls``: what after_commit ran."""
    from tests.conftest import empty_tables, make_app

    app = make_app(tmp_path_factory.mktemp("probe"), pg_schema)
    app.calls = []

    @app.route("/probe/<answer>", methods=["POST"])
    @public
    def probe_view(answer: str):
        audit.record(db.session, actor=Actor("probe"), action="probe", detail={"note": answer}, now=utcnow())
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
            unit_of_work.after_commit(
                lambda: app.calls.append("committed"), otherwise=lambda: app.calls.append("rolled back")
            )
            return answer, 200 if answer == "after" else 422
        return answer, int(answer)

    @app.route("/probe-read")
    @public
    def probe_read():
        return str(db.session.scalar(select(func.count()).select_from(AuditLog)))

    yield app
    if pg_schema:
        empty_tables(app)
    else:
        with app.app_context():
            db.session.remove()
            db.engine.dispose()


@pytest.fixture
def probe(probe_app):
    """The probe app, its audit rows and after_commit calls emptied after the test."""
    yield probe_app
    probe_app.calls.clear()
    with probe_app.app_context():
        db.session.execute(delete(AuditLog))
        db.session.commit()


@pytest.mark.parametrize("answer", ["raise", "abort", "422", "500", "keep-then-raise"])
def test_a_failed_request_leaves_nothing_behind(probe, answer):
    response = probe.test_client().post(f"/probe/{answer}")
    assert response.status_code >= 400
    assert probe_rows(probe) == []


@pytest.mark.parametrize("answer", ["200", "201", "303"])
def test_an_answer_below_400_commits_once(probe, answer):
    with counting_commits(probe) as commits:
        response = probe.test_client().post(f"/probe/{answer}")
    assert response.status_code == int(answer)
    assert probe_rows(probe) == [answer]
    assert commits == ["COMMIT"]


def test_a_refusal_that_is_a_record_is_kept_on_an_error_answer(probe):
    assert probe.test_client().post("/probe/keep").status_code == 422
    assert probe_rows(probe) == ["keep"]


def test_after_commit_runs_only_after_the_commit(probe):
    client = probe.test_client()
    client.post("/probe/after")
    client.post("/probe/after-422")
    assert probe.calls == ["committed", "rolled back"]
    assert probe_rows(probe) == ["after"]


def test_a_get_that_reads_commits_nothing(probe):
    with counting_commits(probe) as commits:
        assert probe.test_client().get("/probe-read").status_code == 200
    assert commits == []


def test_a_page_that_only_reads_commits_nothing(app, client, login_as):
    login_as("specialist")
    with counting_commits(app) as commits:
        assert client.get("/tasks/").status_code == 200  # the worklist
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

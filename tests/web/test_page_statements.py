"""The worklist and the contact page run a fixed number of SQL statements (issue 14):
the same for 5 lines as for 40, for a one-reason contact as for a three-reason one, with
call attempts or without. A statement per line or per reason (an N+1) fails here."""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import event

from care.extensions import db
from tests import factories as f

# The bounds stated: what a GET of each page may cost at most, whatever its size.
WORKLIST_MAX = 25  # the manager's page also reads the load panel and the owners
CONTACT_MAX = 40


@contextlib.contextmanager
def statements(app):
    seen: list[str] = []

    def before(conn, cursor, statement, parameters, context, executemany):
        seen.append(statement)

    with app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", before)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", before)


def called_yesterday(session, task, *, answered: bool = False):
    """A finished call of ``task`` a day ago (an R13 attempt: the line's state reads it)."""
    started = datetime.now(UTC) - timedelta(days=1)
    outcome = "completed" if answered else "no_answer"
    return f.make_attempt(session, task, status=outcome, outcome=outcome, started_at=started, ended_at=started)


def add_contacts(app, user_id: int, lines: int) -> None:
    """``lines`` customers with one to three tasks of ``user_id`` each, one in three of
    them called yesterday, with a vehicle and a plate."""
    with app.app_context():
        user = db.session.get(f.User, user_id)
        for n in range(lines):
            customer = f.make_customer(db.session)
            vehicle = f.make_vehicle(db.session, customer)
            for k, kind in enumerate(("first_service", "inspection", "warranty_expiry")[: 1 + n % 3]):
                task = f.make_task(db.session, customer, type=kind, assignee=user, vehicle_id=vehicle.id,
                                   due_at=datetime.now(UTC) + timedelta(days=2 + n + k))  # fmt: skip
                if n % 3 == 0:
                    called_yesterday(db.session, task)
        db.session.commit()


def count_get(app, client, path: str) -> int:
    client.get(path)  # anything a first request reads once (the settings) is read
    with statements(app) as seen:
        response = client.get(path)
    assert response.status_code == 200
    return len(seen)


@pytest.mark.parametrize("role", ["specialist", "care_manager"])
def test_worklist_statements_do_not_grow_with_its_lines(app, client, login_as, role):
    me = login_as(role)
    if role == "specialist":
        specialist = me.id
    else:  # the manager sees a specialist's lines
        with app.app_context():
            specialist = f.make_user(db.session, "specialist").id
            db.session.commit()
    add_contacts(app, specialist, 5)
    few = count_get(app, client, "/tasks/")
    add_contacts(app, specialist, 35)
    many = count_get(app, client, "/tasks/")
    page_size = app.config["CARE_PAGE_SIZE"]
    assert many == few, (few, many)
    assert many <= WORKLIST_MAX
    html = client.get("/tasks/").get_data(as_text=True)
    assert html.count("data-contact ") == min(40, page_size)  # the lines were shown


def test_contact_page_statements_do_not_grow_with_its_reasons(app, client, login_as):
    me = login_as("specialist")
    with app.app_context():
        user = db.session.get(f.User, me.id)
        one, three = f.make_customer(db.session), f.make_customer(db.session)
        for customer, kinds in ((one, ("first_service",)), (three, ("first_service", "inspection", "warranty_expiry"))):
            vehicle = f.make_vehicle(db.session, customer)
            for k, kind in enumerate(kinds):
                task = f.make_task(db.session, customer, type=kind, assignee=user, vehicle_id=vehicle.id,
                                   due_at=datetime.now(UTC) + timedelta(days=3 + k))  # fmt: skip
                called_yesterday(db.session, task)
        db.session.commit()
        one_id, three_id = one.id, three.id
    one_reason = count_get(app, client, f"/tasks/contact/{one_id}")
    three_reasons = count_get(app, client, f"/tasks/contact/{three_id}")
    assert three_reasons == one_reason, (one_reason, three_reasons)
    assert three_reasons <= CONTACT_MAX

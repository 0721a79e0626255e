"""The reconciliation page: unmatched events listed, matched to an attempt, or dismissed."""

from __future__ import annotations

import json
import time

import pytest

from care.extensions import db
from care.models import CallAttempt, CallEvent
from care.telephony.signatures import sign_generic
from tests import factories


def post_event(client, document):
    data = json.dumps(document).encode()
    headers = {"Content-Type": "application/json",
               "X-Care-Signature": sign_generic("test-webhook-secret", data, int(time.time()))}
    return client.post("/webhooks/events", data=data, headers=headers)


def orphan(client, event_id="lost-1", ref=55555, status="busy"):
    r = post_event(client, {"event_id": event_id, "attempt_id": ref, "provider_call_id": f"sim-{event_id}",
                            "status": status, "sequence": 1})
    assert r.status_code == 204
    return db_event(client.application, event_id)


def db_event(app, event_id) -> int:
    with app.app_context():
        return db.session.query(CallEvent).filter_by(event_id=event_id).one().id


def test_empty_state(client, login_as):
    login_as("care_manager")
    r = client.get("/reconciliation/")
    assert r.status_code == 200 and "No unmatched call events." in r.get_data(as_text=True)


def test_unknown_attempt_listed_newest_first(app, client, login_as):
    orphan(client, "lost-1", 55555)
    orphan(client, "lost-2", "abc")
    login_as("admin")
    page = client.get("/reconciliation/").get_data(as_text=True)
    assert "55555" in page and "sim-lost-1" in page and "busy" in page
    assert page.index("sim-lost-2") < page.index("sim-lost-1")
    fragment = client.get("/reconciliation/", headers={"HX-Request": "true"}).get_data(as_text=True)
    assert "<html" not in fragment and 'id="reconciliation"' in fragment


def test_match_applies_the_event(app, client, login_as):
    event_id = orphan(client)
    with app.app_context():
        attempt_id = factories.make_attempt(db.session).id
        db.session.commit()
    user = login_as("care_manager")
    r = client.post(f"/reconciliation/{event_id}/match", data={"attempt": str(attempt_id)})
    assert r.status_code == 303
    with app.app_context():
        event = db.session.get(CallEvent, event_id)
        attempt = db.session.get(CallAttempt, attempt_id)
        assert event.attempt_id == attempt_id and not event.unmatched
        assert event.reconciled_by_id == user.id and event.applied_at is not None
        assert attempt.outcome == "busy"
    page = client.get("/reconciliation/").get_data(as_text=True)
    assert "No unmatched call events." in page and f"call attempt {attempt_id}" in page


def test_match_unknown_attempt_is_422(app, client, login_as):
    event_id = orphan(client)
    login_as("care_manager")
    r = client.post(f"/reconciliation/{event_id}/match", data={"attempt": "99999"}, headers={"HX-Request": "true"})
    assert r.status_code == 422 and "There is no call attempt 99999." in r.get_data(as_text=True)
    r = client.post(f"/reconciliation/{event_id}/match", data={"attempt": "x"})
    assert r.status_code == 422 and "Enter the number of a call attempt." in r.get_data(as_text=True)
    with app.app_context():
        assert db.session.get(CallEvent, event_id).unmatched


def test_dismiss(app, client, login_as):
    event_id = orphan(client)
    login_as("admin")
    r = client.post(f"/reconciliation/{event_id}/dismiss", headers={"HX-Request": "true"})
    assert r.status_code == 200 and "Event dismissed." in r.get_data(as_text=True)
    with app.app_context():
        event = db.session.get(CallEvent, event_id)
        assert event.reconciled_at is not None and event.attempt_id is None
    r = client.post(f"/reconciliation/{event_id}/dismiss")
    assert r.status_code == 422  # already reconciled
    assert client.post("/reconciliation/424242/dismiss").status_code == 404


def test_bad_page_number(client, login_as):
    login_as("care_manager")
    assert client.get("/reconciliation/?page=x").status_code == 400


@pytest.mark.parametrize(("role", "linked"), [("care_manager", True), ("admin", True), ("specialist", False)])
def test_the_page_is_in_the_navigation_of_those_who_may_open_it(client, login_as, role, linked):
    """It was linked from nowhere: a care manager had to know its address."""
    login_as(role)
    html = client.get("/number-corrections/" if role == "specialist" else "/settings/" if role == "admin" else "/tasks/").get_data(as_text=True)
    assert ('href="/reconciliation/"' in html) is linked

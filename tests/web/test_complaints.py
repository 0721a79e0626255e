"""The complaint pages: opening from the customer page, the step form only for the
role that takes it (and the server's refusal for others), refusals shown with their
reason, the navigation's count, the call-back through the simulator."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from care.extensions import db
from care.models import CallAttempt, Complaint, ComplaintStep
from tests import factories

NOW = datetime(2026, 3, 10, 2, 0, tzinfo=UTC)


@pytest.fixture
def customer(app):
    with app.app_context():
        c = factories.make_customer(db.session)
        db.session.commit()
        return c.id


def _complaint(app, customer_id, **kw):
    with app.app_context():
        complaint = factories.make_complaint(db.session, db.session.get(factories.Customer, customer_id), **kw)
        db.session.commit()
        return complaint.id


def test_a_specialist_opens_a_complaint_from_the_customer_page(app, client, login_as, customer):
    app.config["CARE_NOW"] = NOW.isoformat()
    login_as("specialist")
    page = client.get(f"/customers/{customer}").get_data(as_text=True)
    assert f"/complaints/new/{customer}" in page
    response = client.post(f"/complaints/new/{customer}", data={"text": "", "kind": "sales"})
    assert response.status_code == 422
    assert "Describe the complaint" in response.get_data(as_text=True)
    response = client.post(f"/complaints/new/{customer}", data={"text": "交车有划痕", "kind": "sales"})
    assert response.status_code == 303
    with app.app_context():
        complaint = db.session.scalars(select(Complaint)).one()
        assert (complaint.step, complaint.description, complaint.opened_at) == (2, "交车有划痕", NOW)
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "Handling opinion" in page and "This step is taken by the" in page


def test_the_form_is_shown_only_to_the_role_that_takes_the_step(app, client, login_as, customer):
    complaint = _complaint(app, customer)
    login_as("general_manager")
    page = client.get(f"/complaints/{complaint}").get_data(as_text=True)
    assert 'name="step"' not in page
    # posting anyway: refused by the server with what is expected and by whom
    response = client.post(f"/complaints/{complaint}/step", data={"step": "2", "text": "意见"})
    assert response.status_code == 403
    assert "is taken by the Care manager" in response.get_data(as_text=True)
    response = client.post(f"/complaints/{complaint}/step", data={"step": "3", "text": "同意"})
    assert response.status_code == 409
    assert "step 2 (Handling opinion) is next, by the Care manager" in response.get_data(as_text=True)
    with app.app_context():
        assert db.session.scalars(select(ComplaintStep)).all() == []


def test_the_care_manager_takes_step_two_and_the_count_drops(app, client, login_as, customer):
    complaint = _complaint(app, customer)
    login_as("care_manager")
    page = client.get(f"/complaints/{complaint}").get_data(as_text=True)
    assert 'name="step" value="2"' in page
    assert "1 step waits for you" in client.get("/complaints/mine").get_data(as_text=True)
    response = client.post(f"/complaints/{complaint}/step", data={"step": "2", "text": ""})
    assert response.status_code == 422 and "Write the text of step 2" in response.get_data(as_text=True)
    response = client.post(f"/complaints/{complaint}/step", data={"step": "2", "text": "请销售部核实"})
    assert response.status_code == 303
    page = client.get("/complaints/mine").get_data(as_text=True)
    assert "1 step waits for you" not in page and "No complaint step waits for you." in page


def test_a_consultant_sees_only_what_was_dispatched_to_them(app, client, login_as, customer):
    complaint = _complaint(app, customer)
    consultant = login_as("consultant")
    assert client.get(f"/complaints/{complaint}").status_code == 403
    assert f"#{complaint}" not in client.get("/complaints/?status=all").get_data(as_text=True)
    with app.app_context():
        db.session.get(Complaint, complaint).handler_id = consultant.id
        db.session.commit()
    assert client.get(f"/complaints/{complaint}").status_code == 200
    assert f"#{complaint}" in client.get("/complaints/?status=all").get_data(as_text=True)


def test_overdue_is_marked(app, client, login_as, customer):
    complaint = _complaint(app, customer, opened_at=datetime.now(UTC) - timedelta(hours=30))
    login_as("care_manager")
    page = client.get("/complaints/?status=overdue").get_data(as_text=True)
    assert f"#{complaint}" in page and "overdue" in page


def test_unknown_status_and_complaint(client, login_as):
    login_as("care_manager")
    assert client.get("/complaints/?status=nope").status_code == 400
    assert client.get("/complaints/999999").status_code == 404


def test_call_back_through_the_simulator_then_step_six(app, client, login_as, customer):
    app.config["CARE_SIM_DELAY"] = 0
    complaint = _complaint(app, customer, step=6, dispatched_at=datetime.now(UTC) - timedelta(hours=1))
    login_as("care_manager")
    response = client.post(f"/complaints/{complaint}/step", data={"step": "6", "outcome": "satisfied", "text": "满意"})
    assert response.status_code == 409 and "Call the customer first" in response.get_data(as_text=True)
    response = client.post(f"/complaints/{complaint}/call", data={"force": "answered"}, headers={"HX-Request": "true"})
    assert response.status_code == 200, response.get_data(as_text=True)
    assert 'id="call-panel-' in response.get_data(as_text=True)
    with app.app_context():
        attempt = db.session.scalars(select(CallAttempt)).one()
        assert attempt.task_id is None and attempt.complaint.id == complaint

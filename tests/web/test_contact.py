"""The bundled contact page, the task page and recording outcomes (care/web/contact.py)."""

from __future__ import annotations

import json
import re
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import func, select

from care.extensions import db
from care.models import Appointment, AuditLog, CareTask, Script, ScriptVersion, TaskOutcome
from tests.factories import make_customer, make_task, make_user, make_vehicle, make_visit

HX = {"HX-Request": "true"}
EN = {"Accept-Language": "en"}


@pytest.fixture
def contact(app, login_as):
    """A logged-in specialist and a customer with a first-service and a warranty task."""
    me = login_as("specialist", username="spec")
    with app.app_context():
        s = db.session
        c = make_customer(s, name="王小明", mobile="+8613800138000", no_sms=True)
        v = make_vehicle(s, c, plate="川A12345", model="Tiguan L", mileage=4321)
        make_visit(s, v, date=date(2026, 3, 1), kind="maintenance", mileage=3000)
        first = make_task(s, c, assignee=me, vehicle_id=v.id, due_at=datetime.now(UTC) + timedelta(days=3))
        warranty = make_task(
            s, c, assignee=me, vehicle_id=v.id, type="warranty_expiry",
            reason_id="warranty_expiry.reason", reason_params={"warranty_end": "2026-12-31"},
        )
        s.commit()
        return {"me": me.id, "customer": c.id, "vehicle": v.id, "first": first.id, "warranty": warranty.id}


def switch_to(client, login_as, role, **kw):
    client.post("/auth/logout")
    return login_as(role, **kw)


def page(client, url, **kw):
    return client.get(url, headers={**EN, **kw.pop("headers", {})}, **kw)


def post(client, task_id, data, **kw):
    return client.post(f"/tasks/{task_id}/outcome", data=data, headers={**EN, **kw.pop("headers", {})}, **kw)


def task_row(app, task_id) -> CareTask:
    with app.app_context():
        return db.session.get(CareTask, task_id)


def outcomes(app) -> list[TaskOutcome]:
    with app.app_context():
        return list(db.session.scalars(select(TaskOutcome).order_by(TaskOutcome.id)))


ELSEWHERE = {
    "outcome": "serviced_elsewhere",
    "serviced_elsewhere-shop": "速修汽修",
    "serviced_elsewhere-location": "成都高新区",
    "serviced_elsewhere-price": "688",
}


# --- the contact page ------------------------------------------------------------------


def test_contact_page_bundles_customer_vehicles_and_tasks(app, client, contact):
    app.config["CARE_NOW"] = (datetime.now(UTC) + timedelta(days=1)).replace(hour=2, minute=0).isoformat()  # 10:00
    r = page(client, f"/tasks/contact/{contact['customer']}")
    assert r.status_code == 200
    html = r.get_data(as_text=True)
    assert "王小明" in html and "川A12345" in html and "Tiguan L" in html
    assert 'href="tel:+8613800138000"' in html  # a calling role sees the whole number
    assert "No SMS" in html  # consent at a glance
    assert "Recent visits" in html and "2026" in html
    # one conversation: one Call button, one outcome form with a row per task
    assert html.count('class="button primary call-button"') == 1
    assert f'action="/calls/contact/{contact["customer"]}"' in html
    assert html.count('id="outcomes-form"') == 1
    assert f'id="orow-{contact["first"]}"' in html and f'id="orow-{contact["warranty"]}"' in html
    assert "First service" in html and "Warranty expiry" in html
    assert "warranty ends" in html  # the reason, rendered
    assert f'name="t{contact["first"]}-appointment_date"' in html  # "will come" books in the same step
    assert "Already serviced elsewhere" in html and f'name="t{contact["first"]}-serviced_elsewhere-shop"' in html
    assert "No script for this task type yet." in html
    assert "<html" in html


def test_contact_page_as_a_fragment(client, contact):
    r = page(client, f"/tasks/contact/{contact['customer']}", headers=HX)
    html = r.get_data(as_text=True)
    assert r.status_code == 200 and "<html" not in html and 'id="contact"' in html
    assert "HX-Request" in r.headers.get("Vary", "")


def test_contact_page_is_audited(app, client, contact):
    page(client, f"/tasks/contact/{contact['customer']}")
    with app.app_context():
        row = db.session.scalar(select(AuditLog).where(AuditLog.action == "customer.view"))
        assert row.object_id == str(contact["customer"]) and row.user_id == contact["me"]


def test_contact_page_shows_the_script_and_its_version_is_recorded(app, client, contact):
    with app.app_context():
        script = Script(task_type="first_service")
        db.session.add(script)
        db.session.flush()
        version = ScriptVersion(script_id=script.id, version=3, title="首保提醒", body="{customer_name}您好，首保快到了。")
        db.session.add(version)
        db.session.commit()
        version_id = version.id
    html = page(client, f"/tasks/contact/{contact['customer']}").get_data(as_text=True)
    assert "首保提醒" in html and "王小明您好，首保快到了。" in html
    assert f'name="t{contact["first"]}-script_version_id" value="{version_id}"' in html
    assert "No script for this task type yet." in html  # the warranty task has none
    r = post(client, contact["first"], {**ELSEWHERE, "script_version_id": str(version_id)})
    assert r.status_code == 303
    assert outcomes(app)[0].script_version_id == version_id


def test_script_version_of_another_type_is_refused(app, client, contact):
    with app.app_context():
        script = Script(task_type="birthday")
        db.session.add(script)
        db.session.flush()
        version = ScriptVersion(script_id=script.id, version=1, title="生日", body="生日快乐")
        db.session.add(version)
        db.session.commit()
        version_id = version.id
    r = post(client, contact["first"], {**ELSEWHERE, "script_version_id": str(version_id)})
    assert r.status_code == 422
    assert "not one for this task" in r.get_data(as_text=True)
    assert outcomes(app) == []


def test_unknown_ids_are_404(client, contact):
    assert page(client, "/tasks/contact/999999").status_code == 404
    assert page(client, "/tasks/999999").status_code == 404
    assert post(client, 999999, ELSEWHERE).status_code == 404
    assert page(client, "/tasks/contact/99999999999").status_code == 404


def test_a_customer_without_open_tasks(app, client, login_as):
    login_as("specialist")
    with app.app_context():
        c = make_customer(db.session)
        db.session.commit()
        cid = c.id
    html = page(client, f"/tasks/contact/{cid}").get_data(as_text=True)
    assert "This customer has no open task." in html


# --- recording outcomes ----------------------------------------------------------------


def test_plain_post_records_and_returns_to_the_contact(app, client, contact):
    r = post(client, contact["first"], ELSEWHERE)
    assert r.status_code == 303
    assert r.headers["Location"].endswith(f"/tasks/contact/{contact['customer']}")
    task = task_row(app, contact["first"])
    assert task.status == "done" and task.outcome == "serviced_elsewhere" and task.closed_by_id == contact["me"]
    [row] = outcomes(app)
    assert row.detail == {"shop": "速修汽修", "location": "成都高新区", "price": "688.00"}
    html = page(client, r.headers["Location"]).get_data(as_text=True)
    assert "Outcome recorded: Already serviced elsewhere." in html
    assert f'name="t{contact["first"]}-outcome"' not in html and f'name="t{contact["warranty"]}-outcome"' in html


def test_the_last_open_task_leads_back_to_the_worklist(app, client, contact):
    post(client, contact["first"], ELSEWHERE)
    r = post(client, contact["warranty"], {"outcome": "declined", "declined-reason": "车已卖"})
    assert r.status_code == 303
    assert r.headers["Location"].endswith("/tasks/")
    html = page(client, "/tasks/").get_data(as_text=True)
    assert "All tasks of 王小明 are settled." in html


def test_invalid_input_is_422_with_the_error_beside_the_field(app, client, contact):
    r = post(client, contact["first"], {**ELSEWHERE, "serviced_elsewhere-shop": " ", "serviced_elsewhere-price": "-3"})
    assert r.status_code == 422
    html = r.get_data(as_text=True)
    assert "<html" in html  # the whole contact page again
    assert "Fill in this field." in html and "Enter a positive amount" in html
    assert 'value="成都高新区"' in html  # what was typed stays
    assert re.search(r'value="serviced_elsewhere" checked', html)
    assert task_row(app, contact["first"]).status == "open" and outcomes(app) == []


def test_a_refused_outcome_keeps_the_audit_row_of_the_page_shown_again(app, client, contact):
    """The 422 rolls back, but the page shows the customer again: its view is audited."""
    r = post(client, contact["first"], {"outcome": "serviced_elsewhere"})
    assert r.status_code == 422 and outcomes(app) == []
    with app.app_context():
        views = db.session.scalars(select(AuditLog).where(AuditLog.action == "customer.view")).all()
        assert [v.object_id for v in views] == [str(contact["customer"])]


def test_the_task_cards_read_their_call_attempts_in_one_query(app, client, contact):
    """The calling block of each card is prepared by the view: the template queries nothing."""
    from sqlalchemy import event

    with app.app_context():
        make_task(db.session, db.session.get(CareTask, contact["first"]).customer, type="inspection")
        db.session.commit()
        engine = db.engine
    statements: list[str] = []

    def seen(conn, cursor, statement, parameters, context, executemany):
        statements.append(statement)

    event.listen(engine, "before_cursor_execute", seen)
    try:
        html = page(client, f"/tasks/contact/{contact['customer']}").get_data(as_text=True)
    finally:
        event.remove(engine, "before_cursor_execute", seen)
    assert html.count('class="call-line"') == 3
    per_task = [s for s in statements if "call_attempts" in s and "call_attempt_tasks.task_id" in s.split("WHERE")[-1]]
    assert len(per_task) == 1 and " IN " in per_task[0]  # one query for the three cards


def test_no_outcome_chosen(client, contact):
    r = post(client, contact["first"], {})
    assert r.status_code == 422 and "Choose an outcome." in r.get_data(as_text=True)


def test_htmx_invalid_returns_the_form_fragment(client, contact):
    r = post(client, contact["first"], {"outcome": "serviced_elsewhere"}, headers=HX)
    assert r.status_code == 422
    html = r.get_data(as_text=True)
    assert html.lstrip().startswith("<form")
    assert f'id="outcome-form-{contact["first"]}"' in html and "<html" not in html
    assert html.count("Fill in this field.") == 3


def test_htmx_success_returns_the_task_panel_and_triggers(app, client, contact):
    r = post(client, contact["first"], ELSEWHERE, headers=HX)
    assert r.status_code == 200
    assert r.headers["HX-Retarget"] == f"#task-{contact['first']}"
    assert r.headers["HX-Reswap"] == "outerHTML"
    assert "tasks-changed" in json.loads(r.headers["HX-Trigger"])
    html = r.get_data(as_text=True)
    assert f'id="task-{contact["first"]}"' in html and "task-done" in html
    assert "Closed with “Already serviced elsewhere”" in html and "outcome-form" not in html
    assert "All tasks of this contact are settled." not in html  # the warranty task is open
    r = post(client, contact["warranty"], {"outcome": "declined", "declined-reason": "忙"}, headers=HX)
    assert "All tasks of this contact are settled." in r.get_data(as_text=True)
    # the contact page's other regions, out of band: the timeline and the open count
    assert '<span id="open-count" class="muted" hx-swap-oob="true">(0)</span>' in r.get_data(as_text=True)
    assert '<div id="recent-timeline" hx-swap-oob="true">' in r.get_data(as_text=True)
    detail = post(client, contact["first"], {"outcome": "declined", "from": "detail"}, headers=HX)
    assert "hx-swap-oob" not in detail.get_data(as_text=True)


def test_not_reached_keeps_the_form(app, client, contact):
    r = post(client, contact["first"], {"outcome": "not_reached"}, headers=HX)
    html = r.get_data(as_text=True)
    assert r.status_code == 200 and "Recorded: Not reached." in html
    assert f'id="outcome-form-{contact["first"]}"' in html
    assert task_row(app, contact["first"]).status == "open"
    [row] = outcomes(app)
    assert not row.closes_task


def test_a_closed_task_refuses_outcomes(app, client, contact):
    post(client, contact["first"], ELSEWHERE)
    r = post(client, contact["first"], {"outcome": "declined", "declined-reason": "x"})
    assert r.status_code == 409
    assert "closed already" in r.get_data(as_text=True)
    r = post(client, contact["first"], {"outcome": "declined", "declined-reason": "x"}, headers=HX)
    assert r.status_code == 409 and r.headers["HX-Retarget"] == f"#task-{contact['first']}"
    assert len(outcomes(app)) == 1


def test_another_specialists_task_is_refused_and_shown_without_a_form(app, client, contact):
    with app.app_context():
        other = make_user(db.session, "specialist", display_name="Colleague Li")
        task = db.session.get(CareTask, contact["warranty"])
        task.assignee_id = other.id
        db.session.commit()
    html = page(client, f"/tasks/contact/{contact['customer']}").get_data(as_text=True)
    assert f'id="orow-{contact["warranty"]}"' in html and f'name="t{contact["warranty"]}-outcome"' not in html
    assert "Assigned to Colleague Li: only they or a care manager can record its outcome." in html
    r = post(client, contact["warranty"], {"outcome": "declined", "declined-reason": "x"})
    assert r.status_code == 403
    assert task_row(app, contact["warranty"]).status == "open"


def test_a_care_manager_may_record_on_anyones_task(app, client, contact, login_as):
    switch_to(client, login_as, "care_manager", username="boss")
    r = post(client, contact["first"], {"outcome": "declined", "declined-reason": "不需要"})
    assert r.status_code == 303
    assert task_row(app, contact["first"]).status == "done"


@pytest.mark.parametrize("role", ["front_desk", "sales_manager", "general_manager", "admin"])
def test_roles_that_do_not_call_cannot_record(client, contact, login_as, role):
    switch_to(client, login_as, role)
    assert post(client, contact["first"], ELSEWHERE).status_code == 403
    assert page(client, f"/tasks/contact/{contact['customer']}").status_code == 403


def test_will_come_books_the_appointment_in_the_same_step(app, client, contact):
    day = (datetime.now(UTC) + timedelta(days=3)).date().isoformat()
    r = post(client, contact["first"], {
        "outcome": "will_come",
        "appointment_date": day,
        "appointment_time": "10:00",
        "appointment_kind": "first_service",
        "appointment_vehicle": str(contact["vehicle"]),
        "appointment_notes": "带保养手册",
    })
    assert r.status_code == 303
    with app.app_context():
        a = db.session.scalar(select(Appointment))
        assert a.task_id == contact["first"] and a.date.isoformat() == day and a.notes == "带保养手册"
    assert outcomes(app)[0].detail == {"appointment_id": a.id}
    html = page(client, f"/customers/{contact['customer']}").get_data(as_text=True)
    assert "Appointment booked" in html and "Will come" in html


def test_will_come_with_a_bad_booking_is_422_and_books_nothing(app, client, contact):
    r = post(client, contact["first"], {
        "outcome": "will_come",
        "appointment_date": "2000-01-01",
        "appointment_time": "03:00",
        "appointment_kind": "first_service",
        "appointment_vehicle": str(contact["vehicle"]),
    }, headers=HX)
    assert r.status_code == 422
    html = r.get_data(as_text=True)
    assert "The date is in the past." in html and "within the opening hours" in html
    with app.app_context():
        assert db.session.scalar(select(func.count(Appointment.id))) == 0
    assert outcomes(app) == []


# --- the task page ---------------------------------------------------------------------


def test_task_page_open_and_closed(app, client, contact):
    html = page(client, f"/tasks/{contact['first']}").get_data(as_text=True)
    assert "outcome-form" in html and 'name="from" value="detail"' in html
    r = post(client, contact["first"], {**ELSEWHERE, "from": "detail"})
    assert r.status_code == 303 and r.headers["Location"].endswith(f"/tasks/{contact['first']}")
    html = page(client, f"/tasks/{contact['first']}").get_data(as_text=True)
    assert "outcome-form" not in html  # read-only once closed
    assert "速修汽修" in html and "CN¥688.00" in html and "Already serviced elsewhere" in html
    frag = page(client, f"/tasks/{contact['first']}", headers=HX).get_data(as_text=True)
    assert "<html" not in frag and 'id="task-page"' in frag


def test_task_page_invalid_from_detail_rerenders_the_task_page(client, contact):
    r = post(client, contact["first"], {"outcome": "declined", "from": "detail"})
    assert r.status_code == 422
    html = r.get_data(as_text=True)
    assert 'id="task-page"' in html and "Fill in this field." in html


def test_task_page_for_a_manager_who_does_not_call(client, contact, login_as):
    switch_to(client, login_as, "general_manager")
    r = page(client, f"/tasks/{contact['first']}")
    html = r.get_data(as_text=True)
    assert r.status_code == 200 and "outcome-form" not in html
    assert "First service" in html and "Book appointment" not in html


def test_customer_page_timeline(app, client, contact):
    html = page(client, f"/customers/{contact['customer']}").get_data(as_text=True)
    assert "No contacts yet" in html
    post(client, contact["first"], {"outcome": "not_reached"})
    post(client, contact["first"], ELSEWHERE)
    html = page(client, f"/customers/{contact['customer']}").get_data(as_text=True)
    section = html[html.index("Contact timeline"):]
    assert section.index("Already serviced elsewhere") < section.index("Not reached")
    assert "Shop name: 速修汽修" in section

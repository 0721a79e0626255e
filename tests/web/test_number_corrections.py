"""The number-correction queue page (care/web/number_corrections.py, domain.md §3 R12)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import OperationalError

from care.extensions import db
from care.models import AuditLog, CareTask, Customer, PhoneCorrection
from care.services import number_corrections as svc
from tests.factories import make_customer, make_task

HX = {"HX-Request": "true"}
EN = {"Accept-Language": "en"}


@pytest.fixture
def queue(app, login_as):
    me = login_as("specialist", username="spec", display_name="Specialist Zhang")
    with app.app_context():
        s = db.session
        lost = make_customer(s, name="王小明", mobile=None, phone2=None)
        due = datetime.now(UTC) + timedelta(days=2)
        tasks = [
            make_task(s, lost, status="blocked", due_at=due),
            make_task(s, lost, status="blocked", type="birthday", reason_id="birthday.reason",
                      reason_params={"birthday": "2026-06-01"}, due_at=due),
        ]
        fine = make_customer(s, name="李四")
        make_task(s, fine)
        s.commit()
        return {"me": me.id, "customer": lost.id, "tasks": [t.id for t in tasks], "fine": fine.id}


def statuses(app, ids) -> list[str]:
    with app.app_context():
        return [db.session.get(CareTask, i).status for i in ids]


def test_the_queue_lists_customers_with_blocked_tasks(client, queue):
    r = client.get("/number-corrections/", headers=EN)
    assert r.status_code == 200
    html = r.get_data(as_text=True)
    assert "王小明" in html and "李四" not in html
    assert "No number" in html and "First service" in html and "Birthday" in html
    assert f'action="/number-corrections/{queue["customer"]}"' in html
    assert "1 customer waits for a corrected number." in html
    frag = client.get("/number-corrections/", headers={**EN, **HX}).get_data(as_text=True)
    assert "<html" not in frag and 'id="number-queue"' in frag


def test_an_empty_queue(app, client, login_as):
    login_as("specialist")
    assert "No customer waits for a corrected number." in client.get("/number-corrections/", headers=EN).get_data(as_text=True)


def test_an_invalid_number_is_422_with_a_message(app, client, queue):
    r = client.post(f"/number-corrections/{queue['customer']}", data={"field": "mobile", "number": "12345"}, headers=EN)
    assert r.status_code == 422
    html = r.get_data(as_text=True)
    assert "This is not a valid phone number" in html and 'value="12345"' in html
    assert statuses(app, queue["tasks"]) == ["blocked", "blocked"]
    with app.app_context():
        assert db.session.scalar(select(func.count(PhoneCorrection.id))) == 0


def test_htmx_invalid_returns_the_row(client, queue):
    r = client.post(f"/number-corrections/{queue['customer']}", data={"field": "mobile", "number": ""}, headers={**EN, **HX})
    assert r.status_code == 422
    html = r.get_data(as_text=True)
    assert html.lstrip().startswith(f'<tr id="number-{queue["customer"]}"') and "Enter the new number." in html


def test_an_unknown_field_is_422(client, queue):
    r = client.post(f"/number-corrections/{queue['customer']}", data={"field": "fax", "number": "13800138000"}, headers=EN)
    assert r.status_code == 422 and "Choose which number to correct." in r.get_data(as_text=True)


def test_a_valid_number_releases_the_tasks(app, client, queue):
    r = client.post(f"/number-corrections/{queue['customer']}", data={"field": "mobile", "number": "138 0013 8000"}, headers=EN)
    assert r.status_code == 303 and r.headers["Location"].endswith("/number-corrections/")
    assert statuses(app, queue["tasks"]) == ["open", "open"]
    with app.app_context():
        c = db.session.get(Customer, queue["customer"])
        assert c.mobile == "+8613800138000"
        fix = db.session.scalar(select(PhoneCorrection))
        assert (fix.corrected_by_id, fix.old_value, fix.new_value, fix.released_tasks) == (
            queue["me"], None, "+8613800138000", 2
        )
        assert fix.corrected_at is not None
        audit = db.session.scalar(select(AuditLog).where(AuditLog.action == "customer.phone_corrected"))
        assert audit.user_id == queue["me"] and audit.object_id == str(queue["customer"])
    html = client.get("/number-corrections/", headers=EN).get_data(as_text=True)
    assert "Number of 王小明 corrected. 2 tasks released to the worklist." in html
    assert "No customer waits for a corrected number." in html
    page = client.get(f"/customers/{queue['customer']}", headers=EN).get_data(as_text=True)
    assert "Mobile corrected" in page and "138 0013 8000" in page and "2 tasks released" in page


def test_htmx_success_returns_a_done_row_and_triggers(app, client, queue):
    r = client.post(f"/number-corrections/{queue['customer']}", data={"field": "phone2", "number": "028 8765 4321"},
                    headers={**EN, **HX})
    assert r.status_code == 200
    assert "tasks-changed" in json.loads(r.headers["HX-Trigger"])
    html = r.get_data(as_text=True)
    assert f'id="number-{queue["customer"]}"' in html and "2 tasks released" in html
    assert statuses(app, queue["tasks"]) == ["open", "open"]


def test_unknown_customer_is_404(client, queue):
    assert client.post("/number-corrections/999999", data={"field": "mobile", "number": "13800138000"}).status_code == 404


@pytest.mark.parametrize("bad", ["0", "-1", "x"])
def test_a_bad_page_is_400(client, queue, bad):
    assert client.get(f"/number-corrections/?page={bad}").status_code == 400


def test_a_page_far_past_any_list_is_404(client, queue):
    assert client.get("/number-corrections/?page=99999999").status_code == 404


@pytest.mark.parametrize("role", ["front_desk", "sales_manager", "general_manager", "admin"])
def test_roles_that_do_not_call_are_refused(client, queue, login_as, role):
    client.post("/auth/logout")
    login_as(role)
    assert client.get("/number-corrections/").status_code == 403
    r = client.post(f"/number-corrections/{queue['customer']}", data={"field": "mobile", "number": "13800138000"})
    assert r.status_code == 403


# --- issue 10: the count follows a correction ------------------------------------------------


def _nav_count(html: str) -> str:
    start = html.index('<span id="nav-number-count"')
    return html[start:html.index("</a>", start)]


def test_the_count_is_in_the_navigation_on_every_page(app, client, queue):
    with app.app_context():
        make_task(db.session, make_customer(db.session, mobile=None), status="blocked")
        db.session.commit()
    for url in ("/tasks/", "/number-corrections/", "/appointments/"):
        nav = _nav_count(client.get(url, headers=EN).get_data(as_text=True))
        assert '<span aria-hidden="true">2</span>' in nav and "2 customers wait" in nav
    html = client.get("/number-corrections/", headers=EN).get_data(as_text=True)
    assert "2 customers wait for a corrected number." in html


def test_a_correction_sends_the_new_counts_out_of_band(app, client, queue):
    r = client.post(f"/number-corrections/{queue['customer']}", data={"field": "mobile", "number": "13800138000"},
                    headers={**EN, **HX})
    assert r.status_code == 200
    html = r.get_data(as_text=True)
    assert html.lstrip().startswith(f'<tr id="number-{queue["customer"]}" class="number-done">')
    assert '<p id="number-queue-count" class="muted" hx-swap-oob="true">No customer waits for a corrected number.</p>' in html
    assert '<span id="nav-number-count" hx-swap-oob="true"></span>' in html  # no badge: nobody waits
    # and a full page load says the same
    page = client.get("/number-corrections/", headers=EN).get_data(as_text=True)
    assert '<span id="nav-number-count"></span>' in page and "No customer waits for a corrected number." in page


def test_without_htmx_the_page_after_a_correction_counts_again(app, client, queue):
    with app.app_context():
        make_task(db.session, make_customer(db.session, mobile=None), status="blocked")
        db.session.commit()
    r = client.post(f"/number-corrections/{queue['customer']}", data={"field": "mobile", "number": "13800138000"},
                    headers=EN, follow_redirects=True)
    html = r.get_data(as_text=True)
    assert "1 customer waits for a corrected number." in html and '<span aria-hidden="true">1</span>' in _nav_count(html)


def test_a_database_that_cannot_count_leaves_the_page_without_a_count(app, client, queue, monkeypatch):
    def down(session):
        raise OperationalError("SELECT", {}, Exception("gone"))

    monkeypatch.setattr(svc, "queue_size", down)
    html = client.get("/appointments/", headers=EN).get_data(as_text=True)
    assert '<span id="nav-number-count"></span>' in html

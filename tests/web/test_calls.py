"""Click-to-call and the live call panel (care/web/calls.py)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from care.extensions import db
from care.models.call import CallAttempt
from care.telephony import sim
from tests.factories import make_customer, make_task, make_user

HX = {"HX-Request": "true", "Accept-Language": "en"}
EN = {"Accept-Language": "en"}
MORNING = datetime(2026, 5, 11, 2, 0, tzinfo=UTC)  # 10:00 Shanghai
QUIET = datetime(2026, 5, 11, 5, 0, tzinfo=UTC)  # 13:00


@pytest.fixture
def world(app, login_as):
    app.config["CARE_NOW"] = MORNING.isoformat()
    me = login_as("specialist", username="spec")
    with app.app_context():
        s = db.session
        c = make_customer(s, mobile="+8613800138000")
        task = make_task(s, c, assignee=me, now=MORNING)
        other = make_task(s, make_customer(s), assignee=make_user(s, "specialist"), now=MORNING)
        s.commit()
        return {"me": me.id, "customer": c.id, "task": task.id, "other": other.id}


def attempts(app) -> list[CallAttempt]:
    with app.app_context():
        return list(db.session.scalars(select(CallAttempt).order_by(CallAttempt.id)))


def set_status(app, attempt_id, status, **kw):
    with app.app_context():
        a = db.session.get(CallAttempt, attempt_id)
        a.status = status
        if status in ("completed", "busy", "no_answer", "failed", "canceled"):
            a.outcome, a.rank = status, 4
        for k, v in kw.items():
            setattr(a, k, v)
        db.session.commit()


def test_contact_page_shows_call_button_and_slots(app, client, world):
    html = client.get(f"/tasks/contact/{world['customer']}", headers=EN).get_data(as_text=True)
    assert f'action="/calls/contact/{world["customer"]}"' in html  # one Call button for the contact
    assert 'data-slot="morning"' in html and 'data-slot="evening"' in html
    assert 'name="force"' in html  # the simulator's outcome choice


def test_start_returns_polling_panel(app, client, world):
    r = client.post(f"/calls/start/{world['task']}", data={"force": "busy"}, headers=HX)
    assert r.status_code == 200, r.get_data(as_text=True)
    [a] = attempts(app)
    html = r.get_data(as_text=True)
    assert f'id="call-panel-{a.id}"' in html
    assert 'hx-trigger="every 1s"' in html and 'hx-target="this"' in html
    assert a.provider == "sim" and a.provider_call_id.startswith("SIM") and a.slot == "morning"

    # still ringing: keeps polling, no trigger
    set_status(app, a.id, "ringing")
    poll = {**HX, "HX-Trigger": f"call-panel-{a.id}"}
    r = client.get(f"/calls/{a.id}/panel", headers=poll)
    assert 'hx-trigger="every 1s"' in r.get_data(as_text=True) and "HX-Trigger" not in r.headers

    # ended: no more polling, tasks-changed fired
    set_status(app, a.id, "busy")
    r = client.get(f"/calls/{a.id}/panel", headers=poll)
    html = r.get_data(as_text=True)
    assert "hx-get" not in html and "Busy" in html and "Counts as an unsuccessful attempt." in html
    assert "tasks-changed" in json.loads(r.headers["HX-Trigger"])

    # the card now says the slot is used
    page = client.get(f"/tasks/contact/{world['customer']}", headers=EN).get_data(as_text=True)
    assert 'class="slot slot-used" data-slot="morning"' in page
    assert "already used" in page


def test_recording_player(app, client, world):
    client.post(f"/calls/start/{world['task']}", headers=HX)
    [a] = attempts(app)
    set_status(app, a.id, "completed", duration_s=75, recording_url="https://rec.example/1.mp3")
    html = client.get(f"/calls/{a.id}/panel", headers=HX).get_data(as_text=True)
    assert '<audio controls' in html and "1:15" in html


def test_plain_post_redirects(app, client, world):
    r = client.post(f"/calls/start/{world['task']}", headers=EN)
    assert r.status_code == 303 and r.headers["Location"].endswith(f"/tasks/contact/{world['customer']}")
    assert len(attempts(app)) == 1


def test_quiet_hours_refused(app, client, world):
    app.config["CARE_NOW"] = QUIET.isoformat()
    r = client.post(f"/calls/start/{world['task']}", headers=HX)
    assert r.status_code == 422 and "Quiet hours" in r.get_data(as_text=True)
    assert attempts(app) == []


def test_no_call_refused_with_evidence(app, client, world):
    with app.app_context():
        from care.models import Customer

        c = db.session.get(Customer, world["customer"])
        c.no_call, c.no_call_by, c.no_call_at = True, "manager1", datetime(2026, 4, 1, 3, 0, tzinfo=UTC)
        db.session.commit()
    r = client.post(f"/calls/start/{world['task']}", headers=HX)
    html = r.get_data(as_text=True)
    assert r.status_code == 422 and "asked not to be called" in html and "manager1" in html
    assert attempts(app) == []
    page = client.get(f"/tasks/contact/{world['customer']}", headers=EN).get_data(as_text=True)
    assert "asked not to be called" in page and "call-button" not in page


def test_someone_elses_task_refused(app, client, world):
    r = client.post(f"/calls/start/{world['other']}", headers=HX)
    assert r.status_code == 403 and attempts(app) == []
    # without htmx too: refused, not a redirect with a flash
    r = client.post(f"/calls/start/{world['other']}")
    assert r.status_code == 403 and attempts(app) == []


def test_force_refused_outside_the_sim(app, client, world):
    app.config.update(CARE_TELEPHONY="generic", CARE_PUBLIC_BASE_URL="https://care.example")
    r = client.post(f"/calls/start/{world['task']}", data={"force": "busy"}, headers=HX)
    assert r.status_code == 400 and attempts(app) == []


def test_provider_error_shown(app, client, world):
    app.config.update(CARE_TELEPHONY="generic", CARE_PUBLIC_BASE_URL="https://care.example")  # no CARE_GENERIC_URL
    r = client.post(f"/calls/start/{world['task']}", headers=HX)
    assert r.status_code == 502 and "could not be placed" in r.get_data(as_text=True)
    [a] = attempts(app)
    assert a.counted is False and a.error
    # never left our side: the same slot may be tried again
    assert client.post(f"/calls/start/{world['task']}", headers=HX).status_code == 502


def test_bad_ids(client, world):
    assert client.post("/calls/start/999999", headers=HX).status_code == 404
    assert client.get("/calls/999999/panel", headers=HX).status_code == 404


@pytest.mark.parametrize("role", ["front_desk", "sales_manager", "admin"])
def test_roles_refused(app, client, world, login_as, role):
    client.post("/auth/logout")
    login_as(role)
    assert client.post(f"/calls/start/{world['task']}", headers=HX).status_code == 403


def test_twiml_requires_twilio_signature(app, client, world):
    from twilio.request_validator import RequestValidator

    app.config.update(CARE_TWILIO_AUTH_TOKEN="tok", CARE_PUBLIC_BASE_URL="https://care.example")
    client.post(f"/calls/start/{world['task']}", headers=HX)
    [a] = attempts(app)
    url = f"https://care.example/calls/twiml/{a.id}"
    params = {"CallSid": "CA1", "CallStatus": "in-progress"}
    assert client.post(f"/calls/twiml/{a.id}", data=params).status_code == 403
    sig = RequestValidator("tok").compute_signature(url, params)
    r = client.post(f"/calls/twiml/{a.id}", data=params, headers={"X-Twilio-Signature": sig})
    assert r.status_code == 200 and r.mimetype == "text/xml"
    body = r.get_data(as_text=True)
    assert "<Number" in body and "+8613800138000" in body and f"attempt={a.id}" in body


def test_twiml_unsigned_cannot_tell_which_attempts_exist(app, client, world):
    app.config.update(CARE_TWILIO_AUTH_TOKEN="tok", CARE_PUBLIC_BASE_URL="https://care.example")
    client.post(f"/calls/start/{world['task']}", headers=HX)
    [a] = attempts(app)
    assert client.post(f"/calls/twiml/{a.id}").status_code == 403
    assert client.post("/calls/twiml/999999").status_code == 403


def test_sim_events_through_the_webhook(app, client, world):
    """End to end with the webhook receiver (when it is there)."""
    if "webhooks.events" not in app.view_functions:
        pytest.skip("the webhook receiver (care/web/webhooks.py) is not registered yet")
    client.post(f"/calls/start/{world['task']}", data={"force": "answered"}, headers=HX)
    [a] = attempts(app)
    for event in sim.events_for(a, "answered", MORNING, duration_s=61):
        body, headers = sim.signed(app.config["CARE_WEBHOOK_SECRET"], event)
        assert client.post("/webhooks/events", data=body, headers=headers).status_code < 300
    [a] = attempts(app)
    assert a.status == "completed" and a.duration_s == 61


def test_simultaneous_starts_make_one_attempt_per_task(app, client, world):
    """Issue 9 item 19: three clicks at once by one user (three tabs) ring the customer
    once: exactly one attempt per task, the others get the in-progress refusal."""
    import threading

    from care.models import User
    from tests.conftest import PASSWORD

    with app.app_context():
        s = db.session
        me = s.get(User, world["me"])
        tasks = [make_task(s, make_customer(s, mobile=f"+861380013{n:04d}"), assignee=me, now=MORNING).id for n in range(7)]
        s.commit()
    clients = [app.test_client() for _ in range(3)]
    for c in clients:
        assert c.post("/auth/login", data={"username": "spec", "password": PASSWORD}).status_code == 303
    for task_id in tasks:
        barrier = threading.Barrier(len(clients))
        codes: list[int] = []

        def click(c, task_id=task_id, barrier=barrier, codes=codes):
            barrier.wait(10)
            codes.append(c.post(f"/calls/start/{task_id}", data={"force": "busy"}, headers=HX).status_code)

        threads = [threading.Thread(target=click, args=(c,)) for c in clients]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert sorted(codes) == [200, 422, 422], (task_id, codes)
    by_task: dict[int, int] = {}
    for a in attempts(app):
        by_task[a.task_id] = by_task.get(a.task_id, 0) + 1
    assert all(by_task.get(t) == 1 for t in tasks), by_task


@pytest.mark.parametrize("provider", ["twilio", "generic"])
def test_real_provider_needs_public_base_url_at_start_up(tmp_path, provider):
    """Issue 9 item 21: a real provider never builds callback URLs from the Host header."""
    from care import create_app

    base = {"TESTING": True, "INSTANCE_PATH": str(tmp_path), "SECRET_KEY": "x", "CARE_WEBHOOK_SECRET": "y",
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'c.sqlite'}", "CARE_TELEPHONY": provider}
    with pytest.raises(ValueError, match="CARE_PUBLIC_BASE_URL"):
        create_app(base)
    with pytest.raises(ValueError, match="CARE_PUBLIC_BASE_URL"):
        create_app({**base, "CARE_PUBLIC_BASE_URL": "care.example.com"})  # not an absolute URL
    assert create_app({**base, "CARE_PUBLIC_BASE_URL": "https://care.example.com"})


def test_real_provider_without_public_base_url_places_no_call(app, client, world):
    app.config.update(CARE_TELEPHONY="generic", CARE_GENERIC_URL="https://pbx.example")  # changed after start-up
    r = client.post(f"/calls/start/{world['task']}", headers=HX, environ_overrides=follow_host(app, client, "evil.example"))
    assert r.status_code == 503 and "CARE_PUBLIC_BASE_URL" in r.get_data(as_text=True)
    assert attempts(app) == []


def follow_host(app, client, host: str) -> dict:
    """The environ of a request with a forged Host header: the test client sends its
    cookies by the Host, so the session cookie is copied to that host too."""
    name = app.config["SESSION_COOKIE_NAME"]
    client.set_cookie(name, client.get_cookie(name).value, domain=host.split(":")[0])
    return {"HTTP_HOST": host}


@pytest.fixture
def callback_bases(monkeypatch):
    from care.services import calls as call_service

    seen: list[str] = []
    real = call_service.originate

    def spy(attempt, provider, *, callback_base, force=None):
        seen.append(callback_base)
        return real(attempt, provider, callback_base=callback_base, force=force)

    monkeypatch.setattr(call_service, "originate", spy)
    return seen


def test_forged_host_does_not_move_the_simulators_callbacks(app, client, world, callback_bases):
    """The simulator posts to the server's own bound address (SERVER_NAME/SERVER_PORT as
    the server sets them), never to the Host header the client sent."""
    bound = {"SERVER_NAME": "0.0.0.0", "SERVER_PORT": "5000", **follow_host(app, client, "127.0.0.1:5098")}
    r = client.post(f"/calls/start/{world['task']}", data={"force": "busy"}, headers=HX, environ_overrides=bound)
    assert r.status_code == 200
    assert callback_bases == ["http://127.0.0.1:5000"]
    set_status(app, attempts(app)[0].id, "busy")
    app.config["CARE_SIM_BASE_URL"] = "http://sim.internal:8000/"
    with app.app_context():
        s = db.session
        task = make_task(s, make_customer(s, mobile="+8613800138001"), assignee_id=world["me"], now=MORNING)
        s.commit()
        task_id = task.id
    client.post(f"/calls/start/{task_id}", data={"force": "busy"}, headers=HX,
                environ_overrides=follow_host(app, client, "evil.example"))
    assert callback_bases[-1] == "http://sim.internal:8000"


def test_forged_host_against_a_real_server(app, world, callback_bases):
    """The same through a real server (werkzeug, as `flask run`) on a free port."""
    import threading

    import requests
    from werkzeug.serving import make_server

    from tests.conftest import PASSWORD

    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        own = f"http://127.0.0.1:{server.server_port}"
        with requests.Session() as http:
            r = http.post(f"{own}/auth/login", data={"username": "spec", "password": PASSWORD}, allow_redirects=False)
            assert r.status_code == 303
            r = http.post(f"{own}/calls/start/{world['task']}", data={"force": "busy"},
                          headers={**HX, "Host": "127.0.0.1:5098"}, timeout=30)
            assert r.status_code == 200, r.text[:300]
    finally:
        server.shutdown()
        thread.join(10)
    assert callback_bases == [own]


def test_twiml_never_signed_against_the_host_header(app, client, world):
    app.config.update(CARE_TWILIO_AUTH_TOKEN="tok")  # no CARE_PUBLIC_BASE_URL: no TwiML at all
    client.post(f"/calls/start/{world['task']}", headers=HX)
    [a] = attempts(app)
    from twilio.request_validator import RequestValidator

    params = {"CallSid": "CA1", "CallStatus": "in-progress"}
    sig = RequestValidator("tok").compute_signature(f"http://evil.example/calls/twiml/{a.id}", params)
    r = client.post(f"/calls/twiml/{a.id}", data=params, headers={"X-Twilio-Signature": sig},
                    environ_overrides=follow_host(app, client, "evil.example"))
    assert r.status_code == 403

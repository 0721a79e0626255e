"""Webhooks: Twilio requests signed by twilio's own RequestValidator, generic ones by sign_generic."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta

import pytest
from twilio.request_validator import RequestValidator

from care.extensions import db
from care.models import CallAttempt, CallEvent
from care.telephony.signatures import sign_generic
from tests import factories

TOKEN = "12345"
SID = "CA00000000000000000000000000000001"
SECRET = "test-webhook-secret"


@pytest.fixture
def twilio_app(app):
    app.config["CARE_TWILIO_AUTH_TOKEN"] = TOKEN
    return app


@pytest.fixture
def attempt_id(app):
    with app.app_context():
        attempt = factories.make_attempt(
            db.session, provider="twilio", started_at=datetime.now(UTC) - timedelta(minutes=1)
        )
        db.session.commit()
        return attempt.id


def get_attempt(app, attempt_id) -> CallAttempt:
    with app.app_context():
        attempt = db.session.get(CallAttempt, attempt_id)
        db.session.expunge(attempt)
        return attempt


def events(app, **where) -> list[CallEvent]:
    with app.app_context():
        rows = db.session.query(CallEvent).filter_by(**where).order_by(CallEvent.id).all()
        for row in rows:
            db.session.expunge(row)
        return rows


def twilio_post(client, path: str, params: dict, *, attempt=None, url_base="http://localhost", signature=None, extra=""):
    query = (f"?attempt={attempt}" if attempt is not None else "") + extra
    url = f"{url_base}{path}{query}"
    sig = RequestValidator(TOKEN).compute_signature(url, params) if signature is None else signature
    headers = {"X-Twilio-Signature": sig} if sig else {}
    return client.post(f"{path}{query}", data=params, headers=headers)


def generic_post(client, body, *, secret=SECRET, timestamp=None, raw: bytes | None = None, header=None):
    data = raw if raw is not None else json.dumps(body).encode()
    headers = {"Content-Type": "application/json"}
    if header is not None:
        headers["X-Care-Signature"] = header
    elif secret:
        headers["X-Care-Signature"] = sign_generic(secret, data, timestamp or int(time.time()))
    return client.post("/webhooks/events", data=data, headers=headers)


# ------------------------------------------------------------------------ Twilio


def test_twilio_status_flow(twilio_app, client, attempt_id):
    for seq, status in enumerate(("initiated", "ringing", "in-progress")):
        r = twilio_post(client, "/webhooks/twilio/status",
                        {"CallSid": SID, "CallStatus": status, "SequenceNumber": str(seq)}, attempt=attempt_id)
        assert r.status_code == 204, r.get_data(as_text=True)
    r = twilio_post(client, "/webhooks/twilio/dial",
                    {"CallSid": SID, "DialCallSid": "CA2", "DialCallStatus": "completed", "DialCallDuration": "33"},
                    attempt=attempt_id)
    assert r.status_code == 204
    attempt = get_attempt(twilio_app, attempt_id)
    assert attempt.outcome == "completed" and attempt.duration_s == 33 and attempt.provider_call_id == SID
    rows = events(twilio_app, attempt_id=attempt_id)
    assert [r.kind for r in rows] == ["status", "status", "status", "dial"]
    assert rows[0].payload["CallStatus"] == "initiated"


def test_twilio_recording_late(twilio_app, client, attempt_id):
    twilio_post(client, "/webhooks/twilio/status", {"CallSid": SID, "CallStatus": "completed", "CallDuration": "5",
                                                     "SequenceNumber": "3"}, attempt=attempt_id)
    r = twilio_post(client, "/webhooks/twilio/status",
                    {"CallSid": SID, "RecordingSid": "RE1", "RecordingStatus": "completed",
                     "RecordingUrl": "https://api.twilio.com/RE1"}, attempt=attempt_id)
    assert r.status_code == 204
    assert get_attempt(twilio_app, attempt_id).recording_url == "https://api.twilio.com/RE1"


@pytest.mark.parametrize("signature", ["", "AAAAAAAAAAAAAAAAAAAAAAAAAAA="])
def test_twilio_bad_or_missing_signature(twilio_app, client, attempt_id, signature):
    r = twilio_post(client, "/webhooks/twilio/status", {"CallSid": SID, "CallStatus": "ringing"},
                    attempt=attempt_id, signature=signature)
    assert r.status_code == 403
    assert events(twilio_app) == []


def test_twilio_attempt_is_part_of_the_signed_url(twilio_app, client, attempt_id):
    params = {"CallSid": SID, "CallStatus": "busy"}
    sig = RequestValidator(TOKEN).compute_signature(f"http://localhost/webhooks/twilio/status?attempt={attempt_id}", params)
    r = client.post(f"/webhooks/twilio/status?attempt={attempt_id + 1}", data=params, headers={"X-Twilio-Signature": sig})
    assert r.status_code == 403


def test_twilio_no_token_configured_refuses(app, client, attempt_id):
    r = twilio_post(client, "/webhooks/twilio/status", {"CallSid": SID, "CallStatus": "ringing"}, attempt=attempt_id)
    assert r.status_code == 403


def test_public_base_url_is_signed(twilio_app, client, attempt_id):
    twilio_app.config["CARE_PUBLIC_BASE_URL"] = "https://care.example.com/"
    params = {"CallSid": SID, "CallStatus": "ringing", "SequenceNumber": "1"}
    r = twilio_post(client, "/webhooks/twilio/status", params, attempt=attempt_id)  # signed for localhost
    assert r.status_code == 403
    r = twilio_post(client, "/webhooks/twilio/status", params, attempt=attempt_id, url_base="https://care.example.com")
    assert r.status_code == 204
    assert get_attempt(twilio_app, attempt_id).status == "ringing"


def test_twilio_unknown_status_and_empty_body(twilio_app, client, attempt_id):
    r = twilio_post(client, "/webhooks/twilio/status", {"CallSid": SID, "CallStatus": "teleporting"}, attempt=attempt_id)
    assert r.status_code == 400
    r = twilio_post(client, "/webhooks/twilio/status", {"CallStatus": "ringing"}, attempt=attempt_id)
    assert r.status_code == 400
    assert client.post("/webhooks/twilio/status").status_code == 400


def test_twilio_duplicate(twilio_app, client, attempt_id):
    params = {"CallSid": SID, "CallStatus": "ringing", "SequenceNumber": "1"}
    assert twilio_post(client, "/webhooks/twilio/status", params, attempt=attempt_id).status_code == 204
    assert twilio_post(client, "/webhooks/twilio/status", params, attempt=attempt_id).status_code == 204
    assert len(events(twilio_app)) == 1


def test_twilio_gather_stores_digits(twilio_app, client, attempt_id):
    for item, digits in (("q1", "6"), ("q2", "3")):
        r = twilio_post(client, "/webhooks/twilio/gather", {"CallSid": SID, "Digits": digits},
                        attempt=attempt_id, extra=f"&item={item}")
        # stored; a survey question's gather answers Twilio with the survey's next step
        assert r.status_code == 200 and r.mimetype == "text/xml" and b"<Redirect" in r.data
    rows = events(twilio_app, kind="gather")
    assert [(r.payload["Digits"], r.payload["survey_item"]) for r in rows] == [("6", "q1"), ("3", "q2")]
    assert all(r.attempt_id == attempt_id for r in rows)


def test_twilio_unknown_attempt_is_stored(twilio_app, client):
    r = twilio_post(client, "/webhooks/twilio/status", {"CallSid": "CAunknown", "CallStatus": "ringing"}, attempt=987654)
    assert r.status_code == 204
    (row,) = events(twilio_app)
    assert row.unmatched and row.attempt_ref == "987654" and row.attempt_id is None


# ----------------------------------------------------------------------- generic


def body(attempt_id, event_id="ev-1", status="answered", **extra):
    return {"event_id": event_id, "attempt_id": attempt_id, "provider_call_id": "sim-1", "status": status,
            "sequence": 1, **extra}


def test_generic_stored_and_applied(app, client, attempt_id):
    r = generic_post(client, body(attempt_id))
    assert r.status_code == 204 and r.get_data() == b""
    r = generic_post(client, body(attempt_id, "ev-2", "completed", sequence=2, duration_s=61))
    assert r.status_code == 204
    attempt = get_attempt(app, attempt_id)
    assert attempt.outcome == "completed" and attempt.duration_s == 61


def test_generic_out_of_order(app, client, attempt_id):
    for eid, status, seq in (("c", "completed", 4), ("r", "ringing", 2), ("a", "answered", 3), ("i", "initiated", 1)):
        assert generic_post(client, body(attempt_id, eid, status, sequence=seq, duration_s=9 if seq == 4 else None)).status_code == 204
    assert get_attempt(app, attempt_id).outcome == "completed"


def test_generic_rotated_secret(app, client, attempt_id):
    app.config["CARE_WEBHOOK_SECRET"] = "new-secret, test-webhook-secret"
    assert generic_post(client, body(attempt_id), secret="new-secret").status_code == 204
    assert generic_post(client, body(attempt_id, "ev-2"), secret=SECRET).status_code == 204


@pytest.mark.parametrize(
    "kwargs",
    [
        {"secret": None},  # missing header
        {"secret": "wrong-secret"},
        {"timestamp": int(time.time()) - 3600},  # stale: a replay
        {"header": "garbage"},
    ],
)
def test_generic_refused(app, client, attempt_id, kwargs):
    assert generic_post(client, body(attempt_id), **kwargs).status_code == 403
    assert events(app) == []


@pytest.mark.parametrize(
    ("raw", "document"),
    [
        (b"{not json", None),
        (None, {"attempt_id": 1, "status": "ringing"}),  # no event_id
        (None, {"event_id": "x", "attempt_id": 1, "status": "teleported"}),
        (None, {"event_id": "x", "attempt_id": 1}),  # no status
        (None, ["a", "list"]),
        (b"\xff\xfe", None),
    ],
)
def test_generic_bad_body(app, client, raw, document):
    r = generic_post(client, document, raw=raw)
    assert r.status_code == 400
    assert events(app) == []


def test_generic_empty_body(app, client):
    assert client.post("/webhooks/events").status_code == 400


def test_generic_duplicate(app, client, attempt_id):
    assert generic_post(client, body(attempt_id)).status_code == 204
    assert generic_post(client, body(attempt_id)).status_code == 204
    assert len(events(app)) == 1


def test_generic_unknown_attempt(app, client):
    assert generic_post(client, body(31337, "orphan", "busy")).status_code == 204
    (row,) = events(app)
    assert row.unmatched and row.attempt_ref == "31337" and row.attempt_id is None


def test_generic_canceled_not_counted(app, client, attempt_id):
    generic_post(client, body(attempt_id, "r", "ringing"))
    generic_post(client, body(attempt_id, "c", "canceled", sequence=2))
    attempt = get_attempt(app, attempt_id)
    assert attempt.outcome == "canceled" and attempt.counted is False


def test_store_failure_is_503(app, client, attempt_id, monkeypatch):
    from care.services import call_event_store

    def broken(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(call_event_store, "ingest", broken)
    assert generic_post(client, body(attempt_id)).status_code == 503
    assert events(app) == []


def test_apply_failure_still_204_and_stored(app, client, attempt_id, monkeypatch):
    from care.services import call_event_apply, sweep

    def broken(*args, **kwargs):
        raise RuntimeError("bug")

    monkeypatch.setattr(call_event_apply, "plan_apply", broken)
    assert generic_post(client, body(attempt_id)).status_code == 204
    (row,) = events(app)
    assert row.applied_at is None and row.attempt_id == attempt_id
    assert get_attempt(app, attempt_id).status == "requested"
    monkeypatch.undo()
    # the event was committed before the apply: `care sweep` applies it later
    with app.app_context():
        assert sweep.sweep(db.session, datetime.now(UTC))["reapplied"] == 1
        db.session.commit()
    assert get_attempt(app, attempt_id).status == "answered"
    assert events(app)[0].applied_at is not None


def test_one_statement_per_event_and_nothing_more_for_a_duplicate(app, client, attempt_id, monkeypatch):
    """The request's database work is the INSERT … RETURNING (telephony.md pitfall 8).

    Counted at the DB-API cursor (the ingest runs on a raw pooled connection) and at
    SQLAlchemy's cursor events (anything else the request might run)."""
    from sqlalchemy import event as sa_event

    from care import applier
    from care.web.webhooks import ingest_engine

    handed: list[int] = []
    monkeypatch.setattr(applier, "submit", lambda _app, attempt: handed.append(attempt))
    statements: list[str] = []
    with app.app_context():
        engine = ingest_engine(app)  # the app's engine, or the webhooks' own pool

    class Cursor:
        def __init__(self, cursor):
            self._cursor = cursor

        def execute(self, sql, *args):
            statements.append(sql.split(None, 1)[0].upper())
            return self._cursor.execute(sql, *args)

        def __getattr__(self, name):
            return getattr(self._cursor, name)

    class Connection:
        def __init__(self, connection):
            self._connection = connection

        def cursor(self):
            return Cursor(self._connection.cursor())

        def __getattr__(self, name):
            return getattr(self._connection, name)

    real_raw = engine.raw_connection
    monkeypatch.setattr(engine, "raw_connection", lambda: Connection(real_raw()))

    def record(_conn, _cursor, statement, *_args):
        statements.append("sqlalchemy:" + statement.split(None, 1)[0].upper())

    sa_event.listen(engine, "before_cursor_execute", record)
    try:
        assert generic_post(client, body(attempt_id)).status_code == 204
        first = list(statements)
        statements.clear()
        assert generic_post(client, body(attempt_id)).status_code == 204  # the same event_id again
        again = list(statements)
    finally:
        sa_event.remove(engine, "before_cursor_execute", record)
    assert first == ["INSERT"] and again == ["INSERT"]
    assert handed == [attempt_id]  # the duplicate is not handed to the applier
    (row,) = events(app)
    assert row.attempt_id == attempt_id and row.unmatched is False and row.applied_at is None
    assert row.received_at.tzinfo is not None and row.payload["event_id"] == "ev-1"


def test_unknown_attempt_by_call_id_and_gather_parent(twilio_app, client, attempt_id):
    """No ?attempt=: the attempt is found by the provider's call id inside the INSERT."""
    with twilio_app.app_context():
        db.session.get(CallAttempt, attempt_id).provider_call_id = SID
        db.session.commit()
    params = {"CallSid": SID, "CallStatus": "busy", "SequenceNumber": "1"}
    assert twilio_post(client, "/webhooks/twilio/status", params).status_code == 204
    other = {"CallSid": "CA" + "9" * 32, "CallStatus": "busy", "SequenceNumber": "1"}
    assert twilio_post(client, "/webhooks/twilio/status", other).status_code == 204
    rows = events(twilio_app)
    assert [(r.attempt_id, r.unmatched) for r in rows] == [(attempt_id, False), (None, True)]
    assert get_attempt(twilio_app, attempt_id).outcome == "busy"


# -------------------------------------------------------------------------- CLI


def test_cli_sweep(app, runner):
    with app.app_context():
        stuck = factories.make_attempt(db.session, started_at=datetime.now(UTC) - timedelta(hours=2))
        db.session.commit()
        stuck_id = stuck.id
    result = runner.invoke(args=["care", "sweep", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["swept"] == 1
    assert get_attempt(app, stuck_id).outcome == "failed"
    result = runner.invoke(args=["care", "sweep"])
    assert result.exit_code == 0 and "swept: 0" in result.output


def test_webhooks_are_csrf_exempt(app, client, attempt_id):
    app.config["WTF_CSRF_ENABLED"] = True
    app.config["CARE_TWILIO_AUTH_TOKEN"] = TOKEN
    assert generic_post(client, body(attempt_id)).status_code == 204
    params = {"CallSid": SID, "CallStatus": "ringing", "SequenceNumber": "1"}
    assert twilio_post(client, "/webhooks/twilio/status", params, attempt=attempt_id).status_code == 204


def test_a_connection_the_database_dropped_is_replaced(app, client, attempt_id):
    """The webhooks' pool pings nothing on checkout (PostgreSQL): a connection killed by a
    database restart fails the INSERT once, is discarded, and the event is stored."""
    from care.web.webhooks import ingest_engine

    with app.app_context():
        engine = ingest_engine(app)
        assert engine.dialect.name == "sqlite" or engine is not db.engine
    if engine.dialect.name != "postgresql":
        pytest.skip("PostgreSQL: SQLite's engine pings nothing and has no server to drop it")
    assert generic_post(client, body(attempt_id)).status_code == 204  # a pooled connection now exists
    with engine.connect() as conn:
        pid = conn.exec_driver_sql("SELECT pg_backend_pid()").scalar()
    with app.app_context():
        db.session.execute(db.text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
        db.session.commit()
    assert generic_post(client, body(attempt_id, "ev-2", "completed", sequence=2)).status_code == 204
    assert [e.event_id for e in events(app)] == ["ev-1", "ev-2"]

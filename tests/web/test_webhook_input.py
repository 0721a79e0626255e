"""Issue 9, items 8–10: input that cannot be stored is refused at the webhook (400, never
a 5xx the provider retries for ever), and an attempt that cannot be applied is put aside
for reconciliation instead of blocking its later events, the applier or `care sweep`."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from care.domain.callstate import MAX_DURATION_S, MAX_SEQUENCE
from care.extensions import db
from care.models import CallEvent
from care.services import call_event_apply, call_event_store
from care.telephony.generic import map_generic
from tests import factories
from tests.web.test_webhooks import SID, body, events, generic_post, get_attempt, twilio_post


@pytest.fixture
def twilio_app(app):
    app.config["CARE_TWILIO_AUTH_TOKEN"] = "12345"
    return app


@pytest.fixture
def attempt_id(app):
    with app.app_context():
        attempt = factories.make_attempt(db.session, provider="twilio", started_at=datetime.now(UTC) - timedelta(minutes=1))
        db.session.commit()
        return attempt.id


# ------------------------------------------------------------- generic JSON events

UNSTORABLE_GENERIC = {
    "duration 10**30": {"duration_s": 10**30},
    "duration 2**31": {"duration_s": 2**31},
    "duration over a day": {"duration_s": MAX_DURATION_S + 1},
    "negative duration": {"duration_s": -30},
    "sequence 2**63": {"sequence": 2**63},
    "sequence 2**31": {"sequence": 2**31},
    "negative sequence": {"sequence": -5},
    "sequence as text": {"sequence": "9" * 30},
    "year 1 at +14:00": {"occurred_at": "0001-01-01T00:00:00+14:00"},
    "year 9999 at -14:00": {"occurred_at": "9999-12-31T23:59:59-14:00"},
    "a huge timestamp": {"occurred_at": 10**20},
    "before 2000": {"occurred_at": "1970-01-01T00:00:00Z"},
    "NUL in event_id": {"event_id": "ev\u0000"},
    "NUL in provider_call_id": {"provider_call_id": "sim\u00001"},
    "NUL in attempt_id": {"attempt_id": "1\u0000"},
    "NUL in another field": {"note": "a\u0000b"},
    "NUL in a field name": {"no\u0000te": "x"},
    "lone surrogate": {"note": "\ud800"},
    "q850 10**30": {"q850_cause": 10**30},
    "q850 128": {"q850_cause": 128},
    "q850 as long text": {"q850_cause": "9" * 30},
    "long digits": {"digits": "1" * 33},
    "deep nesting": {"note": json.loads("[" * 40 + "]" * 40)},
    "infinite float": {"note": 1e400},
}


@pytest.mark.parametrize("extra", list(UNSTORABLE_GENERIC.values()), ids=list(UNSTORABLE_GENERIC))
def test_generic_unstorable_is_400(app, client, attempt_id, extra):
    r = generic_post(client, {**body(attempt_id, "ev-x", "completed"), **extra})
    assert r.status_code == 400, r.get_data(as_text=True)
    assert events(app) == []
    # and the attempt takes its later events
    assert generic_post(client, body(attempt_id, "ev-ok", "busy")).status_code == 204
    assert get_attempt(app, attempt_id).outcome == "busy"


@pytest.mark.parametrize(
    "raw",
    [b"[" * 100_000, b'{"a":' * 100_000, b'{"event_id": "e", "status": "busy", "x": NaN}',
     b'{"event_id": "e", "status": "busy", "x": Infinity}', b'{"event_id": "e", "status": "busy", "x": -Infinity}'],
    ids=["nested lists", "nested objects", "NaN", "Infinity", "-Infinity"],
)
def test_generic_unreadable_is_400(app, client, raw):
    assert generic_post(client, None, raw=raw).status_code == 400
    assert events(app) == []


def test_generic_limits_themselves_are_accepted(app, client, attempt_id):
    now = datetime.now(UTC).isoformat()
    r = generic_post(client, body(attempt_id, "ev-1", "answered", sequence=MAX_SEQUENCE - 1, occurred_at=now))
    assert r.status_code == 204
    r = generic_post(client, body(attempt_id, "ev-2", "completed", sequence=MAX_SEQUENCE, duration_s=MAX_DURATION_S,
                                  q850_cause=16, occurred_at="2099-12-31T23:59:59+14:00"))
    assert r.status_code == 204
    attempt = get_attempt(app, attempt_id)
    assert (attempt.outcome, attempt.duration_s, attempt.sequence) == ("completed", MAX_DURATION_S, MAX_SEQUENCE)
    assert generic_post(client, body(attempt_id, "ev-3", "completed", duration_s=0)).status_code == 204


# ------------------------------------------------------------------------- Twilio

UNSTORABLE_TWILIO = {
    "30-digit SequenceNumber": {"SequenceNumber": "9" * 30},
    "SequenceNumber 2**31": {"SequenceNumber": str(2**31)},
    "negative CallDuration": {"CallDuration": "-5"},
    "huge CallDuration": {"CallDuration": str(10**30)},
    "CallDuration not a number": {"CallDuration": "12s"},
    "negative RecordingDuration": {"RecordingDuration": "-1"},
    "huge RecordingDuration": {"RecordingDuration": "9" * 20},
    "Timestamp before 2000": {"Timestamp": "Mon, 01 Jan 1900 00:00:00 +1400"},
    "NUL in CallSid": {"CallSid": "CA\u00001"},
    "long CallSid": {"CallSid": "CA" + "1" * 100},
    "long RecordingUrl": {"RecordingUrl": "https://r.example.com/" + "a" * 600},
    "NUL in another field": {"From": "+86\u0000"},
    "q850 out of range": {"HangupCause": "999"},
}


@pytest.mark.parametrize("extra", list(UNSTORABLE_TWILIO.values()), ids=list(UNSTORABLE_TWILIO))
def test_twilio_unstorable_is_400(twilio_app, client, attempt_id, extra):
    params = {"CallSid": SID, "CallStatus": "completed", "SequenceNumber": "3", "CallDuration": "12", **extra}
    r = twilio_post(client, "/webhooks/twilio/status", params, attempt=attempt_id)
    assert r.status_code == 400, r.get_data(as_text=True)
    assert events(twilio_app) == []
    ok = {"CallSid": SID, "CallStatus": "busy", "SequenceNumber": "4"}
    assert twilio_post(client, "/webhooks/twilio/status", ok, attempt=attempt_id).status_code == 204
    assert get_attempt(twilio_app, attempt_id).outcome == "busy"


def test_twilio_dial_and_gather_checked(twilio_app, client, attempt_id):
    dial = {"CallSid": SID, "DialCallStatus": "completed", "DialCallDuration": "-5"}
    assert twilio_post(client, "/webhooks/twilio/dial", dial, attempt=attempt_id).status_code == 400
    gather = {"CallSid": SID, "Digits": "5"}
    r = twilio_post(client, "/webhooks/twilio/gather", gather, attempt=attempt_id, extra="&item=" + "x" * 41)
    assert r.status_code == 400
    r = twilio_post(client, "/webhooks/twilio/gather", {**gather, "Digits": "1" * 40}, attempt=attempt_id)
    assert r.status_code == 400
    assert events(twilio_app) == []
    assert twilio_post(client, "/webhooks/twilio/gather", gather, attempt=attempt_id, extra="&item=q1").status_code == 200  # TwiML


def test_twilio_timestamp_without_zone_is_utc(twilio_app, client, attempt_id):
    params = {"CallSid": SID, "CallStatus": "ringing", "SequenceNumber": "1",
              "Timestamp": "Mon, 23 Nov 2026 06:00:00 -0000"}
    assert twilio_post(client, "/webhooks/twilio/status", params, attempt=attempt_id).status_code == 204
    (row,) = events(twilio_app)
    assert row.occurred_at == datetime(2026, 11, 23, 6, 0, tzinfo=UTC)


# ------------------------------------------------------- defence in depth: the apply


def _store_unchecked(app, attempt_id, event_id, status, **extra):
    """An event stored as the webhooks did before they checked ranges (no apply)."""
    document = {"event_id": event_id, "attempt_id": attempt_id, "provider_call_id": "sim-1", "status": status, **extra}
    with app.app_context():
        row, _ = call_event_store.store_event(
            db.session, map_generic(document), kind="status", payload=document, attempt_ref=str(attempt_id),
            now=datetime.now(UTC) - timedelta(minutes=5),
        )
        db.session.commit()
        return row.id


def test_an_out_of_range_event_stored_before_poisons_nothing(app, client, attempt_id, runner, login_as):
    poisoned = _store_unchecked(app, attempt_id, "old-1", "answered", duration_s=10**30, sequence=1)
    assert generic_post(client, body(attempt_id, "ev-2", "completed", sequence=2, duration_s=61)).status_code == 204
    attempt = get_attempt(app, attempt_id)
    assert (attempt.status, attempt.duration_s) == ("completed", 61)
    result = runner.invoke(args=["care", "sweep", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["put_aside"] == []
    # on the reconciliation page (here as if it had been put aside) it is a clear refusal
    with app.app_context():
        row = db.session.get(CallEvent, poisoned)
        row.attempt_id, row.unmatched = None, True
        db.session.commit()
    login_as("care_manager")
    r = client.post(f"/reconciliation/{poisoned}/match", data={"attempt": str(attempt_id)})
    assert r.status_code == 422
    assert "cannot be applied" in r.get_data(as_text=True)


def _poison(monkeypatch, bad_event_id):
    """The fold of the events with ``bad_event_id`` fails as an out-of-range value would."""
    real = call_event_apply.attempt_state

    def attempt_state(rows):
        if any(row.event_id == bad_event_id for row in rows):
            raise OverflowError("Python int too large to convert to SQLite INTEGER")
        return real(rows)

    monkeypatch.setattr(call_event_apply, "attempt_state", attempt_state)


def test_sweep_puts_a_failing_attempt_aside_and_goes_on(app, client, runner, monkeypatch, login_as):
    with app.app_context():
        long_ago = datetime.now(UTC) - timedelta(hours=2)
        bad, good, stuck = (factories.make_attempt(db.session, started_at=long_ago).id for _ in range(3))
        db.session.commit()
    bad_event = _store_unchecked(app, bad, "bad-1", "ringing", sequence=1)
    _store_unchecked(app, good, "good-1", "busy", sequence=1)
    _poison(monkeypatch, "bad-1")
    result = runner.invoke(args=["care", "sweep", "--json"])
    assert result.exit_code == 0, result.output
    counts = json.loads(result.output)
    assert counts["put_aside"] == [bad] and counts["reapplied"] == 1
    assert get_attempt(app, good).outcome == "busy"
    assert get_attempt(app, stuck).outcome == "failed"
    assert get_attempt(app, bad).outcome == "failed"  # swept: its events are put aside
    (row,) = events(app, event_id="bad-1")
    assert (row.attempt_id, row.unmatched, row.attempt_ref, row.applied_at) == (None, True, str(bad), None)
    assert "Python int" not in result.output
    # listed for reconciliation; matching it while the apply still fails is a clear 422
    login_as("care_manager")
    page = client.get("/reconciliation/")
    assert page.status_code == 200 and "sim-1" in page.get_data(as_text=True)
    r = client.post(f"/reconciliation/{bad_event}/match", data={"attempt": str(bad)})
    assert r.status_code == 422 and "cannot be applied" in r.get_data(as_text=True)
    monkeypatch.undo()
    r = client.post(f"/reconciliation/{bad_event}/match", data={"attempt": str(bad)})
    assert r.status_code == 303


def test_inline_apply_puts_a_failing_attempt_aside(app, client, attempt_id, monkeypatch, caplog):
    _poison(monkeypatch, "ev-1")
    assert generic_post(client, body(attempt_id, "ev-1", "ringing")).status_code == 204
    (row,) = events(app)
    assert (row.attempt_id, row.unmatched, row.attempt_ref) == (None, True, str(attempt_id))
    assert "OverflowError" in caplog.text and "SQLite INTEGER" not in caplog.text
    monkeypatch.undo()
    # the attempt takes its later events
    assert generic_post(client, body(attempt_id, "ev-2", "busy", sequence=2)).status_code == 204
    assert get_attempt(app, attempt_id).outcome == "busy"


def test_a_failure_of_the_database_puts_nothing_aside(app, client, attempt_id, monkeypatch):
    from sqlalchemy.exc import OperationalError

    def down(*args, **kwargs):
        raise OperationalError("SELECT", {}, Exception("server closed the connection"))

    monkeypatch.setattr(call_event_apply, "plan_apply", down)
    assert generic_post(client, body(attempt_id, "ev-1", "ringing")).status_code == 204
    (row,) = events(app)
    assert (row.attempt_id, row.unmatched, row.applied_at) == (attempt_id, False, None)


# ------------------------------------------------- the same class elsewhere: NUL in forms


@pytest.mark.parametrize("path", ["/admin/users?q=a%00b", "/admin/audit?action=a%00b&user=x%00", "/customers/?q=a%00b"])
def test_nul_in_a_query_is_dropped_not_500(client, login_as, path):
    login_as("admin", "care_manager", "specialist")
    assert client.get(path).status_code == 200


def test_nul_in_a_form_is_400(app, client, login_as):
    login_as("admin")
    r = client.post("/admin/users/new", data={"username": "bob", "display_name": "B\u0000b",
                                               "password": "a-long-password-1", "roles": "specialist"})
    assert r.status_code == 400
    assert "NUL" in r.get_data(as_text=True)

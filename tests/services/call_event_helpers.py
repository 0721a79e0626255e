"""Helpers of the call-event tests (store, apply, reconcile, sweep): events as the
simulator / a generic PBX sends them, stored and applied through the session."""

from __future__ import annotations

from datetime import UTC, datetime

from care.domain.callstate import map_twilio
from care.services import call_event_apply, call_event_store
from care.services import fallback as fallback_service
from care.telephony.generic import map_generic

NOW = datetime(2026, 11, 23, 6, 0, tzinfo=UTC)
SID = "CA00000000000000000000000000000001"
REC = "https://recordings.example.com/RE1.mp3"


def generic(attempt_id, event_id: str, status: str | None = "ringing", **extra) -> dict:
    body = {"event_id": event_id, "attempt_id": attempt_id, "provider_call_id": "sim-1", "status": status}
    body.update(extra)
    return body


def post(session, body: dict, now=NOW):
    """Store and apply a generic event: ``(row, created)``."""
    event = map_generic(body)
    kind = call_event_store.GATHER if event.status is None and event.digits else call_event_store.STATUS
    ref = None if body.get("attempt_id") is None else str(body["attempt_id"])
    return call_event_apply.receive(session, event, kind=kind, payload=body, attempt_ref=ref, now=now)


def twilio(session, attempt, params: dict, *, dial=False, now=NOW):
    event = map_twilio(params, dial=dial)
    kind = call_event_store.DIAL if dial else call_event_store.STATUS
    return call_event_apply.receive(session, event, kind=kind, payload=params, attempt_ref=str(attempt.id), now=now)


def store_only(session, attempt, event_id, status, sequence, now=NOW):
    """Store a generic event without applying it."""
    body = generic(attempt.id, event_id, status, sequence=sequence)
    row, _ = call_event_store.store_event(
        session, map_generic(body), kind="status", payload=body, attempt_ref=str(attempt.id), now=now
    )
    return row


def fake_fallback(monkeypatch) -> dict:
    """The fallback module's hooks replaced by recorders: ``{"final": [(id, outcome)], "sweep": n}``."""
    calls = {"final": [], "sweep": 0}

    def on_attempt_final(session, attempt, *, now):
        calls["final"].append((attempt.id, attempt.outcome))

    def sweep_fallbacks(session, *, now):
        calls["sweep"] += 1
        return {"queued": 0}

    monkeypatch.setattr(fallback_service, "on_attempt_final", on_attempt_final)
    monkeypatch.setattr(fallback_service, "sweep_fallbacks", sweep_fallbacks)
    monkeypatch.setattr(fallback_service, "needs_final_hook", lambda outcome: True)
    return calls

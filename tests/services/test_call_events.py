"""Call events: store once, apply by folding every stored event, sweep stuck attempts."""

from __future__ import annotations

import sys
import types
from datetime import UTC, datetime, timedelta

import pytest

from care.domain.callstate import map_twilio
from care.models import CallAttempt, CallEvent
from care.services import call_events as svc
from tests import factories

NOW = datetime(2026, 11, 23, 6, 0, tzinfo=UTC)
SID = "CA00000000000000000000000000000001"
REC = "https://recordings.example.com/RE1.mp3"


def generic(attempt_id, event_id: str, status: str | None = "ringing", **extra) -> dict:
    body = {"event_id": event_id, "attempt_id": attempt_id, "provider_call_id": "sim-1", "status": status}
    body.update(extra)
    return body


def post(session, body: dict, now=NOW):
    event = svc.map_generic(body)
    kind = svc.GATHER if event.status is None and event.digits else svc.STATUS
    ref = None if body.get("attempt_id") is None else str(body["attempt_id"])
    return svc.receive(session, event, kind=kind, payload=body, attempt_ref=ref, now=now)


def twilio(session, attempt, params: dict, *, dial=False, now=NOW):
    event = map_twilio(params, dial=dial)
    kind = svc.DIAL if dial else svc.STATUS
    return svc.receive(session, event, kind=kind, payload=params, attempt_ref=str(attempt.id), now=now)


@pytest.fixture
def attempt(session):
    return factories.make_attempt(session, started_at=NOW - timedelta(minutes=2))


def test_out_of_order_ends_completed(session, attempt):
    post(session, generic(attempt.id, "e4", "completed", sequence=4, duration_s=42))
    post(session, generic(attempt.id, "e3", "answered", sequence=3))
    post(session, generic(attempt.id, "e2", "ringing", sequence=2))
    post(session, generic(attempt.id, "e1", "initiated", sequence=1))
    session.refresh(attempt)
    assert (attempt.status, attempt.outcome, attempt.rank) == ("completed", "completed", 4)
    assert attempt.answered and attempt.answered_at is not None
    assert attempt.duration_s == 42 and attempt.counted and attempt.ended_at == NOW
    rows = session.query(CallEvent).filter_by(attempt_id=attempt.id).all()
    assert len(rows) == 4 and all(r.applied_at == NOW for r in rows)


def test_completed_without_answer_is_no_answer(session, attempt):
    post(session, generic(attempt.id, "e1", "ringing", sequence=1))
    post(session, generic(attempt.id, "e2", "completed", sequence=2, duration_s=0))
    session.refresh(attempt)
    assert attempt.outcome == "no_answer" and not attempt.answered


def test_duplicate_stored_once(session, attempt):
    row, created = post(session, generic(attempt.id, "dup", "ringing", sequence=1))
    again, created_again = post(session, generic(attempt.id, "dup", "ringing", sequence=1))
    assert created and not created_again and again.id == row.id
    assert session.query(CallEvent).filter_by(event_id="dup").count() == 1


def test_recording_link_late_fills_in_never_erased(session, attempt):
    post(session, generic(attempt.id, "e1", "answered", sequence=1))
    post(session, generic(attempt.id, "e2", "completed", sequence=2, duration_s=30))
    session.refresh(attempt)
    assert attempt.recording_url is None
    post(session, generic(attempt.id, "rec", None, recording_url=REC))
    session.refresh(attempt)
    assert attempt.recording_url == REC and attempt.outcome == "completed"
    post(session, generic(attempt.id, "rec2", None, recording_url="", duration_s=31))
    session.refresh(attempt)
    assert attempt.recording_url == REC


def test_terminal_is_absorbing(session, attempt):
    post(session, generic(attempt.id, "e1", "busy", sequence=1))
    post(session, generic(attempt.id, "e2", "answered", sequence=2))
    post(session, generic(attempt.id, "e3", "failed", sequence=3, q850_cause=34))
    session.refresh(attempt)
    assert attempt.outcome == "busy" and attempt.status == "busy"
    assert attempt.q850_cause == 34  # filled in, outcome unchanged


def test_canceled_is_not_counted(session, attempt):
    post(session, generic(attempt.id, "e1", "ringing", sequence=1))
    post(session, generic(attempt.id, "e2", None, q850_cause="ORIGINATOR_CANCEL"))
    session.refresh(attempt)
    assert attempt.outcome == "canceled" and attempt.counted is False


def test_unknown_attempt_stored_unmatched(session):
    row, created = post(session, generic(999999, "lost", "completed", sequence=3))
    assert created and row.unmatched and row.attempt_id is None and row.attempt_ref == "999999"
    assert row.applied_at is None
    row, _ = post(session, generic("not-a-number", "lost2", "ringing"))
    assert row.unmatched and row.attempt_ref == "not-a-number"


def test_matched_by_provider_call_id_without_attempt_ref(session, attempt):
    attempt.provider_call_id = "sim-77"
    session.flush()
    body = {"event_id": "x1", "provider_call_id": "sim-77", "status": "ringing", "sequence": 1}
    row, _ = post(session, body)
    assert row.attempt_id == attempt.id and not row.unmatched


def test_gather_records_digits_only(session, attempt):
    post(session, generic(attempt.id, "e1", "completed", sequence=2, duration_s=12))
    row, _ = post(session, generic(attempt.id, "g1", None, digits="5", survey_item="q1"))
    session.refresh(attempt)
    assert row.kind == "gather" and row.payload["digits"] == "5" and row.applied_at == NOW
    assert attempt.outcome == "completed"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"attempt_id": 1, "status": "ringing"}, "event_id"),
        ({"event_id": "a", "status": "dialling"}, "status"),
        ({"event_id": "a"}, "status"),
        ({"event_id": "a", "status": "ringing", "sequence": "x"}, "sequence"),
        ({"event_id": "a", "status": "ringing", "occurred_at": "yesterday"}, "occurred_at"),
        ([1, 2], "object"),
    ],
)
def test_map_generic_refuses(body, message):
    with pytest.raises(svc.EventError, match=message):
        svc.map_generic(body)


def test_twilio_two_legs_customer_busy(session, attempt):
    for seq, status in enumerate(("initiated", "ringing", "in-progress")):
        twilio(session, attempt, {"CallSid": SID, "CallStatus": status, "SequenceNumber": str(seq)})
    twilio(session, attempt, {"CallSid": SID, "DialCallSid": "CA2", "DialCallStatus": "busy"}, dial=True)
    twilio(session, attempt, {"CallSid": SID, "CallStatus": "completed", "CallDuration": "20", "SequenceNumber": "3"})
    session.refresh(attempt)
    assert attempt.outcome == "busy" and attempt.provider_call_id == SID


def test_twilio_agent_only_hangup_before_dial_result(session, attempt):
    twilio(session, attempt, {"CallSid": SID, "CallStatus": "in-progress", "SequenceNumber": "2"})
    twilio(session, attempt, {"CallSid": SID, "CallStatus": "completed", "CallDuration": "9", "SequenceNumber": "3"})
    session.refresh(attempt)
    assert attempt.outcome == "completed"  # no customer leg reported: the agent leg is all we know


@pytest.fixture
def fallback_module(monkeypatch):
    calls = {"final": [], "sweep": 0}
    module = types.ModuleType("care.services.fallback")

    def on_attempt_final(session, attempt, *, now):
        calls["final"].append((attempt.id, attempt.outcome))

    def sweep_fallbacks(session, *, now):
        calls["sweep"] += 1
        return {"queued": 0}

    module.on_attempt_final = on_attempt_final
    module.sweep_fallbacks = sweep_fallbacks
    monkeypatch.setitem(sys.modules, "care.services.fallback", module)
    return calls


def test_final_hook_called_once(session, attempt, fallback_module):
    post(session, generic(attempt.id, "e1", "ringing", sequence=1))
    assert fallback_module["final"] == []
    post(session, generic(attempt.id, "e2", "no_answer", sequence=2))
    post(session, generic(attempt.id, "e3", None, recording_url=REC))
    assert fallback_module["final"] == [(attempt.id, "no_answer")]


def test_sweep_closes_stuck_attempt(session, fallback_module):
    stuck = factories.make_attempt(session, started_at=NOW - timedelta(minutes=45))
    fresh = factories.make_attempt(session, started_at=NOW - timedelta(minutes=5))
    done = factories.make_attempt(session, started_at=NOW - timedelta(minutes=90))
    post(session, generic(stuck.id, "s1", "ringing", sequence=1))
    post(session, generic(done.id, "d1", "busy", sequence=1))
    counts = svc.sweep(session, NOW, timeout_minutes=30)
    assert counts["swept"] == 1 and counts["fallbacks"] == {"queued": 0}
    session.refresh(stuck)
    session.refresh(fresh)
    assert (stuck.outcome, stuck.status, stuck.swept_at, stuck.counted) == ("failed", "failed", NOW, True)
    assert fresh.outcome is None and fresh.swept_at is None
    assert fallback_module["final"] == [(done.id, "busy"), (stuck.id, "failed")]
    # a rerun changes nothing; a late real terminal only fills in
    assert svc.sweep(session, NOW + timedelta(minutes=1), timeout_minutes=30)["swept"] == 0
    post(session, generic(stuck.id, "s2", "completed", sequence=3, duration_s=60, recording_url=REC))
    session.refresh(stuck)
    assert stuck.outcome == "failed" and stuck.duration_s == 60 and stuck.recording_url == REC


def test_sweep_uses_the_setting(session):
    stuck = factories.make_attempt(session, started_at=NOW - timedelta(minutes=31))
    assert svc.sweep(session, NOW)["swept"] == 1  # attempt_timeout_minutes defaults to 30
    assert session.get(CallAttempt, stuck.id).swept_at == NOW


def test_sweep_reapplies_unapplied_events(session, attempt):
    row, _ = svc.store_event(
        session, svc.map_generic(generic(attempt.id, "u1", "busy", sequence=1)),
        kind="status", payload=generic(attempt.id, "u1", "busy", sequence=1), attempt_ref=str(attempt.id), now=NOW,
    )
    assert row.applied_at is None
    counts = svc.sweep(session, NOW, timeout_minutes=30)
    assert counts["reapplied"] == 1
    session.refresh(attempt)
    assert attempt.outcome == "busy"


def test_match_and_dismiss(session, attempt):
    lost, _ = post(session, generic(424242, "m1", "busy", sequence=1))
    user = factories.make_user(session, "care_manager")
    with pytest.raises(svc.ReconcileError):
        svc.match_event(session, lost, 424243, user_id=user.id, now=NOW)
    svc.match_event(session, lost, attempt.id, user_id=user.id, now=NOW)
    session.refresh(attempt)
    assert attempt.outcome == "busy" and lost.reconciled_by_id == user.id and not lost.unmatched
    other, _ = post(session, generic(424242, "m2", "ringing", sequence=1))
    svc.dismiss_event(session, other, user_id=user.id, now=NOW)
    assert other.reconciled_at == NOW and other.attempt_id is None
    assert session.scalars(svc.unmatched_statement()).all() == []


# ------------------------------------------------- optimistic apply, finalization


def store_only(session, attempt, event_id, status, sequence, now=NOW):
    body = generic(attempt.id, event_id, status, sequence=sequence)
    row, _ = svc.store_event(
        session, svc.map_generic(body), kind="status", payload=body, attempt_ref=str(attempt.id), now=now
    )
    return row


def test_version_counts_the_events_folded(session, attempt):
    store_only(session, attempt, "v1", "ringing", 1)
    store_only(session, attempt, "v2", "answered", 2)
    assert svc.apply_attempts(session, [attempt.id], now=NOW) == []
    session.refresh(attempt)
    assert (attempt.status, attempt.events_folded) == ("answered", 2)
    # nothing new: the plan writes nothing
    (plan,) = svc.plan_apply(session, [attempt.id], now=NOW)
    assert plan.values is None and plan.unapplied == ()


def test_a_write_that_lost_is_retried_from_fresh_reads(session, attempt):
    """Two appliers read the same version; the second write touches nothing and re-plans."""
    store_only(session, attempt, "r1", "ringing", 1)
    stale = svc.plan_apply(session, [attempt.id], now=NOW)
    store_only(session, attempt, "r2", "busy", 2)
    assert svc.apply_attempts(session, [attempt.id], now=NOW) == [attempt.id]  # the other applier
    final, lost = svc.write_apply(session, stale, now=NOW)
    assert (final, lost) == ([], [attempt.id])
    session.refresh(attempt)
    assert (attempt.outcome, attempt.events_folded) == ("busy", 2)  # not set back to "ringing"
    assert svc.apply_attempts(session, lost, now=NOW) == []  # re-planned: nothing new


def test_lost_every_time_is_left_for_the_rescan(session, attempt, monkeypatch, caplog):
    store_only(session, attempt, "l1", "busy", 1)
    monkeypatch.setattr(svc, "write_apply", lambda _s, plans, *, now: ([], [p.attempt_id for p in plans]))
    assert svc.apply_attempts(session, [attempt.id], now=NOW) == []
    assert "lost" in caplog.text
    assert svc.pending_attempts(session) == [attempt.id]


def test_finalize_runs_the_hook_once_and_claims(session, attempt, fallback_module):
    store_only(session, attempt, "f1", "busy", 1)
    final = svc.apply_attempts(session, [attempt.id], now=NOW)
    assert final == [attempt.id] and fallback_module["final"] == []  # the caller runs the hooks
    assert svc.unfinalized_attempts(session, ended_before=NOW + timedelta(seconds=1)) == [attempt.id]
    assert svc.finalize(session, final, now=NOW) == 1
    assert svc.finalize(session, final, now=NOW) == 0  # already claimed: the hook is not run again
    assert fallback_module["final"] == [(attempt.id, "busy")]
    assert session.get(CallAttempt, attempt.id).finalized_at == NOW
    assert svc.unfinalized_attempts(session, ended_before=NOW + timedelta(hours=1)) == []


def test_sweep_runs_hooks_a_dead_process_left(session, attempt, fallback_module):
    """State committed, process gone before its hooks: `care sweep` runs them."""
    store_only(session, attempt, "d1", "no_answer", 1)
    svc.apply_attempts(session, [attempt.id], now=NOW)  # ... and no finalize
    counts = svc.sweep(session, NOW + timedelta(minutes=1), timeout_minutes=30)
    assert counts["finalized"] == 1 and fallback_module["final"] == [(attempt.id, "no_answer")]
    assert svc.sweep(session, NOW + timedelta(minutes=2), timeout_minutes=30)["finalized"] == 0


def test_a_reached_customer_is_finalized_without_the_hook(session, attempt):
    """The real fallback module: nothing to do for a completed call, so no hook runs."""
    store_only(session, attempt, "c1", "answered", 1)
    store_only(session, attempt, "c2", "completed", 2)
    assert svc.apply_attempts(session, [attempt.id], now=NOW) == []
    session.refresh(attempt)
    assert attempt.outcome == "completed" and attempt.finalized_at == NOW
    other = factories.make_attempt(session, started_at=NOW - timedelta(minutes=2))
    store_only(session, other, "n1", "no_answer", 1)
    assert svc.apply_attempts(session, [other.id], now=NOW) == [other.id]  # its hook is due
    assert session.get(CallAttempt, other.id).finalized_at is None

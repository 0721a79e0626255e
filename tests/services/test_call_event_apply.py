"""Applying call events: every stored event of the attempt folded onto it, optimistic
writes, the final hook once."""

from __future__ import annotations

from datetime import timedelta

import pytest

from care.models import CallAttempt, CallEvent
from care.services import call_event_apply as svc
from tests import factories
from tests.services.call_event_helpers import (
    NOW,
    REC,
    SID,
    fake_fallback,
    generic,
    post,
    store_only,
    twilio,
)


@pytest.fixture
def attempt(session):
    return factories.make_attempt(session, started_at=NOW - timedelta(minutes=2))


@pytest.fixture
def fallback_module(monkeypatch):
    return fake_fallback(monkeypatch)


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


def test_final_hook_called_once(session, attempt, fallback_module):
    post(session, generic(attempt.id, "e1", "ringing", sequence=1))
    assert fallback_module["final"] == []
    post(session, generic(attempt.id, "e2", "no_answer", sequence=2))
    post(session, generic(attempt.id, "e3", None, recording_url=REC))
    assert fallback_module["final"] == [(attempt.id, "no_answer")]


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

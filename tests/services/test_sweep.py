"""`care sweep`: stuck attempts closed as failed, left-over events applied, hooks caught up."""

from __future__ import annotations

from datetime import timedelta

import pytest

from care.models import CallAttempt
from care.services import call_event_apply
from care.services import sweep as svc
from tests import factories
from tests.services.call_event_helpers import NOW, REC, fake_fallback, generic, post, store_only


@pytest.fixture
def attempt(session):
    return factories.make_attempt(session, started_at=NOW - timedelta(minutes=2))


@pytest.fixture
def fallback_module(monkeypatch):
    return fake_fallback(monkeypatch)


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
    row = store_only(session, attempt, "u1", "busy", 1)
    assert row.applied_at is None
    counts = svc.sweep(session, NOW, timeout_minutes=30)
    assert counts["reapplied"] == 1
    session.refresh(attempt)
    assert attempt.outcome == "busy"


def test_sweep_runs_hooks_a_dead_process_left(session, attempt, fallback_module):
    """State committed, process gone before its hooks: `care sweep` runs them."""
    store_only(session, attempt, "d1", "no_answer", 1)
    call_event_apply.apply_attempts(session, [attempt.id], now=NOW)  # ... and no finalize
    counts = svc.sweep(session, NOW + timedelta(minutes=1), timeout_minutes=30)
    assert counts["finalized"] == 1 and fallback_module["final"] == [(attempt.id, "no_answer")]
    assert svc.sweep(session, NOW + timedelta(minutes=2), timeout_minutes=30)["finalized"] == 0

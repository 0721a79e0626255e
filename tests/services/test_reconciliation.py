"""Reconciliation: an unmatched event attached to an attempt (and applied) or dismissed."""

from __future__ import annotations

from datetime import timedelta

import pytest

from care.services import reconciliation as svc
from tests import factories
from tests.services.call_event_helpers import NOW, generic, post


@pytest.fixture
def attempt(session):
    return factories.make_attempt(session, started_at=NOW - timedelta(minutes=2))


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

"""Storing call events: once per event id, matched to the attempt or kept unmatched."""

from __future__ import annotations

from datetime import timedelta

import pytest

from care.models import CallEvent
from tests import factories
from tests.services.call_event_helpers import NOW, generic, post


@pytest.fixture
def attempt(session):
    return factories.make_attempt(session, started_at=NOW - timedelta(minutes=2))


def test_duplicate_stored_once(session, attempt):
    row, created = post(session, generic(attempt.id, "dup", "ringing", sequence=1))
    again, created_again = post(session, generic(attempt.id, "dup", "ringing", sequence=1))
    assert created and not created_again and again.id == row.id
    assert session.query(CallEvent).filter_by(event_id="dup").count() == 1


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

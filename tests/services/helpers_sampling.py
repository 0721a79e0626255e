"""Insurance calls for the R21 sample tests (services, web, browser, CLI)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from care.models import CallAttemptTask
from tests import factories

OCTOBER = date(2026, 10, 1)
# A moment in November at the dealer (Asia/Shanghai): October has ended.
NOW = datetime(2026, 11, 5, 2, 0, tzinfo=UTC)


def october(day: int, hour: int = 3) -> datetime:
    """A UTC instant on that October day (11:00 in Shanghai by default)."""
    return datetime(2026, 10, day, hour, 0, tzinfo=UTC)


def insurance_task(session, specialist, customer=None, **kw):
    values = {
        "type": "insurance_renewal",
        "status": "done",
        "outcome": "will_renew",
        "assignee": specialist,
        "owner_rule": "policy_specialist",
        "reason_id": "insurance_renewal.reason",
        "reason_params": {"expiry": "2026-12-01", "insurer": "PICC"},
        "due_at": datetime(2026, 12, 1, 15, 59, 59, tzinfo=UTC),
    }
    values.update(kw)
    return factories.make_task(session, customer, **values)


def call(session, specialist, at: datetime, *, task=None, outcome="completed", counted=True, duration=95, **kw):
    """A call placed by ``specialist`` at ``at`` for ``task`` (default: a new insurance
    renewal task of theirs)."""
    task = task or insurance_task(session, specialist)
    answered = outcome == "completed"
    values = {
        "user_id": specialist.id,
        "status": outcome,
        "outcome": outcome,
        "rank": 4,
        "answered": answered,
        "counted": counted,
        "started_at": at,
        "answered_at": at + timedelta(seconds=8) if answered else None,
        "ended_at": at + timedelta(seconds=duration + 10),
        "duration_s": duration if answered else None,
        "to_number": task.customer.mobile or "+8613800000000",
    }
    values.update(kw)
    return factories.make_attempt(session, task, **values)


def link(session, attempt, task) -> None:
    """Count ``attempt`` for ``task`` too (one call of a contact, several tasks)."""
    session.add(CallAttemptTask(attempt_id=attempt.id, task_id=task.id))
    session.flush()


def calls(session, specialist, n: int, *, start_day: int = 2) -> list:
    return [call(session, specialist, october(start_day + i)) for i in range(n)]

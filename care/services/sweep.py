"""``care sweep`` (telephony.md pitfall 4, a lost terminal event).

An attempt not terminal ``timeout`` minutes after it started is closed as ``failed``
with ``swept_at`` set, by storing a synthetic event (provider ``care``, kind ``sweep``)
and applying it, so that the rule "terminal is absorbing, the first terminal wins" also
covers a late real terminal: it only fills in duration, cause and recording link.
``failed`` and not ``no_answer``: we do not know that the customer did not answer; the
attempt still counts (R13).

Before that, it applies what a killed worker left stored but unapplied, runs the final
hooks that never ran, and after it the deadline sweep
(``care.services.fallback.sweep_fallbacks``: tasks whose calling is over closed as failed
or expired, their fallback messages queued, birthday greetings the same morning).

It runs from ``care sweep`` (cron) and from the scheduler thread of every serving
process (care/scheduler.py, every ``sweep_interval_minutes``). Each step is idempotent
and safe when two sweeps overlap; on PostgreSQL :func:`lock_sweep` also serializes them
(an advisory lock: ``care sweep`` waits for it, the scheduler skips its round when
another process holds it). SQLite serializes writers by itself.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from care.domain.callstate import TERMINAL_RANK, CallStatus, NormalizedEvent
from care.models import CallAttempt
from care.services import campaigns, complaints, fallback, imports, register
from care.services.call_event_apply import (
    apply_event,
    apply_to_attempt,
    finalize,
    is_unstorable,
    pending_attempts,
    put_aside,
    unfinalized_attempts,
)
from care.services.call_event_store import SWEEP, SWEEP_PROVIDER, store_event
from care.services.settings import load_settings

log = logging.getLogger("care.call_events")

LOCK_KEY = 0x43535750  # "CSWP": the PostgreSQL advisory-lock key of the sweep
# Advisory locks belong to the database, not the schema: the second key is the schema's
# hash, so that apps in other schemas of the same database (the tests' workers, a staging
# copy) do not hold up each other's sweeps.
_LOCK = "SELECT {fn}(:key, hashtext(current_schema()))"


def lock_sweep(session: Session, *, wait: bool = True) -> bool:
    """Serialize sweeps until the transaction ends (PostgreSQL: an advisory lock, taken
    again at no cost by the same transaction). ``wait=False``: True only if the lock was
    free. On SQLite always True: its writers queue on the database lock, and every step
    of the sweep claims what it changes (a conditional UPDATE), so overlapping sweeps
    change each thing once."""
    if session.get_bind().dialect.name != "postgresql":
        return True
    if wait:
        session.execute(text(_LOCK.format(fn="pg_advisory_xact_lock")), {"key": LOCK_KEY})
        return True
    return bool(session.scalar(text(_LOCK.format(fn="pg_try_advisory_xact_lock")), {"key": LOCK_KEY}))


def _one(session: Session, attempt_id: int, counts: dict[str, Any], work) -> Any:
    """``work()`` for one attempt in a SAVEPOINT: if it fails on the attempt's data
    (``call_event_apply.is_unstorable``) it is undone, the attempt's unapplied events are
    put aside for reconciliation and the sweep goes on; a failure of the database
    stops the sweep as before. Logged by attempt id and exception type only."""
    try:
        with session.begin_nested():
            return work()
    except Exception as exc:
        if not is_unstorable(exc):
            raise
        log.error("sweep: attempt %s could not be applied (%s)", attempt_id, type(exc).__name__)
        with session.begin_nested():
            put_aside(session, attempt_id)
        if attempt_id not in counts["put_aside"]:
            counts["put_aside"].append(attempt_id)
        return None


def sweep(session: Session, now: datetime, timeout_minutes: int | None = None) -> dict[str, Any]:
    """Close attempts stuck without a terminal event; re-apply events left unapplied.

    One attempt at a time: one whose events cannot be applied is put aside for
    reconciliation (its id in ``put_aside``), the others are swept all the same."""
    lock_sweep(session)
    if timeout_minutes is None:
        timeout_minutes = int(load_settings(session).attempt_timeout_minutes)
    cutoff = now - timedelta(minutes=timeout_minutes)
    counts: dict[str, Any] = {"swept": 0, "reapplied": 0, "put_aside": []}
    # Events stored but never applied (an apply that failed after the store committed).
    for attempt_id in pending_attempts(session):
        if _one(session, attempt_id, counts, lambda a=attempt_id: apply_to_attempt(session, a, now=now) or True) is not None:
            counts["reapplied"] += 1
    # Terminal attempts whose final hook never ran (a process died between the two).
    counts["finalized"] = sum(
        _one(session, attempt_id, counts, lambda a=attempt_id: finalize(session, [a], now=now)) or 0
        for attempt_id in unfinalized_attempts(session, ended_before=now)
    )
    stuck = session.scalars(
        select(CallAttempt.id)
        .where(CallAttempt.rank < TERMINAL_RANK, CallAttempt.started_at < cutoff)
        .order_by(CallAttempt.id)
    ).all()
    for attempt_id in stuck:
        attempt = _one(session, attempt_id, counts, lambda a=attempt_id: _close(session, a, timeout_minutes, now))
        if attempt is not None and attempt.rank == TERMINAL_RANK:
            attempt.swept_at = attempt.swept_at or now
            counts["swept"] += 1
    session.flush()
    counts["fallbacks"] = fallback.sweep_fallbacks(session, now=now)
    counts.update(imports.sweep_imports(session, now=now))
    counts["complaint_notices"] = complaints.notify_overdue(session, now=now)
    counts["campaigns"] = campaigns.release_due(session, now=now)  # R11: scheduled campaigns due
    counts.update(register.sweep_appointments(session, now=now))  # R17: reminders, arrivals, no-shows
    deadlines = counts["fallbacks"]
    log.info(
        "sweep: %d attempt(s) closed, %d re-applied, %d put aside; %d task(s) failed, %d expired, %d birthday fallback(s)",
        counts["swept"], counts["reapplied"], len(counts["put_aside"]),
        deadlines.get("failed", 0), deadlines.get("expired", 0), deadlines.get("birthday_fallbacks", 0),
    )  # fmt: skip
    return counts


def _close(session: Session, attempt_id: int, timeout_minutes: int, now: datetime) -> CallAttempt | None:
    """Store the synthetic ``failed`` event of a stuck attempt and apply it."""
    synthetic = NormalizedEvent(
        event_id=f"care:sweep:{attempt_id}", status=CallStatus.FAILED, provider=SWEEP_PROVIDER,
        raw_status="timeout", leg="customer",
    )
    row, _created = store_event(
        session, synthetic, kind=SWEEP, payload={"reason": "timeout", "timeout_minutes": timeout_minutes},
        attempt_ref=str(attempt_id), now=now,
    )
    return apply_event(session, row, now)

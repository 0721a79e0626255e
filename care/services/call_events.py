"""Provider call events: store raw (append-only, deduplicated), apply to the attempt, sweep.

``store_event`` inserts a ``CallEvent`` once per ``event_id`` (``INSERT … ON CONFLICT
DO NOTHING`` on SQLite and PostgreSQL, so a duplicate never aborts the transaction; a
SAVEPOINT + ``IntegrityError`` fallback elsewhere). ``apply_event`` locks the attempt
row (``SELECT … FOR UPDATE``; SQLite serializes writers), rebuilds every stored event of
the attempt from its raw payload and folds them with ``care.domain.callstate.fold``, so
arrival order and duplicates do not matter, then writes the state onto the attempt.

Decisions:

- **Two legs.** Twilio's REST call is the agent's leg; the customer's result is the
  ``<Dial action>`` (or a child leg's callbacks). Each leg is folded on its own and
  ``merge_legs`` takes the customer's leg as the attempt's state, filling missing fields
  (recording link, duration, cause) from the agent's. If only the agent's leg ended, the
  call is over: ``completed`` becomes completed/no_answer by the customer's answer, any
  other agent terminal (canceled, busy, failed …) is the attempt's. Generic events have
  one leg (the customer's).
- **Gather events** (IVR keys) are stored with kind ``gather`` and their digits in the
  payload; applying them only marks them applied (the survey reads them later).
- **Sweep** (telephony.md pitfall 4, a lost terminal event): an attempt not terminal
  ``timeout`` minutes after it started is closed as ``failed`` with ``swept_at`` set,
  by storing a synthetic event (provider ``care``, kind ``sweep``) and applying it, so
  that the rule "terminal is absorbing, the first terminal wins" also covers a late
  real terminal: it only fills in duration, cause and recording link. ``failed`` and
  not ``no_answer``: we do not know that the customer did not answer; the attempt
  still counts (R13).
- An event that matches no attempt is stored with ``unmatched=True`` and the reference
  as given (``attempt_ref``) for the reconciliation page; never an error.
- Hooks: ``care.services.fallback.on_attempt_final`` when an attempt becomes terminal and
  ``care.services.fallback.sweep_fallbacks`` in ``sweep``, when that module has them.

No phone numbers or payloads in log lines.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import logging
from collections.abc import Mapping
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from care.domain.callstate import (
    RANKS,
    TERMINAL_RANK,
    CallState,
    CallStatus,
    NormalizedEvent,
    fold,
    map_q850,
    map_twilio,
    q850_code,
)
from care.models import CallAttempt, CallEvent

log = logging.getLogger("care.call_events")

GATHER, DIAL, STATUS, SWEEP = "gather", "dial", "status", "sweep"
MAX_EVENT_ID = 120
MAX_REF = 40
MAX_ATTEMPT_ID = 2_147_483_647
SWEEP_PROVIDER = "care"


class EventError(ValueError):
    """The body is not an event we can read (the webhook answers 400)."""


# ------------------------------------------------------------------ parsing / rebuild


def _int_or_none(value: Any, name: str) -> int | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise EventError(f"{name} must be a whole number")
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().lstrip("-").isdigit() and value.strip().isascii():
        return int(value.strip())
    raise EventError(f"{name} must be a whole number")


def _parse_when(value: Any) -> datetime | None:
    if value is None or value == "":
        return None
    try:
        if isinstance(value, bool):
            raise EventError("occurred_at is not a time")
        if isinstance(value, int | float):
            return datetime.fromtimestamp(value, UTC)
        if isinstance(value, str):
            when = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
            return when if when.tzinfo else when.replace(tzinfo=UTC)
    except (ValueError, OverflowError, OSError) as exc:
        raise EventError("occurred_at is not a time") from exc
    raise EventError("occurred_at is not a time")


def _text(value: Any, name: str, limit: int) -> str | None:
    if value is None:
        return None
    if isinstance(value, int | float) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str):
        raise EventError(f"{name} must be text")
    value = value.strip()
    if len(value) > limit:
        raise EventError(f"{name} is too long")
    return value or None


def map_generic(body: Mapping[str, Any], *, event_id: str | None = None) -> NormalizedEvent:
    """A generic/simulator JSON event (interfaces.md) → ``NormalizedEvent``.

    Raises ``EventError`` for a missing ``event_id``, an unknown ``status`` or a field of
    the wrong type. ``status`` may be absent for an event that only carries data (a
    recording link, IVR digits) or derived from ``q850_cause``.
    """
    if not isinstance(body, Mapping):
        raise EventError("the body must be a JSON object")
    eid = event_id or _text(body.get("event_id"), "event_id", MAX_EVENT_ID)
    if not eid:
        raise EventError("event_id is missing")
    raw_cause = body.get("q850_cause")
    if raw_cause is not None and not isinstance(raw_cause, int | str) or isinstance(raw_cause, bool):
        raise EventError("q850_cause must be a number or a cause name")
    status = body.get("status")
    if status is not None and (not isinstance(status, str) or status not in RANKS):
        raise EventError("unknown status")
    if status is None and raw_cause not in (None, ""):
        # answered=True: a normal clearing is "completed"; the fold derives no_answer
        # from the missing answer evidence.
        status = map_q850(raw_cause, answered=True)
    duration = _int_or_none(body.get("duration_s"), "duration_s")
    recording = _text(body.get("recording_url"), "recording_url", 500)
    digits = _text(body.get("digits"), "digits", 32)
    if status is None and not (recording or digits or duration is not None):
        raise EventError("status is missing")
    answered = status in (CallStatus.ANSWERED, CallStatus.MACHINE) or (
        status == CallStatus.COMPLETED and (duration or 0) > 0
    )
    return NormalizedEvent(
        event_id=eid,
        status=status,
        provider="generic",
        raw_status=status or "",
        provider_call_id=_text(body.get("provider_call_id"), "provider_call_id", 80),
        attempt_id=_text(body.get("attempt_id"), "attempt_id", 200),
        leg="customer",
        sequence=_int_or_none(body.get("sequence"), "sequence"),
        occurred_at=_parse_when(body.get("occurred_at")),
        duration_s=duration,
        q850_cause=q850_code(raw_cause) if isinstance(raw_cause, int | str) else None,
        answered_by="machine" if status == CallStatus.MACHINE else None,
        answered=answered,
        recording_url=recording,
        digits=digits,
        raw=dict(body),
    )


def twilio_gather_event_id(headers_token: str | None, params: Mapping[str, str], attempt_ref: str | None, item: str | None) -> str:
    """Twilio's idempotency token when sent, else one id per (call, attempt, survey item)."""
    if headers_token:
        return f"twilio:gather:{headers_token.strip()[:90]}"
    key = json.dumps([params.get("CallSid") or "", attempt_ref or "", item or ""])
    return f"twilio:gather:{hashlib.sha256(key.encode()).hexdigest()[:32]}"


def rebuild(row: CallEvent) -> NormalizedEvent:
    """The ``NormalizedEvent`` of a stored row, from its raw payload (deterministic)."""
    payload = row.payload or {}
    if row.provider == SWEEP_PROVIDER:
        return NormalizedEvent(
            event_id=row.event_id, status=row.status or CallStatus.FAILED, provider=SWEEP_PROVIDER,
            raw_status=row.raw_status or "", leg="customer",
        )
    if row.provider == "twilio":
        return map_twilio(payload, dial=row.kind == DIAL, event_id=row.event_id)
    return map_generic(payload, event_id=row.event_id)


# ------------------------------------------------------------------------- storing


def _attempt_for(session: Session, ref: str | None, provider_call_id: str | None) -> CallAttempt | None:
    if ref is not None:
        text = ref.strip()
        if text.isascii() and text.isdigit() and 0 < int(text) <= MAX_ATTEMPT_ID:
            return session.get(CallAttempt, int(text))
        return None
    if provider_call_id:  # the correlation id the provider gave us back, never a number
        return session.scalar(
            select(CallAttempt).where(CallAttempt.provider_call_id == provider_call_id).order_by(CallAttempt.id).limit(1)
        )
    return None


def store_event(
    session: Session,
    event: NormalizedEvent,
    *,
    kind: str,
    payload: Mapping[str, Any],
    attempt_ref: str | None,
    now: datetime,
) -> tuple[CallEvent, bool]:
    """Store ``event`` once: ``(row, True)`` when new, ``(existing row, False)`` for a duplicate.

    On SQLite and PostgreSQL the insert comes first (``ON CONFLICT DO NOTHING``): on
    SQLite it takes the write lock before anything of the attempt is read.
    """
    attempt = _attempt_for(session, attempt_ref, event.provider_call_id if kind != GATHER else event.parent_call_id or event.provider_call_id)
    values = {
        "event_id": event.event_id,
        "attempt_id": attempt.id if attempt else None,
        "attempt_ref": (attempt_ref or "")[:MAX_REF] or None,
        "provider": event.provider,
        "kind": kind,
        "provider_call_id": (event.provider_call_id or "")[:80] or None,
        "status": event.status,
        "raw_status": (event.raw_status or "")[:40] or None,
        "sequence": event.sequence,
        "occurred_at": event.occurred_at,
        "received_at": now,
        "payload": dict(payload),
        "unmatched": attempt is None,
    }
    dialect = session.get_bind().dialect.name
    if dialect in ("sqlite", "postgresql"):
        if dialect == "sqlite":
            from sqlalchemy.dialects.sqlite import insert
        else:
            from sqlalchemy.dialects.postgresql import insert
        statement = (
            insert(CallEvent).values(**values).on_conflict_do_nothing(index_elements=["event_id"]).returning(CallEvent.id)
        )
        session.flush()
        new_id = session.execute(statement).scalar()
        if new_id is None:
            return session.scalar(select(CallEvent).where(CallEvent.event_id == event.event_id)), False
        return session.get(CallEvent, new_id), True
    existing = session.scalar(select(CallEvent).where(CallEvent.event_id == event.event_id))  # pragma: no cover
    if existing is not None:  # pragma: no cover - other databases
        return existing, False
    row = CallEvent(**values)  # pragma: no cover
    try:
        with session.begin_nested():
            session.add(row)
    except IntegrityError:
        return session.scalar(select(CallEvent).where(CallEvent.event_id == event.event_id)), False
    return row, True


# ------------------------------------------------------------------------ applying


def merge_legs(agent: CallState | None, customer: CallState | None) -> CallState:
    """The attempt's state from its agent and customer legs (see the module doc)."""
    if customer is None:
        return agent or CallState()
    if agent is None:
        return customer
    state = replace(
        customer,
        recording_url=customer.recording_url or agent.recording_url,
        duration_s=customer.duration_s if customer.duration_s is not None else agent.duration_s,
        q850_cause=customer.q850_cause if customer.q850_cause is not None else agent.q850_cause,
        sip_code=customer.sip_code if customer.sip_code is not None else agent.sip_code,
        provider_call_id=agent.provider_call_id or customer.provider_call_id,
    )
    if not customer.terminal and agent.terminal:
        if agent.ended_as == CallStatus.COMPLETED:
            outcome = CallStatus.COMPLETED if customer.answered else CallStatus.NO_ANSWER
        else:
            outcome = agent.status
        state = replace(state, status=outcome, rank=TERMINAL_RANK, sequence=agent.sequence, ended_as=agent.ended_as)
    return state


def attempt_state(rows: list[CallEvent]) -> CallState:
    """Fold the stored events of one attempt (gather events excluded) into its state."""
    legs: dict[str, list[NormalizedEvent]] = {"agent": [], "customer": []}
    for row in sorted(rows, key=lambda r: r.id):
        if row.kind == GATHER:
            continue
        try:
            event = rebuild(row)
        except EventError:  # stored but unreadable (cannot happen for checked events)
            continue
        legs["customer" if event.leg == "customer" else "agent"].append(event)
    agent = fold(legs["agent"]) if legs["agent"] else None
    customer = fold(legs["customer"]) if legs["customer"] else None
    return merge_legs(agent, customer)


def _fallback_hook(name: str):
    try:
        module = importlib.import_module("care.services.fallback")
    except ModuleNotFoundError as exc:
        if exc.name in ("care.services.fallback",):
            return None
        raise
    hook = getattr(module, name, None)
    return hook if callable(hook) else None


def _write_state(attempt: CallAttempt, state: CallState, now: datetime) -> None:
    attempt.status = state.status
    attempt.rank = state.rank
    attempt.sequence = state.sequence
    attempt.ended_as = state.ended_as
    # Not sticky: the agent's leg may report "answered" (the specialist picked up) until
    # the customer's leg reports; the fold of all events is the truth.
    attempt.answered = state.answered
    if state.answered:
        attempt.answered_at = state.answered_at or attempt.answered_at or now
    else:
        attempt.answered_at = None
    for name in ("duration_s", "q850_cause", "sip_code", "answered_by"):
        value = getattr(state, name)
        if value is not None and value != "":  # the fold of all events is the truth
            setattr(attempt, name, value)
    for name in ("recording_url", "provider_call_id"):  # never overwritten, never emptied
        value = getattr(state, name)
        if value and not getattr(attempt, name):
            setattr(attempt, name, value)
    if state.terminal:
        attempt.outcome = state.status
        attempt.counted = state.status != CallStatus.CANCELED
        attempt.ended_at = attempt.ended_at or now


def apply_to_attempt(session: Session, attempt_id: int, *, now: datetime) -> CallAttempt | None:
    """Lock the attempt, fold all its stored events, write the state; run the final hook."""
    if session.get_bind().dialect.name == "sqlite":
        # SQLite has no row locks: a no-op write takes the database's write lock before
        # the events are read (pysqlite begins the transaction at the first write).
        session.execute(
            update(CallAttempt).where(CallAttempt.id == attempt_id).values(rank=CallAttempt.rank)
            .execution_options(synchronize_session=False)
        )
    # FOR NO KEY UPDATE (key_share=True): the event rows' foreign keys hold KEY SHARE
    # locks on the attempt; plain FOR UPDATE would deadlock two concurrent webhooks.
    attempt = session.scalar(
        select(CallAttempt).where(CallAttempt.id == attempt_id).with_for_update(key_share=True).execution_options(populate_existing=True)
    )
    if attempt is None:
        return None
    was_terminal = attempt.rank == TERMINAL_RANK
    rows = list(
        session.scalars(
            select(CallEvent).where(CallEvent.attempt_id == attempt_id).execution_options(populate_existing=True)
        )
    )
    state = attempt_state(rows)
    _write_state(attempt, state, now)
    for row in rows:
        if row.applied_at is None:
            row.applied_at = now
    session.flush()
    if state.terminal and not was_terminal:
        hook = _fallback_hook("on_attempt_final")
        if hook is not None:
            hook(session, attempt, now=now)
    return attempt


def apply_event(session: Session, event_row: CallEvent, now: datetime) -> CallAttempt | None:
    """Apply a stored event: folds all events of its attempt; None when it has no attempt."""
    if event_row.attempt_id is None:
        return None
    return apply_to_attempt(session, event_row.attempt_id, now=now)


def receive(
    session: Session,
    event: NormalizedEvent,
    *,
    kind: str,
    payload: Mapping[str, Any],
    attempt_ref: str | None,
    now: datetime,
) -> tuple[CallEvent, bool]:
    """Store and apply in one go (tests, the simulator): ``(row, created)``."""
    row, created = store_event(session, event, kind=kind, payload=payload, attempt_ref=attempt_ref, now=now)
    if row.attempt_id is not None and (created or row.applied_at is None):
        apply_event(session, row, now)
    return row, created


# ---------------------------------------------------------------------- reconciling


def unmatched_statement():
    return (
        select(CallEvent)
        .where(CallEvent.unmatched.is_(True), CallEvent.reconciled_at.is_(None))
        .order_by(CallEvent.received_at.desc(), CallEvent.id.desc())
    )


class ReconcileError(ValueError):
    """Refused: ``template`` is an English message id for the page."""

    def __init__(self, template: str, **params: Any):
        self.template = template
        self.params = params
        super().__init__(template % params if params else template)


def match_event(session: Session, event_row: CallEvent, attempt_id: int, *, user_id: int | None, now: datetime) -> CallAttempt:
    from care.domain import N_

    if event_row.reconciled_at is not None or not event_row.unmatched:
        raise ReconcileError(N_("This event has already been reconciled."))
    attempt = session.get(CallAttempt, attempt_id)
    if attempt is None:
        raise ReconcileError(N_("There is no call attempt %(id)s."), id=attempt_id)
    event_row.attempt_id = attempt.id
    event_row.unmatched = False
    event_row.reconciled_at = now
    event_row.reconciled_by_id = user_id
    session.flush()
    apply_to_attempt(session, attempt.id, now=now)
    return attempt


def dismiss_event(session: Session, event_row: CallEvent, *, user_id: int | None, now: datetime) -> None:
    from care.domain import N_

    if event_row.reconciled_at is not None:
        raise ReconcileError(N_("This event has already been reconciled."))
    event_row.reconciled_at = now
    event_row.reconciled_by_id = user_id
    session.flush()


# ----------------------------------------------------------------------------- sweep


def sweep(session: Session, now: datetime, timeout_minutes: int | None = None) -> dict:
    """Close attempts stuck without a terminal event; re-apply events left unapplied."""
    if timeout_minutes is None:
        from care.services.settings import load_settings

        timeout_minutes = int(load_settings(session).attempt_timeout_minutes)
    cutoff = now - timedelta(minutes=timeout_minutes)
    counts: dict[str, Any] = {"swept": 0, "reapplied": 0}
    # Events stored but never applied (an apply that failed after the store committed).
    pending = session.scalars(
        select(CallEvent.attempt_id)
        .where(CallEvent.applied_at.is_(None), CallEvent.attempt_id.is_not(None))
        .distinct()
    ).all()
    for attempt_id in pending:
        apply_to_attempt(session, attempt_id, now=now)
        counts["reapplied"] += 1
    stuck = session.scalars(
        select(CallAttempt.id)
        .where(CallAttempt.rank < TERMINAL_RANK, CallAttempt.started_at < cutoff)
        .order_by(CallAttempt.id)
    ).all()
    for attempt_id in stuck:
        synthetic = NormalizedEvent(
            event_id=f"care:sweep:{attempt_id}", status=CallStatus.FAILED, provider=SWEEP_PROVIDER,
            raw_status="timeout", leg="customer",
        )
        row, _created = store_event(
            session, synthetic, kind=SWEEP, payload={"reason": "timeout", "timeout_minutes": timeout_minutes},
            attempt_ref=str(attempt_id), now=now,
        )
        attempt = apply_event(session, row, now)
        if attempt is not None and attempt.rank == TERMINAL_RANK:
            attempt.swept_at = attempt.swept_at or now
            counts["swept"] += 1
    session.flush()
    hook = _fallback_hook("sweep_fallbacks")
    if hook is not None:
        result = hook(session, now=now)
        counts["fallbacks"] = result if isinstance(result, dict | int) or result is None else str(result)
    log.info("sweep: %d attempt(s) closed, %d re-applied", counts["swept"], counts["reapplied"])
    return counts

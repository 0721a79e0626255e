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
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple

from sqlalchemy import Integer, String, bindparam, case, false, func, null, select, true, update
from sqlalchemy.engine import Engine
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


def _correlation_id(event: NormalizedEvent, kind: str) -> str | None:
    """The provider call id an event is matched by when no attempt id came back."""
    return (event.parent_call_id or event.provider_call_id) if kind == GATHER else event.provider_call_id


def _event_values(
    event: NormalizedEvent, *, kind: str, payload: Mapping[str, Any], attempt_ref: str | None, now: datetime
) -> dict[str, Any]:
    """A stored event's columns, but for its attempt (``attempt_id``, ``unmatched``)."""
    return {
        "event_id": event.event_id,
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
    }


def _attempt_ref_id(ref: str) -> int | None:
    """The attempt id an ``attempt`` reference names, or None when it names none."""
    text = ref.strip()
    return int(text) if text.isascii() and text.isdigit() and 0 < int(text) <= MAX_ATTEMPT_ID else None


def _attempt_for(session: Session, ref: str | None, provider_call_id: str | None) -> CallAttempt | None:
    if ref is not None:
        attempt_id = _attempt_ref_id(ref)
        return session.get(CallAttempt, attempt_id) if attempt_id is not None else None
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
    attempt = _attempt_for(session, attempt_ref, _correlation_id(event, kind))
    values = {
        **_event_values(event, kind=kind, payload=payload, attempt_ref=attempt_ref, now=now),
        "attempt_id": attempt.id if attempt else None,
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


_INGEST_COLUMNS = (
    "event_id", "attempt_ref", "provider", "kind", "provider_call_id", "status", "raw_status",
    "sequence", "occurred_at", "received_at", "payload",
)  # fmt: skip
_ingest_statements: dict[tuple[str, str], _CompiledInsert] = {}


class _CompiledInsert:
    """The ingest INSERT compiled once for a dialect: SQL text, parameter order, and each
    parameter's bind processor (``TypeEngine.bind_processor``: JSON, datetimes), so that a
    webhook runs it on a DB-API cursor without SQLAlchemy's per-execution work."""

    def __init__(self, statement, dialect):
        compiled = statement.compile(dialect=dialect)
        self.sql = str(compiled)
        self.positional = bool(compiled.positional)
        self.names = list(compiled.positiontup) if self.positional else list(compiled.binds)
        self.processors = {
            name: bind.type.dialect_impl(dialect).bind_processor(dialect) for name, bind in compiled.binds.items()
        }
        # values the statement carries itself (the subquery's LIMIT 1)
        self.defaults = {name: bind.effective_value for name, bind in compiled.binds.items() if not bind.required}

    def parameters(self, values: Mapping[str, Any]):
        processed = {}
        for name, processor in self.processors.items():
            value = values[name] if name in values else self.defaults.get(name)
            processed[name] = processor(value) if processor is not None and value is not None else value
        return [processed[name] for name in self.names] if self.positional else processed


def _ingest_statement(dialect, by: str) -> _CompiledInsert:
    """The INSERT of :func:`ingest`, built and compiled once per (dialect, how the
    attempt is found).

    ``by`` is ``id`` (the ``attempt`` we sent), ``call`` (the provider's call id) or
    ``none``; the attempt id is a scalar subquery of the INSERT, ``unmatched`` follows
    from it.
    """
    key = (dialect.name, by)
    compiled = _ingest_statements.get(key)
    if compiled is not None:
        return compiled
    if dialect.name == "sqlite":
        from sqlalchemy.dialects.sqlite import insert
    else:
        from sqlalchemy.dialects.postgresql import insert
    table = CallEvent.__table__
    values: dict[str, Any] = {name: bindparam(name, type_=table.c[name].type) for name in _INGEST_COLUMNS}
    if by == "id":
        attempt = select(CallAttempt.id).where(CallAttempt.id == bindparam("ref_id", type_=Integer())).scalar_subquery()
    elif by == "call":
        attempt = (
            select(CallAttempt.id)
            .where(CallAttempt.provider_call_id == bindparam("ref_call", type_=String()))
            .order_by(CallAttempt.id)
            .limit(1)
            .scalar_subquery()
        )
    else:
        attempt = None
    values["attempt_id"] = attempt if attempt is not None else null()
    values["unmatched"] = case((attempt.is_(None), true()), else_=false()) if attempt is not None else true()
    statement = (
        insert(table)
        .values(values)
        .on_conflict_do_nothing(index_elements=["event_id"])
        .returning(table.c.id, table.c.attempt_id)
    )
    compiled = _ingest_statements[key] = _CompiledInsert(statement, dialect)
    return compiled


class Ingested(NamedTuple):
    """What :func:`ingest` stored: ``id`` None for a duplicate; ``attempt_id`` None if unmatched."""

    id: int | None
    attempt_id: int | None

    @property
    def created(self) -> bool:
        return self.id is not None


def ingest(
    engine: Engine,
    event: NormalizedEvent,
    *,
    kind: str,
    payload: Mapping[str, Any],
    attempt_ref: str | None,
    now: datetime,
) -> Ingested:
    """The webhook's whole database work: one ``INSERT … ON CONFLICT DO NOTHING RETURNING``
    in a transaction of its own, committed here.

    The attempt is resolved inside the statement (a scalar subquery on the attempt id, or
    on the provider's call id when no id came back), so a fresh event costs one round
    trip and a duplicate costs the same one and nothing more. Applying is left to the
    caller (``care.applier``, after this commit).

    The statement is SQLAlchemy's, compiled once; it runs on a pooled DB-API connection
    (``engine.raw_connection()``): the Connection/Result layers were half the cost of a
    callback and give nothing to a single INSERT. SQLite and PostgreSQL (``ON
    CONFLICT``), the two databases Care Desk runs on.
    """
    call_id = _correlation_id(event, kind)
    values = _event_values(event, kind=kind, payload=payload, attempt_ref=attempt_ref, now=now)
    by = "none"
    if attempt_ref is not None:
        attempt_id = _attempt_ref_id(attempt_ref)
        if attempt_id is not None:
            by, values["ref_id"] = "id", attempt_id
    elif call_id:
        by, values["ref_call"] = "call", call_id
    statement = _ingest_statement(engine.dialect, by)
    parameters = statement.parameters(values)
    for retry in (False, True):
        connection = engine.raw_connection()
        try:
            cursor = connection.cursor()
            try:
                cursor.execute(statement.sql, parameters)
                row = cursor.fetchone()
            finally:
                cursor.close()
            connection.commit()
            break
        except engine.dialect.loaded_dbapi.Error as exc:
            # A connection the database dropped (a restart): the engine used here pings
            # nothing on checkout, so discard it and try once more on a fresh one.
            if not retry and engine.dialect.is_disconnect(exc, connection.dbapi_connection, None):
                connection.invalidate(exc)
                continue
            connection.rollback()
            raise
        except BaseException:
            connection.rollback()
            raise
        finally:
            connection.close()  # back to the pool (or, invalidated, closed)
    return Ingested(None, None) if row is None else Ingested(row[0], row[1])


def ingest_engine(app) -> Engine:
    """The engine :func:`ingest` runs on: the app's, without the checkout ping.

    The app's PostgreSQL pool pings each connection on checkout (``pool_pre_ping``): a
    round trip more than the INSERT itself; :func:`ingest` handles a dropped connection
    instead (retry once). A second, small pool per process with the same options; on
    SQLite, which pings nothing, the app's own engine.
    """
    own = app.extensions.get("care_ingest_engine")  # every callback asks: the answer is kept
    if own is not None:
        return own
    from sqlalchemy import create_engine

    from care.extensions import db

    engine = db.engine
    options = dict(app.config.get("SQLALCHEMY_ENGINE_OPTIONS") or {})
    if engine.dialect.name != "sqlite" and options.get("pool_pre_ping"):
        options.update(pool_pre_ping=False, pool_size=2, max_overflow=8)
        engine = create_engine(engine.url, **options)
    return app.extensions.setdefault("care_ingest_engine", engine)


def pending_attempts(session: Session, *, received_before: datetime | None = None, limit: int | None = None) -> list[int]:
    """Attempts with stored events not yet applied (oldest first)."""
    query = (
        select(CallEvent.attempt_id)
        .where(CallEvent.applied_at.is_(None), CallEvent.attempt_id.is_not(None))
        .group_by(CallEvent.attempt_id)
        .order_by(func.min(CallEvent.id))
    )
    if received_before is not None:
        query = query.where(CallEvent.received_at < received_before)
    if limit is not None:
        query = query.limit(limit)
    return list(session.scalars(query))


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


# The attempt's columns the apply reads (besides id and the version) and writes.
_STATE_READ = ("rank", "events_folded", "answered_at", "ended_at", "recording_url", "provider_call_id")
APPLY_CHUNK = 25  # attempts per round trip of reads and per write transaction of the applier
APPLY_RETRIES = 5  # optimistic writes lost to a concurrent apply before giving up (rescan)


def _state_values(old: Any, state: CallState, now: datetime) -> dict[str, Any]:
    """The attempt's new column values: ``old`` is its row as read (the fold is the truth)."""
    values: dict[str, Any] = {
        "status": state.status,
        "rank": state.rank,
        "sequence": state.sequence,
        "ended_as": state.ended_as,
        # Not sticky: the agent's leg may report "answered" (the specialist picked up)
        # until the customer's leg reports; the fold of all events is the truth.
        "answered": state.answered,
        "answered_at": (state.answered_at or old.answered_at or now) if state.answered else None,
        "updated_at": now,
    }
    for name in ("duration_s", "q850_cause", "sip_code", "answered_by"):
        value = getattr(state, name)
        if value is not None and value != "":
            values[name] = value
    for name in ("recording_url", "provider_call_id"):  # never overwritten, never emptied
        value = getattr(state, name)
        if value and not getattr(old, name):
            values[name] = value
    if state.terminal:
        values["outcome"] = state.status
        values["counted"] = state.status != CallStatus.CANCELED
        values["ended_at"] = old.ended_at or now
    return values


@dataclass(frozen=True)
class PlannedApply:
    """What :func:`plan_apply` read and folded for one attempt, for :func:`write_apply`."""

    attempt_id: int
    version: int  # ``events_folded`` as read: the write is conditional on it
    values: dict[str, Any] | None  # the new column values; None: no new event, nothing to write
    newly_terminal: bool  # and its final hook is to run (not for a reached customer)
    unapplied: tuple[int, ...]  # its events whose ``applied_at`` is still empty


def plan_apply(session: Session, attempt_ids: list[int] | set[int], *, now: datetime) -> list[PlannedApply]:
    """Read and fold, write nothing (on SQLite: no lock taken). See :func:`apply_attempts`."""
    attempts_t, events_t = CallAttempt.__table__, CallEvent.__table__
    session.flush()
    connection = session.connection()
    plans: list[PlannedApply] = []
    needs_hook = _fallback_hook("needs_final_hook")
    ids = sorted(set(attempt_ids))
    for start in range(0, len(ids), APPLY_CHUNK):
        chunk = ids[start : start + APPLY_CHUNK]
        # the attempt first, then its events: the events read contain those behind its version
        olds = {
            row.id: row
            for row in connection.execute(
                select(attempts_t.c.id, *(attempts_t.c[name] for name in _STATE_READ)).where(attempts_t.c.id.in_(chunk))
            )
        }
        by_attempt: dict[int, list[Any]] = {attempt_id: [] for attempt_id in olds}
        for row in connection.execute(
            select(
                events_t.c.id, events_t.c.attempt_id, events_t.c.event_id, events_t.c.provider, events_t.c.kind,
                events_t.c.status, events_t.c.raw_status, events_t.c.payload, events_t.c.applied_at,
            )
            .where(events_t.c.attempt_id.in_(list(olds)))
            .order_by(events_t.c.id)
        ):
            by_attempt[row.attempt_id].append(row)
        for attempt_id, rows in by_attempt.items():
            old = olds[attempt_id]
            unapplied = tuple(row.id for row in rows if row.applied_at is None)
            if len(rows) == old.events_folded:  # the same set: the state is already its fold
                plans.append(PlannedApply(attempt_id, old.events_folded, None, False, unapplied))
                continue
            state = attempt_state(rows)
            values = _state_values(old, state, now)
            values["events_folded"] = len(rows)
            terminal = state.terminal and old.rank != TERMINAL_RANK
            if terminal and needs_hook is not None and not needs_hook(state.status):
                values["finalized_at"] = now  # a reached customer: the final hook has nothing to do
                terminal = False
            plans.append(PlannedApply(attempt_id, old.events_folded, values, terminal, unapplied))
    return plans


def write_apply(session: Session, plans: list[PlannedApply], *, now: datetime) -> tuple[list[int], list[int]]:
    """The writes of :func:`plan_apply`'s plans: ``(newly terminal ids, lost ids)``.

    Each attempt's UPDATE is conditional on the version read; a lost one (a concurrent
    apply wrote first) changes nothing and its id comes back for a fresh plan. Nothing
    but these statements runs here, so the applier can hold its write gate around this
    and the commit only.
    """
    attempts_t, events_t = CallAttempt.__table__, CallEvent.__table__
    connection = session.connection()
    final: list[int] = []
    lost: list[int] = []
    applied: list[int] = []
    for plan in plans:
        if plan.values is not None:
            result = connection.execute(
                update(attempts_t)
                .where(attempts_t.c.id == plan.attempt_id, attempts_t.c.events_folded == plan.version)
                .values(plan.values)
            )
            if result.rowcount != 1:
                lost.append(plan.attempt_id)
                continue
            if plan.newly_terminal:
                final.append(plan.attempt_id)
        applied.extend(plan.unapplied)
    if applied:
        connection.execute(
            update(events_t).where(events_t.c.id.in_(applied), events_t.c.applied_at.is_(None)).values(applied_at=now)
        )
    return final, lost


def apply_attempts(session: Session, attempt_ids: list[int] | set[int], *, now: datetime) -> list[int]:
    """Fold every stored event of these attempts onto them; returns the newly terminal ones.

    Optimistic, so that nothing is locked while events are read and folded (on SQLite the
    write lock is what every webhook waits for): the attempt row is read first with its
    version ``events_folded`` (how many events its state was folded from), then its
    events. Events are append-only, so this set contains the one behind that version; the
    write is ``UPDATE … WHERE events_folded = <as read>`` and sets the new count. A write
    that lost against a concurrent apply (another worker, ``care sweep``) touches no row
    and is retried from fresh reads; the same count means the same set, nothing to write.
    The caller runs :func:`finalize` for the returned ids (the fallback hook).

    Attempts that keep losing (more than :data:`APPLY_RETRIES` times) are left with
    their events unapplied for the next apply; they are not in the result.
    """
    return apply_rounds(session, attempt_ids, now=now)[0]


def apply_rounds(
    session: Session,
    attempt_ids: list[int] | set[int],
    *,
    now: datetime,
    write: Callable[..., tuple[list[int], list[int]]] | None = None,
) -> tuple[list[int], list[int]]:
    """:func:`apply_attempts`' rounds of plan and write: ``(newly terminal, still lost)``.

    ``write`` replaces :func:`write_apply` (same arguments): the applier wraps it in its
    write gate and commits each round there.
    """
    final: list[int] = []
    todo = sorted(set(attempt_ids))
    for _round in range(APPLY_RETRIES + 1):
        if not todo:
            break
        done, todo = (write or write_apply)(session, plan_apply(session, todo, now=now), now=now)
        final.extend(done)
    if todo:
        log.warning("apply: %d attempt(s) lost %d optimistic writes in a row; left for the rescan", len(todo), APPLY_RETRIES + 1)
    return final, todo




def run_final_hooks(session: Session, attempt_ids: list[int], *, now: datetime) -> list[int]:
    """``care.services.fallback.on_attempt_final`` for those of these attempts that are
    terminal and not yet finalized; returns their ids, for :func:`claim_finalized`.

    The hooks read first and write seldom (a fallback to queue, a task to block): on
    SQLite most take no lock. ``finalized_at`` is then set by :func:`claim_finalized`;
    the applier does that in a transaction after the one that wrote the state, so a
    process that dies in between leaves it empty and :func:`unfinalized_attempts` finds
    the attempt again (the applier's rescan, ``care sweep``). Should two runs meet on one
    attempt, the hook is idempotent (one reminder failure per task, outbox keys).
    """
    hook = _fallback_hook("on_attempt_final") if attempt_ids else None
    ran: list[int] = []
    for attempt_id in attempt_ids:
        attempt = session.get(CallAttempt, attempt_id, populate_existing=True)
        if attempt is None or attempt.finalized_at is not None or attempt.rank != TERMINAL_RANK:
            continue
        if hook is not None:
            hook(session, attempt, now=now)
        ran.append(attempt_id)
    session.flush()
    return ran


def claim_finalized(session: Session, attempt_ids: list[int], *, now: datetime) -> int:
    """Mark the final hook of these attempts as run (one UPDATE); returns how many."""
    if not attempt_ids:
        return 0
    table = CallAttempt.__table__
    claimed = session.execute(
        update(table).where(table.c.id.in_(attempt_ids), table.c.finalized_at.is_(None)).values(finalized_at=now)
    ).rowcount
    for attempt_id in attempt_ids:
        attempt = session.identity_map.get(session.identity_key(CallAttempt, attempt_id))
        if attempt is not None:
            session.expire(attempt, ["finalized_at"])
    return claimed


def finalize(session: Session, attempt_ids: list[int], *, now: datetime) -> int:
    """:func:`run_final_hooks` and :func:`claim_finalized` in the caller's transaction."""
    return claim_finalized(session, run_final_hooks(session, attempt_ids, now=now), now=now)


def unfinalized_attempts(session: Session, *, ended_before: datetime, limit: int | None = None) -> list[int]:
    """Terminal attempts whose final hook has not run (see :func:`run_final_hooks`)."""
    query = (
        select(CallAttempt.id)
        .where(
            CallAttempt.rank == TERMINAL_RANK,
            CallAttempt.finalized_at.is_(None),
            CallAttempt.updated_at < ended_before,
        )
        .order_by(CallAttempt.id)
    )
    return list(session.scalars(query.limit(limit) if limit is not None else query))


def apply_to_attempt(session: Session, attempt_id: int, *, now: datetime) -> CallAttempt | None:
    """Apply one attempt and run its final hook; the attempt as it is now (or None)."""
    finalize(session, apply_attempts(session, [attempt_id], now=now), now=now)
    attempt = session.get(CallAttempt, attempt_id, populate_existing=True)
    for row in session.identity_map.values():  # the ORM copies of its events: applied_at
        if isinstance(row, CallEvent) and row.attempt_id == attempt_id and row.applied_at is None:
            session.expire(row, ["applied_at"])
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
    for attempt_id in pending_attempts(session):
        apply_to_attempt(session, attempt_id, now=now)
        counts["reapplied"] += 1
    # Terminal attempts whose final hook never ran (a process died between the two).
    counts["finalized"] = finalize(session, unfinalized_attempts(session, ended_before=now), now=now)
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

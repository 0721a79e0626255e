"""Storing provider call events: append-only, once per ``event_id``.

Two ways in, one row each:

- :func:`ingest`, the webhook's whole database work: one ``INSERT … ON CONFLICT DO
  NOTHING RETURNING`` compiled once and run on a pooled DB-API connection of
  :func:`ingest_engine`, committed there; the attempt is resolved by a subquery inside it.
- :func:`store_event`, the same row through the caller's session (the simulator, the
  sweep's synthetic events, tests): a duplicate never aborts the transaction (``ON
  CONFLICT DO NOTHING`` on SQLite and PostgreSQL; a SAVEPOINT + ``IntegrityError``
  elsewhere).

An event that matches no attempt is stored with ``unmatched=True`` and the reference as
given (``attempt_ref``) for the reconciliation page; never an error. :func:`rebuild`
reads a stored row back into its ``NormalizedEvent`` (by the provider's own parser), for
the fold of ``care.services.call_event_apply``.

Gather events (IVR keys) are stored with kind ``gather`` and their digits in the
payload. No phone numbers or payloads in log lines.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import Integer, String, bindparam, case, create_engine, false, null, select, true
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from care.domain.callstate import CallStatus, NormalizedEvent, map_twilio
from care.models import CallAttempt, CallEvent
from care.models.types import MAX_INTEGER
from care.telephony.generic import map_generic

GATHER, DIAL, STATUS, SWEEP, MANUAL = "gather", "dial", "status", "sweep", "manual"  # CallEvent.kind
MAX_REF = 40
SWEEP_PROVIDER = "care"  # the provider of our own synthetic events (the sweep's, hand-recorded results)


def rebuild(row: CallEvent) -> NormalizedEvent:
    """The ``NormalizedEvent`` of a stored row, from its raw payload (deterministic)."""
    payload = row.payload or {}
    if row.provider == SWEEP_PROVIDER:
        # A hand-recorded "reached" (care.services.manual_calls) is an answered call, at
        # the time the specialist gave.
        manual = row.kind == MANUAL
        at = payload.get("at") if manual else None
        return NormalizedEvent(
            event_id=row.event_id, status=row.status or CallStatus.FAILED, provider=SWEEP_PROVIDER,
            raw_status=row.raw_status or "", leg="customer",
            occurred_at=datetime.fromisoformat(at) if isinstance(at, str) else None,
            answered=manual and row.status == CallStatus.COMPLETED,
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
    return int(text) if text.isascii() and text.isdigit() and 0 < int(text) <= MAX_INTEGER else None


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


def ingest_engine(engine: Engine, options: Mapping[str, Any]) -> Engine:
    """The engine :func:`ingest` runs on, given the app's ``engine`` and the ``options``
    it was made with (``SQLALCHEMY_ENGINE_OPTIONS``): that engine, without the checkout
    ping.

    The app's PostgreSQL pool pings each connection on checkout (``pool_pre_ping``): a
    round trip more than the INSERT itself; :func:`ingest` handles a dropped connection
    instead (retry once). So a second, small pool with the same options; on SQLite,
    which pings nothing, the app's own engine. The caller keeps it (one per process:
    ``care.web.webhooks.ingest_engine``).
    """
    if engine.dialect.name == "sqlite" or not options.get("pool_pre_ping"):
        return engine
    return create_engine(engine.url, **{**options, "pool_pre_ping": False, "pool_size": 2, "max_overflow": 8})

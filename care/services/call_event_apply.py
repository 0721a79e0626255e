"""Applying stored call events to their attempt: plan and write, the final hooks.

The fold: every stored event of the attempt is rebuilt from its raw payload
(``call_event_store.rebuild``) and folded with ``care.domain.callstate.fold``, so arrival
order and duplicates do not matter; the state is written onto the attempt.

- **Optimistic writes.** :func:`plan_apply` reads the attempt (with its version
  ``events_folded``), then its events, and folds them without a lock;
  :func:`write_apply` writes ``UPDATE … WHERE events_folded = <as read>``. A write lost
  to a concurrent apply is planned again from fresh reads (:func:`apply_rounds`).
- **Two legs.** Twilio's REST call is the agent's leg; the customer's result is the
  ``<Dial action>`` (or a child leg's callbacks). Each leg is folded on its own and
  :func:`merge_legs` takes the customer's leg as the attempt's state, filling missing
  fields (recording link, duration, cause) from the agent's. If only the agent's leg
  ended, the call is over: ``completed`` becomes completed/no_answer by the customer's
  answer, any other agent terminal (canceled, busy, failed …) is the attempt's. Generic
  events have one leg (the customer's).
- **Gather events** (IVR keys) are not folded; applying them puts each answer on the
  call's IVR survey (the handler registered with :func:`on_gather`:
  ``care.services.phone_survey.apply_gathers``) in the transaction that marks them
  applied.
- **The final hook**: ``care.services.fallback.on_attempt_final`` once an attempt is
  terminal (:func:`run_final_hooks`), recorded by ``finalized_at``
  (:func:`claim_finalized`), skipped for a reached customer
  (``fallback.needs_final_hook``).

No phone numbers or payloads in log lines.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.exc import DataError, DBAPIError, StatementError
from sqlalchemy.orm import Session

from care.domain.callstate import (
    TERMINAL_RANK,
    CallState,
    CallStatus,
    NormalizedEvent,
    event_problem,
    fold,
)
from care.models import CallAttempt, CallEvent
from care.services import fallback
from care.services.call_event_store import GATHER, rebuild, store_event
from care.telephony.base import EventError

log = logging.getLogger("care.call_events")


# Who takes the IVR answers of gather events when they are applied, in the transaction
# that marks them applied: ``handler(session, attempt_id, event_ids, now=…)``.
# care.services.phone_survey registers itself when imported (with the app's blueprints):
# it needs the outcomes, which need this module, so it cannot be imported from here.
_gather_handlers: list[Callable[..., Any]] = []


def on_gather(handler: Callable[..., Any]) -> None:
    if handler not in _gather_handlers:
        _gather_handlers.append(handler)


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
        if event_problem(event):  # out of range, stored before the webhooks checked: skipped
            log.warning("call event %s skipped by the fold: a value out of range", row.id)
            continue
        legs["customer" if event.leg == "customer" else "agent"].append(event)
    agent = fold(legs["agent"]) if legs["agent"] else None
    customer = fold(legs["customer"]) if legs["customer"] else None
    return merge_legs(agent, customer)


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
    gathers: tuple[int, ...] = ()  # those of them that are IVR answers


def plan_apply(session: Session, attempt_ids: list[int] | set[int], *, now: datetime) -> list[PlannedApply]:
    """Read and fold, write nothing (on SQLite: no lock taken). See :func:`apply_attempts`."""
    attempts_t, events_t = CallAttempt.__table__, CallEvent.__table__
    session.flush()
    connection = session.connection()
    plans: list[PlannedApply] = []
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
            gathers = tuple(row.id for row in rows if row.applied_at is None and row.kind == GATHER)
            if len(rows) == old.events_folded:  # the same set: the state is already its fold
                plans.append(PlannedApply(attempt_id, old.events_folded, None, False, unapplied, gathers))
                continue
            state = attempt_state(rows)
            values = _state_values(old, state, now)
            values["events_folded"] = len(rows)
            terminal = state.terminal and old.rank != TERMINAL_RANK
            if terminal and not fallback.needs_final_hook(state.status):
                values["finalized_at"] = now  # a reached customer: the final hook has nothing to do
                terminal = False
            plans.append(PlannedApply(attempt_id, old.events_folded, values, terminal, unapplied, gathers))
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
        for handler in _gather_handlers if plan.gathers else ():
            handler(session, plan.attempt_id, plan.gathers, now=now)
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
    ran: list[int] = []
    for attempt_id in attempt_ids:
        attempt = session.get(CallAttempt, attempt_id, populate_existing=True)
        if attempt is None or attempt.finalized_at is not None or attempt.rank != TERMINAL_RANK:
            continue
        fallback.on_attempt_final(session, attempt, now=now)
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


# ------------------------------------------------------------- putting one aside


def is_unstorable(exc: BaseException) -> bool:
    """Whether an apply failed on the data (a value the database or Python cannot take),
    not on the database (down, locked): that attempt will fail the same way every time."""
    if isinstance(exc, DataError):
        return True
    if isinstance(exc, DBAPIError):
        return False
    if isinstance(exc, StatementError) and exc.orig is not None:
        exc = exc.orig
    return isinstance(exc, ArithmeticError | ValueError | TypeError | LookupError | RecursionError)


def put_aside(session: Session, attempt_id: int) -> int:
    """Take an attempt's unapplied events off it for reconciliation: the apply of that
    attempt failed on its data. They become unmatched events with the attempt's id as
    their reference (the reconciliation page lists them; matching one there applies it
    again, or says why it cannot); the attempt keeps the state of the events applied
    before, which is exactly the set its version ``events_folded`` counts. Returns how
    many events were put aside. Nothing of the events goes to the log."""
    table = CallEvent.__table__
    count = session.execute(
        update(table)
        .where(table.c.attempt_id == attempt_id, table.c.applied_at.is_(None))
        .values(attempt_id=None, unmatched=True, attempt_ref=str(attempt_id))
    ).rowcount
    log.warning("attempt %s: %d event(s) could not be applied and were put aside for reconciliation", attempt_id, count)
    return count


# ---------------------------------------------------------------------- reconciling

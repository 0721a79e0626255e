"""Reconciliation of provider events that matched no call attempt (telephony.md).

An event whose attempt could not be found is stored ``unmatched`` (never an error);
a care manager attaches it to an attempt (:func:`match_event`, which applies it) or
dismisses it (:func:`dismiss_event`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from care.domain import N_
from care.domain.callstate import event_problem
from care.models import CallAttempt, CallEvent
from care.services.call_event_apply import apply_to_attempt, is_unstorable
from care.services.call_event_store import rebuild
from care.telephony.base import EventError


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
    if event_row.reconciled_at is not None or not event_row.unmatched:
        raise ReconcileError(N_("This event has already been reconciled."))
    attempt = session.get(CallAttempt, attempt_id)
    if attempt is None:
        raise ReconcileError(N_("There is no call attempt %(id)s."), id=attempt_id)
    try:
        readable = not event_problem(rebuild(event_row))
    except EventError:
        readable = False
    if not readable:  # stored before the webhooks checked ranges, or put aside
        raise ReconcileError(N_("This event carries values that cannot be applied to a call attempt: dismiss it."))
    event_row.attempt_id = attempt.id
    event_row.unmatched = False
    event_row.reconciled_at = now
    event_row.reconciled_by_id = user_id
    session.flush()
    try:
        apply_to_attempt(session, attempt.id, now=now)
    except Exception as exc:
        if not is_unstorable(exc):
            raise
        # the caller rolls back (the page refuses with this message)
        raise ReconcileError(
            N_("The events of call attempt %(id)s cannot be applied together with this one: dismiss it."), id=attempt.id
        ) from None
    return attempt


def dismiss_event(session: Session, event_row: CallEvent, *, user_id: int | None, now: datetime) -> None:
    if event_row.reconciled_at is not None:
        raise ReconcileError(N_("This event has already been reconciled."))
    event_row.reconciled_at = now
    event_row.reconciled_by_id = user_id
    session.flush()

"""Calls recorded by hand (issue 10 item 5, domain.md §4): they count like a provider's.

When the provider is down, or the specialist rang from the desk phone, the call still
happened: :func:`record_manual_call` records its time and result as an attempt of the
contact's tasks, in each task's own R13 budget and slot, exactly as a click-to-call would
(the result then drives R13/R14 through the same final hook).

The result is stored as a synthetic event (provider ``care``, kind ``manual``) and folded
like any other (care.services.call_event_apply), so that a late provider event for the
same call is reconciled, never doubled: when the contact has a call still in progress
(the app rang, the provider's result has not come), the hand result is recorded on that
attempt; "terminal is absorbing, the first terminal wins" (care.domain.callstate) keeps
the hand result, and the provider's late events only fill in duration, cause and the
recording link. A call the provider never placed (``error``) is not that call: the desk
phone's call is a new attempt.

:func:`count_not_reached` is the hook of the outcome "not reached" recorded by hand on
one task: it counts as an attempt unless the task already has one for this call (in the
current slot of today, or one in progress).

Services flush, never commit. No phone numbers in log lines.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from care.domain import N_
from care.domain import attempts as policy
from care.domain.callstate import TERMINAL_RANK, CallStatus, NormalizedEvent
from care.domain.dates import is_aware, local_today
from care.domain.settings import Settings
from care.models import CallAttemptTask, CareTask
from care.models.call import CallAttempt
from care.services import ServiceError
from care.services.call_event_apply import apply_to_attempt
from care.services.call_event_store import MANUAL, SWEEP_PROVIDER, store_event
from care.services.calls import (
    CallRefused,
    attempts_by_task,
    claim_task,
    is_finished,
    may_call_for,
    number_of,
    precheck,
)

log = logging.getLogger("care.calls")

PROVIDER = "manual"  # CallAttempt.provider of a call made outside the app

# The results a specialist can record, in the order the form offers them.
RESULTS: tuple[tuple[str, str], ...] = (
    (CallStatus.NO_ANSWER.value, N_("No answer")),
    (CallStatus.BUSY.value, N_("Busy")),
    (CallStatus.REJECTED.value, N_("Rejected the call")),
    (CallStatus.MACHINE.value, N_("Voicemail")),
    (CallStatus.INVALID_NUMBER.value, N_("Wrong or invalid number")),
    (CallStatus.COMPLETED.value, N_("Reached the customer")),
)
RESULT_CODES = frozenset(code for code, _label in RESULTS)


class ManualCallRefused(ServiceError):
    """Nothing recorded: ``field`` (``at``, ``result`` or None for the whole form),
    ``template``/``params`` as ServiceError."""

    def __init__(self, field: str | None, template: str, **params):
        super().__init__(template, field=field, **params)


def _check_input(at: datetime | None, result: str | None, *, now: datetime, settings: Settings) -> tuple[datetime, str]:
    if result not in RESULT_CODES:
        raise ManualCallRefused("result", N_("Choose the result of the call."))
    if at is None or not is_aware(at):
        raise ManualCallRefused("at", N_("Enter the time of the call."))
    if at > now + timedelta(minutes=1):
        raise ManualCallRefused("at", N_("The time of the call is in the future."))
    max_age = int(settings.manual_call_max_age_hours)
    if at < now - timedelta(hours=max_age):
        raise ManualCallRefused(
            "at", N_("A call can be recorded for up to %(hours)s hours after it was made."), hours=max_age
        )
    return at, result


def _in_progress(attempts: list[CallAttempt]) -> CallAttempt | None:
    """The contact's call still waiting for the provider's result, if any."""
    return next((a for a in reversed(attempts) if not is_finished(a)), None)


def _record_result(session: Session, attempt: CallAttempt, result: str, *, at: datetime, user, now: datetime) -> CallAttempt:
    """Store the hand result as the attempt's synthetic event and apply it (final hook
    included). A second hand result for the same attempt is the same event: ignored."""
    event = NormalizedEvent(
        event_id=f"care:manual:{attempt.id}", status=CallStatus(result), provider=SWEEP_PROVIDER,
        raw_status="manual", leg="customer", occurred_at=at, answered=result == CallStatus.COMPLETED,
    )  # fmt: skip
    store_event(
        session, event, kind=MANUAL, payload={"by": user.id, "result": result, "at": at.isoformat()},
        attempt_ref=str(attempt.id), now=now,
    )  # fmt: skip
    return apply_to_attempt(session, attempt.id, now=now) or attempt


def record_manual_call(
    session: Session,
    tasks: list[CareTask],
    *,
    user,
    at: datetime | None,
    result: str | None,
    now: datetime,
    settings: Settings,
    attempt_id: int | None = None,
) -> CallAttempt:
    """Record a call made outside the app for ``tasks`` (one customer's open tasks, lead
    first) at ``at`` with ``result``; returns the attempt. Raises
    :class:`ManualCallRefused` (bad input, nothing to count it for).

    ``attempt_id`` names the app's call this result belongs to; without it, a call of
    these tasks still in progress is that call. Otherwise a new attempt (provider
    ``manual``) counts for each task that could have been called at ``at`` (R13: its
    budget, its slot; a task that could not is left out, as with the Call button)."""
    at, result = _check_input(at, result, now=now, settings=settings)
    if not tasks:
        raise ManualCallRefused(None, N_("This customer has no open task to record a call for."))
    if len({t.customer_id for t in tasks}) != 1:
        raise ValueError("one call is for one customer's tasks")
    for task_id in sorted({t.id for t in tasks}):
        claim_task(session, task_id)
    by_task = attempts_by_task(session, [t.id for t in tasks])
    everyone = sorted({a.id: a for ts in by_task.values() for a in ts}.values(), key=lambda a: (a.started_at, a.id))
    if attempt_id is not None:
        target = next((a for a in everyone if a.id == attempt_id), None)
        if target is None:
            raise ManualCallRefused(None, N_("That call is not one of this customer's open tasks."))
        if target.rank >= TERMINAL_RANK:
            raise ManualCallRefused(None, N_("That call has its result already."))
    else:
        target = _in_progress(everyone)
    if target is not None:  # the app's call: the provider's late events are reconciled with it
        if target.user_id not in (None, user.id) and not _may_record_for(user, tasks):
            raise ManualCallRefused(None, N_("Only the task's assignee or a care manager can record this call."))
        log.info("attempt %s: result recorded by hand (%s)", target.id, result)
        return _record_result(session, target, result, at=at, user=user, now=now)

    slot = policy.slot_of(at, settings)
    if slot is None:
        raise ManualCallRefused(
            "at", N_("At that time no call slot was open (quiet hours): a call then is not an attempt.")
        )
    eligible: list[CareTask] = []
    refusals: list[CallRefused] = []
    for task in tasks:
        refusal = precheck(session, task, user=user, settings=settings, now=at, attempts=by_task[task.id])
        (refusals.append(refusal) if refusal is not None else eligible.append(task))
    if not eligible:
        first = refusals[0]
        raise ManualCallRefused(None, first.template, **first.params)
    lead = eligible[0]
    attempt = CallAttempt(
        task_id=lead.id,
        customer_id=lead.customer_id,
        user_id=user.id,
        provider=PROVIDER,
        to_number=number_of(lead) or "",
        agent_extension=user.extension,
        status=CallStatus.REQUESTED.value,
        rank=0,
        sequence=-1,
        counted=True,
        slot=slot.name,
        slot_date=local_today(at, settings.timezone),
        started_at=at,
    )
    session.add(attempt)
    session.flush()
    session.add_all(CallAttemptTask(attempt_id=attempt.id, task_id=t.id) for t in eligible[1:])
    session.flush()
    log.info("attempt %s: a call made outside the app recorded (%s)", attempt.id, result)
    return _record_result(session, attempt, result, at=at, user=user, now=now)


def _may_record_for(user, tasks: list[CareTask]) -> bool:
    return all(may_call_for(user, t) for t in tasks)


def count_not_reached(session: Session, task: CareTask, *, user, now: datetime, settings: Settings) -> tuple[CallAttempt | None, str | None]:
    """The outcome "not reached" recorded by hand on ``task``: ``(attempt, None)`` when it
    counts (a call in progress gets the result, else a new hand attempt at ``now``), or
    ``(None, reason)`` when it does not — ``"same_call"`` (the task's attempt in the
    current slot already counted this call) or a refusal's message id (quiet hours, slot
    used, attempts exhausted …).

    "Not reached" recorded on several tasks of one contact in one go (the contact page's
    outcome panel) is one call: the hand attempt this user just made for another task of
    the customer at the same moment counts for this task too."""
    attempts = attempts_by_task(session, [task.id])[task.id]
    running = _in_progress(attempts)
    if running is None:
        slot = policy.slot_of(now, settings)
        today = local_today(now, settings.timezone)
        if slot is not None and any(
            a.slot == slot.name and a.slot_date == today and a.rank >= TERMINAL_RANK and a.counted for a in attempts
        ):
            return None, "same_call"
        sibling = _same_moment_hand_call(session, task, user=user, now=now)
        if sibling is not None:
            if precheck(session, task, user=user, settings=settings, now=now, attempts=attempts) is None:
                session.add(CallAttemptTask(attempt_id=sibling.id, task_id=task.id))
                session.flush()
                _final_for_task(session, task.id, now=now)
                return sibling, None
    try:
        attempt = record_manual_call(
            session, [task], user=user, at=now, result=CallStatus.NO_ANSWER.value, now=now, settings=settings,
            attempt_id=running.id if running is not None else None,
        )  # fmt: skip
    except ManualCallRefused as exc:
        return None, exc.template
    return attempt, None


def _same_moment_hand_call(session: Session, task: CareTask, *, user, now: datetime) -> CallAttempt | None:
    """The hand attempt ("not reached") this user recorded for the customer at ``now``."""
    return session.scalar(
        select(CallAttempt)
        .where(
            CallAttempt.customer_id == task.customer_id, CallAttempt.user_id == user.id,
            CallAttempt.provider == PROVIDER, CallAttempt.started_at == now,
        )
        .order_by(CallAttempt.id)
        .limit(1)
    )  # fmt: skip


def _final_for_task(session: Session, task_id: int, *, now: datetime) -> None:
    """The final hook (R14 fallback, R12 block) for a task newly linked to an ended call."""
    from care.services import fallback
    from care.services.settings import load_settings

    task = session.get(CareTask, task_id)
    if task is not None:
        fallback.settle(session, task, now=now, settings=load_settings(session))

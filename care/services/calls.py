"""Click-to-call (domain.md §4 R13, telephony.md "The flow"): refuse or create the attempt.

``start_call`` checks the task, the customer's consent and number, and the attempt
policy (care.domain.attempts.check_call), then adds the CallAttempt and flushes: its
id is the correlation id. The view commits, calls :func:`originate` (outside the
transaction) and commits again.

Decisions:

- A call that never left our side (the provider refused or was unreachable) is not an
  attempt: it is kept with ``status``/``outcome`` ``failed``, ``counted=False`` and the
  provider's safe ``error``; like a canceled call it is left out of the R13 policy
  (:func:`attempt_records`, by ``care.domain.attempts.stored_attempt``).
- ``no_call`` is checked before anything else, whatever list the task came from; the
  refusal carries who set the flag and when.
- The number: the customer's mobile, else their other phone (both stored E.164).
- One caller ID per task (telephony.md pitfall 11): the first attempt's, else
  CARE_TWILIO_FROM.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from care.domain import N_, access
from care.domain import attempts as policy
from care.domain.callstate import is_terminal
from care.domain.dates import local_today
from care.domain.settings import Settings
from care.models import CareTask
from care.models.call import CallAttempt, CallAttemptTask, CallEvent
from care.models.task import OPEN_STATUSES
from care.services import ServiceError
from care.telephony.base import Provider, ProviderError

NO_CALL = "no_call"
CLOSED = "closed"
NO_NUMBER = "no_number"
NOT_YOURS = "not_yours"
BAD_FORCE = "bad_force"

log = logging.getLogger("care.calls")


class CallRefused(ServiceError):
    """No call is placed: ``code`` (one of the constants above or a RefusalCode),
    ``template``/``params`` as ServiceError (params may hold datetimes: format them)."""

    def __init__(self, code: str, template: str, **params):
        self.code = code
        super().__init__(template, **params)


def attempts_by_task(session: Session, task_ids, *, options=()) -> dict[int, list[CallAttempt]]:
    """The attempts of each of these tasks, oldest first, in one query: every attempt that
    counts for the task (the link ``call_attempt_tasks``: one call of a contact counts for
    each of its tasks), not only those started from it. The one way attempts are read by
    task: the task card, the Call button, the fallback (R14), the violations (R15), the
    worklist."""
    found: dict[int, list[CallAttempt]] = {task_id: [] for task_id in task_ids}
    if not found:
        return found
    rows = session.execute(
        select(CallAttemptTask.task_id, CallAttempt)
        .join(CallAttempt, CallAttempt.id == CallAttemptTask.attempt_id)
        .where(CallAttemptTask.task_id.in_(list(found)))
        .options(*options)
        .order_by(CallAttempt.started_at, CallAttempt.id)
    )
    for task_id, attempt in rows:
        found[task_id].append(attempt)
    return found


def attempts_of(session: Session, task_id: int) -> list[CallAttempt]:
    return attempts_by_task(session, [task_id])[task_id]


def task_ids_of(session: Session, attempt: CallAttempt) -> list[int]:
    """The tasks this attempt counts for, lead first (none: a complaint's call-back)."""
    if attempt.task_id is None:
        return []
    ids = session.scalars(
        select(CallAttemptTask.task_id).where(CallAttemptTask.attempt_id == attempt.id).order_by(CallAttemptTask.task_id)
    ).all()
    return [attempt.task_id, *[i for i in ids if i != attempt.task_id]]


def attempt_record(attempt: CallAttempt) -> policy.AttemptRecord | None:
    """The attempt as the R13 policy reads it; None when it is no attempt (never left our
    side, or canceled): see ``care.domain.attempts.stored_attempt``."""
    return policy.stored_attempt(attempt.started_at, attempt.outcome, attempt.status, counted=attempt.counted)


def attempt_records(attempts: list[CallAttempt]) -> list[policy.AttemptRecord]:
    """The task's attempts as the R13 policy reads them: the task card, the Call button,
    the fallback (R14) and the violations (R15) all read them through here."""
    return [r for r in map(attempt_record, attempts) if r is not None]


def plan_for(task: CareTask, attempts: list[CallAttempt], settings: Settings, now: datetime) -> policy.AttemptPlan:
    """R13/R14/R15: the task's plan at ``now`` (``due_at`` only matters for a birthday)."""
    return policy.plan(attempt_records(attempts), settings, now, task_type=task.type, due_at=task.due_at)


def may_see(user, attempt: CallAttempt) -> bool:
    """The attempt's live panel and recording: its caller, the assignee of a task it counts
    for, or a manager (care.domain.access.may_see_attempt)."""
    assignees = {t.assignee_id for t in attempt.tasks} or {attempt.task.assignee_id if attempt.task else None}
    return any(access.may_see_attempt(user.id, user.roles, attempt.user_id, a) for a in assignees)


def may_call_for(user, task: CareTask) -> bool:
    """The rule of outcomes.can_record (care.domain.access): who records on a task calls for it."""
    return access.owns_task(user.id, user.roles, task.assignee_id)


def number_of(task: CareTask) -> str | None:
    customer = task.customer
    return customer.mobile or customer.phone2


def precheck(session: Session, task: CareTask, *, user, settings: Settings, now: datetime, attempts=None) -> CallRefused | None:
    """Why a call for ``task`` may not be placed now by ``user`` (None: it may)."""
    customer = task.customer
    if customer.no_call:
        return CallRefused(
            NO_CALL,
            N_("The customer asked not to be called (set by %(by)s on %(at)s): no call is placed."),
            by=customer.no_call_by or "?",
            at=customer.no_call_at,
        )
    if task.status not in OPEN_STATUSES:
        return CallRefused(CLOSED, N_("This task is closed: no call is placed."))
    if not may_call_for(user, task):
        return CallRefused(NOT_YOURS, N_("Only the task's assignee or a care manager can call for it."))
    if task.status == "blocked" or not number_of(task):
        return CallRefused(
            NO_NUMBER,
            N_("The customer has no valid phone number: correct it in the number-correction queue first."),
        )
    attempts = attempts_of(session, task.id) if attempts is None else attempts
    refusal = policy.check_call(attempt_records(attempts), settings, now, task_type=task.type, due_at=task.due_at)
    if refusal is not None:
        return CallRefused(str(refusal.code), refusal.template, **refusal.params)
    return None


def claim_task(session: Session, task_id: int) -> None:
    """Take the task row's write lock until the transaction ends, before reading its
    attempts, so that of two clicks at once the second reads the first's attempt (and is
    refused: a call in progress) instead of adding a second one.

    A no-op UPDATE, not ``SELECT … FOR UPDATE``: SQLite ignores FOR UPDATE, and its reads
    run outside any transaction (pysqlite begins one at the first write), so two requests
    both read "no attempt" and both inserted one (issue 9 item 19). The UPDATE begins the
    write transaction on SQLite (the other writer waits on the busy timeout, then reads
    the committed attempt) and locks the row on PostgreSQL. Plain SQL, so that no
    ``onupdate`` column (``updated_at``) changes."""
    session.execute(text("UPDATE care_tasks SET id = id WHERE id = :id"), {"id": task_id})


def start_call(
    session: Session,
    task: CareTask,
    *,
    user,
    now: datetime,
    settings: Settings,
    provider_name: str = "sim",
    caller_id: str | None = None,
    force: str | None = None,
) -> CallAttempt:
    """Create the attempt for a click-to-call of one task, or raise :class:`CallRefused`."""
    return start_contact_call(
        session, [task], user=user, now=now, settings=settings,
        provider_name=provider_name, caller_id=caller_id, force=force,
    )  # fmt: skip


def _refusal_to_raise(refusals: list[CallRefused]) -> CallRefused:
    """Of the refusals of a contact's tasks, the one that explains why nothing rings: a call
    in progress first (a double click), then the lead task's."""
    in_progress = [r for r in refusals if r.code == policy.RefusalCode.CALL_IN_PROGRESS]
    return in_progress[0] if in_progress else refusals[0]


def start_contact_call(
    session: Session,
    tasks: list[CareTask],
    *,
    user,
    now: datetime,
    settings: Settings,
    provider_name: str = "sim",
    caller_id: str | None = None,
    force: str | None = None,
) -> CallAttempt:
    """One call for a contact (domain.md §3 "one contact"): the attempt counts for each of
    ``tasks`` (the contact's open tasks, lead first) that may be called now by ``user``,
    each in its own R13 budget and slot (:func:`precheck` per task); a task that may not
    (its slot used, its window closed, someone else's …) is left out and does not block
    the others. Raises :class:`CallRefused` when no task may be called.

    ``force`` (a simulator outcome) is only checked here; the view passes it on to the
    simulator. Locks the task rows first (:func:`claim_task`, in id order) so that two
    clicks at once make one attempt: the second reads the first's attempt in progress."""
    from care.telephony.sim import OUTCOMES as SIM_OUTCOMES

    if force is not None and (provider_name != "sim" or force not in SIM_OUTCOMES):
        raise CallRefused(BAD_FORCE, N_("A forced outcome is only accepted by the simulator."))
    if not tasks:
        raise CallRefused(CLOSED, N_("This task is closed: no call is placed."))
    if len({t.customer_id for t in tasks}) != 1:
        raise ValueError("one call is for one customer's tasks")
    for task_id in sorted({t.id for t in tasks}):
        claim_task(session, task_id)
    by_task = attempts_by_task(session, [t.id for t in tasks])
    eligible: list[CareTask] = []
    refusals: list[CallRefused] = []
    for task in tasks:
        refusal = precheck(session, task, user=user, settings=settings, now=now, attempts=by_task[task.id])
        if refusal is None:
            eligible.append(task)
        else:
            refusals.append(refusal)
    in_progress = [r for r in refusals if r.code == policy.RefusalCode.CALL_IN_PROGRESS]
    if in_progress or not eligible:  # never a second call while one rings for the contact
        raise _refusal_to_raise(in_progress or refusals)
    lead = eligible[0]
    slot = policy.slot_of(now, settings)
    earlier_caller = next((a.caller_id for t in eligible for a in by_task[t.id] if a.caller_id), None)
    attempt = CallAttempt(
        task_id=lead.id,
        customer_id=lead.customer_id,
        user_id=user.id,
        provider=provider_name,
        to_number=number_of(lead),
        agent_extension=user.extension,
        caller_id=earlier_caller or caller_id,
        status="requested",
        rank=0,
        sequence=-1,
        counted=True,
        slot=slot.name if slot else None,
        slot_date=local_today(now, settings.timezone),
        started_at=now,
    )
    session.add(attempt)
    session.flush()
    session.add_all(CallAttemptTask(attempt_id=attempt.id, task_id=t.id) for t in eligible[1:])
    session.flush()
    return attempt


def originate(attempt: CallAttempt, provider: Provider, *, callback_base: str, force: str | None = None) -> None:
    """Ask the provider to ring (call it after the attempt is committed); stores the call
    id, or marks the attempt as never placed (``error``, not counted)."""
    try:
        call_id = provider.originate(
            attempt,
            agent_extension=attempt.agent_extension,
            to_number=attempt.to_number,
            callback_base=callback_base.rstrip("/"),
            caller_id=attempt.caller_id,
            force=force,
        )
    except Exception as exc:  # noqa: BLE001 - whatever the adapter did, the call did not leave
        if isinstance(exc, ProviderError):
            attempt.error = str(exc)[:500]
        else:  # a bug or an unexpected library error: its text may carry the number
            log.error("originate for attempt %s failed: %s", attempt.id, type(exc).__name__)
            attempt.error = "The telephony provider failed."
        attempt.status = "failed"
        attempt.outcome = "failed"
        attempt.rank = 4
        attempt.counted = False
        return
    if not attempt.provider_call_id:
        attempt.provider_call_id = call_id


def is_finished(attempt: CallAttempt) -> bool:
    return attempt.error is not None or is_terminal(attempt.status)


def events_of(session: Session, attempt_ids: list[int]) -> dict[int, list[CallEvent]]:
    """The stored events of these attempts, by attempt, in order received (one query)."""
    found: dict[int, list[CallEvent]] = {i: [] for i in attempt_ids}
    if not attempt_ids:
        return found
    for event in session.scalars(
        select(CallEvent).where(CallEvent.attempt_id.in_(attempt_ids)).order_by(CallEvent.received_at, CallEvent.id)
    ):
        found[event.attempt_id].append(event)
    return found


@dataclass
class TaskCalls:
    """What a task card shows about calling: the plan, the attempts, the Call button."""

    plan: policy.AttemptPlan
    attempts: list[CallAttempt]
    refusal: CallRefused | None
    active: CallAttempt | None  # a call still in progress (its live panel)


def task_calls(session: Session, task: CareTask, *, user, settings: Settings, now: datetime) -> TaskCalls:
    return task_calls_of(session, [task], user=user, settings=settings, now=now)[task.id]


def task_calls_of(
    session: Session, tasks: list[CareTask], *, user, settings: Settings, now: datetime
) -> dict[int, TaskCalls]:
    """:class:`TaskCalls` of several task cards by task id, their attempts read in one query
    (the cards' templates query nothing)."""
    by_task = attempts_by_task(session, [task.id for task in tasks])
    found = {}
    for task in tasks:
        attempts = by_task[task.id]
        found[task.id] = TaskCalls(
            plan=plan_for(task, attempts, settings, now),
            attempts=attempts,
            refusal=precheck(session, task, user=user, settings=settings, now=now, attempts=attempts),
            active=next((a for a in reversed(attempts) if not is_finished(a)), None),
        )
    return found

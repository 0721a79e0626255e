"""R14/R15: the fallback message after failed calls, the sweep, and the violations list.

- ``on_attempt_final(session, attempt, *, now)`` – called when a call attempt becomes
  terminal: an ``invalid_number`` sends the task to the number-correction queue
  (status ``blocked``, R12); when the plan (care.domain.attempts) says the fallback is
  due, :func:`queue_fallback` runs;
- ``queue_fallback(session, task, reason, attempts, now)`` – renders the task type's
  message for the task's fallback channel (e-mail → SMS when the customer has no
  e-mail, R2), queues it in the outbox with the key ``fallback:<task id>``, writes the
  ``ReminderFailure`` and closes the task as ``failed`` (outcome ``reminder_failed``).
  Idempotent: a second call returns the ReminderFailure already there. A customer who
  refused the channel gets no message: the outbox row is written ``skipped`` with
  ``last_error`` ``consent`` (the ReminderFailure is recorded anyway);
- ``sweep_fallbacks(session, *, now)`` – for ``care sweep``: open tasks whose window is
  over without success (and birthdays whose morning passed) get their fallback;
- ``violations(session, *, since, until, now)`` (or ``month=``) – R15: tasks whose first
  attempt failed and that got no further attempt within the window.

Services flush, never commit; the message is in the same transaction as the work that
caused it, so a rollback sends nothing.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, datetime, time
from typing import Any

from sqlalchemy import and_, exists, func, or_, select
from sqlalchemy.orm import Session, selectinload

from care.domain import attempts as dom
from care.domain.dates import local_datetime, local_today
from care.domain.settings import Settings
from care.domain.task_rules import TaskType
from care.messaging import outbox
from care.models import CallAttempt, CallAttemptTask, CareTask, ReminderFailure, User
from care.models.task import TaskStatus
from care.services.calls import attempt_record, attempts_by_task, plan_for, task_ids_of
from care.services.message_templates import render_for_task
from care.services.settings import load_settings

log = logging.getLogger("care.fallback")

OUTCOME = "reminder_failed"
R_EXHAUSTED, R_WINDOW, R_BIRTHDAY = "attempts_exhausted", "window_closed", "birthday"


def fallback_key(task_id: int) -> str:
    return f"fallback:{task_id}"


def task_plan(
    task: CareTask, attempts: list[CallAttempt], settings: Settings, now: datetime
) -> dom.AttemptPlan:
    """The same plan the task card shows (one conversion of the attempts, R13)."""
    return plan_for(task, attempts, settings, now)


def _counts(attempt: CallAttempt) -> bool:
    record = attempt_record(attempt)
    return record is not None and dom.counts_as_attempt(record.outcome)


def _attempts_of(session: Session, task_id: int) -> list[CallAttempt]:
    return attempts_by_task(session, [task_id])[task_id]


def _reason(task: CareTask, p: dom.AttemptPlan) -> str:
    if task.type == TaskType.BIRTHDAY:
        return R_BIRTHDAY
    return R_EXHAUSTED if p.used >= p.attempts_max else R_WINDOW


def needs_final_hook(outcome: str | None) -> bool:
    """Whether :func:`on_attempt_final` can do anything for an attempt that ended so: not
    when the customer was reached (a reached task neither falls back nor is blocked).
    The applier then records the attempt as finalized without loading its task."""
    return not (outcome and dom.is_success(outcome))


def on_attempt_final(
    session: Session, attempt: CallAttempt, *, now: datetime
) -> ReminderFailure | None:
    """React to a terminal attempt for each task it counts for (one call of a contact
    counts for several, see the module docstring); returns the lead task's
    ReminderFailure when its fallback was queued (or already was)."""
    lead = None
    for position, task_id in enumerate(task_ids_of(session, attempt)):
        failure = _on_final_for_task(session, task_id, now=now)
        if position == 0:
            lead = failure
    return lead


def _on_final_for_task(session: Session, task_id: int, *, now: datetime) -> ReminderFailure | None:
    task = session.get(CareTask, task_id)
    if task is None or task.status not in (TaskStatus.OPEN, TaskStatus.BLOCKED):
        return session.scalar(select(ReminderFailure).where(ReminderFailure.task_id == task_id))
    settings = load_settings(session)
    attempts = _attempts_of(session, task.id)
    p = task_plan(task, attempts, settings, now)
    if p.needs_number_correction:
        if task.status != TaskStatus.BLOCKED:
            task.status = TaskStatus.BLOCKED.value
            session.flush()
        return None
    if p.reached or not p.fallback_due or not task.fallback:
        return None
    return queue_fallback(session, task, _reason(task, p), attempts, now)


def _address(task: CareTask, channel: str) -> str | None:
    customer = task.customer
    if channel == "email":
        return (customer.email or "").strip() or None
    return customer.mobile or customer.phone2


def fallback_channel(task: CareTask) -> str | None:
    """The task's fallback channel for this customer: e-mail → SMS without an e-mail (R2)."""
    channel = task.fallback
    if channel == "email" and not (task.customer.email or "").strip():
        return "sms"
    return channel


TOO_LATE = "too_late"  # a birthday greeting is not sent after the day (R14: same morning)


def _greeting_day_passed(session: Session, task: CareTask, now: datetime) -> bool:
    """A birthday SMS says "today is your birthday": after that day, sending it would be
    wrong, so the failure is recorded and the message skipped."""
    if task.type != TaskType.BIRTHDAY.value:
        return False
    return local_today(now, load_settings(session).timezone) > task.opens_on


def queue_fallback(
    session: Session, task: CareTask, reason: str, attempts: list[CallAttempt], now: datetime
) -> ReminderFailure:
    """Queue the task's fallback message, record the ReminderFailure, close the task as
    failed. Idempotent by task (ReminderFailure.task_id and the outbox key are unique)."""
    existing = session.scalar(select(ReminderFailure).where(ReminderFailure.task_id == task.id))
    if existing is not None:
        return existing
    channel = fallback_channel(task)
    message = None
    if channel in outbox.CHANNELS:
        rendered = render_for_task(session, task, channel, now=now)
        if rendered is None and channel == "email":  # no e-mail text for this type: SMS
            channel = "sms"
            rendered = render_for_task(session, task, channel, now=now)
        if rendered is not None:
            subject, body = rendered
            to = _address(task, channel)
            status, error = outbox.QUEUED, None
            if outbox.refused(task.customer, channel):
                status, error = outbox.SKIPPED, outbox.CONSENT
            elif not to:
                status, error = outbox.SKIPPED, outbox.NO_ADDRESS
            elif _greeting_day_passed(session, task, now):
                status, error = outbox.SKIPPED, TOO_LATE
            message = outbox.queue(
                session,
                channel=channel,
                to=to,
                body=body,
                subject=subject,
                customer_id=task.customer_id,
                task_id=task.id,
                key=fallback_key(task.id),
                now=now,
                status=status,
                last_error=error,
            )
    failure = ReminderFailure(
        task_id=task.id,
        attempt_ids=[a.id for a in attempts],
        message_id=message.id if message else None,
        reason=reason,
        created_at=now,
    )
    session.add(failure)
    task.status = TaskStatus.FAILED.value
    task.closed_at = now
    task.outcome = OUTCOME
    session.flush()
    log.info(
        "task %s: reminder failed (%s), fallback message %s",
        task.id,
        reason,
        message.id if message else None,
    )
    return failure


def sweep_fallbacks(session: Session, *, now: datetime) -> dict[str, Any]:
    """Queue the fallback of every open task whose calling is over without success and
    that has none yet: tasks with attempts whose plan says the fallback is due, and
    birthday greetings whose morning passed. One query for the candidates, one for
    their attempts. Returns {"checked", "queued", "skipped"} (skipped: no message sent,
    consent or no address)."""
    settings = load_settings(session)
    has_attempt = exists().where(CallAttemptTask.task_id == CareTask.id)
    no_failure = ~exists().where(ReminderFailure.task_id == CareTask.id)
    tasks = list(
        session.scalars(
            select(CareTask)
            .where(
                CareTask.status == TaskStatus.OPEN.value,
                CareTask.fallback.is_not(None),
                no_failure,
                or_(
                    has_attempt,
                    and_(CareTask.type == TaskType.BIRTHDAY.value, CareTask.due_at <= now),
                ),
            )
            .options(selectinload(CareTask.customer))
            .order_by(CareTask.id)
        )
    )
    by_task = attempts_by_task(session, [t.id for t in tasks])
    queued = skipped = 0
    for task in tasks:
        attempts = by_task[task.id]
        p = task_plan(task, attempts, settings, now)
        if p.reached or p.needs_number_correction or not p.fallback_due:
            continue
        failure = queue_fallback(session, task, _reason(task, p), attempts, now)
        if failure.message is not None and failure.message.status == outbox.QUEUED:
            queued += 1
        else:
            skipped += 1
    return {"checked": len(tasks), "queued": queued, "skipped": skipped}


@dataclass(frozen=True)
class Violation:
    """R15 evidence: the task, who made the first attempt (else the assignee), when, and
    when the window ended."""

    task: CareTask
    specialist: User | None
    first_attempt_at: datetime
    window_ends_at: datetime | None
    attempt_id: int


def month_range(month: date, settings: Settings) -> tuple[datetime, datetime]:
    """The dealer-local month containing ``month`` as aware [since, until)."""
    first = month.replace(day=1)
    nxt = (
        first.replace(year=first.year + 1, month=1)
        if first.month == 12
        else first.replace(month=first.month + 1)
    )
    tz = settings.timezone
    return local_datetime(first, time(0), tz), local_datetime(nxt, time(0), tz)


def violations(
    session: Session,
    *,
    now: datetime,
    month: date | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> list[Violation]:
    """R15: tasks whose first attempt (started in [since, until), or in ``month``) failed
    and that got no further attempt within the window; oldest first."""
    settings = load_settings(session)
    if month is not None:
        since, until = month_range(month, settings)
    first = (
        select(CallAttemptTask.task_id, func.min(CallAttempt.started_at).label("first_at"))
        .join(CallAttempt, CallAttempt.id == CallAttemptTask.attempt_id)
        .group_by(CallAttemptTask.task_id)
        .subquery()
    )
    stmt = (
        select(CareTask)
        .join(first, first.c.task_id == CareTask.id)
        .where(CareTask.type != TaskType.BIRTHDAY.value)
        .options(selectinload(CareTask.assignee), selectinload(CareTask.customer))
        .order_by(first.c.first_at, CareTask.id)
    )
    if since is not None:
        stmt = stmt.where(first.c.first_at >= since)
    if until is not None:
        stmt = stmt.where(first.c.first_at < until)
    tasks = list(session.scalars(stmt))
    if not tasks:
        return []
    by_task = attempts_by_task(session, [t.id for t in tasks], options=(selectinload(CallAttempt.user),))
    found = []
    for task in tasks:
        attempts = by_task[task.id]
        p = task_plan(task, attempts, settings, now)
        if not p.violation:
            continue
        head = next((a for a in attempts if _counts(a)), attempts[0])
        found.append(
            Violation(task, head.user or task.assignee, head.started_at, p.window_ends_at, head.id)
        )
    return found

"""R14/R15 and the deadlines: closing a task whose calling is over, its fallback message,
the deadline sweep, and the violations list.

A task whose calling is over without reaching the customer is *settled* once
(:func:`settle`), by whichever comes first: the final hook of its last attempt
(:func:`on_attempt_final`, run by the applier) or the deadline sweep
(:func:`sweep_fallbacks`, run by ``care sweep`` and the scheduler every few minutes).
When the plan (care.domain.attempts) says the fallback is due, the task is closed:

- **failed** (``TaskStatus.FAILED``, outcome ``reminder_failed``): it got the R13
  attempts — ``attempts_exhausted`` (3 unsuccessful attempts), ``birthday`` (the
  greeting's one failed call, R14: at once);
- **expired** (``TaskStatus.EXPIRED``, outcome ``expired``): its window closed without
  them — ``no_attempt`` (nobody called by the task's own deadline: a birthday at its
  deadline, R6; any other task at the end of its deadline's day + ``expiry_grace_days``,
  see care.domain.attempts.first_call_deadline), ``not_followed_up`` (R15: the first
  attempt failed and none followed within the 3 days: the violation, with its attempt
  as evidence), ``window_closed`` (more than one attempt, fewer than the budget, the 3
  days over) or ``number_not_corrected`` (the task waited in the number-correction
  queue, R12, until its own window closed).

Either way a ``ReminderFailure`` records the reason and every attempt the task got, and
the task type's fallback message is queued when the task has a fallback channel (the
generator gives one only to call tasks whose customer consents to it): rendered for the
channel (e-mail → SMS when the customer has no e-mail, R2), in the outbox under the key
``fallback:<task id>``. A message that must not go out is written ``skipped`` with its
reason in ``last_error``: ``consent`` (refused since), ``no_address`` (no address, or
the number is the one waiting for correction), ``too_late`` (a birthday greeting after
the birthday). Tasks reached but without an outcome stay open (the outcome is the
specialist's to record).

Idempotent and safe with several processes: :func:`settle` claims the task row with a
conditional UPDATE (``status`` still open or blocked; PostgreSQL locks the row, SQLite
the database), then re-reads the task and its attempts and decides again; a task
another process settled meanwhile is left alone, and the unique ``ReminderFailure.task_id``
and outbox key stop a second message in any case.

- ``violations(session, *, since, until, now)`` (or ``month=``) – R15, derived from the
  attempts: tasks whose first attempt failed and that got no further attempt within the
  window (an expired task's ``not_followed_up`` record is the same finding, kept).

Services flush, never commit; the message is in the same transaction as the work that
caused it, so a rollback sends nothing.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass
from datetime import date, datetime, time
from typing import Any

from sqlalchemy import exists, func, or_, select, text
from sqlalchemy.orm import Session, selectinload

from care.domain import attempts as dom
from care.domain.dates import local_datetime
from care.domain.settings import Settings
from care.domain.task_rules import TaskType
from care.messaging import outbox
from care.models import OPEN_STATUSES, CallAttempt, CallAttemptTask, CareTask, ReminderFailure, User
from care.models.task import TaskStatus
from care.services.calls import attempt_record, attempts_by_task, plan_for, task_ids_of
from care.services.message_templates import render_for_task
from care.services.settings import load_settings

log = logging.getLogger("care.fallback")

OUTCOME = "reminder_failed"  # the closing outcome of a failed task
EXPIRED_OUTCOME = "expired"  # … and of an expired one
# Why a task was closed unreached (ReminderFailure.reason): failed …
R_EXHAUSTED, R_BIRTHDAY = "attempts_exhausted", "birthday"
# … or expired.
R_NO_ATTEMPT, R_NOT_FOLLOWED_UP, R_WINDOW, R_NUMBER = (
    "no_attempt", "not_followed_up", "window_closed", "number_not_corrected",
)  # fmt: skip
FAILED_REASONS = (R_EXHAUSTED, R_BIRTHDAY)
EXPIRED_REASONS = (R_NO_ATTEMPT, R_NOT_FOLLOWED_UP, R_WINDOW, R_NUMBER)
REASONS = FAILED_REASONS + EXPIRED_REASONS

TOO_LATE = "too_late"  # a birthday greeting is not sent after the day (R14: same morning)
_BLOCK = "block"  # decision: the last attempt found the number invalid (R12)


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


def needs_final_hook(outcome: str | None) -> bool:
    """Whether :func:`on_attempt_final` can do anything for an attempt that ended so: not
    when the customer was reached (a reached task neither falls back nor is blocked).
    The applier then records the attempt as finalized without loading its task."""
    return not (outcome and dom.is_success(outcome))


# --- deciding -----------------------------------------------------------------------------


def decide(
    task: CareTask, attempts: list[CallAttempt], settings: Settings, now: datetime
) -> tuple[str, str] | str | None:
    """What the deadlines ask of an open or blocked task at ``now``: ``(status, reason)``
    to close it with, ``"block"`` (its last attempt found the number invalid), or None."""
    if task.status == TaskStatus.BLOCKED.value:
        # R12: its attempts wait for the number; its own window still closes.
        if dom.first_call_overdue(settings, task.due_at, now, task_type=task.type):
            return TaskStatus.EXPIRED.value, R_NUMBER
        return None
    if task.status != TaskStatus.OPEN.value:
        return None
    p = task_plan(task, attempts, settings, now)
    if p.needs_number_correction:
        return _BLOCK
    if p.reached or not p.fallback_due:
        return None
    if p.window_starts_on is None:  # no counted attempt
        return TaskStatus.EXPIRED.value, R_NO_ATTEMPT
    if p.used >= p.attempts_max:
        return TaskStatus.FAILED.value, (R_BIRTHDAY if task.type == TaskType.BIRTHDAY else R_EXHAUSTED)
    if p.violation:
        return TaskStatus.EXPIRED.value, R_NOT_FOLLOWED_UP
    return TaskStatus.EXPIRED.value, R_WINDOW


def _claim(session: Session, task_id: int) -> bool:
    """Lock the task row until the transaction ends if it is still open or blocked (a
    no-op UPDATE: PostgreSQL locks the row, SQLite takes the write lock; see
    care.services.calls.claim_task). False: another process closed it meanwhile."""
    result = session.execute(
        text("UPDATE care_tasks SET id = id WHERE id = :id AND status IN ('open', 'blocked')"),
        {"id": task_id},
    )
    return result.rowcount == 1


def _fresh(session: Session, task: CareTask, attempts: list[CallAttempt]) -> list[CallAttempt]:
    """The task and its attempts as they are now that the row is claimed (what the
    session read before may be stale: another process may have changed them)."""
    session.flush()
    session.refresh(task)
    for attempt in attempts:
        session.expire(attempt)
    return attempts_by_task(session, [task.id])[task.id]


def settle(
    session: Session,
    task: CareTask,
    *,
    now: datetime,
    settings: Settings | None = None,
    attempts: list[CallAttempt] | None = None,
) -> ReminderFailure | None:
    """Close ``task`` if its calling is over unreached (see the module docstring); returns
    its ReminderFailure (new, or the one already there), else None. ``attempts``: as
    already read (a first look; the decision is taken again on fresh rows)."""
    existing = session.scalar(select(ReminderFailure).where(ReminderFailure.task_id == task.id))
    if existing is not None:
        return existing
    settings = settings or load_settings(session)
    if attempts is None:
        attempts = attempts_by_task(session, [task.id])[task.id]
    if decide(task, attempts, settings, now) is None:
        return None
    if not _claim(session, task.id):
        return None
    attempts = _fresh(session, task, attempts)
    decision = decide(task, attempts, settings, now)
    if decision is None:
        return None
    if decision == _BLOCK:
        task.status = TaskStatus.BLOCKED.value
        session.flush()
        return None
    status, reason = decision
    return _close(session, task, status, reason, attempts, now)


# --- closing ------------------------------------------------------------------------------


def on_attempt_final(
    session: Session, attempt: CallAttempt, *, now: datetime
) -> ReminderFailure | None:
    """React to a terminal attempt for each task it counts for (one call of a contact
    counts for several, see the module docstring); returns the lead task's
    ReminderFailure when it was closed (or already was)."""
    settings = load_settings(session)
    lead = None
    for position, task_id in enumerate(task_ids_of(session, attempt)):
        task = session.get(CareTask, task_id)
        failure = None if task is None else settle(session, task, now=now, settings=settings)
        if position == 0:
            lead = failure
    return lead


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


def greeting_too_late(settings: Settings, task: CareTask, now: datetime) -> bool:
    """A birthday SMS says "today is your birthday": once it can no longer go out on that
    day (after the day, or past the day's text-message hours, which end with the last call
    slot: care.messaging.outbox.sms_hours would hold it until the next morning), sending
    it would be wrong, so the failure is recorded and the message skipped."""
    if task.type != TaskType.BIRTHDAY.value:
        return False
    last_sms = max(slot.end for slot in settings.call_slots)
    return now >= local_datetime(task.opens_on, last_sms, settings.timezone)


def _queue_message(session: Session, task: CareTask, now: datetime, *, number_blocked: bool):
    """The task's fallback message in the outbox (queued, or skipped with the reason);
    None when there is no text for the channel."""
    channel = fallback_channel(task)
    if channel not in outbox.CHANNELS:
        return None
    rendered = render_for_task(session, task, channel, now=now)
    if rendered is None and channel == "email":  # no e-mail text for this type: SMS
        channel = "sms"
        rendered = render_for_task(session, task, channel, now=now)
    if rendered is None:
        return None
    subject, body = rendered
    to = _address(task, channel)
    status, error = outbox.QUEUED, None
    if outbox.refused(task.customer, channel):
        status, error = outbox.SKIPPED, outbox.CONSENT
    elif not to or (number_blocked and channel == "sms"):  # the number awaits correction
        status, error = outbox.SKIPPED, outbox.NO_ADDRESS
    elif greeting_too_late(load_settings(session), task, now):
        status, error = outbox.SKIPPED, TOO_LATE
    return outbox.queue(
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


def _close(
    session: Session, task: CareTask, status: str, reason: str, attempts: list[CallAttempt], now: datetime
) -> ReminderFailure:
    message = None
    if task.fallback:
        message = _queue_message(session, task, now, number_blocked=reason == R_NUMBER)
    failure = ReminderFailure(
        task_id=task.id,
        attempt_ids=[a.id for a in attempts],
        message_id=message.id if message else None,
        reason=reason,
        created_at=now,
    )
    session.add(failure)
    task.status = status
    task.closed_at = now
    task.outcome = OUTCOME if status == TaskStatus.FAILED.value else EXPIRED_OUTCOME
    session.flush()
    log.info(
        "task %s: %s (%s), fallback message %s",
        task.id, status, reason, message.id if message else None,
    )  # fmt: skip
    return failure


def queue_fallback(
    session: Session, task: CareTask, reason: str, attempts: list[CallAttempt], now: datetime
) -> ReminderFailure:
    """Close ``task`` with ``reason`` now, whatever its plan says (the reason decides
    failed or expired): queue its fallback message, record the ReminderFailure.
    Idempotent by task (ReminderFailure.task_id and the outbox key are unique)."""
    existing = session.scalar(select(ReminderFailure).where(ReminderFailure.task_id == task.id))
    if existing is not None:
        return existing
    status = TaskStatus.FAILED.value if reason in FAILED_REASONS else TaskStatus.EXPIRED.value
    return _close(session, task, status, reason, attempts, now)


# --- the deadline sweep -------------------------------------------------------------------


def sweep_fallbacks(session: Session, *, now: datetime) -> dict[str, Any]:
    """Settle every open or blocked task whose calling is over unreached (the module
    docstring): candidates are the tasks without a ReminderFailure that have an attempt
    or whose deadline has passed (one query), their attempts read in one more; each
    is then claimed and decided again (:func:`settle`). Catches up whatever runs were
    missed (it looks at every task due, however old) and changes nothing when run again.

    Returns ``{"checked", "queued", "skipped", "failed", "expired", "birthday_fallbacks",
    "violations"}``: tasks looked at; messages queued / written skipped (consent, no
    address, too late); tasks closed as failed / expired; birthday greetings whose SMS
    was queued (the same morning); R15 violations recorded (``not_followed_up``)."""
    settings = load_settings(session)
    has_attempt = exists().where(CallAttemptTask.task_id == CareTask.id)
    no_failure = ~exists().where(ReminderFailure.task_id == CareTask.id)
    tasks = list(
        session.scalars(
            select(CareTask)
            .where(
                CareTask.status.in_(OPEN_STATUSES),
                no_failure,
                or_(has_attempt, CareTask.due_at <= now),
            )
            .options(selectinload(CareTask.customer))
            .order_by(CareTask.id)
        )
    )
    by_task = attempts_by_task(session, [t.id for t in tasks])
    counts: Counter = Counter()
    for task in tasks:
        failure = settle(session, task, now=now, settings=settings, attempts=by_task[task.id])
        if failure is None or failure.created_at != now:
            continue
        counts[task.status] += 1
        counts["violations"] += failure.reason == R_NOT_FOLLOWED_UP
        if failure.message is None:
            continue
        if failure.message.status == outbox.QUEUED:
            counts["queued"] += 1
            counts["birthday_fallbacks"] += task.type == TaskType.BIRTHDAY.value
        else:
            counts["skipped"] += 1
    return {
        "checked": len(tasks),
        "queued": counts["queued"],
        "skipped": counts["skipped"],
        "failed": counts[TaskStatus.FAILED.value],
        "expired": counts[TaskStatus.EXPIRED.value],
        "birthday_fallbacks": counts["birthday_fallbacks"],
        "violations": counts["violations"],
    }


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
    )
    if since is not None or until is not None:
        # Only tasks called in the range can have their first call there: found by the
        # attempts' start index, not by grouping every attempt of the history.
        in_range = [CallAttempt.started_at >= since] if since is not None else []
        if until is not None:
            in_range.append(CallAttempt.started_at < until)
        called = (
            select(CallAttemptTask.task_id)
            .join(CallAttempt, CallAttempt.id == CallAttemptTask.attempt_id)
            .where(*in_range)
        )
        first = first.where(CallAttemptTask.task_id.in_(called))
    first = first.subquery()
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

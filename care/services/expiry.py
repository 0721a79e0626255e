"""The expired tasks, as the managers' "expired" page reads them (issue 10 item 4).

A task is closed as ``expired`` by the deadline sweep (care.services.fallback) when its
window closed without the R13 attempts; its ``ReminderFailure`` says why (``reason``),
which attempts it got (``attempt_ids``) and its fallback message (``message``). This
module lists them for a period of expiry days (the dealer's local dates of
``closed_at``), by task type and by assignee, newest first:

- :func:`parse_filter` reads the filter from query-string values (``ExpiryFilterError``
  names the bad one);
- :func:`expired_statement` is the page's query (care/web/paging.py pages it);
- :func:`rows_of` adds to a page of tasks their record, attempts and fallback (two
  queries, whatever the page size);
- :func:`reason_counts` counts the filtered tasks per reason (one GROUP BY).

What the page says about the fallback (:attr:`ExpiredRow.fallback`): the message's
outbox status (queued, sent, failed, skipped with its reason: consent, no_address,
too_late), else ``no_fallback_type`` (the task type has none: R7–R10), ``refused`` (the
customer refused every fallback channel when the task was created) or ``no_text`` (no
message text for the channel).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session, joinedload, selectinload

from care.domain import N_, DomainError
from care.domain.dates import start_of_day
from care.domain.task_rules import TaskType
from care.models import CallAttempt, CareTask, ReminderFailure, User
from care.models.task import TaskStatus
from care.services import fallback
from care.services.calls import attempt_record, attempts_by_task
from care.services.message_templates import KINDS

EXPIRED = TaskStatus.EXPIRED.value
EXPIRED_REASONS = fallback.EXPIRED_REASONS  # why a task expired, in the page's order
TASK_TYPES = tuple(t.value for t in TaskType)
OWNER_ALL, OWNER_UNASSIGNED = "all", "unassigned"
DEFAULT_DAYS = 30  # the period shown without a filter: the last 30 days
MAX_DAYS = 366  # the longest period one page lists
FALLBACK_TYPES = frozenset(task_type for task_type, _channel in KINDS)

# What became of the fallback, when there is no message.
NO_FALLBACK_TYPE, REFUSED, NO_TEXT = "no_fallback_type", "refused", "no_text"


class ExpiryFilterError(DomainError):
    """A filter value that cannot be read: ``template``/``params`` for the web layer."""

    def __init__(self, template: str, **params):
        self.template = template
        self.params = params
        super().__init__(template % params if params else template)


@dataclass(frozen=True)
class ExpiredFilter:
    """Which expired tasks: expired on ``since`` … ``until`` (local dates, both included),
    of ``types`` (empty: all), assigned to ``owner`` (a user id, ``"unassigned"`` or
    ``"all"``)."""

    since: date
    until: date
    types: tuple[str, ...] = ()
    owner: int | str = OWNER_ALL

    def query_args(self) -> dict:
        """The filter as URL arguments (for the pager's links)."""
        args: dict = {"from": self.since.isoformat(), "to": self.until.isoformat()}
        if self.types:
            args["type"] = list(self.types)
        if self.owner != OWNER_ALL:
            args["owner"] = str(self.owner)
        return args


def _date(text: str | None, default: date) -> date:
    value = (text or "").strip()
    if not value:
        return default
    try:
        if len(value) != 10:
            raise ValueError
        return date.fromisoformat(value)
    except ValueError:
        raise ExpiryFilterError(N_("“%(value)s” is not a date (YYYY-MM-DD)."), value=value[:20]) from None


def parse_filter(
    types: list[str] | None = None,
    owner: str | None = None,
    since: str | None = None,
    until: str | None = None,
    *,
    today: date,
) -> ExpiredFilter:
    """The filter of a query string; the period defaults to the last DEFAULT_DAYS days up
    to ``today`` and may span at most MAX_DAYS days."""
    chosen: list[str] = []
    for raw in types or []:
        for value in raw.split(","):
            value = value.strip()
            if not value:
                continue
            if value not in TASK_TYPES:
                raise ExpiryFilterError(N_("“%(value)s” is not a task type."), value=value[:40])
            if value not in chosen:
                chosen.append(value)
    end = _date(until, today)
    start = _date(since, end - timedelta(days=DEFAULT_DAYS - 1))
    if start > end:
        raise ExpiryFilterError(N_("The period starts after it ends."))
    if (end - start).days + 1 > MAX_DAYS:
        raise ExpiryFilterError(N_("The period may span at most %(days)s days."), days=MAX_DAYS)
    owner_text = (owner or OWNER_ALL).strip() or OWNER_ALL
    owner_value: int | str
    if owner_text in (OWNER_ALL, OWNER_UNASSIGNED):
        owner_value = owner_text
    elif owner_text.isascii() and owner_text.isdigit() and len(owner_text) <= 9:
        owner_value = int(owner_text)
    else:
        raise ExpiryFilterError(N_("“%(value)s” is not a specialist."), value=owner_text[:40])
    return ExpiredFilter(start, end, tuple(t for t in TASK_TYPES if t in chosen), owner_value)


def _conditions(f: ExpiredFilter, tz: str) -> list:
    conds = [
        CareTask.status == EXPIRED,
        CareTask.closed_at >= start_of_day(f.since, tz),
        CareTask.closed_at < start_of_day(f.until + timedelta(days=1), tz),
    ]
    if f.types:
        conds.append(CareTask.type.in_(f.types))
    if f.owner == OWNER_UNASSIGNED:
        conds.append(CareTask.assignee_id.is_(None))
    elif f.owner != OWNER_ALL:
        conds.append(CareTask.assignee_id == f.owner)
    return conds


def expired_statement(f: ExpiredFilter, tz: str) -> Select:
    """The expired tasks of the filter, the latest expired first (then by id)."""
    return (
        select(CareTask)
        .where(*_conditions(f, tz))
        .options(joinedload(CareTask.customer), joinedload(CareTask.assignee), joinedload(CareTask.vehicle))
        .order_by(CareTask.closed_at.desc(), CareTask.id.desc())
    )


def reason_counts(session: Session, f: ExpiredFilter, tz: str) -> dict[str, int]:
    """How many tasks of the filter expired for each reason (an expired task without a
    record, which the sweep never leaves, counts as ``None``)."""
    rows = session.execute(
        select(ReminderFailure.reason, func.count(CareTask.id))
        .select_from(CareTask)
        .outerjoin(ReminderFailure, ReminderFailure.task_id == CareTask.id)
        .where(*_conditions(f, tz))
        .group_by(ReminderFailure.reason)
    )
    return {reason: count for reason, count in rows}


@dataclass(frozen=True)
class ExpiredRow:
    """One line of the page: the task, its record, the attempts it got (counted ones,
    oldest first) and what became of its fallback (see the module docstring)."""

    task: CareTask
    failure: ReminderFailure | None
    attempts: tuple[CallAttempt, ...]
    fallback: str  # an outbox status, or NO_FALLBACK_TYPE / REFUSED / NO_TEXT
    fallback_detail: str | None  # the skipped message's reason (consent, no_address, too_late)
    channel: str | None  # the message's channel

    @property
    def reason(self) -> str | None:
        return self.failure.reason if self.failure else None


def _fallback(task: CareTask, failure: ReminderFailure | None) -> tuple[str, str | None, str | None]:
    message = failure.message if failure else None
    if message is not None:
        return message.status, message.last_error, message.channel
    if task.type not in FALLBACK_TYPES:
        return NO_FALLBACK_TYPE, None, None
    if not task.fallback:
        return REFUSED, None, None
    return NO_TEXT, None, task.fallback


def rows_of(session: Session, tasks: list[CareTask]) -> list[ExpiredRow]:
    """The page's lines for these tasks, in their order: their records (with messages) in
    one query, their attempts (through care.services.calls.attempts_by_task) in another."""
    ids = [t.id for t in tasks]
    failures = {
        f.task_id: f
        for f in session.scalars(
            select(ReminderFailure).where(ReminderFailure.task_id.in_(ids)).options(selectinload(ReminderFailure.message))
        )
    } if ids else {}  # fmt: skip
    by_task = attempts_by_task(session, ids, options=(selectinload(CallAttempt.user),))
    rows = []
    for task in tasks:
        failure = failures.get(task.id)
        counted = tuple(a for a in by_task[task.id] if attempt_record(a) is not None)
        rows.append(ExpiredRow(task, failure, counted, *_fallback(task, failure)))
    return rows


def owner_choices(session: Session, selected: int | str) -> list[User]:
    """The users the specialist filter offers: those who can own tasks, and the one
    selected whatever their state."""
    from care.services.worklist import task_owners

    include = {selected} if isinstance(selected, int) else set()
    return task_owners(session, include_ids=include)


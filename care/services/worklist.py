"""The worklist (today's contacts, one line per customer) and reassignment of care tasks.

A *contact* is one customer with all of their due tasks bundled (domain.md §3: one call
can settle several reasons; each task keeps its own outcome). Due: status open or
blocked and ``opens_on`` ≤ today at the dealer; overdue ones included.

Contacts are ordered by their earliest deadline, then customer id, and paged by keyset
(:class:`Cursor`), not OFFSET: a task added on an earlier page does not shift later
pages. The bundling is SQL: one GROUP BY customer (MIN(due_at)) for the page's
customers, one query for their tasks, one for the customers.

"Due today" means the deadline is later today (not yet passed); "overdue" means it has
passed. The two never overlap.

**Call state** (issue 10 item 2). Each task has a :class:`CallState` at ``now``, read from
its R13 plan (``care.services.calls.plan_for`` over ``attempts_by_task``): a call in
progress, answered with the outcome still missing, callable now, waiting for its next
slot, blocked (number correction, no number, the customer refuses calls), or no call
left. A contact's state is the most pressing of its tasks' (:data:`STATE_RANK`). The
default order puts the callable-now contacts first, then the deadline order; the filter
``state`` narrows the list to one state; the header counts the contacts per state.

How "callable now" reaches SQL (it depends on ``now`` and on the attempts), exactly and in
a constant number of statements whatever the size of the list:

- a task that never had an attempt (no ``call_attempt_tasks`` row) is classified in SQL:
  its state follows from ``now``, the slots, its status, its customer's number and
  no-call flag, and for a birthday its ``due_at`` (:func:`_fresh_state`, which mirrors
  ``care.domain.attempts.plan`` with no attempts; tests compare the two);
- the tasks of the filter that had attempts are classified in Python by the domain's
  own plan, their attempts read in one query; their states go back into SQL as id lists
  (``CASE WHEN id IN (…)``). They are the tasks called and not closed yet, a set bounded
  by the calls of the last few days (the R13 window, the fallback and the deadline sweep
  close the others), not by the size of the list.

The contact's state is then an aggregate of the GROUP BY like its earliest deadline, so
keyset paging over (callable first, earliest deadline, customer id) stays exact: no
contact is repeated or skipped between pages unless its state changed in between (a call
made, a slot opened or closed), as a contact whose deadline changed would move. The page
and the counts per state are one statement (the contacts are a CTE both read).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum
from typing import NamedTuple

from sqlalchemy import (
    Integer,
    and_,
    case,
    cast,
    func,
    literal,
    null,
    or_,
    select,
    type_coerce,
    union_all,
)
from sqlalchemy.orm import Session, selectinload

from care.domain import DomainError
from care.domain import attempts as policy
from care.domain import besttime as besttime_rules
from care.domain.besttime import BestTime
from care.domain.dates import local_today, start_of_day, to_local
from care.domain.roles import MANAGERS, Role
from care.domain.settings import Settings
from care.domain.task_rules import TaskType
from care.models import OPEN_STATUSES, CareTask, Customer, TaskOutcome, TaskStatus, User, UserRole
from care.models.call import CallAttempt, CallAttemptTask
from care.services import Actor, audit, besttime
from care.services import calls as call_service
from care.services.settings import load_settings

# Who may hold care tasks (the generator assigns to them; reassignment targets them).
TASK_OWNER_ROLES: frozenset[Role] = frozenset({Role.SPECIALIST, Role.INSURANCE, Role.CONSULTANT})
# Who may move tasks between people.
REASSIGNERS: frozenset[Role] = frozenset({Role.CARE_MANAGER, Role.GENERAL_MANAGER})
# At most this many tasks in one reassignment request.
MAX_REASSIGN = 1000
TASK_TYPES = tuple(t.value for t in TaskType)
NOT_AN_OWNER = (
    "%(user)s is not a care specialist, insurance specialist or sales consultant"
    " and cannot take tasks."
)


class WorklistError(DomainError):
    """Bad worklist input (a cursor or filter value that cannot be read)."""


class ReassignError(DomainError):
    """The reassignment as a whole was refused (the target cannot own tasks …).

    ``template`` is an English message with ``%(name)s`` fields, ``params`` their values,
    so that the web layer shows it translated; ``str(exc)`` is the English text."""

    def __init__(self, template: str, **params):
        self.template = template
        self.params = params
        super().__init__(template % params if params else template)


class StatusFilter(StrEnum):
    ALL = "all"  # open and blocked
    OPEN = "open"
    BLOCKED = "blocked"


class DueFilter(StrEnum):
    ALL = "all"
    TODAY = "today"  # the deadline is later today
    OVERDUE = "overdue"  # the deadline has passed


class CallState(StrEnum):
    """Where calling a task (or a contact) stands at ``now`` (issue 10 item 2)."""

    CALLABLE = "callable"  # a call may be placed now (R13: a slot open now, attempts left)
    WAITING = "waiting"  # not now: its next open slot is later
    IN_PROGRESS = "in_progress"  # a call is ringing or connected
    OUTCOME_MISSING = "outcome_missing"  # answered, and no outcome recorded since
    BLOCKED = "blocked"  # number correction, no number, or the customer refuses calls
    NO_CALL_LEFT = "no_call_left"  # attempts used, window over, or reached: no further call


# A contact's state is the most pressing of its tasks' states: the lowest rank. A call in
# progress comes first (no second call while one rings, calls.start_contact_call), then an
# answer waiting for its outcome, then "callable now".
STATE_RANK: dict[CallState, int] = {
    CallState.IN_PROGRESS: 1,
    CallState.OUTCOME_MISSING: 2,
    CallState.CALLABLE: 3,
    CallState.WAITING: 4,
    CallState.BLOCKED: 5,
    CallState.NO_CALL_LEFT: 6,
}
RANK_STATE: dict[int, CallState] = {rank: state for state, rank in STATE_RANK.items()}
# The order of the header's counts.
STATE_ORDER: tuple[CallState, ...] = (
    CallState.CALLABLE,
    CallState.WAITING,
    CallState.IN_PROGRESS,
    CallState.OUTCOME_MISSING,
    CallState.BLOCKED,
    CallState.NO_CALL_LEFT,
)
# The task states whose attempts the line summarises (the tasks still being worked).
ACTIVE_STATES = frozenset(
    {CallState.CALLABLE, CallState.WAITING, CallState.IN_PROGRESS, CallState.OUTCOME_MISSING}
)
BLOCKED_NUMBER = "number"  # number correction, or no number at all (R12)
BLOCKED_NO_CALL = "no_call"  # the customer asked not to be called


class StateFilter(StrEnum):
    ALL = "all"
    CALLABLE = CallState.CALLABLE.value
    WAITING = CallState.WAITING.value
    IN_PROGRESS = CallState.IN_PROGRESS.value
    OUTCOME_MISSING = CallState.OUTCOME_MISSING.value
    BLOCKED = CallState.BLOCKED.value
    NO_CALL_LEFT = CallState.NO_CALL_LEFT.value


class Order(StrEnum):
    CALLABLE_FIRST = "callable"  # the default: callable-now contacts first, then by deadline
    DUE = "due"  # by earliest deadline only
    # callable-now contacts first, then the most likely to answer in the slot now (or the
    # next slot, in quiet hours), then by deadline (issue 13 item 6: best time to call)
    REACHABLE = "reachable"


OWNER_ALL = "all"
OWNER_UNASSIGNED = "unassigned"


@dataclass(frozen=True)
class WorklistFilter:
    """What to show. ``owner``: a user id, ``"unassigned"`` or ``"all"``; it applies to
    managers only (everyone else sees their own tasks). ``state``: the contacts in one
    :class:`CallState` only; ``order``: callable-now contacts first (default) or by
    deadline only."""

    types: tuple[str, ...] = ()  # empty: every type
    status: StatusFilter = StatusFilter.ALL
    due: DueFilter = DueFilter.ALL
    owner: int | str = OWNER_ALL
    state: StateFilter = StateFilter.ALL
    order: Order = Order.CALLABLE_FIRST

    @property
    def is_default(self) -> bool:
        return (
            not self.types
            and self.status is StatusFilter.ALL
            and self.due is DueFilter.ALL
            and self.owner == OWNER_ALL
            and self.state is StateFilter.ALL
            and self.order is Order.CALLABLE_FIRST
        )

    def query_args(self) -> dict:
        """The filter as URL arguments (for links and the "next" link)."""
        args: dict = {}
        if self.types:
            args["type"] = list(self.types)
        if self.status is not StatusFilter.ALL:
            args["status"] = self.status.value
        if self.due is not DueFilter.ALL:
            args["due"] = self.due.value
        if self.owner != OWNER_ALL:
            args["owner"] = str(self.owner)
        if self.state is not StateFilter.ALL:
            args["state"] = self.state.value
        if self.order is not Order.CALLABLE_FIRST:
            args["order"] = self.order.value
        return args


def parse_filter(
    types: list[str] | None = None,
    status: str | None = None,
    due: str | None = None,
    owner: str | None = None,
    *,
    state: str | None = None,
    order: str | None = None,
) -> WorklistFilter:
    """Filter values from a query string; WorklistError names the first bad one."""
    chosen: list[str] = []
    for raw in types or []:
        for value in raw.split(","):
            value = value.strip()
            if not value:
                continue
            if value not in TASK_TYPES:
                raise WorklistError(f"unknown task type {value!r}")
            if value not in chosen:
                chosen.append(value)
    try:
        status_value = StatusFilter((status or "all").strip() or "all")
    except ValueError:
        raise WorklistError(f"unknown status filter {status!r}") from None
    try:
        due_value = DueFilter((due or "all").strip() or "all")
    except ValueError:
        raise WorklistError(f"unknown due filter {due!r}") from None
    try:
        state_value = StateFilter((state or "all").strip() or "all")
    except ValueError:
        raise WorklistError(f"unknown call state filter {state!r}") from None
    try:
        order_value = Order((order or Order.CALLABLE_FIRST.value).strip() or Order.CALLABLE_FIRST.value)
    except ValueError:
        raise WorklistError(f"unknown order {order!r}") from None
    owner_text = (owner or OWNER_ALL).strip() or OWNER_ALL
    owner_value: int | str
    if owner_text in (OWNER_ALL, OWNER_UNASSIGNED):
        owner_value = owner_text
    elif owner_text.isascii() and owner_text.isdigit() and len(owner_text) <= 9:
        owner_value = int(owner_text)
    else:
        raise WorklistError(f"unknown owner {owner!r}")
    # Canonical order, so that one filter has one URL.
    ordered = tuple(t for t in TASK_TYPES if t in chosen)
    return WorklistFilter(ordered, status_value, due_value, owner_value, state_value, order_value)


# --- the cursor --------------------------------------------------------------------------


@dataclass(frozen=True)
class Cursor:
    """The last contact of a page: (its group: 0 callable now, 1 the others — always 0 in
    the deadline order —, its earliest deadline, its customer id); in the order "most
    likely reachable now" also its reach score (per mille), between group and deadline."""

    group: int
    due: datetime  # aware
    customer_id: int
    reach: int | None = None

    def encode(self) -> str:
        stamp = self.due.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        if self.reach is not None:
            return f"{self.group}|{self.reach}|{stamp}|{self.customer_id}"
        return f"{self.group}|{stamp}|{self.customer_id}"

    @classmethod
    def parse(cls, text: str) -> Cursor:
        """``1|2026-09-15T15:59:59.000000Z|123`` (or ``1|640|…|123`` with a reach score) →
        Cursor; WorklistError on anything else."""
        if not isinstance(text, str) or len(text) > 80 or text.count("|") not in (2, 3):
            raise WorklistError("the page cursor is not <group>|<ISO time>|<customer id>")
        reach = None
        if text.count("|") == 3:
            group, score, stamp, ident = text.split("|")
            if not (score.isascii() and score.isdigit()) or len(score) > 4 or int(score) > besttime_rules.SCALE:
                raise WorklistError("the page cursor's reach score is not a number of 0 to 1000")
            reach = int(score)
        else:
            group, stamp, ident = text.split("|")
        if group not in ("0", "1"):
            raise WorklistError("the page cursor's group is not 0 or 1")
        if not (ident.isascii() and ident.isdigit()) or len(ident) > 10 or int(ident) > 2**31 - 1:
            raise WorklistError("the page cursor's customer id is not a number")
        try:
            due = datetime.fromisoformat(stamp.strip().replace("Z", "+00:00"))
        except ValueError:
            raise WorklistError("the page cursor's time is not an ISO 8601 time") from None
        if due.tzinfo is None or due.utcoffset() is None:
            raise WorklistError("the page cursor's time has no UTC offset")
        return cls(int(group), due.astimezone(UTC), int(ident), reach)


# --- call state ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Reading:
    """What the worklist reads of a task's R13 plan (``care.domain.attempts.AttemptPlan``)."""

    in_progress: bool
    reached: bool
    used: int  # unsuccessful attempts
    attempts_max: int
    used_slots: tuple[str, ...]  # the slot names used, once each, in order
    current: policy.SlotOccurrence | None  # the open slot containing now
    next_open: policy.SlotOccurrence | None  # the earliest open slot (possibly the current)


class PlanReader:
    """The R13 plans of many tasks at one ``now``, each by ``calls.plan_for``, and each
    distinct attempt history read once.

    A plan depends on the task's attempts only through the sequence of their (local day,
    slot, outcome) — ``care.domain.attempts`` groups attempts by day and slot, orders them
    by start, starts the window on the first one's day — and on the task only through
    "birthday, due when" (the birthday's window). That sequence is the memo's key, so that
    the tasks of one contact call, and the many tasks with "no answer this morning", cost one
    plan; tests compare the memo's readings with plans read one by one."""

    def __init__(self, settings: Settings, now: datetime, *, seen: dict | None = None):
        self.settings = settings
        self.now = now
        self._memo: dict[tuple, Reading] = {}
        # an attempt's (started at, outcome, status, counted) → its (local day, slot,
        # outcome), or None when it is no attempt. It depends on nothing else but the time
        # zone and the slots, so a caller may pass one kept across requests (:func:`_seen_memo`).
        self._seen: dict[tuple, tuple | None] = {} if seen is None else seen
        self._called: dict[tuple, bool] = {}  # (day, slot, outcome)s → any counted attempt
        self._last_day: dict[datetime, date] = {}  # deadline → last day for a first call

    def _seen_of(self, attempt) -> tuple | None:
        facts = (attempt.started_at, attempt.outcome, attempt.status, attempt.counted)
        if facts in self._seen:
            return self._seen[facts]
        record = call_service.attempt_record(attempt)
        found = None
        if record is not None:
            local = to_local(record.started_at, self.settings.timezone)
            slot = policy.slot_of(local, self.settings)
            found = (local.date(), slot.name if slot else None, record.outcome)
        self._seen[facts] = found
        return found

    def _key(self, task, attempts) -> tuple:
        seen = tuple(item for item in map(self._seen_of, attempts) if item is not None)
        birthday = task.type == TaskType.BIRTHDAY.value
        # Before its first counted attempt a task's window is its own (its deadline:
        # care.domain.attempts.first_call_deadline), so then the deadline is part of the key:
        # a birthday's to the minute, another task's through its day only (its last day for
        # a first call), so that a list's thousands of deadlines make a few keys.
        called = self._called.get(seen)
        if called is None:
            called = self._called[seen] = any(policy.counts_as_attempt(outcome) for _day, _slot, outcome in seen)
        if birthday:
            deadline = task.due_at
        elif called or task.due_at is None:
            deadline = None
        else:
            deadline = self._last_day.get(task.due_at)
            if deadline is None:
                deadline = self._last_day[task.due_at] = policy.first_call_last_day(self.settings, task.due_at)
        return (deadline, birthday, seen)

    def read(self, task, attempts: list[CallAttempt]) -> Reading:
        """``task``: a CareTask, or any object with its ``type`` and ``due_at``."""
        key = self._key(task, attempts)
        found = self._memo.get(key)
        if found is None:
            p = call_service.plan_for(task, attempts, self.settings, self.now)
            found = self._memo[key] = Reading(
                in_progress=p.in_progress,
                reached=p.reached,
                used=p.used,
                attempts_max=p.attempts_max,
                used_slots=tuple(dict.fromkeys(u.name for u in p.used_slots)),
                current=p.current(self.now),
                next_open=p.next_open,
            )
        return found


@dataclass(frozen=True)
class TaskCall:
    """A task's call state at ``now``: the state, its attempts, and why it is blocked."""

    state: CallState
    used: int  # unsuccessful attempts (R13)
    attempts_max: int
    used_slots: tuple[str, ...] = ()
    blocked_by: str | None = None  # BLOCKED_NUMBER, BLOCKED_NO_CALL
    next_slot: policy.SlotOccurrence | None = None  # callable: the slot now; waiting: the next


def _has_number(customer: Customer) -> bool:
    """As care.services.calls.number_of: the mobile, else the other phone."""
    return bool(customer.mobile or customer.phone2)


def outcome_missing(attempts: list[CallAttempt], last_outcome_at: datetime | None) -> bool:
    """An answered attempt after which no outcome was recorded on the task."""
    answered = [
        a.started_at
        for a in attempts
        if (r := call_service.attempt_record(a)) is not None and policy.is_success(r.outcome)
    ]
    if not answered:
        return False
    return last_outcome_at is None or last_outcome_at < max(answered)


def task_call(
    task,
    attempts: list[CallAttempt],
    *,
    reader: PlanReader,
    status: str,
    no_call: bool,
    has_number: bool,
    last_outcome_at: datetime | None,
) -> TaskCall:
    """The task's :class:`CallState` at the reader's ``now``, by the R13 plan
    (``calls.plan_for``) and what ``calls.precheck`` refuses (blocked, no number, no calls).
    In this order: a call in progress, an answer without its outcome, blocked, callable
    now, waiting for a later slot, no call left. :func:`_fresh_state` is the same reading,
    in SQL, for a task that never had an attempt."""
    r = reader.read(task, attempts)
    facts = {"used": r.used, "attempts_max": r.attempts_max, "used_slots": r.used_slots}
    if r.in_progress:
        return TaskCall(CallState.IN_PROGRESS, **facts)
    if r.reached and outcome_missing(attempts, last_outcome_at):
        return TaskCall(CallState.OUTCOME_MISSING, **facts)
    if status == TaskStatus.BLOCKED.value or not has_number:
        return TaskCall(CallState.BLOCKED, **facts, blocked_by=BLOCKED_NUMBER)
    if no_call:
        return TaskCall(CallState.BLOCKED, **facts, blocked_by=BLOCKED_NO_CALL)
    if r.current is not None:  # a slot open now: not reached, not exhausted (R13)
        return TaskCall(CallState.CALLABLE, **facts, next_slot=r.current)
    if r.next_open is not None:
        return TaskCall(CallState.WAITING, **facts, next_slot=r.next_open)
    return TaskCall(CallState.NO_CALL_LEFT, **facts)


@dataclass
class ContactCall:
    """A contact line's call state: the most pressing of its tasks' (:data:`STATE_RANK`).

    Attempts and slots: the line shows those of one task, ``summary``: the task still
    being worked (callable, waiting, in progress, outcome missing) with the most
    unsuccessful attempts (the earliest deadline on a tie); with none being worked, the
    same over every task. One call counts for each task of the contact, so they usually
    agree; when they do not (``varies``), each reason shows its own."""

    state: CallState
    tasks: dict[int, TaskCall]
    summary: TaskCall
    next_slot: policy.SlotOccurrence | None  # callable: the slot now; waiting: the earliest next
    varies: bool

    @property
    def used(self) -> int:
        return self.summary.used

    @property
    def attempts_max(self) -> int:
        return self.summary.attempts_max

    @property
    def used_slots(self) -> tuple[str, ...]:
        return self.summary.used_slots

    @property
    def blocked_by(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(tc.blocked_by for tc in self.tasks.values() if tc.blocked_by))


def contact_call(by_task: dict[int, TaskCall]) -> ContactCall:
    """The line's state from its tasks' (task id → state, in deadline order)."""
    task_calls = list(by_task.values())
    state = min((tc.state for tc in task_calls), key=STATE_RANK.__getitem__)
    active = [tc for tc in task_calls if tc.state in ACTIVE_STATES] or task_calls
    summary = max(active, key=lambda tc: tc.used)  # max keeps the first of equals
    same_state = [tc for tc in task_calls if tc.state is state]
    slots = [tc.next_slot for tc in same_state if tc.next_slot is not None]
    next_slot = min(slots, key=lambda o: o.starts_at) if slots else None
    shapes = {(tc.used, tc.attempts_max, tc.used_slots) for tc in task_calls}
    return ContactCall(
        state=state,
        tasks=dict(by_task),
        summary=summary,
        next_slot=next_slot,
        varies=len(shapes) > 1,
    )


# --- the page ----------------------------------------------------------------------------


@dataclass
class Contact:
    """One line of the worklist: a customer and their due tasks (earliest deadline first)."""

    customer: Customer
    first_due: datetime
    tasks: list[CareTask]
    overdue: bool
    call: ContactCall | None = None
    group: int = 0  # 0: callable now (in the default order), 1: the others
    listed_state: CallState | None = None  # the state the SQL ordered and counted it by
    reach: int | None = None  # order "reachable": the per-mille chance of an answer now
    best_time: BestTime | None = None  # order "reachable": their slots (care.domain.besttime)

    @property
    def blocked(self) -> bool:
        return any(t.status == TaskStatus.BLOCKED.value for t in self.tasks)

    @property
    def task_ids(self) -> list[int]:
        return [t.id for t in self.tasks]

    @property
    def assignees(self) -> list[User | None]:
        """The distinct assignees of the line's tasks (None for unassigned)."""
        seen: dict[int | None, User | None] = {}
        for t in self.tasks:
            seen.setdefault(t.assignee_id, t.assignee)
        return list(seen.values())

    @property
    def cursor(self) -> Cursor:
        return Cursor(self.group, self.first_due, self.customer.id, self.reach)


@dataclass
class WorklistPage:
    filter: WorklistFilter
    contacts: list[Contact]
    next_cursor: Cursor | None
    after: Cursor | None
    counts: dict[str, int]  # task type → tasks, for the whole filter (every page)
    total_tasks: int
    total_contacts: int
    today: date
    manager_view: bool
    owner_id: int | None = None  # the forced owner (non-managers: the viewer)
    # contacts per call state, for the filter without its state (every page)
    state_counts: dict[CallState, int] = field(default_factory=dict)
    slot_names: tuple[str, ...] = ()  # the configured call slots, in order
    current_slot: policy.SlotOccurrence | None = None  # the slot now (None: quiet hours)
    next_slot: policy.SlotOccurrence | None = None  # the slot now, else the next one
    now: datetime | None = None
    reach_slot: policy.SlotOccurrence | None = None  # order "reachable": the slot it scores


@dataclass
class Window:
    """The instants that "today" means at the dealer."""

    now: datetime
    today: date
    tomorrow_start: datetime  # aware, the next local midnight

    @classmethod
    def at(cls, now: datetime, tz_name: str) -> Window:
        today = local_today(now, tz_name)
        return cls(now, today, start_of_day(today + timedelta(days=1), tz_name))


def is_manager(user) -> bool:
    return bool(set(user.roles) & MANAGERS)


def _conditions(
    f: WorklistFilter, window: Window, owner_id: int | None, *, statuses=None
) -> list:
    """The task conditions of the filter (its state aside: that is the contact's)."""
    if statuses is None:
        statuses = list(OPEN_STATUSES) if f.status is StatusFilter.ALL else [f.status.value]
    conds = [CareTask.opens_on <= window.today]
    if statuses is not True:  # True: any status (a caller adds its own condition)
        conds.append(CareTask.status.in_(statuses))
    if f.types:
        conds.append(CareTask.type.in_(f.types))
    if f.due is DueFilter.TODAY:
        conds += [CareTask.due_at >= window.now, CareTask.due_at < window.tomorrow_start]
    elif f.due is DueFilter.OVERDUE:
        conds.append(CareTask.due_at < window.now)
    if owner_id is not None:
        conds.append(CareTask.assignee_id == owner_id)
    elif f.owner == OWNER_UNASSIGNED:
        conds.append(CareTask.assignee_id.is_(None))
    elif isinstance(f.owner, int):
        conds.append(CareTask.assignee_id == f.owner)
    return conds


def _has_number_sql():
    return or_(func.coalesce(Customer.mobile, "") != "", func.coalesce(Customer.phone2, "") != "")


@dataclass(frozen=True)
class _TaskFacts:
    """What the call state needs of a task with attempts (a row, not an entity)."""

    id: int
    type: str
    status: str
    due_at: datetime


@dataclass
class _Calls:
    """The call states of a filter's tasks that had attempts (computed in Python) and what
    the SQL needs to classify the others (:func:`_fresh_state`)."""

    reader: PlanReader
    base: Reading  # a task without attempts, not a birthday: the slot now and the next one
    tasks: dict[int, TaskCall]  # task id → state, the tasks with attempts
    # the tasks with attempts whose state is not the one they would have without them: only
    # these need telling to the SQL (the others it reads as it reads a task never called)
    differ: frozenset[int] = frozenset()

    @property
    def now(self) -> datetime:
        return self.reader.now

    def ranks(self) -> dict[int, list[int]]:
        by_rank: dict[int, list[int]] = {}
        for task_id in sorted(self.differ):
            by_rank.setdefault(STATE_RANK[self.tasks[task_id].state], []).append(task_id)
        return by_rank


class _AttemptFacts(NamedTuple):
    """What the call state reads of an attempt (``calls.attempt_record`` and
    :func:`outcome_missing`): a row, not an entity."""

    id: int
    started_at: datetime
    outcome: str | None
    status: str
    counted: bool


# PlanReader's attempt readings kept per process, per (time zone, slots): the worklist
# reads the same attempts of the open tasks on every view, and a finished attempt does not
# change. Content-keyed, so never stale; emptied when it grows past _SEEN_MAX entries.
_SEEN: dict[tuple, dict[tuple, tuple | None]] = {}
_SEEN_MAX = 50_000  # ~20 MB at most; a manager's whole list here reads 6,300 attempts


def _seen_memo(settings: Settings) -> dict[tuple, tuple | None]:
    key = (settings.timezone, tuple(settings.call_slots))
    found = _SEEN.get(key)
    if found is None or len(found) > _SEEN_MAX:
        _SEEN.clear()  # other settings' (edited slots) are of no further use
        found = _SEEN[key] = {}
    return found


def _read_calls(session: Session, conds: list, settings: Settings, now: datetime) -> _Calls:
    """One statement whatever the list's size: the filter's tasks that had an attempt (with
    their customer's number and no-call flag and the time of their last outcome), each with
    its attempts (the link ``call_attempt_tasks``, as ``calls.attempts_by_task`` reads them,
    oldest first), a row per (task, attempt).

    Every task of the list counts (the header's counts per state and the callable-first
    order need them all), so this is whole-list work: the attempts are read as plain rows
    (the few columns the plan reads, no entities), each attempt's (day, slot, outcome) is
    worked out once however many tasks it counts for (:class:`PlanReader`), and the state is
    worked out once per distinct (history, status, number, no-call, outcome missing) — a
    few hundred for thousands of called tasks."""
    last_outcome = (
        select(func.max(TaskOutcome.recorded_at)).where(TaskOutcome.task_id == CareTask.id).scalar_subquery()
    )
    # The customer's fields by correlated subqueries, not a join: looked up for the rows
    # found (the called tasks) only, where SQLite joined every task of the list first
    # (24,000 lookups for a manager's 4,700 called tasks: 100 → 65 ms).
    of_customer = Customer.id == CareTask.customer_id
    found = session.execute(
        select(
            CareTask.id,
            CareTask.type,
            CareTask.status,
            CareTask.due_at,
            select(Customer.no_call).where(of_customer).scalar_subquery(),
            select(_has_number_sql()).where(of_customer).scalar_subquery(),
            # typed, so that it reads as an aware datetime like the column
            type_coerce(last_outcome, TaskOutcome.recorded_at.type),
            CallAttempt.id,
            CallAttempt.started_at,
            CallAttempt.outcome,
            CallAttempt.status,
            CallAttempt.counted,
        )
        .join(CallAttemptTask, CallAttemptTask.task_id == CareTask.id)
        .join(CallAttempt, CallAttempt.id == CallAttemptTask.attempt_id)
        .where(*conds)
    )  # no ORDER BY: SQLite would walk the whole table in id order to skip a sort
    rows: list[tuple] = []  # (id, type, status, due_at, no_call, has number, last outcome at)
    attempts: dict[int, list[_AttemptFacts]] = {}
    for row in found:
        task_id = row[0]
        history = attempts.get(task_id)
        if history is None:
            history = attempts[task_id] = []
            rows.append(row[:7])
        history.append(_AttemptFacts._make(row[7:]))
    for history in attempts.values():  # oldest first, as calls.attempts_by_task
        history.sort(key=lambda a: (a.started_at, a.id))
    reader = PlanReader(settings, now, seen=_seen_memo(settings))
    tasks, differ = {}, set()
    # task_call depends on the attempts only through the reader's key, and on the task only
    # through these fields: each distinct case is worked out once
    called_memo: dict[tuple, TaskCall] = {}
    fresh_memo: dict[tuple, CallState] = {}
    for task_id, task_type, status, due_at, no_call, number, last_at in rows:
        facts = _TaskFacts(task_id, task_type, status, due_at)
        history = attempts[task_id]
        key = reader._key(facts, history)
        # only an answered attempt can leave its outcome missing: the others need no look
        missing = any(policy.is_success(outcome) for _day, _slot, outcome in key[2]) and outcome_missing(
            history, last_at
        )
        found = {"reader": reader, "status": status, "no_call": bool(no_call), "has_number": bool(number)}
        case_key = (key, status, bool(no_call), bool(number), missing)
        tc = called_memo.get(case_key)
        if tc is None:
            tc = called_memo[case_key] = task_call(facts, history, last_outcome_at=last_at, **found)
        # what the SQL would say of it without its attempts (:func:`_fresh_state`)
        fresh_key = (reader._key(facts, ()), status, bool(no_call), bool(number))
        fresh = fresh_memo.get(fresh_key)
        if fresh is None:
            fresh = fresh_memo[fresh_key] = task_call(facts, [], last_outcome_at=None, **found).state
        tasks[task_id] = tc
        if tc.state is not fresh:
            differ.add(task_id)
    # the slots of a task never called whose deadline is far off: the SQL adds the deadline
    far = now + timedelta(days=366)
    base = reader.read(_TaskFacts(0, TaskType.FIRST_SERVICE.value, TaskStatus.OPEN.value, far), [])
    return _Calls(reader, base, tasks, frozenset(differ))


def _fresh_state(calls: _Calls):
    """SQL: the rank of the state of a task that never had an attempt — what
    :func:`task_call` answers for it with no attempts: blocked (status, number, no-call
    flag); a birthday whose window (its ``due_at``) is over, or another task whose first
    call is overdue (``care.domain.attempts.first_call_overdue``: its deadline's day plus
    ``expiry_grace_days`` is over): no call left; in a slot now: callable; else waiting,
    unless the task's window ends before the next slot starts."""
    now = calls.now
    settings = calls.reader.settings
    birthday = CareTask.type == TaskType.BIRTHDAY.value
    grace = timedelta(days=int(settings.expiry_grace_days))

    def deadline_day_before(day: date):
        """A task (not a birthday) whose deadline's day plus the grace is before ``day``."""
        return and_(~birthday, CareTask.due_at < start_of_day(day - grace, settings.timezone))

    blocked = or_(
        CareTask.status == TaskStatus.BLOCKED.value,
        ~_has_number_sql(),
        Customer.no_call.is_(True),
    )
    whens = [
        (blocked, STATE_RANK[CallState.BLOCKED]),
        (and_(birthday, CareTask.due_at <= now), STATE_RANK[CallState.NO_CALL_LEFT]),
        (deadline_day_before(local_today(now, settings.timezone)), STATE_RANK[CallState.NO_CALL_LEFT]),
    ]
    if calls.base.current is not None:
        return whens, STATE_RANK[CallState.CALLABLE]
    nxt = calls.base.next_open
    if nxt is None:  # no slot at all
        return whens, STATE_RANK[CallState.NO_CALL_LEFT]
    whens.append((and_(birthday, CareTask.due_at <= nxt.starts_at), STATE_RANK[CallState.NO_CALL_LEFT]))
    whens.append((deadline_day_before(nxt.day), STATE_RANK[CallState.NO_CALL_LEFT]))
    return whens, STATE_RANK[CallState.WAITING]


def _task_rank(calls: _Calls):
    """SQL: the state rank of each task: the Python states of the tasks with attempts that
    differ from what :func:`_fresh_state` says of them, else :func:`_fresh_state`."""
    known = [(CareTask.id.in_(ids), rank) for rank, ids in sorted(calls.ranks().items())]
    whens, otherwise = _fresh_state(calls)
    return case(*known, *whens, else_=otherwise)


def _grouped(conds: list, calls: _Calls, order: Order, reach=None):
    """The contacts of the filter (a SELECT to use as a subquery or CTE): customer id,
    earliest deadline, state rank, group (0: callable now, in the default order; 1: the
    others) and reach score (``reach``: care.services.besttime.reach_score's subquery and
    expression, else NULL)."""
    tasks = (
        select(
            CareTask.customer_id.label("customer_id"),
            CareTask.due_at.label("due_at"),
            _task_rank(calls).label("task_rank"),
        )
        .join(Customer, Customer.id == CareTask.customer_id)
        .where(*conds)
        .subquery("listed_tasks")
    )
    rank = func.min(tasks.c.task_rank)
    if order in (Order.CALLABLE_FIRST, Order.REACHABLE):
        group = case((rank == STATE_RANK[CallState.CALLABLE], 0), else_=1)
    else:
        group = literal(0)
    score = cast(null(), Integer)
    source = tasks
    if reach is not None:
        tally, expression = reach
        source = tasks.outerjoin(tally, tally.c.customer_id == tasks.c.customer_id)
        score = func.max(expression)
    return (
        select(
            tasks.c.customer_id,
            func.min(tasks.c.due_at).label("first_due"),
            rank.label("rank"),
            group.label("grp"),
            score.label("reach"),
        )
        .select_from(source)
        .group_by(tasks.c.customer_id)
    )


def _effective_filter(f: WorklistFilter, user: User) -> tuple[WorklistFilter, int | None, bool]:
    manager = is_manager(user)
    if not manager and f.owner != OWNER_ALL:
        f = dataclasses.replace(f, owner=OWNER_ALL)
    return f, (None if manager else user.id), manager


def worklist(
    session: Session,
    f: WorklistFilter,
    *,
    user: User,
    now: datetime,
    after: Cursor | None = None,
    page_size: int = 25,
    desk: besttime.DeskRatesCache | None = None,
) -> WorklistPage:
    """One page of contacts for ``user``: a manager sees everyone's tasks
    (``f.owner`` narrows them), anyone else their own only. Each contact carries its call
    state (``Contact.call``); the page, the counts per type and per state cost the same
    statements whatever the number of lines."""
    settings = load_settings(session)
    window = Window.at(now, settings.timezone)
    f, forced_owner, manager = _effective_filter(f, user)
    conds = _conditions(f, window, forced_owner)
    calls = _read_calls(session, conds, settings, now)
    reach = reach_reader = reach_slot = None
    if f.order is Order.REACHABLE:
        reach_reader = besttime.Reader.load(session, now=now, settings=settings, desk=desk)
        reach_slot = calls.base.current or calls.base.next_open
        if reach_slot is not None:
            reach = besttime.reach_score(
                reader=reach_reader, slot=reach_slot.name, weekday=reach_slot.day.weekday(), now=now,
                settings=settings, among=select(CareTask.customer_id).where(*conds),
            )  # fmt: skip
    grouped = _grouped(conds, calls, f.order, reach)

    # One statement for the page and the counts per state: the contacts are a CTE that both
    # read (computed once: SQLite and PostgreSQL materialise a CTE used twice).
    grouped = grouped.cte("contacts", nesting=True)
    none_int = cast(null(), Integer)  # typed NULLs: PostgreSQL matches the UNION's columns by type
    page_q = select(
        grouped.c.customer_id, grouped.c.first_due, grouped.c.rank, grouped.c.grp, none_int.label("n"), grouped.c.reach
    )
    if f.state is not StateFilter.ALL:
        page_q = page_q.where(grouped.c.rank == STATE_RANK[CallState(f.state.value)])
    g, d, c, r = grouped.c.grp, grouped.c.first_due, grouped.c.customer_id, grouped.c.reach
    if after is not None and reach is not None:  # (group, reach descending, deadline, id)
        score = after.reach if after.reach is not None else besttime_rules.SCALE
        page_q = page_q.where(
            or_(
                g > after.group,
                and_(g == after.group, r < score),
                and_(g == after.group, r == score, d > after.due),
                and_(g == after.group, r == score, d == after.due, c > after.customer_id),
            )
        )
    elif after is not None:
        page_q = page_q.where(
            or_(
                g > after.group,
                and_(g == after.group, d > after.due),
                and_(g == after.group, d == after.due, c > after.customer_id),
            )
        )
    if reach is not None:
        page_q = page_q.order_by(g, r.desc(), d, c).limit(page_size + 1)
    else:
        page_q = page_q.order_by(g, d, c).limit(page_size + 1)
    counts_per_rank = select(
        none_int.label("customer_id"),
        cast(null(), CareTask.due_at.type).label("first_due"),
        grouped.c.rank,
        none_int.label("grp"),
        func.count(),
        none_int.label("reach"),
    ).group_by(grouped.c.rank)
    both = union_all(select(page_q.subquery("page")), counts_per_rank).add_cte(grouped, nest_here=True)
    # the WITH inside a subquery, so that the statement starts with SELECT: a read
    # (care/web/unit_of_work.py commits nothing for a request that only read)
    found_rows = session.execute(select(both.subquery("found"))).all()
    # the page's contacts (n is NULL), sorted here: a UNION ALL promises no order
    rows = sorted((r for r in found_rows if r[4] is None), key=lambda r: (r[3], -(r[5] or 0), r[1], r[0]))
    state_counts = _state_counts([(r[2], r[4]) for r in found_rows if r[4] is not None])
    has_more = len(rows) > page_size
    rows = rows[:page_size]
    ids = [r.customer_id for r in rows]

    contacts: list[Contact] = []
    best_times: dict[int, BestTime] = {}
    if ids and reach_reader is not None:
        weekday = reach_slot.day.weekday() if reach_slot is not None else None
        tallies = besttime.customer_tallies(session, ids, now=now, settings=settings)
        best_times = {i: reach_reader.estimate(own, weekday) for i, own in tallies.items()}
    if ids:
        customers = {c.id: c for c in session.scalars(select(Customer).where(Customer.id.in_(ids)))}
        tasks_by_customer: dict[int, list[CareTask]] = {i: [] for i in ids}
        task_q = (
            select(CareTask)
            .where(*conds, CareTask.customer_id.in_(ids))
            .order_by(CareTask.customer_id, CareTask.due_at, CareTask.id)
            .options(selectinload(CareTask.assignee), selectinload(CareTask.vehicle))
        )
        for task in session.scalars(task_q):
            tasks_by_customer[task.customer_id].append(task)
        for r in rows:
            customer = customers[r.customer_id]
            tasks = tasks_by_customer[r.customer_id]
            contacts.append(
                Contact(
                    customer=customer,
                    first_due=r.first_due,
                    tasks=tasks,
                    overdue=r.first_due < now,
                    call=_contact_call_of(customer, tasks, calls),
                    group=int(r.grp),
                    listed_state=RANK_STATE.get(int(r.rank)),
                    reach=None if r.reach is None else int(r.reach),
                    best_time=best_times.get(r.customer_id),
                )
            )

    # Grouped by an expression of the type, not the column: else SQLite walks the whole
    # table in the type index's order to skip the sort (160 ms over 200,000 tasks for a
    # manager's 24,000 due ones) instead of finding the due tasks by their status index.
    task_type = CareTask.type.concat("")
    counts_q = select(task_type, func.count()).where(*conds)
    if f.state is not StateFilter.ALL:
        in_state = select(grouped.c.customer_id).where(grouped.c.rank == STATE_RANK[CallState(f.state.value)])
        counts_q = counts_q.where(CareTask.customer_id.in_(in_state))
    found = dict(session.execute(counts_q.group_by(task_type)).all())
    counts = {t: found[t] for t in TASK_TYPES if found.get(t)}  # the vocabulary's order
    counts.update({t: n for t, n in found.items() if t not in counts and n})  # unknown types
    if f.state is StateFilter.ALL:
        total_contacts = sum(state_counts.values())
    else:
        total_contacts = state_counts.get(CallState(f.state.value), 0)
    return WorklistPage(
        filter=f,
        contacts=contacts,
        next_cursor=contacts[-1].cursor if has_more and contacts else None,
        after=after,
        counts=counts,
        total_tasks=sum(counts.values()),
        total_contacts=total_contacts,
        today=window.today,
        manager_view=manager,
        owner_id=forced_owner,
        state_counts=state_counts,
        slot_names=tuple(s.name for s in settings.call_slots),
        current_slot=calls.base.current,
        next_slot=calls.base.next_open,
        now=now,
        reach_slot=reach_slot if reach is not None else None,
    )


def _contact_call_of(customer: Customer, tasks: list[CareTask], calls: _Calls) -> ContactCall:
    """The line's call state: the tasks with attempts as :func:`_read_calls` found them,
    the others read now with no attempts (the customer is loaded: no query)."""
    found: dict[int, TaskCall] = {}
    for task in tasks:
        tc = calls.tasks.get(task.id)
        if tc is None:
            tc = task_call(
                task,
                [],
                reader=calls.reader,
                status=task.status,
                no_call=bool(customer.no_call),
                has_number=_has_number(customer),
                last_outcome_at=None,
            )
        found[task.id] = tc
    return contact_call(found)


def _state_counts(rows) -> dict[CallState, int]:
    """Contacts per call state over the whole filter (its state filter aside), from
    (rank, count) rows."""
    found = {RANK_STATE[int(rank)]: n for rank, n in rows if int(rank) in RANK_STATE}
    return {state: found.get(state, 0) for state in STATE_ORDER}


# --- next contact (issue 10 item 3) -----------------------------------------------------


def next_callable_contact(
    session: Session,
    f: WorklistFilter,
    *,
    user: User,
    now: datetime,
    after: int | None = None,
) -> int | None:
    """The customer id of the next contact ``user`` can call now, in the worklist's order,
    after the customer ``after``; None when none is callable.

    The list is ``user``'s own (a manager's as ``f.owner`` says, as on the worklist) with
    ``f``'s type, status and due filters; its state filter and order do not apply (the
    answer is always a callable contact, in deadline order). "After" is the place of
    ``after``'s line: its earliest deadline among its tasks of the filter that are still
    due or were closed today (the outcome just recorded); the first callable contact after
    it, else (the end of the list) the first callable one from the top, never ``after``
    itself. Without a place (``after`` None or unknown): the first callable contact."""
    settings = load_settings(session)
    window = Window.at(now, settings.timezone)
    f, forced_owner, _manager = _effective_filter(f, user)
    conds = _conditions(f, window, forced_owner)
    calls = _read_calls(session, conds, settings, now)
    grouped = _grouped(conds, calls, Order.DUE).subquery("contacts")
    candidates = select(grouped.c.customer_id).where(grouped.c.rank == STATE_RANK[CallState.CALLABLE])
    order = (grouped.c.first_due, grouped.c.customer_id)
    if after is None:
        return session.scalar(candidates.order_by(*order).limit(1))
    candidates = candidates.where(grouped.c.customer_id != after)
    today_start = start_of_day(window.today, settings.timezone)
    place_conds = _conditions(f, window, forced_owner, statuses=True)
    statuses = [f.status.value] if f.status is not StatusFilter.ALL else list(OPEN_STATUSES)
    place = session.scalar(
        select(func.min(CareTask.due_at)).where(
            *place_conds,
            CareTask.customer_id == after,
            or_(CareTask.status.in_(statuses), CareTask.closed_at >= today_start),
        )
    )
    if place is not None:
        following = candidates.where(
            or_(
                grouped.c.first_due > place,
                and_(grouped.c.first_due == place, grouped.c.customer_id > after),
            )
        )
        found = session.scalar(following.order_by(*order).limit(1))
        if found is not None:
            return found
    return session.scalar(candidates.order_by(*order).limit(1))



# --- the load panel ----------------------------------------------------------------------


@dataclass
class Load:
    """One person's open (due) tasks; ``user`` None is the unassigned pile."""

    user: User | None
    total: int = 0
    due_today: int = 0
    overdue: int = 0
    owner_role: bool = True  # the user holds a task role
    active: bool = True


def task_owners(session: Session, *, include_ids: set[int] | frozenset[int] = frozenset()) -> list[User]:
    """Active users who can own tasks (specialists, insurance specialists, consultants),
    by name; plus the users named in ``include_ids`` whatever their state."""
    owner_ids = select(UserRole.user_id).where(UserRole.role.in_([r.value for r in TASK_OWNER_ROLES]))
    cond = and_(User.active.is_(True), User.id.in_(owner_ids))
    if include_ids:
        cond = or_(cond, User.id.in_(sorted(include_ids)))
    users = list(session.scalars(select(User).where(cond)))
    return sorted(users, key=lambda u: (u.label.casefold(), u.id))


def load_panel(session: Session, *, now: datetime) -> list[Load]:
    """Due open/blocked tasks per owner: every active task owner (with zeros), anyone else
    still holding tasks (e.g. deactivated), and the unassigned ones (last, when any)."""
    settings = load_settings(session)
    window = Window.at(now, settings.timezone)
    due_today = case(
        (and_(CareTask.due_at >= window.now, CareTask.due_at < window.tomorrow_start), 1), else_=0
    )
    overdue = case((CareTask.due_at < window.now, 1), else_=0)
    q = (
        select(CareTask.assignee_id, func.count(), func.sum(due_today), func.sum(overdue))
        .where(CareTask.status.in_(OPEN_STATUSES), CareTask.opens_on <= window.today)
        .group_by(CareTask.assignee_id)
    )
    numbers = {row[0]: (row[1], int(row[2] or 0), int(row[3] or 0)) for row in session.execute(q)}
    holders = {uid for uid in numbers if uid is not None}
    owner_roles = {r.value for r in TASK_OWNER_ROLES}
    loads = []
    for user in task_owners(session, include_ids=holders):
        total, today_n, overdue_n = numbers.get(user.id, (0, 0, 0))
        loads.append(
            Load(
                user,
                total,
                today_n,
                overdue_n,
                owner_role=bool({r.value for r in user.roles} & owner_roles),
                active=user.active,
            )
        )
    if None in numbers:
        total, today_n, overdue_n = numbers[None]
        loads.append(Load(None, total, today_n, overdue_n))
    return loads


# --- reassignment ------------------------------------------------------------------------


@dataclass
class ReassignResult:
    assignee: User
    reassigned: list[int] = field(default_factory=list)  # moved to the assignee
    unchanged: list[int] = field(default_factory=list)  # already the assignee's
    closed: list[int] = field(default_factory=list)  # done/failed/canceled: refused
    missing: list[int] = field(default_factory=list)  # no such task

    @property
    def refused(self) -> list[int]:
        return self.closed + self.missing

    def counts(self) -> dict[str, int]:
        return {
            "reassigned": len(self.reassigned),
            "unchanged": len(self.unchanged),
            "closed": len(self.closed),
            "missing": len(self.missing),
        }


def reassign(
    session: Session,
    task_ids,
    assignee_id: int,
    *,
    user: User,
    now: datetime,
    ip: str | None = None,
) -> ReassignResult:
    """Give the open/blocked tasks ``task_ids`` to the user ``assignee_id``.

    Refused as a whole (ReassignError): a ``user`` who may not reassign, no tasks, too
    many, a target that does not exist, is inactive or holds no task role. Refused per
    task (reported in the result, the others still move): closed tasks and unknown ids.
    Each moved task is audit-logged (ids only: task, from, to).
    """
    if not (set(user.roles) & REASSIGNERS):
        raise ReassignError("Your role does not allow reassigning tasks.")
    ids = list(dict.fromkeys(int(i) for i in task_ids))
    if not ids:
        raise ReassignError("Choose at least one task to reassign.")
    if len(ids) > MAX_REASSIGN:
        raise ReassignError(
            "At most %(max)d tasks can be reassigned at once.", max=MAX_REASSIGN
        )
    target = session.get(User, assignee_id)
    if target is None:
        raise ReassignError("There is no user with the id %(id)d.", id=assignee_id)
    if not target.active:
        raise ReassignError("%(user)s is inactive and cannot take tasks.", user=target.label)
    if not (set(target.roles) & TASK_OWNER_ROLES):
        raise ReassignError(NOT_AN_OWNER, user=target.label)
    tasks = {
        t.id: t
        for t in session.scalars(
            select(CareTask).where(CareTask.id.in_(ids)).with_for_update()
        )
    }
    result = ReassignResult(assignee=target)
    for task_id in ids:
        task = tasks.get(task_id)
        if task is None:
            result.missing.append(task_id)
        elif task.status not in OPEN_STATUSES:
            result.closed.append(task_id)
        elif task.assignee_id == target.id:
            result.unchanged.append(task_id)
        else:
            previous = task.assignee_id
            task.assignee_id = target.id
            task.updated_at = now
            result.reassigned.append(task_id)
            audit.record(
                session,
                actor=Actor.of(user, ip),
                action="task.reassign",
                object_type="care_task",
                object_id=task_id,
                detail={"from": previous, "to": target.id},
                now=now,
            )
    session.flush()
    return result

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
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum

from sqlalchemy import and_, case, func, or_, select
from sqlalchemy.orm import Session, selectinload

from care.domain import DomainError
from care.domain.dates import local_today, start_of_day
from care.domain.roles import MANAGERS, Role
from care.domain.task_rules import TaskType
from care.models import OPEN_STATUSES, CareTask, Customer, TaskStatus, User, UserRole
from care.services import Actor, audit
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


OWNER_ALL = "all"
OWNER_UNASSIGNED = "unassigned"


@dataclass(frozen=True)
class WorklistFilter:
    """What to show. ``owner``: a user id, ``"unassigned"`` or ``"all"``; it applies to
    managers only (everyone else sees their own tasks)."""

    types: tuple[str, ...] = ()  # empty: every type
    status: StatusFilter = StatusFilter.ALL
    due: DueFilter = DueFilter.ALL
    owner: int | str = OWNER_ALL

    @property
    def is_default(self) -> bool:
        return (
            not self.types
            and self.status is StatusFilter.ALL
            and self.due is DueFilter.ALL
            and self.owner == OWNER_ALL
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
        return args


def parse_filter(
    types: list[str] | None = None,
    status: str | None = None,
    due: str | None = None,
    owner: str | None = None,
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
    return WorklistFilter(ordered, status_value, due_value, owner_value)


# --- the cursor --------------------------------------------------------------------------


@dataclass(frozen=True)
class Cursor:
    """The last contact of a page: (its earliest deadline, its customer id)."""

    due: datetime  # aware
    customer_id: int

    def encode(self) -> str:
        return f"{self.due.astimezone(UTC).strftime('%Y-%m-%dT%H:%M:%S.%fZ')}|{self.customer_id}"

    @classmethod
    def parse(cls, text: str) -> Cursor:
        """``2026-09-15T15:59:59.000000Z|123`` → Cursor; WorklistError on anything else."""
        if not isinstance(text, str) or len(text) > 80 or text.count("|") != 1:
            raise WorklistError("the page cursor is not <ISO time>|<customer id>")
        stamp, ident = text.split("|")
        if not (ident.isascii() and ident.isdigit()) or len(ident) > 10 or int(ident) > 2**31 - 1:
            raise WorklistError("the page cursor's customer id is not a number")
        try:
            due = datetime.fromisoformat(stamp.strip().replace("Z", "+00:00"))
        except ValueError:
            raise WorklistError("the page cursor's time is not an ISO 8601 time") from None
        if due.tzinfo is None or due.utcoffset() is None:
            raise WorklistError("the page cursor's time has no UTC offset")
        return cls(due.astimezone(UTC), int(ident))


# --- the page ----------------------------------------------------------------------------


@dataclass
class Contact:
    """One line of the worklist: a customer and their due tasks (earliest deadline first)."""

    customer: Customer
    first_due: datetime
    tasks: list[CareTask]
    overdue: bool

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
        return Cursor(self.first_due, self.customer.id)


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


def _conditions(f: WorklistFilter, window: Window, owner_id: int | None) -> list:
    statuses = list(OPEN_STATUSES) if f.status is StatusFilter.ALL else [f.status.value]
    conds = [CareTask.status.in_(statuses), CareTask.opens_on <= window.today]
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


def worklist(
    session: Session,
    f: WorklistFilter,
    *,
    user: User,
    now: datetime,
    after: Cursor | None = None,
    page_size: int = 25,
) -> WorklistPage:
    """One page of contacts for ``user``: a manager sees everyone's tasks
    (``f.owner`` narrows them), anyone else their own only."""
    settings = load_settings(session)
    window = Window.at(now, settings.timezone)
    manager = is_manager(user)
    forced_owner = None if manager else user.id
    if not manager and f.owner != OWNER_ALL:
        f = WorklistFilter(f.types, f.status, f.due, OWNER_ALL)
    conds = _conditions(f, window, forced_owner)

    first_due = func.min(CareTask.due_at).label("first_due")
    grouped = (
        select(CareTask.customer_id.label("customer_id"), first_due)
        .where(*conds)
        .group_by(CareTask.customer_id)
        .subquery("contacts")
    )
    page_q = select(grouped.c.customer_id, grouped.c.first_due)
    if after is not None:
        page_q = page_q.where(
            or_(
                grouped.c.first_due > after.due,
                and_(grouped.c.first_due == after.due, grouped.c.customer_id > after.customer_id),
            )
        )
    page_q = page_q.order_by(grouped.c.first_due, grouped.c.customer_id).limit(page_size + 1)
    rows = session.execute(page_q).all()
    has_more = len(rows) > page_size
    rows = rows[:page_size]
    ids = [r.customer_id for r in rows]

    contacts: list[Contact] = []
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
            contacts.append(
                Contact(
                    customer=customers[r.customer_id],
                    first_due=r.first_due,
                    tasks=tasks_by_customer[r.customer_id],
                    overdue=r.first_due < now,
                )
            )

    counts_q = select(CareTask.type, func.count()).where(*conds).group_by(CareTask.type)
    found = dict(session.execute(counts_q).all())
    counts = {t: found[t] for t in TASK_TYPES if found.get(t)}  # the vocabulary's order
    counts.update({t: n for t, n in found.items() if t not in counts and n})  # unknown types
    total_tasks = sum(counts.values())
    total_contacts = session.scalar(
        select(func.count(func.distinct(CareTask.customer_id))).where(*conds)
    ) or 0
    return WorklistPage(
        filter=f,
        contacts=contacts,
        next_cursor=contacts[-1].cursor if has_more and contacts else None,
        after=after,
        counts=counts,
        total_tasks=total_tasks,
        total_contacts=total_contacts,
        today=window.today,
        manager_view=manager,
        owner_id=forced_owner,
    )


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

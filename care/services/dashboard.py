"""The managers' dashboard (issue 12 item 7): today at the desk, in a few grouped queries.

- ``queues``: per task type, the open tasks (opened by today), those due today, those
  overdue, and what was closed today (done, or failed/expired);
- ``people``: per task owner, the same open/due/overdue load (care.services.worklist's
  ``load_panel``) with today's closings and calls;
- the R15 violations of the month so far (care.services.fallback.violations), the
  insurance sample's progress of this month and the last (care.services.sampling), the
  number-correction queue.

Every figure is counted in SQL (one statement per family, whatever the number of tasks);
the page shows them and links each to the list behind it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime

from sqlalchemy import and_, case, func, or_, select
from sqlalchemy.orm import Session

from care.domain.dates import start_of_day
from care.domain.kpis import previous_month
from care.domain.settings import Settings
from care.domain.task_rules import TaskType
from care.models import CallAttempt, CareTask, User
from care.models.task import OPEN_STATUSES, TaskStatus
from care.services import fallback, number_corrections, sampling
from care.services.worklist import Load, Window, load_panel

CLOSED_UNREACHED = (TaskStatus.FAILED.value, TaskStatus.EXPIRED.value)
R15_SHOWN = 5  # the latest R15 violations listed on the page (the rest: the full list)


@dataclass(frozen=True)
class Queue:
    """One task type's day; ``type`` None is the total."""

    type: str | None
    open: int = 0  # open or blocked, opened by today
    due_today: int = 0  # of those, due before the end of today and not yet overdue
    overdue: int = 0  # of those, past their deadline
    done_today: int = 0  # closed with an outcome today
    unreached_today: int = 0  # failed or expired today

    @property
    def closed_today(self) -> int:
        return self.done_today + self.unreached_today


@dataclass(frozen=True)
class Person:
    load: Load
    done_today: int = 0
    calls_today: int = 0
    answered_today: int = 0


@dataclass(frozen=True)
class Dashboard:
    now: datetime
    today: date
    month: date
    last_month: date
    queues: list[Queue]
    total: Queue
    people: list[Person]
    r15_count: int
    r15_latest: list = field(default_factory=list)
    sample_this: dict = field(default_factory=dict)
    sample_last: dict = field(default_factory=dict)
    corrections_waiting: int = 0


def _flag(condition):
    return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)


def queues(session: Session, window: Window, today_start: datetime) -> list[Queue]:
    """Per task type (every type, zeros included), the open load and today's closings."""
    is_open = and_(CareTask.status.in_(OPEN_STATUSES), CareTask.opens_on <= window.today)
    closed_today = and_(CareTask.closed_at >= today_start, CareTask.closed_at < window.tomorrow_start)
    rows = session.execute(
        select(
            CareTask.type,
            _flag(is_open),
            _flag(and_(is_open, CareTask.due_at >= window.now, CareTask.due_at < window.tomorrow_start)),
            _flag(and_(is_open, CareTask.due_at < window.now)),
            _flag(and_(closed_today, CareTask.status == TaskStatus.DONE.value)),
            _flag(and_(closed_today, CareTask.status.in_(CLOSED_UNREACHED))),
        )
        .where(or_(CareTask.status.in_(OPEN_STATUSES), closed_today))
        .group_by(CareTask.type)
    ).all()
    found = {row[0]: Queue(row[0], *(int(n) for n in row[1:])) for row in rows}
    return [found.get(t.value, Queue(t.value)) for t in TaskType]


def _total(rows: list[Queue]) -> Queue:
    return Queue(
        None,
        sum(q.open for q in rows),
        sum(q.due_today for q in rows),
        sum(q.overdue for q in rows),
        sum(q.done_today for q in rows),
        sum(q.unreached_today for q in rows),
    )


def people(session: Session, window: Window, today_start: datetime) -> list[Person]:
    """Every task owner's load (as the worklist's panel counts it), today's closings by
    them and today's calls placed by them (answered apart)."""
    loads = load_panel(session, now=window.now)
    done = dict(
        session.execute(
            select(CareTask.assignee_id, func.count())
            .where(
                CareTask.status == TaskStatus.DONE.value,
                CareTask.closed_at >= today_start,
                CareTask.closed_at < window.tomorrow_start,
            )
            .group_by(CareTask.assignee_id)
        ).all()
    )
    calls = {
        user_id: (int(n), int(answered))
        for user_id, n, answered in session.execute(
            select(CallAttempt.user_id, func.count(), _flag(CallAttempt.answered.is_(True)))
            .where(CallAttempt.started_at >= today_start, CallAttempt.started_at < window.tomorrow_start)
            .group_by(CallAttempt.user_id)
        )
    }
    found = []
    for load in loads:
        uid = load.user.id if load.user is not None else None
        n_calls, answered = calls.get(uid, (0, 0)) if uid is not None else (0, 0)
        found.append(Person(load, int(done.get(uid, 0)), n_calls, answered))
    return found


def dashboard(session: Session, *, now: datetime, settings: Settings) -> Dashboard:
    window = Window.at(now, settings.timezone)
    today_start = start_of_day(window.today, settings.timezone)
    month = window.today.replace(day=1)
    rows = queues(session, window, today_start)
    r15 = fallback.violations(session, now=now, month=month)
    return Dashboard(
        now=now,
        today=window.today,
        month=month,
        last_month=previous_month(month),
        queues=rows,
        total=_total(rows),
        people=people(session, window, today_start),
        r15_count=len(r15),
        r15_latest=list(reversed(r15[-R15_SHOWN:])),
        sample_this=sampling.sample_summary(session, month, settings=settings),
        sample_last=sampling.sample_summary(session, previous_month(month), settings=settings),
        corrections_waiting=number_corrections.queue_size(session),
    )


def my_month(session: Session, user: User, *, now: datetime, settings: Settings):
    """A person's own month so far (their scorecard), for the top of their worklist."""
    from care.domain import kpis as rules
    from care.services.scorecards import counts_by_assignee

    span = rules.month_span(local_month(now, settings), settings.timezone, now)
    counts = counts_by_assignee(session, span, settings, only=user.id).get(user.id, rules.ScoreCounts())
    return span, rules.Scorecard(user.id, counts)


def local_month(now: datetime, settings: Settings) -> date:
    return Window.at(now, settings.timezone).today.replace(day=1)

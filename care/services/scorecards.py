"""Scorecards (issue 12 item 3): each care specialist's, insurance specialist's and
consultant's month, side by side — one grouped query for everyone.

A person's month is the tasks assigned to them that ended in the month (the KPIs' own
rule, care.domain.kpis), so the people's figures add up to the department's. Each
figure is counted per task and per distinct customer, and attempts both as links (a
call for a contact's three tasks is an attempt for each) and as distinct calls, so
that calling one customer again and again cannot inflate a figure.

Who sees whom is decided here (care.domain.kpis.scorecard_scope): a specialist their
own card, the managers everyone's.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

import sqlalchemy as sa
from sqlalchemy import and_, distinct, func, select
from sqlalchemy.orm import Session, aliased

from care.domain import kpis as rules
from care.models import CallAttempt, CallAttemptTask, CareTask, User, UserRole
from care.services import kpis as kpi_queries
from care.services.settings import load_settings


@dataclass(frozen=True)
class ScoreGroup:
    """One role's people and their cards, in name order."""

    role: str
    cards: list[tuple[User, rules.Scorecard]]
    everyone: bool  # the viewer sees the whole group (else their own card only)


def counts_by_assignee(
    session: Session, span: rules.MonthSpan, settings, *, only: int | None = None
) -> dict[int | None, rules.ScoreCounts]:
    """One query: per assignee (or for ``only`` that one), the month's tasks counted per
    task and per customer."""
    mine = [kpi_queries.ended_in(span)]
    if only is not None:
        mine.append(CareTask.assignee_id == only)
    att = kpi_queries.attempt_summary(*mine)
    link, a = aliased(CallAttemptTask), aliased(CallAttempt)
    done = CareTask.status == kpi_queries.DONE
    phone = and_(CareTask.channel == "call", CareTask.type != "birthday")
    on_time = and_(CareTask.status.in_((kpi_queries.DONE, "failed")), CareTask.closed_at <= CareTask.due_at)
    counted = and_(
        a.id == link.attempt_id,
        a.counted.is_(True),
        a.outcome.in_(kpi_queries.SUCCESS + kpi_queries.UNSUCCESSFUL),
    )
    flag = kpi_queries.flag
    inner = (
        select(
            CareTask.assignee_id.label("assignee_id"),
            CareTask.id.label("task_id"),
            CareTask.customer_id.label("customer_id"),
            flag(done).label("done"),
            flag(kpi_queries.reached()).label("reached"),
            flag(on_time).label("on_time"),
            flag(phone).label("phone"),
            flag(and_(phone, kpi_queries.r13_compliant(att, settings))).label("compliant"),
            a.id.label("attempt_id"),
        )
        .select_from(CareTask)
        .outerjoin(att, att.c.task_id == CareTask.id)
        .outerjoin(link, link.task_id == CareTask.id)
        .outerjoin(a, counted)
        # the month's tasks by their id: found first through the due/closed indexes
        # (kpis.ended_in), else SQLite walks all of one assignee's history (``only``) and
        # joins each task's attempts before the month's test
        .where(CareTask.id.in_(select(CareTask.id).where(*mine)))
        .subquery("scored")
    )
    c = inner.c

    def distinct_when(condition, column):
        return func.count(distinct(sa.case((condition, column))))

    rows = session.execute(
        select(
            c.assignee_id,
            func.count(distinct(c.task_id)),
            func.count(distinct(c.customer_id)),
            distinct_when(c.done == 1, c.task_id),
            distinct_when(c.reached == 1, c.task_id),
            distinct_when(c.reached == 1, c.customer_id),
            distinct_when(c.on_time == 1, c.task_id),
            distinct_when(c.phone == 1, c.task_id),
            distinct_when(c.compliant == 1, c.task_id),
            func.count(c.attempt_id),
            distinct_when(c.attempt_id.is_not(None), c.task_id),
            func.count(distinct(c.attempt_id)),
            distinct_when(c.attempt_id.is_not(None), c.customer_id),
        ).group_by(c.assignee_id)
    ).all()
    return {row[0]: rules.ScoreCounts(*(int(v or 0) for v in row[1:])) for row in rows}


def people(session: Session, role: str, *, only: int | None = None) -> list[User]:
    """Active users with ``role`` (or only the user ``only``), by name."""
    stmt = (
        select(User)
        .join(UserRole, UserRole.user_id == User.id)
        .where(UserRole.role == role)
        .order_by(User.display_name, User.username, User.id)
    )
    if only is not None:
        stmt = stmt.where(User.id == only)
    else:
        stmt = stmt.where(User.active.is_(True))
    return list(session.scalars(stmt))


def scorecards(session: Session, month: date, *, viewer: User, now: datetime) -> tuple[rules.MonthSpan, list[ScoreGroup]]:
    """The scorecards ``viewer`` may see for ``month``: per role group (care
    specialists, insurance specialists, consultants), everyone's for a manager, their
    own for the person. No group at all for a viewer whose roles see none."""
    settings = load_settings(session)
    span = rules.month_span(month, settings.timezone, now)
    scope = rules.scorecard_scope(viewer.roles)
    if not scope:
        return span, []
    counts = counts_by_assignee(session, span, settings)
    groups = []
    for role in rules.SCORECARD_ROLES:
        if role not in scope:
            continue
        everyone = scope[role] == rules.SCOPE_ALL
        users = people(session, role, only=None if everyone else viewer.id)
        cards = [(u, rules.Scorecard(u.id, counts.get(u.id, rules.ScoreCounts()))) for u in users]
        groups.append(ScoreGroup(role, cards, everyone))
    return span, groups

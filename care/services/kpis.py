"""R22 – the monthly KPIs: one set-based query per KPI family, and the drill-downs.

Each family is a *cohort* (the tasks or vehicles a figure is about, with a flag for
those in its numerator) written once and read two ways: grouped (``GROUP BY`` and
conditional sums — the figure) and listed a page at a time (the drill-down), so that a
figure and the rows behind it can never disagree. The formulas and the definitions are
in care/domain/kpis.py; the README ("KPIs") says what each figure counts.

Dates are the dealer's: the month's boundaries, each day's local midnight and "now"
are aware instants computed in Python (care.domain.kpis.month_span) and passed as
parameters; no time-zone arithmetic happens in SQL, so SQLite and PostgreSQL count
alike. The one date computation left to SQL, days between two dates, is
:class:`days_between` (compiled for each of the two).

A call counts for every task of the contact it was made for (domain.md §3 "one
contact"): attempts are read through ``call_attempt_tasks``, never through
``CallAttempt.task_id`` (the lead task only).

Task statuses: ``done`` with a reaching outcome is reached; any other closed status
(failed, expired, or one added later) is closed without reaching the customer;
``canceled`` (withdrawn) does not count at all — except a lapsed recall superseded by
next month's, which was simply not done in its month.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy import and_, distinct, exists, func, literal, or_, select
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Session, aliased
from sqlalchemy.sql.expression import ColumnElement, FunctionElement

from care.domain import attempts as attempt_rules
from care.domain import kpis as rules
from care.domain.dates import add_months
from care.domain.lapsed import LapsedClass, is_local
from care.domain.outcomes import SUPERSEDED
from care.domain.roles import Role, mask_phone
from care.domain.settings import Settings
from care.models import (
    Appointment,
    CallAttempt,
    CallAttemptTask,
    CareTask,
    Customer,
    OutboxMessage,
    ServiceVisit,
    TaskOutcome,
    User,
    UserRole,
    Vehicle,
)
from care.models.types import UTCDateTime
from care.services import Actor, audit, survey_results
from care.services import campaigns as campaign_service
from care.services import complaints as complaint_service
from care.services.settings import load_settings

CANCELED = "canceled"
DONE = "done"
REACHED = tuple(sorted(rules.reached_outcomes()))
SUCCESS = tuple(sorted(attempt_rules.SUCCESS_OUTCOMES))
UNSUCCESSFUL = tuple(sorted(attempt_rules.UNSUCCESSFUL_OUTCOMES))


# --- SQL helpers -----------------------------------------------------------------------


class days_between(FunctionElement):  # noqa: N801 - an SQL function, named like one
    """``later − earlier`` in whole days, for two DATE expressions, on both databases."""

    type = sa.Integer()
    inherit_cache = True
    name = "days_between"


@compiles(days_between)
def _days_between_default(element, compiler, **kw):  # PostgreSQL: date - date is an integer
    later, earlier = list(element.clauses)
    return f"({compiler.process(later, **kw)} - {compiler.process(earlier, **kw)})"


@compiles(days_between, "sqlite")
def _days_between_sqlite(element, compiler, **kw):
    later, earlier = list(element.clauses)
    return (
        f"CAST(julianday({compiler.process(later, **kw)}) - "
        f"julianday({compiler.process(earlier, **kw)}) AS INTEGER)"
    )


def _instant(value: datetime) -> ColumnElement:
    return literal(value, type_=UTCDateTime())


def local_day(column, span: rules.MonthSpan) -> ColumnElement:
    """The dealer-local day of the month (1 …) of an instant inside the month."""
    whens = [(column < edge, i + 1) for i, edge in enumerate(span.edges[1:-1])]
    return sa.case(*whens, else_=span.days) if whens else literal(span.days)


def local_day_end(column, span: rules.MonthSpan) -> ColumnElement:
    """The local midnight that ends the day of an instant inside the month."""
    whens = [(column < edge, _instant(edge)) for edge in span.edges[1:]]
    return sa.case(*whens, else_=_instant(span.edges[-1]))


def flag(condition) -> ColumnElement:
    return sa.case((condition, 1), else_=0)


def _sum(condition) -> ColumnElement:
    return func.coalesce(func.sum(flag(condition)), 0)


def ended_at() -> ColumnElement:
    """When a task ended for the desk: closed by its deadline → the closing moment;
    otherwise (closed late, or still open) → its deadline (care.domain.kpis)."""
    return sa.case(
        (and_(CareTask.closed_at.is_not(None), CareTask.closed_at < CareTask.due_at), CareTask.closed_at),
        else_=CareTask.due_at,
    )


def withdrawn() -> ColumnElement:
    """A task withdrawn (canceled: its purpose met another way, its data corrected) does
    not count. A lapsed recall closed as superseded by next month's recall does: it was
    not done in its month, so it counts as not reached."""
    return and_(CareTask.status == CANCELED, func.coalesce(CareTask.outcome, "") != SUPERSEDED)


def ended_in(span: rules.MonthSpan) -> ColumnElement:
    """The task ended in the month (so far) and was not withdrawn.

    A task ends at its deadline or when closed before it, so it ended in the month when
    its deadline or its closing falls in the month: two bounded ranges, each served by
    an index of its own (``ix_care_tasks_due_at``, ``ix_care_tasks_closed_at``), so the
    month's tasks are found without reading the rest of the history."""
    end = ended_at()
    return and_(
        or_(
            and_(CareTask.due_at >= span.start, CareTask.due_at < span.cutoff),
            and_(CareTask.closed_at >= span.start, CareTask.closed_at < span.cutoff),
        ),
        end >= span.start,
        end < span.cutoff,
        ~withdrawn(),
    )


def reached() -> ColumnElement:
    """The task was closed with an outcome that reached the customer."""
    return and_(CareTask.status == DONE, CareTask.outcome.in_(REACHED))


def message_sent(before=None) -> ColumnElement:
    """A message of the task (its fallback, or the task itself by SMS/e-mail) went out."""
    cond = [OutboxMessage.task_id == CareTask.id, OutboxMessage.status.in_(rules.SENT_MESSAGE_STATUSES)]
    if before is not None:
        cond.append(OutboxMessage.sent_at < before)
    return exists().where(*cond)


def reminded() -> ColumnElement:
    return or_(reached(), message_sent())


def attempt_summary(*task_where):
    """Per task, its counted attempts read through call_attempt_tasks: how many were
    unsuccessful, how many reached, in how many distinct slots the unsuccessful ones
    were, and the first and last local day they used.

    ``task_where`` (conditions on CareTask, e.g. ``ended_in(span)``) keeps only the
    tasks the caller counts: the month's, not every attempt in the history (the 1M-
    attempt report benchmark, bench/report_bench.py)."""
    a, link = CallAttempt, CallAttemptTask
    unsuccessful = a.outcome.in_(UNSUCCESSFUL)
    columns = (
        func.count().label("attempts"),
        _sum(unsuccessful).label("unsuccessful"),
        _sum(a.outcome.in_(SUCCESS)).label("successes"),
        func.count(distinct(sa.case((unsuccessful, a.slot)))).label("slots"),
        func.min(sa.case((unsuccessful, a.slot_date))).label("first_day"),
        func.max(sa.case((unsuccessful, a.slot_date))).label("last_day"),
    )
    counted = and_(a.id == link.attempt_id, a.counted.is_(True), a.outcome.in_(SUCCESS + UNSUCCESSFUL))
    if task_where:  # from the caller's tasks (their index) to their links and attempts
        stmt = (  # grouped by the link's column: SQLite would scan care_tasks in id order
            select(link.task_id.label("task_id"), *columns)
            .select_from(CareTask)
            .join(link, link.task_id == CareTask.id)
            .join(a, counted)
            .where(*task_where)
            .group_by(link.task_id)
        )
    else:
        stmt = select(link.task_id.label("task_id"), *columns).join(a, counted).group_by(link.task_id)
    return stmt.subquery("att")


def r13_compliant(att, settings: Settings) -> ColumnElement:
    """R13: the customer was reached, or the task got ``attempts_max`` unsuccessful
    attempts in distinct slots (as many as there are, when fewer), all within
    ``attempt_window_days`` of the first."""
    need_slots = min(settings.attempts_max, len(settings.call_slots))
    return or_(
        reached(),
        att.c.successes > 0,
        and_(
            att.c.unsuccessful >= settings.attempts_max,
            att.c.slots >= need_slots,
            days_between(att.c.last_day, att.c.first_day) < settings.attempt_window_days,
        ),
    )


def _closing_outcome(task) -> ColumnElement:
    """The id of the outcome row that closed ``task`` (the latest closing one): one
    indexed lookup per row of a cohort, not a GROUP BY over every outcome ever."""
    return (
        select(func.max(TaskOutcome.id))
        .where(TaskOutcome.task_id == task.id, TaskOutcome.closes_task.is_(True))
        .correlate(task)
        .scalar_subquery()
    )


def _closing_outcome_join(outcome, task) -> ColumnElement:
    """Join ``outcome`` as the row that closed ``task``. The redundant ``task_id``
    equality lets PostgreSQL look the outcome up by its task's index; joined on the
    subquery alone it hashed every outcome in the history (the 1M-attempt benchmark)."""
    return and_(outcome.task_id == task.id, outcome.id == _closing_outcome(task))


def _targets(settings: Settings) -> dict[str, Any]:
    return {
        key: settings[key]
        for key in {d.target_setting for d in rules.KPIS.values()} | {d.floor_setting for d in rules.KPIS.values()}
        if key
    }


# --- cohorts ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Cohort:
    """A figure's population: its base (tasks, vehicles, or the churn's last visits),
    WHERE, the joins it needs and the numerator's flag; ``columns`` are labelled columns
    the grouping or a drill-down reads; ``order`` lists a drill-down's rows."""

    unit: str  # "tasks" or "vehicles"
    base: Any
    where: Sequence[Any]
    flag: ColumnElement
    joins: Sequence[tuple[Any, Any, bool]] = ()  # (target, on, outer)
    columns: Sequence[ColumnElement] = ()
    order: Sequence[Any] = ()
    has_customer: bool = False  # the customer is joined already
    member: Sequence[Any] = ()  # task cohorts: the conditions besides ``ended_in(span)``

    def select(self, *columns):
        stmt = select(*columns).select_from(self.base)
        for target, onclause, outer in self.joins:
            stmt = stmt.join(target, onclause, isouter=outer)
        return stmt.where(*self.where)

    def inner(self, name: str = "cohort"):
        """The cohort as a subquery: ``hit`` (the numerator flag) and ``columns``. Grouping
        happens outside it, so that PostgreSQL sees each grouped expression once."""
        return self.select(flag(self.flag).label("hit"), *self.columns).subquery(name)


def _task_cohort(span, member, flag, *, joins=(), columns=()) -> Cohort:
    """A cohort of the tasks that ended in the month (``ended_in``) and meet ``member``,
    kept apart as ``Cohort.member`` so that the report can count every task family in one
    pass over the month's tasks (``task_families``)."""
    return Cohort(
        "tasks", CareTask, (ended_in(span), *member), flag, tuple(joins), tuple(columns), (ended_at(), CareTask.id),
        member=tuple(member),
    )


def reminder_cohort(span, settings, task_type: str | None = None) -> Cohort:
    """R22 reminder rate: tasks that ended in the month; reminded = reached by phone, or
    a message of the task (its fallback) sent."""
    member = [CareTask.type == task_type] if task_type else []
    return _task_cohort(span, member, reminded(), columns=[CareTask.type.label("type")])


def appointment_cohort(span, settings) -> Cohort:
    """R16/R22: reached reminders of the types that can book; booked = an appointment
    made from the task."""
    booked = exists().where(Appointment.task_id == CareTask.id)
    return _task_cohort(span, [CareTask.type.in_(rules.booking_task_types()), reached()], booked)


def compliance_cohort(span, settings) -> Cohort:
    """R13: phone tasks (birthdays apart: R14 falls back after one attempt) that ended in
    the month; compliant = reached, or every attempt made as R13 says."""
    member = [CareTask.channel == "call", CareTask.type != "birthday"]
    att = attempt_summary(ended_in(span), *member)
    return _task_cohort(
        span,
        member,
        r13_compliant(att, settings),
        joins=[(att, att.c.task_id == CareTask.id, True)],
        columns=[
            func.coalesce(att.c.unsuccessful, 0).label("unsuccessful"),
            func.coalesce(att.c.slots, 0).label("slots"),
        ],
    )


def _greeted_in_time() -> ColumnElement:
    """Greeted by phone: outcome "greeted" recorded by the deadline, or recorded later
    for a call answered by the deadline."""
    link, a = aliased(CallAttemptTask), aliased(CallAttempt)
    answered_by_deadline = exists().where(
        link.task_id == CareTask.id,
        a.id == link.attempt_id,
        a.outcome.in_(SUCCESS),
        a.started_at <= CareTask.due_at,
    )
    return and_(
        CareTask.status == DONE,
        CareTask.outcome == rules.GREETED,
        or_(CareTask.closed_at <= CareTask.due_at, answered_by_deadline),
    )


def birthday_cohort(span, settings) -> Cohort:
    """R6/R14: birthday greetings that ended in the month; on time = greeted by phone by
    the deadline, or the SMS sent on the birthday itself (the same day, local time)."""
    on_time = or_(_greeted_in_time(), message_sent(before=local_day_end(CareTask.due_at, span)))
    by_call, by_message = _greeted_by()
    return _task_cohort(
        span,
        [CareTask.type == "birthday"],
        on_time,
        columns=[flag(by_call).label("by_call"), flag(by_message).label("by_message")],
    )


def _greeted_by() -> tuple[ColumnElement, ColumnElement]:
    """(greeted by phone, greeted by a message instead) for a birthday task."""
    by_call = and_(CareTask.status == DONE, CareTask.outcome == rules.GREETED)
    return by_call, and_(~by_call, message_sent())


def _return_columns(task, outcome) -> list[ColumnElement]:
    detail = outcome.detail
    return [
        sa.case((task.id.is_(None), literal(rules.NO_TASK)), else_=func.coalesce(task.outcome, task.status)).label(
            "reason"
        ),
        detail["shop"].as_string().label("shop"),
        detail["location"].as_string().label("location"),
        detail["price"].as_string().label("price"),
        detail["reason"].as_string().label("reason_text"),
    ]


def _returned_by(vehicle_id, opened_on, day, span) -> ColumnElement:
    """A service visit (first service or maintenance) of the vehicle from ``opened_on``
    to the deadline, the deadline being day ``day`` of the month."""
    v = aliased(ServiceVisit)
    return exists().where(
        v.vehicle_id == vehicle_id,
        v.kind.in_(rules.SERVICE_VISIT_KINDS),
        v.date >= opened_on,
        or_(v.date < span.first, and_(v.date <= span.last, sa.extract("day", v.date) <= day)),
    )


def first_service_cohort(span, settings) -> Cohort:
    """R1/R22: vehicles whose first-service window (deadline: delivery + N months)
    closed in the month; returned = a first service (or maintenance: DMS clerks often
    code it so) here from delivery to the deadline. Those that did not return show
    their first-service task's outcome (or status; ``no_task`` without a task) and the
    other shop from that outcome's detail."""
    deliveries = rules.first_service_deliveries(span, settings.first_service_deadline_months)
    delivered_day = sa.extract("day", Vehicle.delivery_date)
    day = sa.case((delivered_day > span.days, span.days), else_=delivered_day)

    def delivered_in_window(vehicle) -> list[ColumnElement]:
        return [vehicle.delivery_date.between(*deliveries)] if deliveries else [sa.false()]

    where = delivered_in_window(Vehicle)
    fs, in_window = aliased(CareTask), aliased(Vehicle)
    latest = (  # the window's vehicles with their latest first-service task's id
        select(
            in_window.id.label("vehicle_id"),
            select(func.max(fs.id))
            .where(fs.vehicle_id == in_window.id, fs.type == "first_service")
            .correlate(in_window)
            .scalar_subquery()
            .label("task_id"),
        )
        .where(*delivered_in_window(in_window))
        # OFFSET 0 keeps this a table of its own: merged into the outer query, PostgreSQL
        # joined the tasks on the correlated max() by hashing every task of the history
        .offset(0)
        .subquery("latest_first_service")
    )
    task, outcome = aliased(CareTask), aliased(TaskOutcome)
    return Cohort(
        "vehicles",
        Vehicle,
        tuple(where),
        _returned_by(Vehicle.id, Vehicle.delivery_date, day, span),
        joins=(
            (latest, latest.c.vehicle_id == Vehicle.id, True),
            (task, task.id == latest.c.task_id, True),
            (outcome, _closing_outcome_join(outcome, task), True),
        ),
        columns=(day.label("day"), task.id.label("task_id"), *_return_columns(task, outcome)),
        order=(Vehicle.delivery_date, Vehicle.id),
    )


def maintenance_cohort(span, settings) -> Cohort:
    """R2/R22: maintenance reminders whose window (opens … predicted due date) closed in
    the month (withdrawn ones apart); returned = a service visit of the vehicle within
    the window. One task is one vehicle's window."""
    day = local_day(CareTask.due_at, span)
    outcome = aliased(TaskOutcome)
    return Cohort(
        "tasks",
        CareTask,
        (
            CareTask.type == "maintenance",
            CareTask.due_at >= span.start,
            CareTask.due_at < span.cutoff,
            ~withdrawn(),
        ),
        _returned_by(CareTask.vehicle_id, CareTask.opens_on, day, span),
        joins=(
            (outcome, _closing_outcome_join(outcome, CareTask), True),
        ),
        columns=(day.label("day"), CareTask.id.label("task_id"), *_return_columns(CareTask, outcome)),
        order=(CareTask.due_at, CareTask.id),
    )


def _last_visits(as_of: date, settings: Settings):
    """Vehicles with a visit in the ``lapsed_max_days`` before ``as_of``: their last
    visit and highest visit mileage up to that day.

    Read from the visits of that window only (``ix_service_visits_date`` covers them),
    not the whole history: an odometer only goes up, so the highest mileage up to
    ``as_of`` is that of a visit in the window whenever the vehicle has one there."""
    return (
        select(
            ServiceVisit.vehicle_id.label("vehicle_id"),
            func.max(ServiceVisit.date).label("last_visit"),
            func.max(ServiceVisit.mileage).label("visit_km"),
        )
        .where(ServiceVisit.date >= as_of - timedelta(days=settings.lapsed_max_days), ServiceVisit.date <= as_of)
        .group_by(ServiceVisit.vehicle_id)
        .subquery("lv")
    )


def _in_warranty(lv, as_of: date) -> ColumnElement:
    """R9 (care.domain.lapsed.in_warranty) in SQL: the warranty end not passed and, where
    both are known, the best known mileage within the limit."""
    km = sa.case(
        (Vehicle.mileage.is_(None), lv.c.visit_km),
        (lv.c.visit_km.is_(None), Vehicle.mileage),
        (Vehicle.mileage > lv.c.visit_km, Vehicle.mileage),
        else_=lv.c.visit_km,
    )
    return and_(
        Vehicle.warranty_end.is_not(None),
        Vehicle.warranty_end >= as_of,
        or_(Vehicle.warranty_km.is_(None), km.is_(None), km <= Vehicle.warranty_km),
    )


def churn_cohort(span, settings, *, group: str | None = None, local_cities: Sequence[str] = ()) -> Cohort:
    """R9/R22 read on ``span.as_of``: vehicles with a visit in the last
    ``lapsed_max_days``; lapsed = the last one ``lapsed_min_days`` ago or more.

    ``group`` (a drill-down) keeps one R9 group: the customer's city among
    ``local_cities`` (those the R9 rule calls local; a missing city is local) and the
    warranty as the grouping reads it."""
    as_of = span.as_of
    lv = _last_visits(as_of, settings)
    warranty = _in_warranty(lv, as_of)
    where = []
    if group:
        members = rules.group_members(group)
        local = or_(Customer.city.is_(None), Customer.city.in_(list(local_cities)))
        if {m[0] for m in members} == {True}:
            where.append(local)
        elif {m[0] for m in members} == {False}:
            where.append(~local)
        if {m[1] for m in members} == {True}:
            where.append(warranty)
        elif {m[1] for m in members} == {False}:
            where.append(~warranty)
    return Cohort(
        "vehicles",
        lv,
        tuple(where),
        lv.c.last_visit <= as_of - timedelta(days=settings.lapsed_min_days),
        joins=(
            (Vehicle, Vehicle.id == lv.c.vehicle_id, False),
            (Customer, Customer.id == Vehicle.customer_id, False),
        ),
        columns=(
            Customer.city.label("city"),
            flag(warranty).label("in_warranty"),
            lv.c.last_visit.label("last_visit"),
        ),
        order=(lv.c.last_visit, Vehicle.id),
        has_customer=True,
    )


def local_cities(session: Session, settings: Settings) -> list[str]:
    """The customers' cities the R9 rule (care.domain.lapsed.is_local) calls local: the
    distinct cities are few, and the rule stays in one place."""
    cities = session.scalars(select(Customer.city).distinct().where(Customer.city.is_not(None)))
    return sorted(c for c in cities if is_local(c, settings.dealer_city))


# --- the figures: one query per family ---------------------------------------------------


def _count_rate(session: Session, cohort: Cohort) -> tuple[int, int]:
    inner = cohort.inner()
    n, hits = session.execute(select(func.count(), func.coalesce(func.sum(inner.c.hit), 0))).one()
    return int(hits), int(n)


@dataclass(frozen=True)
class TaskFamilies:
    """The figures over the month's ended tasks: every type's reminder rate, the
    appointment rate, R13 compliance, the birthday on-time rate and greetings sent."""

    reminder_rate: dict[str, rules.KpiResult]
    appointment_rate: rules.KpiResult
    attempt_compliance: rules.KpiResult
    birthday_on_time_rate: rules.KpiResult
    greetings: dict[str, int]


def task_families(session: Session, span, settings) -> TaskFamilies:
    """Four KPI families in one pass over the tasks that ended in the month (the 1M-
    attempt report benchmark: each family read the same tasks again). Each family's
    members and numerator are its cohort's (``Cohort.member``, ``Cohort.flag``), the
    same definitions the drill-downs list, summed per task type."""
    reminder, appointment = reminder_cohort(span, settings), appointment_cohort(span, settings)
    birthday = birthday_cohort(span, settings)
    compliance_member = (CareTask.channel == "call", CareTask.type != "birthday")
    # R13 reads the attempts only of the tasks that did not reach the customer: a reached
    # one is compliant whatever its attempts (r13_compliant), and skipping them halves the work
    not_reached = or_(CareTask.status != DONE, CareTask.outcome.is_(None), CareTask.outcome.not_in(REACHED))
    att = attempt_summary(ended_in(span), *compliance_member, not_reached)
    by_call, by_message = _greeted_by()

    def both(cohort_member, cohort_flag):
        return (flag(and_(*cohort_member)), flag(and_(*cohort_member, cohort_flag)))

    parts = {
        "reminded": flag(reminder.flag),
        **dict(zip(("appointment_n", "appointment_hits"), both(appointment.member, appointment.flag), strict=True)),
        **dict(zip(("compliance_n", "compliance_hits"),
                   both(compliance_member, r13_compliant(att, settings)), strict=True)),  # fmt: skip
        "birthday_hits": flag(and_(*birthday.member, birthday.flag)),
        "by_call": flag(and_(*birthday.member, by_call)),
        "by_message": flag(and_(*birthday.member, by_message)),
    }
    inner = (
        # the type through coalesce (never null): grouped by the bare column, SQLite would
        # read all the history's tasks along ix_care_tasks_type rather than the month's
        select(func.coalesce(CareTask.type, "").label("type"), *(column.label(name) for name, column in parts.items()))
        .select_from(CareTask)
        .join(att, att.c.task_id == CareTask.id, isouter=True)
        .where(ended_in(span))
        .subquery("families")
    )
    rows = session.execute(
        select(inner.c.type, func.count(), *(func.coalesce(func.sum(inner.c[name]), 0) for name in parts))
        .group_by(inner.c.type)
    ).all()
    per_type = {row[0]: (int(row[1]), dict(zip(parts, map(int, row[2:]), strict=True))) for row in rows}
    total = {name: sum(found[name] for _n, found in per_type.values()) for name in parts}
    targets = _targets(settings)
    reminder_rate = {}
    for t in rules.TASK_TYPES:
        n, found = per_type.get(t, (0, {"reminded": 0}))
        key = "first_service_reminder_rate" if t == "first_service" else "reminder_rate"
        reminder_rate[t] = rules.kpi(key, found["reminded"], n, targets)
    birthdays_n = per_type.get("birthday", (0, {}))[0]
    return TaskFamilies(
        reminder_rate=reminder_rate,
        appointment_rate=rules.kpi("appointment_rate", total["appointment_hits"], total["appointment_n"], targets),
        attempt_compliance=rules.kpi(
            "attempt_compliance", total["compliance_hits"], total["compliance_n"], targets
        ),
        birthday_on_time_rate=rules.kpi("birthday_on_time_rate", total["birthday_hits"], birthdays_n, targets),
        greetings={"birthday_call": total["by_call"], "birthday_message": total["by_message"]},
    )


def appointment_show_rate(session: Session, span) -> rules.KpiResult:
    """R17: arrived ÷ booked over the month's appointments decided so far (arrived or
    no-show; care.domain.register.show_rate)."""
    from care.services.register import month_show_rate

    found = month_show_rate(session, span.first, span.last)
    return rules.KpiResult("appointment_show_rate", found.numerator, found.denominator)


def return_analysis(session: Session, key: str, cohort: Cohort, span, settings) -> rules.ReturnAnalysis:
    inner = cohort.inner()
    cols = (inner.c.day, inner.c.hit, inner.c.reason, inner.c.shop, inner.c.location, inner.c.price)
    rows = session.execute(select(*cols, func.count()).group_by(*cols)).all()
    return rules.return_analysis(
        key,
        span,
        (
            rules.ReturnRow(int(day), bool(hit), None if hit else reason, shop, location, price, int(n))
            for day, hit, reason, shop, location, price, n in rows
        ),
        _targets(settings),
    )


def churn(session: Session, span, settings) -> rules.ChurnAnalysis:
    """Grouped by the customer's city (classified here by the R9 rule itself), lapsed and
    in warranty: a few rows per city, whatever the number of vehicles."""
    inner = churn_cohort(span, settings).inner()
    cols = (inner.c.city, inner.c.hit, inner.c.in_warranty)
    served: dict[tuple[bool, bool], int] = {}
    lapsed: dict[tuple[bool, bool], int] = {}
    for city, hit, warranty, n in session.execute(select(*cols, func.count()).group_by(*cols)):
        key = (is_local(city, settings.dealer_city), bool(warranty))
        served[key] = served.get(key, 0) + int(n)
        if hit:
            lapsed[key] = lapsed.get(key, 0) + int(n)
    return rules.ChurnAnalysis(span.as_of, served, lapsed)


def insurance_sample(session: Session, span, settings: Settings) -> dict[str, Any]:
    """interfaces.md ``insurance_sample``: the R21 sample of the month as the sampling
    page counts it (care.services.sampling: the month's reached insurance calls, the
    sample drawn, the verdicts given, completion = verified ÷ required)."""
    from care.services.sampling import sample_summary  # sampling reads KPIs' settings only

    summary = sample_summary(session, span.first, settings=settings)
    return {key: summary[key] for key in ("calls", "sampled", "verified", "completion")}


def consultants(session: Session) -> list[str]:
    return list(
        session.scalars(
            select(User.username)
            .join(UserRole, UserRole.user_id == User.id)
            .where(UserRole.role == Role.CONSULTANT.value, User.active.is_(True))
            .order_by(User.username)
        )
    )


def monthly_kpis(session: Session, month: date, *, now: datetime, settings: Settings | None = None) -> rules.MonthlyKpis:
    """Every R22 figure of ``month`` (the dealer's), as far as ``now``."""
    settings = settings or load_settings(session)
    span = rules.month_span(month, settings.timezone, now)
    families = task_families(session, span, settings)
    ssi, csi, very_satisfied = survey_results.report_figures(session, span, settings)  # issue 11
    # R11: the month's greeting campaigns sent count among the greetings (issue 13).
    greetings = {**families.greetings, "campaigns": campaign_service.sent_between(session, span.start, span.cutoff)}
    return rules.MonthlyKpis(
        span=span,
        first_service=return_analysis(
            session, "first_service_return_rate", first_service_cohort(span, settings), span, settings
        ),
        maintenance=return_analysis(session, "maintenance_return_rate", maintenance_cohort(span, settings), span, settings),
        appointment_rate=families.appointment_rate,
        churn=churn(session, span, settings),
        reminder_rate=families.reminder_rate,
        attempt_compliance=families.attempt_compliance,
        birthday_on_time_rate=families.birthday_on_time_rate,
        greetings=greetings,
        complaints_closed_in_24h_rate=complaint_service.closed_in_time_rate(session, span, settings, now),
        appointment_show_rate=appointment_show_rate(session, span),
        ssi=ssi,
        csi=csi,
        very_satisfied=very_satisfied,
        insurance_sample=insurance_sample(session, span, settings),
    )


# --- drill-downs -------------------------------------------------------------------------


@dataclass(frozen=True)
class DrillRow:
    """One task or vehicle behind a figure; ``hit`` says whether it is in the numerator.
    Phone numbers are masked here: a drill-down never carries a full one."""

    hit: bool
    customer_id: int
    customer_name: str
    phone: str | None
    task_id: int | None = None
    task_type: str | None = None
    status: str | None = None
    outcome: str | None = None
    due_at: datetime | None = None
    closed_at: datetime | None = None
    assignee: str | None = None
    vehicle_id: int | None = None
    plate: str | None = None
    vin: str | None = None
    delivery_date: date | None = None
    deadline: date | None = None
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Drill:
    key: str
    span: rules.MonthSpan
    part: str
    unit: str
    rows: list[DrillRow]
    total: int
    figure: rules.KpiResult
    task_type: str | None = None
    group: str | None = None


class DrillNotFound(LookupError):
    """No such figure, part, task type or group (the page answers 404)."""


def _cohort_for(session: Session, key: str, span, settings, *, task_type: str | None, group: str | None) -> Cohort:
    if key == "first_service_return_rate":
        return first_service_cohort(span, settings)
    if key == "maintenance_return_rate":
        return maintenance_cohort(span, settings)
    if key == "appointment_rate":
        return appointment_cohort(span, settings)
    if key == "reminder_rate":
        return reminder_cohort(span, settings, task_type)
    if key == "first_service_reminder_rate":
        return reminder_cohort(span, settings, "first_service")
    if key == "attempt_compliance":
        return compliance_cohort(span, settings)
    if key == "birthday_on_time_rate":
        return birthday_cohort(span, settings)
    if key == "churn_rate":
        cities = local_cities(session, settings) if group else ()
        return churn_cohort(span, settings, group=group, local_cities=cities)
    raise DrillNotFound(key)


def drill(
    session: Session,
    key: str,
    month: date,
    *,
    part: str = "denominator",
    task_type: str | None = None,
    group: str | None = None,
    page: int = 1,
    per_page: int = 25,
    actor: Actor,
    now: datetime,
) -> Drill:
    """The tasks or vehicles behind figure ``key`` of ``month``: all of the denominator,
    the numerator, or the ``rest`` (in the denominator, not in the numerator); a page of
    them, oldest first, with the figure itself (the same cohort, so they agree). The view
    is audit-logged (it lists customers)."""
    if key not in rules.DRILLABLE or part not in rules.PARTS:
        raise DrillNotFound(key)
    if key == "reminder_rate" and task_type is not None and task_type not in rules.TASK_TYPES:
        raise DrillNotFound(task_type)
    if key != "reminder_rate":
        task_type = None
    if group is not None and (key != "churn_rate" or group not in {g.value for g in rules.LAPSED_GROUPS}):
        raise DrillNotFound(group)
    settings = load_settings(session)
    span = rules.month_span(month, settings.timezone, now)
    cohort = _cohort_for(session, key, span, settings, task_type=task_type, group=group)
    hits, n = _count_rate(session, cohort)
    figure = rules.kpi(key, hits, n, _targets(settings))
    total = {"denominator": n, "numerator": hits, "rest": n - hits}[part]
    rows = _drill_rows(session, cohort, span, settings, part, page, per_page) if total else []
    audit.record(
        session,
        actor=actor,
        action="view",
        now=now,
        object_type="kpi",
        object_id=key,
        detail={"month": span.key, "part": part, "page": page, "type": task_type, "group": group},
    )
    return Drill(key, span, part, cohort.unit, rows, total, figure, task_type, group)


def _drill_rows(session: Session, cohort: Cohort, span, settings, part, page, per_page) -> list[DrillRow]:
    inner_cols = [flag(cohort.flag).label("hit"), *cohort.columns]
    if cohort.unit == "tasks":
        assignee = aliased(User)
        stmt = (
            cohort.select(CareTask, Customer.name, Customer.mobile, Customer.phone2, Vehicle.plate,
                          assignee.display_name, assignee.username, *inner_cols)
            .join(Customer, Customer.id == CareTask.customer_id)
            .outerjoin(Vehicle, Vehicle.id == CareTask.vehicle_id)
            .outerjoin(assignee, assignee.id == CareTask.assignee_id)
        )  # fmt: skip
    else:
        stmt = cohort.select(Vehicle, Customer.name, Customer.mobile, Customer.phone2, *inner_cols)
        if not cohort.has_customer:
            stmt = stmt.join(Customer, Customer.id == Vehicle.customer_id)
    # Through the CASE, as the count reads it: a condition that is NULL (no attempts at
    # all) is "not in the numerator", never left out of both lists.
    if part == "numerator":
        stmt = stmt.where(flag(cohort.flag) == 1)
    elif part == "rest":
        stmt = stmt.where(flag(cohort.flag) == 0)
    stmt = stmt.order_by(*cohort.order).limit(per_page).offset((max(page, 1) - 1) * per_page)
    found = []
    for row in session.execute(stmt):
        m = row._mapping
        extra = {c.name: m[c.name] for c in cohort.columns if c.name not in ("task_id",)}
        phone = mask_phone(m["mobile"] or m["phone2"])
        if cohort.unit == "tasks":
            task = row[0]
            found.append(
                DrillRow(
                    hit=bool(m["hit"]), customer_id=task.customer_id, customer_name=m["name"], phone=phone,
                    task_id=task.id, task_type=task.type, status=task.status, outcome=task.outcome,
                    due_at=task.due_at, closed_at=task.closed_at,
                    assignee=m["display_name"] or m["username"], vehicle_id=task.vehicle_id, plate=m["plate"],
                    extra=extra,
                )
            )  # fmt: skip
        else:
            vehicle = row[0]
            deadline = None
            if vehicle.delivery_date and "day" in extra:
                deadline = add_months(vehicle.delivery_date, settings.first_service_deadline_months)
            found.append(
                DrillRow(
                    hit=bool(m["hit"]), customer_id=vehicle.customer_id, customer_name=m["name"], phone=phone,
                    task_id=m.get("task_id"), vehicle_id=vehicle.id, plate=vehicle.plate, vin=vehicle.vin,
                    delivery_date=vehicle.delivery_date, deadline=deadline, extra=extra,
                )
            )  # fmt: skip
    if cohort.unit == "vehicles" and "city" in (c.name for c in cohort.columns):
        found = [
            _with_group(r, settings) for r in found
        ]
    return found


def _with_group(row: DrillRow, settings: Settings) -> DrillRow:
    """A churn row with its R9 group, classified by the rule itself."""
    cls = LapsedClass(is_local(row.extra.get("city"), settings.dealer_city), bool(row.extra.get("in_warranty")))
    return replace(row, extra={**row.extra, "group": cls.detail.value, "location": cls.location.value})

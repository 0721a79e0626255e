"""R23 – the violations the data show, derived month by month, and the managers'
decisions on them (domain.md §8; the rules are care/domain/violations.py).

**Detectors.** :data:`DETECTORS` is a registry of functions ``(session, month_start,
settings) -> list[Finding | dict]``, each reading one rule from the data through the
service that owns it — never a second copy of its logic:

- ``r15_not_followed_up``: R15 as care.services.fallback.violations reads it (the first
  attempt failed, none followed within the window), one violation per task, charged to
  whoever made the first attempt (else the assignee);
- ``first_service_rate_low``: the first-service reminder rate of R22 (the KPI's own
  cohort, care.services.kpis.reminder_cohort) per assignee below
  ``first_service_reminder_min`` — for a month that has ended;
- ``care_not_done``: every birthday greeting the KPI's on-time rate counts as not on
  time (care.services.kpis.birthday_cohort): late or not done, one per task;
- ``insurance_sample_short``: a month's R21 sample unfinished
  (care.services.sampling.unfinished_samples), per specialist's stratum, charged to the
  department (the care desk samples), per item short — for a month that has ended;
- ``insurance_reminder_below_standard``: every sampled call judged "done not to
  standard" or "not done", charged to the specialist who made the call.

Other parts of the app add theirs to the list (greeting campaigns, the monthly report's
steps, SSI by person, the appointment register …) and may return plain dicts.
Detectors that need the moment of the derivation read :func:`detection_now`.

**Deriving** (:func:`derive`) is idempotent: it runs every detector, prices each finding
from the penalty table (care.domain.violations.penalty_for, by the person's roles) and
reconciles (care.domain.violations.reconcile): new findings are recorded open, open ones
still found are updated, open ones no longer found are removed, decided ones are never
touched. A finding no active penalty applies to is no violation.

**Deciding** (:func:`decide`): the care manager or the general manager confirms (the
amount within the range, per item where the rule counts items) or waives (a reason);
nobody decides on their own violation; a decision may be changed (each one audited).

Services flush, never commit.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import Select, func, select, text
from sqlalchemy.orm import Session, joinedload

from care.domain import N_
from care.domain import kpis as kpi_rules
from care.domain import sampling as sampling_rules
from care.domain import violations as rules
from care.domain.settings import Settings
from care.models import (
    CallAttempt,
    CareTask,
    Penalty,
    ReminderFailure,
    SampleCall,
    SampleDraw,
    User,
    UserRole,
    Violation,
)
from care.models.types import utcnow
from care.services import (
    Actor,
    ServiceError,
    audit,
    campaigns,
    fallback,
    kpis,
    monthly_report,
    register,
    sampling,
    survey_results,
)
from care.services.settings import load_settings, set_settings

Detector = Callable[[Session, date, Settings], list]
LOCK_KEY = 0x4356494F  # "CVIO": the PostgreSQL advisory-lock key of the derivation
_NOW: ContextVar[datetime | None] = ContextVar("violations_now", default=None)


class ViolationRefused(ServiceError):
    """Nothing decided or changed: ``status`` is the HTTP answer (403 not allowed, 422 bad
    input)."""

    def __init__(self, template: str, *, status: int, field: str | None = None, **params):
        self.status = status
        super().__init__(template, field=field, **params)


def detection_now() -> datetime:
    """The moment the running derivation looks at the data (``now`` of :func:`derive`)."""
    return _NOW.get() or utcnow()


def _span(month: date, settings: Settings) -> kpi_rules.MonthSpan:
    return kpi_rules.month_span(month, settings.timezone, detection_now())


# --- the detectors -------------------------------------------------------------------------------


def r15_not_followed_up(session: Session, month: date, settings: Settings) -> list[rules.Finding]:
    found = fallback.violations(session, month=month, now=detection_now())
    records = dict(
        session.execute(
            select(ReminderFailure.task_id, ReminderFailure.id).where(
                ReminderFailure.task_id.in_([v.task.id for v in found])
            )
        ).all()
    ) if found else {}  # fmt: skip
    findings = []
    for v in found:
        evidence = [("task", v.task.id), ("call_attempt", v.attempt_id)]
        if v.task.id in records:
            evidence.append(("reminder_failure", records[v.task.id]))
        findings.append(
            rules.Finding(
                "r15_not_followed_up", v.specialist.id if v.specialist else None, tuple(evidence),
                detail={
                    "task_type": v.task.type,
                    "first_attempt_at": v.first_attempt_at.isoformat(),
                    "window_ends_at": v.window_ends_at.isoformat() if v.window_ends_at else None,
                },
                key=f"task:{v.task.id}",
            )
        )  # fmt: skip
    return findings


def _by_assignee(cohort: kpis.Cohort):
    """The cohort per task with its numerator flag and assignee (the KPI's own query)."""
    return cohort.select(
        kpis.flag(cohort.flag).label("hit"), CareTask.assignee_id.label("person"), CareTask.id.label("task_id")
    ).subquery("by_assignee")


def first_service_rate_low(session: Session, month: date, settings: Settings) -> list[rules.Finding]:
    span = _span(month, settings)
    if span.in_progress or not span.started:
        return []  # a monthly rate: judged once the month has ended
    inner = _by_assignee(kpis.reminder_cohort(span, settings, "first_service"))
    rows = session.execute(
        select(inner.c.person, func.count(), func.coalesce(func.sum(inner.c.hit), 0)).group_by(inner.c.person)
    ).all()
    low = {}
    for person, n, hits in rows:
        figure = kpi_rules.kpi("first_service_reminder_rate", int(hits), int(n), settings.as_dict())
        if figure.violates:
            low[person] = figure
    if not low:
        return []
    missed: dict[int | None, list[int]] = {p: [] for p in low}
    for person, task_id in session.execute(
        select(inner.c.person, inner.c.task_id).where(inner.c.hit == 0).order_by(inner.c.task_id)
    ):
        if person in missed:
            missed[person].append(task_id)
    return [
        rules.Finding(
            "first_service_rate_low", person,
            tuple(("task", t) for t in missed[person][: rules.MAX_EVIDENCE]),
            detail={"numerator": f.numerator, "denominator": f.denominator, "rate": f.value, "floor": f.floor},
        )
        for person, f in low.items()
    ]  # fmt: skip


def care_not_done(session: Session, month: date, settings: Settings) -> list[rules.Finding]:
    span = _span(month, settings)
    if not span.started:
        return []
    inner = _by_assignee(kpis.birthday_cohort(span, settings))
    rows = session.execute(
        select(inner.c.person, inner.c.task_id, CareTask.customer_id, CareTask.status, CareTask.outcome)
        .join(CareTask, CareTask.id == inner.c.task_id)
        .where(inner.c.hit == 0)
        .order_by(inner.c.task_id)
    ).all()
    return [
        rules.Finding(
            "care_not_done", person, (("task", task_id), ("customer", customer_id)),
            detail={"task_type": "birthday", "status": status, "outcome": outcome},
            key=f"task:{task_id}",
        )
        for person, task_id, customer_id, status, outcome in rows
    ]  # fmt: skip


def insurance_sample_short(session: Session, month: date, settings: Settings) -> list[rules.Finding]:
    span = _span(month, settings)
    if span.in_progress or not span.started:
        return []  # "an unfinished sample at month end"
    return [
        rules.Finding(
            "insurance_sample_short", None,
            tuple((e["kind"], e["id"]) for e in u.evidence()[: rules.MAX_EVIDENCE]),
            count=u.short,
            detail={"specialist": u.specialist, "calls": u.calls, "required": u.required,
                    "sampled": u.sampled, "verified": u.verified, "short": u.short},
            key=f"stratum:{u.specialist_id}",
        )
        for u in sampling.unfinished_samples(session, month, settings=settings)
    ]  # fmt: skip


BELOW_STANDARD = (sampling_rules.Verdict.NOT_TO_STANDARD.value, sampling_rules.Verdict.NOT_DONE.value)


def insurance_reminder_below_standard(session: Session, month: date, settings: Settings) -> list[rules.Finding]:
    rows = session.execute(
        select(SampleCall.id, SampleCall.attempt_id, SampleCall.specialist_id, SampleCall.verdict)
        .join(SampleDraw, SampleDraw.id == SampleCall.draw_id)
        .where(SampleDraw.month == kpi_rules.month_text(month), SampleCall.sampled, SampleCall.verdict.in_(BELOW_STANDARD))
        .order_by(SampleCall.id)
    ).all()
    return [
        rules.Finding(
            "insurance_reminder_below_standard", specialist,
            (("sample_call", sample_id), ("call_attempt", attempt_id)),
            detail={"verdict": verdict}, key=f"sample_call:{sample_id}",
        )
        for sample_id, attempt_id, specialist, verdict in rows
    ]  # fmt: skip


def _monthly(detect: Detector) -> Detector:
    """A monthly figure (a rate, a count a month must reach) is judged once the month has
    ended: before that it is still being made."""

    def judged_after_the_month(session: Session, month: date, settings: Settings) -> list:
        span = _span(month, settings)
        if span.in_progress or not span.started:
            return []
        return detect(session, month, settings)

    judged_after_the_month.__name__ = detect.__name__
    return judged_after_the_month


def ssi_below_target(session: Session, month: date, settings: Settings) -> list[dict]:
    """R18/R23: consultants whose very-satisfied rate of the month is below the target
    (care.services.survey_results)."""
    return survey_results.find_violations(session, month, settings, now=detection_now())


def report_late(session: Session, month: date, settings: Settings) -> list[dict]:
    """R22/R23: the monthly report due in ``month`` (the report of the month before) not
    submitted by the care manager, or not approved, by its day (care.services.monthly_report)."""
    return monthly_report.find_violations(session, kpi_rules.previous_month(month), settings, now=detection_now())


def register_not_submitted(session: Session, month: date, settings: Settings) -> list[dict]:
    """R17: a day's appointment register not submitted to the front desk by its deadline
    (care.services.register), one violation per day."""
    return register.find_violations(session, month, settings, now=detection_now())


DETECTORS: list[Detector] = [
    r15_not_followed_up,
    first_service_rate_low,
    care_not_done,
    insurance_sample_short,
    insurance_reminder_below_standard,
    _monthly(ssi_below_target),  # issue 11: surveys
    _monthly(campaigns.find_violations),  # issue 13: fewer greeting campaigns than a month needs
    report_late,  # issue 12 item 5: the analysis and the plan by their days
    register_not_submitted,  # issue 13 item 2: the register by the end of the work day
]


# --- the penalty table -------------------------------------------------------------------------------


def penalties(session: Session, settings: Settings | None = None) -> list[rules.Penalty]:
    """Every penalty row in force: the amounts from the settings, per item and active from
    the table (the defaults where it has no row), in the order of PENALTIES."""
    settings = settings or load_settings(session)
    stored = {(p.rule, p.role): p for p in session.scalars(select(Penalty))}
    found = []
    for d in rules.PENALTIES:
        row = stored.get((d.rule, d.role))
        found.append(
            rules.penalty_from_setting(
                d, settings[d.setting],
                per_item=row.per_item if row is not None else None,
                active=row.active if row is not None else True,
            )
        )  # fmt: skip
    return found


@dataclass(frozen=True)
class PenaltyChange:
    """One row of the penalty page as sent: the amount text (``50`` or ``50-100``), per
    item, active."""

    rule: str
    role: str
    amount: str
    per_item: bool
    active: bool


def save_penalties(
    session: Session, changes: Sequence[PenaltyChange], *, user: User | None, actor: Actor, now: datetime
) -> int:
    """Store the penalty page: the amounts through the settings (validated there: whole
    yuan, min ≤ max, 0 … the maximum; SettingError names the setting), the flags in the
    table. All or nothing; returns how many rows changed."""
    by_setting = {}
    for c in changes:
        d = rules.penalty_def(c.rule, c.role)
        if d is None:
            raise ViolationRefused(N_("There is no penalty for the rule %(rule)s."), status=422, rule=c.rule[:40])
        by_setting[d.setting] = c.amount.strip()[:40]
    changed = len(set_settings(session, by_setting, actor=actor, now=now))
    stored = {(p.rule, p.role): p for p in session.scalars(select(Penalty))}
    for c in changes:
        d = rules.penalty_def(c.rule, c.role)
        row = stored.get((c.rule, c.role))
        current = (row.per_item, row.active) if row is not None else (d.per_item, True)
        if current == (c.per_item, c.active):
            continue
        if row is None:
            row = Penalty(rule=c.rule, role=c.role)
            session.add(row)
        row.per_item, row.active, row.updated_at = c.per_item, c.active, now
        row.updated_by_id = user.id if user is not None else None
        changed += 1
        audit.record(
            session, actor=actor, action="penalty.update", now=now, object_type="penalty",
            object_id=f"{c.rule}:{c.role}" if c.role else c.rule,
            detail={"per_item": c.per_item, "active": c.active},
        )  # fmt: skip
    session.flush()
    return changed


# --- deriving ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DeriveResult:
    month: str
    created: int
    updated: int
    removed: int
    kept: int  # decided: not touched

    def as_dict(self) -> dict[str, Any]:
        return {"month": self.month, "created": self.created, "updated": self.updated,
                "removed": self.removed, "kept": self.kept}  # fmt: skip


def roles_of(session: Session, user_ids: Iterable[int]) -> dict[int, set[str]]:
    ids = sorted({u for u in user_ids if u is not None})
    held: dict[int, set[str]] = {u: set() for u in ids}
    if ids:
        for user_id, role in session.execute(select(UserRole.user_id, UserRole.role).where(UserRole.user_id.in_(ids))):
            held[user_id].add(role)
    return held


def run_detectors(session: Session, month: date, settings: Settings, now: datetime,
                  detectors: Sequence[Detector] | None = None) -> list[rules.Finding]:
    token = _NOW.set(now)
    try:
        found = []
        for detect in DETECTORS if detectors is None else detectors:
            found.extend(rules.as_finding(f) for f in detect(session, month, settings))
        return found
    finally:
        _NOW.reset(token)


def _apply(v: Violation, f: rules.Finding, p: rules.Penalty, now: datetime) -> None:
    v.person_id, v.count = f.person_id, f.count
    v.amount_min, v.amount_max, v.per_item = p.minimum, p.maximum, p.per_item
    v.amount = p.total(f.count)
    v.evidence = [[kind, ident] for kind, ident in f.evidence]
    v.detail = dict(f.detail) or None
    v.derived_at = now


def lock_derivation(session: Session) -> None:
    """Serialize derivations until the transaction ends (the scheduler's and a manager's
    "Derive now" at once would otherwise both create the same new violation): on
    PostgreSQL an advisory lock keyed by the schema too (apps in other schemas do not
    wait for each other), on SQLite the database's write lock."""
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:key, hashtext(current_schema()))"), {"key": LOCK_KEY})
    elif dialect == "sqlite":
        session.execute(text("UPDATE violations SET id = id WHERE 1 = 0"))


def derive(
    session: Session,
    month: date,
    settings: Settings | None = None,
    now: datetime | None = None,
    *,
    detectors: Sequence[Detector] | None = None,
) -> DeriveResult:
    """Read ``month``'s violations from the data and reconcile them with those recorded
    (see the module docstring). Idempotent: deriving again with the same data changes
    nothing."""
    settings = settings or load_settings(session)
    now = now or utcnow()
    month = month.replace(day=1)
    key = kpi_rules.month_text(month)
    lock_derivation(session)
    findings = run_detectors(session, month, settings, now, detectors)
    table = penalties(session, settings)
    held = roles_of(session, (f.person_id for f in findings))
    priced: list[tuple[rules.Finding, rules.Penalty]] = []
    for f in findings:
        p = rules.penalty_for(table, f.rule, held.get(f.person_id, ()) if f.person_id is not None else ())
        if p is not None:
            priced.append((f, p))
    price = {(f.rule, f.subject): p for f, p in priced}
    recorded = {(v.rule, v.subject): v for v in session.scalars(select(Violation).where(Violation.month == key))}
    plan = rules.reconcile(
        {k: rules.Recorded(v.id, v.status) for k, v in recorded.items()}, (f for f, _p in priced)
    )
    by_id = {v.id: v for v in recorded.values()}
    for f in plan.create:
        v = Violation(month=key, rule=f.rule, subject=f.subject, status=rules.Status.OPEN.value, detected_at=now)
        _apply(v, f, price[(f.rule, f.subject)], now)
        session.add(v)
    for violation_id, f in plan.update:
        _apply(by_id[violation_id], f, price[(f.rule, f.subject)], now)
    for violation_id in plan.remove:
        session.delete(by_id[violation_id])
    session.flush()
    return DeriveResult(key, len(plan.create), len(plan.update), len(plan.remove), len(plan.kept))


# --- reading ---------------------------------------------------------------------------------------------


def list_statement(month: date, *, viewer: User, person: int | None = None, rule: str | None = None,
                   status: str | None = None, department: bool = False) -> Select:
    """The month's violations the viewer may see (a manager: everyone's; anyone else:
    their own), filtered, the newest rule first within a person."""
    stmt = (
        select(Violation)
        .where(Violation.month == kpi_rules.month_text(month))
        .options(joinedload(Violation.person), joinedload(Violation.decided_by))
        .order_by(Violation.rule, Violation.person_id, Violation.id)
    )
    if not rules.sees_everyone(viewer.roles):
        stmt = stmt.where(Violation.person_id == viewer.id)
    elif department:
        stmt = stmt.where(Violation.person_id.is_(None))
    elif person is not None:
        stmt = stmt.where(Violation.person_id == person)
    if rule:
        stmt = stmt.where(Violation.rule == rule)
    if status:
        stmt = stmt.where(Violation.status == status)
    return stmt


def monthly_summary(session: Session, month: date, *, viewer: User) -> tuple[list[tuple[Any, rules.PersonSummary]], rules.PersonSummary]:
    """Per person (the User, or None for the department): counts and amounts; and the
    total of what the viewer may see."""
    stmt = select(Violation.person_id, Violation.status, Violation.amount).where(
        Violation.month == kpi_rules.month_text(month)
    )
    if not rules.sees_everyone(viewer.roles):
        stmt = stmt.where(Violation.person_id == viewer.id)
    summaries = rules.summarize(session.execute(stmt).all())
    ids = [s.person_id for s in summaries if s.person_id is not None]
    users = {u.id: u for u in session.scalars(select(User).where(User.id.in_(ids)))} if ids else {}
    return [(users.get(s.person_id), s) for s in summaries], rules.totals(summaries)


def people(session: Session, month: date) -> list[User]:
    """The persons with a violation in the month (the person filter's choices)."""
    ids = select(Violation.person_id).where(
        Violation.month == kpi_rules.month_text(month), Violation.person_id.is_not(None)
    )
    return list(session.scalars(select(User).where(User.id.in_(ids)).order_by(User.username)))


def get(session: Session, violation_id: int) -> Violation | None:
    return session.get(Violation, violation_id)


def evidence_tasks(session: Session, violations: Iterable[Violation]) -> dict[tuple[str, Any], int]:
    """For the evidence links: the task of each call attempt and reminder failure."""

    attempts = {i for v in violations for k, i in v.evidence if k == "call_attempt" and isinstance(i, int)}
    failures = {i for v in violations for k, i in v.evidence if k == "reminder_failure" and isinstance(i, int)}
    found: dict[tuple[str, Any], int] = {}
    if attempts:
        for a_id, t_id in session.execute(select(CallAttempt.id, CallAttempt.task_id).where(CallAttempt.id.in_(attempts))):
            if t_id is not None:
                found[("call_attempt", a_id)] = t_id
    if failures:
        for f_id, t_id in session.execute(select(ReminderFailure.id, ReminderFailure.task_id).where(ReminderFailure.id.in_(failures))):
            found[("reminder_failure", f_id)] = t_id
    return found


def sample_months(session: Session, ids: Iterable[int]) -> dict[int, str]:
    """The month of each sampled call (its link goes to that month's sampling page)."""
    ids = [i for i in ids if isinstance(i, int)]
    if not ids:
        return {}
    return dict(
        session.execute(
            select(SampleCall.id, SampleDraw.month).join(SampleDraw, SampleDraw.id == SampleCall.draw_id).where(SampleCall.id.in_(ids))
        ).all()
    )


def report_months(session: Session, ids: Iterable[int]) -> dict[int, str]:
    """The month of each monthly report named as evidence (its link goes to that report)."""
    from care.models.report import MonthlyReport

    ids = [i for i in ids if isinstance(i, int)]
    if not ids:
        return {}
    return dict(session.execute(select(MonthlyReport.id, MonthlyReport.month).where(MonthlyReport.id.in_(ids))).all())


def penalty_of(v: Violation) -> rules.Penalty:
    """The range the violation was priced with (kept on it: a later change of the settings
    does not move a violation already found)."""
    return rules.Penalty(v.rule, "", v.amount_min, v.amount_max, v.per_item)


# --- deciding ----------------------------------------------------------------------------------------------


def decide(
    session: Session,
    violation: Violation,
    action: str | None,
    *,
    amount: str | None,
    reason: str | None,
    user: User,
    actor: Actor,
    now: datetime,
) -> Violation:
    """Confirm (with the amount) or waive (with a reason) ``violation``; a decided one may
    be decided again (each decision is audited). Raises ViolationRefused: 403 for a user
    who may not decide on it, 422 for bad input; nothing is written then."""
    if not rules.may_decide(user.roles):
        raise ViolationRefused(N_("Only the care manager and the general manager decide on violations."), status=403)
    if not rules.may_decide_on(user.id, user.roles, violation.person_id):
        raise ViolationRefused(N_("You cannot decide on your own violation."), status=403)
    try:
        chosen, unit, text = rules.check_decision(action, amount, reason, penalty_of(violation))
    except rules.DecisionInvalid as exc:
        raise ViolationRefused(exc.template, status=422, field=exc.field, **exc.params) from None
    before = violation.status
    if chosen is rules.Action.CONFIRM:
        violation.status = rules.Status.CONFIRMED.value
        violation.unit_amount = unit
        violation.amount = penalty_of(violation).total(violation.count, unit)
    else:
        violation.status = rules.Status.WAIVED.value
        violation.unit_amount = None
        violation.amount = penalty_of(violation).total(violation.count)
    violation.reason = text
    violation.decided_at, violation.decided_by_id = now, user.id
    audit.record(
        session, actor=actor, action=f"violation.{chosen.value}", now=now, object_type="violation",
        object_id=violation.id,
        detail={"month": violation.month, "rule": violation.rule, "before": before, "amount": violation.amount},
    )  # fmt: skip
    session.flush()
    return violation


# --- the document of `care violations --json` ----------------------------------------------------------------


def document(session: Session, month: date) -> list[dict[str, Any]]:
    """interfaces.md: ``[{"rule", "person" (user name or null for the department),
    "amount" (CNY), "status", "evidence": [{"kind", "id"}]}]``, by rule, person and id."""
    names = dict(session.execute(select(User.id, User.username)).all())
    rows = session.scalars(
        select(Violation)
        .where(Violation.month == kpi_rules.month_text(month))
        .order_by(Violation.rule, Violation.person_id, Violation.id)
    )
    return [
        {
            "rule": v.rule,
            "person": names.get(v.person_id) if v.person_id is not None else None,
            "amount": v.amount,
            "status": v.status,
            "evidence": [{"kind": kind, "id": ident} for kind, ident in v.evidence],
        }
        for v in rows
    ]


def months_to_derive(today: date) -> list[date]:
    """What the scheduler derives on ``today`` (the dealer's): the running month, and on
    the 1st the month just ended too (its last day's findings, its monthly rates)."""
    first = today.replace(day=1)
    return [kpi_rules.previous_month(first), first] if today.day == 1 else [first]


def record_derivation(session: Session, result: DeriveResult, *, actor: Actor, now: datetime) -> None:
    audit.record(session, actor=actor, action="violations.derive", now=now, object_type="violations",
                 object_id=result.month, detail=result.as_dict())  # fmt: skip

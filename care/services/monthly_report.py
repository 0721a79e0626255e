"""The monthly report of R22 (issue 12 item 5): generated, written, submitted, approved.

- :func:`generate` freezes a finished month's figures: the document of
  ``care report --json`` (care.domain.kpis.report_document, the very same figures as the
  KPI page) and the scorecard counts per person (care.services.scorecards), so that an
  approved report does not change when the data behind it do. The scheduler calls
  :func:`generate_due` (on the 1st, and on every later day until it exists: a server
  that was down on the 1st catches up); ``care report --month`` generates it too.
- :func:`regenerate` refreshes the figures while the report is a draft;
- :func:`save_texts`, :func:`submit` (the care manager), :func:`return_report` (with
  its required comment) and :func:`approve` (the general manager), each stamped in
  ``monthly_report_steps`` (who, when, text); care.domain.monthly_report has the rules;
- :func:`find_violations`: the late steps (R23) for the violations registry;
- :func:`trend`: the 12 months' kept figures (one query; a month without report is a gap).

Flushes, never commits.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from care.domain import N_
from care.domain import kpis as kpi_rules
from care.domain import monthly_report as rules
from care.domain.dates import add_months, local_today
from care.domain.settings import Settings
from care.models import MonthlyReport, MonthlyReportStep, User, UserRole
from care.models.types import utcnow
from care.services import Actor, ServiceError, audit
from care.services import kpis as kpi_service
from care.services import scorecards as scorecard_service
from care.services.settings import load_settings


class ReportRefused(ServiceError):
    """Nothing changed: ``status`` is the HTTP answer (403, 404, 409, 422)."""

    def __init__(self, template: str, *, status: int, field: str | None = None, **params: Any):
        super().__init__(template, field=field, **params)
        self.status = status


def _refused(exc: rules.StepRefused) -> ReportRefused:
    return ReportRefused(exc.template, status=exc.status, field=exc.field, **exc.params)


# --- the frozen figures ------------------------------------------------------------------


def people_counts(session: Session, span: kpi_rules.MonthSpan, settings: Settings) -> list[dict[str, Any]]:
    """Every scorecard role's active people and their month's counts (the scorecards'
    own query), as stored in a report: role, user id, name and the counts."""
    counts = scorecard_service.counts_by_assignee(session, span, settings)
    found = []
    for role in kpi_rules.SCORECARD_ROLES:
        for user in scorecard_service.people(session, role):
            c = counts.get(user.id, kpi_rules.ScoreCounts())
            found.append({"role": role, "user_id": user.id, "name": user.label, **c.__dict__})
    return found


def snapshot(
    session: Session, month: date, *, now: datetime, settings: Settings, kpis: kpi_rules.MonthlyKpis | None = None
) -> tuple[dict, list]:
    """The report document and the people's counts of ``month`` (``kpis``: the month's
    figures when the caller has them already, as ``care report`` does)."""
    kpis = kpis or kpi_service.monthly_kpis(session, month, now=now, settings=settings)
    return kpi_rules.report_document(kpis), people_counts(session, kpis.span, settings)


def scorecard_of(row: dict[str, Any]) -> kpi_rules.Scorecard:
    """A stored person's counts as the scorecards' own object (its rates and means)."""
    fields = kpi_rules.ScoreCounts.__dataclass_fields__
    return kpi_rules.Scorecard(row.get("user_id"), kpi_rules.ScoreCounts(**{k: int(row.get(k) or 0) for k in fields}))


def _stamp(report: MonthlyReport, action: str, actor: Actor, now: datetime, text: str | None = None) -> None:
    report.steps.append(MonthlyReportStep(action=action, at=now, user_id=actor.user_id, actor=actor.name, text=text))


def _audit(session: Session, actor: Actor, action: str, report: MonthlyReport, now: datetime) -> None:
    audit.record(session, actor=actor, action=action, now=now, object_type="monthly_report", object_id=report.id,
                 detail={"month": report.month})  # fmt: skip


def get(session: Session, month: date) -> MonthlyReport | None:
    return session.scalar(
        select(MonthlyReport)
        .where(MonthlyReport.month == kpi_rules.month_text(month))
        .options(selectinload(MonthlyReport.steps).selectinload(MonthlyReportStep.user))
    )


def finished(month: date, now: datetime, settings: Settings) -> bool:
    """Whether ``month`` is over at the dealer (its report can be generated)."""
    return rules.report_due_month(local_today(now, settings.timezone)) >= month


def generate(
    session: Session, month: date, *, actor: Actor, now: datetime, user: User | None = None,
    settings: Settings | None = None, kpis: kpi_rules.MonthlyKpis | None = None,
) -> tuple[MonthlyReport, bool]:  # fmt: skip
    """The month's report, generated (figures frozen now) when it does not exist yet;
    ``(report, created)``. Refused for a month not over (422) and, for a ``user``, unless
    the care manager (403). ``user`` None: the scheduler or the command line."""
    settings = settings or load_settings(session)
    if user is not None and not rules.may("edit", user.roles):
        raise ReportRefused(N_("Only the care manager writes and submits the monthly report."), status=403)
    existing = get(session, month)
    if existing is not None:
        return existing, False
    if not finished(month, now, settings):
        raise ReportRefused(
            N_("%(month)s is not over: its report is generated on the 1st of the next month."),
            status=422, month=kpi_rules.month_text(month),
        )  # fmt: skip
    figures, people = snapshot(session, month, now=now, settings=settings, kpis=kpis)
    report = MonthlyReport(month=kpi_rules.month_text(month), status=rules.DRAFT, figures=figures, people=people,
                           generated_at=now)  # fmt: skip
    _stamp(report, rules.GENERATED, actor, now)
    session.add(report)
    session.flush()
    _audit(session, actor, "monthly_report.generated", report, now)
    return report, True


def generate_due(session: Session, *, now: datetime, actor: Actor = Actor.SCHEDULER) -> MonthlyReport | None:
    """The scheduler's step: last month's report, generated when missing (None when it
    existed already)."""
    settings = load_settings(session)
    month = rules.report_due_month(local_today(now, settings.timezone))
    report, created = generate(session, month, actor=actor, now=now, settings=settings)
    return report if created else None


def _check(report: MonthlyReport, action: str, user: User) -> str:
    try:
        return rules.check_step(action, report.status, user.roles)
    except rules.StepRefused as exc:
        raise _refused(exc) from None


def regenerate(session: Session, report: MonthlyReport, *, user: User, actor: Actor, now: datetime) -> MonthlyReport:
    """The figures again from today's data, while the report is a draft."""
    _check(report, rules.REGENERATED, user)
    settings = load_settings(session)
    report.figures, report.people = snapshot(session, kpi_rules.parse_month(report.month), now=now, settings=settings)
    report.generated_at = now
    _stamp(report, rules.REGENERATED, actor, now)
    session.flush()
    _audit(session, actor, "monthly_report.regenerated", report, now)
    return report


def _texts(analysis: str | None, plan: str | None, *, required: bool) -> tuple[str | None, str | None]:
    try:
        return (
            rules.clean_text(analysis, "analysis", required=required),
            rules.clean_text(plan, "plan", required=required),
        )
    except rules.StepRefused as exc:
        raise _refused(exc) from None


def save_texts(session: Session, report: MonthlyReport, analysis: str | None, plan: str | None, *, user: User) -> None:
    """The care manager's draft of the analysis and the plan (not a step: not stamped)."""
    if not rules.may("edit", user.roles):
        raise ReportRefused(N_("Only the care manager writes and submits the monthly report."), status=403)
    if report.status != rules.DRAFT:
        _check(report, rules.SUBMIT, user)  # says why (submitted, approved)
    report.analysis, report.plan = _texts(analysis, plan, required=False)
    session.flush()


def submit(
    session: Session, report: MonthlyReport, analysis: str | None, plan: str | None, *, user: User, actor: Actor,
    now: datetime,
) -> MonthlyReport:  # fmt: skip
    """The care manager submits the analysis and the plan (both required); the step keeps
    them as submitted (a returned report's first version stays in its history)."""
    state = _check(report, rules.SUBMIT, user)
    report.analysis, report.plan = _texts(analysis, plan, required=True)
    report.status = state
    report.submitted_at, report.submitted_by_id = now, user.id
    report.first_submitted_at = report.first_submitted_at or now
    _stamp(report, rules.SUBMIT, actor, now, f"{report.analysis}\n---\n{report.plan}")  # as submitted
    session.flush()
    _audit(session, actor, "monthly_report.submitted", report, now)
    return report


def _comment(text: str | None, *, required: bool) -> str | None:
    try:
        return rules.clean_text(text, "comment", required=required, limit=rules.MAX_COMMENT)
    except rules.StepRefused as exc:
        raise _refused(exc) from None


def return_report(
    session: Session, report: MonthlyReport, comment: str | None, *, user: User, actor: Actor, now: datetime
) -> MonthlyReport:
    """The general manager sends the report back to a draft with a required comment."""
    state = _check(report, rules.RETURN, user)
    text = _comment(comment, required=True)
    report.status = state
    _stamp(report, rules.RETURN, actor, now, text)
    session.flush()
    _audit(session, actor, "monthly_report.returned", report, now)
    return report


def approve(
    session: Session, report: MonthlyReport, comment: str | None = None, *, user: User, actor: Actor, now: datetime
) -> MonthlyReport:
    """The general manager approves (an optional comment); the report is final."""
    state = _check(report, rules.APPROVE, user)
    text = _comment(comment, required=False)
    report.status, report.approved_at, report.approved_by_id = state, now, user.id
    _stamp(report, rules.APPROVE, actor, now, text)
    session.flush()
    _audit(session, actor, "monthly_report.approved", report, now)
    return report


# --- deadlines and late steps (R23) ---------------------------------------------------------


def deadlines_of(month: date, settings: Settings) -> rules.Deadlines:
    return rules.deadlines(month, settings.timezone, int(settings.report_submit_day), int(settings.report_approve_day))


def steps_of(report: MonthlyReport) -> list[rules.Step]:
    return [rules.Step(s.action, s.at, s.user_id) for s in report.steps]


def late_steps(report: MonthlyReport, settings: Settings, now: datetime) -> list[rules.LateStep]:
    return rules.late_steps(steps_of(report), deadlines_of(kpi_rules.parse_month(report.month), settings), now)


def _holders(session: Session, role: str) -> list[int]:
    return list(
        session.scalars(
            select(User.id)
            .join(UserRole, UserRole.user_id == User.id)
            .where(UserRole.role == role, User.active.is_(True))
            .order_by(User.id)
        )
    )


def find_violations(
    session: Session, month_start: date, settings: Settings, *, now: datetime | None = None
) -> list[dict[str, Any]]:
    """R23 "manager's analysis not reported" and "monthly plan late" for the report *of*
    ``month_start`` (due in the month after it), judged at ``now``: one item per person
    (the submitter, else every active care manager; the general manager(s) when the
    report sat waiting for approval at the deadline). Nothing without a report (it is
    generated automatically on the 1st)."""
    now = now or utcnow()
    report = get(session, month_start)
    if report is None:
        return []
    found = []
    for late in late_steps(report, settings, now):
        people = [late.user_id] if late.user_id is not None else _holders(session, late.holder)
        for person_id in people:
            found.append(
                {
                    "rule": late.rule,
                    "person_id": person_id,
                    "evidence": [("monthly_report", report.id)],
                    "count": 1,
                    "detail": {
                        "month": report.month,
                        "step": "submit" if late.rule == rules.ANALYSIS_NOT_REPORTED else "approve",
                        "role": late.holder,
                        "due": late.due.isoformat(),
                        "done_at": late.done_at.isoformat() if late.done_at else None,
                    },
                }
            )
    return found


# --- reading -------------------------------------------------------------------------------


def reports(session: Session, *, limit: int = 36) -> list[MonthlyReport]:
    """The latest reports, newest month first."""
    return list(session.scalars(select(MonthlyReport).order_by(MonthlyReport.month.desc()).limit(limit)))


@dataclass(frozen=True)
class TrendPoint:
    month: date
    document: dict[str, Any] | None  # None: no report for that month (a gap)


def trend(session: Session, last: date, *, months: int = 12) -> list[TrendPoint]:
    """The ``months`` months ending with ``last``, each with the figures of its report as
    they were kept (one query): the trend of what was reported. A month without a report
    is a gap (``care report --month`` generates a past month's)."""
    firsts = [add_months(last, -k) for k in range(months - 1, -1, -1)]
    stored = dict(
        session.execute(
            select(MonthlyReport.month, MonthlyReport.figures).where(
                MonthlyReport.month.in_([kpi_rules.month_text(m) for m in firsts])
            )
        ).all()
    )
    return [TrendPoint(m, stored.get(kpi_rules.month_text(m))) for m in firsts]


def rate_of(document: dict[str, Any] | None, path: Sequence[str]) -> float | None:
    """A rate in a report document (``("reminder_rate", "first_service")`` …), None when
    missing or null."""
    node: Any = document
    for key in path:
        if not isinstance(node, dict):
            return None
        node = node.get(key)
    if isinstance(node, dict):
        node = node.get("rate", node.get("index"))
    return float(node) if isinstance(node, (int, float)) else None

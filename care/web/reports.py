"""The monthly report of R22 (care/services/monthly_report.py): figures, trends,
per-person comparisons, the care manager's analysis and plan, the workflow.

GET  /reports/                          reports.index       the reports, newest first, with their
                                                            state and deadlines
GET  /reports/<YYYY-MM>                 reports.detail      one month's report: its frozen figures
                                                            (or, before it is generated, the live
                                                            ones), 12-month trend charts (the kept
                                                            figures of each month's report), per-person
                                                            charts, the texts, the workflow and its
                                                            history; printable (A4, print CSS)
GET  /reports/<YYYY-MM>/export.xlsx     reports.export_xlsx one sheet per section, numbers as numbers
GET  /reports/<YYYY-MM>/export.csv      reports.export_csv  one table: section, item, value, counts
POST /reports/<YYYY-MM>/generate        reports.generate    the care manager (422 a month not over)
POST /reports/<YYYY-MM>/regenerate      reports.regenerate  the care manager, a draft
POST /reports/<YYYY-MM>/save            reports.save        the care manager, a draft: the texts
POST /reports/<YYYY-MM>/submit          reports.submit      the care manager, a draft: both texts
POST /reports/<YYYY-MM>/return          reports.return_     the general manager, a submitted one:
                                                            the comment is required
POST /reports/<YYYY-MM>/approve         reports.approve     the general manager, a submitted one

Who: the care and general managers read (the KPI page's readers); the steps are each
one role's, checked here by route and again in the service by state. A step that is
refused re-renders the page with its status (403, 409, 422 with the field's message);
no report for the month: 404 for the steps. Success: 303 back to the page with a flash.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from flask import Blueprint, Response, abort, flash, redirect, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from care.domain import kpis as kpi_rules
from care.domain import monthly_report as rules
from care.domain.dates import local_today
from care.domain.roles import Role
from care.extensions import db
from care.services import monthly_report as svc
from care.web import charts, report_export
from care.web.access import current_actor, roles_required
from care.web.calls import now as request_now
from care.web.htmx import render
from care.web.kpis import _helpers as kpi_helpers
from care.web.labels import kpi_label, scorecard_group_label
from care.web.request_settings import current_settings

bp = Blueprint("reports", __name__, url_prefix="/reports")

READERS = (Role.CARE_MANAGER, Role.GENERAL_MANAGER)

# The figures of the report's first table, in order (all in care report --json).
FIGURES: tuple[str, ...] = (
    "first_service_return_rate",
    "maintenance_return_rate",
    "appointment_rate",
    "churn_rate",
    "first_service_reminder_rate",
    "attempt_compliance",
    "birthday_on_time_rate",
    "complaints_closed_in_24h_rate",
)


# --- the view model: the stored document read back as the KPI page's objects -------------


def figure(doc: dict[str, Any], key: str, path: tuple[str, ...] | None = None) -> kpi_rules.KpiResult:
    """A rate of a report document as a KpiResult (its target and floor from the document's
    ``targets``), so that the KPI page's macros show it."""
    node: Any = doc
    for part in path or (key,):
        node = node.get(part, {}) if isinstance(node, dict) else {}
    n, d = int(node.get("numerator") or 0), int(node.get("denominator") or 0)
    target = (doc.get("targets") or {}).get(".".join(path) if path else key) or {}
    return kpi_rules.KpiResult(key, min(n, d), d, target.get("target"), target.get("violation_below"))


@dataclass(frozen=True)
class ReportView:
    month: date
    doc: dict[str, Any]
    people: list[dict[str, Any]]
    frozen: bool

    def figures(self) -> list[tuple[str, kpi_rules.KpiResult]]:
        return [(key, figure(self.doc, key)) for key in FIGURES]

    def reminder_rates(self) -> list[tuple[str, kpi_rules.KpiResult]]:
        return [
            (t, figure(self.doc, "reminder_rate", ("reminder_rate", t))) for t in (self.doc.get("reminder_rate") or {})
        ]

    def churn_groups(self) -> list[tuple[str, kpi_rules.KpiResult]]:
        return [
            (g, figure(self.doc, "churn_rate", ("churn_by_group", g))) for g in (self.doc.get("churn_by_group") or {})
        ]

    def index(self, key: str) -> dict[str, Any]:
        return self.doc.get(key) or {"index": None, "responses": 0}

    def sample(self) -> dict[str, Any]:
        return self.doc.get("insurance_sample") or {}

    def cards(self, roles: frozenset[str] | None = None) -> list[tuple[str, list[tuple[dict, kpi_rules.Scorecard]]]]:
        """The stored people by scorecard group (only the groups ``roles`` may see)."""
        scope = kpi_rules.scorecard_scope(roles) if roles is not None else dict.fromkeys(kpi_rules.SCORECARD_ROLES)
        groups = []
        for role in kpi_rules.SCORECARD_ROLES:
            if role not in scope:
                continue
            rows = [(p, svc.scorecard_of(p)) for p in self.people if p.get("role") == role]
            groups.append((role, rows))
        return groups


def _month(text: str) -> date:
    try:
        return kpi_rules.parse_month(text)
    except kpi_rules.MonthInvalid:
        abort(404, description=_("There is no report for “%(value)s”: months are written YYYY-MM.", value=text[:20]))


def view_of(month: date, report, now: datetime) -> ReportView:
    """The report's frozen figures, or the month's live ones when it has none yet."""
    if report is not None:
        return ReportView(month, report.figures, report.people, True)
    settings = current_settings()
    doc, found = svc.snapshot(db.session, month, now=now, settings=settings)
    return ReportView(month, doc, found, False)


TREND_SERIES: tuple[tuple[str, tuple[tuple[str, tuple[str, ...]], ...]], ...] = (
    ("returns", (("first_service_return_rate", ("first_service_return_rate",)),
                 ("maintenance_return_rate", ("maintenance_return_rate",)))),
    ("reminders", (("first_service_reminder_rate", ("first_service_reminder_rate",)),
                   ("attempt_compliance", ("attempt_compliance",)),
                   ("birthday_on_time_rate", ("birthday_on_time_rate",)))),
    ("appointments", (("appointment_rate", ("appointment_rate",)), ("churn_rate", ("churn_rate",)))),
)  # fmt: skip


def trend_charts(month: date, view: ReportView) -> list[charts.Chart]:
    """The main KPIs over the 12 months ending with ``month``: the kept figures of each
    month's report, the page's own figures for ``month`` (kept or, before its report
    exists, live)."""
    settings = current_settings()
    points = svc.trend(db.session, month)
    points[-1] = svc.TrendPoint(month, view.doc)
    labels = [kpi_rules.month_text(p.month) for p in points]
    titles = {
        "returns": _("Returns for service, 12 months"),
        "reminders": _("Reminders, R13 compliance and birthdays, 12 months"),
        "appointments": _("Appointment and churn rates, 12 months"),
    }
    found = []
    for name, series in TREND_SERIES:
        floor = settings.first_service_reminder_min if name == "reminders" else None
        found.append(
            charts.line_chart(
                f"trend-{name}",
                titles[name],
                labels,
                [charts.Series(kpi_label(key), [svc.rate_of(p.document, path) for p in points]) for key, path in series],
                desc=_("%(first)s to %(last)s; a month without a figure is a gap.", first=labels[0], last=labels[-1]),
                target=floor,
                target_label=_("first-service minimum %(value)s", value=charts.fmt(floor)) if floor is not None else "",
            )
        )
    found.append(
        charts.line_chart(
            "trend-satisfaction",
            _("SSI and CSI, 12 months"),
            labels,
            [
                charts.Series(_("SSI"), [svc.rate_of(p.document, ("ssi_index",)) for p in points]),
                charts.Series(_("CSI"), [svc.rate_of(p.document, ("csi_index",)) for p in points]),
            ],
            kind=charts.INDEX,
            desc=_("Satisfaction indexes 0–100; a month without responses is a gap."),
            target=float(settings.ssi_target),
            target_label=_("SSI target %(value)s", value=charts.fmt(float(settings.ssi_target), charts.INDEX)),
        )
    )
    return found


def people_charts(view: ReportView, roles) -> list[charts.Chart]:
    settings = current_settings()
    found = []
    target = float(settings.attempt_compliance_target)
    for role, rows in view.cards(frozenset(str(r) for r in roles)):
        if not rows:
            continue
        group = scorecard_group_label(role)
        found.append(
            charts.bar_chart(
                f"people-{role}-r13",
                _("%(group)s: R13 compliance", group=group),
                [charts.Bar(p["name"], card.attempt_compliance.value,
                            f"{card.counts.compliant}/{card.counts.phone_tasks}") for p, card in rows],
                target=target,
                target_label=_("target %(value)s", value=charts.fmt(target)),
                below_label=_("below target"),
                value_label=_("R13 compliance"),
            )
        )  # fmt: skip
        found.append(
            charts.bar_chart(
                f"people-{role}-reached",
                _("%(group)s: reached, per task", group=group),
                [charts.Bar(p["name"], card.reached_rate.value, f"{card.counts.reached}/{card.counts.tasks}")
                 for p, card in rows],
                value_label=_("Reached, per task"),
            )
        )  # fmt: skip
    return found


# --- the page --------------------------------------------------------------------------------


def _context(month: date, **extra) -> dict[str, Any]:
    now = request_now()
    settings = current_settings()
    report = svc.get(db.session, month)
    finished = svc.finished(month, now, settings)
    view = view_of(month, report, now)
    user = current_user._get_current_object()
    roles = {str(r) for r in user.roles}
    status = report.status if report else None
    due = svc.deadlines_of(month, settings)
    late = svc.late_steps(report, settings, now) if report else []
    return {
        "month": month,
        "report": report,
        "finished": finished,
        "view": view,
        "due": due,
        "late": {x.rule: x for x in late},
        "trend": trend_charts(month, view),
        "people": people_charts(view, user.roles),
        "may_edit": report is not None and status == rules.DRAFT and rules.may("edit", roles),
        "may_generate": report is None and finished and rules.may("edit", roles),
        "may_judge": status == rules.SUBMITTED and rules.may(rules.APPROVE, roles),
        "form": {"analysis": report.analysis if report else "", "plan": report.plan if report else "",
                 "comment": ""},  # fmt: skip
        "error": None,
        "dealer_name": settings.dealer_name,
        "printed_at": now,
        "max_text": rules.MAX_TEXT,
        "max_comment": rules.MAX_COMMENT,
        **kpi_helpers(),
        **extra,
    }


def _page(month: date, *, status: int = 200, **extra):
    return render("reports/detail.html", "reports/detail.html", **_context(month, **extra)), status


@bp.route("/")
@roles_required(*READERS)
def index():
    settings = current_settings()
    now = request_now()
    found = svc.reports(db.session)
    rows = [(r, svc.deadlines_of(kpi_rules.parse_month(r.month), settings), svc.late_steps(r, settings, now))
            for r in found]  # fmt: skip
    latest = rules.report_due_month(local_today(now, settings.timezone))
    return render("reports/index.html", "reports/index.html", rows=rows, latest=latest, **kpi_helpers())


@bp.route("/<month_key>")
@roles_required(*READERS)
def detail(month_key: str):
    return _page(_month(month_key))


def _report_or_404(month: date):
    report = svc.get(db.session, month)
    if report is None:
        abort(404, description=_("There is no report of %(month)s yet.", month=kpi_rules.month_text(month)))
    return report


def _refusal(month: date, exc: svc.ReportRefused, form: dict | None = None):
    message = _(exc.template, **exc.params)
    if exc.status not in (409, 422):
        abort(exc.status, description=message)
    extra: dict[str, Any] = {"error": {"message": message, "field": exc.field}}
    if form is not None:
        extra["form"] = form
    return _page(month, status=exc.status, **extra)


def _done(month: date, message: str):
    flash(message, "success")
    return redirect(url_for("reports.detail", month_key=kpi_rules.month_text(month)), code=303)


def _texts() -> dict[str, str]:
    limit = rules.MAX_TEXT + 1000  # longer is refused by the service with its length
    return {
        "analysis": (request.form.get("analysis") or "")[:limit],
        "plan": (request.form.get("plan") or "")[:limit],
        "comment": (request.form.get("comment") or "")[: rules.MAX_COMMENT + 1000],
    }


@bp.route("/<month_key>/generate", methods=["POST"])
@roles_required(Role.CARE_MANAGER)
def generate(month_key: str):
    month = _month(month_key)
    try:
        svc.generate(db.session, month, actor=current_actor(), now=request_now(),
                     user=current_user._get_current_object(), settings=current_settings())  # fmt: skip
    except svc.ReportRefused as exc:
        return _refusal(month, exc)
    return _done(month, _("The report of %(month)s is generated: its figures are kept as of now.", month=month_key))


def _step(month_key: str, take, message: str, *, keep: tuple[str, ...]):
    """One workflow step on the month's report: ``take(report, form, user, actor, now)``;
    a refusal re-renders the page with the texts kept (``keep``: those typed in this
    form, the stored ones otherwise); success: 303 back with ``message``."""
    month = _month(month_key)
    report = _report_or_404(month)
    typed = _texts()
    try:
        take(report, typed, current_user._get_current_object(), current_actor(), request_now())
    except svc.ReportRefused as exc:
        stored = {"analysis": report.analysis or "", "plan": report.plan or "", "comment": ""}
        return _refusal(month, exc, {**stored, **{k: typed[k] for k in keep}})
    return _done(month, message)


@bp.route("/<month_key>/regenerate", methods=["POST"])
@roles_required(Role.CARE_MANAGER)
def regenerate(month_key: str):
    return _step(
        month_key,
        lambda report, form, user, actor, now: svc.regenerate(db.session, report, user=user, actor=actor, now=now),
        _("The figures of %(month)s are generated again from today's data.", month=month_key),
        keep=(),
    )


@bp.route("/<month_key>/save", methods=["POST"])
@roles_required(Role.CARE_MANAGER)
def save(month_key: str):
    return _step(
        month_key,
        lambda report, form, user, actor, now: svc.save_texts(db.session, report, form["analysis"], form["plan"],
                                                              user=user),  # fmt: skip
        _("Draft saved."),
        keep=("analysis", "plan"),
    )


@bp.route("/<month_key>/submit", methods=["POST"])
@roles_required(Role.CARE_MANAGER)
def submit(month_key: str):
    return _step(
        month_key,
        lambda report, form, user, actor, now: svc.submit(db.session, report, form["analysis"], form["plan"],
                                                          user=user, actor=actor, now=now),  # fmt: skip
        _("The report of %(month)s is submitted to the general manager.", month=month_key),
        keep=("analysis", "plan"),
    )


@bp.route("/<month_key>/return", methods=["POST"])
@roles_required(Role.GENERAL_MANAGER)
def return_(month_key: str):
    return _step(
        month_key,
        lambda report, form, user, actor, now: svc.return_report(db.session, report, form["comment"], user=user,
                                                                 actor=actor, now=now),  # fmt: skip
        _("The report of %(month)s is returned to the care manager.", month=month_key),
        keep=("comment",),
    )


@bp.route("/<month_key>/approve", methods=["POST"])
@roles_required(Role.GENERAL_MANAGER)
def approve(month_key: str):
    return _step(
        month_key,
        lambda report, form, user, actor, now: svc.approve(db.session, report, form["comment"], user=user,
                                                           actor=actor, now=now),  # fmt: skip
        _("The report of %(month)s is approved.", month=month_key),
        keep=("comment",),
    )


# --- exports ---------------------------------------------------------------------------------


def _sections(month: date) -> list[report_export.Section]:
    """The report's sections for the exports: the frozen figures, or the live ones before
    the report exists (as the page shows them); the people the viewer may see."""
    report = svc.get(db.session, month)
    return report_export.sections(view_of(month, report, request_now()), report, current_user.roles)


@bp.route("/<month_key>/export.xlsx")
@roles_required(*READERS)
def export_xlsx(month_key: str):
    return Response(
        report_export.xlsx(_sections(_month(month_key))),
        mimetype="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        headers={"Content-Disposition": f'attachment; filename="monthly-report-{month_key}.xlsx"'},
    )


@bp.route("/<month_key>/export.csv")
@roles_required(*READERS)
def export_csv(month_key: str):
    out = io.StringIO()
    report_export.csv_text(_sections(_month(month_key)), csv.writer(out, lineterminator="\r\n"))
    return Response(
        ("\ufeff" + out.getvalue()).encode("utf-8"),
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="monthly-report-{month_key}.csv"'},
    )

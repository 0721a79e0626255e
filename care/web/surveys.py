"""Survey results (domain.md §6, R18): the month's SSI and CSI by factor and by person,
the very-satisfied rate per consultant against its target, NPS, a 12-month trend; the
responses behind each figure and one response's answers; CSV/XLSX export.

- ``/surveys?month=YYYY-MM``: the results page (the managers);
- ``/surveys/responses?template=&month=&staff=&name=&channel=&top=``: the responses
  behind a figure, a page at a time. The managers see all; a consultant sees the
  responses that evaluate them, a specialist those they took (ownership, checked in
  the query, not only hidden);
- ``/surveys/responses/<id>``: one response, item by item (same ownership);
- ``/surveys/export.csv|xlsx?template=&month=``: the month's responses in the import's
  columns (the managers; audited).

Without ``month`` the pages show the last complete month, as the KPI pages do.
"""

from __future__ import annotations

from datetime import date

from flask import Blueprint, Response, abort, request
from flask_babel import format_datetime
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select

from care.domain import kpis as rules
from care.domain import surveys as dom
from care.domain.dates import local_today
from care.domain.roles import MANAGERS, Role
from care.extensions import db
from care.models import SurveyResponse, SurveyTemplate, User
from care.models.survey import SurveyChannel
from care.models.types import utcnow
from care.services import survey_results as figures
from care.services import surveys as svc
from care.web import charts
from care.web.access import current_actor, roles_required, user_can
from care.web.htmx import render
from care.web.labels import show_datetime
from care.web.paging import paginate
from care.web.request_settings import current_settings
from care.web.survey_templates import local_text

bp = Blueprint("surveys", __name__, url_prefix="/surveys")

RESULT_READERS = tuple(MANAGERS)
RESPONSE_READERS = (*MANAGERS, Role.CONSULTANT, Role.SPECIALIST)
MAX_ID_DIGITS = 9


def trend_label(month: date, first: bool) -> str:
    """The x-axis label of a trend month: the year with the first month and January."""
    return rules.month_text(month) if first or month.month == 1 else f"{month.month:02d}"


def _month() -> date:
    text = request.args.get("month", "").strip()
    if not text:
        return rules.previous_month(local_today(utcnow(), current_settings().timezone))
    try:
        return rules.parse_month(text)
    except rules.MonthInvalid as exc:
        abort(400, description=_(exc.template, **exc.params))


def _span(month: date) -> rules.MonthSpan:
    return rules.month_span(month, current_settings().timezone, utcnow())


def _template_arg(required: bool = False) -> str | None:
    code = request.args.get("template", "").strip()
    if not code:
        if required:
            abort(400, description=_("Say which template: ssi or csi."))
        return None
    if not db.session.scalar(select(SurveyTemplate.id).where(SurveyTemplate.code == code[:32])):
        abort(404, description=_("There is no survey template “%(code)s”.", code=code[:40]))
    return code


def _int_arg(name: str) -> int | None:
    raw = request.args.get(name, "").strip()
    if not raw:
        return None
    if not (raw.isascii() and raw.isdigit()) or len(raw) > MAX_ID_DIGITS:
        abort(400, description=_("“%(name)s” must be a whole number.", name=name))
    return int(raw)


def fmt_index(value: float | None) -> str:
    return "—" if value is None else f"{value:.1f}"


def fmt_ci(ci) -> str:
    return "—" if not ci else f"{ci[0]:.1f}–{ci[1]:.1f}"


def percent(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.1f}%"


def _helpers() -> dict:
    return {
        "fmt_index": fmt_index,
        "fmt_ci": fmt_ci,
        "percent": percent,
        "month_text": rules.month_text,
        "previous_month": rules.previous_month,
        "next_month": rules.next_month,
        "show_datetime": show_datetime,
        "local_text": local_text,
    }


# --- the results page ---------------------------------------------------------------------


def _section(code: str, month: date, span: rules.MonthSpan, settings) -> dict | None:
    try:
        version = svc.current_version(db.session, code)
    except Exception:  # noqa: BLE001 - a template that is gone: no section
        return None
    taken = figures.load(db.session, code, span.start, span.end)
    factors = [(f.code, local_text(f.name_zh, f.name_en)) for f in version.factors]
    index = figures.index_of(taken, [c for c, _n in factors])
    points = figures.trend(db.session, code, month, settings.timezone, utcnow())
    name = local_text(version.template.name_zh, version.template.name_en)
    trend_chart = charts.line_chart(
        f"trend-{code}",
        _("%(name)s: index by month", name=name),
        [trend_label(p.month, i == 0) for i, p in enumerate(points)],
        [charts.Series(name, [p.index.index for p in points])],
        kind=charts.INDEX,
        desc=_("The month's index (mean of the response indexes), the last 12 months."),
        target=settings.ssi_target if code == "ssi" else None,
        target_label=_("target %(value)s", value=f"{settings.ssi_target:g}") if code == "ssi" else "",
    )
    return {
        "code": code,
        "name": name,
        "version": version,
        "index": index,
        "factors": factors,
        "people": figures.by_person(taken),
        "nps": figures.nps_of(taken),
        "channels": figures.channels_of(taken),
        "trend": points,
        "trend_chart": trend_chart,
        "top_box": dom.top_box((t.overall_score for t in taken), svc.scale_of(version)),
    }


@bp.route("/")
@roles_required(*RESULT_READERS)
def results():
    month = _month()
    span = _span(month)
    settings = current_settings()
    svc.ensure_seeded(db.session)
    sections = [s for s in (_section(c, month, span, settings) for c in ("ssi", "csi")) if s is not None]
    ssi_taken = figures.load(db.session, "ssi", span.start, span.end)
    very = figures.very_satisfied_rows(db.session, ssi_taken, settings)
    very_chart = charts.bar_chart(
        "very-satisfied",
        _("Very satisfied per consultant"),
        [charts.Bar(r.name, r.result.value, f"{r.result.numerator}/{r.result.denominator}") for r in very],
        kind=charts.RATE,
        desc=_("Share of the consultant's surveyed customers who gave the top score on overall satisfaction."),
        target=settings.top_box_target,
        target_label=_("target %(value)s", value=percent(settings.top_box_target)),
        below_label=_("below target"),
    )
    return render(
        "surveys/results.html",
        "surveys/_results.html",
        month=month,
        span=span,
        sections=sections,
        very=very,
        very_chart=very_chart,
        target=settings.top_box_target,
        can_export=user_can("surveys.export"),
        **_helpers(),
    )


# --- responses ------------------------------------------------------------------------------


def _own_scope() -> int | None:
    """The user whose responses alone a non-manager sees (None: a manager sees all)."""
    if current_user.roles & MANAGERS:
        return None
    return current_user.id


@bp.route("/responses")
@roles_required(*RESPONSE_READERS)
def responses():
    code = _template_arg()
    month_text = request.args.get("month", "").strip()
    month = _month() if month_text else None
    span = _span(month) if month else None
    channel = request.args.get("channel", "").strip() or None
    if channel and channel not in {c.value for c in SurveyChannel}:
        abort(400, description=_("Unknown survey channel “%(channel)s”", channel=channel[:20]))
    top = request.args.get("top", "").strip()
    if top not in ("", "1", "0"):
        abort(400, description=_("“top” is 1 (very satisfied) or 0 (not)."))
    name = request.args.get("name", "").strip()[:120] or None
    f = figures.ResponseFilter(
        template=code,
        start=span.start if span else None,
        end=span.end if span else None,
        staff_id=_int_arg("staff"),
        staff_name=name,
        channel=channel,
        very_satisfied=None if top == "" else top == "1",
        owner_id=_own_scope(),
    )
    page = paginate(figures.responses_statement(f))
    staff = db.session.get(User, f.staff_id) if f.staff_id else None
    args = {k: v for k, v in request.args.items() if k != "page"}
    return render(
        "surveys/responses.html",
        "surveys/_responses.html",
        responses_page=page,
        args=args,
        template_code=code,
        month=month,
        staff=staff,
        staff_name=name,
        channel=channel,
        top=top,
        own_only=f.owner_id is not None,
        **_helpers(),
    )


@bp.route("/responses/<id:response_id>")
@roles_required(*RESPONSE_READERS)
def response(response_id: int):
    r = db.session.get(SurveyResponse, response_id)
    if r is None:
        abort(404, description=_("There is no such survey response."))
    owner = _own_scope()
    if owner is not None and owner not in (r.staff_id, r.taken_by_id):
        abort(403)
    items = svc.scored_items(r)
    scale = svc.scale_of(r.version)
    answers = {a.item_id: a for a in r.answers}
    low = set(dom.low_items(items, current_settings().complaint_score_threshold, scale))
    factors = dom.factor_indexes(items, scale)
    return render(
        "surveys/response.html",
        "surveys/_response.html",
        r=r,
        answers=answers,
        low=low,
        factor_index=factors,
        scale=scale,
        can_see_customer=user_can("customers.detail"),
        **_helpers(),
    )


# --- export ------------------------------------------------------------------------------


@bp.route("/export.<fmt>")
@roles_required(*RESULT_READERS)
def export(fmt: str):
    if fmt not in ("csv", "xlsx"):
        abort(404)
    code = _template_arg(required=True)
    month = _month()
    span = _span(month)
    now = utcnow()
    headers, rows = figures.export_rows(
        db.session, code, span.start, span.end, actor=current_actor(), now=now, tz=current_settings().timezone
    )
    stamp = format_datetime(now, "yyyyMMdd-HHmm")
    name = f"survey-{code}-{rules.month_text(month)}-{stamp}"
    if fmt == "csv":
        body, mimetype = figures.as_csv(headers, rows).encode("utf-8"), "text/csv"
    else:
        body = figures.as_xlsx(headers, rows, f"{code} {rules.month_text(month)}")
        mimetype = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    return Response(
        body,
        mimetype=mimetype,
        headers={
            "Content-Disposition": f'attachment; filename="{name}.{fmt}"',
            "Cache-Control": "no-store",
            "X-Export-Rows": str(len(rows)),
        },
    )


"""The monthly KPIs (R22) with their drill-downs, and the scorecards.

- ``/kpis?month=YYYY-MM``: every figure of the month with its numerator and denominator
  (the care and general managers: R22 "reviewed by the care manager, approved by the
  general manager");
- ``/kpis/<key>?month=…&part=denominator|numerator|rest``: the tasks or vehicles behind a
  figure, a page at a time, phones masked, linked to the task and contact pages where the
  viewer may open them; each view is audit-logged (it lists customers);
- ``/scorecards?month=…``: a person's own scorecard, or everyone's side by side for the
  managers (care.domain.kpis.scorecard_scope decides, in the service).

Without ``month`` the pages show the last complete month (the one the report is due
for on the 1st). A month that is not YYYY-MM is a 400 saying how to write it.
"""

from __future__ import annotations

from datetime import date

from flask import Blueprint, abort, current_app, request
from flask_babel import gettext as _
from flask_login import current_user

from care.domain import kpis as rules
from care.domain.dates import local_today
from care.domain.roles import Role
from care.extensions import db
from care.models.types import utcnow
from care.services import kpis as kpi_service
from care.services import scorecards as scorecard_service
from care.web.access import current_actor, roles_required
from care.web.htmx import render
from care.web.labels import show_date, show_datetime
from care.web.paging import Pager, page_number
from care.web.request_settings import current_settings

bp = Blueprint("kpis", __name__)

KPI_READERS = (Role.CARE_MANAGER, Role.GENERAL_MANAGER)
SCORECARD_READERS = (
    Role.CARE_MANAGER,
    Role.GENERAL_MANAGER,
    Role.SALES_MANAGER,
    Role.SPECIALIST,
    Role.INSURANCE,
    Role.CONSULTANT,
)

def _month() -> date:
    """``?month=YYYY-MM``; without it, the last complete month at the dealer."""
    text = request.args.get("month", "").strip()
    if not text:
        today = local_today(utcnow(), current_settings().timezone)
        return rules.previous_month(today)
    try:
        return rules.parse_month(text)
    except rules.MonthInvalid as exc:
        abort(400, description=_(exc.template, **exc.params))


def percent(value: float | None) -> str:
    """A share as the pages show it: 87.5%; "—" when there is none (a zero denominator)."""
    return "—" if value is None else f"{value * 100:.1f}%"


def number(value: float | None, digits: int = 1) -> str:
    return "—" if value is None else f"{value:.{digits}f}"


def definition_text(text: str | None) -> str:
    """A figure's definition in the user's language, the settings it names filled in."""
    if not text:
        return ""
    return _(text, **current_settings().as_dict()) if "%(" in text else _(text)


def _helpers() -> dict:
    return {
        "percent": percent,
        "number": number,
        "kpi_def": rules.KPIS.get,
        "month_text": rules.month_text,
        "previous_month": rules.previous_month,
        "next_month": rules.next_month,
        "gettext_def": definition_text,
        "show_date": show_date,
        "show_datetime": show_datetime,
    }


@bp.route("/kpis")
@roles_required(*KPI_READERS)
def index():
    month = _month()
    kpis = kpi_service.monthly_kpis(db.session, month, now=utcnow())
    return render(
        "kpis/index.html", "kpis/_figures.html", kpis=kpis, month=month, lapsed_groups=rules.LAPSED_GROUPS, **_helpers()
    )


@bp.route("/kpis/<key>")
@roles_required(*KPI_READERS)
def drill(key: str):
    month = _month()
    part = request.args.get("part", "denominator").strip() or "denominator"
    if part not in rules.PARTS:
        abort(400, description=_("Show “denominator”, “numerator” or “rest”."))
    task_type = request.args.get("type", "").strip() or None
    group = request.args.get("group", "").strip() or None
    page = page_number()
    per_page = int(current_app.config["CARE_PAGE_SIZE"])
    try:
        found = kpi_service.drill(
            db.session, key, month, part=part, task_type=task_type, group=group, page=page,
            per_page=per_page, actor=current_actor(), now=utcnow(),
        )  # fmt: skip
    except kpi_service.DrillNotFound:
        abort(404, description=_("There is no such figure to list."))
    pager = Pager.of(found.total, page, per_page)
    args = {"month": rules.month_text(month)}
    if found.task_type:
        args["type"] = found.task_type
    if found.group:
        args["group"] = found.group
    nav_query = {k: v for k, v in args.items() if k != "month"} | {"part": found.part}
    return render(
        "kpis/drill.html", "kpis/_drill_table.html", drill=found, pager=pager, args=args, nav_query=nav_query,
        month=month, **_helpers(),
    )  # fmt: skip


@bp.route("/scorecards")
@roles_required(*SCORECARD_READERS)
def scorecards():
    month = _month()
    span, groups = scorecard_service.scorecards(db.session, month, viewer=current_user, now=utcnow())
    return render("kpis/scorecards.html", "kpis/_scorecards.html", span=span, groups=groups, month=month, **_helpers())

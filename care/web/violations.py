"""R23 – violations and penalties (care/services/violations.py).

GET  /violations/?month=&person=&rule=&status=&page=  violations.index      the month's violations (default:
                                                                            last month), filtered, a page at a
                                                                            time, and the summary per person
GET  /violations/<id>                                 violations.detail     one violation: its evidence as
                                                                            links, its amount, the decision form
POST /violations/<id>/decide                          violations.decide     form: action (confirm|waive), amount,
                                                                            reason → 303 back; 422 re-renders the
                                                                            page with the error
POST /violations/derive                               violations.derive     form: month → derive now, 303 back
GET|POST /violations/penalties                        violations.penalties  the penalty table: amount (one
                                                                            amount or min-max), per item, active

Who: every staff role opens the list, but only the managers (care, sales, general) see
everyone's; anyone else sees their own ("My violations"), and another person's violation
is refused (403). The care and general managers decide and derive, never on their own
violation. The care manager and the administrator edit the penalty table.
"""

from __future__ import annotations

from datetime import date

from flask import Blueprint, abort, flash, redirect, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from care.domain import kpis as month_rules
from care.domain import violations as rules
from care.domain.dates import local_today
from care.domain.settings import SettingError
from care.extensions import db
from care.services import violations as svc
from care.web.access import current_actor, roles_required
from care.web.calls import now as request_now
from care.web.htmx import render
from care.web.i18n import translated
from care.web.labels import role_label, violation_rule_label, violation_status_label
from care.web.paging import page_number, paginate
from care.web.request_settings import current_settings

bp = Blueprint("violations", __name__, url_prefix="/violations")

READERS = tuple(sorted(rules.READERS))
DECIDERS = tuple(sorted(rules.DECIDERS))
EDITORS = tuple(sorted(rules.PENALTY_EDITORS))


def amount_range(lo: int, hi: int) -> str:
    return f"{lo}" if lo == hi else f"{lo}–{hi}"


def _evidence_url(kind: str, ident, tasks: dict, sample_months: dict, report_months: dict) -> str | None:
    """Where a piece of evidence is shown, for those who may open it (else None)."""
    from care.web.access import user_can

    if kind == "register_day" and isinstance(ident, str) and user_can("register.index"):
        return url_for("register.index", date=ident)
    if not isinstance(ident, int):
        return None
    if kind == "task" and user_can("contact.task"):
        return url_for("contact.task", task_id=ident)
    if kind in ("call_attempt", "reminder_failure") and (kind, ident) in tasks and user_can("contact.task"):
        return url_for("contact.task", task_id=tasks[(kind, ident)])
    if kind == "customer" and user_can("customers.detail"):
        return url_for("customers.detail", customer_id=ident)
    if kind == "sample_call" and ident in sample_months and user_can("sampling.index"):
        return url_for("sampling.index", month=sample_months[ident], _anchor=f"sample-call-{ident}")
    if kind == "survey_response" and user_can("surveys.response"):
        return url_for("surveys.response", response_id=ident)
    if kind == "campaign" and user_can("campaigns.detail"):
        return url_for("campaigns.detail", campaign_id=ident)
    if kind == "monthly_report" and ident in report_months and user_can("reports.detail"):
        return url_for("reports.detail", month_key=report_months[ident])
    return None


def person_name(user) -> str:
    return user.label if user is not None else _("Care department")


@bp.app_context_processor
def _nav() -> dict:
    def violations_title() -> str:
        if current_user.is_authenticated and rules.sees_everyone(current_user.roles):
            return _("Violations")
        return _("My violations")

    return {"violations_title": violations_title}


def _helpers() -> dict:
    return {
        "amount_range": amount_range,
        "person_name": person_name,
        "month_text": month_rules.month_text,
        "previous_month": month_rules.previous_month,
        "next_month": month_rules.next_month,
        "may_decide": rules.may_decide(current_user.roles),
        "sees_everyone": rules.sees_everyone(current_user.roles),
        "max_reason": rules.MAX_REASON,
    }


def _month(raw: str | None) -> date:
    text = (raw or "").strip()
    if not text:
        return month_rules.previous_month(local_today(request_now(), current_settings().timezone))
    try:
        return month_rules.parse_month(text)
    except month_rules.MonthInvalid as exc:
        abort(400, description=_(exc.template, **exc.params))


def _filters() -> dict:
    """The list's filters from the query: person (a user id or "department"), rule,
    status; anything else is a 400 naming it."""
    person_raw = (request.args.get("person") or "").strip()
    rule = (request.args.get("rule") or "").strip() or None
    status = (request.args.get("status") or "").strip() or None
    person, department = None, False
    if person_raw == "department":
        department = True
    elif person_raw:
        if not (person_raw.isascii() and person_raw.isdigit()) or len(person_raw) > 9:
            abort(400, description=_("Choose a person from the list."))
        person = int(person_raw)
    if rule is not None and rule not in rules.RULES:
        abort(400, description=_("Choose a rule from the list."))
    if status is not None and status not in {s.value for s in rules.Status}:
        abort(400, description=_("Choose a status from the list."))
    return {"person": person, "department": department, "rule": rule, "status": status, "person_raw": person_raw}


@bp.route("/")
@roles_required(*READERS)
def index():
    month = _month(request.args.get("month"))
    f = _filters()
    viewer = current_user._get_current_object()
    stmt = svc.list_statement(
        month, viewer=viewer, person=f["person"], rule=f["rule"], status=f["status"], department=f["department"]
    )
    pagination = paginate(stmt, page_number())
    items = list(pagination.items)
    links = _links(items)
    summary, total = svc.monthly_summary(db.session, month, viewer=viewer)
    args = {"month": month_rules.month_text(month)}
    args.update({k: v for k, v in (("person", f["person_raw"]), ("rule", f["rule"]), ("status", f["status"])) if v})
    return render(
        "violations/index.html", "violations/index.html",
        month=month, filters=f, pagination=pagination, items=items, links=links, summary=summary, total=total, args=args,
        people=svc.people(db.session, month) if rules.sees_everyone(viewer.roles) else [],
        rule_choices=[(r, violation_rule_label(r)) for r in rules.RULES],
        status_choices=[(s.value, violation_status_label(s.value)) for s in rules.Status],
        **_helpers(),
    )  # fmt: skip


def _visible(violation_id: int):
    v = svc.get(db.session, violation_id)
    if v is None:
        abort(404, description=_("There is no violation with the id %(id)d.", id=violation_id))
    if not rules.may_see(current_user.id, current_user.roles, v.person_id):
        abort(403, description=_("This violation is someone else's."))
    return v


def _links(violations) -> dict[int, list[tuple[str, object, str | None]]]:
    """Each violation's evidence as (kind, id, url or None), in two queries for a page."""
    tasks = svc.evidence_tasks(db.session, violations)
    months = svc.sample_months(db.session, [i for v in violations for k, i in v.evidence if k == "sample_call"])
    reports = svc.report_months(db.session, [i for v in violations for k, i in v.evidence if k == "monthly_report"])
    return {
        v.id: [(kind, ident, _evidence_url(kind, ident, tasks, months, reports)) for kind, ident in v.evidence]
        for v in violations
    }


def _render_detail(v, *, status: int = 200, failed: dict | None = None):
    links = _links([v])[v.id]
    page = render(
        "violations/detail.html", "violations/detail.html",
        v=v, links=links, failed=failed,
        may_decide_here=rules.may_decide_on(current_user.id, current_user.roles, v.person_id),
        month=month_rules.parse_month(v.month), **_helpers(),
    )  # fmt: skip
    return page, status


@bp.route("/<id:violation_id>")
@roles_required(*READERS)
def detail(violation_id: int):
    return _render_detail(_visible(violation_id))


@bp.route("/<id:violation_id>/decide", methods=["POST"])
@roles_required(*DECIDERS)
def decide(violation_id: int):
    v = _visible(violation_id)
    action = (request.form.get("action") or "")[:20]
    amount = (request.form.get("amount") or "")[:20]
    reason = (request.form.get("reason") or "")[: rules.MAX_REASON + 100]
    try:
        svc.decide(
            db.session, v, action, amount=amount, reason=reason, user=current_user._get_current_object(),
            actor=current_actor(), now=request_now(),
        )  # fmt: skip
    except svc.ViolationRefused as exc:
        if exc.status != 422:
            abort(exc.status, description=translated(exc))
        failed = {"action": action, "amount": amount, "reason": reason, "field": exc.field, "message": translated(exc)}
        return _render_detail(v, status=422, failed=failed)
    if v.status == rules.Status.CONFIRMED:
        flash(_("Violation #%(id)d confirmed: %(amount)d yuan.", id=v.id, amount=v.amount), "success")
    else:
        flash(_("Violation #%(id)d waived.", id=v.id), "success")
    return redirect(url_for("violations.index", month=v.month), code=303)


@bp.route("/derive", methods=["POST"])
@roles_required(*DECIDERS)
def derive():
    raw = request.form.get("month")
    if not (raw or "").strip():
        abort(400, description=_("Say which month to derive."))
    month = _month(raw)
    now = request_now()
    result = svc.derive(db.session, month, current_settings(), now)
    svc.record_derivation(db.session, result, actor=current_actor(), now=now)
    flash(
        _("Derived %(month)s: %(created)d new, %(updated)d updated, %(removed)d no longer shown by the data, %(kept)d decided kept.",
          month=result.month, created=result.created, updated=result.updated, removed=result.removed, kept=result.kept),
        "success",
    )  # fmt: skip
    return redirect(url_for("violations.index", month=result.month), code=303)


def _penalty_rows(form: dict | None = None) -> list[dict]:
    table = svc.penalties(db.session, current_settings())
    rows = []
    for d, p in zip(rules.PENALTIES, table, strict=True):
        name = f"{d.rule}.{d.role or 'any'}"
        rows.append({
            "def": d, "p": p, "name": name, "label": _(d.label), "role": role_label(d.role) if d.role else "",
            "amount": form.get(f"{name}.amount", "") if form is not None else (
                f"{p.minimum}" if p.minimum == p.maximum else f"{p.minimum}-{p.maximum}"),
            "per_item": (form.get(f"{name}.per_item") == "1") if form is not None else p.per_item,
            "active": (form.get(f"{name}.active") == "1") if form is not None else p.active,
        })  # fmt: skip
    return rows


@bp.route("/penalties", methods=["GET", "POST"])
@roles_required(*EDITORS)
def penalties():
    if request.method == "GET":
        return render(
            "violations/penalties.html", "violations/penalties.html", rows=_penalty_rows(), error=None, **_helpers()
        )
    if not any(k.endswith(".amount") for k in request.form):
        return render(
            "violations/penalties.html", "violations/penalties.html", rows=_penalty_rows(), **_helpers(),
            error={"name": None, "message": _("Nothing was sent: fill in the table and save it.")},
        ), 422  # fmt: skip
    form = {k: (v or "")[:40] for k, v in request.form.items()}
    rows = _penalty_rows(form)
    changes = [
        svc.PenaltyChange(r["def"].rule, r["def"].role, r["amount"], r["per_item"], r["active"]) for r in rows
    ]
    for r in rows:  # a blank amount is a mistake, not "keep"
        if not r["amount"].strip():
            message = _("%(rule)s: write an amount in whole yuan, e.g. 50 or 50-100.", rule=r["label"])
            return render("violations/penalties.html", "violations/penalties.html", rows=rows,
                          error={"name": r["name"], "message": message}, **_helpers()), 422  # fmt: skip
    try:
        changed = svc.save_penalties(
            db.session, changes, user=current_user._get_current_object(), actor=current_actor(), now=request_now()
        )
    except SettingError as exc:
        bad = next((r for r in rows if r["def"].setting == exc.key), None)
        label = bad["label"] + (f" ({bad['role']})" if bad and bad["role"] else "") if bad else ""
        message = _("%(rule)s: %(error)s", rule=label, error=translated(exc)) if bad else translated(exc)
        return render("violations/penalties.html", "violations/penalties.html", rows=rows,
                      error={"name": bad["name"] if bad else None, "message": message}, **_helpers()), 422  # fmt: skip
    flash(_("Penalty table saved (%(count)d change(s)). Open violations take the new amounts when derived again.", count=changed), "success")
    return redirect(url_for("violations.penalties"), code=303)

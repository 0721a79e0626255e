"""Complaints and their 24-hour loop (domain.md R19, R20; care/services/complaints.py).

GET  /complaints/?status=open|overdue|closed|all&page=N  complaints.index  every complaint the
                                                 user sees (a consultant: those dispatched
                                                 to them), open ones by deadline, overdue
                                                 marked
GET  /complaints/mine                            complaints.mine   the steps waiting for the
                                                 user (the navigation's count) and their
                                                 overdue notices
GET|POST /complaints/new/<customer_id>           complaints.new    the customer's own complaint:
                                                 the form (step 1), by a care specialist;
                                                 303 to the complaint, 422 the form with
                                                 its error
GET  /complaints/<id>                            complaints.detail the complaint: its eight
                                                 steps, deadlines, history, and the form of
                                                 the waiting step for the role that takes it
POST /complaints/<id>/step                       complaints.step   take the waiting step
                                                 (form: step, text, outcome, kind,
                                                 handler, handler_name): 303 back; refused
                                                 403 (not your role's step), 409 (out of
                                                 order, closed, no call-back yet), 422 (the
                                                 input) — the page with the reason
POST /complaints/<id>/call                       complaints.call   step 6's call-back through
                                                 the calling module (commit, then ring):
                                                 htmx the live panel, plain 303 + flash

Who: see care.domain.complaints (READERS, STEP_TAKERS, OPENERS); the services check the
role of each step and a consultant's ownership again.
"""

from __future__ import annotations

from datetime import datetime

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    g,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import format_datetime
from flask_babel import gettext as _
from flask_login import current_user

from care.domain import N_
from care.domain import complaints as rules
from care.domain.roles import Role
from care.extensions import db
from care.models import Customer
from care.services import calls as call_service
from care.services import complaints as svc
from care.web.access import current_actor, roles_required
from care.web.calls import _callback_base, dial, refusal_text
from care.web.calls import now as request_now
from care.web.htmx import is_htmx
from care.web.labels import role_label
from care.web.paging import page_number, paginate
from care.web.request_settings import current_settings

bp = Blueprint("complaints", __name__, url_prefix="/complaints")

READERS = tuple(sorted(rules.READERS))
TAKERS = tuple(sorted(rules.STEP_TAKERS))
OPENERS = tuple(sorted(rules.OPENERS))
LIST_STATUSES = ("open", "overdue", "closed", "all")


def step_label(step: int | None) -> str:
    return _(rules.STEPS[rules.Step(step)].label) if step in {int(s) for s in rules.Step} else "—"


def step_roles_label(step: int) -> str:
    return _(", ").join(role_label(r) for r in sorted(r.value for r in rules.STEPS[rules.Step(step)].roles))


def refused_text(exc: svc.ComplaintRefused) -> str:
    """A refusal in the user's language: the step's name and the roles translated."""
    params = dict(exc.params)
    if "expected_name" in params:
        params["expected_name"] = _(params["expected_name"])
    if "who" in params:
        params["who"] = _(", ").join(role_label(r) for r in str(params["who"]).split(", ") if r)
    for key, value in params.items():
        if isinstance(value, datetime):
            params[key] = format_datetime(value, "short")
    return _(exc.template, **params)


def _my_count() -> int:
    if not current_user.is_authenticated:
        return 0
    if "complaint_step_count" not in g:
        g.complaint_step_count = svc.my_step_count(db.session, current_user)
    return g.complaint_step_count


@bp.app_context_processor
def _globals() -> dict:
    return {"complaint_step_count": _my_count}


def kind_label(kind: str | None) -> str:
    return {"sales": _("Sales complaint"), "service": _("Service complaint")}.get(kind or "", kind or "—")


def source_label(source: str | None) -> str:
    return {"survey": _("Survey"), "manual": _("Customer's own complaint")}.get(source or "", source or "—")


@bp.record_once
def _register_labels(state) -> None:
    """The labels are globals of every page (tests/web/test_labels.py), like care.web.labels'."""
    state.app.jinja_env.globals.update(
        step_label=step_label, step_roles_label=step_roles_label, kind_label=kind_label, source_label=source_label
    )


@bp.context_processor
def _helpers() -> dict:
    return {
        "all_steps": [int(s) for s in rules.Step],
        "kind_choices": [("sales", _("Sales complaint")), ("service", _("Service complaint"))],
        "outcome_word": lambda o: {"satisfied": _("satisfied"), "dissatisfied": _("dissatisfied: reopened")}.get(o, ""),
        "max_text": rules.MAX_TEXT,
    }


def _get(complaint_id: int):
    complaint = svc.get(db.session, complaint_id)
    if complaint is None:
        abort(404, description=_("There is no complaint with the id %(id)d.", id=complaint_id))
    if not svc.may_see(current_user, complaint):
        abort(403, description=_("This complaint was not dispatched to you."))
    return complaint


@bp.route("/")
@roles_required(*READERS)
def index():
    status = request.args.get("status") or "open"
    if status not in LIST_STATUSES:
        abort(400, description=_("Unknown status: choose open, overdue, closed or all."))
    now = request_now()
    query = svc.statement(current_user, status=None if status == "all" else status, now=now)
    pagination = paginate(query, page_number())
    return render_template(
        "complaints/index.html", pagination=pagination, complaints=list(pagination.items), status=status, now=now,
        statuses=LIST_STATUSES,
    )  # fmt: skip


@bp.route("/mine")
@roles_required(*TAKERS)
def mine():
    now = request_now()
    pagination = paginate(svc.statement(current_user, now=now, mine=True), page_number())
    return render_template(
        "complaints/mine.html", pagination=pagination, complaints=list(pagination.items), now=now,
        notices=svc.notices_of(db.session, current_user),
    )  # fmt: skip


def _form_values() -> dict:
    form = request.form
    return {
        "text": (form.get("text") or "")[: rules.MAX_TEXT + 200],
        "kind": (form.get("kind") or "")[:16],
        "outcome": (form.get("outcome") or "")[:16],
        "handler_name": (form.get("handler_name") or "")[:200],
        "handler": (form.get("handler") or "")[:12],
        "vehicle": (form.get("vehicle") or "")[:12],
    }


def _int_or_none(raw: str, field: str):
    raw = (raw or "").strip()
    if not raw:
        return None
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 9:
        raise svc.ComplaintRefused(N_("Choose from the list."), field=field)
    return int(raw)


@bp.route("/new/<id:customer_id>", methods=["GET", "POST"])
@roles_required(*OPENERS)
def new(customer_id: int):
    customer = db.session.get(Customer, customer_id)
    if customer is None:
        abort(404, description=_("There is no customer with the id %(id)d.", id=customer_id))
    values = {"text": "", "kind": "sales", "vehicle": ""}
    error = None
    if request.method == "POST":
        values = _form_values()
        try:
            complaint = svc.open_manual(
                db.session, customer, user=current_user._get_current_object(), description=values["text"],
                kind=values["kind"], vehicle_id=_int_or_none(values["vehicle"], "vehicle"), now=request_now(),
                settings=current_settings(), actor=current_actor(),
            )  # fmt: skip
        except svc.ComplaintRefused as exc:
            if exc.status == 403:
                abort(403, description=refused_text(exc))
            error = {"message": refused_text(exc), "field": exc.field}
        else:
            flash(_("Complaint #%(id)d recorded: it waits for the care manager's handling opinion.", id=complaint.id), "success")
            return redirect(url_for("complaints.detail", complaint_id=complaint.id), code=303)
    status = 422 if error else 200
    return render_template("complaints/new.html", customer=customer, values=values, error=error), status


def _detail(complaint, *, status: int = 200, error: dict | None = None, values: dict | None = None):
    user = current_user._get_current_object()
    callbacks = svc.callbacks_of_round(db.session, complaint) if complaint.step == rules.Step.CALLBACK else []
    refusal = (
        svc.callback_refusal(db.session, complaint, user=user)
        if complaint.step == rules.Step.CALLBACK and svc.may_take(user, complaint)
        else None
    )
    return render_template(
        "complaints/detail.html", c=complaint, now=request_now(), may_take=svc.may_take(user, complaint),
        error=error, values=values or {}, callbacks=callbacks, last_call=callbacks[-1] if callbacks else None,
        call_refusal=refusal, consultants=svc.consultants(db.session) if complaint.step == rules.Step.DISPATCH else [],
        reached=any(a.answered for a in callbacks),
    ), status  # fmt: skip


@bp.route("/<id:complaint_id>")
@roles_required(*READERS)
def detail(complaint_id: int):
    return _detail(_get(complaint_id))


@bp.route("/<id:complaint_id>/step", methods=["POST"])
@roles_required(*TAKERS)
def step(complaint_id: int):
    complaint = _get(complaint_id)
    values = _form_values()
    raw_step = (request.form.get("step") or "").strip()
    if not (raw_step.isascii() and raw_step.isdigit()) or len(raw_step) > 2:
        return _detail(complaint, status=422, error={"message": _("Which step? The form names none."), "field": None}, values=values)
    outcome = values["outcome"] or rules.Outcome.DONE.value
    try:
        taken = svc.take_step(
            db.session, complaint, int(raw_step), user=current_user._get_current_object(), text=values["text"],
            outcome=outcome, kind=values["kind"] or None, handler_id=_int_or_none(values["handler"], "handler"),
            handler_name=values["handler_name"], now=request_now(), settings=current_settings(), actor=current_actor(),
        )  # fmt: skip
    except svc.ComplaintRefused as exc:
        if exc.status == 403:
            abort(403, description=refused_text(exc))
        return _detail(complaint, status=exc.status, error={"message": refused_text(exc), "field": exc.field}, values=values)
    if taken.outcome == rules.Outcome.DISSATISFIED:
        flash(_("The customer is not satisfied: the complaint goes back to the handling opinion (step 2), reopened."), "error")
    elif complaint.closed_at is not None:
        flash(_("Complaint #%(id)d is closed and archived.", id=complaint.id), "success")
    else:
        flash(_("Step %(step)d done: %(name)s.", step=taken.step, name=step_label(taken.step)), "success")
    return redirect(url_for("complaints.detail", complaint_id=complaint.id), code=303)


@bp.route("/<id:complaint_id>/call", methods=["POST"])
@roles_required(Role.CARE_MANAGER)
def call(complaint_id: int):
    complaint = _get(complaint_id)
    provider_name = current_app.config.get("CARE_TELEPHONY", "sim")
    force = (request.form.get("force") or "").strip()[:16] or None
    from care.telephony.sim import OUTCOMES as SIM_OUTCOMES

    if force is not None and (provider_name != "sim" or force not in SIM_OUTCOMES):
        abort(400, description=_("A forced outcome is only accepted by the simulator."))
    callback_base = _callback_base(provider_name)
    if callback_base is None:
        abort(503, description=_("The call could not be placed: %(error)s", error="CARE_PUBLIC_BASE_URL is not set"))
    user = current_user._get_current_object()
    try:
        attempt = svc.start_callback(
            db.session, complaint, user=user, now=request_now(), provider_name=provider_name,
            caller_id=current_app.config.get("CARE_TWILIO_FROM") if provider_name == "twilio" else None,
        )  # fmt: skip
    except call_service.CallRefused as exc:
        status = 403 if exc.code == call_service.NOT_YOURS else 422
        if is_htmx():
            return render_template("calls/_refusal.html", message=refusal_text(exc), code=exc.code, task_id=None), status
        flash(refusal_text(exc), "error")
        return redirect(url_for("complaints.detail", complaint_id=complaint.id), code=303)
    dial(attempt, callback_base=callback_base, force=force)
    if is_htmx():
        return render_template("calls/_panel.html", a=attempt, now=request_now()), 502 if attempt.error else 200
    if attempt.error:
        flash(_("The call could not be placed: %(error)s", error=attempt.error), "error")
    else:
        flash(_("Calling: answer your phone (extension %(ext)s).", ext=attempt.agent_extension or "?"), "success")
    return redirect(url_for("complaints.detail", complaint_id=complaint.id), code=303)

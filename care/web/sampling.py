"""The insurance QA sample (domain.md R21; care/services/sampling.py).

GET  /sampling/?month=YYYY-MM&page=N   sampling.index    the month's sample (default: last month):
                                                         whether and when it was drawn, by whom,
                                                         with which seed; the calls made since
                                                         (a top-up); progress per specialist; the
                                                         sampled calls, a page at a time, each
                                                         with its recording, a call-back link and
                                                         the verdict form. htmx: the fragment
                                                         below the month picker
POST /sampling/draw                    sampling.draw     form: month, top_up (1 for a top-up), seed
                                                         (optional): draw and 303 back with a
                                                         flash; a refusal re-renders the page with
                                                         its status (409 drawn meanwhile or nothing
                                                         to draw, 422 bad seed or month not begun;
                                                         400 no month at all)
POST /sampling/calls/<id>/verdict      sampling.verdict  form: verdict, note, page. htmx: the call's
                                                         row and `HX-Trigger: sample-changed`, on
                                                         which the progress panel reloads itself
                                                         (hx-select of the page); 422 the row
                                                         with the error. Plain: 303 back to the page
                                                         (422 re-renders it)

Who: the care manager draws and judges; the managers see every specialist's sample; an
insurance specialist sees only their own calls, read-only; anyone else is refused by
role (care.domain.sampling). The recording plays only for those who may hear the call
(care.services.calls.may_see, as everywhere).

The call-back is a link to the customer's contact page, not a Call button that starts a
call here: a call started from this page would be an R13 attempt of the customer's
insurance task (usually closed, so refused), and would itself become one of the month's
insurance calls. On the contact page the care manager sees the customer's consent ("no
calls") and numbers, and calls through the calling module's own rules.
"""

from __future__ import annotations

import json
from datetime import date, datetime

from flask import Blueprint, abort, flash, redirect, request, url_for
from flask_babel import format_datetime, format_percent
from flask_babel import gettext as _
from flask_login import current_user

from care.domain import sampling as rules
from care.domain.roles import Role
from care.extensions import db
from care.services import sampling as svc
from care.web.access import current_actor, roles_required
from care.web.calls import now as request_now
from care.web.htmx import is_htmx, render
from care.web.labels import verdict_label
from care.web.paging import page_number, paginate
from care.web.request_settings import current_settings

bp = Blueprint("sampling", __name__, url_prefix="/sampling")

PAGE_ROLES = tuple(sorted(rules.PAGE_ROLES))
SAMPLE_CHANGED = "sample-changed"


def refusal_text(exc: svc.SampleRefused) -> str:
    params = {k: format_datetime(v, "short") if isinstance(v, datetime) else v for k, v in exc.params.items()}
    return _(exc.template, **params)


def percent(value: float | None) -> str:
    return "—" if value is None else format_percent(value)


@bp.context_processor
def _helpers() -> dict:
    return {
        "verdict_choices": [(v.value, verdict_label(v.value)) for v in rules.Verdict],
        "note_required_for": [v.value for v in rules.NOTE_REQUIRED],
        "percent": percent,
        "may_judge": rules.may_judge(current_user.roles) if current_user.is_authenticated else False,
        "may_draw": rules.may_draw(current_user.roles) if current_user.is_authenticated else False,
        "max_note": rules.MAX_NOTE,
        "max_seed": rules.MAX_SEED,
    }


def _month(text: str | None) -> date:
    try:
        return svc.parse_month(text)
    except svc.SampleRefused as exc:
        abort(400, description=refusal_text(exc))


def _page_arg(raw: str | None) -> int:
    """The list page to go back to (a plain post): a whole number from 1, else 1."""
    raw = (raw or "").strip()
    return int(raw) if raw.isascii() and raw.isdigit() and 0 < len(raw) <= 7 and int(raw) > 0 else 1


def _context(month: date, page: int, **extra) -> dict:
    user = current_user._get_current_object()
    settings = current_settings()
    now = request_now()
    view = svc.month_sample(db.session, month, user=user, now=now, settings=settings)
    pagination = paginate(svc.sampled_calls_statement(month, scope=view.scope), page)
    current = svc.this_month(now, settings.timezone)
    return {
        "view": view,
        "month": month,
        "month_text": rules.month_text(month),
        "previous_month": rules.month_text(rules.previous_month(month)) if month > rules.FIRST_MONTH else None,
        "next_month": rules.month_text(rules.next_month(month)) if month < current else None,
        "current_month": rules.month_text(current),
        "pagination": pagination,
        "calls": list(pagination.items),
        "draw_error": None,
        "failed": None,
        "seed_value": "",
        **extra,
    }


def _render_page(month: date, page: int = 1, *, status: int = 200, **extra):
    return render("sampling/index.html", "sampling/_sample.html", **_context(month, page, **extra)), status


@bp.route("/")
@roles_required(*PAGE_ROLES)
def index():
    raw = request.args.get("month")
    if raw is None or not raw.strip():
        settings = current_settings()
        month = rules.previous_month(svc.this_month(request_now(), settings.timezone))
    else:
        month = _month(raw)
    return _render_page(month, page_number())


@bp.route("/draw", methods=["POST"])
@roles_required(Role.CARE_MANAGER)
def draw():
    month = _month(request.form.get("month"))
    top_up = request.form.get("top_up") == "1"
    raw_seed = (request.form.get("seed") or "").strip()[:20]
    seed = None
    if raw_seed:
        if not (raw_seed.isascii() and raw_seed.isdigit()) or int(raw_seed) > rules.MAX_SEED:
            message = _("The seed must be a whole number from 0 to %(max)d.", max=rules.MAX_SEED)
            return _render_page(month, status=422, draw_error=message, seed_value=raw_seed)
        seed = int(raw_seed)
    try:
        record = svc.draw_sample(
            db.session, month, top_up=top_up, seed=seed, user=current_user._get_current_object(),
            actor=current_actor(), now=request_now(), settings=current_settings(),
        )  # fmt: skip
    except svc.SampleRefused as exc:  # nothing was written
        return _render_page(month, status=exc.status, draw_error=refusal_text(exc), seed_value=raw_seed)
    sampled = sum(1 for c in record.calls if c.sampled)
    if top_up:
        message = _(
            "Top-up drawn for %(month)s: %(sampled)d of %(calls)d new calls (seed %(seed)d).",
            month=record.month, sampled=sampled, calls=len(record.calls), seed=record.seed,
        )  # fmt: skip
    else:
        message = _(
            "Sample of %(month)s drawn: %(sampled)d of %(calls)d calls (seed %(seed)d).",
            month=record.month, sampled=sampled, calls=len(record.calls), seed=record.seed,
        )  # fmt: skip
    flash(message, "success")
    return redirect(url_for("sampling.index", month=record.month), code=303)


@bp.route("/calls/<id:call_id>/verdict", methods=["POST"])
@roles_required(Role.CARE_MANAGER)
def verdict(call_id: int):
    call = svc.get_sample_call(db.session, call_id)
    if call is None:
        abort(404, description=_("There is no sampled call with the id %(id)d.", id=call_id))
    user = current_user._get_current_object()
    page = _page_arg(request.form.get("page"))
    month = rules.parse_month(call.draw.month)
    chosen = (request.form.get("verdict") or "")[:40]
    note = (request.form.get("note") or "")[: rules.MAX_NOTE + 100]
    try:
        svc.record_verdict(db.session, call, chosen, note, user=user, actor=current_actor(), now=request_now())
    except svc.SampleRefused as exc:
        if exc.status != 422:  # not the care manager's, or not in the sample: nothing written
            abort(exc.status, description=refusal_text(exc))
        failed = {"id": call.id, "verdict": chosen, "note": note, "message": refusal_text(exc), "field": exc.field}
        if is_htmx():
            return _row(call, page, failed=failed), 422
        return _render_page(month, page, status=422, failed=failed)
    if is_htmx():  # the row; the progress panel reloads itself on the event
        return _row(call, page, saved=True), 200, {"HX-Trigger": json.dumps({SAMPLE_CHANGED: {"call": call.id}})}
    flash(_("Verdict saved on call #%(id)d: %(verdict)s.", id=call.attempt_id, verdict=verdict_label(call.verdict)), "success")
    return redirect(url_for("sampling.index", month=call.draw.month, page=page, _anchor=f"sample-call-{call.id}"), code=303)


def _row(call, page: int, **extra) -> str:
    context = {"c": call, "list_page": page, "failed": None, "saved": False, **extra}
    return render("sampling/_call.html", "sampling/_call.html", **context)

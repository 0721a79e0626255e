"""The number-correction queue (domain.md §3 R12).

GET  /numbers/               numbers.index    customers whose tasks wait for a number: why
                                              (no number, invalid, reported wrong), which
                                              tasks wait; a correction form per customer
POST /numbers/<customer_id>  numbers.correct  correct the mobile or the other phone: the
                                              blocked tasks are released to open

htmx: the row's form posts and the row is swapped (422: the row with the error; success:
a "corrected" row and `HX-Trigger: tasks-changed`). Without htmx: 303 back to the queue
with a flash; 422 re-renders the queue with the error.
"""

from __future__ import annotations

import json

from flask import Blueprint, abort, current_app, flash, redirect, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_babel import ngettext
from flask_login import current_user

from care.domain.roles import Role
from care.extensions import db
from care.models import Customer
from care.models.types import utcnow
from care.services import numbers as svc
from care.web.access import roles_required
from care.web.htmx import is_htmx, render
from care.web.setting_labels import translated

bp = Blueprint("numbers", __name__, url_prefix="/numbers")

ROLES = (Role.SPECIALIST, Role.INSURANCE, Role.CONSULTANT, Role.CARE_MANAGER)
MAX_PAGE_DIGITS = 7

WHY_LABELS = {
    svc.NO_NUMBER: _l("No number"),
    svc.INVALID: _l("Invalid number"),
    svc.REPORTED: _l("Number reported wrong"),
}
FIELD_LABELS = {"mobile": _l("Mobile"), "phone2": _l("Other phone")}


@bp.context_processor
def _labels() -> dict:
    return {"why_labels": WHY_LABELS, "field_labels": FIELD_LABELS}


def _page_number() -> int:
    raw = (request.args.get("page") or "1").strip()
    if not (raw.isascii() and raw.isdigit()) or len(raw) > MAX_PAGE_DIGITS or int(raw) < 1:
        abort(400, description=_("The page number must be a whole number from 1 on."))
    return int(raw)


def _queue_context(page_no: int, **extra) -> dict:
    pagination = db.paginate(
        svc.queue_statement(),
        page=page_no,
        per_page=current_app.config["CARE_PAGE_SIZE"],
        error_out=False,
    )
    return {
        "pagination": pagination,
        "entries": svc.queue_entries(db.session, list(pagination.items)),
        "failed": None,
        **extra,
    }


@bp.route("/")
@roles_required(*ROLES)
def index():
    return render("numbers/index.html", "numbers/_queue.html", **_queue_context(_page_number()))


@bp.route("/<int(max=2147483647):customer_id>", methods=["POST"])
@roles_required(*ROLES)
def correct(customer_id: int):
    customer = db.session.get(Customer, customer_id)
    if customer is None:
        abort(404, description=_("There is no customer with the id %(id)d.", id=customer_id))
    field = (request.form.get("field") or "mobile").strip()
    number = (request.form.get("number") or "")[:100]
    try:
        correction = svc.correct_number(
            db.session,
            customer,
            field,
            number,
            user=current_user._get_current_object(),
            now=utcnow(),
            ip=request.remote_addr,
        )
    except svc.NumberInvalid as exc:  # refused before writing anything
        failed = {"customer_id": customer_id, "name": customer.name, "field": field, "number": number,
                  "message": translated(exc)}
        if is_htmx():
            entry = svc.queue_entries(db.session, [customer])[0]
            return render("numbers/_row.html", "numbers/_row.html", entry=entry, failed=failed), 422
        return render("numbers/index.html", "numbers/_queue.html", **_queue_context(1, failed=failed)), 422
    message = _("Number of %(name)s corrected.", name=customer.name) + " " + ngettext(
        "%(num)d task released to the worklist.", "%(num)d tasks released to the worklist.",
        correction.released_tasks,
    )
    if is_htmx():
        body = render("numbers/_row.html", "numbers/_row.html", entry=None, done={"customer": customer, "message": message})
        return body, 200, {"HX-Trigger": json.dumps({"tasks-changed": {"customer": customer_id}})}
    flash(message, "success")
    return redirect(url_for("numbers.index"), code=303)

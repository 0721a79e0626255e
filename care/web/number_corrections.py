"""The number-correction queue (domain.md §3 R12).

GET  /number-corrections/               number_corrections.index    customers whose tasks wait for a number: why
                                              (no number, invalid, reported wrong), which
                                              tasks wait; a correction form per customer
POST /number-corrections/<customer_id>  number_corrections.correct  correct the mobile or the other phone: the
                                              blocked tasks are released to open

htmx: the row's form posts and the row is swapped (422: the row with the error; success:
a "corrected" row and `HX-Trigger: tasks-changed`, with the queue's size above the table
and beside the link in the navigation sent again out of band: `number_queue_size`, a
template global counted once per request). Without htmx: 303 back to the queue
with a flash; 422 re-renders the queue with the error. Who may correct a customer's
number is care.domain.access.may_correct_number: a care manager, or a caller whose
blocked task (or an unassigned one) waits for it; anyone else gets 403 (and sees the
queue row without its form).
"""

from __future__ import annotations

import json
import logging

from flask import Blueprint, abort, flash, g, redirect, request, url_for
from flask_babel import gettext as _
from flask_babel import ngettext
from flask_login import current_user
from sqlalchemy.exc import SQLAlchemyError

from care.domain.roles import Role
from care.extensions import db
from care.models import Customer
from care.models.types import utcnow
from care.services import number_corrections as svc
from care.web.access import roles_required
from care.web.htmx import is_htmx, render
from care.web.i18n import translated
from care.web.paging import page_number, paginate

bp = Blueprint("number_corrections", __name__, url_prefix="/number-corrections")
log = logging.getLogger(__name__)

ROLES = (Role.SPECIALIST, Role.INSURANCE, Role.CONSULTANT, Role.CARE_MANAGER)


def number_queue_size() -> int:
    """How many customers wait for a corrected number, counted once per request (after
    a correction: the view clears it). A database that cannot answer (the error page of
    an outage renders the navigation too) shows no count rather than failing that page."""
    if "number_queue_size" not in g:
        try:
            g.number_queue_size = svc.queue_size(db.session)
        except SQLAlchemyError as exc:
            log.warning("number queue size not counted: %s", type(exc).__name__)
            g.number_queue_size = 0
    return g.number_queue_size


@bp.app_context_processor
def _queue_size_global() -> dict:
    return {"number_queue_size": number_queue_size}


def _queue_context(page_no: int, **extra) -> dict:
    pagination = paginate(svc.queue_statement(), page_no)
    g.number_queue_size = pagination.total  # the same count: the navigation's and the page's
    return {
        "pagination": pagination,
        "entries": svc.queue_entries(db.session, list(pagination.items), current_user._get_current_object()),
        "failed": None,
        **extra,
    }


@bp.route("/")
@roles_required(*ROLES)
def index():
    return render("number_corrections/index.html", "number_corrections/_queue.html", **_queue_context(page_number()))


@bp.route("/<id:customer_id>", methods=["POST"])
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
    except svc.CorrectionRefused as exc:  # not theirs: nothing written
        abort(exc.status, description=translated(exc))
    except svc.NumberInvalid as exc:  # refused before writing anything
        failed = {"customer_id": customer_id, "name": customer.name, "field": field, "number": number,
                  "message": translated(exc)}
        if is_htmx():
            entry = svc.queue_entries(db.session, [customer], current_user._get_current_object())[0]
            return render("number_corrections/_row.html", "number_corrections/_row.html", entry=entry, failed=failed), 422
        return render("number_corrections/index.html", "number_corrections/_queue.html", **_queue_context(1, failed=failed)), 422
    message = _("Number of %(name)s corrected.", name=customer.name) + " " + ngettext(
        "%(num)d task released to the worklist.", "%(num)d tasks released to the worklist.",
        correction.released_tasks,
    )
    g.pop("number_queue_size", None)  # one customer fewer
    if is_htmx():
        body = render("number_corrections/_row.html", "number_corrections/_row.html", entry=None, done={"customer": customer, "message": message})
        return body, 200, {"HX-Trigger": json.dumps({"tasks-changed": {"customer": customer_id}})}
    flash(message, "success")
    return redirect(url_for("number_corrections.index"), code=303)

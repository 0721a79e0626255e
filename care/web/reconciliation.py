"""Reconciliation of provider events that matched no call attempt (telephony.md).

GET  /reconciliation/                       reconciliation.index    unmatched events, newest first
POST /reconciliation/<event_id>/match       reconciliation.match    attach to attempt `attempt`, apply
POST /reconciliation/<event_id>/dismiss     reconciliation.dismiss  reconciled without an attempt

htmx: the forms post and the list (`_list.html`) is swapped (422 with the error when the
attempt does not exist). Without htmx: 303 back to the list with a flash.
"""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from care.domain.roles import Role
from care.extensions import db
from care.models import CallEvent
from care.models.types import MAX_INTEGER, utcnow
from care.services import reconciliation as svc
from care.web.access import roles_required
from care.web.htmx import is_htmx, render
from care.web.paging import page_number, paginate

bp = Blueprint("reconciliation", __name__, url_prefix="/reconciliation")

ROLES = (Role.CARE_MANAGER, Role.ADMIN)


def _context(page_no: int = 1, **extra) -> dict:
    pagination = paginate(svc.unmatched_statement(), page_no)
    return {"pagination": pagination, "events": list(pagination.items), "failed": None, "done": None, **extra}


def _event(event_id: int) -> CallEvent:
    row = db.session.get(CallEvent, event_id)
    if row is None:
        abort(404, description=_("There is no call event with the id %(id)d.", id=event_id))
    return row


def _answer(message: str):
    if is_htmx():
        return render("reconciliation/_list.html", "reconciliation/_list.html", **_context(done=message))
    flash(message, "success")
    return redirect(url_for("reconciliation.index"), code=303)


def _refuse(event_id: int, message: str):
    failed = {"event_id": event_id, "message": message}
    template = "reconciliation/_list.html" if is_htmx() else "reconciliation/index.html"
    return render(template, "reconciliation/_list.html", **_context(failed=failed)), 422


@bp.route("/")
@roles_required(*ROLES)
def index():
    return render("reconciliation/index.html", "reconciliation/_list.html", **_context(page_number()))


@bp.route("/<id:event_id>/match", methods=["POST"])
@roles_required(*ROLES)
def match(event_id: int):
    row = _event(event_id)
    raw = (request.form.get("attempt") or "").strip()
    if not (raw.isascii() and raw.isdigit()) or not 0 < int(raw) <= MAX_INTEGER:
        return _refuse(event_id, _("Enter the number of a call attempt."))
    try:
        attempt = svc.match_event(db.session, row, int(raw), user_id=current_user.id, now=utcnow())
    except svc.ReconcileError as exc:
        return _refuse(event_id, _(exc.template, **exc.params))
    return _answer(_("Event matched to call attempt %(id)d.", id=attempt.id))


@bp.route("/<id:event_id>/dismiss", methods=["POST"])
@roles_required(*ROLES)
def dismiss(event_id: int):
    row = _event(event_id)
    try:
        svc.dismiss_event(db.session, row, user_id=current_user.id, now=utcnow())
    except svc.ReconcileError as exc:
        return _refuse(event_id, _(exc.template, **exc.params))
    return _answer(_("Event dismissed."))

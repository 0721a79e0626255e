"""Fallback messages (R14/R15): the message templates per task type and channel, the
outbox, and the list of tasks dropped after one failed attempt.

Templates are read by those who call or supervise calls and edited by the care
manager. The outbox shows message bodies and addresses (customer data), so each view of
it is audited. The violations list (R15) is for the care manager and the general
manager.
"""

from __future__ import annotations

from datetime import date

from flask import Blueprint, abort, current_app, flash, redirect, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from care.domain.dates import first_of_month, local_today
from care.domain.roles import Role
from care.domain.scripts import FIELDS
from care.extensions import db
from care.messaging import outbox as ob
from care.messaging.receipts import unmatched_receipts
from care.models.types import utcnow
from care.services import ServiceError, fallback
from care.services import message_templates as tpl
from care.services.outbox_view import view_outbox
from care.services.settings import load_settings
from care.web.access import current_actor, roles_required, user_can
from care.web.htmx import render
from care.web.i18n import translated
from care.web.labels import channel_label, task_type_label
from care.web.paging import Pager, page_number

bp = Blueprint("messages", __name__, url_prefix="/messages")

READERS = (
    Role.CARE_MANAGER,
    Role.GENERAL_MANAGER,
    Role.SPECIALIST,
    Role.INSURANCE,
    Role.CONSULTANT,
)
EDITORS = (Role.CARE_MANAGER,)
OUTBOX_VIEWERS = (Role.CARE_MANAGER, Role.ADMIN)
VIOLATION_VIEWERS = (Role.CARE_MANAGER, Role.GENERAL_MANAGER)


def _kind(task_type: str, channel: str) -> tuple[str, str]:
    if (task_type, channel) not in tpl.DEFAULTS:
        abort(404)
    return task_type, channel


@bp.route("/templates")
@roles_required(*READERS)
def templates():
    rows = tpl.overview(db.session)
    return render(
        "messages/templates.html",
        "messages/templates.html",
        rows=rows,
        task_type_label=task_type_label,
        channel_label=channel_label,
    )


def _template_page(
    task_type: str, channel: str, *, subject: str | None, body: str, errors=None, status=200
):
    row = tpl.get_template(db.session, task_type, channel)
    return (
        render(
            "messages/template.html",
            "messages/template.html",
            task_type=task_type,
            channel=channel,
            row=row,
            subject=subject,
            body=body,
            errors=errors or [],
            fields=FIELDS,
            can_edit=user_can("messages.template_save"),
            task_type_label=task_type_label,
            channel_label=channel_label,
        ),
        status,
    )


@bp.route("/templates/<task_type>/<channel>")
@roles_required(*READERS)
def template(task_type: str, channel: str):
    task_type, channel = _kind(task_type, channel)
    text = tpl.template_text(db.session, task_type, channel)
    return _template_page(task_type, channel, subject=text.subject, body=text.body)


@bp.route("/templates/<task_type>/<channel>", methods=["POST"])
@roles_required(*EDITORS)
def template_save(task_type: str, channel: str):
    task_type, channel = _kind(task_type, channel)
    subject = request.form.get("subject")
    body = request.form.get("body", "")
    try:
        tpl.save_template(
            db.session,
            task_type,
            channel,
            subject=subject,
            body=body,
            user=current_user,
            now=utcnow(),
            ip=request.remote_addr,
        )
    except ServiceError as exc:
        errors = [translated(exc)]
        for p in getattr(exc, "problems", ()):
            text = _(p.message, **p.params) if p.params else _(p.message)
            errors.append(
                _(
                    "Line %(line)s, column %(column)s: %(problem)s",
                    line=p.line,
                    column=p.column,
                    problem=text,
                )
            )
        return _template_page(
            task_type, channel, subject=subject, body=body, errors=errors, status=422
        )
    flash(_("The message template was saved."), "success")
    return redirect(url_for("messages.template", task_type=task_type, channel=channel), code=303)


@bp.route("/outbox")
@roles_required(*OUTBOX_VIEWERS)
def outbox():
    status = request.args.get("status", "").strip()
    if status and status not in ob.STATUSES:
        abort(400)
    page = page_number()
    per_page = int(current_app.config.get("CARE_PAGE_SIZE", 25))
    rows, total = view_outbox(
        db.session, status=status or None, page=page, per_page=per_page, actor=current_actor(), now=utcnow()
    )
    pager = Pager.of(total, page, per_page)
    return render(
        "messages/outbox.html",
        "messages/_outbox_table.html",
        rows=rows,
        total=total,
        pager=pager,
        status=status,
        statuses=ob.STATUSES,
        unmatched_receipts=unmatched_receipts(db.session),
    )


def _month_arg(tz_name: str) -> date:
    """The month asked for (``YYYY-MM``), else this month at the dealer (not in UTC:
    before 08:00 on the 1st in Shanghai, UTC is still in the previous month)."""
    text = request.args.get("month", "").strip()
    if not text:
        return first_of_month(local_today(utcnow(), tz_name))
    try:
        year, month = (int(x) for x in text.split("-", 1))
        return date(year, month, 1)
    except ValueError:
        abort(400)


@bp.route("/violations")
@roles_required(*VIOLATION_VIEWERS)
def violations():
    timezone = load_settings(db.session).timezone
    month = _month_arg(timezone)
    found = fallback.violations(db.session, month=month, now=utcnow())
    return render(
        "messages/violations.html",
        "messages/violations.html",
        month=month,
        found=found,
        timezone=timezone,
        task_type_label=task_type_label,
    )

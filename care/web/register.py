"""The appointment register (domain.md R17): the day's page for the care department and for
the front desk, the submission, status changes and rescheduling, the front desk's copy kept
in the app, the print layout and the XLSX export.

GET  /register/?date=D&view=care|front_desk   register.index       the day (default today;
                                                                    the front desk's view for
                                                                    the front desk)
GET  /register/slots?date=D                   register.slots       the free places per slot
                                                                    (the booking form's htmx)
GET  /register/export.xlsx?date=D             register.export      the day as a workbook
POST /register/submit?date=D                  register.submit      submit the day to the
                                                                    front-desk supervisor
POST /register/appointments/<id>/status       register.status      confirm / arrived / cancel
GET, POST /register/appointments/<id>/reschedule  register.reschedule  move it (after a call)
POST /register/front-desk?date=D              register.desk_add    a line of the front desk's copy
POST /register/front-desk/<id>/delete         register.desk_delete remove a line written in the app

Who: everyone who deals with appointments reads it; the care department (specialists,
insurance specialists, the care manager) submits; an appointment is changed by whoever
booked it or holds its task, or a care manager, and marked arrived by the front desk too
(care.domain.register.may_change); the front desk and the care manager keep the front
desk's copy.
"""

from __future__ import annotations

from datetime import date, timedelta

from flask import Blueprint, Response, abort, flash, redirect, request, url_for
from flask_babel import format_date
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import HiddenField, SelectField, StringField, TextAreaField
from wtforms.widgets import DateInput, TimeInput

from care.domain import register as rules
from care.domain.roles import CALLING_ROLES, Role
from care.extensions import db
from care.models import FrontDeskAppointment
from care.models.types import utcnow
from care.services import appointments as appointment_svc
from care.services import audit
from care.services import register as svc
from care.web.access import current_actor, roles_required
from care.web.appointments import day_arg
from care.web.htmx import render
from care.web.i18n import translated
from care.web.labels import (
    APPOINTMENT_STATUSES,
    REGISTER_DIFFERENCES,
    REGISTER_SOURCES,
    VISIT_KINDS,
    visit_kind_choices,
)
from care.web.request_settings import current_settings

bp = Blueprint("register", __name__, url_prefix="/register")

READERS = (*sorted(CALLING_ROLES), Role.FRONT_DESK, Role.SALES_MANAGER, Role.GENERAL_MANAGER)
SUBMITTERS = (Role.SPECIALIST, Role.INSURANCE, Role.CARE_MANAGER)
CHANGERS = (*sorted(CALLING_ROLES), Role.FRONT_DESK)
DESK = (Role.FRONT_DESK, Role.CARE_MANAGER)
CARE_VIEW, DESK_VIEW = "care", "front_desk"
MIN_YEAR, MAX_YEAR = 2000, 2100


class ActionForm(FlaskForm):
    """CSRF for the register's buttons; the values are checked by the service."""

    status = HiddenField()
    reason = StringField(_l("Reason"), render_kw={"maxlength": svc.MAX_REASON})


class RescheduleForm(FlaskForm):
    date = StringField(_l("New date"), widget=DateInput())
    time = StringField(_l("New time"), widget=TimeInput())
    overbook_reason = StringField(
        _l("Why book a full slot (only when the slot is full)"), render_kw={"maxlength": appointment_svc.MAX_REASON}
    )
    notes = TextAreaField(_l("Why it is moved"), render_kw={"rows": 2, "maxlength": svc.MAX_REASON})


class DeskLineForm(FlaskForm):
    vin = StringField(_l("VIN"), render_kw={"maxlength": 17, "autocomplete": "off"})
    time = StringField(_l("Time"), widget=TimeInput())
    kind = SelectField(_l("Service"), choices=[], validate_choice=False)
    advisor = StringField(_l("Service advisor"), render_kw={"maxlength": appointment_svc.MAX_ADVISOR})
    appt_no = StringField(_l("Appointment no. (optional)"), render_kw={"maxlength": 40})


def _today() -> date:
    return appointment_svc.local_today(db.session, utcnow())


def _day_arg() -> date:
    return day_arg(_today())


def _view_arg() -> str:
    view = request.args.get("view")
    if view in (CARE_VIEW, DESK_VIEW):
        return view
    return DESK_VIEW if current_user.has_role(Role.FRONT_DESK) and not current_user.has_role(*SUBMITTERS) else CARE_VIEW


def _can_change(appointment, new_status: str) -> bool:
    return rules.may_change(
        current_user.id,
        current_user.roles,
        appointment.created_by_id,
        appointment.task.assignee_id if appointment.task is not None else None,
        new_status,
    )


def _page(day: date, view: str, *, status: int = 200, errors: list[str] | None = None, desk_form=None):
    now = utcnow()
    settings = current_settings()
    reg = svc.day_register(db.session, day, now=now, settings=settings)
    desk_form = desk_form or DeskLineForm(formdata=None)
    desk_form.kind.choices = visit_kind_choices()
    may_see_overdue = current_user.has_role(Role.CARE_MANAGER, Role.GENERAL_MANAGER)
    return (
        render(
            "register/index.html",
            "register/_register.html",
            reg=reg,
            day=day,
            today=_today(),
            prev_day=day - timedelta(days=1),
            next_day=day + timedelta(days=1),
            view=view,
            rates=svc.show_rates(db.session, day),
            action_form=ActionForm(formdata=None),
            desk_form=desk_form,
            can_submit=current_user.has_role(*SUBMITTERS),
            can_keep_desk=current_user.has_role(*DESK),
            can_change=_can_change,
            manual_changes=rules.MANUAL_CHANGES,
            overdue=svc.overdue_days(db.session, now=now) if may_see_overdue else [],
            advisors=appointment_svc.advisors(db.session),
            errors=errors or [],
            deadline=settings.register_deadline.strftime("%H:%M"),
        ),
        status,
    )


@bp.route("/")
@roles_required(*READERS)
def index():
    return _page(_day_arg(), _view_arg())


@bp.route("/slots")
@roles_required(*READERS)
def slots():
    """The free places per slot of a day: what the booking form shows under the time."""
    raw = (request.args.get("date") or "").strip()
    try:
        day = appointment_svc.parse_date(raw) if raw else None
    except ValueError:
        day = None
    uses = appointment_svc.day_slots(db.session, day) if day and MIN_YEAR <= day.year <= MAX_YEAR else []
    return render("register/_slots.html", "register/_slots.html", day=day, uses=uses)


@bp.route("/export.xlsx")
@roles_required(*READERS)
def export():
    day = _day_arg()
    reg = svc.day_register(db.session, day, now=utcnow())
    headers = {
        "sheet": _("Register"), "differences": _("Differences"), "time": _("Time"), "plate": _("Plate"),
        "vin": _("VIN"), "customer": _("Customer"), "kind": _("Service"), "advisor": _("Service advisor"),
        "status": _("Status"), "source": _("In which copy"), "notes": _("Notes"), "difference": _("Difference"),
        "care": _("Care department"), "front_desk": _("Front desk"),
    }  # fmt: skip
    labels = {
        "kind": {k: str(v) for k, v in VISIT_KINDS.items()},
        "status": {k: str(v) for k, v in APPOINTMENT_STATUSES.items()},
        "source": {k: str(v) for k, v in REGISTER_SOURCES.items()},
        "difference": {k: str(v) for k, v in REGISTER_DIFFERENCES.items()},
    }
    title = _("Appointment register of %(day)s", day=format_date(day, "yyyy-MM-dd"))
    data = svc.export_xlsx(reg, headers=headers, labels=labels, title=title)
    audit.record(
        db.session, actor=current_actor(), action="export", object_type="register", object_id=day.isoformat(),
        detail={"what": "register", "rows": len(reg.appointments) + len(reg.front_desk)}, now=utcnow(),
    )  # fmt: skip
    return Response(
        data,
        mimetype="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        headers={"Content-Disposition": f'attachment; filename="register-{day.isoformat()}.xlsx"'},
    )


@bp.route("/submit", methods=["POST"])
@roles_required(*SUBMITTERS)
def submit():
    day = _day_arg()
    form = ActionForm()
    if not form.validate():
        abort(400)
    row = svc.submit(db.session, day, user=current_user._get_current_object(), now=utcnow())
    if row.times > 1:
        flash(_("The register of %(day)s was submitted again.", day=format_date(day, "yyyy-MM-dd")), "success")
    elif row.late:
        flash(_("The register of %(day)s was submitted, after the deadline.", day=format_date(day, "yyyy-MM-dd")), "warning")
    else:
        flash(_("The register of %(day)s was submitted to the front desk.", day=format_date(day, "yyyy-MM-dd")), "success")
    return redirect(url_for("register.index", date=day.isoformat()), code=303)


def _appointment(appointment_id: int):
    appointment = svc.get_appointment(db.session, appointment_id)
    if appointment is None:
        abort(404, description=_("There is no appointment with the id %(id)d.", id=appointment_id))
    return appointment


@bp.route("/appointments/<id:appointment_id>/status", methods=["POST"])
@roles_required(*CHANGERS)
def status(appointment_id: int):
    appointment = _appointment(appointment_id)
    form = ActionForm()
    if not form.validate():
        abort(400)
    if not any(_can_change(appointment, s) for s in rules.STATUSES):
        abort(403, description=_("Only whoever booked this appointment, the care manager or (for an arrival) the front desk can change it."))
    new_status = (form.status.data or "").strip()
    if new_status not in rules.STATUSES:
        return _page(appointment.date, _view_arg(), status=422, errors=[_("Choose what happened to the appointment.")])
    if not _can_change(appointment, new_status):
        abort(403, description=_("Only whoever booked this appointment, the care manager or (for an arrival) the front desk can change it."))
    try:
        svc.change_status(
            db.session, appointment, new_status, user=current_user._get_current_object(), now=utcnow(),
            reason=form.reason.data,
        )  # fmt: skip
    except svc.RegisterError as exc:
        params = dict(exc.params)
        for key in ("current", "new"):
            if key in params:
                params[key] = str(APPOINTMENT_STATUSES.get(params[key], params[key]))
        message = _(exc.template, **params)
        return _page(appointment.date, _view_arg(), status=422, errors=[message])
    flash(
        _("%(customer)s, %(time)s: %(status)s.", customer=appointment.customer.name,
          time=appointment.time.strftime("%H:%M"), status=APPOINTMENT_STATUSES[new_status]),
        "success",
    )  # fmt: skip
    return redirect(url_for("register.index", date=appointment.date.isoformat(), view=_view_arg()), code=303)


@bp.route("/appointments/<id:appointment_id>/reschedule", methods=["GET", "POST"])
@roles_required(*sorted(CALLING_ROLES))
def reschedule(appointment_id: int):
    appointment = _appointment(appointment_id)
    if not _can_change(appointment, rules.RESCHEDULED):
        abort(403, description=_("Only whoever booked this appointment or the care manager can move it."))
    if appointment.status not in (*rules.PENDING, rules.NO_SHOW):
        abort(409, description=_("This appointment can no longer be moved."))
    form = RescheduleForm()
    status_code = 200
    if request.method == "POST":
        if not form.validate():
            abort(400)
        booking = appointment_svc.BookingRequest(
            date=form.date.data, time=form.time.data, overbook_reason=form.overbook_reason.data, notes=form.notes.data
        )
        try:
            new = svc.reschedule(db.session, appointment, booking, user=current_user._get_current_object(), now=utcnow())
        except svc.RegisterError as exc:
            form.form_errors.append(translated(exc))
            status_code = 422
        except appointment_svc.AppointmentInvalid as exc:
            for name, error in exc.errors.items():
                target = getattr(form, name, None) if name in ("date", "time", "overbook_reason", "notes") else None
                message = _(error.template, **error.params)
                if target is not None:
                    target.errors = [*target.errors, message]
                else:
                    form.form_errors.append(message)
            status_code = 422
        else:
            flash(
                _("Moved to %(date)s at %(time)s.", date=format_date(new.date, "yyyy-MM-dd"), time=new.time.strftime("%H:%M")),
                "success",
            )
            return redirect(url_for("register.index", date=new.date.isoformat()), code=303)
    else:
        form.date.data = appointment.date.isoformat()
        form.time.data = appointment.time.strftime("%H:%M")
    settings = current_settings()
    form.date.render_kw = {"min": _today().isoformat()}
    form.time.render_kw = {
        "min": settings.service_opens.strftime("%H:%M"), "max": settings.service_closes.strftime("%H:%M"), "step": 900,
    }  # fmt: skip
    chosen = None
    try:
        chosen = appointment_svc.parse_date(form.date.data)
    except ValueError:
        chosen = None
    return (
        render(
            "register/reschedule.html",
            "register/reschedule.html",
            appointment=appointment,
            form=form,
            uses=appointment_svc.day_slots(db.session, chosen) if chosen else [],
            slot_day=chosen,
        ),
        status_code,
    )


@bp.route("/front-desk", methods=["POST"])
@roles_required(*DESK)
def desk_add():
    day = _day_arg()
    form = DeskLineForm()
    form.kind.choices = visit_kind_choices()
    if not form.validate():
        abort(400)
    try:
        svc.add_front_desk_line(
            db.session, vin=form.vin.data, day=day, at=form.time.data, kind=form.kind.data, advisor=form.advisor.data,
            appt_no=form.appt_no.data, user=current_user._get_current_object(), now=utcnow(),
        )  # fmt: skip
    except svc.FrontDeskInvalid as exc:
        for name, template in exc.errors.items():
            target = getattr(form, {"date": "time"}.get(name, name), None)
            message = _(template, max=appointment_svc.MAX_ADVISOR)
            if target is not None:
                target.errors = [*target.errors, message]
        return _page(day, DESK_VIEW, status=422, desk_form=form)
    flash(_("Added to the front desk's copy."), "success")
    return redirect(url_for("register.index", date=day.isoformat(), view=DESK_VIEW), code=303)


@bp.route("/front-desk/<id:line_id>/delete", methods=["POST"])
@roles_required(*DESK)
def desk_delete(line_id: int):
    line = db.session.get(FrontDeskAppointment, line_id)
    if line is None:
        abort(404, description=_("There is no such line in the front desk's copy."))
    form = ActionForm()
    if not form.validate():
        abort(400)
    if line.source != "app":
        abort(409, description=_("This line came from the DMS: correct it there and import the file again."))
    day = line.date
    svc.remove_front_desk_line(db.session, line)
    flash(_("Removed from the front desk's copy."), "success")
    return redirect(url_for("register.index", date=day.isoformat(), view=DESK_VIEW), code=303)

"""Appointments (domain.md §5 R16): the day's list and the booking form.

GET  /appointments/?date=YYYY-MM-DD   appointments.index  the day's appointments (default
                                      today in the dealer's time zone), prev/next day
GET  /appointments/new?task=<id>      appointments.new    the booking form, prefilled from
     /appointments/new?customer=<id>                      the task (vehicle, service kind)
POST the same URL                     books; 303 back to the contact page; 422 on errors;
                                      403 for someone else's task, 409 for a closed one
                                      (care.domain.access), on GET and POST alike

The list is read by every role that deals with appointments (the front desk reads it
only); booking is for the roles that call customers. Booking "in the same step" as a
"will come" outcome happens on the contact page (care/web/contact.py); this form (the
"Book appointment" button) gives a task the same outcome through the same code
(care.services.outcomes.book_from_task), or books for the customer alone. A second
booking of the vehicle at the same moment is refused; another one the same day asks for
a tick ("book it all the same").
"""

from __future__ import annotations

from datetime import date, timedelta

from flask import Blueprint, abort, flash, redirect, request, url_for
from flask_babel import format_date
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import BooleanField, SelectField, StringField, TextAreaField
from wtforms.widgets import DateInput, TimeInput

try:  # WTForms ≥ 3.3 deprecates (value, label) tuples
    from wtforms import SelectChoice as _choice
except ImportError:  # pragma: no cover - older WTForms

    def _choice(value, label):
        return (value, label)

from care.domain.roles import CALLING_ROLES, Role
from care.extensions import db
from care.models import CareTask, Customer
from care.models.types import utcnow
from care.services import appointments as svc
from care.services import outcomes as outcome_service
from care.services import tasks as task_service
from care.web.access import roles_required, user_can
from care.web.htmx import render
from care.web.i18n import translated
from care.web.labels import VISIT_KINDS, outcome_label
from care.web.request_settings import current_settings

bp = Blueprint("appointments", __name__, url_prefix="/appointments")

BOOKING_ROLES = tuple(sorted(CALLING_ROLES))
LIST_ROLES = (*BOOKING_ROLES, Role.FRONT_DESK, Role.SALES_MANAGER, Role.GENERAL_MANAGER)
MIN_YEAR, MAX_YEAR = 2000, 2100  # a date outside is a typing error, not a day to list



class BookingForm(FlaskForm):
    """Rendering and CSRF only: care.services.appointments checks the values."""

    date = StringField(_l("Date"), widget=DateInput())
    time = StringField(_l("Time"), widget=TimeInput())
    service_kind = SelectField(
        _l("Service"), choices=[_choice(k, v) for k, v in VISIT_KINDS.items()], validate_choice=False
    )
    vehicle = SelectField(_l("Vehicle"), choices=[], validate_choice=False)
    notes = TextAreaField(_l("Notes for the service desk"), render_kw={"rows": 3, "maxlength": svc.MAX_NOTES})
    # Shown when the vehicle has another appointment that day (care.services.appointments).
    confirm_same_day = BooleanField(_l("Book it all the same (a second appointment that day)"))
    # R17: the service advisor (a front-desk user or a name) and why a full slot is booked.
    advisor = StringField(_l("Service advisor (optional)"), render_kw={"maxlength": svc.MAX_ADVISOR, "list": "advisor-names"})
    overbook_reason = StringField(
        _l("Why book a full slot (only when the slot is full)"), render_kw={"maxlength": svc.MAX_REASON}
    )


def _id_arg(name: str) -> int | None:
    raw = (request.args.get(name) or "").strip()
    if not raw:
        return None
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 9:
        abort(400, description=_("“%(name)s” must be a number.", name=name))
    return int(raw)


def _target() -> tuple[CareTask | None, Customer]:
    """The task and customer named in the query string (?task= wins over ?customer=)."""
    task_id, customer_id = _id_arg("task"), _id_arg("customer")
    if task_id is not None:
        task = task_service.get_task(db.session, task_id)
        if task is None:
            abort(404, description=_("There is no task with the id %(id)d.", id=task_id))
        return task, task.customer
    if customer_id is not None:
        customer = db.session.get(Customer, customer_id)
        if customer is None:
            abort(404, description=_("There is no customer with the id %(id)d.", id=customer_id))
        return None, customer
    abort(400, description=_("Book from a task or a customer: the address names neither."))


def day_arg(today: date) -> date:
    """The ``date`` argument (YYYY-MM-DD, default ``today``); 400 for anything else."""
    raw = (request.args.get("date") or "").strip()
    if not raw:
        return today
    try:
        day = svc.parse_date(raw)
    except ValueError:
        day = None
    if day is None or not (MIN_YEAR <= day.year <= MAX_YEAR):
        abort(400, description=_("The date must be a day written YYYY-MM-DD."))
    return day


@bp.route("/")
@roles_required(*LIST_ROLES)
def index():
    today = svc.local_today(db.session, utcnow())
    day = day_arg(today)
    return render(
        "appointments/index.html",
        "appointments/_list.html",
        day=day,
        today=today,
        prev_day=day - timedelta(days=1),
        next_day=day + timedelta(days=1),
        appointments=svc.for_day(db.session, day),
    )


def _vehicle_choices(customer: Customer) -> list:
    return [
        _choice(str(v.id), " · ".join(x for x in (v.plate or v.vin, v.model) if x))
        for v in customer.vehicles
    ]


@bp.route("/new", methods=["GET", "POST"])
@roles_required(*BOOKING_ROLES)
def new():
    task, customer = _target()
    try:  # the form is not offered for a task that is closed or someone else's
        svc.check_task_access(task, current_user._get_current_object())
    except svc.BookingRefused as exc:
        abort(exc.status, description=translated(exc))
    form = BookingForm()
    form.vehicle.choices = _vehicle_choices(customer)
    status = 200
    same_day = None  # the warning about the vehicle's other appointment that day
    if request.method == "GET":
        form.service_kind.data = svc.default_kind(task)
        if task is not None and task.vehicle_id:
            form.vehicle.data = str(task.vehicle_id)
    elif form.validate():
        now = utcnow()
        user = current_user._get_current_object()
        booking = svc.BookingRequest(
            date=form.date.data,
            time=form.time.data,
            service_kind=form.service_kind.data,
            vehicle_id=form.vehicle.data if form.vehicle.choices else None,
            notes=form.notes.data,
            confirm_same_day=bool(form.confirm_same_day.data),
            overbook_reason=form.overbook_reason.data,
            advisor=form.advisor.data,
        )
        try:
            if task is not None:  # the task gets its booking outcome, as on the contact page
                appointment = outcome_service.book_from_task(db.session, task, booking, user=user, now=now)
            else:
                appointment = svc.book(
                    db.session,
                    customer=customer,
                    vehicle=booking.vehicle_id,
                    task=None,
                    date=booking.date,
                    time=booking.time,
                    service_kind=booking.service_kind,
                    notes=booking.notes,
                    user=user,
                    now=now,
                    confirm_same_day=booking.confirm_same_day,
                    overbook_reason=booking.overbook_reason,
                    advisor=booking.advisor,
                )
        except svc.BookingRefused as exc:  # closed or reassigned since the form was shown
            abort(exc.status, description=translated(exc))
        except svc.AppointmentInvalid as exc:  # refused before writing anything
            for name, error in exc.errors.items():
                message = _(error.template, **error.params)
                if name == "same_day":  # a warning to confirm: shown with the tick box
                    same_day, target = message, form.confirm_same_day
                else:
                    target = getattr(form, name, None) if name != "task" else None
                if target is not None:
                    target.errors = [*target.errors, message]
                else:
                    form.form_errors.append(message)
            status = 422
        else:
            message = _(
                "Appointment booked for %(customer)s on %(date)s at %(time)s.",
                customer=customer.name,
                date=format_date(appointment.date),
                time=appointment.time.strftime("%H:%M"),
            )
            flash(message, "success")
            if task is not None and task.outcome:
                flash(_("Outcome recorded: %(outcome)s.", outcome=outcome_label(task.type, task.outcome)), "success")
            if user_can("contact.index"):
                return redirect(url_for("contact.index", customer_id=customer.id), code=303)
            return redirect(url_for("register.index", date=appointment.date.isoformat()), code=303)
    else:
        status = 422
    settings = current_settings()
    today = svc.local_today(db.session, utcnow())
    workday = (settings.service_opens.strftime("%H:%M"), settings.service_closes.strftime("%H:%M"))
    # R17: the free places per slot of the chosen day, under the time (htmx on change).
    form.date.render_kw = {
        "min": today.isoformat(), "hx-get": url_for("register.slots"), "hx-trigger": "change",
        "hx-target": "#slot-places", "hx-swap": "outerHTML",
    }  # fmt: skip
    form.time.render_kw = {"min": workday[0], "max": workday[1], "step": 900}
    try:
        slot_day = svc.parse_date(form.date.data) or today
    except ValueError:
        slot_day = today
    return (
        render(
            "appointments/new.html",
            "appointments/_form.html",
            form=form,
            task=task,
            customer=customer,
            booked=svc.for_task(db.session, task.id) if task is not None else [],
            same_day=same_day,
            booking_outcome=getattr(outcome_service.booking_outcome(task.type), "code", None) if task else None,
            today=today,
            workday=workday,
            slot_day=slot_day,
            uses=svc.day_slots(db.session, slot_day, settings) if MIN_YEAR <= slot_day.year <= MAX_YEAR else [],
            advisors=svc.advisors(db.session),
            action=url_for("appointments.new", **({"task": task.id} if task else {"customer": customer.id})),
        ),
        status,
    )

"""Service appointments booked from tasks (domain.md §5 R16), the care department's copy of
the register (R17: care/services/register.py).

`book` checks and adds an appointment: the date not in the past (the dealer's local
date), the time within the opening hours (settings `service_opens` … `service_closes`,
the end excluded) and not already passed today, a place in its time slot (R17:
`appointment_slot_capacity` per `appointment_slot_minutes`; a full slot only with a
reason, ``BookingRequest.overbook_reason``, stored on the appointment), a service kind of `VisitKind`, a vehicle of this
customer (required when the customer has vehicles), a task of this customer, and no other
active (not canceled) appointment of the vehicle at the same date and time (a partial
unique index, `uq_appointments_vehicle_slot`, refuses the second of two concurrent
bookings too). Another appointment of the vehicle on the same day is a warning: the
booking form asks to confirm it (``BookingRequest.confirm_same_day``); callers that do
not ask (the outcome form) book and get the others in ``CheckedBooking.same_day``.
`check_booking` does the same checks without adding anything (an outcome books in the
same step and must not leave an appointment behind when the outcome itself is invalid).

Booking from a task's booking form gives the task its booking outcome like the outcome
form does: care.services.outcomes.book_from_task, the one path for both.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, joinedload

from care.domain import N_, access, dates
from care.domain import register as rules
from care.domain.outcomes import FieldError
from care.domain.roles import Role
from care.models import (
    Appointment,
    AppointmentStatusChange,
    CareTask,
    Customer,
    FrontDeskAppointment,
    User,
    UserRole,
    Vehicle,
    VisitKind,
)
from care.services import ServiceError, proactive
from care.services.settings import load_settings

MAX_NOTES = 1000
MAX_REASON = 500
MAX_ADVISOR = 120
BOOKED = rules.BOOKED
INACTIVE = rules.INACTIVE
SLOT_INDEX = "uq_appointments_vehicle_slot"

# The service kind a task's appointment most likely is, to preselect in the form.
KIND_FOR_TASK = {
    "first_service": VisitKind.FIRST_SERVICE.value,
    "maintenance": VisitKind.MAINTENANCE.value,
    "warranty_expiry": VisitKind.WARRANTY.value,
    "service_callback": VisitKind.REPAIR.value,
}


class AppointmentInvalid(ServiceError):
    """The booking does not fit; ``errors`` maps a field (date, time, service_kind,
    vehicle, notes, task) to its FieldError."""

    def __init__(self, errors: dict[str, FieldError]):
        self.errors = errors
        first = next(iter(errors.values()))
        super().__init__(first.template, field=next(iter(errors)), **first.params)


class BookingRefused(ServiceError):
    """Booking from this task is not allowed at all: ``status`` 409 (the task is closed)
    or 403 (someone else's task; care.domain.access)."""

    def __init__(self, template: str, *, status: int, **params):
        self.status = status
        super().__init__(template, **params)


def check_task_access(task: CareTask | None, user: User) -> None:
    """Raise BookingRefused unless ``user`` may book from ``task`` (the same rule as
    calling and recording an outcome on it); a booking without a task is not checked."""
    if task is None:
        return
    refusal = access.task_refusal(user.id, user.roles, task.assignee_id, task.status)
    if refusal == access.CLOSED:
        raise BookingRefused(N_("This task is closed already; book from the customer instead."), status=409)
    if refusal == access.NOT_YOURS:
        raise BookingRefused(
            N_("This task is assigned to someone else; only they or a care manager can book from it."),
            status=403,
        )


@dataclass(frozen=True)
class BookingRequest:
    """A booking as typed in a form (strings), or already typed values."""

    date: str | date | None = None
    time: str | time | None = None
    service_kind: str | None = None
    vehicle_id: str | int | None = None
    notes: str | None = None
    # None: another appointment of the vehicle that day is only reported (CheckedBooking.
    # same_day); False: it is an error (``same_day``) until the user confirms (True).
    confirm_same_day: bool | None = None
    # R17: why a full slot is booked all the same; the service advisor (a user's name or
    # display name, else the name as given).
    overbook_reason: str | None = None
    advisor: str | None = None

    def is_empty(self) -> bool:
        """Nothing that asks for a booking was filled in (notes alone do not)."""
        return not any(str(v or "").strip() for v in (self.date, self.time))


@dataclass(frozen=True)
class CheckedBooking:
    date: date
    time: time
    service_kind: str
    vehicle: Vehicle | None
    notes: str | None
    # The vehicle's other active appointments on that day (a warning, not an error).
    same_day: tuple[Appointment, ...] = ()
    overbook_reason: str | None = None  # set only when the slot was full
    advisor_id: int | None = None
    advisor_name: str | None = None


def _same_time_error(other: Appointment) -> FieldError:
    return FieldError(
        N_("This vehicle is booked at %(time)s on that day already; choose another time."),
        {"time": other.time.strftime("%H:%M")},
    )


def vehicle_bookings(session: Session, vehicle_id: int, day: date) -> list[Appointment]:
    """The vehicle's active (not cancelled nor rescheduled) appointments on ``day``, by time."""
    return list(
        session.scalars(
            select(Appointment)
            .where(
                Appointment.vehicle_id == vehicle_id, Appointment.date == day, Appointment.status.not_in(INACTIVE)
            )
            .order_by(Appointment.time, Appointment.id)
        )
    )


_DATE = re.compile(r"^(\d{4})-(\d{1,2})-(\d{1,2})$")
_TIME = re.compile(r"^(\d{1,2}):(\d{2})(?::\d{2})?$")


def parse_date(value: str | date | None) -> date | None:
    """``YYYY-MM-DD`` (what <input type=date> sends) → date; ValueError otherwise."""
    if value is None or isinstance(value, date):
        return value
    text = value.strip()
    if not text:
        return None
    m = _DATE.match(text)
    if not m:
        raise ValueError(text)
    return date(int(m.group(1)), int(m.group(2)), int(m.group(3)))


def parse_time(value: str | time | None) -> time | None:
    """``HH:MM`` (what <input type=time> sends) → time; ValueError otherwise."""
    if value is None or isinstance(value, time):
        return value
    text = value.strip()
    if not text:
        return None
    m = _TIME.match(text)
    if not m:
        raise ValueError(text)
    return time(int(m.group(1)), int(m.group(2)))


def local_today(session: Session, now: datetime) -> date:
    """Today in the dealer's time zone."""
    return dates.local_today(now, load_settings(session).timezone)


def check_booking(
    session: Session,
    request: BookingRequest,
    *,
    customer: Customer,
    task: CareTask | None,
    now: datetime,
) -> CheckedBooking:
    """Every check of a booking, nothing added; raises AppointmentInvalid with all errors."""
    settings = load_settings(session)
    local = dates.to_local(now, settings.timezone)
    errors: dict[str, FieldError] = {}

    try:
        day = parse_date(request.date)
    except ValueError:
        day = None
        errors["date"] = FieldError(N_("Enter a date as YYYY-MM-DD."))
    else:
        if day is None:
            errors["date"] = FieldError(N_("Choose the date."))
        elif day < local.date():
            errors["date"] = FieldError(N_("The date is in the past."))

    try:
        at = parse_time(request.time)
    except ValueError:
        at = None
        errors["time"] = FieldError(N_("Enter a time as HH:MM."))
    else:
        start, end = settings.service_opens, settings.service_closes
        if at is None:
            errors["time"] = FieldError(N_("Choose the time."))
        elif not rules.within_hours(at, start, end):
            errors["time"] = FieldError(
                rules.OUTSIDE_HOURS, {"start": start.strftime("%H:%M"), "end": end.strftime("%H:%M")}
            )
        elif day == local.date() and at <= local.time().replace(tzinfo=None):
            errors["time"] = FieldError(N_("This time has passed already today."))

    kind = (request.service_kind or "").strip()
    if kind not in {k.value for k in VisitKind}:
        errors["service_kind"] = FieldError(N_("Choose the kind of service."))

    vehicle = None
    raw_vehicle = str(request.vehicle_id or "").strip()
    if raw_vehicle:
        vehicle = (
            session.get(Vehicle, int(raw_vehicle))
            if raw_vehicle.isascii() and raw_vehicle.isdigit() and len(raw_vehicle) < 10
            else None
        )
        if vehicle is None or vehicle.customer_id != customer.id:
            vehicle = None
            errors["vehicle"] = FieldError(N_("Choose one of this customer's vehicles."))
    elif session.scalar(select(Vehicle.id).where(Vehicle.customer_id == customer.id).limit(1)):
        errors["vehicle"] = FieldError(N_("Choose the vehicle."))

    notes = (request.notes or "").strip() or None
    if notes and len(notes) > MAX_NOTES:
        errors["notes"] = FieldError(N_("At most %(max)d characters."), {"max": MAX_NOTES})

    if task is not None and task.customer_id != customer.id:
        errors["task"] = FieldError(N_("The task belongs to another customer."))

    same_day: list[Appointment] = []
    if vehicle is not None and day is not None:
        same_day = vehicle_bookings(session, vehicle.id, day)
        clash = next((a for a in same_day if at is not None and a.time == at), None)
        if clash is not None and "time" not in errors:
            errors["time"] = _same_time_error(clash)
        elif same_day and request.confirm_same_day is False:
            errors["same_day"] = FieldError(
                N_(
                    "This vehicle already has an appointment that day, at %(times)s. "
                    "Tick the box to book another one all the same."
                ),
                {"times": ", ".join(a.time.strftime("%H:%M") for a in same_day)},
            )

    reason = " ".join((request.overbook_reason or "").split()) or None
    if reason and len(reason) > MAX_REASON:
        errors["overbook_reason"] = FieldError(N_("At most %(max)d characters."), {"max": MAX_REASON})
    advisor_name = " ".join((request.advisor or "").split()) or None
    if advisor_name and len(advisor_name) > MAX_ADVISOR:
        errors["advisor"] = FieldError(N_("At most %(max)d characters."), {"max": MAX_ADVISOR})
    overbooked = None
    if day is not None and at is not None and "time" not in errors:
        use = slot_use_at(session, day, at, settings)
        if use is not None and use.full:
            if reason is None:
                errors["time"] = FieldError(
                    rules.FULL_SLOT, {"slot": use.slot.label, "used": use.used, "capacity": use.capacity}
                )
            else:
                overbooked = reason

    if errors:
        raise AppointmentInvalid(errors)
    assert day is not None and at is not None
    advisor_id = resolve_advisor(session, advisor_name) if advisor_name else None
    return CheckedBooking(day, at, kind, vehicle, notes, tuple(same_day), overbooked, advisor_id, advisor_name)


def resolve_advisor(session: Session, name: str) -> int | None:
    """The front-desk user a typed advisor name means (user name, or the display name of
    exactly one), else None (the name is kept as given)."""
    front_desk = select(UserRole.user_id).where(UserRole.role == Role.FRONT_DESK.value)
    by_username = session.scalar(select(User.id).where(User.username == name, User.id.in_(front_desk)))
    if by_username is not None:
        return by_username
    ids = session.scalars(select(User.id).where(User.display_name == name, User.id.in_(front_desk))).all()
    return ids[0] if len(ids) == 1 else None


def advisors(session: Session) -> list[User]:
    """The active front-desk users (the advisor field's suggestions)."""
    front_desk = select(UserRole.user_id).where(UserRole.role == Role.FRONT_DESK.value)
    return list(
        session.scalars(select(User).where(User.id.in_(front_desk), User.active.is_(True)).order_by(User.username))
    )


def day_times(session: Session, day: date) -> list[time]:
    """The times that hold a place on ``day``: the register's active appointments, and the
    front desk's lines for vehicles the care department has no appointment for that day
    (the front desk booked those itself; a vehicle in both copies counts once)."""
    care = session.execute(
        select(Appointment.time, Appointment.vehicle_id).where(
            Appointment.date == day, Appointment.status.in_(rules.ACTIVE)
        )
    ).all()
    booked_vehicles = {v for _t, v in care if v is not None}
    desk = session.execute(
        select(FrontDeskAppointment.time, FrontDeskAppointment.vehicle_id).where(FrontDeskAppointment.date == day)
    ).all()
    return [t for t, _v in care] + [t for t, v in desk if v not in booked_vehicles]


def day_slots(session: Session, day: date, settings=None) -> list[rules.SlotUse]:
    """Each time slot of ``day`` with its places taken and free (R17)."""
    settings = settings or load_settings(session)
    return rules.slot_use(
        day_times(session, day),
        settings.service_opens,
        settings.service_closes,
        settings.appointment_slot_minutes,
        settings.appointment_slot_capacity,
    )


def slot_use_at(session: Session, day: date, at: time, settings=None) -> rules.SlotUse | None:
    return next((u for u in day_slots(session, day, settings) if u.slot.start <= at < u.slot.end), None)


def add_checked(
    session: Session,
    checked: CheckedBooking,
    *,
    customer: Customer,
    task: CareTask | None,
    user: User,
    now: datetime,
) -> Appointment:
    appointment = Appointment(
        customer_id=customer.id,
        vehicle_id=checked.vehicle.id if checked.vehicle else None,
        task_id=task.id if task else None,
        date=checked.date,
        time=checked.time,
        service_kind=checked.service_kind,
        notes=checked.notes,
        status=BOOKED,
        created_by_id=user.id,
        created_at=now,
        source=rules.SOURCE_CARE,
        overbook_reason=checked.overbook_reason,
        advisor_id=checked.advisor_id,
        advisor_name=checked.advisor_name,
        updated_at=now,
    )
    # In a SAVEPOINT: when a concurrent booking took the vehicle's slot after the check
    # (the unique index refuses the second), the transaction stays usable for the form.
    try:
        with session.begin_nested():
            session.add(appointment)
    except IntegrityError as exc:
        if SLOT_INDEX not in str(exc.orig) and "appointments.vehicle_id" not in str(exc.orig):
            raise
        other = next(
            (a for a in vehicle_bookings(session, appointment.vehicle_id, checked.date) if a.time == checked.time),
            appointment,
        )
        raise AppointmentInvalid({"time": _same_time_error(other)}) from None
    proactive.close_for_booking(session, appointment, now=now)  # R16: its appointment task is met
    session.add(
        AppointmentStatusChange(
            appointment_id=appointment.id, from_status=None, to_status=BOOKED, changed_by_id=user.id,
            actor=user.username[:64], changed_at=now, reason=checked.overbook_reason,
        )
    )
    session.flush()
    return appointment


def book(
    session: Session,
    *,
    customer: Customer,
    vehicle: Vehicle | int | str | None,
    task: CareTask | None,
    date: str | date | None,
    time: str | time | None,
    service_kind: str | None,
    notes: str | None,
    user: User,
    now: datetime,
    confirm_same_day: bool | None = None,
    overbook_reason: str | None = None,
    advisor: str | None = None,
) -> Appointment:
    """Book a service appointment (R16), the appointment alone (no outcome: see
    care.services.outcomes.book_from_task); raises BookingRefused (a task that is closed
    or someone else's) or AppointmentInvalid with every error."""
    check_task_access(task, user)
    vehicle_id = vehicle.id if isinstance(vehicle, Vehicle) else vehicle
    request = BookingRequest(date, time, service_kind, vehicle_id, notes, confirm_same_day, overbook_reason, advisor)
    checked = check_booking(session, request, customer=customer, task=task, now=now)
    return add_checked(session, checked, customer=customer, task=task, user=user, now=now)


def for_day(session: Session, day: date) -> list[Appointment]:
    """The day's appointments by time, with what the list shows loaded."""
    return list(
        session.scalars(
            select(Appointment)
            .where(Appointment.date == day)
            .options(
                joinedload(Appointment.customer),
                joinedload(Appointment.vehicle),
                joinedload(Appointment.created_by),
                joinedload(Appointment.task),
            )
            .order_by(Appointment.time, Appointment.id)
        )
    )


def for_task(session: Session, task_id: int) -> list[Appointment]:
    """The active (not cancelled nor rescheduled) appointments made from a task."""
    return list(
        session.scalars(
            select(Appointment)
            .where(Appointment.task_id == task_id, Appointment.status.not_in(INACTIVE))
            .options(joinedload(Appointment.vehicle))
            .order_by(Appointment.date, Appointment.time, Appointment.id)
        )
    )


def for_tasks(session: Session, task_ids) -> dict[int, list[Appointment]]:
    """:func:`for_task` of several tasks, by task id, in one query (the contact page)."""
    found: dict[int, list[Appointment]] = {task_id: [] for task_id in task_ids}
    if not found:
        return found
    for appointment in session.scalars(
        select(Appointment)
        .where(Appointment.task_id.in_(list(found)), Appointment.status.not_in(INACTIVE))
        .options(joinedload(Appointment.vehicle))
        .order_by(Appointment.date, Appointment.time, Appointment.id)
    ):
        found[appointment.task_id].append(appointment)
    return found


def default_kind(task: CareTask | None) -> str:
    if task is None:
        return VisitKind.MAINTENANCE.value
    return KIND_FOR_TASK.get(task.type, VisitKind.MAINTENANCE.value)

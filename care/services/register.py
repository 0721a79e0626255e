"""The appointment register (domain.md R17; the rules in care/domain/register.py).

- :func:`day_register` — one day: the care department's appointments, the front desk's
  copy, their reconciliation, the slots' use, the submission (who, when, late, changed
  since), the show rate; :func:`register_document` is ``care register --json``.
- :func:`submit` — the care department submits the day to the front-desk supervisor.
- :func:`change_status`, :func:`reschedule` — confirming (after a call or a reply),
  arrived by hand, cancelling, moving to another time; each change in the history.
- :func:`add_front_desk_line`, :func:`remove_front_desk_line` — the front desk's copy
  kept in the app (the DMS's copy comes from ``care import appointments``).
- :func:`sweep_appointments` — run by ``care sweep`` and the scheduler, and after a
  visits import: the reminder SMS the day before (through the outbox: consent, the
  number, quiet hours), arrivals from the visits, no-shows with their follow-up task.
- :func:`find_violations` — days not submitted by the deadline (``register_not_submitted``).
- :func:`show_rates` — per day, per specialist, per month; :func:`month_show_rate` for
  ``care report`` (``appointment_show_rate``).

The no-show follow-up is an ``appointment`` task (the task type whose outcomes are
"booked", "declined" and "not reached", with the appointment script): its job is the
same as a proactive appointment's, to get the car booked again; its reason says it is a
no-show (``appointment.reason_no_show``). It goes to the specialist who booked the missed
appointment when they are an active specialist, else round-robin (care.services.assignment).

Services flush, never commit.
"""

from __future__ import annotations

import io
import re
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session, joinedload

from care.domain import N_, dates
from care.domain import register as rules
from care.domain.roles import Role
from care.domain.scripts import salutation
from care.domain.task_rules import Channel, CustomerFacts, OwnerRule, Skip, TaskType, contact_plan
from care.messaging import outbox
from care.models import (
    Appointment,
    AppointmentStatusChange,
    CareTask,
    Customer,
    FrontDeskAppointment,
    OutboxMessage,
    RegisterSubmission,
    ServiceVisit,
    TaskStatus,
    User,
    UserRole,
    Vehicle,
    VisitKind,
)
from care.services import ServiceError
from care.services import appointments as appointment_svc
from care.services.assignment import Assigner
from care.services.message_templates import render_text
from care.services.settings import load_settings

REMINDER_TEMPLATE = "appointment_reminder"  # the message template's "task type"
NO_SHOW_REASON = "appointment.reason_no_show"
RULE = "register_not_submitted"
SCHEDULER = "scheduler"
WITHDRAWN = "appointment_withdrawn"  # last_error of a reminder whose appointment left the register
MAX_REASON = 500


class RegisterError(ServiceError):
    pass


def reminder_key(appointment_id: int) -> str:
    return f"appointment_reminder:{appointment_id}"


def _tz(settings) -> ZoneInfo:
    return ZoneInfo(settings.timezone)


def _actor(user: User | None, actor: str | None) -> str:
    return (user.username if user is not None else actor or SCHEDULER)[:64]


def _history(session, appointment: Appointment, to_status: str, *, user=None, actor=None, reason=None, now):
    session.add(
        AppointmentStatusChange(
            appointment_id=appointment.id,
            from_status=appointment.status,
            to_status=to_status,
            reason=reason,
            changed_by_id=user.id if user is not None else None,
            actor=_actor(user, actor),
            changed_at=now,
        )
    )
    appointment.status = to_status
    appointment.updated_at = now


# --- the day's register -------------------------------------------------------------------


@dataclass
class Submission:
    row: RegisterSubmission | None
    due_at: datetime
    overdue: bool  # past the deadline and not submitted
    changes: dict[str, list[int]] = field(default_factory=dict)

    @property
    def submitted(self) -> bool:
        return self.row is not None

    @property
    def changed(self) -> bool:
        return any(self.changes.values())


@dataclass
class DayRegister:
    day: date
    appointments: list[Appointment]  # every status, by time
    front_desk: list[FrontDeskAppointment]
    reconciliation: rules.Reconciliation
    slots: list[rules.SlotUse]
    submission: Submission
    show_rate: rules.ShowRate
    history: dict[int, list[AppointmentStatusChange]]

    @property
    def active(self) -> list[Appointment]:
        return [a for a in self.appointments if a.status in rules.ACTIVE]

    def source_of(self, appointment: Appointment) -> str:
        return self.reconciliation.source_of(appointment.id)

    @property
    def capacity(self) -> int:
        return sum(s.capacity for s in self.slots)

    @property
    def used(self) -> int:
        return sum(s.used for s in self.slots)


def _vin(a) -> str:
    return a.vehicle.vin if a.vehicle is not None else f"#{a.customer_id}"


def _front_desk(session: Session, day: date) -> list[FrontDeskAppointment]:
    return list(
        session.scalars(
            select(FrontDeskAppointment)
            .where(FrontDeskAppointment.date == day)
            .options(joinedload(FrontDeskAppointment.vehicle), joinedload(FrontDeskAppointment.customer))
            .order_by(FrontDeskAppointment.time, FrontDeskAppointment.id)
        )
    )


def _fingerprint(active: list[Appointment]) -> list[list]:
    return rules.fingerprint((a.id, _vin(a), a.time, a.service_kind) for a in active)


def day_register(session: Session, day: date, *, now: datetime, settings=None) -> DayRegister:
    settings = settings or load_settings(session)
    appointments = appointment_svc.for_day(session, day)
    active = [a for a in appointments if a.status in rules.ACTIVE]
    desk = _front_desk(session, day)
    reconciliation = rules.reconcile(
        [rules.Entry(_vin(a), a.time, a.service_kind, a.id) for a in active],
        [rules.Entry(d.vehicle.vin, d.time, d.service_kind, d.appt_no) for d in desk],
    )
    row = session.scalar(
        select(RegisterSubmission)
        .where(RegisterSubmission.day == day)
        .options(joinedload(RegisterSubmission.submitted_by), joinedload(RegisterSubmission.last_submitted_by))
    )
    due = rules.deadline(day, settings.register_deadline, _tz(settings))
    changes = rules.changes_since(row.snapshot, _fingerprint(active)) if row is not None else {}
    submission = Submission(row, due, row is None and now > due and bool(active), changes)
    history: dict[int, list[AppointmentStatusChange]] = defaultdict(list)
    if appointments:
        for change in session.scalars(
            select(AppointmentStatusChange)
            .where(AppointmentStatusChange.appointment_id.in_([a.id for a in appointments]))
            .options(joinedload(AppointmentStatusChange.changed_by))
            .order_by(AppointmentStatusChange.changed_at, AppointmentStatusChange.id)
        ):
            history[change.appointment_id].append(change)
    return DayRegister(
        day=day,
        appointments=appointments,
        front_desk=desk,
        reconciliation=reconciliation,
        slots=appointment_svc.day_slots(session, day, settings),
        submission=submission,
        show_rate=rules.show_rate(a.status for a in appointments),
        history=dict(history),
    )


def _iso(dt: datetime | None, settings) -> str | None:
    return None if dt is None else dt.astimezone(_tz(settings)).isoformat()


def register_document(session: Session, day: date, *, now: datetime) -> dict[str, Any]:
    """``care register --date D --json`` (interfaces.md)."""
    settings = load_settings(session)
    reg = day_register(session, day, now=now, settings=settings)
    row = reg.submission.row
    appointments = [
        {
            "id": a.id,
            "vin": a.vehicle.vin if a.vehicle is not None else None,
            "customer_no": a.customer.customer_no,
            "time": a.time.strftime("%H:%M"),
            "kind": a.service_kind,
            "status": a.status,
            "source": reg.source_of(a) if a.status in rules.ACTIVE else rules.SOURCE_CARE,
        }
        for a in reg.appointments
    ]
    appointments += [
        {
            "id": None,
            "appt_no": d.appt_no,
            "vin": e.vin,
            "customer_no": d.customer.customer_no if d.customer is not None else None,
            "time": e.time.strftime("%H:%M"),
            "kind": e.kind,
            "status": None,
            "source": rules.SOURCE_FRONT_DESK,
        }
        for e in reg.reconciliation.unmatched_front_desk
        for d in reg.front_desk
        if d.appt_no == e.ref
    ]
    return {
        "date": day.isoformat(),
        "submitted_at": _iso(row.submitted_at, settings) if row else None,
        "submitted_by": row.submitted_by.username if row and row.submitted_by else None,
        "changed_after_submission": reg.submission.changed,
        "late": bool(row.late) if row else None,
        "overdue": reg.submission.overdue,
        "due_at": _iso(reg.submission.due_at, settings),
        "appointments": appointments,
        "differences": [d.as_json() for d in reg.reconciliation.differences],
        "show_rate": reg.show_rate.as_json(),
    }


# --- submission ------------------------------------------------------------------------------


def submit(session: Session, day: date, *, user: User, now: datetime) -> RegisterSubmission:
    """Submit (or submit again, after a change) the day's register to the front desk."""
    settings = load_settings(session)
    active = [a for a in appointment_svc.for_day(session, day) if a.status in rules.ACTIVE]
    snapshot = _fingerprint(active)
    row = session.scalar(select(RegisterSubmission).where(RegisterSubmission.day == day))
    if row is None:
        row = RegisterSubmission(
            day=day,
            submitted_at=now,
            submitted_by_id=user.id,
            late=rules.is_late(now, day, settings.register_deadline, _tz(settings)),
            last_submitted_at=now,
            last_submitted_by_id=user.id,
            times=1,
            snapshot=snapshot,
        )
        session.add(row)
    else:
        row.last_submitted_at, row.last_submitted_by_id = now, user.id
        row.times = (row.times or 1) + 1
        row.snapshot = snapshot
    session.flush()
    return row


def overdue_days(session: Session, *, now: datetime, days: int = 31) -> list[date]:
    """The days (of the last ``days``) with appointments in the register whose deadline
    passed without a submission: the care manager's flag."""
    settings = load_settings(session)
    tz = _tz(settings)
    today = dates.to_local(now, settings.timezone).date()
    candidates = session.scalars(
        select(Appointment.date)
        .where(
            Appointment.date >= today - timedelta(days=days),
            Appointment.date <= today,
            Appointment.status.in_(rules.ACTIVE),
        )
        .distinct()
    ).all()
    submitted = set(
        session.scalars(select(RegisterSubmission.day).where(RegisterSubmission.day.in_(candidates))).all()
    )
    return sorted(
        d for d in candidates if d not in submitted and now > rules.deadline(d, settings.register_deadline, tz)
    )


def _care_manager(session: Session) -> int | None:
    return session.scalar(
        select(User.id)
        .join(UserRole, UserRole.user_id == User.id)
        .where(UserRole.role == Role.CARE_MANAGER.value, User.active.is_(True))
        .order_by(User.id)
        .limit(1)
    )


def find_violations(session: Session, month_start: date, settings=None, *, now: datetime | None = None) -> list[dict]:
    """R17 in the violations registry: each day of the month with appointments in the
    register that was not submitted by its deadline (never, or late), as
    ``{"rule", "person_id" (the care manager), "evidence": [("register_day", day)],
    "count": 1, "detail"}``. Only days whose deadline has passed by now."""
    settings = settings or load_settings(session)
    tz = _tz(settings)
    first = month_start.replace(day=1)
    following = dates.add_months(first, 1)
    now = now.astimezone(tz) if now is not None else datetime.now(tz)
    days = session.scalars(
        select(Appointment.date)
        .where(Appointment.date >= first, Appointment.date < following, Appointment.status.in_(rules.ACTIVE))
        .distinct()
    ).all()
    submissions = {
        row.day: row
        for row in session.scalars(select(RegisterSubmission).where(RegisterSubmission.day.in_(days)))
    }
    manager = _care_manager(session)
    found = []
    for day in sorted(days):
        due = rules.deadline(day, settings.register_deadline, tz)
        row = submissions.get(day)
        if row is None and now <= due:
            continue
        if row is not None and not row.late:
            continue
        detail = {
            "day": day.isoformat(),
            "deadline": f"{settings.register_deadline:%H:%M}",
            "submitted_at": None if row is None else f"{row.submitted_at.astimezone(tz):%Y-%m-%d %H:%M}",
        }
        found.append(
            {"rule": RULE, "person_id": manager, "evidence": [("register_day", day.isoformat())], "count": 1,
             "detail": detail, "key": day.isoformat()}  # one violation per day
        )  # fmt: skip
    return found


# --- status changes -------------------------------------------------------------------------


def change_status(
    session: Session,
    appointment: Appointment,
    new_status: str,
    *,
    user: User,
    now: datetime,
    reason: str | None = None,
) -> Appointment:
    """A person's change (confirm after a call or a reply, arrived, cancel): the allowed
    moves of care.domain.register.MANUAL_CHANGES; cancelling needs a reason."""
    if new_status not in rules.STATUSES:
        raise RegisterError(N_("Unknown appointment status."), field="status")
    if not rules.can_change(appointment.status, new_status):
        raise RegisterError(
            N_("An appointment that is %(current)s cannot become %(new)s."),
            field="status",
            current=appointment.status,
            new=new_status,
        )
    reason = " ".join((reason or "").split()) or None
    if reason and len(reason) > MAX_REASON:
        raise RegisterError(N_("At most %(max)d characters."), field="reason", max=MAX_REASON)
    if new_status == rules.CANCELLED and not reason:
        raise RegisterError(N_("Say why the appointment is cancelled."), field="reason")
    _history(session, appointment, new_status, user=user, reason=reason, now=now)
    if new_status in rules.INACTIVE:
        _withdraw_reminder(session, appointment)
    if new_status == rules.ARRIVED:
        _close_follow_up(session, appointment, now)
    session.flush()
    return appointment


def reschedule(
    session: Session,
    appointment: Appointment,
    request: appointment_svc.BookingRequest,
    *,
    user: User,
    now: datetime,
) -> Appointment:
    """Move a booked or confirmed appointment (after a call): the new one is booked with
    every check of a booking (the vehicle, task and kind of the old one unless given), the
    old one becomes ``rescheduled`` and points at it."""
    if appointment.status not in rules.PENDING + (rules.NO_SHOW,):
        raise RegisterError(
            N_("An appointment that is %(current)s cannot be moved."), field="status", current=appointment.status
        )
    # The old appointment frees its place (and its vehicle's moment) before the new one is
    # checked; in a SAVEPOINT, so that a refused new time leaves the old one as it was.
    reason = " ".join((request.notes or "").split()) or None
    if reason and len(reason) > MAX_REASON:
        raise RegisterError(N_("At most %(max)d characters."), field="notes", max=MAX_REASON)
    with session.begin_nested():  # rolled back (and the objects expired) when the new time is refused
        _history(session, appointment, rules.RESCHEDULED, user=user, reason=reason, now=now)
        session.flush()
        merged = appointment_svc.BookingRequest(
            date=request.date,
            time=request.time,
            service_kind=request.service_kind or appointment.service_kind,
            vehicle_id=appointment.vehicle_id,
            notes=appointment.notes,
            confirm_same_day=True,
            overbook_reason=request.overbook_reason,
            advisor=request.advisor or appointment.advisor_name,
        )
        checked = appointment_svc.check_booking(session, merged, customer=appointment.customer, task=None, now=now)
        new = appointment_svc.add_checked(session, checked, customer=appointment.customer, task=None, user=user, now=now)
    new.task_id = appointment.task_id
    new.status = rules.CONFIRMED  # moved on the customer's word
    session.add(
        AppointmentStatusChange(
            appointment_id=new.id, from_status=rules.BOOKED, to_status=rules.CONFIRMED, changed_by_id=user.id,
            actor=user.username[:64], changed_at=now, reason=None,
        )
    )  # fmt: skip
    appointment.rescheduled_to_id = new.id
    _withdraw_reminder(session, appointment)
    session.flush()
    return new


def _withdraw_reminder(session: Session, appointment: Appointment) -> None:
    """A reminder still waiting for an appointment that left the register is not sent."""
    session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.idempotency_key == reminder_key(appointment.id), OutboxMessage.status == outbox.QUEUED)
        .values(status=outbox.SKIPPED, last_error=WITHDRAWN)
        .execution_options(synchronize_session=False)
    )


def _close_follow_up(session: Session, appointment: Appointment, now: datetime) -> None:
    """The customer came after all: the no-show's follow-up call is withdrawn."""
    if appointment.follow_up_task_id is None:
        return
    session.execute(
        update(CareTask)
        .where(CareTask.id == appointment.follow_up_task_id, CareTask.status.in_(("open", "blocked")))
        .values(status=TaskStatus.CANCELED.value, outcome="arrived", closed_at=now, updated_at=now)
        .execution_options(synchronize_session=False)
    )


# --- the front desk's copy kept in the app ----------------------------------------------------

_APPT_NO = re.compile(r"^[0-9A-Za-z\-_/]{1,40}$")


def add_front_desk_line(
    session: Session,
    *,
    vin: str,
    day: str | date | None,
    at: str | time | None,
    kind: str | None,
    advisor: str | None,
    appt_no: str | None,
    user: User,
    now: datetime,
) -> FrontDeskAppointment:
    """A line of the front desk's copy written at the front desk (what the DMS would send)."""
    errors: dict[str, str] = {}
    text = (vin or "").strip().upper()
    vehicle = session.scalar(select(Vehicle).where(Vehicle.vin == text)) if text else None
    if not text:
        errors["vin"] = N_("Enter the VIN.")
    elif vehicle is None:
        errors["vin"] = N_("No vehicle with this VIN exists.")
    try:
        the_day = appointment_svc.parse_date(day)
    except ValueError:
        the_day = None
    if the_day is None or not (2000 <= the_day.year <= 2100):
        errors["date"] = N_("Enter a date as YYYY-MM-DD.")
    try:
        the_time = appointment_svc.parse_time(at)
    except ValueError:
        the_time = None
    if the_time is None:
        errors["time"] = N_("Enter a time as HH:MM.")
    if (kind or "") not in {k.value for k in VisitKind}:
        errors["kind"] = N_("Choose the kind of service.")
    name = " ".join((advisor or "").split()) or None
    if name and len(name) > appointment_svc.MAX_ADVISOR:
        errors["advisor"] = N_("At most %(max)d characters.")
    number = (appt_no or "").strip() or None
    if number and not _APPT_NO.match(number):
        errors["appt_no"] = N_("Letters, digits and - _ / only, at most 40.")
    elif number and session.scalar(select(FrontDeskAppointment.id).where(FrontDeskAppointment.appt_no == number)):
        errors["appt_no"] = N_("This appointment number is taken already.")
    if errors:
        raise FrontDeskInvalid(errors)
    assert vehicle is not None and the_day is not None and the_time is not None
    if number is None:
        count = session.scalar(select(func.count(FrontDeskAppointment.id)).where(FrontDeskAppointment.date == the_day))
        number = f"APP-{the_day:%Y%m%d}-{(count or 0) + 1:03d}"
        while session.scalar(select(FrontDeskAppointment.id).where(FrontDeskAppointment.appt_no == number)):
            count = (count or 0) + 1
            number = f"APP-{the_day:%Y%m%d}-{count + 1:03d}"
    line = FrontDeskAppointment(
        appt_no=number,
        vehicle_id=vehicle.id,
        customer_id=vehicle.customer_id,
        date=the_day,
        time=the_time,
        service_kind=kind,
        advisor_id=appointment_svc.resolve_advisor(session, name) if name else None,
        advisor_name=name,
        source="app",
        created_by_id=user.id,
        created_at=now,
        updated_at=now,
    )
    session.add(line)
    session.flush()
    return line


class FrontDeskInvalid(ServiceError):
    def __init__(self, errors: dict[str, str]):
        self.errors = errors
        super().__init__(next(iter(errors.values())), field=next(iter(errors)))


def remove_front_desk_line(session: Session, line: FrontDeskAppointment) -> None:
    session.delete(line)
    session.flush()


# --- before and after the visit -----------------------------------------------------------------


def _reminder_text(session: Session, appointment: Appointment, settings) -> str:
    vehicle = appointment.vehicle
    customer = appointment.customer
    ctx = {
        "dealer_name": settings.dealer_name,
        "salutation": salutation(customer.name),
        "customer_name": customer.name,
        "plate": (vehicle.plate or vehicle.vin) if vehicle is not None else "",
        "model": vehicle.model if vehicle is not None else "",
        "appointment_date": appointment.date,
        "appointment_time": appointment.time.strftime("%H:%M"),
    }
    return render_text(session, REMINDER_TEMPLATE, "sms", ctx)


def queue_reminders(session: Session, *, now: datetime, settings=None) -> dict[str, int]:
    """The reminder SMS of the appointments ``appointment_reminder_days`` ahead (the day
    before, by default), one per appointment (outbox key ``appointment_reminder:<id>``):
    queued, or written ``skipped`` with the reason (no SMS consent, no number). The
    outbox holds a queued SMS in quiet hours (care.messaging.outbox.sms_hours)."""
    settings = settings or load_settings(session)
    today = dates.to_local(now, settings.timezone).date()
    target = today + timedelta(days=settings.appointment_reminder_days)
    candidates = session.scalars(
        select(Appointment)
        .where(Appointment.date > today, Appointment.date <= target, Appointment.status.in_(rules.PENDING))
        .options(joinedload(Appointment.customer), joinedload(Appointment.vehicle))
        .order_by(Appointment.date, Appointment.time, Appointment.id)
    ).all()
    counts = {"reminders_queued": 0, "reminders_skipped": 0}
    for appointment in candidates:
        key = reminder_key(appointment.id)
        if outbox.get_by_key(session, key) is not None:
            continue
        customer = appointment.customer
        to = customer.mobile or customer.phone2
        status, error = outbox.QUEUED, None
        if outbox.refused(customer, "sms"):
            status, error = outbox.SKIPPED, outbox.CONSENT
        elif not to:
            status, error = outbox.SKIPPED, outbox.NO_ADDRESS
        outbox.queue(
            session,
            channel="sms",
            to=to,
            body=_reminder_text(session, appointment, settings),
            customer_id=customer.id,
            task_id=appointment.task_id,
            key=key,
            now=now,
            status=status,
            last_error=error,
        )
        counts["reminders_queued" if status == outbox.QUEUED else "reminders_skipped"] += 1
    return counts


def mark_arrivals(session: Session, *, now: datetime, settings=None, actor: str = SCHEDULER) -> int:
    """Appointments still waiting (or marked no-show) whose vehicle has a service visit
    within ``arrival_tolerance_days`` of the day (and not before the booking was made)
    become ``arrived`` (the visit linked, each visit to one appointment)."""
    settings = settings or load_settings(session)
    tolerance = timedelta(days=settings.arrival_tolerance_days)
    today = dates.to_local(now, settings.timezone).date()
    waiting = session.scalars(
        select(Appointment)
        .where(
            Appointment.status.in_((*rules.PENDING, rules.NO_SHOW)),
            Appointment.vehicle_id.is_not(None),
            Appointment.date <= today + tolerance,
        )
        .order_by(Appointment.date, Appointment.time, Appointment.id)
    ).all()
    if not waiting:
        return 0
    visits: dict[int, list[ServiceVisit]] = defaultdict(list)
    low = min(a.date for a in waiting) - tolerance
    for visit in session.scalars(
        select(ServiceVisit).where(
            ServiceVisit.vehicle_id.in_({a.vehicle_id for a in waiting}), ServiceVisit.date >= low
        )
    ):
        visits[visit.vehicle_id].append(visit)
    taken = set(session.scalars(select(Appointment.visit_id).where(Appointment.visit_id.is_not(None))).all())
    marked = 0
    for appointment in waiting:
        # a visit before the booking was made is not its arrival
        booked_on = dates.to_local(appointment.created_at, settings.timezone).date() if appointment.created_at else low
        match = min(
            (
                v
                for v in visits.get(appointment.vehicle_id, ())
                if abs(v.date - appointment.date) <= tolerance and v.date >= booked_on and v.id not in taken
            ),
            key=lambda v: (abs(v.date - appointment.date), v.id),
            default=None,
        )
        if match is None:
            continue
        taken.add(match.id)
        appointment.visit_id = match.id
        _history(session, appointment, rules.ARRIVED, actor=actor, reason=f"RO {match.ro_no} {match.date.isoformat()}", now=now)
        _close_follow_up(session, appointment, now)
        marked += 1
    session.flush()
    return marked


def mark_no_shows(session: Session, *, now: datetime, settings=None) -> int:
    """Appointments with no visit by ``no_show_after_days`` after their day: ``no_show``,
    each with its follow-up task."""
    settings = settings or load_settings(session)
    local = dates.to_local(now, settings.timezone)
    waiting = session.scalars(
        select(Appointment)
        .where(Appointment.status.in_(rules.PENDING), Appointment.date < local.date())
        .options(joinedload(Appointment.customer), joinedload(Appointment.created_by))
        .order_by(Appointment.date, Appointment.time, Appointment.id)
    ).all()
    due = [
        a
        for a in waiting
        if rules.no_show_due(a.date, local.replace(tzinfo=None), settings.no_show_after_days, settings.workday_start)
    ]
    if not due:
        return 0
    assigner = None
    for appointment in due:
        _history(session, appointment, rules.NO_SHOW, actor=SCHEDULER, now=now)
        if assigner is None:
            assigner = Assigner.load(session)
            assigner.remember_holders(session, {a.customer_id for a in due})
        task = _follow_up(session, appointment, assigner, settings, local.date(), now)
        if task is not None:
            appointment.follow_up_task_id = task.id
    session.flush()
    return len(due)


def _specialist_ids(session: Session) -> set[int]:
    return set(
        session.scalars(
            select(User.id)
            .join(UserRole, UserRole.user_id == User.id)
            .where(UserRole.role == Role.SPECIALIST.value, User.active.is_(True))
        ).all()
    )


def _follow_up(session, appointment: Appointment, assigner: Assigner, settings, today: date, now) -> CareTask | None:
    key = f"no_show:{appointment.id}"
    existing = session.scalar(select(CareTask).where(CareTask.cycle_key == key))
    if existing is not None:
        return existing
    customer: Customer = appointment.customer
    facts = CustomerFacts(
        customer_no=customer.customer_no,
        no_call=bool(customer.no_call),
        no_sms=bool(customer.no_sms),
        no_email=bool(customer.no_email),
        has_valid_phone=bool(customer.mobile or customer.phone2),
        has_email=bool((customer.email or "").strip()),
    )
    plan = contact_plan(facts, (), key)
    if isinstance(plan, Skip) or plan.channel is not Channel.CALL:
        return None  # the customer refuses calls: no call to rebook
    booked_by = appointment.created_by_id
    if booked_by is not None and booked_by in _specialist_ids(session):
        assignee = booked_by
    else:
        assignee = assigner.assign(OwnerRule.ROUND_ROBIN.value, None, customer.id).assignee_id
    last_day = today + timedelta(days=max(1, int(settings.attempt_window_days)) - 1)
    task = CareTask(
        type=TaskType.APPOINTMENT.value,
        status=(TaskStatus.BLOCKED if plan.needs_number_correction else TaskStatus.OPEN).value,
        cycle_key=key,
        customer_id=customer.id,
        vehicle_id=appointment.vehicle_id,
        opens_on=today,
        due_at=dates.end_of_day(last_day, settings.timezone),
        owner_rule=OwnerRule.ROUND_ROBIN.value,
        assignee_id=assignee,
        channel=Channel.CALL.value,
        fallback=None,
        reason_id=NO_SHOW_REASON,
        reason_params={"date": appointment.date.isoformat(), "time": appointment.time.strftime("%H:%M")},
        created_at=now,
        updated_at=now,
    )
    session.add(task)
    session.flush()
    return task


def sweep_appointments(session: Session, *, now: datetime) -> dict[str, int]:
    """``care sweep``'s part for the register (also after a visits import): arrivals,
    no-shows with their follow-up tasks, the reminders due. Idempotent."""
    settings = load_settings(session)
    counts = {
        "appointments_arrived": mark_arrivals(session, now=now, settings=settings),
        "appointments_no_show": mark_no_shows(session, now=now, settings=settings),
    }
    counts.update(queue_reminders(session, now=now, settings=settings))
    return counts


# --- show rates ------------------------------------------------------------------------------


def month_show_rate(session: Session, first: date, last: date) -> rules.ShowRate:
    """Arrived ÷ booked over the days ``first`` … ``last`` (``care report``)."""
    statuses = session.scalars(
        select(Appointment.status).where(Appointment.date >= first, Appointment.date <= last)
    ).all()
    return rules.show_rate(statuses)


@dataclass(frozen=True)
class ShowRates:
    day: rules.ShowRate
    month: rules.ShowRate
    by_specialist: list[tuple[str, rules.ShowRate]]  # (name, rate) for the month, by name
    by_day: list[tuple[date, rules.ShowRate]]  # the month's days so far with decided appointments


def show_rates(session: Session, day: date) -> ShowRates:
    first = day.replace(day=1)
    last = dates.add_months(first, 1) - timedelta(days=1)
    rows = session.execute(
        select(Appointment.date, Appointment.status, User.display_name, User.username)
        .outerjoin(User, User.id == Appointment.created_by_id)
        .where(Appointment.date >= first, Appointment.date <= last)
    ).all()
    by_person: dict[str, list[str]] = defaultdict(list)
    by_day: dict[date, list[str]] = defaultdict(list)
    for d, status, display, username in rows:
        by_person[display or username or "—"].append(status)
        by_day[d].append(status)
    days = [(d, rules.show_rate(s)) for d, s in sorted(by_day.items())]
    return ShowRates(
        day=rules.show_rate(by_day.get(day, [])),
        month=rules.show_rate(s for _d, s, _n, _u in rows),
        by_specialist=[(name, rules.show_rate(s)) for name, s in sorted(by_person.items())],
        by_day=[(d, r) for d, r in days if r.denominator],
    )


# --- export -------------------------------------------------------------------------------------


def export_xlsx(reg: DayRegister, *, headers: dict[str, str], labels: dict[str, dict[str, str]], title: str) -> bytes:
    """The day's register as an Excel workbook: the appointments (both copies), then the
    differences. ``headers``/``labels`` are the reader's language."""
    import openpyxl
    from openpyxl.styles import Font

    from care.domain.dms import spreadsheet_safe

    def cell(v):
        return spreadsheet_safe(v) if isinstance(v, str) else v

    book = openpyxl.Workbook()
    sheet = book.active
    sheet.title = headers["sheet"][:31]
    sheet.append([title])
    sheet["A1"].font = Font(bold=True, size=14)
    columns = ["time", "plate", "vin", "customer", "kind", "advisor", "status", "source", "notes"]
    sheet.append([headers[c] for c in columns])
    for c in sheet[2]:
        c.font = Font(bold=True)
    for a in reg.appointments:
        v = a.vehicle
        sheet.append([cell(x) for x in (
            a.time.strftime("%H:%M"), v.plate if v else "", v.vin if v else "", a.customer.name,
            labels["kind"].get(a.service_kind, a.service_kind),
            (a.advisor.display_name if a.advisor else a.advisor_name) or "",
            labels["status"].get(a.status, a.status),
            labels["source"].get(reg.source_of(a) if a.status in rules.ACTIVE else rules.SOURCE_CARE, ""),
            a.notes or "",
        )])  # fmt: skip
    for e in reg.reconciliation.unmatched_front_desk:
        line = next(d for d in reg.front_desk if d.appt_no == e.ref)
        sheet.append([cell(x) for x in (
            e.time.strftime("%H:%M"), line.vehicle.plate or "", e.vin, line.customer.name if line.customer else "",
            labels["kind"].get(e.kind, e.kind), (line.advisor.display_name if line.advisor else line.advisor_name) or "",
            "", labels["source"][rules.SOURCE_FRONT_DESK], line.appt_no,
        )])  # fmt: skip
    diff = book.create_sheet(headers["differences"][:31])
    diff.append([headers["difference"], headers["vin"], headers["care"], headers["front_desk"]])
    for c in diff[1]:
        c.font = Font(bold=True)
    for d in reg.reconciliation.differences:
        def side(e):
            return "" if e is None else f"{e.time:%H:%M} {labels['kind'].get(e.kind, e.kind)}"

        diff.append([cell(x) for x in (labels["difference"][d.kind], d.vin, side(d.care), side(d.front_desk))])
    for ws in (sheet, diff):
        for column in ws.columns:
            width = max(len(str(c.value or "")) for c in column)
            ws.column_dimensions[column[0].column_letter].width = min(40, max(8, width + 2))
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def get_appointment(session: Session, appointment_id: int) -> Appointment | None:
    return session.scalar(
        select(Appointment)
        .where(Appointment.id == appointment_id)
        .options(joinedload(Appointment.customer), joinedload(Appointment.vehicle))
    )


def slot_times(settings) -> list[time]:
    return [s.start for s in rules.slots(settings.service_opens, settings.service_closes, settings.appointment_slot_minutes)]

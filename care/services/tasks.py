"""Working a care task: recording outcomes, the customer's open tasks, the contact timeline.

`record_outcome` checks, in this order: the task is still open (or blocked), the user
may record on it (its assignee, anyone when it is unassigned, or a care manager), the
script version shown belongs to the task's type, the outcome fits the task type
(care.domain.outcomes) and, when the outcome books an appointment (will come / booked),
the booking (care.services.appointments). Nothing is written unless everything passes.
An outcome that closes the task marks it done with the outcome, when and by whom.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session, joinedload, selectinload

from care.domain import N_
from care.domain.outcomes import Booking, FieldError, OutcomeInvalid, validate_outcome
from care.domain.roles import Role
from care.models import (
    OPEN_STATUSES,
    Appointment,
    CareTask,
    PhoneCorrection,
    Script,
    ScriptVersion,
    TaskOutcome,
    TaskStatus,
    User,
)
from care.services import ServiceError
from care.services import appointments as appointment_svc

# Who may record on another person's task.
OVERRIDE_ROLES = frozenset({Role.CARE_MANAGER})
BOOKING_PREFIX = "appointment_"  # booking errors are reported as appointment_<field>


class OutcomeRefused(ServiceError):
    """Recording is not allowed at all: ``status`` 409 (the task is closed) or 403."""

    def __init__(self, template: str, *, status: int, **params: Any):
        self.status = status
        super().__init__(template, **params)


def can_record(user: User, task: CareTask) -> bool:
    """The task's assignee, anyone on an unassigned task, or a care manager."""
    if task.assignee_id is None or task.assignee_id == user.id:
        return True
    return bool(user.roles & OVERRIDE_ROLES)


def is_open(task: CareTask) -> bool:
    return task.status in OPEN_STATUSES


def check_script_version(session: Session, task: CareTask, version_id: Any) -> int | None:
    """The id of the script version the user saw, checked to be a version of the script
    for this task's type; None when no script was shown."""
    raw = str(version_id or "").strip()
    if not raw:
        return None
    task_type = None
    if raw.isascii() and raw.isdigit() and len(raw) < 10:
        task_type = session.scalar(
            select(Script.task_type)
            .join(ScriptVersion, ScriptVersion.script_id == Script.id)
            .where(ScriptVersion.id == int(raw))
        )
    if task_type != task.type:
        raise ServiceError(
            N_("The script shown is not one for this task; reload the page and record again."),
            field="script_version_id",
        )
    return int(raw)


def record_outcome(
    session: Session,
    task: CareTask,
    outcome: str | None,
    *,
    detail: Mapping[str, Any] | None,
    note: str | None,
    script_version_id: Any,
    user: User,
    now: datetime,
    booking: appointment_svc.BookingRequest | None = None,
    source: str = "manual",
) -> TaskOutcome:
    """Record an outcome on ``task``; close it when the outcome closes it.

    Raises OutcomeRefused (closed task, someone else's task), ServiceError (a script
    version of another type) or OutcomeInvalid (field → error, booking errors as
    ``appointment_<field>``).
    """
    if not is_open(task):
        raise OutcomeRefused(
            N_("This task is closed already; no outcome can be added."), status=409
        )
    if not can_record(user, task):
        raise OutcomeRefused(
            N_("This task is assigned to someone else; only they or a care manager can record on it."),
            status=403,
        )
    version_id = check_script_version(session, task, script_version_id)

    errors: dict[str, FieldError] = {}
    clean = None
    try:
        clean = validate_outcome(task.type, outcome, detail or {}, note)
    except OutcomeInvalid as exc:
        errors.update(exc.errors)

    checked = None
    spec = clean.spec if clean else None
    if spec is not None and spec.booking is not Booking.NONE:
        request = booking or appointment_svc.BookingRequest()
        if not request.is_empty():
            try:
                checked = appointment_svc.check_booking(
                    session, request, customer=task.customer, task=task, now=now
                )
            except appointment_svc.AppointmentInvalid as exc:
                errors.update({BOOKING_PREFIX + k: v for k, v in exc.errors.items()})
        elif spec.booking is Booking.REQUIRED and not appointment_svc.for_task(session, task.id):
            errors[BOOKING_PREFIX + "date"] = FieldError(
                N_("Book the appointment: choose its date and time.")
            )
    if errors:
        raise OutcomeInvalid(errors)
    assert clean is not None

    if clean.spec.closes_task:
        # Close it only if it is still open (a colleague or a call may have closed it since
        # it was read): the conditional UPDATE waits for a concurrent one on PostgreSQL.
        closed = session.execute(
            update(CareTask)
            .where(CareTask.id == task.id, CareTask.status.in_(OPEN_STATUSES))
            .values(
                status=TaskStatus.DONE.value,
                outcome=clean.spec.code,
                closed_at=now,
                closed_by_id=user.id,
            )
            .execution_options(synchronize_session=False)
        )
        session.expire(task, ["status", "outcome", "closed_at", "closed_by_id", "updated_at"])
        if closed.rowcount != 1:
            raise OutcomeRefused(
                N_("This task is closed already; no outcome can be added."), status=409
            )

    detail_out = dict(clean.detail)
    if checked is not None:
        appointment = appointment_svc.add_checked(
            session, checked, customer=task.customer, task=task, user=user, now=now
        )
        detail_out["appointment_id"] = appointment.id
    row = TaskOutcome(
        task_id=task.id,
        outcome=clean.spec.code,
        detail=detail_out or None,
        note=clean.note,
        closes_task=clean.spec.closes_task,
        source=source,
        script_version_id=version_id,
        recorded_by_id=user.id,
        recorded_at=now,
    )
    session.add(row)
    session.flush()
    return row


# --- reading ---------------------------------------------------------------------------


def open_tasks_of(session: Session, customer_id: int) -> list[CareTask]:
    """The customer's open and blocked tasks, the most urgent first."""
    return list(
        session.scalars(
            select(CareTask)
            .where(CareTask.customer_id == customer_id, CareTask.status.in_(OPEN_STATUSES))
            .options(
                joinedload(CareTask.vehicle),
                joinedload(CareTask.assignee),
                selectinload(CareTask.outcomes).joinedload(TaskOutcome.recorded_by),
            )
            .order_by(CareTask.due_at, CareTask.id)
        )
    )


def get_task(session: Session, task_id: int) -> CareTask | None:
    return session.scalar(
        select(CareTask)
        .where(CareTask.id == task_id)
        .options(
            joinedload(CareTask.customer),
            joinedload(CareTask.vehicle),
            joinedload(CareTask.assignee),
            joinedload(CareTask.closed_by),
            selectinload(CareTask.outcomes).joinedload(TaskOutcome.recorded_by),
            selectinload(CareTask.outcomes).joinedload(TaskOutcome.script_version),
        )
    )


@dataclass(frozen=True)
class TimelineEntry:
    """One thing that happened with the customer: ``kind`` is outcome, appointment or
    phone_correction (later issues add calls and messages); ``item`` the row."""

    kind: str
    at: datetime
    item: TaskOutcome | Appointment | PhoneCorrection | Any
    events: tuple = ()  # a call's provider events, in order received (kind "call")


_KIND_ORDER = {"call": -1, "phone_correction": 0, "appointment": 1, "outcome": 2}


def timeline(session: Session, customer_id: int, *, limit: int | None = None) -> list[TimelineEntry]:
    """Outcomes, appointments, phone corrections and call attempts (each with its
    provider events) of a customer, newest first."""
    entries: list[TimelineEntry] = []
    for row in session.scalars(
        select(TaskOutcome)
        .join(CareTask, CareTask.id == TaskOutcome.task_id)
        .where(CareTask.customer_id == customer_id)
        .options(
            joinedload(TaskOutcome.task),
            joinedload(TaskOutcome.recorded_by),
            joinedload(TaskOutcome.script_version),
        )
    ):
        entries.append(TimelineEntry("outcome", row.recorded_at, row))
    for row in session.scalars(
        select(Appointment)
        .where(Appointment.customer_id == customer_id)
        .options(joinedload(Appointment.vehicle), joinedload(Appointment.created_by))
    ):
        entries.append(TimelineEntry("appointment", row.created_at, row))
    for row in session.scalars(
        select(PhoneCorrection)
        .where(PhoneCorrection.customer_id == customer_id)
        .options(joinedload(PhoneCorrection.corrected_by))
    ):
        entries.append(TimelineEntry("phone_correction", row.corrected_at, row))
    from care.models.call import CallAttempt

    for row in session.scalars(
        select(CallAttempt)
        .where(CallAttempt.customer_id == customer_id)
        .options(joinedload(CallAttempt.task), joinedload(CallAttempt.user))
    ):
        entries.append(TimelineEntry("call", row.started_at, row))
    # Same instant (an outcome that booked): the outcome first, then what it caused.
    entries.sort(key=lambda e: (e.at, _KIND_ORDER[e.kind], e.item.id), reverse=True)
    entries = entries[:limit] if limit is not None else entries
    return _with_call_events(session, entries)


def _with_call_events(session: Session, entries: list[TimelineEntry]) -> list[TimelineEntry]:
    """The call entries with their events (one query for all of them)."""
    from care.models.call import CallEvent

    ids = [e.item.id for e in entries if e.kind == "call"]
    if not ids:
        return entries
    by_attempt: dict[int, list] = {i: [] for i in ids}
    for event in session.scalars(
        select(CallEvent).where(CallEvent.attempt_id.in_(ids)).order_by(CallEvent.received_at, CallEvent.id)
    ):
        by_attempt[event.attempt_id].append(event)
    return [
        TimelineEntry(e.kind, e.at, e.item, tuple(by_attempt[e.item.id])) if e.kind == "call" else e
        for e in entries
    ]


# --- listing (`care tasks`) ------------------------------------------------------------


def export_tasks(
    session: Session,
    *,
    day: date | None = None,
    task_type: str | None = None,
    status: str | None = None,
    actor: str,
    now: datetime,
) -> list[dict]:
    """Care tasks as plain rows, by deadline (due times in the dealer's time zone): those
    whose window (opens on … deadline) contains ``day``, of ``task_type``, in ``status``
    (each filter when given). Audited as an export (the filters and the count)."""
    from sqlalchemy.orm import aliased

    from care.domain.dates import start_of_day, to_local
    from care.models import Customer, Vehicle
    from care.services import audit
    from care.services.settings import load_settings

    tz = load_settings(session).timezone
    assignee = aliased(User)
    query = (
        select(CareTask, Customer.customer_no, Vehicle.vin, assignee.username)
        .join(Customer, Customer.id == CareTask.customer_id)
        .outerjoin(Vehicle, Vehicle.id == CareTask.vehicle_id)
        .outerjoin(assignee, assignee.id == CareTask.assignee_id)
        .order_by(CareTask.due_at, CareTask.id)
    )
    if day is not None:
        query = query.where(CareTask.opens_on <= day, CareTask.due_at >= start_of_day(day, tz))
    if task_type is not None:
        query = query.where(CareTask.type == task_type)
    if status is not None:
        query = query.where(CareTask.status == status)
    rows = [
        {
            "id": task.id,
            "type": task.type,
            "status": task.status,
            "customer_no": customer_no,
            "vin": vin,
            "opens_on": task.opens_on.isoformat(),
            "due_at": to_local(task.due_at, tz).isoformat(),
            "assignee": username,
            "channel": task.channel,
            "fallback": task.fallback,
            "owner_rule": task.owner_rule,
            "cycle_key": task.cycle_key,
        }
        for task, customer_no, vin, username in session.execute(query)
    ]
    audit.record(
        session,
        actor=actor,
        action="export",
        object_type="care_tasks",
        detail={"date": day.isoformat() if day else None, "type": task_type, "status": status, "rows": len(rows)},
        now=now,
    )
    session.flush()
    return rows

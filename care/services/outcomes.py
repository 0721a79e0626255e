"""Recording the outcome of a care task (the task-specific outcomes of care.domain.outcomes).

`record_outcome` checks, in this order: the task is still open (or blocked), the user
may record on it (its assignee, anyone when it is unassigned, or a care manager), the
script version shown belongs to the task's type, the outcome fits the task type
(care.domain.outcomes) and, when the outcome books an appointment (will come / booked),
the booking (care.services.appointments). Nothing is written unless everything passes.
An outcome that closes the task marks it done with the outcome, when and by whom.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from care.domain import N_, access
from care.domain.outcomes import Booking, FieldError, OutcomeInvalid, outcomes_for, validate_outcome
from care.models import (
    OPEN_STATUSES,
    Appointment,
    CareTask,
    Script,
    ScriptVersion,
    TaskOutcome,
    TaskStatus,
    User,
)
from care.services import ServiceError, manual_calls
from care.services import appointments as appointment_svc
from care.services.settings import load_settings

# Who may record on another person's task.
OVERRIDE_ROLES = access.TASK_OVERRIDERS
BOOKING_PREFIX = "appointment_"  # booking errors are reported as appointment_<field>


NOT_REACHED_CODE = "not_reached"


class OutcomeRefused(ServiceError):
    """Recording is not allowed at all: ``status`` 409 (the task is closed) or 403."""

    def __init__(self, template: str, *, status: int, **params: Any):
        self.status = status
        super().__init__(template, **params)


def can_record(user: User, task: CareTask) -> bool:
    """The task's assignee, anyone on an unassigned task, or a care manager
    (care.domain.access, the one place of these rules)."""
    return access.owns_task(user.id, user.roles, task.assignee_id)


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
    if clean.spec.code == NOT_REACHED_CODE and source == "manual":
        # Recorded by hand, "not reached" counts as an attempt like the provider's (R13),
        # never twice for one call (care.services.manual_calls).
        attempt, not_counted = manual_calls.count_not_reached(
            session, task, user=user, now=now, settings=load_settings(session)
        )
        if attempt is not None:
            detail_out["attempt_id"] = attempt.id
        else:
            detail_out["not_counted"] = not_counted
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


# --- booking from a task's booking form (issue 10: the task gets its outcome) ------------


def booking_outcome(task_type: str):
    """The outcome of this task type that books an appointment (will come, will come
    back, the appointment task's booked), or None for a type without one."""
    return next((s for s in outcomes_for(task_type) if s.booking is not Booking.NONE), None)


def book_from_task(
    session: Session,
    task: CareTask,
    request: appointment_svc.BookingRequest,
    *,
    user: User,
    now: datetime,
):
    """Book an appointment from ``task`` (the "Book appointment" form).

    The task gets its booking outcome exactly as when the appointment is booked with the
    outcome on the contact page: both go through ``record_outcome``, which checks the
    booking, closes the task and records the outcome with the appointment's id. A task
    type without a booking outcome (a birthday, a callback …) gets the appointment alone
    and stays open for its own outcome.

    Raises appointment_svc.BookingRefused (403/409) or AppointmentInvalid (field → error,
    the booking form's fields), like ``appointments.book``.
    """
    appointment_svc.check_task_access(task, user)
    spec = booking_outcome(task.type)
    # Every check of the booking first, with the booking form's field names.
    appointment_svc.check_booking(session, request, customer=task.customer, task=task, now=now)
    if spec is None:
        return appointment_svc.book(
            session,
            customer=task.customer,
            vehicle=request.vehicle_id,
            task=task,
            date=request.date,
            time=request.time,
            service_kind=request.service_kind,
            notes=request.notes,
            user=user,
            now=now,
            confirm_same_day=request.confirm_same_day,
            overbook_reason=request.overbook_reason,
            advisor=request.advisor,
        )
    try:
        row = record_outcome(
            session, task, spec.code, detail={}, note=None, script_version_id=None, user=user, now=now, booking=request
        )
    except OutcomeRefused as exc:  # closed (or reassigned) since it was read
        raise appointment_svc.BookingRefused(exc.template, status=exc.status, **exc.params) from None
    except OutcomeInvalid as exc:
        raise appointment_svc.AppointmentInvalid(
            {k.removeprefix(BOOKING_PREFIX) if k.startswith(BOOKING_PREFIX) else "task": v for k, v in exc.errors.items()}
        ) from None
    return session.get(Appointment, row.detail["appointment_id"])

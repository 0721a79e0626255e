"""Proactive appointment tasks (domain.md §5 R16, 主动预约): what the generator needs to
know about appointments, and closing the tasks whose purpose a booking met.

The rule itself is pure (care.domain.task_rules.propose_appointment); the generator
offers it for every candidate vehicle of R1/R2 with ``booked`` from
:func:`booked_vehicles` (one query per run).

A vehicle's appointment task closes when the vehicle gets an appointment, however it
was booked:

- in the app (from this task, from another task of the contact — "will come" on the
  maintenance reminder —, or from the customer): ``appointments.add_checked`` calls
  :func:`close_for_booking` in the same transaction, so the contact's other row closes
  with the booking that settled it;
- anywhere else (the front desk's copy from the DMS, a booking made before the task
  existed): the generator's daily run calls :func:`close_booked`.

Either way the task is closed ``done`` with the outcome ``booked`` and an outcome row
(``source`` ``system``) naming the appointment, so the timeline, the KPIs (R22's
appointment rate counts it as reached and booked: the customer was reached on the call
that booked) and the outcome panel read it like a booking recorded by hand.

"Active" appointment: status ``booked`` or ``confirmed`` (the register's other states —
arrived, no-show, cancelled, rescheduled — are over or replaced) on the day or later.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Integer, func, select, update
from sqlalchemy.orm import Session

from care.domain.task_rules import TaskType
from care.models import OPEN_STATUSES, Appointment, CareTask, TaskOutcome, TaskStatus
from care.services.assignment import in_batches

ACTIVE_APPOINTMENT_STATUSES = ("booked", "confirmed")
BOOKED_OUTCOME = "booked"  # care.domain.outcomes: the appointment task's booking outcome
SYSTEM_SOURCE = "system"


def _active_on(day: date):
    return (Appointment.status.in_(ACTIVE_APPOINTMENT_STATUSES), Appointment.date >= day)


def booked_vehicles(session: Session, day: date) -> set[int]:
    """The vehicles with an active appointment on ``day`` or later (one query)."""
    return set(
        session.scalars(
            select(Appointment.vehicle_id).where(Appointment.vehicle_id.is_not(None), *_active_on(day)).distinct()
        )
    )


def _close(session: Session, by_task: dict[int, int], now: datetime) -> int:
    """Close the open tasks of ``by_task`` (task id → the appointment that met it) as
    booked; returns how many were still open and closed now."""
    closed = 0
    for among in in_batches(session, CareTask.id, sorted(by_task), Integer()):
        ids = list(
            session.scalars(
                update(CareTask)
                .where(among, CareTask.status.in_(OPEN_STATUSES))
                .values(status=TaskStatus.DONE.value, outcome=BOOKED_OUTCOME, closed_at=now, updated_at=now)
                .returning(CareTask.id)
                .execution_options(synchronize_session=False)
            )
        )
        for task_id in ids:
            session.add(
                TaskOutcome(
                    task_id=task_id,
                    outcome=BOOKED_OUTCOME,
                    detail={"appointment_id": by_task[task_id]},
                    closes_task=True,
                    source=SYSTEM_SOURCE,
                    recorded_at=now,
                )
            )
        closed += len(ids)
        _expire_loaded(session, set(ids))
    if closed:
        session.flush()
    return closed


def _expire_loaded(session: Session, ids: set[int]) -> None:
    """Tasks of ``ids`` already loaded in the session are read again on next access."""
    for obj in list(session.identity_map.values()):
        if isinstance(obj, CareTask) and obj.id in ids:
            session.expire(obj)


def _open_appointment_tasks(vehicle_condition):
    return select(CareTask.id, CareTask.vehicle_id).where(
        CareTask.type == TaskType.APPOINTMENT.value,
        CareTask.status.in_(OPEN_STATUSES),
        vehicle_condition,
    )


def close_for_booking(session: Session, appointment: Appointment, *, now: datetime) -> int:
    """A booking was just added: close the vehicle's open appointment tasks (or, for a
    booking without a vehicle, the customer's); the task it was booked from is closed by
    its own outcome already."""
    if appointment.status not in ACTIVE_APPOINTMENT_STATUSES:
        return 0
    if appointment.vehicle_id is not None:
        condition = CareTask.vehicle_id == appointment.vehicle_id
    else:
        condition = CareTask.customer_id == appointment.customer_id
    rows = session.execute(_open_appointment_tasks(condition)).all()
    return _close(session, {task_id: appointment.id for task_id, _ in rows}, now)


def close_booked(session: Session, day: date, *, now: datetime) -> int:
    """The generator's daily pass: close every open appointment task whose vehicle has an
    active appointment on ``day`` or later (booked outside the app, or before). Two
    queries and the closing, whatever the number of tasks."""
    first = (
        select(Appointment.vehicle_id, func.min(Appointment.id).label("appointment_id"))
        .where(Appointment.vehicle_id.is_not(None), *_active_on(day))
        .group_by(Appointment.vehicle_id)
        .subquery()
    )
    rows = session.execute(
        select(CareTask.id, first.c.appointment_id)
        .join(first, first.c.vehicle_id == CareTask.vehicle_id)
        .where(CareTask.type == TaskType.APPOINTMENT.value, CareTask.status.in_(OPEN_STATUSES))
    ).all()
    return _close(session, dict(rows), now)

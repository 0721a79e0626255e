"""Care tasks as the contact page reads them: a task, the customer's open tasks, the
contact timeline, and the listing of `care tasks`. Recording an outcome is
care/services/outcomes.py.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, joinedload, selectinload

from care.models import (
    OPEN_STATUSES,
    Appointment,
    CareTask,
    PhoneCorrection,
    TaskOutcome,
    User,
)
from care.services import Actor

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
    campaign: Any = None  # the campaign a message belongs to (kind "message")


_KIND_ORDER = {
    "message": -2, "call": -1, "phone_correction": 0, "appointment": 1, "outcome": 2, "complaint": 3, "complaint_step": 4,
}  # fmt: skip


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
        .options(joinedload(CallAttempt.task), joinedload(CallAttempt.user), selectinload(CallAttempt.tasks))
    ):
        entries.append(TimelineEntry("call", row.started_at, row))
    from care.models.complaint import Complaint, ComplaintStep

    for row in session.scalars(select(Complaint).where(Complaint.customer_id == customer_id)):
        entries.append(TimelineEntry("complaint", row.opened_at, row))
    for row in session.scalars(
        select(ComplaintStep)
        .join(Complaint, Complaint.id == ComplaintStep.complaint_id)
        .where(Complaint.customer_id == customer_id)
        .options(joinedload(ComplaintStep.user))
    ):
        entries.append(TimelineEntry("complaint_step", row.taken_at, row))
    entries.extend(_messages(session, customer_id))
    # Same instant (an outcome that booked): the outcome first, then what it caused.
    entries.sort(key=lambda e: (e.at, _KIND_ORDER[e.kind], e.item.id), reverse=True)
    entries = entries[:limit] if limit is not None else entries
    return _with_call_events(session, entries)


def _messages(session: Session, customer_id: int) -> list[TimelineEntry]:
    """The customer's text messages and e-mails (fallbacks, campaigns), each with its
    campaign when it has one: at the time sent, else queued."""
    from care.models.call import OutboxMessage
    from care.services.campaigns import campaign_of_messages

    rows = list(session.scalars(select(OutboxMessage).where(OutboxMessage.customer_id == customer_id)))
    campaigns = campaign_of_messages(session, [m.id for m in rows])
    return [TimelineEntry("message", m.sent_at or m.created_at, m, campaign=campaigns.get(m.id)) for m in rows]


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
    actor: Actor,
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

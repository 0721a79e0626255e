"""The number-correction queue (domain.md §3 R12).

A task that needs the phone but finds no usable number is created *blocked*; the
customer then waits in this queue. Correcting the number (mobile or other phone) stores
a PhoneCorrection (who, when, old and new), updates the customer, releases the
customer's blocked tasks to open and writes an audit row (without the numbers: those
stay in the correction record, not in the audit trail).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session, joinedload

from care.domain import N_, access
from care.models import CareTask, Customer, PhoneCorrection, TaskStatus, User
from care.phones import PhoneError, normalize_phone
from care.services import Actor, ServiceError, audit

FIELDS = ("mobile", "phone2")
BLOCKED = TaskStatus.BLOCKED.value

# Why a customer is in the queue.
NO_NUMBER = "no_number"  # neither a mobile nor another phone
INVALID = "invalid"  # a stored number that is not a valid number
REPORTED = "reported"  # the numbers look valid, but a task was blocked on them


class NumberInvalid(ServiceError):
    pass


class CorrectionRefused(ServiceError):
    """The user may not correct this customer's numbers (care.domain.access): answered 403."""

    status = 403


def blocked_assignees(session: Session, customer_id: int) -> list[int | None]:
    """The assignees of the customer's blocked tasks (empty: not in the queue)."""
    return list(
        session.scalars(
            select(CareTask.assignee_id).where(CareTask.customer_id == customer_id, CareTask.status == BLOCKED)
        )
    )


def may_correct(session: Session, customer: Customer, user: User) -> bool:
    return access.may_correct_number(user.id, user.roles, blocked_assignees(session, customer.id))


@dataclass
class QueueEntry:
    customer: Customer
    tasks: list[CareTask]
    why: str
    may_correct: bool = True  # the user may correct this customer's number (the form shows)


def problem_of(customer: Customer) -> str:
    numbers = [n for n in (customer.mobile, customer.phone2) if n]
    if not numbers:
        return NO_NUMBER
    for number in numbers:
        try:
            normalize_phone(number)
        except PhoneError:
            return INVALID
    return REPORTED


def queue_statement() -> Select:
    """Customers with blocked tasks, the one waiting longest (earliest deadline) first."""
    waiting = (
        select(CareTask.customer_id, func.min(CareTask.due_at).label("first_due"))
        .where(CareTask.status == BLOCKED)
        .group_by(CareTask.customer_id)
        .subquery()
    )
    return (
        select(Customer)
        .join(waiting, waiting.c.customer_id == Customer.id)
        .order_by(waiting.c.first_due, Customer.id)
    )


def queue_entries(session: Session, customers: list[Customer], user: User | None = None) -> list[QueueEntry]:
    """The queue rows for a page of customers: their blocked tasks and why they wait
    (and, given ``user``, whether they may correct each one)."""
    ids = [c.id for c in customers]
    tasks: dict[int, list[CareTask]] = {i: [] for i in ids}
    if ids:
        for task in session.scalars(
            select(CareTask)
            .where(CareTask.customer_id.in_(ids), CareTask.status == BLOCKED)
            .options(joinedload(CareTask.assignee))
            .order_by(CareTask.due_at, CareTask.id)
        ):
            tasks[task.customer_id].append(task)
    return [
        QueueEntry(
            c,
            tasks[c.id],
            problem_of(c),
            user is None or access.may_correct_number(user.id, user.roles, [t.assignee_id for t in tasks[c.id]]),
        )
        for c in customers
    ]


def queue_size(session: Session) -> int:
    return session.scalar(
        select(func.count(func.distinct(CareTask.customer_id))).where(CareTask.status == BLOCKED)
    ) or 0


def correct_number(
    session: Session,
    customer: Customer,
    field: str,
    new_value: str | None,
    *,
    user: User,
    now: datetime,
    ip: str | None = None,
) -> PhoneCorrection:
    """Store the corrected number and release the customer's blocked tasks to open.

    Raises CorrectionRefused when ``user`` may not correct this customer's numbers (a
    care manager may; a caller only for a customer in the queue whose blocked task is
    theirs or unassigned), NumberInvalid (field ``field`` or ``number``) for an unknown
    field, an empty or an invalid number; nothing is changed then.
    """
    if not may_correct(session, customer, user):
        raise CorrectionRefused(
            N_("Only a care manager, or the caller whose task waits for this number, can correct it.")
        )
    if field not in FIELDS:
        raise NumberInvalid(N_("Choose which number to correct."), field="field")
    try:
        number = normalize_phone(new_value)
    except PhoneError:
        raise NumberInvalid(
            N_("This is not a valid phone number; check the digits (e.g. 138 0013 8000)."),
            field="number",
        ) from None
    if number is None:
        raise NumberInvalid(N_("Enter the new number."), field="number")

    old = getattr(customer, field)
    setattr(customer, field, number)
    blocked = list(
        session.scalars(
            select(CareTask).where(CareTask.customer_id == customer.id, CareTask.status == BLOCKED)
        )
    )
    for task in blocked:
        task.status = TaskStatus.OPEN.value
    correction = PhoneCorrection(
        customer_id=customer.id,
        field=field,
        old_value=old,
        new_value=number,
        corrected_by_id=user.id,
        corrected_at=now,
        released_tasks=len(blocked),
    )
    session.add(correction)
    session.flush()
    audit.record(
        session,
        actor=Actor.of(user, ip),
        action="customer.phone_corrected",
        object_type="customer",
        object_id=customer.id,
        detail={"field": field, "correction_id": correction.id, "released_tasks": len(blocked)},
        now=now,
    )
    session.flush()
    return correction

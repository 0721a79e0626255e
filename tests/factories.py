"""Plain factory functions with sensible defaults (CTFd's `gen_*` style)."""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime, timedelta

from care.domain.vin import with_check_digit
from care.models import (
    CareTask,
    Customer,
    Delivery,
    InsurancePolicy,
    ServiceVisit,
    User,
    Vehicle,
)

PASSWORD = "correct-horse-9"
_seq = itertools.count(1)

__all__ = ["User", "make_user", "make_customer", "make_vehicle", "make_visit", "make_policy", "make_delivery", "make_task", "vin_for"]


def vin_for(n: int, wmi: str = "LSV") -> str:
    """A valid VIN (right check digit) unique for n."""
    return with_check_digit(f"{wmi}AB2180{n:08d}"[:17].ljust(17, "0"))


def make_user(session, *roles: str, username: str | None = None, password: str = PASSWORD, **kw) -> User:
    n = next(_seq)
    user = User(
        username=username or f"user{n}",
        display_name=kw.pop("display_name", None) or f"User {n}",
        extension=kw.pop("extension", f"80{n:02d}"),
        **kw,
    )
    user.set_password(password)
    user.set_roles(roles or ("specialist",))
    session.add(user)
    session.flush()
    return user


def make_customer(session, **kw) -> Customer:
    n = next(_seq)
    values = {
        "customer_no": f"C{n:06d}",
        "name": f"客户{n}",
        "mobile": f"+86138{n:08d}",
        "city": "成都",
    }
    values.update(kw)
    customer = Customer(**values)
    session.add(customer)
    session.flush()
    return customer


def make_vehicle(session, customer: Customer | None = None, **kw) -> Vehicle:
    n = next(_seq)
    customer = customer or make_customer(session)
    values = {
        "vin": vin_for(n),
        "customer_id": customer.id,
        "plate": f"川A{n:05d}",
        "model": "Sagitar 1.4T",
        "delivery_date": date(2026, 1, 15),
    }
    values.update(kw)
    vehicle = Vehicle(**values)
    session.add(vehicle)
    session.flush()
    return vehicle


def make_visit(session, vehicle: Vehicle, **kw) -> ServiceVisit:
    n = next(_seq)
    values = {"ro_no": f"RO{n:07d}", "vehicle_id": vehicle.id, "date": date(2026, 3, 1), "mileage": 5000, "kind": "maintenance"}
    values.update(kw)
    visit = ServiceVisit(**values)
    session.add(visit)
    session.flush()
    return visit


def make_policy(session, vehicle: Vehicle, **kw) -> InsurancePolicy:
    n = next(_seq)
    values = {"policy_no": f"P{n:08d}", "vehicle_id": vehicle.id, "insurer": "PICC", "expiry": date(2027, 1, 15)}
    values.update(kw)
    policy = InsurancePolicy(**values)
    session.add(policy)
    session.flush()
    return policy


def make_delivery(session, vehicle: Vehicle, **kw) -> Delivery:
    values = {
        "vehicle_id": vehicle.id,
        "customer_id": vehicle.customer_id,
        "delivered_at": datetime(2026, 1, 15, 6, 0, tzinfo=UTC),
    }
    values.update(kw)
    delivery = Delivery(**values)
    session.add(delivery)
    session.flush()
    return delivery


def make_task(session, customer: Customer | None = None, **kw) -> CareTask:
    """A care task (default: an open first-service reminder due in 10 days, unassigned).

    ``due_at`` defaults to ``now`` + 10 days (``now`` defaults to the real time); pass
    ``assignee=user`` or ``assignee_id``; ``opens_on`` defaults to the due day − 30 days.
    """
    n = next(_seq)
    customer = customer or make_customer(session)
    now = kw.pop("now", None) or datetime.now(UTC)
    assignee = kw.pop("assignee", None)
    due_at = kw.pop("due_at", None) or now + timedelta(days=10)
    values = {
        "type": "first_service",
        "status": "open",
        "cycle_key": f"test:{n}",
        "customer_id": customer.id,
        "opens_on": (due_at - timedelta(days=30)).date(),
        "due_at": due_at,
        "owner_rule": "round_robin",
        "assignee_id": assignee.id if assignee is not None else None,
        "channel": "call",
        "reason_id": "first_service.reason",
        "reason_params": {"delivered": "2026-09-15", "due": "2026-12-15"},
    }
    values.update(kw)
    task = CareTask(**values)
    session.add(task)
    session.flush()
    return task


def make_attempt(session, task: CareTask | None = None, **kw):
    """A call attempt of ``task`` (default: a new task), just requested, provider ``sim``."""
    from care.models import CallAttempt

    task = task or make_task(session)
    values = {
        "task_id": task.id,
        "customer_id": task.customer_id,
        "provider": "sim",
        "to_number": "+8613800000000",
    }
    values.update(kw)
    attempt = CallAttempt(**values)
    session.add(attempt)
    session.flush()
    return attempt


def make_complaint(session, customer: Customer | None = None, **kw):
    """A complaint waiting at ``step`` (default 2: its form filled), opened ``opened_at``
    (default now), its deadlines from the default settings (24 h; step 5: 12 h after
    ``dispatched_at``)."""
    from care.domain import complaints as rules
    from care.models import Complaint

    customer = customer or make_customer(session)
    opened_at = kw.pop("opened_at", None) or datetime.now(UTC)
    step = kw.pop("step", 2)
    dispatched_at = kw.pop("dispatched_at", None)
    values = {
        "customer_id": customer.id, "source": "manual", "description": "车辆交付时有划痕", "kind": "sales",
        "step": step, "opened_at": opened_at, "step_started_at": opened_at, "dispatched_at": dispatched_at,
        "due_at": rules.loop_due(opened_at, 24),
        "step_due_at": rules.step_due(step, opened_at, dispatched_at, close_hours=24, return_hours=12),
        "reopened": 0,
    }  # fmt: skip
    values.update(kw)
    complaint = Complaint(**values)
    session.add(complaint)
    session.flush()
    return complaint
def make_violation(session, person: User | None = None, *, task: CareTask | None = None, **kw):
    """An open R23 violation of ``person`` (None: the department) in 2026-10, an R15 finding
    on ``task`` (default: a new task) at 20 yuan."""
    from care.models import Violation

    task = task or make_task(session)
    at = datetime(2026, 11, 1, 1, 0, tzinfo=UTC)
    values = {
        "month": "2026-10", "rule": "r15_not_followed_up", "subject": f"task:{task.id}",
        "person_id": person.id if person is not None else None, "count": 1, "amount_min": 20, "amount_max": 20,
        "per_item": True, "amount": 20, "status": "open", "evidence": [["task", task.id]], "detail": None,
        "detected_at": at, "derived_at": at,
    }  # fmt: skip
    values.update(kw)
    violation = Violation(**values)
    session.add(violation)
    session.flush()
    return violation

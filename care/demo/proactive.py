"""Proactive appointments in the demo (R16): of the past months' invitations the
specialists settled, about half booked an appointment (the demo history closes a task
with an outcome that needs no booking, so they all said "declined"), each with its
appointment a few days later — so `make run` shows invitations that booked, the
appointment rate counting them, and appointments to come."""

from __future__ import annotations

from datetime import time, timedelta
from decimal import Decimal

from sqlalchemy import select

from care.demo.context import DemoContext
from care.models import Appointment, CareTask, ServiceVisit, TaskOutcome
from care.services.proactive import BOOKED_OUTCOME
from care.services.register import mark_arrivals

BOOKED_SHARE = 0.55


ARRIVED_SHARE = 0.85  # of past bookings, the cars that came in (the rest: no-shows)


def _mileage_on(ctx: DemoContext, session, vehicle_id: int, day) -> int | None:
    """The odometer on ``day`` as the demo's vehicle plan has it (as every demo visit); None
    when the car came in that day already (that visit is the arrival) or has no plan."""
    if session.scalar(select(ServiceVisit.id).where(ServiceVisit.vehicle_id == vehicle_id, ServiceVisit.date == day)):
        return None
    plan = next((v for v in ctx.vehicles if v.id == vehicle_id), None)
    return plan.odometer(day) if plan is not None and plan.delivery < day else None


def add_proactive_bookings(ctx: DemoContext) -> None:
    session, rng = ctx.session, ctx.rng("proactive_bookings")
    rows = session.execute(
        select(TaskOutcome, CareTask)
        .join(CareTask, CareTask.id == TaskOutcome.task_id)
        .where(CareTask.type == "appointment", CareTask.outcome == "declined", TaskOutcome.outcome == "declined")
        .order_by(TaskOutcome.id)
    ).all()
    taken: set[tuple] = {
        tuple(row) for row in session.execute(select(Appointment.vehicle_id, Appointment.date, Appointment.time))
    }
    booked = 0
    for outcome, task in rows:
        if rng.random() >= BOOKED_SHARE:
            continue
        day = outcome.recorded_at.astimezone(ctx.tz).date() + timedelta(days=rng.randint(1, 6))
        at = time(rng.randint(9, 16), rng.choice((0, 30)))
        if (task.vehicle_id, day, at) in taken:
            continue
        taken.add((task.vehicle_id, day, at))
        kind = (task.reason_params or {}).get("kind") or "maintenance"
        appointment = Appointment(
            customer_id=task.customer_id, vehicle_id=task.vehicle_id, task_id=task.id, date=day, time=at,
            service_kind=kind, status="booked", created_by_id=outcome.recorded_by_id, created_at=outcome.recorded_at,
        )  # fmt: skip
        session.add(appointment)
        session.flush()
        outcome.outcome, outcome.detail = BOOKED_OUTCOME, {"appointment_id": appointment.id}
        task.outcome = BOOKED_OUTCOME
        booked += 1
        mileage = _mileage_on(ctx, session, task.vehicle_id, day) if day < ctx.today else None
        if mileage is not None and rng.random() < ARRIVED_SHARE:  # most booked cars came in that day
            session.add(ServiceVisit(
                ro_no=f"RO{day:%Y%m%d}A{booked:04d}", vehicle_id=task.vehicle_id, date=day, kind=kind,
                mileage=mileage, amount=Decimal(rng.randint(400, 1500)),
            ))  # fmt: skip
            session.flush()
    session.flush()
    # the visits import marks them arrived (R17); the rest become no-shows in the sweep
    ctx.counts["proactive_arrivals"] = mark_arrivals(session, now=ctx.now, actor="demo")
    ctx.counts["proactive_bookings"] = booked

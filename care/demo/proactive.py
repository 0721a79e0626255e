"""Proactive appointments in the demo (R16): of the past months' invitations the
specialists settled, about half booked an appointment (the demo history closes a task
with an outcome that needs no booking, so they all said "declined"), each with its
appointment a few days later — so `make run` shows invitations that booked, the
appointment rate counting them, and appointments to come."""

from __future__ import annotations

from datetime import time, timedelta

from sqlalchemy import select

from care.demo.context import DemoContext
from care.models import Appointment, CareTask, TaskOutcome
from care.services.proactive import BOOKED_OUTCOME

BOOKED_SHARE = 0.55


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
    session.flush()
    ctx.counts["proactive_bookings"] = booked

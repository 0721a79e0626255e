"""The calls behind the demo's recorded outcomes, placed in the slots each customer's
habit favours (issue 13 item 6, best time to call): the simulator's habits
(care.telephony.sim.slot_habit, the same seed), so `make run` shows contact cards that
say "usually answers in the evening (4 of 5)" and a worklist ordered by the chance of an
answer now, and a new call through the simulator behaves as the history says.

For each outcome of the past months recorded on a phone task (insurance renewals have
their calls already, care/demo/supervision.py; birthdays are one morning call), one call:
a reached outcome in a slot drawn in proportion to the customer's chance of answering
there, a "not reached" in proportion to their chance of not answering (Bayes: the slot
given the answer). The outcome is moved to a couple of minutes after its call (the task's
closing with it), unless that would pass the task's deadline or now: then the outcome
keeps its time and gets no call.
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta

from sqlalchemy import select

from care.demo.context import DemoContext
from care.domain.callstate import TERMINAL_RANK
from care.domain.settings import TimeSlot
from care.models import CallAttempt, CareTask, Customer, TaskOutcome
from care.services.settings import load_settings
from care.telephony.sim import slot_habit

SKIP_TYPES = ("insurance_renewal", "birthday")
_MISSED = ("no_answer", "no_answer", "no_answer", "busy")


def _slot_for(customer_id: int, reached: bool, slots: tuple[TimeSlot, ...], seed, rng: random.Random) -> TimeSlot:
    weights = [slot_habit(customer_id, s.name, seed) for s in slots]
    if not reached:
        weights = [1 - w for w in weights]
    return rng.choices(slots, weights=weights)[0]


def _start_in(ctx: DemoContext, slot: TimeSlot, day, rng: random.Random) -> datetime:
    start = ctx.local_utc(day, slot.start.hour, slot.start.minute)
    end = ctx.local_utc(day, slot.end.hour, slot.end.minute)
    span = max(1, int((end - start).total_seconds() // 60) - 15)
    return start + timedelta(minutes=rng.randrange(span))


def add_call_habits(ctx: DemoContext) -> None:
    session, rng = ctx.session, ctx.rng("call_habits")
    settings = load_settings(session)
    slots = tuple(settings.call_slots)
    rows = session.execute(
        select(TaskOutcome, CareTask, Customer.mobile, Customer.phone2)
        .join(CareTask, CareTask.id == TaskOutcome.task_id)
        .join(Customer, Customer.id == CareTask.customer_id)
        .where(
            CareTask.channel == "call",
            CareTask.type.not_in(SKIP_TYPES),
            TaskOutcome.recorded_by_id.is_not(None),
            TaskOutcome.source == "manual",
        )
        .order_by(TaskOutcome.id)
    ).all()
    calls = 0
    for outcome, task, mobile, phone2 in rows:
        number = mobile or phone2
        if number is None:
            continue
        reached = outcome.outcome != "not_reached"
        slot = _slot_for(task.customer_id, reached, slots, ctx.seed, rng)
        day = outcome.recorded_at.astimezone(ctx.tz).date()
        started = _start_in(ctx, slot, day, rng)
        duration = rng.randint(60, 400) if reached else None
        ended = started + timedelta(seconds=(duration or rng.randint(20, 40)) + rng.randint(8, 20))
        recorded = ended + timedelta(minutes=rng.randint(1, 3))
        if recorded >= ctx.now or recorded > task.due_at:
            continue
        status = "completed" if reached else rng.choice(_MISSED)
        session.add(CallAttempt(
            task_id=task.id, customer_id=task.customer_id, user_id=outcome.recorded_by_id, provider="sim",
            provider_call_id=f"demo-habit-{outcome.id}", to_number=number, status=status, outcome=status,
            ended_as=status, rank=TERMINAL_RANK, answered=reached, counted=True, slot=slot.name,
            slot_date=day, started_at=started, answered_at=started + timedelta(seconds=9) if reached else None,
            ended_at=ended, duration_s=duration, finalized_at=ended,  # its final hook ran
        ))  # fmt: skip
        if task.closed_at is not None and task.closed_at == outcome.recorded_at:
            task.closed_at = recorded
        outcome.recorded_at = recorded
        calls += 1
    session.flush()
    ctx.counts["habit_calls"] = calls

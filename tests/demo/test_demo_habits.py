"""The demo's call history follows the simulator's slot habits (issue 13 item 6), and its
today's list has proactive appointment tasks (R16)."""

from __future__ import annotations

from sqlalchemy import func, select

from care.demo import load_demo
from care.models import Appointment, CareTask
from care.services import Actor, besttime
from care.telephony.sim import habit_of
from tests.demo.test_demo_sample import NOW, TODAY, fast_hashing  # noqa: F401 - the autouse fixture


def test_the_demo_calls_show_each_customers_habit(session):
    result = load_demo(session, customers=150, seed=42, today=TODAY, actor=Actor("test"), now=NOW)
    session.commit()
    assert result.counts["habit_calls"] > 100
    ids = [cid for (cid,) in session.execute(select(CareTask.customer_id).distinct())]
    estimates = besttime.for_customers(session, ids, now=NOW)
    habits = {cid: bt.habit.slot for cid, bt in estimates.items() if bt.habit is not None}
    assert len(habits) >= 10  # enough customers with a habit the card can name
    agree = sum(slot == habit_of(cid, 42) for cid, slot in habits.items())
    assert agree / len(habits) >= 0.8, (agree, len(habits))
    appointments = session.scalar(select(func.count()).where(CareTask.type == "appointment"))
    assert appointments > 0  # R16's invitations among the past months' and today's tasks
    booked = session.scalars(select(CareTask).where(CareTask.type == "appointment", CareTask.outcome == "booked")).all()
    assert len(booked) == result.counts["proactive_bookings"] > 0
    for task in booked:  # each with its appointment, as a booking from the task leaves it
        [row] = [o for o in task.outcomes if o.closes_task]
        assert session.get(Appointment, row.detail["appointment_id"]).task_id == task.id

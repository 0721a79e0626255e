"""The scheduler derives the R23 violations once a day: the running month, and on the 1st
the month just ended too (care/scheduler.py, care.services.violations.months_to_derive)."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import select

from care import scheduler
from care.extensions import db
from care.models import AuditLog, Violation
from tests import factories


def _clock(local_day: date, hour: int):
    moment = datetime.combine(local_day, time(hour)) - timedelta(hours=8)  # Asia/Shanghai
    return lambda: moment.replace(tzinfo=UTC)


def _derived(app) -> list[str]:
    with app.app_context():
        rows = db.session.scalars(select(AuditLog).where(AuditLog.action == "violations.derive").order_by(AuditLog.id))
        return [(r.object_id, r.actor) for r in rows]


def test_derives_last_month_on_the_first_and_the_running_month_daily(app):
    with app.app_context():
        a = factories.make_user(db.session, "specialist")
        due = datetime(2026, 10, 8, 3, tzinfo=UTC)
        factories.make_task(db.session, type="birthday", assignee=a, due_at=due, status="expired",
                            outcome="expired", closed_at=due)  # fmt: skip
        db.session.commit()
    first = scheduler.Scheduler(app, clock=_clock(date(2026, 11, 1), 7))
    first.tick()
    assert _derived(app) == [("2026-10", "scheduler"), ("2026-11", "scheduler")]
    with app.app_context():
        found = [(v.month, v.rule) for v in db.session.scalars(select(Violation).order_by(Violation.rule))]
        # the late greeting, and October's greeting campaigns short of three (R11: none sent)
        assert found == [("2026-10", "care_not_done"), ("2026-10", "greetings_short")]
    first.tick()  # the same day: nothing again
    assert len(_derived(app)) == 2
    first.clock = _clock(date(2026, 11, 2), 7)
    first.tick()
    assert _derived(app)[2:] == [("2026-11", "scheduler")]

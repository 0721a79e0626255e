"""The scheduler thread (care/scheduler.py): when it generates, and when it does not start.

Its clock is injected (``Scheduler(clock=…)``) and a tick is called directly: nothing
here waits for real time to pass.
"""

from __future__ import annotations

import types
from datetime import UTC, date, datetime, time, timedelta

import click
from sqlalchemy import select

from care import scheduler
from care.domain.dates import to_local
from care.extensions import db
from care.models import GenerationRun
from care.services import Actor
from care.services.generator import generate

D = date(2026, 3, 20)  # a Friday; the dealer is in Asia/Shanghai (UTC+8)
NOW = datetime(2026, 3, 20, 0, 30, tzinfo=UTC)  # 08:30 local
TZ = "Asia/Shanghai"


def local(dt: datetime) -> datetime:
    return to_local(dt, TZ).replace(tzinfo=None)


def _clock(local_day: date, hour: int, minute: int = 0):
    moment = datetime.combine(local_day, time(hour, minute)) - timedelta(hours=8)
    return lambda: moment.replace(tzinfo=UTC)


def _run_days(app):
    with app.app_context():
        return db.session.scalars(select(GenerationRun.for_date).order_by(GenerationRun.id)).all()


def test_scheduler_waits_for_the_first_work_day_start(app):
    sleep = scheduler.Scheduler(app, clock=_clock(D, 7, 0)).tick()
    assert _run_days(app) == [] and sleep == scheduler.WAKE_SECONDS
    short = scheduler.Scheduler(app, clock=_clock(D, 8, 28)).tick()
    assert 1 <= short <= 120  # wakes at 08:30
    scheduler.Scheduler(app, clock=_clock(D, 8, 30)).tick()
    assert _run_days(app) == [D]
    scheduler.Scheduler(app, clock=_clock(D, 15, 0)).tick()
    assert _run_days(app) == [D]  # nothing twice


def test_scheduler_catches_up_at_start_up(app):
    with app.app_context():
        generate(db.session, D - timedelta(days=3), actor=Actor.CLI, now=NOW)
        db.session.commit()
    scheduler.Scheduler(app, clock=_clock(D, 7, 0)).tick()  # before the work day: up to yesterday
    assert _run_days(app) == [D - timedelta(days=n) for n in (3, 2, 1)]
    with app.app_context():
        assert {r.actor for r in db.session.scalars(select(GenerationRun))} == {"cli", "scheduler"}


def test_scheduler_is_not_started_in_tests_or_commands():
    serving = types.SimpleNamespace(config={"CARE_SCHEDULER": True}, testing=False)
    assert scheduler.should_start(serving)  # a WSGI server: no click context
    assert not scheduler.should_start(types.SimpleNamespace(config={"CARE_SCHEDULER": False}, testing=False))
    assert not scheduler.should_start(types.SimpleNamespace(config={"CARE_SCHEDULER": True}, testing=True))
    with click.Context(click.Command("generate")):
        assert not scheduler.should_start(serving)
    with click.Context(click.Command("run"), obj=None) as ctx:
        ctx.params = {"reload": False}
        assert scheduler.should_start(serving)


def test_scheduler_start_is_a_no_op_when_testing(app):
    app.config["CARE_SCHEDULER"] = True
    assert scheduler.start(app) is None


def test_due_day_and_next_start():
    from care.scheduler import due_day_and_next_start

    before = datetime(2026, 3, 20, 0, 0, tzinfo=UTC)  # 08:00 local
    assert due_day_and_next_start(before, TZ, time(8, 30)) == (
        date(2026, 3, 19), datetime(2026, 3, 20, 8, 30, tzinfo=to_local(before, TZ).tzinfo)
    )
    after = datetime(2026, 3, 20, 1, 0, tzinfo=UTC)  # 09:00 local
    day, start = due_day_and_next_start(after, TZ, time(8, 30))
    assert day == D and local(start) == datetime(2026, 3, 21, 8, 30)


def test_the_thread_outlives_a_failed_tick_and_stops_when_told(app, monkeypatch, caplog):
    import threading

    ticked = threading.Event()

    def failing_tick():
        ticked.set()
        raise RuntimeError("+8613800138000")  # a message must not reach the log

    runner = scheduler.Scheduler(app)
    monkeypatch.setattr(runner, "tick", failing_tick)
    runner.start()
    assert ticked.wait(10)
    runner.stop(timeout=10)  # wakes it from the retry wait at once
    assert not runner.thread.is_alive()
    assert "RuntimeError" in caplog.text and "13800138000" not in caplog.text

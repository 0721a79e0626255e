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


# --- the deadline sweep (issue 10 item 4) -----------------------------------------------------


class Clock:
    """A clock the test moves by hand (local Shanghai wall-clock times)."""

    def __init__(self, local_day: date, hour: int, minute: int = 0):
        self.now = _clock(local_day, hour, minute)()

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta) -> None:
        self.now += timedelta(**delta)


def _birthday(app, on: date = D) -> int:
    from tests import factories

    with app.app_context():
        task = factories.make_task(
            db.session, type="birthday", fallback="sms", opens_on=on, reason_id="birthday.reason",
            reason_params={"birthday": on.isoformat()}, due_at=_clock(on, 10, 30)(),
        )  # fmt: skip
        db.session.commit()
        return task.id


def _state(app, task_id: int) -> tuple[str, str | None]:
    from care.models import CareTask, OutboxMessage

    with app.app_context():
        task = db.session.get(CareTask, task_id)
        message = db.session.scalar(select(OutboxMessage).where(OutboxMessage.task_id == task_id))
        return task.status, message.status if message else None


def test_scheduler_sweeps_at_start_up_then_every_interval(app):
    """A server started at 11:00 sends this morning's birthday SMS at once (catch-up), and
    then sweeps every `sweep_interval_minutes` (5), not in between."""
    first = _birthday(app)
    clock = Clock(D, 11, 0)
    runner = scheduler.Scheduler(app, clock=clock)
    assert runner.tick() <= 5 * 60
    assert _state(app, first) == ("expired", "queued")
    assert runner.next_sweep_at == clock.now + timedelta(minutes=5)

    second = _birthday(app)
    clock.advance(minutes=2)
    assert 170 <= runner.tick() <= 180  # the next sweep is 3 minutes away
    assert _state(app, second) == ("open", None)
    clock.advance(minutes=3)
    runner.tick()
    assert _state(app, second) == ("expired", "queued")


def test_the_sweep_interval_is_a_setting(app):
    from care.models import Setting

    with app.app_context():
        db.session.add(Setting(key="sweep_interval_minutes", value="1"))
        db.session.commit()
    clock = Clock(D, 11, 0)
    runner = scheduler.Scheduler(app, clock=clock)
    assert runner.tick() <= 60 and runner.next_sweep_at == clock.now + timedelta(minutes=1)


def test_a_failing_sweep_is_logged_and_retried_and_the_generation_goes_on(app, monkeypatch, caplog):
    from care.services import sweep as sweep_service

    def broken(session, now, timeout_minutes=None):
        raise RuntimeError("+8613800138000")

    monkeypatch.setattr(sweep_service, "sweep", broken)
    clock = Clock(D, 9, 0)
    runner = scheduler.Scheduler(app, clock=clock)
    assert runner.tick() == scheduler.RETRY_SECONDS
    assert _run_days(app) == [D]  # generated all the same
    assert "scheduled sweep failed: RuntimeError" in caplog.text and "13800138000" not in caplog.text
    assert runner.next_sweep_at == clock.now + timedelta(seconds=scheduler.RETRY_SECONDS)


def test_a_failing_generation_still_lets_the_sweep_run(app, monkeypatch):
    import pytest

    from care.services import generator

    def broken(*args, **kwargs):
        raise RuntimeError("generation down")

    monkeypatch.setattr(generator, "generate_due", broken)
    task = _birthday(app)
    with pytest.raises(RuntimeError):
        scheduler.Scheduler(app, clock=Clock(D, 11, 0)).tick()
    assert _state(app, task) == ("expired", "queued")


def test_a_process_skips_its_sweep_while_another_one_sweeps(app):
    """PostgreSQL: the sweep's advisory lock is held by another process; this one skips
    its round (the other one's counts for it). SQLite serializes writers by itself."""
    import pytest

    from care.services.sweep import lock_sweep

    with app.app_context():
        if db.engine.dialect.name != "postgresql":
            pytest.skip("an advisory lock: PostgreSQL")
    task = _birthday(app)
    from sqlalchemy.orm import Session

    with app.app_context():
        other = Session(db.engine)  # another process's sweep, holding the lock
        assert lock_sweep(other, wait=False)
    try:
        clock = Clock(D, 11, 0)
        runner = scheduler.Scheduler(app, clock=clock)
        runner.tick()
        assert _state(app, task) == ("open", None)
    finally:
        other.rollback()
        other.close()
    clock.advance(minutes=5)
    runner.tick()
    assert _state(app, task) == ("expired", "queued")

"""The automatic daily generation and the deadline sweep, without a separate process.

When the app is served (``flask run``, gunicorn …) with ``CARE_SCHEDULER`` true, a daemon
thread runs :func:`care.services.generator.generate_due`:

- at start-up, for every day the generator missed (the last day due is today once the
  work day has started, else yesterday: a server started at 07:00 leaves today to the
  08:30 run, so that the night's DMS imports are in);
- then at each work-day start (the ``workday_start`` setting, in the dealer's time zone).

and, after it, the sweep of ``care sweep`` (:func:`care.services.sweep.sweep`: stuck
attempts closed, tasks whose calling is over closed as failed or expired with their
fallback messages, a birthday greeting's SMS at its deadline the same morning):

- at start-up, which catches up every run missed while the server was down (the sweep
  looks at everything due, however old: a birthday of yesterday is closed with its SMS
  skipped as too late, one of this morning gets its SMS now);
- then every ``sweep_interval_minutes`` (a setting, default 5).

A sweep that fails is logged (its exception type only) and tried again after
:data:`RETRY_SECONDS`; it does not hold up the generation, nor the other way round.

It sleeps until the next work-day start or sweep but wakes at least every
:data:`WAKE_SECONDS` to re-read the settings (a changed start time or time zone takes
effect within minutes) and to notice a day that went by while the machine slept.

Several processes (gunicorn workers) may each run this thread; that is harmless: a
process first checks without a lock whether the day is generated, and ``generate_due``
then takes a database lock (care.services.generator.lock_generation), re-reads the last
generated day and generates only what is still missing, so each day gets one
GenerationRun; the unique cycle key stops duplicate tasks in any case. The sweep is
likewise safe in several processes (care.services.sweep.lock_sweep: on PostgreSQL a
process skips its round while another sweeps; every change is claimed, so a task is
closed and its message queued once, under its outbox key).

Not started in tests (``TESTING``), in CLI commands other than ``flask run``, nor in the
reloader's watcher process. For production without the thread, the cron line is
``25 8 * * * cd /srv/care && .venv/bin/flask --app app care generate``.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import date, datetime, timedelta

from flask import Flask

from care.domain.dates import local_datetime, to_local
from care.extensions import db
from care.models.types import utcnow
from care.services import Actor
from care.serving import serving

log = logging.getLogger("care.scheduler")

WAKE_SECONDS = 300.0
RETRY_SECONDS = 60.0
_EXTENSION_KEY = "care_scheduler"


def should_start(app: Flask) -> bool:
    """True when this process serves requests with ``CARE_SCHEDULER`` on."""
    return bool(app.config.get("CARE_SCHEDULER")) and serving(app)


def start(app: Flask) -> Scheduler | None:
    """Start the thread once per app when :func:`should_start`; returns it (or None)."""
    if not should_start(app):
        return None
    existing = app.extensions.get(_EXTENSION_KEY)
    if existing is not None:
        return existing
    scheduler = Scheduler(app)
    app.extensions[_EXTENSION_KEY] = scheduler
    scheduler.start()
    return scheduler


class Scheduler:
    def __init__(
        self,
        app: Flask,
        *,
        clock: Callable[[], datetime] = utcnow,
        wake_seconds: float = WAKE_SECONDS,
    ):
        self.app = app
        self.clock = clock
        self.wake_seconds = wake_seconds
        self.stopped = threading.Event()
        self.thread: threading.Thread | None = None
        self.next_sweep_at: datetime | None = None  # None: sweep at the first tick
        self.violations_derived_on: date | None = None  # the dealer's day of the last derivation

    def start(self) -> None:
        self.thread = threading.Thread(target=self.run_forever, name="care-scheduler", daemon=True)
        self.thread.start()

    def stop(self, timeout: float | None = 5) -> None:
        self.stopped.set()
        if self.thread is not None:
            self.thread.join(timeout)

    def run_forever(self) -> None:
        while not self.stopped.is_set():
            try:
                delay = self.tick()
            except Exception as exc:  # noqa: BLE001 - keep the thread alive; retry soon
                # The type only: a message could carry customer data.
                log.error("scheduled generation failed: %s", type(exc).__name__)
                delay = RETRY_SECONDS
            self.stopped.wait(delay)

    def tick(self) -> float:
        """Generate what is due now, then sweep when it is time; return the seconds to
        sleep before the next look. A failing generation still lets the sweep run (and
        the other way round); the failure is raised after both had their turn."""
        with self.app.app_context():
            try:
                failure: Exception | None = None
                try:
                    delay = self._tick()
                except Exception as exc:  # noqa: BLE001 - the sweep runs all the same
                    db.session.rollback()
                    failure, delay = exc, RETRY_SECONDS
                self._monthly_report_if_due()
                delay = min(delay, self._sweep_if_due())
                self._derive_violations_if_due()
                if failure is not None:
                    raise failure
                return max(1.0, delay)
            finally:
                db.session.rollback()
                db.session.remove()

    def _monthly_report_if_due(self) -> None:
        """Last month's report (R22), generated on the 1st — or at the first look after
        it, when the server was down (care.services.monthly_report.generate_due); a failure
        is logged and tried again at the next look. Once it exists, a look is one read."""
        from care.services.monthly_report import generate_due

        session = db.session
        now = self.clock()
        try:
            report = generate_due(session, now=now)
            session.commit()
            if report is not None:
                log.info("monthly report of %s generated (report %s)", report.month, report.id)
        except Exception as exc:  # noqa: BLE001 - keep the thread alive; retry at the next look
            session.rollback()  # another process generated it at the same moment, or a failure
            log.error("monthly report generation failed: %s", type(exc).__name__)

    def _sweep_if_due(self) -> float:
        """Run the sweep when its time has come (at once after start-up); the seconds
        until the next one."""
        from care.services.settings import load_settings
        from care.services.sweep import lock_sweep, sweep

        session = db.session
        now = self.clock()
        if self.next_sweep_at is not None and now < self.next_sweep_at:
            return (self.next_sweep_at - now).total_seconds()
        try:
            interval = timedelta(minutes=int(load_settings(session).sweep_interval_minutes))
            if lock_sweep(session, wait=False):
                counts = sweep(session, now)
                session.commit()
                deadlines = counts.get("fallbacks", {})
                if any(deadlines.get(k) for k in ("failed", "expired", "queued", "skipped")) or counts.get("swept"):
                    log.info(
                        "swept: %s attempt(s) closed, %s task(s) failed, %s expired, %s birthday fallback(s)",
                        counts.get("swept", 0), deadlines.get("failed", 0), deadlines.get("expired", 0),
                        deadlines.get("birthday_fallbacks", 0),
                    )  # fmt: skip
            else:
                session.rollback()  # another process is sweeping: its round counts for ours
        except Exception as exc:  # noqa: BLE001 - keep the thread alive; retry soon
            session.rollback()
            log.error("scheduled sweep failed: %s", type(exc).__name__)  # no message: customer data
            self.next_sweep_at = now + timedelta(seconds=RETRY_SECONDS)
            return RETRY_SECONDS
        self.next_sweep_at = now + interval
        return interval.total_seconds()

    def _derive_violations_if_due(self) -> None:
        """R23: once a day (the first tick of the dealer's day, after the generation and
        the sweep), derive the running month's violations, and on the 1st the month just
        ended too (care.services.violations.months_to_derive). Deriving is idempotent, so
        several processes doing it the same day change nothing; a failure is logged and
        tried again at the next tick."""
        from care.services import violations as violation_service
        from care.services.settings import load_settings

        session = db.session
        now = self.clock()
        try:
            settings = load_settings(session)
            today = to_local(now, settings.timezone).date()
            if self.violations_derived_on == today:
                return
            for month in violation_service.months_to_derive(today):
                result = violation_service.derive(session, month, settings, now)
                violation_service.record_derivation(session, result, actor=Actor.SCHEDULER, now=now)
            session.commit()
            self.violations_derived_on = today
        except Exception as exc:  # noqa: BLE001 - keep the thread alive; retry at the next tick
            session.rollback()
            log.error("scheduled violations derivation failed: %s", type(exc).__name__)

    def _tick(self) -> float:
        from care.services.generator import generate_due, last_generated
        from care.services.settings import load_settings

        session = db.session
        now = self.clock()
        settings = load_settings(session)
        due_day, next_start = due_day_and_next_start(now, settings.timezone, settings.workday_start)
        last = last_generated(session, due_day)
        session.rollback()  # end the read before taking the lock
        # A new installation starts with today's run at the work-day start (not yesterday's).
        first_wait = last is None and due_day < to_local(now, settings.timezone).date()
        if not first_wait and (last is None or last < due_day):
            runs = generate_due(session, due_day, actor=Actor.SCHEDULER, now=now)
            session.commit()
            for run in runs:
                log.info(
                    "generated %s: %s task(s) in %s ms (run %s)",
                    run.for_date.isoformat(), run.created_total, run.duration_ms, run.id,
                )  # fmt: skip
        seconds = (next_start - self.clock()).total_seconds()
        return max(1.0, min(self.wake_seconds, seconds))


def due_day_and_next_start(now: datetime, tz_name: str, workday_start) -> tuple[date, datetime]:
    """The latest day that should be generated at ``now`` (today once the work day has
    started, else yesterday) and the next work-day start (aware, local)."""
    local_now = to_local(now, tz_name)
    today = local_now.date()
    starts_today = local_datetime(today, workday_start, tz_name)
    if local_now >= starts_today:
        return today, local_datetime(today + timedelta(days=1), workday_start, tz_name)
    return today - timedelta(days=1), starts_today

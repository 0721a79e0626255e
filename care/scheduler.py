"""The automatic daily generation, without a separate process.

When the app is served (``flask run``, gunicorn …) with ``CARE_SCHEDULER`` true, a daemon
thread runs :func:`care.services.generator.generate_due`:

- at start-up, for every day the generator missed (the last day due is today once the
  work day has started, else yesterday: a server started at 07:00 leaves today to the
  08:30 run, so that the night's DMS imports are in);
- then at each work-day start (the ``workday_start`` setting, in the dealer's time zone).

It sleeps until the next work-day start but wakes at least every
:data:`WAKE_SECONDS` to re-read the settings (a changed start time or time zone takes
effect within minutes) and to notice a day that went by while the machine slept.

Several processes (gunicorn workers) may each run this thread; that is harmless: a
process first checks without a lock whether the day is generated, and ``generate_due``
then takes a database lock (care.services.generator.lock_generation), re-reads the last
generated day and generates only what is still missing, so each day gets one
GenerationRun; the unique cycle key stops duplicate tasks in any case.

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
        """Generate what is due now; return the seconds to sleep before the next look."""
        with self.app.app_context():
            try:
                return self._tick()
            finally:
                db.session.rollback()
                db.session.remove()

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

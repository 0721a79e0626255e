"""Applying provider events after the webhook has answered (telephony.md pitfall 8).

The webhook stores the event (one INSERT), commits and answers 204; then it hands the
attempt id to this module. What happens next is ``CARE_WEBHOOK_APPLY``:

``background`` (the default)
    A daemon thread of the serving process (one per process, started on the first
    event after a fork, so gunicorn workers each get their own) applies the attempts
    it was handed, up to :data:`CHUNK` per transaction
    (``care.services.call_event_apply``: the fold of all the attempt's events, read without
    a lock and written optimistically, then the fallback hook), holding
    :data:`write_gate` only around the writes.

    It gives way to the webhooks: it starts a chunk only when no webhook of its process
    is storing an event and none has for ``CARE_APPLY_IDLE_MS`` (default 20 ms), or when the oldest id it holds has
    waited ``CARE_APPLY_MAX_DELAY`` seconds (default 30). At everyday volumes that is
    20 ms after the event; under a burst the provider's callbacks keep the CPU and
    the database's write lock, the ids pile up and coalesce (the four events of one
    call cost one fold), and the backlog is applied when the burst pauses; ids older
    than the maximum delay are applied during the burst too, in at most a tenth of
    the time (:data:`FORCED_SHARE`), so that a burst that never pauses neither
    starves the webhooks nor stops the backlog.

    Every :data:`RESCAN_SECONDS` it also applies events that nobody handed over and
    that are older than :data:`RESCAN_AGE_SECONDS` (a worker killed between the commit
    and the apply, an apply that failed); ``care sweep`` does the same from cron.
    Its first round is such a rescan, of every event received before the thread
    started: after a crash the events the dead process left are applied at start-up,
    not a minute after the next webhook (issue 9 item 20). The thread starts with the
    serving process (:func:`start`, from ``create_app``), and in a forked worker on its
    first event. Applying an attempt another live process is about to apply is
    harmless (below).
``inline``
    The same apply in the request, after the event's commit: for a single-threaded
    server or a debugging session; the response waits for it.

Either way the event is committed before anything of the attempt is read, so a failed
or slow apply never costs the provider a retry and never loses the event. Two
processes applying the same attempt at once is harmless: the write is conditional on
the version read (``events_folded``) and the loser re-reads.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import os
import threading
import time
from collections.abc import Callable
from datetime import timedelta

from flask import Flask

from care.extensions import db
from care.models.types import utcnow
from care.serving import serving

log = logging.getLogger("care.applier")

MODES = ("background", "inline")
RESCAN_SECONDS = 60.0
RESCAN_AGE_SECONDS = 30.0
RESCAN_LIMIT = 500
CHUNK = 25  # attempts per transaction: short, so a webhook never waits long for SQLite's lock
# Held around every write of provider events in this process: the webhook's INSERT and
# commit, the applier's UPDATEs and commit. Without it the two threads met in SQLite's
# busy handler (sleeps of 1…100 ms) while the one holding the database lock waited for
# the GIL: stalls of a second under a burst. With it they queue here for a few
# milliseconds at most; processes still meet in the busy handler, briefly.
write_gate = threading.Lock()
FORCED_SHARE = 0.1  # of the time, at most, for chunks forced by the maximum delay during a burst
FORCED_CHUNK = 5  # attempts per forced chunk: each interrupts the webhooks for a millisecond or two
_EXTENSION_KEY = "care_applier"


def check_mode(app: Flask) -> str:
    mode = str(app.config.get("CARE_WEBHOOK_APPLY") or "background").strip().lower()
    if mode not in MODES:
        raise ValueError(f"CARE_WEBHOOK_APPLY must be one of {', '.join(MODES)}, not {mode!r}")
    for key in ("CARE_APPLY_IDLE_MS", "CARE_APPLY_MAX_DELAY"):
        value = app.config.get(key)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int | float) or value < 0):
            raise ValueError(f"{key} must be a number of at least 0, not {value!r}")
    return mode


def apply_now(attempt_ids: list[int], *, put_aside: bool = False) -> bool:
    """Apply these attempts' pending events; False on failure (left for the rescan).

    Reads and folds outside :data:`write_gate`, writes and commits inside it: the state
    (a few conditional UPDATEs), then the final hooks' claim. See the module docstring.
    ``put_aside`` (one attempt): if it fails on its data, its events are put aside for
    reconciliation (``call_event_apply.put_aside``) instead of failing again at every
    rescan; a failure of the database leaves them for the rescan.
    """
    from care.services import call_event_apply

    session = db.session
    try:
        now = utcnow()
        final, lost = call_event_apply.apply_rounds(session, attempt_ids, now=now, write=_gated_write)
        finalize_each(final, now=now)
        return not lost
    except Exception as exc:  # noqa: BLE001 - stored: the rescan or `care sweep` retries
        session.rollback()
        log.error("attempt(s) %s: events stored, not applied (%s)", _ids(attempt_ids), type(exc).__name__)
        if put_aside and len(attempt_ids) == 1 and call_event_apply.is_unstorable(exc):
            _put_aside(attempt_ids[0])
        return False


def _put_aside(attempt_id: int) -> None:
    from care.services import call_event_apply

    session = db.session
    try:
        with write_gate:
            call_event_apply.put_aside(session, attempt_id)
            session.commit()
    except Exception as exc:  # noqa: BLE001 - left for the rescan
        session.rollback()
        log.error("attempt %s: events not put aside (%s)", attempt_id, type(exc).__name__)


def _gated_write(session, plans, *, now):
    """One round's writes and its commit, inside :data:`write_gate`."""
    from care.services import call_event_apply

    with write_gate:
        result = call_event_apply.write_apply(session, plans, now=now)
        session.commit()
    return result


def finalize_each(attempt_ids: list[int], *, now) -> int:
    """The final hooks, one attempt per transaction, each inside :data:`write_gate`.

    Inside: a hook that queues a fallback writes, and on SQLite a write outside the gate
    could hold the database lock while waiting for the gate that a webhook holds while
    waiting for that lock. One at a time: a webhook waits for one hook at most (~1 ms).
    """
    from care.services import call_event_apply

    session = db.session
    done = 0
    for attempt_id in attempt_ids:
        with write_gate:
            ran = call_event_apply.run_final_hooks(session, [attempt_id], now=now)
            done += call_event_apply.claim_finalized(session, ran, now=now)
            session.commit()
    return done


def _ids(attempt_ids: list[int]) -> str:
    return ", ".join(str(i) for i in attempt_ids[:5]) + ("…" if len(attempt_ids) > 5 else "")


def apply_each(attempt_ids: list[int]) -> int:
    """A chunk in one transaction; if that fails, one by one (one bad attempt blocks none,
    and one that fails on its data is put aside for reconciliation)."""
    if len(attempt_ids) == 1:
        return 1 if apply_now(attempt_ids, put_aside=True) else 0
    if apply_now(attempt_ids):
        return len(attempt_ids)
    return sum(1 for attempt_id in attempt_ids if apply_now([attempt_id], put_aside=True))


def submit(app: Flask, attempt_id: int) -> None:
    """After the event's commit: apply now (inline) or hand it to this process's thread."""
    if app.config.get("CARE_WEBHOOK_APPLY", "background") == "inline":
        apply_now([attempt_id], put_aside=True)
        return
    applier_for(app).submit(attempt_id)


def webhook(app: Flask):
    """The context a webhook stores its event in (see :meth:`Applier.webhook`)."""
    if app.config.get("CARE_WEBHOOK_APPLY", "background") == "inline":
        return contextlib.nullcontext()
    return applier_for(app).webhook()


def start(app: Flask) -> Applier | None:
    """At start-up of a serving process in ``background`` mode: start the thread now, so
    that its first round applies what a crashed process left (see the module doc)."""
    if app.config.get("CARE_WEBHOOK_APPLY", "background") != "background" or not serving(app):
        return None
    applier = applier_for(app)
    applier.start()
    return applier


def applier_for(app: Flask) -> Applier:
    applier = app.extensions.get(_EXTENSION_KEY)
    if applier is None:
        applier = app.extensions.setdefault(_EXTENSION_KEY, Applier(app))
    return applier


class Applier:
    """One thread per process; see the module docstring."""

    def __init__(
        self,
        app: Flask,
        *,
        rescan_seconds: float = RESCAN_SECONDS,
        rescan_age: float = RESCAN_AGE_SECONDS,
        idle: float | None = None,
        max_delay: float | None = None,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.app = app
        self.clock = clock  # seconds, for the thread's timing only (tests pass a clock they move)
        self.rescan_seconds = rescan_seconds
        self.rescan_age = rescan_age
        config = app.config
        self.idle = float(config.get("CARE_APPLY_IDLE_MS", 20)) / 1000 if idle is None else idle
        self.max_delay = float(config.get("CARE_APPLY_MAX_DELAY", 30)) if max_delay is None else max_delay
        self._cond = threading.Condition()
        # attempt id → when it was first handed over; a dict keeps insertion order, so the
        # oldest come first (an id handed over again keeps its place)
        self._pending: dict[int, float] = {}
        self._last_event = 0.0
        self._in_flight = 0  # webhooks of this process storing an event right now
        self._forced = False  # the chunk in hand was forced by the maximum delay
        self._forced_until = 0.0  # no forced chunk before this (FORCED_SHARE)
        self._busy = False
        self._pid: int | None = None
        self._thread: threading.Thread | None = None
        self._stopped = False
        self.applied = 0  # attempts applied by this process (for tests and logs)
        # For tests, which wait on these instead of sleeping: set when the thread holds
        # ids back (the webhooks are not quiet yet), and after each round it ran (a chunk
        # or a rescan). Clear one, cause the round, wait on it.
        self.holding = threading.Event()
        self.round_done = threading.Event()

    # ------------------------------------------------------------------ request side

    def webhook(self) -> _InFlight:
        """``with applier.webhook():`` around a webhook's database work: while one is in
        flight in this process (storing, or waiting for the database lock) the thread
        does not start a chunk."""
        return _InFlight(self)

    def submit(self, attempt_id: int) -> None:
        now = self.clock()
        with self._cond:
            self._ensure_thread()
            wake = not self._pending  # else the thread is already timing its wait for a quiet moment
            self._pending.setdefault(attempt_id, now)
            self._last_event = now
            if wake:
                self._cond.notify()

    def start(self) -> None:
        """Start the thread if it is not running (its first round is the start-up rescan)."""
        with self._cond:
            self._ensure_thread()

    def _ensure_thread(self) -> None:
        pid = os.getpid()
        if self._thread is not None and self._pid == pid and self._thread.is_alive():
            return
        if self._pid != pid:  # forked: the parent's thread and ids are not ours
            self._pending = {}
            self._busy = False
        self._pid = pid
        self._stopped = False
        self._thread = threading.Thread(target=self._run, name="care-applier", daemon=True)
        self._thread.start()

    def wait_idle(self, timeout: float = 10.0) -> bool:
        """Block until everything handed over is applied (tests); False on timeout."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._pending or self._busy:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(min(left, 0.05))
        return True

    def wake(self) -> None:
        """Make the thread look again now (tests, after moving their clock)."""
        with self._cond:
            self._cond.notify_all()

    def stop(self, timeout: float = 5.0) -> None:
        with self._cond:
            self._stopped = True
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(timeout)

    # ---------------------------------------------------------------------- thread

    def _take(self) -> list[int] | None:
        """Under the lock: the next chunk when it is time, else None (after waiting).

        Time: the webhooks have been quiet for ``idle``; or the oldest id has waited
        ``max_delay`` and the thread has not used more than :data:`FORCED_SHARE` of the
        time since its last forced chunk (a burst that never pauses still leaves the
        webhooks nine tenths of the time, and the backlog still moves).
        """
        now = self.clock()
        waited = now - next(iter(self._pending.values()))  # insertion order: the oldest first
        quiet = 0.0 if self._in_flight else now - self._last_event
        if quiet < self.idle:
            if waited < self.max_delay:
                self._hold(min(self.idle - quiet, self.max_delay - waited))
                return None
            if now < self._forced_until:
                self._hold(min(self.idle - quiet, self._forced_until - now))
                return None
            self._forced = True
        size = FORCED_CHUNK if self._forced else CHUNK
        ids = list(itertools.islice(self._pending, size))  # O(size), however long the backlog
        for attempt_id in ids:
            del self._pending[attempt_id]
        return ids

    def _hold(self, seconds: float) -> None:
        """Under the lock: leave the ids for now and wait (a new event or a wake-up ends it)."""
        self.holding.set()
        self._cond.wait(seconds)

    def _next(self, last_rescan: float) -> list[int] | None:
        """Under the lock: a chunk, [] when only the rescan is due, None when stopped."""
        while not self._stopped:
            if self._pending:
                chunk = self._take()
                if chunk is not None:
                    return chunk
                continue
            wait = self.rescan_seconds - (self.clock() - last_rescan)
            if wait <= 0:
                return []
            self._cond.wait(wait)
        return None

    def _run(self) -> None:
        # The first round is a rescan of everything received before now: events left by
        # a crashed process (or one being restarted) wait for no new webhook.
        started_at = utcnow()
        last_rescan = self.clock() - self.rescan_seconds
        first = True
        while True:
            with self._cond:
                chunk = self._next(last_rescan)
                if chunk is None:
                    return
                self._busy = True
            try:
                with self.app.app_context():
                    try:
                        if chunk:
                            started = self.clock()
                            self.applied += apply_each(chunk)
                            spent = self.clock() - started
                            log.debug("applied %d attempt(s) in %.1f ms%s", len(chunk), spent * 1000, " (forced)" if self._forced else "")
                            if self._forced:
                                self._forced_until = self.clock() + spent * (1 / FORCED_SHARE - 1)
                                self._forced = False
                        if self.clock() - last_rescan >= self.rescan_seconds:
                            last_rescan = self.clock()
                            self._rescan(received_before=started_at if first else None)
                            first = False
                    finally:
                        db.session.remove()
            except Exception as exc:  # noqa: BLE001 - keep the thread alive
                log.error("applier: %s", type(exc).__name__)
            finally:
                with self._cond:
                    self._busy = False
                    self.round_done.set()
                    self._cond.notify_all()

    def _rescan(self, *, received_before=None) -> None:
        """Apply left-over events received before ``received_before`` (default: older than
        the rescan age), then catch up final hooks. At start-up (``received_before`` given)
        it goes on past :data:`RESCAN_LIMIT` while rounds make progress."""
        from care.services.call_event_apply import pending_attempts, unfinalized_attempts

        before = received_before or utcnow() - timedelta(seconds=self.rescan_age)
        while True:
            ids = pending_attempts(db.session, received_before=before, limit=RESCAN_LIMIT)
            db.session.rollback()
            done = sum(apply_each(ids[i : i + CHUNK]) for i in range(0, len(ids), CHUNK))
            if ids:
                log.info("applier: %d attempt(s) with left-over events, %d applied", len(ids), done)
            if received_before is None or len(ids) < RESCAN_LIMIT or not done or self._stopped:
                break
        unfinalized = unfinalized_attempts(db.session, ended_before=before, limit=RESCAN_LIMIT)
        if unfinalized:
            try:
                ran = finalize_each(unfinalized, now=utcnow())
                log.info("applier: final hooks of %d attempt(s) caught up", ran)
            except Exception as exc:  # noqa: BLE001
                db.session.rollback()
                log.error("applier: final hooks not caught up (%s)", type(exc).__name__)


class _InFlight:
    __slots__ = ("applier",)

    def __init__(self, applier: Applier):
        self.applier = applier

    def __enter__(self) -> None:
        with self.applier._cond:
            self.applier._in_flight += 1

    def __exit__(self, *exc) -> None:
        with self.applier._cond:
            self.applier._in_flight -= 1
            self.applier._last_event = self.applier.clock()

"""The background applier (care/applier.py): the webhook answers first, the thread applies.

Nothing here sleeps to let time pass: the timing tests give the applier a clock they
move (``Clock``) and wait on its events (``holding``: it held ids back; ``round_done``:
it ran a round) or on ``wait_idle``.
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta

import pytest

from care import applier as applier_module
from care import create_app
from care.extensions import db
from care.models import CallAttempt, CallEvent
from care.services import call_event_apply as call_events
from tests import factories
from tests.web.test_webhooks import body, generic_post, get_attempt


@pytest.fixture
def bg_app(app):
    app.config["CARE_WEBHOOK_APPLY"] = "background"
    yield app
    existing = app.extensions.get("care_applier")
    if existing is not None:
        existing.stop()


class Clock:
    """A monotonic clock that moves only when told."""

    def __init__(self, start: float = 1000.0):
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def install(app, **kw) -> applier_module.Applier:
    """This app's applier, with the given clock and delays (the app fixture stops it)."""
    applier = applier_module.Applier(app, **kw)
    app.extensions["care_applier"] = applier
    return applier


def new_attempt(app) -> int:
    with app.app_context():
        attempt = factories.make_attempt(db.session, started_at=datetime.now(UTC) - timedelta(minutes=1))
        db.session.commit()
        return attempt.id


def test_background_applies_after_the_answer(bg_app):
    client = bg_app.test_client()
    attempt_id = new_attempt(bg_app)
    assert generic_post(client, body(attempt_id, "e1", "ringing", sequence=1)).status_code == 204
    assert generic_post(client, body(attempt_id, "e2", "completed", sequence=3, duration_s=42)).status_code == 204
    assert generic_post(client, body(attempt_id, "e3", "answered", sequence=2)).status_code == 204
    assert applier_module.applier_for(bg_app).wait_idle(10)
    attempt = get_attempt(bg_app, attempt_id)
    assert attempt.outcome == "completed" and attempt.duration_s == 42 and attempt.answered
    with bg_app.app_context():
        assert db.session.query(CallEvent).filter(CallEvent.applied_at.is_(None)).count() == 0


def test_the_response_does_not_wait_for_the_apply(bg_app, monkeypatch):
    """A slow apply (a lock held elsewhere, a slow disk) never delays the provider's 204."""
    client = bg_app.test_client()
    attempt_id = new_attempt(bg_app)
    release, started = threading.Event(), threading.Event()
    real = call_events.plan_apply

    def slow(session, ids, *, now):
        started.set()
        assert release.wait(10)
        return real(session, ids, now=now)

    monkeypatch.setattr(call_events, "plan_apply", slow)
    assert generic_post(client, body(attempt_id, "e1", "ringing")).status_code == 204
    assert started.wait(10)
    # while the first apply hangs, more events are stored and answered at once
    assert generic_post(client, body(attempt_id, "e2", "answered", sequence=2)).status_code == 204
    assert generic_post(client, body(attempt_id, "e3", "completed", sequence=3)).status_code == 204
    assert get_attempt(bg_app, attempt_id).status == "requested"  # nothing applied yet
    release.set()
    assert applier_module.applier_for(bg_app).wait_idle(10)
    assert get_attempt(bg_app, attempt_id).outcome == "completed"


def test_ids_handed_over_while_busy_are_coalesced(bg_app, monkeypatch):
    applier = applier_module.applier_for(bg_app)
    ids = [new_attempt(bg_app) for _ in range(3)]
    calls: list[int] = []
    release, started = threading.Event(), threading.Event()
    real = call_events.plan_apply

    def recording(session, ids, *, now):
        calls.append(list(ids))
        if len(calls) == 1:
            started.set()
            assert release.wait(10)
        return real(session, ids, now=now)

    monkeypatch.setattr(call_events, "plan_apply", recording)
    applier.submit(ids[0])
    assert started.wait(10)
    for _ in range(5):  # the same attempts again and again while the first apply hangs
        applier.submit(ids[1])
        applier.submit(ids[2])
    release.set()
    assert applier.wait_idle(10)
    assert calls == [[ids[0]], [ids[1], ids[2]]]  # one chunk for all that came meanwhile


def test_a_failed_apply_is_logged_and_the_thread_lives_on(bg_app, monkeypatch, caplog):
    applier = applier_module.applier_for(bg_app)
    first, second = new_attempt(bg_app), new_attempt(bg_app)
    real = call_events.plan_apply

    def broken_once(session, ids, *, now):
        if first in ids:
            raise RuntimeError("+8613800138000")  # a message must not reach the log
        return real(session, ids, now=now)

    monkeypatch.setattr(call_events, "plan_apply", broken_once)
    client = bg_app.test_client()
    assert generic_post(client, body(first, "a1", "answered")).status_code == 204
    assert applier.wait_idle(10)
    assert generic_post(client, body(second, "b1", "answered")).status_code == 204
    assert applier.wait_idle(10)
    assert get_attempt(bg_app, second).status == "answered"
    assert get_attempt(bg_app, first).status == "requested"
    assert "RuntimeError" in caplog.text and "13800138000" not in caplog.text
    with bg_app.app_context():  # left for the rescan / `care sweep`
        assert call_events.pending_attempts(db.session) == [first]


def orphan_event(app, attempt_id: int, event_id: str = "orphan", *, age: timedelta = timedelta(minutes=5)) -> None:
    """An event stored by a process that died before applying it."""
    with app.app_context():
        db.session.add(
            CallEvent(
                event_id=event_id, attempt_id=attempt_id, provider="generic", kind="status", status="busy",
                raw_status="busy", sequence=1, received_at=datetime.now(UTC) - age,
                payload=body(attempt_id, event_id, "busy"),
            )
        )
        db.session.commit()


def test_rescan_applies_events_nobody_handed_over(bg_app):
    """A worker killed between commit and apply: its events are picked up by age."""
    clock = Clock()
    applier = install(bg_app, clock=clock, idle=0, rescan_seconds=60, rescan_age=1)
    applier.start()
    assert applier.round_done.wait(10)  # the start-up rescan (nothing left over yet)
    attempt_id = new_attempt(bg_app)
    orphan_event(bg_app, attempt_id)
    applier.submit(new_attempt(bg_app))
    assert applier.wait_idle(10)
    assert get_attempt(bg_app, attempt_id).status == "requested"  # a minute has not passed
    applier.round_done.clear()
    clock.advance(60)
    applier.wake()
    assert applier.round_done.wait(10)
    assert get_attempt(bg_app, attempt_id).outcome == "busy"


def test_events_left_by_a_crash_are_applied_at_start_up(bg_app):
    """Issue 9 item 20: the first round is a rescan of everything received before the
    thread started (even a second ago), without waiting for a webhook or a minute."""
    old, recent = new_attempt(bg_app), new_attempt(bg_app)
    orphan_event(bg_app, old, "old")
    orphan_event(bg_app, recent, "recent", age=timedelta(seconds=1))  # younger than the rescan age
    applier = install(bg_app, clock=Clock(), idle=0, rescan_seconds=60, rescan_age=30)
    applier.start()  # no submit, no webhook, the clock does not move
    assert applier.round_done.wait(10)
    assert get_attempt(bg_app, old).outcome == "busy" and get_attempt(bg_app, recent).outcome == "busy"
    with bg_app.app_context():
        assert call_events.pending_attempts(db.session) == []


def test_the_serving_process_starts_the_thread_with_the_app(bg_app, monkeypatch):
    started = []
    monkeypatch.setattr(applier_module.Applier, "start", lambda self: started.append(self))
    assert applier_module.start(bg_app) is None and started == []  # tests do not serve
    monkeypatch.setattr(applier_module, "serving", lambda app: True)
    assert applier_module.start(bg_app) is started[0]
    bg_app.config["CARE_WEBHOOK_APPLY"] = "inline"
    assert applier_module.start(bg_app) is None and len(started) == 1


def test_a_forked_process_starts_its_own_thread(bg_app, monkeypatch):
    applier = applier_module.applier_for(bg_app)
    applier.submit(new_attempt(bg_app))
    assert applier.wait_idle(10)
    parent_thread = applier._thread
    monkeypatch.setattr(applier_module.os, "getpid", lambda: -1)  # as in a gunicorn worker
    attempt_id = new_attempt(bg_app)
    applier.submit(attempt_id)
    assert applier.wait_idle(10)
    assert applier._thread is not parent_thread and applier._thread.is_alive()
    assert get_attempt(bg_app, attempt_id).status == "requested"  # no events: nothing to change


def test_inline_applies_in_the_request(app):
    app.config["CARE_WEBHOOK_APPLY"] = "inline"
    attempt_id = new_attempt(app)
    assert generic_post(app.test_client(), body(attempt_id)).status_code == 204
    assert get_attempt(app, attempt_id).status == "answered"
    assert "care_applier" not in app.extensions


def test_a_misspelt_mode_fails_at_start_up(tmp_path):
    with pytest.raises(ValueError, match="CARE_WEBHOOK_APPLY"):
        create_app({"TESTING": True, "INSTANCE_PATH": str(tmp_path), "CARE_WEBHOOK_APPLY": "later"})


def test_gives_way_while_events_keep_coming(bg_app):
    """Under a burst the thread leaves the CPU and the write lock to the webhooks."""
    clock = Clock()
    applier = install(bg_app, clock=clock, idle=0.15, max_delay=30)
    client = bg_app.test_client()
    watched, busy = new_attempt(bg_app), new_attempt(bg_app)
    assert generic_post(client, body(watched, "w1", "busy")).status_code == 204
    for n in range(1, 4):  # a provider in full flow: an event every 20 ms
        clock.advance(0.02)
        applier.holding.clear()
        assert generic_post(client, body(busy, f"b{n}", "ringing", sequence=n)).status_code == 204
        applier.wake()
        assert applier.holding.wait(10)  # looked, and held back: never quiet for 150 ms
        assert get_attempt(bg_app, watched).status == "requested"
    clock.advance(1)  # the flow stopped: quiet for more than 150 ms
    applier.wake()
    assert applier.wait_idle(10)
    assert get_attempt(bg_app, watched).outcome == "busy"
    assert applier.applied == 2


def test_the_maximum_delay_bounds_the_wait(bg_app):
    clock = Clock()
    applier = install(bg_app, clock=clock, idle=60, max_delay=0.2)
    client = bg_app.test_client()
    watched, busy = new_attempt(bg_app), new_attempt(bg_app)
    assert generic_post(client, body(watched, "w1", "busy")).status_code == 204
    applier.holding.clear()
    assert generic_post(client, body(busy, "b1", "ringing")).status_code == 204
    assert applier.holding.wait(10)
    assert get_attempt(bg_app, watched).status == "requested"
    applier.round_done.clear()
    clock.advance(0.25)  # never quiet for a minute, but the oldest has waited 0.2 s
    assert generic_post(client, body(busy, "b2", "ringing", sequence=2)).status_code == 204
    applier.wake()
    assert applier.round_done.wait(10)  # a forced chunk, during the flow
    assert get_attempt(bg_app, watched).outcome == "busy"


@pytest.mark.parametrize("key, value", [("CARE_APPLY_IDLE_MS", -1), ("CARE_APPLY_MAX_DELAY", "soon")])
def test_bad_delays_fail_at_start_up(tmp_path, key, value):
    with pytest.raises(ValueError, match=key):
        create_app({"TESTING": True, "INSTANCE_PATH": str(tmp_path), key: value})


def test_a_hook_that_writes_never_deadlocks_a_webhook(bg_app, monkeypatch):
    """The fallback hook writes (queues a message, blocks a task) while a webhook of the
    same process stores an event: both get through. (Hooks writing outside the write
    gate held SQLite's lock while waiting for the gate the webhook held while waiting
    for that lock: a 503 after the 15 s busy timeout.)"""
    from care.models import CareTask
    from care.services import fallback

    in_hook, hook_done = threading.Event(), threading.Event()
    def on_attempt_final(session, attempt, *, now):
        session.get(CareTask, attempt.task_id).status = "blocked"
        session.flush()  # the write lock, on SQLite
        in_hook.set()
        time.sleep(0.3)
        hook_done.set()

    monkeypatch.setattr(fallback, "on_attempt_final", on_attempt_final)
    client = bg_app.test_client()
    attempt_id, other = new_attempt(bg_app), new_attempt(bg_app)
    assert generic_post(client, body(attempt_id, "h1", "no_answer")).status_code == 204
    assert in_hook.wait(10)
    started = time.monotonic()
    assert generic_post(client, body(other, "o1", "ringing")).status_code == 204
    assert time.monotonic() - started < 5
    assert hook_done.is_set()
    assert applier_module.applier_for(bg_app).wait_idle(10)
    with bg_app.app_context():
        attempt = db.session.get(CallAttempt, attempt_id)
        assert attempt.finalized_at is not None and attempt.task.status == "blocked"

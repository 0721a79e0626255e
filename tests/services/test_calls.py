"""Click-to-call: refusals, the attempt created before the provider rings, provider errors."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from care.models.call import CallAttempt, CallEvent
from care.services import call_event_apply, call_event_store, fallback
from care.services import calls as svc
from care.services.settings import load_settings
from care.telephony.base import Provider, ProviderError
from care.telephony.generic import map_generic
from tests.factories import make_customer, make_task, make_user

MORNING = datetime(2026, 5, 11, 2, 0, tzinfo=UTC)  # 10:00 Shanghai, morning slot
AFTERNOON = datetime(2026, 5, 11, 7, 0, tzinfo=UTC)  # 15:00
QUIET = datetime(2026, 5, 11, 5, 0, tzinfo=UTC)  # 13:00, between slots


@pytest.fixture
def world(session):
    me = make_user(session, "specialist")
    customer = make_customer(session)
    task = make_task(session, customer, assignee=me, now=MORNING)
    return {"s": session, "me": me, "customer": customer, "task": task, "settings": load_settings(session)}


def start(w, now, **kw):
    return svc.start_call(w["s"], w["task"], user=w["me"], now=now, settings=w["settings"], **kw)


def finish(attempt, outcome):
    attempt.status = outcome
    attempt.outcome = outcome
    attempt.rank = 4


def refused(w, now, **kw) -> svc.CallRefused:
    with pytest.raises(svc.CallRefused) as info:
        start(w, now, **kw)
    return info.value


def test_start_creates_the_attempt(world):
    a = start(world, MORNING)
    assert a.id is not None
    assert (a.slot, a.slot_date.isoformat(), a.status) == ("morning", "2026-05-11", "requested")
    assert a.to_number == world["customer"].mobile
    assert a.agent_extension == world["me"].extension
    assert a.customer_id == world["customer"].id and a.user_id == world["me"].id


def test_no_call_refused_with_evidence(world):
    c = world["customer"]
    c.no_call, c.no_call_by, c.no_call_at = True, "import:dms.csv", datetime(2026, 4, 1, tzinfo=UTC)
    exc = refused(world, MORNING)
    assert exc.code == svc.NO_CALL
    assert exc.params["by"] == "import:dms.csv" and exc.params["at"] == c.no_call_at
    assert world["s"].query(CallAttempt).count() == 0


def test_no_number_refused(world):
    world["customer"].mobile = None
    assert refused(world, MORNING).code == svc.NO_NUMBER


def test_phone2_used_when_no_mobile(world):
    world["customer"].mobile = None
    world["customer"].phone2 = "+862885551234"
    assert start(world, MORNING).to_number == "+862885551234"


def test_closed_task_refused(world):
    world["task"].status = "done"
    assert refused(world, MORNING).code == svc.CLOSED


def test_someone_elses_task_refused_but_care_manager_may(world):
    other = make_user(world["s"], "specialist")
    with pytest.raises(svc.CallRefused) as info:
        svc.start_call(world["s"], world["task"], user=other, now=MORNING, settings=world["settings"])
    assert info.value.code == svc.NOT_YOURS
    manager = make_user(world["s"], "care_manager")
    assert svc.start_call(world["s"], world["task"], user=manager, now=MORNING, settings=world["settings"]).id


def test_quiet_hours_refused(world):
    exc = refused(world, QUIET)
    assert exc.code == "quiet_hours"
    assert exc.params["slot"] == "afternoon"


def test_call_in_progress_then_used_slot(world):
    a = start(world, MORNING)
    assert refused(world, MORNING + timedelta(minutes=5)).code == "call_in_progress"
    finish(a, "busy")
    exc = refused(world, MORNING + timedelta(minutes=10))
    assert exc.code == "slot_used"
    assert exc.params["next_slot"] == "afternoon"
    assert start(world, AFTERNOON).slot == "afternoon"


def test_exhausted_and_window_closed(world):
    for moment in (MORNING, AFTERNOON, AFTERNOON + timedelta(hours=4)):  # 19:00 evening
        finish(start(world, moment), "no_answer")
    assert refused(world, MORNING + timedelta(days=1)).code == "attempts_exhausted"


def test_window_closed(world):
    finish(start(world, MORNING), "busy")
    assert refused(world, MORNING + timedelta(days=3)).code == "window_closed"


def test_force_only_for_the_sim(world):
    assert refused(world, MORNING, provider_name="twilio", force="busy").code == svc.BAD_FORCE
    assert refused(world, MORNING, force="nonsense").code == svc.BAD_FORCE


class Recording(Provider):
    def __init__(self, error=None):
        self.seen = []
        self.error = error

    def originate(self, attempt, **kw):
        self.seen.append((attempt.id, kw))
        if self.error:
            raise ProviderError(self.error)
        return "CALL-1"


def test_originate_sees_the_attempt_id(world):
    a = start(world, MORNING)
    provider = Recording()
    svc.originate(a, provider, callback_base="https://care.example/", force="busy")
    assert provider.seen[0][0] == a.id
    kw = provider.seen[0][1]
    assert kw["callback_base"] == "https://care.example" and kw["force"] == "busy"
    assert kw["to_number"] == a.to_number and kw["agent_extension"] == world["me"].extension
    assert a.provider_call_id == "CALL-1" and a.error is None


def test_provider_error_is_not_an_attempt(world):
    a = start(world, MORNING)
    svc.originate(a, Recording("Twilio could not be reached."), callback_base="http://x")
    assert (a.status, a.outcome, a.counted, a.error) == ("failed", "failed", False, "Twilio could not be reached.")
    assert svc.is_finished(a)
    # the same slot may be used again: the call never left
    assert start(world, MORNING + timedelta(minutes=1)).slot == "morning"


def test_task_calls_and_events(world):
    a = start(world, MORNING)
    s = world["s"]
    s.add(CallEvent(event_id="e1", attempt_id=a.id, provider="sim", status="ringing", sequence=1))
    s.flush()
    tc = svc.task_calls(s, world["task"], user=world["me"], settings=world["settings"], now=MORNING)
    assert tc.active is a and tc.refusal.code == "call_in_progress"
    assert [o.name for o in tc.plan.open_slots] == ["afternoon", "evening"]
    assert [e.event_id for e in svc.events_of(s, [a.id])[a.id]] == ["e1"]


def test_timeline_has_calls_with_events_in_two_queries(world, app):
    from sqlalchemy import event as sa_event

    from care.extensions import db
    from care.services.tasks import timeline

    s = world["s"]
    first = start(world, MORNING)
    finish(first, "busy")
    second = start(world, AFTERNOON)
    second.recording_url = "https://rec.example/2.mp3"
    for n, a in enumerate((first, second, first)):
        s.add(CallEvent(event_id=f"e{n}", attempt_id=a.id, provider="sim", status="ringing", sequence=n))
    s.flush()
    statements = []

    def count(*args):
        statements.append(args[2])

    sa_event.listen(db.engine, "before_cursor_execute", count)
    try:
        entries = timeline(s, world["customer"].id)
    finally:
        sa_event.remove(db.engine, "before_cursor_execute", count)
    calls = [e for e in entries if e.kind == "call"]
    assert [e.item.id for e in calls] == [second.id, first.id]  # newest first
    assert [ev.event_id for ev in calls[1].events] == ["e0", "e2"]
    assert [ev.event_id for ev in calls[0].events] == ["e1"]
    assert sum("call_attempts" in q or "call_events" in q for q in statements) == 2
    assert len(timeline(s, world["customer"].id, limit=1)[0].events) == 1


def test_unexpected_adapter_error_is_contained(world):
    class Broken(Provider):
        def originate(self, attempt, **kw):
            raise RuntimeError("boom " + kw["to_number"])

    a = start(world, MORNING)
    svc.originate(a, Broken(), callback_base="http://x")
    assert a.error == "The telephony provider failed." and a.counted is False


# --- one reading of the attempts (R13): the task card and the fallback agree -----------

EVENING = AFTERNOON + timedelta(hours=4)  # 19:00


def provider_reports(w, attempt, event_id, status):
    """The provider posts an event for ``attempt`` (stored and applied as a webhook's)."""
    body = {"event_id": event_id, "attempt_id": attempt.id, "provider_call_id": "sim-1", "status": status}
    call_event_apply.receive(
        w["s"], map_generic(body), kind=call_event_store.STATUS, payload=body,
        attempt_ref=str(attempt.id), now=attempt.started_at + timedelta(minutes=1),
    )  # fmt: skip


def card_and_fallback_plans(w, now):
    card = svc.task_calls(w["s"], w["task"], user=w["me"], settings=w["settings"], now=now).plan
    attempts = svc.attempts_of(w["s"], w["task"].id)
    return card, fallback.task_plan(w["task"], attempts, w["settings"], now)


def test_card_and_fallback_read_the_same_attempts_the_same_way(world):
    first = start(world, MORNING)
    finish(first, "no_answer")
    canceled = start(world, AFTERNOON)
    finish(canceled, "canceled")
    canceled.counted = False
    never_left = start(world, AFTERNOON + timedelta(minutes=5))
    svc.originate(never_left, Recording("Twilio could not be reached."), callback_base="http://x")
    # the provider timed out on our request but placed the call: its events arrive after all
    went_out = start(world, AFTERNOON + timedelta(minutes=10))
    svc.originate(went_out, Recording("Twilio timed out."), callback_base="http://x")
    provider_reports(world, went_out, "late-1", "busy")
    assert (went_out.error, went_out.outcome, went_out.counted) == ("Twilio timed out.", "busy", True)

    card, plan = card_and_fallback_plans(world, AFTERNOON + timedelta(minutes=20))
    assert card == plan
    assert card.used == 2 and [u.name for u in card.used_slots] == ["morning", "afternoon"]
    assert [o.name for o in card.open_slots] == ["evening"]
    assert refused(world, AFTERNOON + timedelta(minutes=30)).code == "slot_used"

    finish(start(world, EVENING), "no_answer")
    card, plan = card_and_fallback_plans(world, EVENING + timedelta(minutes=5))
    assert card == plan and card.exhausted and card.fallback_due


def test_a_call_that_never_left_is_in_neither_plan(world):
    never_left = start(world, MORNING)
    svc.originate(never_left, Recording("Twilio could not be reached."), callback_base="http://x")
    card, plan = card_and_fallback_plans(world, MORNING + timedelta(minutes=1))
    assert card == plan and card.used == 0 and card.window_starts_on is None

"""The automated survey after the call (issue 11 item 3): the hand-over, the TwiML of each
question, answers through signed Twilio gathers and generic events — duplicates, keys
outside the scale, ``*``/``#``, no key, unknown call or item, answers after the survey
was finished by hand."""

from __future__ import annotations

import json
import random
import time
import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select
from twilio.request_validator import RequestValidator
from twilio.twiml.voice_response import VoiceResponse

from care.extensions import db
from care.models import CallAttempt, CallEvent, CareTask, IvrSurvey, SurveyResponse
from care.services import phone_survey as svc
from care.services import surveys as survey_service
from care.services.call_event_apply import receive
from care.telephony import sim
from care.telephony import twilio as twilio_adapter
from care.telephony.generic import map_generic
from care.telephony.signatures import sign_generic
from tests.factories import make_attempt, make_customer, make_delivery, make_task, make_vehicle

HX = {"HX-Request": "true", "Accept-Language": "en"}
TOKEN = "12345"
SECRET = "test-webhook-secret"
BASE = "https://care.example.com"
SID = "CA" + "1" * 32
CHILD = "CA" + "2" * 32
MORNING = datetime(2026, 5, 11, 2, 0, tzinfo=UTC)


@pytest.fixture
def world(app, login_as):
    """A specialist on a live answered call with a customer whose R8 survey is theirs."""
    app.config.update(CARE_NOW=MORNING.isoformat(), CARE_TWILIO_AUTH_TOKEN=TOKEN, CARE_PUBLIC_BASE_URL=BASE)
    me = login_as("specialist", username="spec")
    with app.app_context():
        s = db.session
        c = make_customer(s, name="李雷", mobile="+8613800138001")
        v = make_vehicle(s, c, plate="川A30003")
        d = make_delivery(s, v)
        task = make_task(s, c, assignee=me, type="delivery_survey", vehicle_id=v.id, delivery_id=d.id,
                         reason_id="delivery_survey.reason")  # fmt: skip
        attempt = make_attempt(s, task, user_id=me.id, provider_call_id=SID, started_at=MORNING)
        for seq, status in enumerate(("initiated", "ringing", "answered")):  # the provider's events, folded
            body = {"event_id": f"ev-{status}", "attempt_id": attempt.id, "provider_call_id": SID,
                    "status": status, "sequence": seq, "occurred_at": MORNING.isoformat()}  # fmt: skip
            receive(s, map_generic(body), kind="status", payload=body, attempt_ref=str(attempt.id), now=MORNING)
        assert attempt.answered and attempt.rank == 3
        s.commit()
        items = [i.code for i in svc.ordered_items(survey_service.current_version(s, "ssi"))]
        return {"me": me.id, "task": task.id, "attempt": attempt.id, "customer": c.id, "items": items}


def state(app, world) -> dict:
    with app.app_context():
        r = db.session.scalars(select(SurveyResponse).where(SurveyResponse.task_id == world["task"])).first()
        ivr = db.session.scalars(select(IvrSurvey).where(IvrSurvey.attempt_id == world["attempt"])).first()
        task = db.session.get(CareTask, world["task"])
        return {
            "answers": {a.item.code: (a.score, a.unanswered, a.source) for a in r.answers} if r else {},
            "status": r.status if r else None,
            "ivr": (ivr.status, ivr.late_answers) if ivr else None,
            "items": list(ivr.items) if ivr else [],
            "task": (task.status, task.outcome),
        }


def generic(client, body: dict):
    data = json.dumps(body).encode()
    headers = {"Content-Type": "application/json", "X-Care-Signature": sign_generic(SECRET, data, int(time.time()))}
    return client.post("/webhooks/events", data=data, headers=headers)


def end_call(client, world) -> None:
    """The provider's end of the call (the attempt's state is the fold of its events)."""
    body = {"event_id": "ev-end", "attempt_id": world["attempt"], "provider_call_id": SID, "status": "completed",
            "sequence": 9, "occurred_at": MORNING.isoformat(), "duration_s": 90, "q850_cause": 16}  # fmt: skip
    assert generic(client, body).status_code == 204
    with client.application.app_context():
        assert db.session.get(CallAttempt, world["attempt"]).rank == 4


def gather_event(world, item, digits, event_id=None) -> dict:
    return {
        "event_id": event_id or f"ev-{item}-{digits}", "attempt_id": world["attempt"], "provider_call_id": SID,
        "status": None, "sequence": None, "occurred_at": MORNING.isoformat(), "digits": digits, "survey_item": item,
    }  # fmt: skip


def twilio_gather(client, world, item, params, attempt=None):
    attempt = world["attempt"] if attempt is None else attempt
    path = f"/webhooks/twilio/gather?attempt={attempt}&item={item}"
    sig = RequestValidator(TOKEN).compute_signature(BASE + path, params)
    return client.post(path, data=params, headers={"X-Twilio-Signature": sig})


def twiml_get(client, attempt_id, after=None, params=None):
    path = f"/calls/twiml/{attempt_id}/survey" + (f"?after={after}" if after else "")
    params = params or {"CallSid": CHILD}
    sig = RequestValidator(TOKEN).compute_signature(BASE + path, params)
    return client.post(path, data=params, headers={"X-Twilio-Signature": sig})


@pytest.fixture
def handed(client, app, world):
    r = client.post(f"/tasks/{world['task']}/survey/ivr", headers=HX)
    assert r.status_code == 200, r.get_data(as_text=True)
    assert "handed over to the automated survey" in r.get_data(as_text=True)
    assert 'hx-trigger="every 2s"' in r.get_data(as_text=True)  # the panel follows the answers
    return world


# ----------------------------------------------------------------------- hand-over


def test_hand_over_asks_every_item_still_without_an_answer(client, app, world):
    first = world["items"][0]
    assert client.post(f"/tasks/{world['task']}/survey/answer", data={"item": first, "score": "5"}, headers=HX).status_code == 200
    assert client.post(f"/tasks/{world['task']}/survey/ivr", headers=HX).status_code == 200
    got = state(app, world)
    assert got["ivr"] == ("running", 0) and got["items"] == world["items"][1:]
    # while the customer is in the IVR the rows are read-only, and a second hand-over is refused
    r = client.post(f"/tasks/{world['task']}/survey/answer", data={"item": world["items"][1], "score": "5"}, headers=HX)
    assert r.status_code == 409 and "automated survey" in r.get_data(as_text=True)
    assert client.post(f"/tasks/{world['task']}/survey/ivr", headers=HX).status_code == 409


def test_hand_over_needs_the_customer_on_the_line(client, app, world):
    with app.app_context():
        a = db.session.get(CallAttempt, world["attempt"])
        a.status, a.rank, a.outcome = "completed", 4, "completed"
        db.session.commit()
    r = client.post(f"/tasks/{world['task']}/survey/ivr", headers=HX)
    assert r.status_code == 409 and "on the line" in r.get_data(as_text=True)
    assert state(app, world)["ivr"] is None


def test_provider_refusal_is_kept_and_said(client, app, world):
    app.config.update(CARE_TELEPHONY="generic", CARE_GENERIC_URL=None)
    r = client.post(f"/tasks/{world['task']}/survey/ivr", headers=HX)
    assert r.status_code == 502 and "could not start" in r.get_data(as_text=True)
    assert state(app, world)["ivr"] == ("failed", 0)


# ------------------------------------------------------------ simulator / generic events


def test_simulated_customer_answers_every_item_and_the_task_closes(client, app, handed):
    world = handed
    with app.app_context():
        attempt = db.session.get(CallAttempt, world["attempt"])
        ivr = db.session.scalars(select(IvrSurvey)).one()
        events = sim.survey_events_for(attempt, svc.provider_items(ivr), {"6": 1}, random.Random(1), MORNING)
    assert [e["survey_item"] for e in events[:-1]] == world["items"] and events[-1]["status"] == "completed"
    for event in events:
        assert generic(client, event).status_code == 204
    got = state(app, world)
    assert got["status"] == "completed" and got["ivr"] == ("finished", 0)
    assert set(got["answers"].values()) == {(6, False, "ivr")}
    assert got["task"] == ("done", "reached_satisfied")
    with app.app_context():
        task = db.session.get(CareTask, world["task"])
        assert task.outcomes[-1].recorded_by_id == world["me"] and task.outcomes[-1].source == "survey"


@pytest.mark.parametrize(("digits", "expected"), [("3", (3, False)), ("9", (None, True)), ("0", (None, True)),
                                                 ("*", (None, True)), ("#", (None, True)), (None, (None, True)),
                                                 ("", (None, True)), ("12", (None, True))])  # fmt: skip
def test_generic_keys(client, app, handed, digits, expected):
    item = handed["items"][0]
    assert generic(client, gather_event(handed, item, digits)).status_code == 204
    assert state(app, handed)["answers"][item] == (*expected, "ivr")


def test_generic_duplicate_and_second_key_change_nothing(client, app, handed):
    item = handed["items"][0]
    event = gather_event(handed, item, "2")
    assert generic(client, event).status_code == 204
    assert generic(client, event).status_code == 204  # the same event again
    assert generic(client, {**event, "event_id": "another", "digits": "7"}).status_code == 204  # the same item again
    assert state(app, handed)["answers"] == {item: (2, False, "ivr")}
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(CallEvent).where(CallEvent.kind == "gather")) == 2


def test_generic_unknown_item_or_attempt_is_stored_and_changes_nothing(client, app, handed):
    assert generic(client, gather_event(handed, "no_such_item", "5")).status_code == 204
    unknown = {**gather_event(handed, handed["items"][0], "5", event_id="ev-unknown"), "attempt_id": 987654}
    assert generic(client, unknown).status_code == 204
    assert state(app, handed)["answers"] == {}
    with app.app_context():
        rows = db.session.scalars(select(CallEvent).where(CallEvent.kind == "gather").order_by(CallEvent.id)).all()
        assert [(r.kind, r.unmatched) for r in rows] == [("gather", False), ("gather", True)]


def test_late_answers_after_the_survey_was_finished_by_hand_are_kept_not_applied(client, app, handed):
    first, second, third = handed["items"][:3]
    assert generic(client, gather_event(handed, first, "7")).status_code == 204
    assert generic(client, gather_event(handed, second, "2")).status_code == 204
    # the customer hung up: the call ended, the specialist finishes with what was given
    end_call(client, handed)
    r = client.post(f"/tasks/{handed['task']}/survey/finish", headers=HX)
    assert r.status_code == 200, r.get_data(as_text=True)
    before = state(app, handed)
    assert before["task"] == ("done", "reached_issue") and before["status"] == "completed"
    assert generic(client, gather_event(handed, third, "1")).status_code == 204
    after = state(app, handed)
    assert after["answers"] == before["answers"] and third not in after["answers"]
    assert after["ivr"] == ("finished", 1)
    with app.app_context():
        stored = db.session.scalars(select(CallEvent).where(CallEvent.kind == "gather")).all()
        assert len(stored) == 3 and all(e.applied_at is not None for e in stored)


def test_generic_item_without_digits_is_a_gather_event():
    from care.telephony.generic import map_generic

    event = map_generic({"event_id": "e1", "attempt_id": 1, "survey_item": "greeted_at_once"})
    assert event.status is None and event.digits is None


# -------------------------------------------------------------------------- Twilio


def test_twilio_survey_question_by_question(client, app, handed):
    items = handed["items"]
    r = twiml_get(client, handed["attempt"])
    assert r.status_code == 200 and r.mimetype == "text/xml"
    doc = ET.fromstring(r.data)
    says = doc.findall("Say")
    gather = doc.find("Gather")
    assert says and says[0].get("language") == "zh-CN"  # the greeting
    assert gather.get("numDigits") == "1" and gather.get("input") == "dtmf"
    assert gather.get("actionOnEmptyResult") == "true"
    assert gather.get("action") == f"{BASE}/webhooks/twilio/gather?attempt={handed['attempt']}&item={items[0]}"
    with app.app_context():
        text = next(i.text_zh for i in survey_service.current_version(db.session, "ssi").items if i.code == items[0])
    assert gather.find("Say").text.startswith(text)
    # the key: stored, applied, and Twilio is sent on to the next question
    r = twilio_gather(client, handed, items[0], {"CallSid": CHILD, "Digits": "6"})
    assert r.status_code == 200 and r.mimetype == "text/xml"
    redirect = ET.fromstring(r.data).find("Redirect")
    assert redirect.text == f"{BASE}/calls/twiml/{handed['attempt']}/survey?after={items[0]}"
    assert state(app, handed)["answers"] == {items[0]: (6, False, "ivr")}
    r = twiml_get(client, handed["attempt"], after=items[0])
    doc = ET.fromstring(r.data)
    assert doc.find("Gather").get("action").endswith(f"&item={items[1]}") and len(doc.findall("Say")) == 0
    # the last item: thanks and hang up
    r = twiml_get(client, handed["attempt"], after=items[-1])
    doc = ET.fromstring(r.data)
    assert doc.find("Hangup") is not None and doc.find("Gather") is None


@pytest.mark.parametrize("digits", ["0", "8", "*", "#", ""])
def test_twilio_keys_outside_the_scale_are_unanswered(client, app, handed, digits):
    item = handed["items"][0]
    params = {"CallSid": CHILD} | ({"Digits": digits} if digits else {})
    assert twilio_gather(client, handed, item, params).status_code == 200
    assert state(app, handed)["answers"][item] == (None, True, "ivr")


def test_twilio_duplicate_callback_changes_nothing(client, app, handed):
    item = handed["items"][0]
    assert twilio_gather(client, handed, item, {"CallSid": CHILD, "Digits": "3"}).status_code == 200
    r = twilio_gather(client, handed, item, {"CallSid": CHILD, "Digits": "7"})  # Twilio's retry, same call and item
    assert r.status_code == 200 and ET.fromstring(r.data).find("Redirect") is not None
    assert state(app, handed)["answers"] == {item: (3, False, "ivr")}


def test_twilio_unknown_attempt_or_item(client, app, handed):
    r = twilio_gather(client, handed, handed["items"][0], {"CallSid": CHILD, "Digits": "5"}, attempt="garbage")
    assert r.status_code == 200 and ET.fromstring(r.data).find("Hangup") is not None
    r = twilio_gather(client, handed, "no_such_item", {"CallSid": CHILD, "Digits": "5"})
    assert r.status_code == 200
    assert state(app, handed)["answers"] == {}
    # a survey TwiML for a call without a survey: thanks and hang up
    r = twiml_get(client, 987654)
    assert r.status_code == 200 and ET.fromstring(r.data).find("Hangup") is not None


def test_twilio_bad_signature_is_403(client, app, handed):
    path = f"/webhooks/twilio/gather?attempt={handed['attempt']}&item={handed['items'][0]}"
    assert client.post(path, data={"CallSid": CHILD, "Digits": "5"}, headers={"X-Twilio-Signature": "AAAA"}).status_code == 403
    r = client.post(f"/calls/twiml/{handed['attempt']}/survey", data={"CallSid": CHILD}, headers={"X-Twilio-Signature": "x"})
    assert r.status_code == 403
    assert state(app, handed)["answers"] == {}


def test_gather_without_item_still_204(client, app, handed):
    path = f"/webhooks/twilio/gather?attempt={handed['attempt']}"
    params = {"CallSid": CHILD, "Digits": "5"}
    sig = RequestValidator(TOKEN).compute_signature(BASE + path, params)
    assert client.post(path, data=params, headers={"X-Twilio-Signature": sig}).status_code == 204


# ---------------------------------------------------------------------- TwiML shape


def _tree(xml: str):
    def norm(el):
        return (el.tag, dict(el.attrib), (el.text or "").strip(), [norm(c) for c in el])

    return norm(ET.fromstring(xml))


def test_twiml_matches_twilios_own_builder():
    ours = twilio_adapter.survey_question_twiml(
        base=BASE, attempt_id=7, item="greeted_at_once", prompt="有人第一时间接待您", intro="您好"
    )
    theirs = VoiceResponse()
    theirs.say("您好", language="zh-CN")
    g = theirs.gather(input="dtmf", num_digits=1, timeout=twilio_adapter.GATHER_TIMEOUT, method="POST",
                      action=f"{BASE}/webhooks/twilio/gather?attempt=7&item=greeted_at_once", action_on_empty_result=True)  # fmt: skip
    g.say("有人第一时间接待您", language="zh-CN")
    assert _tree(ours) == _tree(str(theirs))
    two = twilio_adapter.survey_question_twiml(base=BASE, attempt_id=7, item="nps", prompt="推荐", num_digits=2)
    theirs = VoiceResponse()
    theirs.gather(input="dtmf", num_digits=2, timeout=twilio_adapter.GATHER_TIMEOUT, method="POST", finish_on_key="#",
                  action=f"{BASE}/webhooks/twilio/gather?attempt=7&item=nps", action_on_empty_result=True).say("推荐", language="zh-CN")  # fmt: skip
    assert _tree(two) == _tree(str(theirs))
    end = VoiceResponse()
    end.say("再见", language="zh-CN")
    end.hangup()
    assert _tree(twilio_adapter.survey_end_twiml("再见")) == _tree(str(end))
    nxt = VoiceResponse()
    nxt.redirect(f"{BASE}/calls/twiml/7/survey?after=a_b", method="POST")
    assert _tree(twilio_adapter.survey_next_twiml(base=BASE, attempt_id=7, item="a_b")) == _tree(str(nxt))


def test_the_ivr_outlives_the_specialists_leg_for_a_while(client, app, handed):
    """Twilio ends the specialist's leg (the attempt) at the hand-over; the customer goes
    on answering: the panel follows for IVR_WINDOW, then says the call ended."""
    end_call(client, handed)
    url = f"/tasks/{handed['task']}/survey"
    html = client.get(url, headers=HX).get_data(as_text=True)
    assert 'hx-trigger="every 2s"' in html and "is taking the automated survey" in html
    assert twilio_gather(client, handed, handed["items"][0], {"CallSid": CHILD, "Digits": "4"}).status_code == 200
    assert state(app, handed)["answers"] == {handed["items"][0]: (4, False, "ivr")}
    app.config["CARE_NOW"] = (MORNING + svc.IVR_WINDOW + timedelta(minutes=1)).isoformat()
    r = client.get(url, headers={**HX, "HX-Trigger": f"survey-{handed['task']}"})
    html = r.get_data(as_text=True)
    assert 'hx-trigger="every 2s"' not in html and "The call ended during the automated survey" in html
    assert "tasks-changed" in r.headers.get("HX-Trigger", "")  # once: the outcome panel and call area refresh
    assert "Finish survey" in html

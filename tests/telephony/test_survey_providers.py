"""The providers' side of the automated survey (issue 11 item 3): the hand-over requests,
the simulator's survey events and its talk time."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime
from types import SimpleNamespace

import pytest
import requests

from care.telephony import generic, sim, twilio
from care.telephony.base import ProviderError
from tests.telephony.test_providers import FakeResponse

ITEMS = [{"code": "greeted_at_once", "prompt": "有人第一时间接待您", "min": 1, "max": 7},
         {"code": "overall", "prompt": "总体满意度", "min": 1, "max": 7}]  # fmt: skip
NOW = datetime(2026, 5, 11, 2, 0, tzinfo=UTC)


@pytest.fixture
def posts(monkeypatch):
    calls = []
    answer = {"response": FakeResponse(200, {})}

    def fake_post(url, **kw):
        calls.append((url, kw))
        if isinstance(answer["response"], Exception):
            raise answer["response"]
        return answer["response"]

    monkeypatch.setattr(requests, "post", fake_post)
    return calls, answer


def test_twilio_redirects_the_customers_leg(posts):
    calls, answer = posts
    p = twilio.TwilioProvider("AC1", "tok", "+862800000000")
    p.start_survey(SimpleNamespace(id=42), items=ITEMS, callback_base="https://care.example", customer_call_id="CA9")
    ((url, kw),) = calls
    assert url == "https://api.twilio.com/2010-04-01/Accounts/AC1/Calls/CA9.json"
    assert dict(kw["data"]) == {"Url": "https://care.example/calls/twiml/42/survey", "Method": "POST"}
    with pytest.raises(ProviderError, match="customer's leg"):
        p.start_survey(SimpleNamespace(id=42), items=ITEMS, callback_base="https://care.example")
    answer["response"] = FakeResponse(404, {"code": 20404})
    with pytest.raises(ProviderError, match="HTTP 404"):
        p.start_survey(SimpleNamespace(id=42), items=ITEMS, callback_base="https://care.example", customer_call_id="CA9")
    answer["response"] = requests.ConnectionError("down")
    with pytest.raises(ProviderError, match="could not be reached"):
        p.start_survey(SimpleNamespace(id=42), items=ITEMS, callback_base="https://care.example", customer_call_id="CA9")


def test_generic_posts_the_survey_to_the_bridge(posts):
    calls, answer = posts
    p = generic.GenericProvider("https://pbx.example/bridge")
    p.start_survey(SimpleNamespace(id=42, provider_call_id="PBX7"), items=ITEMS, callback_base="https://care.example")
    ((url, kw),) = calls
    assert url == "https://pbx.example/bridge"
    assert kw["json"] == {"action": "survey", "attempt_id": 42, "call_id": "PBX7", "items": ITEMS,
                          "callback_url": "https://care.example/webhooks/events"}  # fmt: skip
    answer["response"] = FakeResponse(500)
    with pytest.raises(ProviderError, match="HTTP 500"):
        p.start_survey(SimpleNamespace(id=42, provider_call_id="PBX7"), items=ITEMS, callback_base="x")
    with pytest.raises(ProviderError, match="not configured"):
        generic.GenericProvider(None).start_survey(SimpleNamespace(id=1, provider_call_id=None), items=ITEMS, callback_base="x")


def test_sim_survey_events():
    attempt = SimpleNamespace(id=42, provider_call_id="SIMabc", answered_at=NOW)
    events = sim.survey_events_for(attempt, ITEMS, {"6": 1, "none": 1}, random.Random(2), NOW, step_s=1.0)
    assert [e["survey_item"] for e in events] == ["greeted_at_once", "overall", None]
    assert {e["digits"] for e in events[:2]} <= {"6", None}
    assert all(e["status"] is None for e in events[:2]) and events[-1]["status"] == "completed"
    assert len({e["event_id"] for e in events}) == 3
    for e in events:  # each is a valid generic event
        generic.map_generic(json.loads(json.dumps(e)))


def test_sim_hang_up_waits_for_the_talk_and_not_after_a_hand_over(monkeypatch):
    posted = []
    monkeypatch.setattr(requests, "post", lambda url, data, **kw: posted.append(json.loads(data)) or FakeResponse(204))
    attempt = SimpleNamespace(id=7, provider_call_id="SIMhand")
    events = sim.events_for(attempt, "answered", NOW, call_id="SIMhand")
    sim._handed_event("SIMhand").set()  # handed over before the customer would have hung up
    sim._post_all("http://x/webhooks/events", "secret", events, 0, talk=60)
    assert [e["status"] for e in posted] == ["initiated", "ringing", "answered"]
    posted.clear()
    events = sim.events_for(SimpleNamespace(id=8, provider_call_id="SIMtalk"), "answered", NOW, call_id="SIMtalk")
    sim._post_all("http://x/webhooks/events", "secret", events, 0, talk=0)
    assert [e["status"] for e in posted] == ["initiated", "ringing", "answered", "completed"]


def test_sim_talk_and_survey_mix_from_config(app):
    assert sim.SimProvider.from_app(app).talk == float(app.config["CARE_SIM_DELAY"])  # testing: as the delay
    app.config.update(CARE_SIM_TALK=12, CARE_SIM_SURVEY_MIX="7=1")
    provider = sim.SimProvider.from_app(app)
    assert provider.talk == 12 and provider.survey_weights == {"7": 1}
    attempt = SimpleNamespace(id=9, provider_call_id="SIMcfg", answered_at=NOW)
    provider.start_survey(attempt, items=ITEMS, callback_base="http://x")  # no thread in tests
    assert [e["digits"] for e in provider.last_events[:2]] == ["7", "7"]
    assert sim._handed_event("SIMcfg").is_set()

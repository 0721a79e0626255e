"""The provider adapters: request shapes (requests.post monkeypatched), TwiML, the sim."""

from __future__ import annotations

import json
import random
import xml.etree.ElementTree as ET
from datetime import UTC, datetime
from types import SimpleNamespace

import pytest
import requests

from care.telephony import generic, sim, twilio
from care.telephony.base import ProviderError
from care.telephony.providers import get_provider
from care.telephony.signatures import GENERIC_HEADER, verify_generic

ATTEMPT = SimpleNamespace(id=42, provider_call_id=None)
KW = dict(agent_extension="sip:8001@pbx.example", to_number="+8613800138000", callback_base="https://care.example", caller_id="+862885550000")


class FakeResponse:
    def __init__(self, status=201, body=None):
        self.status_code = status
        self._body = body

    def json(self):
        if self._body is None:
            raise ValueError("no json")
        return self._body


class Calls(list):
    answer: dict


@pytest.fixture
def posts(monkeypatch):
    calls = Calls()
    answer = {"response": FakeResponse(201, {"sid": "CA123"})}

    def fake_post(url, **kw):
        calls.append((url, kw))
        if isinstance(answer["response"], Exception):
            raise answer["response"]
        return answer["response"]

    monkeypatch.setattr(requests, "post", fake_post)
    calls.answer = answer
    return calls


def test_get_provider(app):
    assert get_provider(app).name == "sim"
    app.config["CARE_TELEPHONY"] = "twilio"
    assert get_provider(app).name == "twilio"
    app.config["CARE_TELEPHONY"] = "generic"
    assert get_provider(app).name == "generic"
    app.config["CARE_TELEPHONY"] = "nope"
    with pytest.raises(ValueError):
        get_provider(app)


def test_twilio_request_shape(posts):
    p = twilio.TwilioProvider("AC1", "tok", "+862885550000")
    assert p.originate(ATTEMPT, **KW) == "CA123"
    url, kw = posts[0]
    assert url == "https://api.twilio.com/2010-04-01/Accounts/AC1/Calls.json"
    assert kw["auth"] == ("AC1", "tok")
    data = kw["data"]
    fields = dict(data)
    assert fields["To"] == "sip:8001@pbx.example"  # the agent's leg first
    assert fields["From"] == "+862885550000"
    assert fields["Url"] == "https://care.example/calls/twiml/42"
    assert fields["StatusCallback"] == "https://care.example/webhooks/twilio/status?attempt=42"
    assert [v for k, v in data if k == "StatusCallbackEvent"] == ["initiated", "ringing", "answered", "completed"]
    assert "+8613800138000" not in json.dumps(data)  # the customer is dialled by the TwiML


@pytest.mark.parametrize(
    "response, message",
    [
        (FakeResponse(400, {"code": 21211}), "HTTP 400, error 21211"),
        (FakeResponse(201, {}), "no call id"),
        (requests.ConnectionError("boom +8613800138000"), "could not be reached"),
    ],
)
def test_twilio_errors(posts, response, message):
    posts.answer["response"] = response
    with pytest.raises(ProviderError) as info:
        twilio.TwilioProvider("AC1", "tok", None).originate(ATTEMPT, **KW)
    assert message in str(info.value) and "+86138" not in str(info.value)


def test_twilio_unconfigured():
    with pytest.raises(ProviderError):
        twilio.TwilioProvider(None, None, None).originate(ATTEMPT, **KW)


def test_twiml_is_valid():
    xml = twilio.dial_twiml(base="https://care.example", attempt_id=42, to_number="+8613800138000", caller_id="+862885550000")
    root = ET.fromstring(xml.split("?>", 1)[1])
    assert root.tag == "Response"
    dial = root.find("Dial")
    assert dial.get("action") == "https://care.example/webhooks/twilio/dial?attempt=42"
    assert dial.get("record") == "record-from-answer" and dial.get("timeout") == "25"
    assert dial.get("callerId") == "+862885550000"
    number = dial.find("Number")
    assert number.text == "+8613800138000"
    assert number.get("statusCallback") == "https://care.example/webhooks/twilio/status?attempt=42&amp;leg=customer".replace("&amp;", "&")
    # the same document as the twilio package's own TwiML classes build
    from twilio.twiml.voice_response import Dial, VoiceResponse

    vr = VoiceResponse()
    d = Dial(action=dial.get("action"), method="POST", record="record-from-answer", timeout=25, caller_id="+862885550000")
    d.number(
        "+8613800138000",
        status_callback=number.get("statusCallback"),
        status_callback_event="initiated ringing answered completed",
        status_callback_method="POST",
    )
    vr.append(d)
    theirs = ET.fromstring(str(vr).split("?>", 1)[1])
    assert _canon(theirs) == _canon(root)


def _canon(el):
    return (el.tag, sorted(el.attrib.items()), (el.text or "").strip(), [_canon(c) for c in el])


def test_generic_request_shape(posts):
    posts.answer["response"] = FakeResponse(200, {"call_id": "pbx-7"})
    p = generic.GenericProvider("https://pbx.example/originate")
    assert p.originate(ATTEMPT, **KW) == "pbx-7"
    url, kw = posts[0]
    assert url == "https://pbx.example/originate"
    assert kw["json"] == {
        "attempt_id": 42,
        "agent_extension": "sip:8001@pbx.example",
        "to": "+8613800138000",
        "caller_id": "+862885550000",
        "callback_url": "https://care.example/webhooks/events",
    }


@pytest.mark.parametrize("response", [FakeResponse(500, None), FakeResponse(200, {}), FakeResponse(200, None)])
def test_generic_errors(posts, response):
    posts.answer["response"] = response
    with pytest.raises(ProviderError):
        generic.GenericProvider("https://pbx.example/originate").originate(ATTEMPT, **KW)
    with pytest.raises(ProviderError):
        generic.GenericProvider(None).originate(ATTEMPT, **KW)


def test_sim_mix():
    assert sim.parse_mix("answered=1, busy=0") == {"answered": 1, "busy": 0}
    for bad in ("ringing=3", "busy", "busy=-1", "busy=0", "busy=x"):
        with pytest.raises(ValueError):
            sim.parse_mix(bad)


def test_sim_events():
    now = datetime(2026, 5, 11, 2, 0, tzinfo=UTC)
    answered = sim.events_for(ATTEMPT, "answered", now, call_id="SIM1", duration_s=90)
    assert [e["status"] for e in answered] == ["initiated", "ringing", "answered", "completed"]
    assert answered[-1]["duration_s"] == 90 and answered[-1]["attempt_id"] == 42
    assert [e["sequence"] for e in answered] == [0, 1, 2, 3]
    assert len({e["event_id"] for e in answered}) == 4
    assert [e["status"] for e in sim.events_for(ATTEMPT, "busy", now)] == ["initiated", "ringing", "busy"]
    with pytest.raises(ValueError):
        sim.events_for(ATTEMPT, "ringing", now)


def test_sim_signed():
    body, headers = sim.signed("s3cret", {"a": 1}, timestamp=1_700_000_000)
    assert verify_generic(["s3cret"], headers[GENERIC_HEADER], body, 1_700_000_000).ok


def test_sim_originate_without_thread(posts):
    p = sim.SimProvider(secret="s", mix="busy=1", delay=0, thread=False, rng=random.Random(1))
    call_id = p.originate(ATTEMPT, **KW)
    assert call_id.startswith("SIM")
    assert [e["status"] for e in p.last_events] == ["initiated", "ringing", "busy"]
    assert p.originate(ATTEMPT, **KW, force="answered") and p.last_events[-1]["status"] == "completed"
    assert posts == []  # no thread, nothing posted


def test_sim_thread_posts_signed_events(posts):
    p = sim.SimProvider(secret="s", mix="busy=1", delay=0, thread=True)
    p.originate(ATTEMPT, **KW)
    import threading

    for t in threading.enumerate():
        if t.name == "sim-call-42":
            t.join(timeout=5)
    assert [json.loads(kw["data"])["status"] for _, kw in posts] == ["initiated", "ringing", "busy"]
    url, kw = posts[0]
    assert url == "https://care.example/webhooks/events"
    assert verify_generic(["s"], kw["headers"][GENERIC_HEADER], kw["data"], int(datetime.now(UTC).timestamp())).ok


def test_sim_from_app(app):
    p = get_provider(app)
    assert p.thread is False  # app.testing
    assert p.secret == "test-webhook-secret"

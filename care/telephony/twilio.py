"""Twilio: REST ``Calls.json`` create (agent leg first) and the TwiML that dials the customer.

``originate`` rings the agent (``To`` = their extension / SIP URI, ``From`` = our caller
id) with ``Url`` = our TwiML endpoint (/calls/twiml/<attempt id>), which ``<Dial>``s the
customer with ``record-from-answer``; status callbacks go to
/webhooks/twilio/status?attempt=ID, the customer's ``DialCallStatus`` to the ``<Dial
action>`` /webhooks/twilio/dial?attempt=ID. Only ``requests`` and the standard library:
the ``twilio`` package is a test dependency (it checks our TwiML and signatures).
"""

from __future__ import annotations

import hashlib
import json
import logging
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from urllib.parse import quote

import requests

from care.telephony.base import TIMEOUT, Provider, ProviderError

log = logging.getLogger("care.telephony")

API = "https://api.twilio.com/2010-04-01/Accounts/{sid}/Calls.json"
STATUS_EVENTS = ("initiated", "ringing", "answered", "completed")
DIAL_TIMEOUT = 25  # seconds the customer's phone rings


def status_url(base: str, attempt_id: int, leg: str | None = None) -> str:
    url = f"{base}/webhooks/twilio/status?attempt={attempt_id}"
    return url + (f"&leg={leg}" if leg else "")


def dial_url(base: str, attempt_id: int) -> str:
    return f"{base}/webhooks/twilio/dial?attempt={attempt_id}"


def twiml_url(base: str, attempt_id: int) -> str:
    return f"{base}/calls/twiml/{attempt_id}"


def _xml(response: ET.Element) -> str:
    return '<?xml version="1.0" encoding="UTF-8"?>' + ET.tostring(response, encoding="unicode")


def dial_twiml(*, base: str, attempt_id: int, to_number: str, caller_id: str | None) -> str:
    """``<Response><Dial …><Number …>+86…</Number></Dial></Response>`` for an attempt."""
    response = ET.Element("Response")
    attrs = {
        "action": dial_url(base, attempt_id),
        "method": "POST",
        "record": "record-from-answer",
        "timeout": str(DIAL_TIMEOUT),
    }
    if caller_id:
        attrs["callerId"] = caller_id
    dial = ET.SubElement(response, "Dial", attrs)
    number = ET.SubElement(
        dial,
        "Number",
        {
            "statusCallback": status_url(base, attempt_id, "customer"),
            "statusCallbackEvent": " ".join(STATUS_EVENTS),
            "statusCallbackMethod": "POST",
        },
    )
    number.text = to_number
    return _xml(response)


# --- the IVR survey (issue 11 item 3) ---------------------------------------------------
#
# The specialist hands the customer to the survey: the customer's leg is redirected
# (REST update of that call, ``Url`` = :func:`survey_url`) out of the <Dial>; the agent's
# leg ends. Each question is one TwiML document: ``<Gather input="dtmf" numDigits="1"
# action=/webhooks/twilio/gather?attempt=…&item=… actionOnEmptyResult="true">`` around a
# Chinese ``<Say>``; the gather webhook stores the key and answers ``<Redirect>`` back to
# :func:`survey_url` with ``after=<item>``, which asks the next question or says goodbye.
# Written with xml.etree like the dial TwiML (the ``twilio`` package is a test
# dependency only: tests parse these documents with it and compare with VoiceResponse).

SAY_LANGUAGE = "zh-CN"
GATHER_TIMEOUT = 6  # seconds Twilio waits for a key before posting an empty result


def survey_url(base: str, attempt_id: int, after: str | None = None) -> str:
    url = f"{base}/calls/twiml/{attempt_id}/survey"
    return url + (f"?after={quote(after, safe='')}" if after else "")


def gather_url(base: str, attempt_id: int, item: str) -> str:
    return f"{base}/webhooks/twilio/gather?attempt={attempt_id}&item={quote(item, safe='')}"


def _say(parent: ET.Element, text: str) -> None:
    ET.SubElement(parent, "Say", {"language": SAY_LANGUAGE}).text = text


def survey_question_twiml(
    *, base: str, attempt_id: int, item: str, prompt: str, num_digits: int = 1, intro: str | None = None
) -> str:
    """One question: ``[<Say>intro</Say>]<Gather …><Say>prompt</Say></Gather>``; a
    two-key question (0–10) ends early on ``#``."""
    response = ET.Element("Response")
    if intro:
        _say(response, intro)
    attrs = {
        "input": "dtmf",
        "numDigits": str(num_digits),
        "timeout": str(GATHER_TIMEOUT),
        "action": gather_url(base, attempt_id, item),
        "method": "POST",
        "actionOnEmptyResult": "true",
    }
    if num_digits > 1:
        attrs["finishOnKey"] = "#"
    _say(ET.SubElement(response, "Gather", attrs), prompt)
    return _xml(response)


def survey_next_twiml(*, base: str, attempt_id: int, item: str) -> str:
    """The gather webhook's answer: back to the survey, after ``item``."""
    response = ET.Element("Response")
    ET.SubElement(response, "Redirect", {"method": "POST"}).text = survey_url(base, attempt_id, after=item)
    return _xml(response)


def survey_end_twiml(text: str) -> str:
    """The last words and the hang-up (also for a survey we do not know)."""
    response = ET.Element("Response")
    _say(response, text)
    ET.SubElement(response, "Hangup")
    return _xml(response)


class TwilioProvider(Provider):
    name = "twilio"

    def __init__(self, account_sid: str | None, auth_token: str | None, from_number: str | None):
        self.account_sid = account_sid
        self.auth_token = auth_token
        self.from_number = from_number

    @classmethod
    def from_app(cls, app) -> TwilioProvider:
        c = app.config
        return cls(c.get("CARE_TWILIO_ACCOUNT_SID"), c.get("CARE_TWILIO_AUTH_TOKEN"), c.get("CARE_TWILIO_FROM"))

    def originate(self, attempt, *, agent_extension, to_number, callback_base, caller_id, force=None):
        if not (self.account_sid and self.auth_token):
            raise ProviderError("Twilio is not configured (account SID and auth token).")
        if not agent_extension:
            raise ProviderError("Your user has no phone extension: ask the administrator to set it.")
        data: list[tuple[str, str]] = [
            ("To", agent_extension),
            ("From", caller_id or self.from_number or ""),
            ("Url", twiml_url(callback_base, attempt.id)),
            ("Method", "POST"),
            ("StatusCallback", status_url(callback_base, attempt.id)),
            ("StatusCallbackMethod", "POST"),
            *(("StatusCallbackEvent", e) for e in STATUS_EVENTS),
            ("Timeout", str(DIAL_TIMEOUT)),
        ]
        response = self._post(API.format(sid=self.account_sid), data, attempt_id=attempt.id, what="originate")
        if response.status_code >= 300:
            code = None
            try:
                code = response.json().get("code")
            except (ValueError, AttributeError):
                pass
            log.warning("twilio originate for attempt %s: HTTP %s code %s", attempt.id, response.status_code, code)
            raise ProviderError(
                f"Twilio refused the call (HTTP {response.status_code}"
                + (f", error {code}" if code else "")
                + ")."
            )
        try:
            sid = response.json().get("sid")
        except (ValueError, AttributeError):
            sid = None
        if not sid or not isinstance(sid, str):
            raise ProviderError("Twilio gave no call id.")
        return sid[:80]

    def start_survey(self, attempt, *, items, callback_base, customer_call_id=None) -> None:
        """Redirect the customer's leg (``customer_call_id``, the <Dial>'s child call) to
        the survey's TwiML; the agent's leg ends as the <Dial> does."""
        if not (self.account_sid and self.auth_token):
            raise ProviderError("Twilio is not configured (account SID and auth token).")
        if not customer_call_id:
            raise ProviderError("Twilio has not reported the customer's leg of this call yet.")
        url = API.format(sid=self.account_sid).removesuffix(".json") + f"/{quote(customer_call_id, safe='')}.json"
        data = [("Url", survey_url(callback_base, attempt.id)), ("Method", "POST")]
        response = self._post(url, data, attempt_id=attempt.id, what="survey")
        if response.status_code >= 300:
            log.warning("twilio survey for attempt %s: HTTP %s", attempt.id, response.status_code)
            raise ProviderError(f"Twilio refused to move the call to the survey (HTTP {response.status_code}).")

    def _post(self, url: str, data: list[tuple[str, str]], *, attempt_id: int, what: str) -> requests.Response:
        """POST to Twilio's REST API; ProviderError (safe to show) when it cannot be reached."""
        try:
            return requests.post(url, data=data, auth=(self.account_sid, self.auth_token), timeout=TIMEOUT)
        except requests.RequestException as exc:
            log.warning("twilio %s for attempt %s: %s", what, attempt_id, type(exc).__name__)
            raise ProviderError("Twilio could not be reached.") from None


def gather_event_id(headers_token: str | None, params: Mapping[str, str], attempt_ref: str | None, item: str | None) -> str:
    """Twilio's idempotency token when sent, else one id per (call, attempt, survey item)."""
    if headers_token:
        return f"twilio:gather:{headers_token.strip()[:90]}"
    key = json.dumps([params.get("CallSid") or "", attempt_ref or "", item or ""])
    return f"twilio:gather:{hashlib.sha256(key.encode()).hexdigest()[:32]}"

"""The generic PBX bridge (Asterisk/FreeSWITCH/Chinese cloud call centres).

``originate`` POSTs JSON ``{attempt_id, agent_extension, to, caller_id, callback_url}``
to CARE_GENERIC_URL and expects ``{"call_id": "…"}``; the bridge then posts signed
generic events (``X-Care-Signature``) to ``callback_url`` (our /webhooks/events), which
:func:`map_generic` reads (interfaces.md "Webhooks").
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import requests

from care.domain.callstate import RANKS, CallStatus, NormalizedEvent, map_q850, q850_code
from care.telephony.base import TIMEOUT, EventError, Provider, ProviderError

log = logging.getLogger("care.telephony")

MAX_EVENT_ID = 120
MAX_SURVEY_ITEM = 40  # a survey item's code


class GenericProvider(Provider):
    name = "generic"

    def __init__(self, url: str | None):
        self.url = url

    @classmethod
    def from_app(cls, app) -> GenericProvider:
        return cls(app.config.get("CARE_GENERIC_URL"))

    def _post(self, body: dict, *, attempt_id: int, what: str, refused: str) -> requests.Response:
        """POST ``body`` to the bridge; ProviderError (safe to show) when it cannot."""
        if not self.url:
            raise ProviderError("The PBX bridge is not configured (CARE_GENERIC_URL).")
        try:
            response = requests.post(self.url, json=body, timeout=TIMEOUT)
        except requests.RequestException as exc:
            log.warning("generic %s for attempt %s: %s", what, attempt_id, type(exc).__name__)
            raise ProviderError("The PBX bridge could not be reached.") from None
        if response.status_code >= 300:
            log.warning("generic %s for attempt %s: HTTP %s", what, attempt_id, response.status_code)
            raise ProviderError(f"The PBX bridge refused the {refused} (HTTP {response.status_code}).")
        return response

    def originate(self, attempt, *, agent_extension, to_number, callback_base, caller_id, force=None):
        body = {
            "attempt_id": attempt.id,
            "agent_extension": agent_extension,
            "to": to_number,
            "caller_id": caller_id,
            "callback_url": f"{callback_base}/webhooks/events",
        }
        response = self._post(body, attempt_id=attempt.id, what="originate", refused="call")
        try:
            call_id = response.json().get("call_id")
        except (ValueError, AttributeError):
            call_id = None
        if not call_id or not isinstance(call_id, str | int):
            raise ProviderError("The PBX bridge gave no call id.")
        return str(call_id)[:80]

    def start_survey(self, attempt, *, items, callback_base, customer_call_id=None) -> None:
        """POST ``{"action": "survey", attempt_id, call_id, items: [{code, prompt, min,
        max}], callback_url}`` to the bridge; it plays each prompt, collects one key (two
        for a 0–10 scale) and posts an event with ``digits`` (absent: no key) and
        ``survey_item`` per item to ``callback_url``."""
        body = {
            "action": "survey",
            "attempt_id": attempt.id,
            "call_id": attempt.provider_call_id,
            "items": list(items),
            "callback_url": f"{callback_base}/webhooks/events",
        }
        self._post(body, attempt_id=attempt.id, what="survey", refused="survey")


# ------------------------------------------------------------------------ events


def _int_or_none(value: Any, name: str) -> int | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise EventError(f"{name} must be a whole number")
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().lstrip("-").isdigit() and value.strip().isascii():
        return int(value.strip())
    raise EventError(f"{name} must be a whole number")


def _parse_when(value: Any) -> datetime | None:
    if value is None or value == "":
        return None
    try:
        if isinstance(value, bool):
            raise EventError("occurred_at is not a time")
        if isinstance(value, int | float):
            return datetime.fromtimestamp(value, UTC)
        if isinstance(value, str):
            when = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
            return when if when.tzinfo else when.replace(tzinfo=UTC)
    except (ValueError, OverflowError, OSError) as exc:
        raise EventError("occurred_at is not a time") from exc
    raise EventError("occurred_at is not a time")


def _text(value: Any, name: str, limit: int) -> str | None:
    if value is None:
        return None
    if isinstance(value, int | float) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str):
        raise EventError(f"{name} must be text")
    value = value.strip()
    if len(value) > limit:
        raise EventError(f"{name} is too long")
    return value or None


def map_generic(body: Mapping[str, Any], *, event_id: str | None = None) -> NormalizedEvent:
    """A generic/simulator JSON event (interfaces.md) → ``NormalizedEvent``.

    Raises ``EventError`` for a missing ``event_id``, an unknown ``status`` or a field of
    the wrong type. ``status`` may be absent for an event that only carries data (a
    recording link, IVR digits) or derived from ``q850_cause``.
    """
    if not isinstance(body, Mapping):
        raise EventError("the body must be a JSON object")
    eid = event_id or _text(body.get("event_id"), "event_id", MAX_EVENT_ID)
    if not eid:
        raise EventError("event_id is missing")
    raw_cause = body.get("q850_cause")
    if raw_cause is not None and not isinstance(raw_cause, int | str) or isinstance(raw_cause, bool):
        raise EventError("q850_cause must be a number or a cause name")
    status = body.get("status")
    if status is not None and (not isinstance(status, str) or status not in RANKS):
        raise EventError("unknown status")
    if status is None and raw_cause not in (None, ""):
        # answered=True: a normal clearing is "completed"; the fold derives no_answer
        # from the missing answer evidence.
        status = map_q850(raw_cause, answered=True)
    duration = _int_or_none(body.get("duration_s"), "duration_s")
    recording = _text(body.get("recording_url"), "recording_url", 500)
    digits = _text(body.get("digits"), "digits", 32)
    # An IVR answer names its item; with no key pressed it has no digits (unanswered).
    survey_item = _text(body.get("survey_item"), "survey_item", MAX_SURVEY_ITEM)
    if status is None and not (recording or digits or survey_item or duration is not None):
        raise EventError("status is missing")
    answered = status in (CallStatus.ANSWERED, CallStatus.MACHINE) or (
        status == CallStatus.COMPLETED and (duration or 0) > 0
    )
    return NormalizedEvent(
        event_id=eid,
        status=status,
        provider="generic",
        raw_status=status or "",
        provider_call_id=_text(body.get("provider_call_id"), "provider_call_id", 80),
        attempt_id=_text(body.get("attempt_id"), "attempt_id", 200),
        leg="customer",
        sequence=_int_or_none(body.get("sequence"), "sequence"),
        occurred_at=_parse_when(body.get("occurred_at")),
        duration_s=duration,
        q850_cause=q850_code(raw_cause) if isinstance(raw_cause, int | str) else None,
        answered_by="machine" if status == CallStatus.MACHINE else None,
        answered=answered,
        recording_url=recording,
        digits=digits,
        raw=dict(body),
    )

"""The generic PBX bridge (Asterisk/FreeSWITCH/Chinese cloud call centres).

``originate`` POSTs JSON ``{attempt_id, agent_extension, to, caller_id, callback_url}``
to CARE_GENERIC_URL and expects ``{"call_id": "…"}``; the bridge then posts signed
generic events (``X-Care-Signature``) to ``callback_url`` (our /webhooks/events).
"""

from __future__ import annotations

import logging

import requests

from care.telephony.base import TIMEOUT, Provider, ProviderError

log = logging.getLogger("care.telephony")


class GenericProvider(Provider):
    name = "generic"

    def __init__(self, url: str | None):
        self.url = url

    @classmethod
    def from_app(cls, app) -> GenericProvider:
        return cls(app.config.get("CARE_GENERIC_URL"))

    def originate(self, attempt, *, agent_extension, to_number, callback_base, caller_id, force=None):
        if not self.url:
            raise ProviderError("The PBX bridge is not configured (CARE_GENERIC_URL).")
        body = {
            "attempt_id": attempt.id,
            "agent_extension": agent_extension,
            "to": to_number,
            "caller_id": caller_id,
            "callback_url": f"{callback_base}/webhooks/events",
        }
        try:
            response = requests.post(self.url, json=body, timeout=TIMEOUT)
        except requests.RequestException as exc:
            log.warning("generic originate for attempt %s: %s", attempt.id, type(exc).__name__)
            raise ProviderError("The PBX bridge could not be reached.") from None
        if response.status_code >= 300:
            log.warning("generic originate for attempt %s: HTTP %s", attempt.id, response.status_code)
            raise ProviderError(f"The PBX bridge refused the call (HTTP {response.status_code}).")
        try:
            call_id = response.json().get("call_id")
        except (ValueError, AttributeError):
            call_id = None
        if not call_id or not isinstance(call_id, str | int):
            raise ProviderError("The PBX bridge gave no call id.")
        return str(call_id)[:80]

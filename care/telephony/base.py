"""The provider interface (spec/telephony.md "Adapters") and the choice by CARE_TELEPHONY.

``originate(attempt, *, agent_extension, to_number, callback_base, caller_id, force=None)``
asks the provider to ring the agent's extension and bridge to ``to_number``; it returns
the provider's call id or raises :class:`ProviderError` with a message safe to show
(never a phone number). ``callback_base`` is the public base URL of this app
(CARE_PUBLIC_BASE_URL, else the request's host URL), without a trailing slash; the
attempt's id travels with every callback URL (the correlation id). ``force`` (an
outcome) is understood by the simulator only.
"""

from __future__ import annotations

from typing import Any

PROVIDERS = ("sim", "twilio", "generic")
TIMEOUT = 10  # seconds for a provider's REST answer


class ProviderError(Exception):
    """Originating failed; ``str(exc)`` is safe for users and logs (no numbers)."""


class Provider:
    name = "base"

    def originate(
        self,
        attempt: Any,
        *,
        agent_extension: str | None,
        to_number: str,
        callback_base: str,
        caller_id: str | None,
        force: str | None = None,
    ) -> str:  # pragma: no cover - interface
        raise NotImplementedError


def get_provider(app) -> Provider:
    """The adapter named by ``CARE_TELEPHONY`` (sim, twilio, generic), configured from
    ``app.config``. Unknown names raise ValueError."""
    name = (app.config.get("CARE_TELEPHONY") or "sim").strip().lower()
    if name == "sim":
        from care.telephony.sim import SimProvider

        return SimProvider.from_app(app)
    if name == "twilio":
        from care.telephony.twilio import TwilioProvider

        return TwilioProvider.from_app(app)
    if name == "generic":
        from care.telephony.generic import GenericProvider

        return GenericProvider.from_app(app)
    raise ValueError(f"unknown CARE_TELEPHONY {name!r}; one of {', '.join(PROVIDERS)}")

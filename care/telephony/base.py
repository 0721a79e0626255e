"""The provider interface (spec/telephony.md "Adapters"); the choice by CARE_TELEPHONY is
``care.telephony.providers.get_provider``.

``originate(attempt, *, agent_extension, to_number, callback_base, caller_id, force=None)``
asks the provider to ring the agent's extension and bridge to ``to_number``; it returns
the provider's call id or raises :class:`ProviderError` with a message safe to show
(never a phone number). ``callback_base`` is the public base URL of this app
(CARE_PUBLIC_BASE_URL; the simulator's own address without it, never the Host header), without a trailing slash; the
attempt's id travels with every callback URL (the correlation id). ``force`` (an
outcome) is understood by the simulator only.
"""

from __future__ import annotations

from typing import Any

TIMEOUT = 10  # seconds for a provider's REST answer


class ProviderError(Exception):
    """Originating failed; ``str(exc)`` is safe for users and logs (no numbers)."""


class EventError(ValueError):
    """A webhook body is not an event we can read (the webhook answers 400)."""


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

    def start_survey(self, attempt: Any, *, items: list[dict], callback_base: str, customer_call_id: str | None = None) -> None:
        """Hand the customer of ``attempt`` (answered, still on the line) to the automated
        survey: ``items`` are ``{"code", "prompt", "min", "max"}`` in the order to ask.
        Answers come back as gather events (digits + survey_item). Raises ProviderError."""
        raise ProviderError("This telephony provider cannot run the automated survey.")

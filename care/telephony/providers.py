"""The provider named by CARE_TELEPHONY.

Its own module, above the adapters: ``base`` (the interface) imports none of them, so
choosing one is no circle.
"""

from __future__ import annotations

from care.telephony.base import Provider
from care.telephony.generic import GenericProvider
from care.telephony.sim import SimProvider
from care.telephony.twilio import TwilioProvider

PROVIDERS: dict[str, type[Provider]] = {"sim": SimProvider, "twilio": TwilioProvider, "generic": GenericProvider}


def get_provider(app) -> Provider:
    """The adapter named by ``CARE_TELEPHONY`` (sim, twilio, generic), configured from
    ``app.config``. Unknown names raise ValueError."""
    name = (app.config.get("CARE_TELEPHONY") or "sim").strip().lower()
    provider = PROVIDERS.get(name)
    if provider is None:
        raise ValueError(f"unknown CARE_TELEPHONY {name!r}; one of {', '.join(PROVIDERS)}")
    return provider.from_app(app)

"""Delivery adapters for outbox messages (spec/interfaces.md).

- SMS ``CARE_SMS``: ``log`` (default: a log line with the message id only, recorded as
  sent), ``twilio`` (Messages.json, basic auth, From ``CARE_TWILIO_FROM``), ``http``
  (JSON POST to ``CARE_SMS_URL`` with the idempotency key as the ``Idempotency-Key``
  header and the ``id`` field, for the gateway to drop a resend).
- Twilio's Messages API takes no idempotency key (``I-Twilio-Idempotency-Token`` is a
  header Twilio sends on its own webhooks, not one its REST API honours), so it is not
  sent: a message resent after a crash is a second SMS. The outbox makes that at most
  the one message in flight (care/messaging/outbox.py).
- ``sim`` (the SMS simulator): records the message as sent and draws its delivery
  receipt from ``CARE_SMS_SIM_MIX`` (``delivered=90,failed=5,undelivered=5``), the same
  draw for the same message.
- Delivery receipts: Twilio gets a ``StatusCallback`` (``CARE_PUBLIC_BASE_URL`` +
  ``/webhooks/twilio/sms-status?message=<outbox id>``) when a public base URL is set;
  the log adapter and the simulator give theirs at once (``receipts``), applied by the
  outbox through care/messaging/receipts.py.
- E-mail ``CARE_SMTP_URL`` (``smtp://user:pass@host:587?starttls=1&from=care@dealer.example``,
  ``smtps://`` for implicit TLS); unset: e-mails go to the log adapter.

Every adapter has ``send(message) -> provider message id`` and raises
:class:`SendError` when the provider refused or could not be reached. Nothing here
logs or raises with a phone number, an e-mail address or a message body.
"""

from __future__ import annotations

import hashlib
import logging
import smtplib
from collections.abc import Callable, Mapping
from email.message import EmailMessage
from typing import Any, Protocol
from urllib.parse import parse_qs, unquote, urlsplit

import requests

log = logging.getLogger("care.messaging")

TIMEOUT_S = 15
TWILIO_API = "https://api.twilio.com/2010-04-01"


class SendError(Exception):
    """The message could not be sent now (the text never holds customer data)."""


class Message(Protocol):
    id: int
    idempotency_key: str
    channel: str
    to_address: str
    subject: str | None
    body: str


class Adapter(Protocol):
    name: str

    def send(self, message: Message) -> str: ...


class LogAdapter:
    """Writes one log line with the message id and records the message as sent; its
    receipts say delivered (so that the pages show what a gateway would report)."""

    name = "log"

    def send(self, message: Message) -> str:
        log.info("outbox message %s (%s) delivered to the log adapter", message.id, message.channel)
        return f"log-{message.id}"

    def receipts(self, message: Message, provider_id: str) -> list[tuple[str, str | None]]:
        """The receipts a gateway would post for a sent message: (status, error code)."""
        return [("sent", None), ("delivered", None)] if message.channel == "sms" else []


SIM_MIX = "delivered=90,failed=5,undelivered=5"
# Error codes of the simulated failures (Twilio's: unreachable handset, unknown number).
SIM_ERRORS = {"failed": "30008", "undelivered": "30003"}


def parse_sim_mix(text: str | None) -> dict[str, int]:
    weights: dict[str, int] = {}
    for part in (text or SIM_MIX).split(","):
        name, _eq, value = part.partition("=")
        name = name.strip()
        if name not in ("delivered", "failed", "undelivered") or not value.strip().isdigit():
            raise ValueError(f"CARE_SMS_SIM_MIX: bad part {part.strip()!r} (delivered, failed, undelivered)")
        weights[name] = int(value)
    if sum(weights.values()) <= 0:
        raise ValueError("CARE_SMS_SIM_MIX: at least one positive weight")
    return weights


class SimSms(LogAdapter):
    """The SMS simulator: sent like the log adapter, delivered or not by a draw."""

    name = "sim"

    def __init__(self, mix: str | None = None):
        self.mix = parse_sim_mix(mix)

    def send(self, message: Message) -> str:
        log.info("outbox message %s (%s) sent to the SMS simulator", message.id, message.channel)
        return f"sim-{message.id}"

    def receipts(self, message: Message, provider_id: str) -> list[tuple[str, str | None]]:
        import random

        draw = random.Random(f"sms-sim/{message.idempotency_key}")  # noqa: S311 - a simulation
        final = draw.choices(list(self.mix), weights=list(self.mix.values()))[0]
        return [("sent", None), (final, SIM_ERRORS.get(final))]


def _http_error(prefix: str, exc: Exception) -> SendError:
    return SendError(f"{prefix}: {type(exc).__name__}")


class TwilioSms:
    name = "twilio"

    def __init__(
        self, account_sid: str, auth_token: str, from_number: str, *, base_url: str = TWILIO_API,
        public_base_url: str = "",
    ):
        if not (account_sid and auth_token and from_number):
            raise ValueError(
                "CARE_SMS=twilio needs CARE_TWILIO_ACCOUNT_SID, CARE_TWILIO_AUTH_TOKEN and CARE_TWILIO_FROM"
            )
        self.account_sid = account_sid
        self.auth_token = auth_token
        self.from_number = from_number
        self.url = f"{base_url.rstrip('/')}/Accounts/{account_sid}/Messages.json"
        self.public_base_url = (public_base_url or "").strip().rstrip("/")

    def status_callback(self, message: Message) -> str | None:
        """Where Twilio posts this message's receipts (our id in the signed URL)."""
        if not self.public_base_url:
            return None
        return f"{self.public_base_url}/webhooks/twilio/sms-status?message={message.id}"

    def send(self, message: Message) -> str:
        data = {"To": message.to_address, "From": self.from_number, "Body": message.body}
        callback = self.status_callback(message)
        if callback:
            data["StatusCallback"] = callback
        try:
            response = requests.post(
                self.url,
                data=data,
                auth=(self.account_sid, self.auth_token),  # no idempotency key: see the module doc
                timeout=TIMEOUT_S,
            )
        except requests.RequestException as exc:
            raise _http_error("twilio", exc) from None
        if response.status_code >= 400:
            raise SendError(f"twilio: HTTP {response.status_code}")
        try:
            return str(response.json().get("sid") or message.idempotency_key)
        except ValueError:
            return message.idempotency_key


class HttpSms:
    name = "http"

    def __init__(self, url: str):
        if not url:
            raise ValueError("CARE_SMS=http needs CARE_SMS_URL")
        self.url = url

    def send(self, message: Message) -> str:
        payload = {"id": message.idempotency_key, "to": message.to_address, "body": message.body}
        try:
            response = requests.post(
                self.url,
                json=payload,
                headers={"Idempotency-Key": message.idempotency_key},
                timeout=TIMEOUT_S,
            )
        except requests.RequestException as exc:
            raise _http_error("http", exc) from None
        if response.status_code >= 400:
            raise SendError(f"http: HTTP {response.status_code}")
        try:
            data = response.json()
        except ValueError:
            data = {}
        ref = data.get("id") or data.get("message_id") if isinstance(data, dict) else None
        return str(ref or message.idempotency_key)


class SmtpEmail:
    """E-mail through SMTP; the Message-ID is derived from the idempotency key, so a
    resend after a crash carries the same id (receivers and relays can drop the copy)."""

    name = "smtp"

    def __init__(self, url: str):
        parts = urlsplit(url)
        if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
            raise ValueError(
                "CARE_SMTP_URL must look like smtp://user:pass@host:587?starttls=1&from=care@dealer.example"
            )
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        self.ssl = parts.scheme == "smtps"
        self.host = parts.hostname
        self.port = parts.port or (465 if self.ssl else 587)
        self.user = unquote(parts.username) if parts.username else None
        self.password = unquote(parts.password) if parts.password else None
        self.starttls = query.get("starttls", "0").lower() in ("1", "true", "yes", "on")
        self.sender = query.get("from") or (f"care@{self.host}")
        self.domain = self.sender.rpartition("@")[2] or self.host

    def message_id(self, key: str) -> str:
        digest = hashlib.sha256(key.encode()).hexdigest()[:32]
        return f"<{digest}@{self.domain}>"

    def build(self, message: Message) -> EmailMessage:
        mail = EmailMessage()
        mail["From"] = self.sender
        mail["To"] = message.to_address
        mail["Subject"] = message.subject or ""
        mail["Message-ID"] = self.message_id(message.idempotency_key)
        mail.set_content(message.body)
        return mail

    def send(self, message: Message) -> str:
        mail = self.build(message)
        try:
            if self.ssl:
                client = smtplib.SMTP_SSL(self.host, self.port, timeout=TIMEOUT_S)
            else:
                client = smtplib.SMTP(self.host, self.port, timeout=TIMEOUT_S)
            with client as smtp:
                if self.starttls:
                    smtp.starttls()
                if self.user:
                    smtp.login(self.user, self.password or "")
                smtp.send_message(mail)
        except (smtplib.SMTPException, OSError) as exc:
            raise SendError(f"smtp: {type(exc).__name__}") from None
        return mail["Message-ID"]


def sms_adapter(config: Mapping[str, Any]) -> Adapter:
    kind = (config.get("CARE_SMS") or "log").strip().lower()
    if kind == "log":
        return LogAdapter()
    if kind == "sim":
        return SimSms(config.get("CARE_SMS_SIM_MIX"))
    if kind == "twilio":
        return TwilioSms(
            config.get("CARE_TWILIO_ACCOUNT_SID") or "",
            config.get("CARE_TWILIO_AUTH_TOKEN") or "",
            config.get("CARE_TWILIO_FROM") or "",
            public_base_url=config.get("CARE_PUBLIC_BASE_URL") or "",
        )
    if kind == "http":
        return HttpSms(config.get("CARE_SMS_URL") or "")
    raise ValueError(f"unknown CARE_SMS {kind!r}: log, sim, twilio or http")


def email_adapter(config: Mapping[str, Any]) -> Adapter:
    url = config.get("CARE_SMTP_URL")
    return SmtpEmail(url) if url else LogAdapter()


def adapters_from_config(config: Mapping[str, Any]) -> Callable[[str], Adapter]:
    """``adapter_for(channel)`` for :func:`care.messaging.outbox.send_due`, built once."""
    adapters = {"sms": sms_adapter(config), "email": email_adapter(config)}

    def adapter_for(channel: str) -> Adapter:
        return adapters[channel]

    return adapter_for

"""SMS delivery receipts (issue 13 item 5, interfaces.md "Webhooks").

Receipts come from Twilio's message status callback (``POST /webhooks/twilio/sms-status``,
form ``MessageSid``, ``MessageStatus``, ``ErrorCode``; our outbox id as the query
parameter ``message`` of the signed callback URL), from the generic provider through
``POST /webhooks/events`` (``{"event_id", "message_id", "message_status", "error_code",
"occurred_at"}``), and in-process from the log adapter and the SMS simulator
(care/messaging/adapters.py), so that the demo shows them.

Each receipt is stored once (``delivery_receipts.event_id`` unique: a duplicate changes
nothing), then applied to its outbox message by rank: ``sent`` 1 → ``delivered`` /
``failed`` / ``undelivered`` 2; a final status is absorbing (a later receipt fills in a
missing error code only). Twilio's in-transit statuses (accepted, queued, sending …) are
stored without a delivery status. A receipt that names no known message is stored
``unmatched`` (never an error: the gateway would only retry it).

A failed or undelivered message is a message that did not go out: its outbox status
becomes ``failed`` (with the reason), so the reminder it was for no longer counts as
reminded (care.services.kpis.message_sent), and a task message without a reminder-failure
record gets one (``message_failed``), as care.services.fallback records a failed reminder.

Nothing here logs a phone number or a message body. Flushes, never commits.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from care.models import DeliveryReceipt, OutboxMessage, ReminderFailure
from care.models.types import MAX_INTEGER

SENT, DELIVERED, FAILED, UNDELIVERED = "sent", "delivered", "failed", "undelivered"
STATUSES = (SENT, DELIVERED, FAILED, UNDELIVERED)
FAILURES = (FAILED, UNDELIVERED)
RANK = {None: 0, SENT: 1, DELIVERED: 2, FAILED: 2, UNDELIVERED: 2}
# The outbox statuses this module reads and sets (care.messaging.outbox, which sits above
# this module: it records the receipts of the adapters that know them at once).
OUTBOX_QUEUED, OUTBOX_FAILED, OUTBOX_SKIPPED = "queued", "failed", "skipped"
MESSAGE_FAILED = "message_failed"  # ReminderFailure.reason of a task message that failed to deliver
# Twilio's MessageStatus values → ours (None: in transit, stored and not applied).
TWILIO = {
    "accepted": None, "scheduled": None, "queued": None, "sending": None,
    "sent": SENT, "delivered": DELIVERED, "read": DELIVERED,
    "undelivered": UNDELIVERED, "failed": FAILED, "canceled": FAILED,
}  # fmt: skip
MAX_REF = 120
MAX_CODE = 40


class ReceiptError(ValueError):
    """An unreadable receipt (400): the text says what, never holding customer data."""


@dataclass(frozen=True)
class Receipt:
    event_id: str
    provider: str
    message_ref: str | None  # our outbox id (or the gateway's id), as given
    provider_message_id: str | None
    status: str | None
    raw_status: str
    error_code: str | None
    occurred_at: datetime | None


def _clean(value: Any, name: str, limit: int) -> str | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise ReceiptError(f"{name} must be text")
    text = str(value).strip()
    if "\x00" in text:
        raise ReceiptError(f"{name} holds a NUL character")
    if len(text) > limit:
        raise ReceiptError(f"{name} is too long")
    return text or None


def from_twilio(params: Mapping[str, str], message_ref: str | None) -> Receipt:
    """A Twilio message status callback (form fields) as a receipt."""
    sid = _clean(params.get("MessageSid") or params.get("SmsSid"), "MessageSid", MAX_REF)
    raw = (_clean(params.get("MessageStatus") or params.get("SmsStatus"), "MessageStatus", 40) or "").lower()
    if not sid:
        raise ReceiptError("MessageSid is missing")
    if raw not in TWILIO:
        raise ReceiptError("unknown MessageStatus")
    code = _clean(params.get("ErrorCode"), "ErrorCode", MAX_CODE)
    ref = _clean(message_ref, "message", MAX_REF)
    digest = hashlib.sha256(f"{sid}|{raw}|{code or ''}".encode()).hexdigest()[:40]
    return Receipt(f"twilio-sms-{digest}", "twilio", ref, sid, TWILIO[raw], raw, code, None)


def is_receipt(document: Any) -> bool:
    """A generic event that is a delivery receipt (it has ``message_status``)."""
    return isinstance(document, dict) and "message_status" in document


def from_generic(document: Mapping[str, Any]) -> Receipt:
    """A generic delivery receipt (interfaces.md) as a receipt."""
    event_id = _clean(document.get("event_id"), "event_id", MAX_REF)
    if not event_id:
        raise ReceiptError("event_id is missing")
    raw = (_clean(document.get("message_status"), "message_status", 40) or "").lower()
    if raw not in STATUSES:
        raise ReceiptError("message_status must be sent, delivered, failed or undelivered")
    ref = _clean(document.get("message_id"), "message_id", MAX_REF)
    if ref is None:
        raise ReceiptError("message_id is missing")
    code = _clean(document.get("error_code"), "error_code", MAX_CODE)
    at = document.get("occurred_at")
    occurred = None
    if at not in (None, ""):
        if not isinstance(at, str):
            raise ReceiptError("occurred_at must be an ISO 8601 time")
        try:
            occurred = datetime.fromisoformat(at.replace("Z", "+00:00"))
        except ValueError:
            raise ReceiptError("occurred_at must be an ISO 8601 time") from None
        if occurred.tzinfo is None:
            raise ReceiptError("occurred_at needs an offset")
        occurred = occurred.astimezone(UTC)
    return Receipt(event_id, "generic", ref, None, raw, raw, code, occurred)


def find_message(session: Session, ref: str | None, provider_message_id: str | None) -> OutboxMessage | None:
    """The outbox message a receipt names: our id (``message``/``message_id`` as a
    number), else the gateway's id or our idempotency key; None when none matches."""
    if ref and ref.isascii() and ref.isdigit() and 0 < int(ref) <= MAX_INTEGER:
        found = session.get(OutboxMessage, int(ref))
        if found is not None:
            return found
    keys = [k for k in (ref, provider_message_id) if k]
    if not keys:
        return None
    return session.scalar(
        select(OutboxMessage)
        .where(or_(OutboxMessage.provider_message_id.in_(keys), OutboxMessage.idempotency_key.in_(keys)))
        .order_by(OutboxMessage.id)
        .limit(1)
    )


def record(
    session: Session, receipt: Receipt, *, payload: Mapping[str, Any], now: datetime
) -> tuple[DeliveryReceipt, bool]:
    """Store ``receipt`` once and apply it to its message: ``(row, True)`` when new,
    ``(the stored row, False)`` for a duplicate (nothing changes)."""
    existing = session.scalar(select(DeliveryReceipt).where(DeliveryReceipt.event_id == receipt.event_id))
    if existing is not None:
        return existing, False
    message = find_message(session, receipt.message_ref, receipt.provider_message_id)
    values = {
        "event_id": receipt.event_id,
        "message_id": message.id if message else None,
        "message_ref": receipt.message_ref or receipt.provider_message_id,
        "provider": receipt.provider,
        "status": receipt.status,
        "raw_status": receipt.raw_status[:40] or None,
        "error_code": receipt.error_code,
        "occurred_at": receipt.occurred_at,
        "received_at": now,
        "payload": dict(payload),
        "unmatched": message is None,
    }
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    session.flush()
    new_id = session.execute(
        insert(DeliveryReceipt).values(**values).on_conflict_do_nothing(index_elements=["event_id"]).returning(DeliveryReceipt.id)
    ).scalar()
    if new_id is None:  # stored meanwhile by another request
        return session.scalar(select(DeliveryReceipt).where(DeliveryReceipt.event_id == receipt.event_id)), False
    row = session.get(DeliveryReceipt, new_id)
    if message is not None:
        apply(session, message, receipt, now=now)
    return row, True


def apply(session: Session, message: OutboxMessage, receipt: Receipt, *, now: datetime) -> bool:
    """Move ``message`` to the receipt's status if it ranks higher; True if it changed."""
    if receipt.provider_message_id and not message.provider_message_id:
        message.provider_message_id = receipt.provider_message_id
    if receipt.status is None:
        return False
    current = message.delivery_status
    if RANK[receipt.status] <= RANK.get(current, 0):
        if current in FAILURES and receipt.error_code and not message.delivery_error:
            message.delivery_error = receipt.error_code
        return False
    at = receipt.occurred_at or now
    message.delivery_status = receipt.status
    message.delivery_updated_at = at
    if receipt.error_code:
        message.delivery_error = receipt.error_code
    if receipt.status == DELIVERED:
        message.delivered_at = at
    if receipt.status in FAILURES:
        _failed(session, message, receipt, now)
    session.flush()
    return True


def _failed(session: Session, message: OutboxMessage, receipt: Receipt, now: datetime) -> None:
    """The message did not reach the customer: not sent after all (module docstring)."""
    message.status = OUTBOX_FAILED
    message.last_error = f"{receipt.status}: {receipt.error_code}" if receipt.error_code else receipt.status
    if message.task_id is None:
        return
    if session.scalar(select(ReminderFailure.id).where(ReminderFailure.task_id == message.task_id)) is None:
        session.add(
            ReminderFailure(task_id=message.task_id, attempt_ids=[], message_id=message.id, reason=MESSAGE_FAILED, created_at=now)
        )


def unmatched_receipts(session: Session) -> int:
    """How many receipts named no known message (kept for a look, never applied)."""
    from sqlalchemy import func

    return int(session.scalar(select(func.count(DeliveryReceipt.id)).where(DeliveryReceipt.unmatched.is_(True))) or 0)


BUCKETS = ("queued", "sent", "delivered", "failed", "skipped")


def bucket(status: str, delivery: str | None) -> str:
    """Where a message stands for the pages: queued (not sent yet), sent (no final
    receipt), delivered, failed (failed or undelivered, or given up by the outbox), skipped."""
    if status == OUTBOX_QUEUED:
        return "queued"
    if status == OUTBOX_SKIPPED:
        return "skipped"
    if status == OUTBOX_FAILED or delivery in FAILURES:
        return "failed"
    return "delivered" if delivery == DELIVERED else "sent"


def counts(session: Session, message_ids) -> dict[str, int]:
    """:func:`bucket` counts of these messages (an id list or a subquery; None: zeros)."""
    from sqlalchemy import func

    found = dict.fromkeys(BUCKETS, 0)
    if message_ids is None:
        return found
    rows = session.execute(
        select(OutboxMessage.status, OutboxMessage.delivery_status, func.count())
        .where(OutboxMessage.id.in_(message_ids))
        .group_by(OutboxMessage.status, OutboxMessage.delivery_status)
    ).all()
    for status, delivery, n in rows:
        found[bucket(status, delivery)] += int(n)
    return found

"""The transactional outbox (architecture.md): messages are written in the transaction
of the work that causes them, and sent afterwards by ``care outbox``; nothing is sent for
work that was rolled back.

- :func:`queue` adds a message (idempotent by its key: the same key returns the row
  already there);
- :func:`send_due` sends the queued messages that are due: consent is checked again at
  send time, every send carries the idempotency key (so a resend after a crash is
  dropped by the provider), errors are retried with exponential backoff
  (``outbox_backoff_seconds`` × 2^(tries−1)) up to ``outbox_max_tries``.

Services flush, never commit; the caller commits (the CLI once per round).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from care.domain.settings import Settings
from care.messaging.adapters import Adapter, SendError
from care.models import Customer, OutboxMessage

log = logging.getLogger("care.messaging")

QUEUED, SENT, FAILED, SKIPPED = "queued", "sent", "failed", "skipped"
STATUSES = (QUEUED, SENT, FAILED, SKIPPED)
CHANNELS = ("sms", "email")
CONSENT = "consent"  # last_error of a message skipped because the customer refused the channel
NO_ADDRESS = "no_address"  # last_error of a message with no number / e-mail address to send to


def get_by_key(session: Session, key: str) -> OutboxMessage | None:
    return session.scalar(select(OutboxMessage).where(OutboxMessage.idempotency_key == key))


def queue(
    session: Session,
    *,
    channel: str,
    to: str | None,
    body: str,
    subject: str | None = None,
    customer_id: int | None,
    task_id: int | None,
    key: str,
    now: datetime | None = None,
    status: str = QUEUED,
    last_error: str | None = None,
) -> OutboxMessage:
    """The message with idempotency ``key``: the existing row when there is one, else a
    new one (flushed). ``status``/``last_error`` let a caller record a message that is
    not to be sent (``skipped``, ``consent``) so the decision stays visible."""
    if channel not in CHANNELS:
        raise ValueError(f"unknown channel {channel!r}")
    if status not in STATUSES:
        raise ValueError(f"unknown status {status!r}")
    existing = get_by_key(session, key)
    if existing is not None:
        return existing
    message = OutboxMessage(
        idempotency_key=key,
        channel=channel,
        customer_id=customer_id,
        task_id=task_id,
        to_address=to or "",
        subject=subject,
        body=body,
        status=status,
        last_error=last_error,
    )
    if now is not None:
        message.created_at = now
        message.next_attempt_at = now
    session.add(message)
    session.flush()
    return message


def refused(customer: Customer | None, channel: str) -> bool:
    """Has the customer refused this channel (no_sms / no_email)?"""
    if customer is None:
        return False
    return bool(customer.no_sms) if channel == "sms" else bool(customer.no_email)


def backoff(tries: int, base_seconds: int) -> timedelta:
    """The wait after the ``tries``-th failed try: base, 2×base, 4×base …"""
    return timedelta(seconds=base_seconds * 2 ** max(0, tries - 1))


def due(session: Session, *, now: datetime, limit: int = 100) -> list[OutboxMessage]:
    """Queued messages due at ``now``, oldest first. On PostgreSQL the rows are locked
    ``FOR UPDATE SKIP LOCKED``: a second worker running at the same time takes others."""
    stmt = (
        select(OutboxMessage)
        .where(OutboxMessage.status == QUEUED, OutboxMessage.next_attempt_at <= now)
        .order_by(OutboxMessage.next_attempt_at, OutboxMessage.id)
        .limit(limit)
    )
    if session.get_bind().dialect.name == "postgresql":
        stmt = stmt.with_for_update(skip_locked=True, of=OutboxMessage)
    rows = list(session.scalars(stmt))
    if rows:  # the customers, for the consent check, in one query
        ids = {m.customer_id for m in rows if m.customer_id is not None}
        if ids:
            list(session.scalars(select(Customer).where(Customer.id.in_(ids))))
    return rows


def send_one(
    session: Session,
    message: OutboxMessage,
    *,
    now: datetime,
    adapter: Adapter,
    max_tries: int,
    backoff_seconds: int,
) -> str:
    """Send one message; returns what became of it: sent, skipped, retry or failed."""
    if refused(message.customer, message.channel):
        message.status, message.last_error = SKIPPED, CONSENT
        log.info("outbox message %s skipped: consent withdrawn", message.id)
        return SKIPPED
    if not message.to_address:
        message.status, message.last_error = FAILED, NO_ADDRESS
        log.warning("outbox message %s failed: no address", message.id)
        return FAILED
    try:
        provider_id = adapter.send(message)
    except SendError as exc:
        error = str(exc)
    except Exception as exc:  # an adapter bug must not stop the other messages
        error = f"{adapter.name}: {type(exc).__name__}"
    else:
        message.status = SENT
        message.sent_at = now
        message.tries += 1
        message.provider_message_id = (provider_id or "")[:120] or None
        message.last_error = None
        log.info("outbox message %s sent via %s", message.id, adapter.name)
        return SENT
    message.tries += 1
    message.last_error = error[:500]
    if message.tries >= max_tries:
        message.status = FAILED
        log.warning("outbox message %s failed after %s tries: %s", message.id, message.tries, error)
        return FAILED
    message.next_attempt_at = now + backoff(message.tries, backoff_seconds)
    log.info("outbox message %s: try %s failed (%s), retry later", message.id, message.tries, error)
    return "retry"


def sms_hours(settings, now: datetime) -> bool:
    """Text messages go out between the work-day start and the end of the last call slot
    (the same quiet hours as calls, R13), in the dealer's time zone."""
    from zoneinfo import ZoneInfo

    local = now.astimezone(ZoneInfo(settings.timezone)).time()
    return settings.workday_start <= local < max(slot.end for slot in settings.call_slots)


def send_due(
    session: Session,
    *,
    settings: Settings,
    now: datetime,
    adapter_for: Callable[[str], Adapter],
    limit: int = 100,
) -> dict[str, int]:
    """Send the messages due at ``now`` (at most ``limit``) under the dealer's
    ``settings`` (quiet hours, tries, backoff); flushes. Returns the counts
    ``{"sent", "skipped", "retry", "failed"}``."""
    counts = {SENT: 0, SKIPPED: 0, "retry": 0, FAILED: 0, "deferred": 0}
    sms_allowed = sms_hours(settings, now)
    for message in due(session, now=now, limit=limit):
        if message.channel == "sms" and not sms_allowed:
            counts["deferred"] += 1  # stays queued: no text messages at night
            continue
        result = send_one(
            session,
            message,
            now=now,
            adapter=adapter_for(message.channel),
            max_tries=settings.outbox_max_tries,
            backoff_seconds=settings.outbox_backoff_seconds,
        )
        counts[result] += 1
    session.flush()
    return counts


def listing(session: Session, *, status: str | None = None, page: int = 1, per_page: int = 25):
    """(messages newest first, total) for the outbox page."""
    from sqlalchemy import func

    stmt = select(OutboxMessage)
    count = select(func.count(OutboxMessage.id))
    if status:
        stmt = stmt.where(OutboxMessage.status == status)
        count = count.where(OutboxMessage.status == status)
    total = session.scalar(count) or 0
    rows = list(
        session.scalars(
            stmt.options(selectinload(OutboxMessage.customer))
            .order_by(OutboxMessage.created_at.desc(), OutboxMessage.id.desc())
            .offset((max(1, page) - 1) * per_page)
            .limit(per_page)
        )
    )
    return rows, total

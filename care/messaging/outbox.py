"""The transactional outbox (architecture.md): messages are written in the transaction
of the work that causes them, and sent afterwards by ``care outbox``; nothing is sent for
work that was rolled back.

- :func:`queue` adds a message (idempotent by its key: the same key returns the row
  already there);
- :func:`send_due` sends the queued messages that are due: consent is checked again at
  send time, errors are retried with exponential backoff
  (``outbox_backoff_seconds`` × 2^(tries−1)) up to ``outbox_max_tries``.

At most once, but for the message in flight (issue 9 item 18: a worker killed mid-round
used to resend the whole round, whose one commit never came). Each message is
**claimed** before it is sent: a conditional UPDATE that moves its ``next_attempt_at``
:data:`LEASE` ahead, only if it is still queued and due, so another worker (or a rerun)
does not take it while the lease runs; the caller's ``commit`` makes the claim durable
before the send, and the result (sent, retry, failed, skipped) after it. A worker killed
during a send leaves that one message claimed: it is due again when the lease ends and
sent again, with the same idempotency key. The HTTP gateway gets that key as the
``Idempotency-Key`` header and SMTP as the Message-ID, so they can drop the copy;
Twilio's Messages API has no idempotency key, so there the copy is a second SMS (one at
most per crash). A claim is no status of its own: the message stays ``queued`` (it is not
sent yet), its next attempt the end of the lease. On PostgreSQL the candidates are read
``FOR UPDATE SKIP LOCKED`` as well, so two workers rarely even try the same row.

Services flush, never commit; the caller passes ``commit`` (the CLI: the session's
commit after each claim and each result).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session, selectinload
from sqlalchemy.orm.attributes import set_committed_value

from care.domain.settings import Settings
from care.messaging import receipts
from care.messaging.adapters import Adapter, SendError
from care.models import Customer, OutboxMessage

log = logging.getLogger("care.messaging")

QUEUED, SENT, FAILED, SKIPPED = "queued", "sent", "failed", "skipped"
STATUSES = (QUEUED, SENT, FAILED, SKIPPED)
CHANNELS = ("sms", "email")
CONSENT = "consent"  # last_error of a message skipped because the customer refused the channel
NO_ADDRESS = "no_address"  # last_error of a message with no number / e-mail address to send to
# How long a claimed message is left to the worker that claimed it: longer than any send
# can take (the adapters time out after 15 s), short enough that the message in flight
# when a worker died goes out again soon.
LEASE = timedelta(minutes=10)


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


def claim(session: Session, message: OutboxMessage, *, now: datetime, until: datetime) -> bool:
    """Take ``message`` for sending until ``until``: True if it was still queued and due
    at ``now`` (no other worker took it). The caller commits before sending."""
    result = session.execute(
        update(OutboxMessage)
        .where(
            OutboxMessage.id == message.id,
            OutboxMessage.status == QUEUED,
            OutboxMessage.next_attempt_at <= now,
        )
        .values(next_attempt_at=until)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:
        return False
    set_committed_value(message, "next_attempt_at", until)
    return True


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
        _own_receipts(session, message, adapter, provider_id, now)
        return SENT
    message.tries += 1
    message.last_error = error[:500]
    if message.tries >= max_tries:
        message.status = FAILED
        log.warning("outbox message %s failed after %s tries: %s", message.id, message.tries, error)
        return FAILED
    message.next_attempt_at = now + backoff(message.tries, backoff_seconds)  # ends the claim's lease
    log.info("outbox message %s: try %s failed (%s), retry later", message.id, message.tries, error)
    return "retry"


def _own_receipts(session: Session, message: OutboxMessage, adapter: Adapter, provider_id: str, now: datetime) -> None:
    """The receipts of an adapter that knows them at once (the log adapter, the SMS
    simulator), recorded as a gateway's would be (care/messaging/receipts.py)."""
    given = getattr(adapter, "receipts", None)
    if given is None:
        return
    for status, code in given(message, provider_id):
        receipt = receipts.Receipt(
            f"{adapter.name}-{message.id}-{status}", adapter.name, str(message.id), provider_id, status, status, code, now
        )
        receipts.record(session, receipt, payload={"message_id": message.id, "message_status": status}, now=now)


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
    commit: Callable[[], None] | None = None,
    clock: Callable[[], datetime] | None = None,
) -> dict[str, int]:
    """Send the messages due at ``now`` (at most ``limit``) under the dealer's
    ``settings`` (quiet hours, tries, backoff). Returns the counts
    ``{"sent", "skipped", "retry", "failed", "deferred"}`` (``taken``: claimed by
    another worker meanwhile, when there were any).

    ``commit`` is called after each claim and after each result (the module doc: at most
    the message in flight is sent twice after a crash); without it the session is only
    flushed (a caller that commits once, e.g. a test). ``clock`` gives the time a lease
    starts (the real time in the CLI; default ``now``)."""
    counts = {SENT: 0, SKIPPED: 0, "retry": 0, FAILED: 0, "deferred": 0}
    save = commit or session.flush
    clock = clock or (lambda: now)
    sms_allowed = sms_hours(settings, now)
    for message in due(session, now=now, limit=limit):
        if message.channel == "sms" and not sms_allowed:
            counts["deferred"] += 1  # stays queued: no text messages at night
            continue
        if not claim(session, message, now=now, until=max(now, clock()) + LEASE):
            counts["taken"] = counts.get("taken", 0) + 1
            continue
        save()  # the claim is durable before the send
        result = send_one(
            session,
            message,
            now=now,
            adapter=adapter_for(message.channel),
            max_tries=settings.outbox_max_tries,
            backoff_seconds=settings.outbox_backoff_seconds,
        )
        counts[result] += 1
        save()  # the result is durable before the next send
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

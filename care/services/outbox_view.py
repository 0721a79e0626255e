"""Reading the outbox as a person does: one page of messages, written to the audit trail
(which messages were shown, never their text or numbers: domain.md §9)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from care.messaging import outbox
from care.models import OutboxMessage
from care.services import Actor, audit


def view_outbox(
    session: Session, *, status: str | None, page: int, per_page: int, actor: Actor, now: datetime
) -> tuple[list[OutboxMessage], int]:
    """``(messages newest first, total)`` of the page asked for, and its audit row."""
    rows, total = outbox.listing(session, status=status, page=page, per_page=per_page)
    audit.record(
        session,
        actor=actor,
        action="outbox.view",
        object_type="outbox",
        detail={"status": status, "page": page, "messages": [m.id for m in rows]},
        now=now,
    )
    return rows, total

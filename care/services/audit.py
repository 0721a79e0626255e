"""The audit trail (domain.md §9): who viewed, exported or changed what, and when."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from care.models import AuditLog


def record(
    session: Session,
    *,
    actor: str,
    action: str,
    now: datetime,
    user_id: int | None = None,
    object_type: str | None = None,
    object_id: str | int | None = None,
    detail: dict | None = None,
    ip: str | None = None,
) -> AuditLog:
    entry = AuditLog(
        at=now,
        actor=actor,
        user_id=user_id,
        action=action,
        object_type=object_type,
        object_id=None if object_id is None else str(object_id),
        detail=detail,
        ip=ip,
    )
    session.add(entry)
    return entry

"""The audit trail (domain.md §9): who viewed, exported or changed what, and when."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from care.models import AuditLog
from care.services import Actor


def record(
    session: Session,
    *,
    actor: Actor,
    action: str,
    now: datetime,
    object_type: str | None = None,
    object_id: str | int | None = None,
    detail: dict | None = None,
) -> AuditLog:
    """Add an entry: ``actor`` gives its name, user id and address."""
    entry = AuditLog(
        at=now,
        actor=actor.name,
        user_id=actor.user_id,
        action=action,
        object_type=object_type,
        object_id=None if object_id is None else str(object_id),
        detail=detail,
        ip=actor.ip,
    )
    session.add(entry)
    return entry


def entries(
    session: Session,
    *,
    action: str = "",
    actor_name: str = "",
    before: int | None = None,
    limit: int,
) -> list[AuditLog]:
    """The newest ``limit`` entries, older than the id ``before`` when given.

    ``action`` matches itself and its sub-actions ("user" finds user.create, user.update …;
    "login" finds login and login.failed); ``actor_name`` the name of who acted (a user
    name, "cli" …), in any case.
    """
    query = select(AuditLog)
    if action:
        query = query.where(
            or_(AuditLog.action == action, AuditLog.action.startswith(action.rstrip(".") + ".", autoescape=True))
        )
    if actor_name:
        query = query.where(func.lower(AuditLog.actor) == actor_name.lower())
    if before is not None:
        query = query.where(AuditLog.id < before)
    return list(session.scalars(query.order_by(AuditLog.id.desc()).limit(limit)))


def known_actions(session: Session, *, recent: int = 2000) -> list[str]:
    """The actions of the ``recent`` newest entries, sorted (the filter's suggestions)."""
    newest = select(AuditLog.action).order_by(AuditLog.id.desc()).limit(recent).subquery()
    return sorted(set(session.scalars(select(newest.c.action).distinct())))

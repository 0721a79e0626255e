"""The audit trail (domain.md §9): who viewed, exported or changed what, and when.

Entries hold codes and ids (`customer.view`, customer 42), never customer data. The audit
page shows them as words and names: `named_objects` loads the users, customers, tasks
and runs a page of entries names, in one query per kind; care/web/audit_view.py turns
them into the user's language.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session, joinedload

from care.models import AuditLog, CareTask, Customer, GenerationRun, ImportRun, User
from care.services import Actor

# Groups of actions a filter can ask for at once: "login.*" is every log-in event.
GROUP_SUFFIX = ".*"


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
    exact: bool = False,
    actor_name: str = "",
    before: int | None = None,
    limit: int,
) -> list[AuditLog]:
    """The newest ``limit`` entries, older than the id ``before`` when given.

    ``action`` matches itself and its sub-actions ("user" finds user.create, user.update …;
    "login" finds login and login.failed), only itself when ``exact`` (the filter's
    choice of one action: "login" is a log-in, not a failed one), and a group "login.*"
    matches login and login.…; ``actor_name`` the name of who acted (a user name, "cli"
    …), in any case.
    """
    query = select(AuditLog).options(joinedload(AuditLog.user))
    if action.endswith(GROUP_SUFFIX):
        action, exact = action[: -len(GROUP_SUFFIX)], False
    if action and exact:
        query = query.where(AuditLog.action == action)
    elif action:
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


@dataclass
class NamedObjects:
    """What a page of entries names, by id (a missing id: deleted, or never was)."""

    users: dict[int, User] = field(default_factory=dict)
    customers: dict[int, Customer] = field(default_factory=dict)
    tasks: dict[int, CareTask] = field(default_factory=dict)
    import_runs: dict[int, ImportRun] = field(default_factory=dict)
    generation_runs: dict[int, GenerationRun] = field(default_factory=dict)


def _int_id(value) -> int | None:
    text = str(value) if value is not None else ""
    return int(text) if text.isascii() and text.isdigit() and len(text) < 10 else None


def named_objects(session: Session, page: Iterable[AuditLog]) -> NamedObjects:
    """The users, customers, tasks and runs that ``page``'s entries name, as object or
    in their detail (a reassignment's from/to users), one query per kind."""
    wanted: dict[str, set[int]] = {"user": set(), "customer": set(), "care_task": set(), "import_run": set(),
                                   "generation_run": set()}
    for entry in page:
        object_id = _int_id(entry.object_id)
        if entry.object_type in wanted and object_id is not None:
            wanted[entry.object_type].add(object_id)
        if entry.action == "task.reassign" and isinstance(entry.detail, dict):
            wanted["user"].update(i for i in (_int_id(entry.detail.get(k)) for k in ("from", "to")) if i is not None)
    found = NamedObjects()
    if wanted["user"]:
        found.users = {u.id: u for u in session.scalars(select(User).where(User.id.in_(wanted["user"])))}
    if wanted["customer"]:
        found.customers = {
            c.id: c for c in session.scalars(select(Customer).where(Customer.id.in_(wanted["customer"])))
        }
    if wanted["care_task"]:
        found.tasks = {
            t.id: t
            for t in session.scalars(
                select(CareTask).where(CareTask.id.in_(wanted["care_task"])).options(joinedload(CareTask.customer))
            )
        }
    if wanted["import_run"]:
        found.import_runs = {
            r.id: r for r in session.scalars(select(ImportRun).where(ImportRun.id.in_(wanted["import_run"])))
        }
    if wanted["generation_run"]:
        found.generation_runs = {
            r.id: r
            for r in session.scalars(select(GenerationRun).where(GenerationRun.id.in_(wanted["generation_run"])))
        }
    return found

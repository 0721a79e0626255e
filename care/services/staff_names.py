"""Staff names in DMS files that are no user (interfaces.md, "Import files").

A vehicle, delivery or policy row may name a consultant or insurance specialist who has
no log-in (or is written as the DMS knows them, "张伟" for the user "销售 张伟"). The
import keeps such a row: the name is stored as given (``consultant_name``,
``specialist_name``) without a user, and reported as a warning. A care manager or an
administrator maps each such name to a user once (:func:`map_name`):

- the mapping (``staff_name_mappings``) is read by every later import before the user
  names and display names (:func:`resolve_names`);
- the rows already imported with the name get the user, and the open post-delivery
  calls (R7) of that consultant that wait unassigned in the care manager's queue get
  their owner (the generator leaves R7 of an unmapped consultant unassigned:
  care/services/assignment.py ``OWNER_UNMAPPED``);
- an audit row records who mapped which name (the mapping's id) to whom, and what moved.

A mapping is made once: mapping a name again is refused.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, selectinload

from care.domain import N_
from care.domain.dms import STAFF_NAME_MAX
from care.domain.roles import Role
from care.domain.task_rules import TaskType
from care.models import (
    OPEN_STATUSES,
    CareTask,
    Delivery,
    InsurancePolicy,
    StaffNameMapping,
    SurveyResponse,
    User,
    Vehicle,
)
from care.services import Actor, ServiceError, audit
from care.services.users import find_user_by_name_or_display

IN_CHUNK = 1000

# Where staff names are kept: (what, model, the name column, the user column, the file column).
PLACES = (
    ("vehicles", Vehicle, Vehicle.consultant_name, Vehicle.consultant_id, "consultant"),
    ("deliveries", Delivery, Delivery.consultant_name, Delivery.consultant_id, "consultant"),
    ("policies", InsurancePolicy, InsurancePolicy.specialist_name, InsurancePolicy.specialist_id, "specialist"),
    ("survey_responses", SurveyResponse, SurveyResponse.staff_name, SurveyResponse.staff_id, "staff"),
)
# The role that fits a file column, offered first when a name is mapped.
COLUMN_ROLES = {"consultant": Role.CONSULTANT, "specialist": Role.INSURANCE, "staff": Role.CONSULTANT}

NAME_REQUIRED = N_("Give the name as the DMS file writes it.")
NAME_TOO_LONG = N_("A staff name has at most %(max)s characters.")
NO_SUCH_USER = N_("Choose an active user.")
ALREADY_MAPPED = N_("“%(name)s” is already mapped to %(user)s.")


class MappingError(ServiceError):
    """A mapping was refused; ``status`` is the HTTP answer (422 bad input, 409 done already)."""

    def __init__(self, template: str, *, status: int = 422, field: str | None = None, **params):
        super().__init__(template, field=field, **params)
        self.status = status


def clean_name(text: str | None) -> str:
    """A name as the import stores it: trimmed, inner spaces as one (dms.parse_text)."""
    return re.sub(r"\s+", " ", (text or "").strip())


def _chunks(values: list, size: int = IN_CHUNK) -> Iterable[list]:
    for i in range(0, len(values), size):
        yield values[i : i + size]


def resolve_names(session: Session, names: Iterable[str]) -> dict[str, int]:
    """The user each staff name means: its mapping, else the user whose user name or
    (sole) display name it is. Names that are neither are left out."""
    wanted = sorted(set(names))
    found: dict[str, int] = {}
    for chunk in _chunks(wanted):
        found.update(
            session.execute(
                select(StaffNameMapping.name, StaffNameMapping.user_id).where(StaffNameMapping.name.in_(chunk))
            ).all()
        )
    for name in wanted:  # distinct names: a handful of consultants
        if name not in found:
            user = find_user_by_name_or_display(session, name)
            if user is not None:
                found[name] = user.id
    return found


@dataclass
class UnknownName:
    """A staff name stored without a user, and how many rows of each kind carry it."""

    name: str
    rows: dict[str, int] = field(default_factory=dict)  # "vehicles" / "deliveries" / "policies" → rows
    columns: set[str] = field(default_factory=set)  # the file columns it came in

    @property
    def roles(self) -> frozenset[Role]:
        return frozenset(COLUMN_ROLES[c] for c in self.columns)


def unknown_names(session: Session, names: Iterable[str] | None = None) -> list[UnknownName]:
    """The staff names stored without a user (all, or those of ``names``), by name."""
    wanted = None if names is None else sorted(set(names))
    if wanted is not None and not wanted:
        return []
    out: dict[str, UnknownName] = {}
    for what, _model, name_col, user_col, column in PLACES:
        conditions = [user_col.is_(None), name_col.is_not(None)]
        batches = [None] if wanted is None else list(_chunks(wanted))
        for chunk in batches:
            where = [*conditions, name_col.in_(chunk)] if chunk is not None else conditions
            for name, count in session.execute(select(name_col, func.count()).where(*where).group_by(name_col)):
                entry = out.setdefault(name, UnknownName(name))
                entry.rows[what] = count
                entry.columns.add(column)
    return [out[name] for name in sorted(out)]


def mappings(session: Session, names: Iterable[str] | None = None) -> list[StaffNameMapping]:
    """The mappings made (all, or those of ``names``), newest first."""
    q = select(StaffNameMapping).options(
        selectinload(StaffNameMapping.user), selectinload(StaffNameMapping.creator)
    )
    if names is not None:
        wanted = sorted(set(names))
        if not wanted:
            return []
        out: list[StaffNameMapping] = []
        for chunk in _chunks(wanted):
            out += session.scalars(q.where(StaffNameMapping.name.in_(chunk))).all()
        return sorted(out, key=lambda m: (m.created_at, m.id), reverse=True)
    return list(session.scalars(q.order_by(StaffNameMapping.created_at.desc(), StaffNameMapping.id.desc())))


def mapping_choices(session: Session) -> list[User]:
    """The users a name may be mapped to: the active ones, by name."""
    users = session.scalars(
        select(User).where(User.active.is_(True)).options(selectinload(User.role_rows))
    ).all()
    return sorted(users, key=lambda u: (u.label.casefold(), u.id))


@dataclass
class MappingResult:
    mapping: StaffNameMapping
    rows: dict[str, int]  # rows that got the user, per kind
    tasks: list[int]  # open R7 tasks that got their owner


def map_name(session: Session, name: str, user_id: int | None, *, actor: Actor, now: datetime) -> MappingResult:
    """Map the staff name ``name`` to the active user ``user_id``, once (MappingError
    otherwise): the rows imported with the name get the user, the unassigned open R7
    tasks of that consultant get their owner, and the mapping is audited."""
    name = clean_name(name)
    if not name:
        raise MappingError(NAME_REQUIRED, field="name")
    if len(name) > STAFF_NAME_MAX:
        raise MappingError(NAME_TOO_LONG, field="name", max=STAFF_NAME_MAX)
    user = session.get(User, user_id) if user_id is not None else None
    if user is None or not user.active:
        raise MappingError(NO_SUCH_USER, field="user_id")
    existing = session.scalar(select(StaffNameMapping).where(StaffNameMapping.name == name))
    if existing is not None:
        raise MappingError(ALREADY_MAPPED, status=409, name=name, user=existing.user.label)
    mapping = StaffNameMapping(
        name=name, user_id=user.id, created_at=now, created_by=actor.name[:64], created_by_id=actor.user_id
    )
    try:
        with session.begin_nested():  # two managers mapping the same name at once: one wins
            session.add(mapping)
            session.flush()
    except IntegrityError:
        existing = session.scalar(select(StaffNameMapping).where(StaffNameMapping.name == name))
        label = existing.user.label if existing is not None else ""
        raise MappingError(ALREADY_MAPPED, status=409, name=name, user=label) from None
    rows: dict[str, int] = {}
    for what, model, name_col, user_col, _column in PLACES:
        result = session.execute(
            update(model)
            .where(name_col == name, user_col.is_(None))
            .values({user_col: user.id, model.updated_at: now})
            .execution_options(synchronize_session=False)
        )
        rows[what] = result.rowcount or 0
    tasks = _give_open_delivery_calls(session, user.id, now)
    audit.record(
        session,
        actor=actor,
        action="map_staff_name",
        object_type="staff_name_mapping",
        object_id=mapping.id,
        detail={"user_id": user.id, **rows, "tasks": tasks},
        now=now,
    )
    session.flush()
    session.expire_all()  # the bulk UPDATEs bypassed objects already in the session
    return MappingResult(mapping, rows, tasks)


def _give_open_delivery_calls(session: Session, user_id: int, now: datetime) -> list[int]:
    """The open R7 tasks waiting unassigned whose consultant (the delivery's, else the
    vehicle's, as the generator reads it) is now ``user_id``: theirs. Their ids."""
    consultant_is_user = or_(
        Delivery.consultant_id == user_id,
        and_(Delivery.consultant_id.is_(None), Delivery.consultant_name.is_(None), Vehicle.consultant_id == user_id),
    )
    tasks = session.scalars(
        select(CareTask)
        .join(Delivery, Delivery.id == CareTask.delivery_id)
        .join(Vehicle, Vehicle.id == Delivery.vehicle_id)
        .where(
            CareTask.type == TaskType.DELIVERY_CALL.value,
            CareTask.status.in_(OPEN_STATUSES),
            CareTask.assignee_id.is_(None),
            consultant_is_user,
        )
        .order_by(CareTask.id)
    ).all()
    for task in tasks:
        task.assignee_id = user_id
        params = dict(task.reason_params or {})
        params.pop("owner_fallback", None)
        task.reason_params = params
        task.updated_at = now
    session.flush()
    return [task.id for task in tasks]


def users_with_roles(users: Iterable[User], roles: frozenset[Role]) -> tuple[list[User], list[User]]:
    """``users`` split into those holding one of ``roles`` and the others (order kept)."""
    fitting, others = [], []
    for user in users:
        (fitting if user.roles & roles else others).append(user)
    return fitting, others


"""Who gets a new care task (domain.md §3: round-robin among active specialists unless a
rule names an owner).

One :class:`Assigner` serves one generator run: it reads the active users and their open
load (open + blocked tasks) once, then keeps the counts in memory while it hands out.

- ``round_robin``: the least-loaded active specialist; among equally loaded ones the one
  who got a task longest ago (round-robin). A customer's tasks stay together: a
  specialist who already holds an open round-robin task of the customer (or got one
  earlier in this run) gets the customer's new ones too, so that one call can settle all
  of them (§3 "one contact").
- ``policy_specialist`` (R5): the policy's insurance specialist when active; else the
  least-loaded active insurance specialist; else the round-robin specialists.
- ``consultant`` (R7): the selling consultant when active; else the round-robin
  specialists (decision: the 24-hour call must still be made, and the care desk is who
  can make it; sales managers are not in the care workflow). A consultant the DMS file
  names who is no user yet (an unmapped staff name, care/services/staff_names.py): the
  task waits unassigned in the care manager's queue (the worklist's "unassigned" pile,
  which the care manager works or hands out) until the name is mapped, when it goes to
  that consultant (``OWNER_UNMAPPED``): the call is the consultant's to make, and only
  the care manager knows who the name means.
- Nobody to give it to (no active specialist at all): ``None`` – the task waits
  unassigned on the manager's view. Never an error.

An :class:`Assignment` says who and, when the named owner could not be used, why
(``fallback``: ``no_owner``, ``owner_inactive`` or ``owner_unmapped``); the generator
stores that in the task's reason params as ``owner_fallback``.
"""

from __future__ import annotations

import heapq
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field

from sqlalchemy import Integer, any_, bindparam, func, select
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Session
from sqlalchemy.types import TypeEngine

from care.domain.roles import Role
from care.domain.task_rules import OwnerRule
from care.models import OPEN_STATUSES, CareTask, User, UserRole

IN_CHUNK = 5000  # values per `IN (…)` list on SQLite (which allows 32766 parameters)
NO_OWNER = "no_owner"
OWNER_INACTIVE = "owner_inactive"
OWNER_UNMAPPED = "owner_unmapped"


def in_batches(session: Session, column, values: Sequence, type_: TypeEngine) -> Iterator:
    """Conditions ``column IN values`` for bulk selects: on PostgreSQL one
    ``column = ANY(:array)`` (a single parameter, whatever the length); elsewhere ``IN``
    lists of at most :data:`IN_CHUNK` values (the caller runs one select per condition)."""
    if not values:
        return
    if session.get_bind().dialect.name == "postgresql":
        yield column == any_(bindparam(None, list(values), type_=ARRAY(type_)))
        return
    for start in range(0, len(values), IN_CHUNK):
        yield column.in_(values[start : start + IN_CHUNK])


@dataclass(frozen=True)
class Assignment:
    assignee_id: int | None
    fallback: str | None = None  # why the owner the rule names was not used


class _Pool:
    """Users of one role, least loaded first, then least recently given a task."""

    def __init__(self, user_ids: Iterable[int], loads: dict[int, int]):
        self.loads = loads
        self.heap = [(loads[u], 0, u) for u in sorted(user_ids)]
        heapq.heapify(self.heap)

    def __bool__(self) -> bool:
        return bool(self.heap)

    def peek(self) -> int | None:
        # Loads only grow; an entry whose load is stale (the user got a task through
        # another pool, as a named owner or as a customer's holder) is refreshed when it
        # reaches the top.
        while self.heap:
            load, seq, user_id = self.heap[0]
            if load == self.loads[user_id]:
                return user_id
            heapq.heapreplace(self.heap, (self.loads[user_id], seq, user_id))
        return None

    def take(self, tick: int) -> int | None:
        user_id = self.peek()
        if user_id is None:
            return None
        self.loads[user_id] += 1
        heapq.heapreplace(self.heap, (self.loads[user_id], tick, user_id))
        return user_id


@dataclass
class Assigner:
    active: set[int]
    specialists: _Pool
    insurance: _Pool
    loads: dict[int, int]
    specialist_ids: frozenset[int] = frozenset()
    holders: dict[int, int] = field(default_factory=dict)  # customer id → specialist id
    tick: int = 0

    @classmethod
    def load(cls, session: Session) -> Assigner:
        """Two queries: the active users with their roles, and the open load per user."""
        roles: dict[int, set[str]] = defaultdict(set)
        rows = session.execute(
            select(User.id, UserRole.role).join(UserRole, UserRole.user_id == User.id).where(User.active.is_(True))
        )
        for user_id, role in rows:
            roles[user_id].add(role)
        active = set(session.scalars(select(User.id).where(User.active.is_(True))))
        loads: dict[int, int] = defaultdict(int)
        for user_id, count in session.execute(
            select(CareTask.assignee_id, func.count())
            .where(CareTask.status.in_(OPEN_STATUSES), CareTask.assignee_id.is_not(None))
            .group_by(CareTask.assignee_id)
        ):
            loads[user_id] = count
        specialists = [u for u, r in roles.items() if Role.SPECIALIST.value in r]
        insurance = [u for u, r in roles.items() if Role.INSURANCE.value in r]
        return cls(
            active=active,
            specialists=_Pool(specialists, loads),
            insurance=_Pool(insurance, loads),
            loads=loads,
            specialist_ids=frozenset(specialists),
        )

    def remember_holders(self, session: Session, customer_ids: Iterable[int]) -> None:
        """The specialist holding an open round-robin task of each of these customers."""
        ids = sorted(set(customer_ids))
        for among in in_batches(session, CareTask.customer_id, ids, Integer()):
            rows = session.execute(
                select(CareTask.customer_id, CareTask.assignee_id)
                .where(
                    among,
                    CareTask.status.in_(OPEN_STATUSES),
                    CareTask.owner_rule == OwnerRule.ROUND_ROBIN.value,
                    CareTask.assignee_id.is_not(None),
                )
                .order_by(CareTask.customer_id, CareTask.due_at, CareTask.id)
            )
            for customer_id, assignee_id in rows:
                if assignee_id in self.specialist_ids:
                    self.holders.setdefault(customer_id, assignee_id)

    def assign(
        self,
        owner_rule: str,
        owner_id: int | None = None,
        customer_id: int | None = None,
        owner_name: str | None = None,
    ) -> Assignment:
        """``owner_id``: the user the rule names; ``owner_name``: the name the DMS file
        gives for that owner when it is no user (R7: the care manager's queue)."""
        self.tick += 1
        if owner_rule == OwnerRule.ROUND_ROBIN.value:
            return Assignment(self._round_robin(customer_id))
        if owner_id is not None and owner_id in self.active:
            self._give(owner_id)
            return Assignment(owner_id)
        if owner_id is None and owner_name and owner_rule == OwnerRule.CONSULTANT.value:
            return Assignment(None, OWNER_UNMAPPED)
        why = NO_OWNER if owner_id is None else OWNER_INACTIVE
        if owner_rule == OwnerRule.POLICY_SPECIALIST.value and self.insurance:
            return Assignment(self.insurance.take(self.tick), why)
        return Assignment(self._round_robin(customer_id), why)

    def _round_robin(self, customer_id: int | None) -> int | None:
        holder = self.holders.get(customer_id) if customer_id is not None else None
        if holder is not None:
            self._give(holder)
            return holder
        user_id = self.specialists.take(self.tick)
        if user_id is not None and customer_id is not None:
            self.holders[customer_id] = user_id
        return user_id

    def _give(self, user_id: int) -> None:
        """A task for a named owner or a customer's holder: only the load grows (the pools
        see it when the user's entry comes up)."""
        self.loads[user_id] += 1

"""Who may see and act on one object: the ownership rules, over plain values.

The role check (care/web/access.py, `@roles_required`) decides who may open a route at
all; these rules decide, for the object the route names, whether this user may. One
place for every object route, used by the services (which raise a refusal the view
answers with 403; a closed task is 409, as for outcomes):

- a task (call, record an outcome, book an appointment from it): its assignee, anyone
  while it is unassigned, or a care manager — and only while it is open (or blocked);
- a call attempt's panel and recording: whoever placed the call, the assignee of its
  task, or a manager (care manager; general and sales managers read, where their roles
  open the page at all);
- a customer's phone numbers (the number-correction queue, R12): a care manager, or a
  caller for a customer in the queue with a blocked task that is theirs (or unassigned).

Existence is not hidden (a refusal is 403, not 404): ids are not secret in this intranet,
and the role check already answers 403 for the same URL to other roles.
"""

from __future__ import annotations

from collections.abc import Iterable

from care.domain.roles import Role

OPEN_STATUSES = frozenset({"open", "blocked"})

# Who may act on someone else's task (call, record, book, correct its number).
TASK_OVERRIDERS: frozenset[Role] = frozenset({Role.CARE_MANAGER})

# Who may read someone else's calls (panel, recording).
ATTEMPT_READERS: frozenset[Role] = frozenset({Role.CARE_MANAGER, Role.GENERAL_MANAGER, Role.SALES_MANAGER})

# Why an action is refused.
OK = None
CLOSED = "closed"
NOT_YOURS = "not_yours"


def _roles(roles: Iterable[str]) -> frozenset[str]:
    return frozenset(str(r) for r in roles)


def owns_task(user_id: int | None, roles: Iterable[str], task_assignee_id: int | None) -> bool:
    """The task is the user's to work: theirs, unassigned, or the user overrides."""
    if task_assignee_id is None or (user_id is not None and task_assignee_id == user_id):
        return True
    return bool(_roles(roles) & TASK_OVERRIDERS)


def task_refusal(
    user_id: int | None, roles: Iterable[str], task_assignee_id: int | None, task_status: str
) -> str | None:
    """Why the user may not act on the task (CLOSED, NOT_YOURS), or None: they may."""
    if task_status not in OPEN_STATUSES:
        return CLOSED
    if not owns_task(user_id, roles, task_assignee_id):
        return NOT_YOURS
    return OK


def may_act_on_task(
    user_id: int | None, roles: Iterable[str], task_assignee_id: int | None, task_status: str
) -> bool:
    return task_refusal(user_id, roles, task_assignee_id, task_status) is None


def may_see_attempt(
    user_id: int | None,
    roles: Iterable[str],
    attempt_user_id: int | None,
    task_assignee_id: int | None,
) -> bool:
    """A call's live panel and recording: its caller, its task's assignee, or a manager."""
    if user_id is not None and user_id in (attempt_user_id, task_assignee_id):
        return True
    return bool(_roles(roles) & ATTEMPT_READERS)


def may_correct_number(
    user_id: int | None, roles: Iterable[str], blocked_task_assignee_ids: Iterable[int | None]
) -> bool:
    """Correct a customer's number: a care manager, or for a customer in the queue (one
    blocked task at least) whose blocked task is the user's or nobody's."""
    if _roles(roles) & TASK_OVERRIDERS:
        return True
    return any(a is None or (user_id is not None and a == user_id) for a in blocked_task_assignee_ids)

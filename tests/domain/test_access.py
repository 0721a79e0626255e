"""care.domain.access: who may see and act on one object (plain values in, a yes/no out)."""

from __future__ import annotations

import pytest

from care.domain import access
from care.domain.roles import Role

ME, OTHER = 1, 2
SPECIALIST = {Role.SPECIALIST}
CARE_MANAGER = {Role.CARE_MANAGER}


@pytest.mark.parametrize(
    "roles, assignee, status, want",
    [
        (SPECIALIST, ME, "open", None),
        (SPECIALIST, ME, "blocked", None),
        (SPECIALIST, None, "open", None),  # unassigned: anyone who calls
        (SPECIALIST, OTHER, "open", access.NOT_YOURS),
        ({Role.CONSULTANT}, OTHER, "open", access.NOT_YOURS),
        ({Role.GENERAL_MANAGER}, OTHER, "open", access.NOT_YOURS),  # reads, does not act
        (CARE_MANAGER, OTHER, "open", None),
        (SPECIALIST, ME, "done", access.CLOSED),
        (CARE_MANAGER, OTHER, "canceled", access.CLOSED),
        ({"specialist", "care_manager"}, OTHER, "open", None),  # plain strings work too
    ],
)
def test_task_refusal(roles, assignee, status, want):
    assert access.task_refusal(ME, roles, assignee, status) == want
    assert access.may_act_on_task(ME, roles, assignee, status) is (want is None)


@pytest.mark.parametrize(
    "roles, caller, assignee, want",
    [
        (SPECIALIST, ME, OTHER, True),  # my call on a task reassigned since
        (SPECIALIST, OTHER, ME, True),  # a call on my task
        (SPECIALIST, OTHER, OTHER, False),
        ({Role.CONSULTANT}, OTHER, None, False),
        (SPECIALIST, None, None, False),  # nobody's call: managers only
        (CARE_MANAGER, OTHER, OTHER, True),
        ({Role.GENERAL_MANAGER}, OTHER, OTHER, True),
        ({Role.SALES_MANAGER}, OTHER, OTHER, True),
    ],
)
def test_may_see_attempt(roles, caller, assignee, want):
    assert access.may_see_attempt(ME, roles, caller, assignee) is want


@pytest.mark.parametrize(
    "roles, blocked_assignees, want",
    [
        (SPECIALIST, [ME], True),
        (SPECIALIST, [OTHER, ME], True),
        (SPECIALIST, [None], True),  # an unassigned blocked task: anyone who calls
        (SPECIALIST, [OTHER], False),
        (SPECIALIST, [], False),  # not in the queue
        ({Role.CONSULTANT}, [OTHER], False),
        (CARE_MANAGER, [], True),
        (CARE_MANAGER, [OTHER], True),
    ],
)
def test_may_correct_number(roles, blocked_assignees, want):
    assert access.may_correct_number(ME, roles, blocked_assignees) is want


def test_anonymous_owns_nothing():
    assert not access.may_see_attempt(None, (), None, None)
    assert not access.may_correct_number(None, (), [])
    assert access.task_refusal(None, (), OTHER, "open") == access.NOT_YOURS

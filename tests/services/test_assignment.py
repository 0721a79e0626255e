"""Who gets a new task (care/services/assignment.py)."""

from __future__ import annotations

from collections import Counter

from sqlalchemy import Integer

from care.services.assignment import NO_OWNER, OWNER_INACTIVE, OWNER_UNMAPPED, Assigner, in_batches
from tests import factories as f


def test_round_robin_among_the_least_loaded(session):
    a = f.make_user(session, "specialist", username="a")
    b = f.make_user(session, "specialist", username="b")
    c = f.make_user(session, "specialist", username="c")
    for _ in range(2):
        f.make_task(session, assignee=a)
    f.make_task(session, assignee=b)
    f.make_task(session, assignee=b, status="done")  # closed tasks are no load
    assigner = Assigner.load(session)
    picks = [assigner.assign("round_robin").assignee_id for _ in range(6)]
    # c (0) first, then b and c (1 each) in turn, then all three at 2 …
    assert picks[:3] == [c.id, b.id, c.id]
    assert Counter(picks) == {c.id: 3, b.id: 2, a.id: 1}
    assert assigner.loads[a.id] == assigner.loads[b.id] == assigner.loads[c.id] == 3


def test_equal_load_goes_round_robin(session):
    users = [f.make_user(session, "specialist", username=f"s{n}") for n in range(3)]
    assigner = Assigner.load(session)
    picks = [assigner.assign("round_robin").assignee_id for _ in range(6)]
    assert picks == [u.id for u in users] * 2


def test_blocked_tasks_count_as_load_and_inactive_users_get_nothing(session):
    a = f.make_user(session, "specialist", username="a")
    b = f.make_user(session, "specialist", username="b")
    f.make_user(session, "specialist", username="gone", active=False)
    f.make_task(session, assignee=a, status="blocked")
    assigner = Assigner.load(session)
    assert assigner.assign("round_robin").assignee_id == b.id
    assert {assigner.assign("round_robin").assignee_id for _ in range(4)} == {a.id, b.id}


def test_no_specialist_at_all_leaves_the_task_unassigned(session):
    f.make_user(session, "care_manager")
    assigner = Assigner.load(session)
    assert assigner.assign("round_robin").assignee_id is None
    assert assigner.assign("consultant", None) == Assigner.load(session).assign("consultant", None)
    assert assigner.assign("policy_specialist", None).assignee_id is None


def test_policy_specialist_and_fallbacks(session):
    spec = f.make_user(session, "specialist", username="spec")
    agent = f.make_user(session, "insurance", username="agent")
    other = f.make_user(session, "insurance", username="agent2")
    gone = f.make_user(session, "insurance", username="gone", active=False)
    assigner = Assigner.load(session)
    assert assigner.assign("policy_specialist", agent.id).assignee_id == agent.id
    # inactive owner → the least-loaded active insurance specialist (agent has 1 now)
    fallback = assigner.assign("policy_specialist", gone.id)
    assert fallback.assignee_id == other.id and fallback.fallback == OWNER_INACTIVE
    assert assigner.assign("policy_specialist", None).fallback == NO_OWNER
    assert spec.id not in {assigner.assign("policy_specialist", None).assignee_id for _ in range(3)}


def test_policy_specialist_without_insurance_staff_goes_to_specialists(session):
    spec = f.make_user(session, "specialist", username="spec")
    assignment = Assigner.load(session).assign("policy_specialist", None)
    assert assignment.assignee_id == spec.id and assignment.fallback == NO_OWNER


def test_consultant_or_a_specialist(session):
    spec = f.make_user(session, "specialist", username="spec")
    sales = f.make_user(session, "consultant", username="sales")
    gone = f.make_user(session, "consultant", username="gone", active=False)
    assigner = Assigner.load(session)
    assert assigner.assign("consultant", sales.id).assignee_id == sales.id
    assert assigner.assign("consultant", sales.id).fallback is None
    fallback = assigner.assign("consultant", gone.id)
    assert fallback.assignee_id == spec.id and fallback.fallback == OWNER_INACTIVE
    assert assigner.assign("consultant", None).fallback == NO_OWNER
    assert assigner.loads[sales.id] == 2  # named owners' tasks count in their load


def test_a_consultant_named_in_a_file_who_is_no_user_leaves_r7_to_the_care_managers_queue(session):
    spec = f.make_user(session, "specialist", "insurance", username="spec")
    assigner = Assigner.load(session)
    unmapped = assigner.assign("consultant", None, owner_name="张伟")
    assert (unmapped.assignee_id, unmapped.fallback) == (None, OWNER_UNMAPPED)
    # only R7 waits for the name's mapping: an unknown policy specialist's renewal is the desk's
    renewal = assigner.assign("policy_specialist", None, owner_name="老王")
    assert (renewal.assignee_id, renewal.fallback) == (spec.id, NO_OWNER)


def test_named_owners_load_counts_for_round_robin(session):
    a = f.make_user(session, "specialist", "insurance", username="a")
    b = f.make_user(session, "specialist", username="b")
    assigner = Assigner.load(session)
    for _ in range(3):
        assigner.assign("policy_specialist", a.id)
    assert [assigner.assign("round_robin").assignee_id for _ in range(3)] == [b.id, b.id, b.id]


def test_a_customer_keeps_their_specialist(session):
    a = f.make_user(session, "specialist", username="a")
    b = f.make_user(session, "specialist", username="b")
    customer = f.make_customer(session)
    for _ in range(3):
        f.make_task(session, customer, assignee=b)  # b is busier but holds this customer
    f.make_task(session, customer, assignee=a, owner_rule="consultant")  # not a holder
    assigner = Assigner.load(session)
    assigner.remember_holders(session, [customer.id])
    assert assigner.assign("round_robin", None, customer.id).assignee_id == b.id
    newcomer = f.make_customer(session)
    first = assigner.assign("round_robin", None, newcomer.id).assignee_id
    assert first == a.id
    assert assigner.assign("round_robin", None, newcomer.id).assignee_id == first  # same run


def test_in_batches_covers_every_value(session):
    from care.models import User

    users = [f.make_user(session, "specialist").id for _ in range(3)]
    found = []
    for condition in in_batches(session, User.id, users, Integer()):
        found.extend(session.scalars(User.__table__.select().with_only_columns(User.id).where(condition)))
    assert sorted(found) == sorted(users)
    assert list(in_batches(session, User.id, [], Integer())) == []

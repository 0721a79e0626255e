"""The managers' dashboard figures (care.services.dashboard) from crafted tasks and calls."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from care.models import CallAttempt
from care.services import dashboard
from care.services.settings import load_settings
from tests import factories as f

# 2026-03-16 10:30 in Shanghai (UTC+8)
NOW = datetime(2026, 3, 16, 2, 30, tzinfo=UTC)
TODAY_START = datetime(2026, 3, 15, 16, 0, tzinfo=UTC)  # local midnight


def call(session, task, at, *, user, answered=False):
    a = CallAttempt(
        task_id=task.id, customer_id=task.customer_id, user_id=user.id, provider="sim", to_number="+8613800000000",
        status="completed" if answered else "no-answer", outcome="completed" if answered else "no_answer",
        answered=answered, started_at=at,
    )  # fmt: skip
    session.add(a)
    session.flush()
    return a


def test_queues_people_and_totals(session):
    ann, bob = f.make_user(session, "specialist", username="ann"), f.make_user(session, "specialist", username="bob")
    # ann: one overdue first service, one due later today, one due next week; one done today
    f.make_task(session, assignee=ann, due_at=NOW - timedelta(hours=1), now=NOW)
    f.make_task(session, assignee=ann, due_at=NOW + timedelta(hours=5), now=NOW)
    f.make_task(session, assignee=ann, type="maintenance", due_at=NOW + timedelta(days=7), now=NOW)
    done = f.make_task(session, assignee=ann, type="maintenance", status="done", outcome="booked",
                       closed_at=NOW - timedelta(hours=2), now=NOW)  # fmt: skip
    # bob: a birthday failed today, a task done yesterday (not today), a task not yet open
    f.make_task(session, assignee=bob, type="birthday", status="failed", closed_at=TODAY_START + timedelta(minutes=5), now=NOW)
    f.make_task(session, assignee=bob, status="done", outcome="booked", closed_at=TODAY_START - timedelta(minutes=5), now=NOW)
    f.make_task(session, assignee=bob, opens_on=date(2026, 3, 20), due_at=NOW + timedelta(days=30))
    call(session, done, NOW - timedelta(hours=2, minutes=5), user=ann, answered=True)
    call(session, done, TODAY_START - timedelta(hours=1), user=ann)  # yesterday: not counted
    call(session, done, NOW - timedelta(hours=1), user=bob)

    board = dashboard.dashboard(session, now=NOW, settings=load_settings(session))

    by_type = {q.type: q for q in board.queues}
    fs, mt, bd = by_type["first_service"], by_type["maintenance"], by_type["birthday"]
    assert (fs.open, fs.due_today, fs.overdue, fs.done_today) == (2, 1, 1, 0)
    assert (mt.open, mt.due_today, mt.overdue, mt.done_today) == (1, 0, 0, 1)
    assert (bd.open, bd.unreached_today, bd.closed_today) == (0, 1, 1)
    assert (board.total.open, board.total.overdue, board.total.done_today, board.total.unreached_today) == (3, 1, 1, 1)
    assert len(board.queues) == 11  # every task type, zeros included

    people = {p.load.user.username: p for p in board.people if p.load.user}
    assert (people["ann"].load.total, people["ann"].load.overdue, people["ann"].done_today) == (3, 1, 1)
    assert (people["ann"].calls_today, people["ann"].answered_today) == (1, 1)
    assert (people["bob"].load.total, people["bob"].done_today, people["bob"].calls_today) == (0, 0, 1)
    assert board.month == date(2026, 3, 1) and board.last_month == date(2026, 2, 1)
    assert board.sample_this["calls"] == 0 and board.sample_this["completion"]["rate"] is None


def test_r15_of_the_month_so_far(session):
    ann = f.make_user(session, "specialist", username="ann")
    dropped = f.make_task(session, assignee=ann, due_at=NOW + timedelta(days=20), now=NOW)
    call(session, dropped, datetime(2026, 3, 2, 2, tzinfo=UTC), user=ann)
    board = dashboard.dashboard(session, now=NOW, settings=load_settings(session))
    assert board.r15_count == 1 and [v.task.id for v in board.r15_latest] == [dropped.id]


def test_my_month_counts_only_my_tasks(session):
    ann, bob = f.make_user(session, "specialist", username="ann"), f.make_user(session, "specialist", username="bob")
    mine = f.make_task(session, assignee=ann, status="done", outcome="booked", due_at=NOW + timedelta(days=3),
                       closed_at=NOW - timedelta(days=2), now=NOW)  # fmt: skip
    call(session, mine, NOW - timedelta(days=2, minutes=5), user=ann, answered=True)
    f.make_task(session, assignee=bob, status="done", outcome="booked", closed_at=NOW - timedelta(days=1), now=NOW)
    span, card = dashboard.my_month(session, ann, now=NOW, settings=load_settings(session))
    assert span.first == date(2026, 3, 1)
    assert (card.counts.tasks, card.counts.done, card.counts.calls) == (1, 1, 1)
    assert card.reached_rate.value == 1.0

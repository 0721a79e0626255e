"""The worklist's call states and order (issue 10 item 2) and the next callable contact
(item 3), with a frozen ``now``: attempts used, slots, callable now or the next slot, a
call in progress, an answer without its outcome, the state filter, the counts per state,
keyset paging across the callable / not-callable boundary, the next contact, and the
cost of a page (a constant number of statements)."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

import pytest
from sqlalchemy import event

from care.domain.dates import end_of_day, local_datetime
from care.extensions import db
from care.models import CareTask, Customer, TaskOutcome, User
from care.models.call import CallAttemptTask
from care.services import worklist as wl
from tests import factories as f

TZ = "Asia/Shanghai"
NOW = datetime(2026, 10, 10, 2, 0, tzinfo=UTC)  # 10:00 in Shanghai: the morning slot
TODAY = NOW.date()
S = wl.CallState


def at(hh: int, mm: int = 0, days: int = 0) -> datetime:
    return local_datetime(TODAY + timedelta(days=days), time(hh, mm), TZ)


def day_end(days: int) -> datetime:
    return end_of_day(TODAY + timedelta(days=days), TZ)


@pytest.fixture
def spec(session):
    return f.make_user(session, "specialist")


@pytest.fixture
def manager(session):
    return f.make_user(session, "care_manager")


def task(session, customer=None, *, due=None, **kw):
    return f.make_task(session, customer, due_at=due or day_end(3), opens_on=TODAY - timedelta(days=5), **kw)


def contact(session, user, *, due=None, **kw):
    """A customer with one task of ``user`` (kw: the task's fields)."""
    c = f.make_customer(session)
    return c, task(session, c, due=due, assignee=user, **kw)


def call(session, tasks, outcome: str | None, started: datetime, *, status: str | None = None, counted=True):
    """One call that counts for each of ``tasks`` (the first is the lead): ``outcome`` None
    and ``status`` ringing is a call in progress."""
    tasks = tasks if isinstance(tasks, list) else [tasks]
    attempt = f.make_attempt(
        session, tasks[0], status=status or outcome, outcome=outcome, started_at=started, counted=counted,
        answered=outcome == "completed",
    )  # fmt: skip
    session.add_all(CallAttemptTask(attempt_id=attempt.id, task_id=t.id) for t in tasks[1:])
    session.flush()
    return attempt


def outcome(session, t, code: str, recorded: datetime, *, closes=False):
    session.add(TaskOutcome(task_id=t.id, outcome=code, closes_task=closes, recorded_at=recorded))
    session.flush()


def page_of(session, user, flt=None, *, now=NOW, **kw):
    return wl.worklist(session, flt or wl.WorklistFilter(), user=user, now=now, **kw)


def states(page):
    return {c.customer.id: c.call.state for c in page.contacts}


def order(page):
    return [c.customer.id for c in page.contacts]


def assert_sql_agrees(page):
    """The state the SQL ordered and counted each line by is the one the domain gives."""
    for c in page.contacts:
        assert c.listed_state is c.call.state, (c.customer.id, c.listed_state, c.call.state)
        assert c.group == (0 if c.call.state is S.CALLABLE or page.filter.order is wl.Order.DUE else 1)


# --- the line after a call ---------------------------------------------------------------


def test_after_a_no_answer_the_line_shows_1_of_3_and_the_next_slot(session, spec):
    c, t = contact(session, spec)
    before = page_of(session, spec).contacts[0].call
    assert before.state is S.CALLABLE and before.used == 0 and before.attempts_max == 3
    assert before.next_slot.name == "morning" and before.next_slot.ends_at == at(12, 0)  # callable until 12:00

    call(session, t, "no_answer", at(9, 20))
    line = page_of(session, spec).contacts[0]
    assert line.call.state is S.WAITING
    assert (line.call.used, line.call.attempts_max) == (1, 3)
    assert line.call.used_slots == ("morning",)
    assert line.call.next_slot.name == "afternoon" and line.call.next_slot.starts_at == at(14, 0)
    assert_sql_agrees(page_of(session, spec))

    # busy in the afternoon: 2/3, the evening is next; in the evening it is callable again
    call(session, t, "busy", at(14, 5))
    later = page_of(session, spec, now=at(15, 0)).contacts[0].call
    assert (later.state, later.used, later.used_slots) == (S.WAITING, 2, ("morning", "afternoon"))
    assert later.next_slot.name == "evening" and later.next_slot.starts_at == at(18, 30)
    evening = page_of(session, spec, now=at(18, 40)).contacts[0].call
    assert evening.state is S.CALLABLE and evening.next_slot.ends_at == at(20, 30)

    # the third failure: no call left (the fallback's business)
    call(session, t, "no_answer", at(18, 45))
    done = page_of(session, spec, now=at(19, 0))
    assert done.contacts[0].call.state is S.NO_CALL_LEFT and done.contacts[0].call.used == 3
    assert_sql_agrees(done)


def test_a_failed_call_may_be_retried_in_the_same_slot_and_a_canceled_one_does_not_count(session, spec):
    _c1, failed = contact(session, spec)
    call(session, failed, "failed", at(9, 10))
    _c2, canceled = contact(session, spec)
    call(session, canceled, "canceled", at(9, 15), counted=False)
    page = page_of(session, spec)
    by_task = {c.tasks[0].id: c.call for c in page.contacts}
    assert by_task[failed.id].state is S.CALLABLE and by_task[failed.id].used == 1  # telephony.md: one retry
    assert by_task[canceled.id].state is S.CALLABLE and by_task[canceled.id].used == 0
    assert_sql_agrees(page)


def test_a_call_in_progress(session, spec):
    c, t = contact(session, spec)
    call(session, t, None, at(9, 58), status="ringing")
    page = page_of(session, spec)
    assert states(page) == {c.id: S.IN_PROGRESS}
    assert page.state_counts[S.IN_PROGRESS] == 1 and page.state_counts[S.CALLABLE] == 0
    assert_sql_agrees(page)


def test_answered_without_an_outcome_until_one_is_recorded(session, spec):
    c, t = contact(session, spec)
    call(session, t, "completed", at(9, 30))
    page = page_of(session, spec)
    assert states(page) == {c.id: S.OUTCOME_MISSING}
    assert page.state_counts[S.OUTCOME_MISSING] == 1
    assert_sql_agrees(page)
    # an outcome recorded before the answer does not count for it
    outcome(session, t, "not_reached", at(9, 0))
    assert states(page_of(session, spec)) == {c.id: S.OUTCOME_MISSING}
    # one recorded after it (here one that leaves the task open): no longer missing, and a
    # reached task is not called again
    outcome(session, t, "not_reached", at(9, 40))
    after = page_of(session, spec)
    assert states(after) == {c.id: S.NO_CALL_LEFT}
    assert_sql_agrees(after)


def test_blocked_lines_say_why(session, spec):
    c1, _t1 = contact(session, spec, status="blocked")
    c2 = f.make_customer(session, mobile=None, phone2=None)
    task(session, c2, assignee=spec)
    c3 = f.make_customer(session, no_call=True)
    task(session, c3, assignee=spec)
    c4 = f.make_customer(session, mobile=None, phone2="+862887654321")
    task(session, c4, assignee=spec)  # the other phone is a number
    page = page_of(session, spec)
    assert states(page) == {c1.id: S.BLOCKED, c2.id: S.BLOCKED, c3.id: S.BLOCKED, c4.id: S.CALLABLE}
    why = {c.customer.id: c.call.blocked_by for c in page.contacts}
    assert why[c1.id] == (wl.BLOCKED_NUMBER,) and why[c2.id] == (wl.BLOCKED_NUMBER,)
    assert why[c3.id] == (wl.BLOCKED_NO_CALL,)
    assert_sql_agrees(page)


def test_one_call_for_a_contact_of_three_reasons_and_a_later_reason(session, spec):
    """One call counts for each task it was placed for; a task added later has its own budget:
    the line is callable through it, shows the most-used budget, and each reason its own."""
    c = f.make_customer(session)
    a, b, d = (task(session, c, assignee=spec, due=day_end(n)) for n in (1, 2, 3))
    call(session, [a, b, d], "no_answer", at(9, 5))
    line = page_of(session, spec).contacts[0].call
    assert line.state is S.WAITING and (line.used, line.attempts_max) == (1, 3) and not line.varies
    newcomer = task(session, c, assignee=spec, due=day_end(4))
    line = page_of(session, spec).contacts[0].call
    assert line.state is S.CALLABLE  # the new reason may be called this morning
    assert (line.used, line.used_slots) == (1, ("morning",)) and line.varies
    assert line.tasks[newcomer.id].state is S.CALLABLE and line.tasks[a.id].state is S.WAITING


def test_a_birthday_has_one_attempt_and_its_morning(session, spec):
    c1, _ = contact(session, spec, type="birthday", due=at(10, 30))
    c2, bday = contact(session, spec, type="birthday", due=at(10, 30))
    call(session, bday, "busy", at(9, 5))
    page = page_of(session, spec)
    assert states(page) == {c1.id: S.CALLABLE, c2.id: S.NO_CALL_LEFT}
    assert page.contacts[0].call.attempts_max == 1
    assert states(page_of(session, spec, now=at(10, 30))) == {c1.id: S.NO_CALL_LEFT, c2.id: S.NO_CALL_LEFT}


# --- order, filter, counts -----------------------------------------------------------------


def test_callable_now_contacts_come_first_then_by_deadline(session, spec):
    waiting, wt = contact(session, spec, due=day_end(0))  # the earliest deadline, but called this morning
    call(session, wt, "no_answer", at(9, 5))
    blocked, _ = contact(session, spec, due=day_end(1), status="blocked")
    late, _ = contact(session, spec, due=day_end(5))
    soon, _ = contact(session, spec, due=day_end(2))
    missing, mt = contact(session, spec, due=day_end(3))
    call(session, mt, "completed", at(9, 30))
    page = page_of(session, spec)
    assert order(page) == [soon.id, late.id, waiting.id, blocked.id, missing.id]
    assert [c.group for c in page.contacts] == [0, 0, 1, 1, 1]
    assert_sql_agrees(page)
    by_due = page_of(session, spec, wl.parse_filter(order="due"))
    assert order(by_due) == [waiting.id, blocked.id, soon.id, missing.id, late.id]
    assert_sql_agrees(by_due)
    # in quiet hours nobody is callable: the deadline order
    quiet = page_of(session, spec, now=at(13, 0))
    assert not any(c.call.state is S.CALLABLE for c in quiet.contacts)
    assert order(quiet) == [waiting.id, blocked.id, soon.id, missing.id, late.id]
    assert quiet.current_slot is None and quiet.next_slot.name == "afternoon"
    assert_sql_agrees(quiet)


def test_the_callable_now_filter_and_the_counts_per_state(session, spec):
    callable_ids = [contact(session, spec, due=day_end(i), type="inspection")[0].id for i in range(3)]
    w, wt = contact(session, spec)
    call(session, wt, "busy", at(9, 1))
    p, pt = contact(session, spec)
    call(session, pt, None, at(9, 59), status="ringing")
    m, mt = contact(session, spec)
    call(session, mt, "completed", at(9, 30))
    b, _ = contact(session, spec, status="blocked")
    x, _ = contact(session, spec, type="birthday", due=at(8, 30))  # its morning is over
    other = f.make_user(session, "specialist")
    contact(session, other)  # someone else's: not counted
    page = page_of(session, spec)
    assert page.state_counts == {
        S.CALLABLE: 3, S.WAITING: 1, S.IN_PROGRESS: 1, S.OUTCOME_MISSING: 1, S.BLOCKED: 1, S.NO_CALL_LEFT: 1,
    }  # fmt: skip
    assert page.total_contacts == 8
    only = page_of(session, spec, wl.parse_filter(state="callable"))
    assert order(only) == callable_ids
    assert only.total_contacts == 3 and only.counts == {"inspection": 3} and only.total_tasks == 3
    assert only.state_counts == page.state_counts  # the header keeps every state's count
    for state, ids in ((S.WAITING, [w.id]), (S.IN_PROGRESS, [p.id]), (S.OUTCOME_MISSING, [m.id]),
                       (S.BLOCKED, [b.id]), (S.NO_CALL_LEFT, [x.id])):  # fmt: skip
        assert order(page_of(session, spec, wl.parse_filter(state=state.value))) == ids
    # other filters narrow the counts per state too
    typed = page_of(session, spec, wl.parse_filter(["inspection"]))
    assert typed.state_counts[S.CALLABLE] == 3 and sum(typed.state_counts.values()) == 3


def test_filter_values_round_trip_and_garbage():
    flt = wl.parse_filter(["birthday"], state="callable", order="due")
    assert flt.query_args() == {"type": ["birthday"], "state": "callable", "order": "due"}
    assert not flt.is_default and wl.parse_filter().order is wl.Order.CALLABLE_FIRST
    for bad in ({"state": "ringing"}, {"order": "name"}):
        with pytest.raises(wl.WorklistError):
            wl.parse_filter(**bad)


def test_keyset_paging_across_the_callable_boundary(session, spec):
    """25 contacts, the callable ones interleaved in deadline order with the others, pages of
    4: every contact once, callable first, each group by deadline (ties by customer id)."""
    expected_callable, expected_rest = [], []
    for i in range(25):
        due = day_end(i % 6)  # ties on the deadline
        c, t = contact(session, spec, due=due)
        if i % 3 == 0:
            call(session, t, "no_answer", at(9, 0) + timedelta(minutes=i))
            expected_rest.append((due, c.id))
        elif i % 7 == 0:
            call(session, t, None, at(9, 50), status="ringing")
            expected_rest.append((due, c.id))
        else:
            expected_callable.append((due, c.id))
    expected = [cid for _, cid in sorted(expected_callable)] + [cid for _, cid in sorted(expected_rest)]
    seen, after, pages, groups = [], None, 0, []
    while True:
        page = page_of(session, spec, after=after, page_size=4)
        assert_sql_agrees(page)
        pages += 1
        seen += order(page)
        groups += [c.group for c in page.contacts]
        if page.next_cursor is None:
            break
        after = page.next_cursor
    assert seen == expected and len(set(seen)) == 25
    assert pages == 7 and groups == sorted(groups)
    # a cursor's text comes back as the same cursor (the page link)
    first = page_of(session, spec, page_size=len(expected_callable))
    assert first.next_cursor.group == 0
    again = page_of(session, spec, after=wl.Cursor.parse(first.next_cursor.encode()), page_size=4)
    assert order(again) == expected[len(expected_callable) : len(expected_callable) + 4]


# --- the SQL reading of tasks without attempts is the domain's ----------------------------

GRID_TIMES = [(8, 59), (9, 0), (10, 29), (10, 30), (11, 59), (12, 0), (13, 59), (14, 0), (17, 30), (18, 29),
              (20, 29), (20, 30), (23, 0)]  # fmt: skip
GRID_DUES = [timedelta(hours=-30), timedelta(hours=-1), timedelta(0), timedelta(minutes=1), timedelta(minutes=90),
             timedelta(hours=5), timedelta(hours=10), timedelta(days=3)]  # fmt: skip


def test_sql_state_of_tasks_without_attempts_matches_the_domain(session):
    """Every combination of type, status, number, no-call flag and deadline, at the edges of
    the slots and quiet hours: the state the SQL orders by is the one the domain gives."""
    customer_kinds = ({}, {"mobile": None}, {"mobile": None, "phone2": "+862887654321"}, {"no_call": True})
    for n, (hh, mm) in enumerate(GRID_TIMES):
        now = at(hh, mm)
        owner = f.make_user(session, "specialist")  # one list per instant
        made = []
        for kind in ("birthday", "first_service"):
            for status in ("open", "blocked"):
                for i, customer_kw in enumerate(customer_kinds):
                    for j, offset in enumerate(GRID_DUES):
                        c = Customer(customer_no=f"G{n}-{kind}-{status}-{i}-{j}", name="grid",
                                     **{"mobile": "+8613800138000", **customer_kw})  # fmt: skip
                        made.append(
                            CareTask(type=kind, status=status, cycle_key=f"grid:{n}:{kind}:{status}:{i}:{j}",
                                     customer=c, opens_on=TODAY - timedelta(days=2), due_at=now + offset,
                                     owner_rule="round_robin", assignee_id=owner.id, channel="call",
                                     reason_id="first_service.reason", reason_params={})  # fmt: skip
                        )
        session.add_all(made)
        session.flush()
        page = page_of(session, owner, now=now, page_size=len(made))
        assert len(page.contacts) == len(made)
        assert_sql_agrees(page)
        assert sum(page.state_counts.values()) == len(made)


def test_the_plan_reader_reads_each_history_as_a_plan_of_its_own_would(session, spec):
    """The memo's key (day, slot, outcome of each attempt; a birthday's deadline) decides the
    plan: tasks with the same key at different minutes read the same, and every reading is
    the one of a reader that never saw another task."""
    from care.services import calls as call_service
    from care.services.settings import load_settings

    histories = [
        [("no_answer", at(9, 5))], [("no_answer", at(9, 50))],  # the same key
        [("failed", at(9, 1)), ("no_answer", at(9, 3))], [("failed", at(9, 2))],
        [("busy", at(14, 0, days=-1)), ("no_answer", at(18, 40, days=-1))],
        [("no_answer", at(13, 0))],  # quiet hours (a hand-recorded time)
        [("completed", at(9, 30))], [(None, at(9, 59))], [("canceled", at(9, 20))],
        [("no_answer", at(9, 0, days=-3))], [],
    ]  # fmt: skip
    tasks = []
    for history in histories:
        for kind, due in (("first_service", day_end(3)), ("birthday", at(10, 30)), ("birthday", at(11, 0))):
            t = task(session, assignee=spec, type=kind, due=due)
            for outcome_, started in history:
                call(session, t, outcome_, started, status=None if outcome_ else "ringing",
                     counted=outcome_ != "canceled")  # fmt: skip
            tasks.append(t)
    settings = load_settings(session)
    by_task = call_service.attempts_by_task(session, [t.id for t in tasks])
    shared = wl.PlanReader(settings, NOW)
    for t in tasks:
        alone = wl.PlanReader(settings, NOW).read(t, by_task[t.id])
        assert shared.read(t, by_task[t.id]) == alone, (t.id, t.type, by_task[t.id])
    assert len(shared._memo) < len(tasks)


# --- next contact ---------------------------------------------------------------------------


def next_of(session, user, after=None, flt=None, now=NOW):
    return wl.next_callable_contact(session, flt or wl.WorklistFilter(), user=user, now=now, after=after)


def test_next_callable_contact_follows_the_list_and_wraps_around(session, spec):
    a, _ = contact(session, spec, due=day_end(1))
    w, wt = contact(session, spec, due=day_end(2))
    call(session, wt, "no_answer", at(9, 0))  # not callable now
    b, _ = contact(session, spec, due=day_end(3))
    c, _ = contact(session, spec, due=day_end(3))  # same deadline: after b by id
    assert next_of(session, spec) == a.id
    assert next_of(session, spec, after=a.id) == b.id
    assert next_of(session, spec, after=w.id) == b.id  # from a waiting line: the next callable below it
    assert next_of(session, spec, after=b.id) == c.id
    assert next_of(session, spec, after=c.id) == a.id  # the end: from the top again
    assert next_of(session, spec, after=999999) == a.id  # not on the list: the first


def test_next_contact_after_the_outcome_closed_the_contact(session, spec):
    a, _ = contact(session, spec, due=day_end(1))  # callable, skipped by the user
    b, bt = contact(session, spec, due=day_end(2))
    c, _ = contact(session, spec, due=day_end(3))
    call(session, bt, "completed", at(9, 30))
    bt.status, bt.outcome, bt.closed_at = "done", "will_come", at(9, 35)
    session.flush()
    # b left the list: the next is the line below where b's was, not the top
    assert next_of(session, spec, after=b.id) == c.id
    assert next_of(session, spec, after=c.id) == a.id  # then from the top
    # a task closed on an earlier day gives no place: the first callable contact
    bt.closed_at = at(9, 0, days=-1)
    session.flush()
    assert next_of(session, spec, after=b.id) == a.id


def test_next_contact_is_never_another_specialists_and_respects_the_filter(session, spec, manager):
    other = f.make_user(session, "specialist")
    theirs, _ = contact(session, other, due=day_end(0))
    mine, _ = contact(session, spec, due=day_end(2), type="inspection")
    unassigned = f.make_customer(session)
    task(session, unassigned, due=day_end(1))
    assert next_of(session, spec) == mine.id
    assert next_of(session, spec, after=mine.id) is None  # only one: none after it
    assert next_of(session, spec, flt=wl.parse_filter(owner=str(other.id))) == mine.id  # owner is for managers
    assert next_of(session, spec, flt=wl.parse_filter(["birthday"])) is None
    assert next_of(session, manager) == theirs.id  # a care manager's list is everyone's
    assert next_of(session, manager, after=theirs.id) == unassigned.id
    assert next_of(session, manager, flt=wl.parse_filter(owner="unassigned")) == unassigned.id
    assert next_of(session, spec, now=at(13, 0)) is None  # quiet hours: nobody is callable
    # the list's state filter does not apply: the answer is a callable contact
    assert next_of(session, spec, flt=wl.parse_filter(state="waiting")) == mine.id


# --- the cost of a page -----------------------------------------------------------------------


def _statements(session, user_id, *, page_size=25):
    statements = []

    def listen(conn, cursor, statement, *args):
        statements.append(statement)

    session.commit()
    session.expunge_all()
    event.listen(db.engine, "before_cursor_execute", listen)
    try:
        user = session.get(User, user_id)
        statements.clear()
        page = page_of(session, user, page_size=page_size)
        for c in page.contacts:  # what the template touches
            assert c.call is not None
            for t in c.tasks:
                _ = (t.assignee and t.assignee.label, t.vehicle and t.vehicle.plate, c.call.tasks[t.id].state)
        wl.next_callable_contact(session, wl.WorklistFilter(), user=user, now=NOW, after=page.contacts[0].customer.id)
    finally:
        event.remove(db.engine, "before_cursor_execute", listen)
    return len(statements), len(page.contacts)


def _add_lines(session, owner, n):
    for i in range(n):
        c = f.make_customer(session)
        v = f.make_vehicle(session, c)
        a = task(session, c, vehicle_id=v.id, assignee=owner, due=day_end(i % 4))
        b = task(session, c, assignee=owner, type="inspection", due=day_end(1 + i % 3))
        kind = i % 4
        if kind == 0:
            call(session, [a, b], "no_answer", at(9, 0) + timedelta(minutes=i))
        elif kind == 1:
            call(session, a, "completed", at(9, 30))
            outcome(session, a, "not_reached", at(9, 45))
        elif kind == 2:
            call(session, b, None, at(9, 55), status="ringing")


def test_a_page_costs_the_same_statements_whatever_its_lines_and_attempts(session, manager):
    owner = f.make_user(session, "specialist")
    owner_id, manager_id = owner.id, manager.id
    _add_lines(session, owner, 4)
    small, small_lines = _statements(session, manager_id)
    _add_lines(session, session.get(User, owner_id), 40)
    large, large_lines = _statements(session, manager_id)
    assert (small_lines, large_lines) == (4, 25)
    assert large == small
    # the page: settings, the tasks with attempts with their attempts (and last outcomes),
    # the page's contacts with the counts per state, its customers, tasks, assignees (and
    # their roles) and vehicles, the counts per type (9); the next contact: settings, the
    # tasks with attempts, the place of `after`, the answer (4)
    assert small == 13


def test_attempt_readings_kept_across_pages_follow_a_change_of_the_call_slots(session, spec):
    """The worklist keeps each attempt's (day, slot, outcome) per process (worklist._SEEN),
    and tasks whose attempts read the same share one plan: after the slots change, two
    attempts once in the same slot are read in their new ones at once."""
    from care.services import Actor
    from care.services.settings import set_settings

    a, ta = contact(session, spec, due=day_end(2))
    b, tb = contact(session, spec, due=day_end(3))
    call(session, ta, "no_answer", at(9, 5))
    call(session, tb, "no_answer", at(9, 45))
    for _ in range(2):  # read twice: the second time from the kept readings
        assert states(page_of(session, spec)) == {a.id: S.WAITING, b.id: S.WAITING}  # the morning used

    # 09:05 is now "early", 09:45 still "morning"; 10:00 (NOW) is in the morning
    slots = "early=08:00-09:30, morning=09:30-12:00, afternoon=14:00-17:30"
    set_settings(session, {"call_slots": slots}, actor=Actor("care_manager", spec.id), now=NOW)
    page = page_of(session, spec)
    assert states(page) == {a.id: S.CALLABLE, b.id: S.WAITING}
    lines = {c.customer.id: c.call for c in page.contacts}
    assert (lines[a.id].used_slots, lines[b.id].used_slots) == (("early",), ("morning",))
    assert_sql_agrees(page)

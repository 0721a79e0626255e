"""The worklist service: bundling, order, visibility, filters, counts, keyset paging, the
load panel and reassignment."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

import pytest
from sqlalchemy import func, select

from care.domain.dates import end_of_day, local_datetime
from care.models import AuditLog, CareTask
from care.services import worklist as wl
from tests import factories as f

TZ = "Asia/Shanghai"
NOW = datetime(2026, 10, 10, 2, 0, tzinfo=UTC)  # 10:00 in Shanghai
TODAY = NOW.astimezone(UTC).date()  # 2026-10-10 both in UTC and in Shanghai at this hour


def day_end(days: int) -> datetime:
    """The end of the local day `days` from today (a day deadline)."""
    return end_of_day(TODAY + timedelta(days=days), TZ)


def at(hh: int, mm: int = 0, days: int = 0) -> datetime:
    return local_datetime(TODAY + timedelta(days=days), time(hh, mm), TZ)


def task(session, customer=None, *, due=None, opens_days=-5, **kw):
    return f.make_task(
        session,
        customer,
        due_at=due or day_end(3),
        opens_on=TODAY + timedelta(days=opens_days),
        **kw,
    )


@pytest.fixture
def manager(session):
    return f.make_user(session, "care_manager")


@pytest.fixture
def spec(session):
    return f.make_user(session, "specialist")


def page_of(session, user, flt=None, **kw):
    return wl.worklist(session, flt or wl.WorklistFilter(), user=user, now=NOW, **kw)


def lines(page):
    return [(c.customer.id, [t.id for t in c.tasks]) for c in page.contacts]


# --- bundling and order ------------------------------------------------------------------


def test_tasks_of_one_customer_are_one_contact_with_every_reason(session, manager):
    a, b = f.make_customer(session), f.make_customer(session)
    a1 = task(session, a, type="first_service", due=day_end(5))
    a2 = task(session, a, type="birthday", due=day_end(1), reason_id="birthday.reason",
              reason_params={"birthday": TODAY.isoformat()})
    b1 = task(session, b, type="inspection", due=day_end(2))
    page = page_of(session, manager)
    assert lines(page) == [(a.id, [a2.id, a1.id]), (b.id, [b1.id])]
    contact = page.contacts[0]
    assert contact.first_due == day_end(1)
    assert {t.customer_id for t in contact.tasks} == {a.id}
    assert page.total_contacts == 2 and page.total_tasks == 3


def test_contacts_are_ordered_by_earliest_deadline_overdue_first(session, manager):
    late, soon, overdue = (f.make_customer(session) for _ in range(3))
    task(session, late, due=day_end(9))
    task(session, soon, due=day_end(2))
    task(session, soon, due=day_end(20))
    task(session, overdue, due=day_end(-2), opens_days=-30)
    page = page_of(session, manager, wl.WorklistFilter(order=wl.Order.DUE))
    assert [c.customer.id for c in page.contacts] == [overdue.id, soon.id, late.id]
    assert [c.overdue for c in page.contacts] == [True, False, False]
    # By default the callable contacts come first: a task nobody called by its deadline's
    # day can no longer be called (care.domain.attempts.first_call_overdue), so it goes last.
    page = page_of(session, manager)
    assert [c.customer.id for c in page.contacts] == [soon.id, late.id, overdue.id]


def test_only_due_open_and_blocked_tasks_are_listed(session, manager):
    c = f.make_customer(session)
    shown = task(session, c)
    blocked = task(session, c, status="blocked")
    for status in ("done", "failed", "canceled"):
        task(session, c, status=status)
    task(session, c, opens_days=1)  # opens tomorrow
    page = page_of(session, manager)
    assert lines(page) == [(c.id, sorted([shown.id, blocked.id]))]
    assert page.contacts[0].blocked


# --- who sees what -----------------------------------------------------------------------


def test_a_specialist_sees_only_own_tasks_a_manager_everyones(session, spec, manager):
    other = f.make_user(session, "specialist")
    c1, c2 = f.make_customer(session), f.make_customer(session)
    mine = task(session, c1, assignee=spec)
    task(session, c1, assignee=other)
    task(session, c2, assignee=other)
    task(session, c2)  # unassigned
    assert lines(page_of(session, spec)) == [(c1.id, [mine.id])]
    # A specialist cannot widen the view with the owner filter.
    assert lines(page_of(session, spec, wl.WorklistFilter(owner=other.id))) == [(c1.id, [mine.id])]
    assert lines(page_of(session, spec, wl.WorklistFilter(owner="unassigned"))) == [(c1.id, [mine.id])]
    everyone = page_of(session, manager)
    assert everyone.manager_view and everyone.total_tasks == 4
    for role in ("sales_manager", "general_manager"):
        assert page_of(session, f.make_user(session, role)).total_tasks == 4


# --- filters -----------------------------------------------------------------------------


def test_type_filter_takes_several_types(session, manager):
    c = f.make_customer(session)
    fs = task(session, c, type="first_service")
    bd = task(session, c, type="birthday")
    task(session, c, type="inspection")
    page = page_of(session, manager, wl.parse_filter(["first_service", "birthday"]))
    assert lines(page) == [(c.id, sorted([fs.id, bd.id]))]
    assert page.counts == {"first_service": 1, "birthday": 1}


def test_status_filter(session, manager):
    c = f.make_customer(session)
    op = task(session, c)
    bl = task(session, c, status="blocked")
    assert lines(page_of(session, manager, wl.parse_filter(status="open"))) == [(c.id, [op.id])]
    assert lines(page_of(session, manager, wl.parse_filter(status="blocked"))) == [(c.id, [bl.id])]
    assert page_of(session, manager, wl.parse_filter(status="all")).total_tasks == 2


def test_due_filter_today_and_overdue_do_not_overlap(session, manager):
    c = f.make_customer(session)
    past_today = task(session, c, due=at(8, 0))  # 08:00 today: passed at 10:00
    later_today = task(session, c, due=at(10, 30))  # a birthday's 10:30
    end_today = task(session, c, due=day_end(0))
    yesterday = task(session, c, due=day_end(-1), opens_days=-10)
    tomorrow = task(session, c, due=at(9, 0, days=1))
    today = page_of(session, manager, wl.parse_filter(due="today"))
    assert {t.id for t in today.contacts[0].tasks} == {later_today.id, end_today.id}
    overdue = page_of(session, manager, wl.parse_filter(due="overdue"))
    assert {t.id for t in overdue.contacts[0].tasks} == {past_today.id, yesterday.id}
    every = page_of(session, manager, wl.parse_filter(due="all"))
    assert every.total_tasks == 5 and tomorrow.id in every.contacts[0].task_ids


def test_owner_filter_for_managers(session, manager, spec):
    other = f.make_user(session, "insurance")
    c1, c2, c3 = (f.make_customer(session) for _ in range(3))
    s = task(session, c1, assignee=spec)
    o = task(session, c2, assignee=other)
    u = task(session, c3)
    assert lines(page_of(session, manager, wl.parse_filter(owner=str(spec.id)))) == [(c1.id, [s.id])]
    assert lines(page_of(session, manager, wl.parse_filter(owner=str(other.id)))) == [(c2.id, [o.id])]
    assert lines(page_of(session, manager, wl.parse_filter(owner="unassigned"))) == [(c3.id, [u.id])]
    assert page_of(session, manager, wl.parse_filter(owner="all")).total_contacts == 3


def test_filters_combine(session, manager, spec):
    c = f.make_customer(session)
    hit = task(session, c, type="birthday", status="blocked", due=at(9, 0), assignee=spec)
    task(session, c, type="birthday", status="open", due=at(9, 0), assignee=spec)
    task(session, c, type="first_service", status="blocked", due=at(9, 0), assignee=spec)
    task(session, c, type="birthday", status="blocked", due=day_end(2), assignee=spec)
    flt = wl.parse_filter(["birthday"], "blocked", "overdue", str(spec.id))
    assert lines(page_of(session, manager, flt)) == [(c.id, [hit.id])]


@pytest.mark.parametrize(
    "kwargs",
    [
        {"types": ["oil_change"]},
        {"types": ["birthday,nope"]},
        {"status": "closed"},
        {"due": "yesterday"},
        {"owner": "someone"},
        {"owner": "-3"},
        {"owner": "1" * 20},
    ],
)
def test_bad_filter_values_are_refused(kwargs):
    with pytest.raises(wl.WorklistError):
        wl.parse_filter(**kwargs)


def test_filter_round_trips_through_query_args():
    flt = wl.parse_filter(["birthday", "first_service", "birthday"], "open", "today", "7")
    assert flt.types == ("first_service", "birthday")  # canonical order, no repeats
    args = flt.query_args()
    assert args == {"type": ["first_service", "birthday"], "status": "open", "due": "today", "owner": "7"}
    assert wl.parse_filter(args["type"], args["status"], args["due"], args["owner"]) == flt
    assert wl.parse_filter().is_default and wl.parse_filter().query_args() == {}


# --- counts ------------------------------------------------------------------------------


def test_counts_per_type_cover_every_page_of_the_filter(session, manager):
    for i in range(30):
        c = f.make_customer(session)
        task(session, c, type="first_service", due=day_end(1 + i % 5))
        if i % 3 == 0:
            task(session, c, type="birthday", due=day_end(2))
    task(session, None, type="inspection", status="done")  # closed: not counted
    page = page_of(session, manager, page_size=25)
    assert len(page.contacts) == 25
    assert page.counts == {"first_service": 30, "birthday": 10}
    assert page.total_tasks == 40 and page.total_contacts == 30
    only = page_of(session, manager, wl.parse_filter(["birthday"]))
    assert only.counts == {"birthday": 10}


# --- keyset paging -----------------------------------------------------------------------


def _all_pages(session, actor, size=25, flt=None):
    seen, after, pages = [], None, 0
    while True:
        page = page_of(session, actor, flt, after=after, page_size=size)
        pages += 1
        seen += [c.customer.id for c in page.contacts]
        if page.next_cursor is None:
            return seen, pages
        after = page.next_cursor


def test_keyset_pages_through_60_contacts_without_gaps_or_repeats(session, manager):
    expected = []
    for i in range(60):
        c = f.make_customer(session)
        # Many ties on the deadline (12 distinct days): the customer id breaks them.
        due = day_end(i % 12 - 3)
        task(session, c, due=due, opens_days=-30)
        latest = due
        if i % 7 == 0:
            latest = due + timedelta(days=4)
            task(session, c, due=latest, opens_days=-30)
        expected.append((due, c.id, latest))
    by_due = [cid for _, cid, _latest in sorted(expected)]
    seen, pages = _all_pages(session, manager, flt=wl.WorklistFilter(order=wl.Order.DUE))
    assert (pages, seen) == (3, by_due)
    # callable first (NOW is in the morning slot): a contact with a task whose deadline's
    # day is not over yet; then the others, each group by its earliest deadline
    yesterday_end = day_end(-1)
    callable_first = [cid for _, cid, _ in sorted(expected, key=lambda e: (e[2] <= yesterday_end, e[0], e[1]))]
    seen, pages = _all_pages(session, manager)
    assert (pages, seen) == (3, callable_first)
    assert len(set(seen)) == 60


def test_a_new_task_on_an_earlier_page_does_not_shift_the_next_page(session, manager):
    for i in range(60):
        task(session, f.make_customer(session), due=day_end(1 + i))
    first = page_of(session, manager, page_size=25)
    second = page_of(session, manager, after=first.next_cursor, page_size=25)
    newcomer = f.make_customer(session)
    task(session, newcomer, due=day_end(0))  # sorts onto page 1
    again = page_of(session, manager, after=first.next_cursor, page_size=25)
    assert [c.customer.id for c in again.contacts] == [c.customer.id for c in second.contacts]
    assert newcomer.id in [c.customer.id for c in page_of(session, manager, page_size=25).contacts]
    third = page_of(session, manager, after=second.next_cursor, page_size=25)
    assert len(third.contacts) == 10 and third.next_cursor is None


def test_cursor_round_trip_and_garbage():
    cur = wl.Cursor(1, datetime(2026, 10, 10, 15, 59, 59, 123, tzinfo=UTC), 42)
    text = cur.encode()
    assert text == "1|2026-10-10T15:59:59.000123Z|42"
    assert wl.Cursor.parse(text) == cur
    assert wl.Cursor.parse("0|2026-10-10T23:59:59+08:00|42").due == datetime(2026, 10, 10, 15, 59, 59, tzinfo=UTC)
    for bad in ("", "x", "0|2026-10-10|", "0||5", "0|2026-13-40T00:00:00Z|5", "0|2026-10-10T00:00:00|5",
                "0|2026-10-10T00:00:00Z|-5", "0|2026-10-10T00:00:00Z|5|6", "0|2026-10-10T00:00:00Z|99999999999",
                "0|now|1", "0|2026-10-10T00:00:00Z|1e3", "2|2026-10-10T00:00:00Z|5", "x|2026-10-10T00:00:00Z|5",
                "2026-10-10T00:00:00Z|5"):  # the format before the call-state groups
        with pytest.raises(wl.WorklistError):
            wl.Cursor.parse(bad)


# --- the load panel ----------------------------------------------------------------------


def test_load_panel_counts_per_owner(session):
    busy = f.make_user(session, "specialist", display_name="A busy")
    f.make_user(session, "consultant", display_name="B idle")
    gone = f.make_user(session, "specialist", display_name="C gone", active=False)
    f.make_user(session, "front_desk", display_name="D desk")  # no task role: not listed
    f.make_user(session, "specialist", display_name="E off", active=False)  # inactive, no tasks
    c = f.make_customer(session)
    task(session, c, assignee=busy, due=at(8, 0))  # overdue
    task(session, c, assignee=busy, due=day_end(-3), opens_days=-9)  # overdue
    task(session, c, assignee=busy, due=at(10, 30))  # due today
    task(session, c, assignee=busy, due=day_end(4), status="blocked")  # open, later
    task(session, c, assignee=busy, status="done")  # closed: not counted
    task(session, c, assignee=busy, opens_days=2)  # not open yet: not counted
    task(session, c, assignee=gone, due=day_end(0))
    task(session, c, due=day_end(-1), opens_days=-4)  # unassigned, overdue
    loads = wl.load_panel(session, now=NOW)
    table = {(x.user.display_name if x.user else None): (x.total, x.due_today, x.overdue) for x in loads}
    assert table == {
        "A busy": (4, 1, 2),
        "B idle": (0, 0, 0),
        "C gone": (1, 1, 0),
        None: (1, 0, 1),
    }
    assert [x.user.display_name if x.user else None for x in loads] == ["A busy", "B idle", "C gone", None]
    assert not next(x for x in loads if x.user is gone).active


# --- reassignment ------------------------------------------------------------------------


def test_reassign_one_task(session, manager, spec):
    t = task(session, assignee=f.make_user(session, "specialist"))
    previous = t.assignee_id
    result = wl.reassign(session, [t.id], spec.id, user=manager, now=NOW)
    assert result.reassigned == [t.id] and result.counts()["reassigned"] == 1
    assert session.get(CareTask, t.id).assignee_id == spec.id
    entry = session.scalars(select(AuditLog).where(AuditLog.action == "task.reassign")).one()
    assert entry.object_id == str(t.id) and entry.detail == {"from": previous, "to": spec.id}
    assert entry.actor == manager.username


def test_reassign_many_with_closed_and_missing_ones_reported(session, manager):
    target = f.make_user(session, "insurance")
    open_tasks = [task(session) for _ in range(3)]
    blocked = task(session, status="blocked")
    done = task(session, status="done")
    canceled = task(session, status="canceled")
    mine = task(session, assignee=target)
    ids = [t.id for t in open_tasks] + [blocked.id, done.id, canceled.id, mine.id, 999999, open_tasks[0].id]
    result = wl.reassign(session, ids, target.id, user=manager, now=NOW)
    assert result.reassigned == [t.id for t in open_tasks] + [blocked.id]
    assert result.closed == [done.id, canceled.id]
    assert result.missing == [999999]
    assert result.unchanged == [mine.id]
    assert session.get(CareTask, done.id).assignee_id is None
    assert session.scalar(select(func.count()).select_from(AuditLog)) == 4


@pytest.mark.parametrize(
    "make_target",
    [
        lambda s: f.make_user(s, "specialist", active=False),  # inactive
        lambda s: f.make_user(s, "front_desk"),  # no task role
        lambda s: f.make_user(s, "care_manager"),  # a manager does not own tasks
    ],
)
def test_reassign_refuses_a_target_that_cannot_own_tasks(session, manager, make_target):
    t = task(session)
    target = make_target(session)
    with pytest.raises(wl.ReassignError):
        wl.reassign(session, [t.id], target.id, user=manager, now=NOW)
    assert session.get(CareTask, t.id).assignee_id is None


def test_reassign_refuses_unknown_target_no_tasks_and_wrong_actor(session, manager, spec):
    t = task(session)
    with pytest.raises(wl.ReassignError):
        wl.reassign(session, [t.id], 987654, user=manager, now=NOW)
    with pytest.raises(wl.ReassignError):
        wl.reassign(session, [], spec.id, user=manager, now=NOW)
    with pytest.raises(wl.ReassignError):
        wl.reassign(session, [t.id], spec.id, user=spec, now=NOW)  # a specialist
    with pytest.raises(wl.ReassignError):
        wl.reassign(session, [t.id], spec.id, user=f.make_user(session, "sales_manager"), now=NOW)
    result = wl.reassign(session, [t.id], spec.id, user=f.make_user(session, "general_manager"), now=NOW)
    assert result.reassigned == [t.id]


def test_a_page_costs_the_same_number_of_queries_whatever_its_size(session, manager):
    from sqlalchemy import event

    from care.extensions import db
    from care.models import User

    manager_id = manager.id

    def count_queries(n_customers):
        for _ in range(n_customers):
            c = f.make_customer(session)
            v = f.make_vehicle(session, c)
            task(session, c, vehicle_id=v.id, assignee=f.make_user(session, "specialist"))
            task(session, c, type="birthday")
        session.commit()
        session.expunge_all()
        statements = []

        def listen(conn, cursor, statement, *args):
            statements.append(statement)

        engine = db.engine
        event.listen(engine, "before_cursor_execute", listen)
        try:
            actor = session.get(User, manager_id)
            page = page_of(session, actor, page_size=25)
            for contact in page.contacts:  # what the template touches
                for t in contact.tasks:
                    _ = (t.assignee and t.assignee.label, t.vehicle and t.vehicle.plate)
        finally:
            event.remove(engine, "before_cursor_execute", listen)
        return len(statements)

    small = count_queries(3)
    large = count_queries(30)
    assert large == small

"""Best time to call read from the call attempts (care/services/besttime.py) and the
worklist's order "most likely reachable now" (care/services/worklist.py)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from sqlalchemy import event

from care.domain.besttime import Tally, score
from care.extensions import db
from care.services import besttime
from care.services.worklist import Cursor, Order, parse_filter, worklist
from tests import factories as f

NOW = datetime(2026, 7, 14, 11, 0, tzinfo=UTC)  # Tuesday 14 July, 19:00 in Shanghai: the evening slot
SLOT_HOUR_UTC = {"morning": 2, "afternoon": 7, "evening": 11}  # 10:00, 15:00, 19:00 local


def calls(session, task, slot, answered, unanswered, *, day=date(2026, 6, 2), outcome="no_answer"):
    """``answered`` reached and ``unanswered`` missed calls of the task's customer in ``slot``."""
    for n, result in enumerate(["completed"] * answered + [outcome] * unanswered):
        on = day + timedelta(days=n)
        f.make_attempt(
            session, task, slot=slot, slot_date=on, outcome=result, status=result, counted=True,
            started_at=datetime(on.year, on.month, on.day, SLOT_HOUR_UTC[slot], tzinfo=UTC),
        )  # fmt: skip


def past_task(session, customer):
    return f.make_task(session, customer, status="done", due_at=NOW - timedelta(days=60), now=NOW)


def test_tallies_count_only_what_says_when_they_answer(session):
    customer = f.make_customer(session)
    task = past_task(session, customer)
    calls(session, task, "evening", 2, 1)
    calls(session, task, "evening", 0, 1, outcome="failed")  # a network failure
    calls(session, task, "evening", 0, 1, outcome="canceled")  # the specialist hung up
    calls(session, task, "morning", 1, 0, day=date(2025, 5, 1))  # older than a year
    f.make_attempt(session, task, slot="evening", slot_date=date(2026, 6, 9), outcome="busy", status="busy",
                   counted=False, started_at=datetime(2026, 6, 9, 11, tzinfo=UTC))  # fmt: skip
    f.make_attempt(session, task, slot=None, slot_date=None, outcome="completed", status="completed",
                   started_at=datetime(2026, 6, 9, 15, tzinfo=UTC))  # quiet hours  # fmt: skip
    tallies = besttime.customer_tallies(session, [customer.id, 999], now=NOW)
    assert tallies == {customer.id: {"evening": Tally(2, 3)}, 999: {}}


def test_desk_rates_by_slot_and_weekday(session):
    task = past_task(session, f.make_customer(session))
    calls(session, task, "morning", 1, 0, day=date(2026, 6, 1))  # a Monday
    calls(session, task, "morning", 0, 1, day=date(2026, 6, 6))  # a Saturday
    desk = besttime.desk_rates(session, now=NOW)
    assert dict(desk.cells) == {("morning", 0): Tally(1, 1), ("morning", 5): Tally(0, 1)}


def _reachable_setup(session):
    """Three customers due today, all callable in the evening slot: one who answers in
    the evening, one who never does, one never called."""
    user = f.make_user(session, "specialist")
    evening, never, fresh = (f.make_customer(session, name=n) for n in ("晚上接", "晚上不接", "新客户"))
    for customer in (evening, never, fresh):
        f.make_task(session, customer, assignee=user, due_at=NOW + timedelta(days=2), now=NOW)
    calls(session, past_task(session, evening), "evening", 4, 1)
    calls(session, past_task(session, never), "evening", 0, 4)
    # the desk: other customers answer evenings half the time
    calls(session, past_task(session, f.make_customer(session)), "evening", 5, 5)
    return user, evening, never, fresh


def test_the_worklist_orders_by_the_chance_of_an_answer_now(session):
    user, evening, never, fresh = _reachable_setup(session)
    page = worklist(session, parse_filter(order="reachable"), user=user, now=NOW)
    assert [c.customer.id for c in page.contacts] == [evening.id, fresh.id, never.id]
    assert page.reach_slot.name == "evening" and page.filter.order is Order.REACHABLE
    reader = besttime.Reader.load(session, now=NOW)
    prior = reader.desk.rate("evening", NOW.date().weekday(), reader.strength)
    expected = {evening.id: Tally(4, 5), never.id: Tally(0, 4), fresh.id: Tally(0, 0)}
    for contact in page.contacts:  # SQL's integers are Python's
        assert contact.reach == score(expected[contact.customer.id], prior, reader.strength)
    assert page.contacts[0].best_time.habit.own == Tally(4, 5)
    # the default order is unchanged: by deadline, then customer id
    default = worklist(session, parse_filter(), user=user, now=NOW)
    assert [c.customer.id for c in default.contacts] == [evening.id, never.id, fresh.id]
    assert default.contacts[0].reach is None and default.reach_slot is None


def test_keyset_paging_in_the_reachable_order(session):
    user, evening, never, fresh = _reachable_setup(session)
    extra = [f.make_customer(session) for _ in range(4)]
    for n, customer in enumerate(extra):
        f.make_task(session, customer, assignee=user, due_at=NOW + timedelta(days=1 + n % 2), now=NOW)
    whole = [c.customer.id for c in worklist(session, parse_filter(order="reachable"), user=user, now=NOW, page_size=50).contacts]
    seen, after = [], None
    while True:
        page = worklist(session, parse_filter(order="reachable"), user=user, now=NOW, after=after, page_size=2)
        seen += [c.customer.id for c in page.contacts]
        if page.next_cursor is None:
            break
        after = Cursor.parse(page.next_cursor.encode())  # through the URL and back
        assert after.reach is not None
    assert seen == whole and len(seen) == 7 and seen[0] == evening.id and seen[-1] == never.id


def test_the_reachable_order_costs_a_fixed_number_of_queries(session, app):
    user, *_ = _reachable_setup(session)

    def count(n_customers):
        for _ in range(n_customers):
            f.make_task(session, f.make_customer(session), assignee=user, due_at=NOW + timedelta(days=3), now=NOW)
        statements = []
        engine = db.engine

        def before(conn, cursor, statement, *args):
            statements.append(statement)

        event.listen(engine, "before_cursor_execute", before)
        try:
            worklist(session, parse_filter(order="reachable"), user=user, now=NOW)
        finally:
            event.remove(engine, "before_cursor_execute", before)
        return len(statements)

    assert count(1) == count(10)


def test_contact_advice_suggests_the_best_open_slot_left(session):
    user, evening, never, fresh = _reachable_setup(session)
    from care.domain.attempts import SlotOccurrence

    def occ(name, day):
        start = datetime(day.year, day.month, day.day, SLOT_HOUR_UTC[name], tzinfo=UTC)
        return SlotOccurrence(name, day, start, start + timedelta(hours=2))

    tomorrow = date(2026, 7, 15)
    left = [occ("evening", date(2026, 7, 14)), occ("morning", tomorrow), occ("afternoon", tomorrow)]
    advice = besttime.for_contact(session, never.id, left, now=NOW, today=date(2026, 7, 14))
    assert advice.suggestion.name != "evening"  # never answers in the evening
    advice = besttime.for_contact(session, evening.id, left, now=NOW, today=date(2026, 7, 14))
    assert advice.suggestion.name == "evening" and advice.best_time.habit.own == Tally(4, 5)
    assert 50 < advice.percent < 100
    assert besttime.for_contact(session, fresh.id, [], now=NOW, today=date(2026, 7, 14)).suggestion is None

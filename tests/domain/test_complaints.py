"""The complaint loop's rules (care/domain/complaints.py): every step by every role, in
and out of order; the deadlines; the reopening; the 24 h across midnight and month end."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from care.domain import complaints as rules
from care.domain.roles import Role

T0 = datetime(2026, 3, 10, 2, 0, tzinfo=UTC)  # 10:00 in Shanghai
OWNER = {
    1: Role.SPECIALIST, 2: Role.CARE_MANAGER, 3: Role.GENERAL_MANAGER, 4: Role.SALES_MANAGER,
    5: Role.SALES_MANAGER, 6: Role.CARE_MANAGER, 7: Role.GENERAL_MANAGER, 8: Role.SPECIALIST,
}  # fmt: skip


def state(step: int, **kw) -> rules.LoopState:
    return rules.LoopState(step=step, closed=kw.pop("closed", False), opened_at=T0, **kw)


def inputs(step: int) -> dict:
    return {
        "text": "处理意见", "outcome": "satisfied" if step == 6 else "done",
        "reached_call": True, "has_handler": True,
    }  # fmt: skip


@pytest.mark.parametrize("step", range(1, 9))
@pytest.mark.parametrize("role", sorted(Role))
def test_each_step_only_by_its_role(step, role):
    if role == OWNER[step]:
        rules.check_step(state(step), step, {role}, **inputs(step))
        return
    with pytest.raises(rules.StepRefused) as refused:
        rules.check_step(state(step), step, {role}, **inputs(step))
    assert refused.value.code == rules.WRONG_ROLE
    assert refused.value.params["who"] == OWNER[step].value
    assert f"Step {step}" in str(refused.value)


@pytest.mark.parametrize("waiting", range(1, 9))
@pytest.mark.parametrize("tried", range(1, 9))
def test_out_of_order_is_refused_saying_what_is_next_and_by_whom(waiting, tried):
    if waiting == tried:
        return
    with pytest.raises(rules.StepRefused) as refused:
        rules.check_step(state(waiting), tried, {OWNER[tried], OWNER[waiting]}, **inputs(tried))
    exc = refused.value
    assert exc.code == rules.OUT_OF_ORDER
    assert exc.params["expected"] == waiting and exc.params["who"] == OWNER[waiting].value
    assert f"step {waiting} ({rules.STEPS[rules.Step(waiting)].label}) is next, by the {OWNER[waiting].value}" in str(exc)


def test_a_closed_complaint_takes_no_step():
    with pytest.raises(rules.StepRefused) as refused:
        rules.check_step(state(8, closed=True), 8, {Role.SPECIALIST})
    assert refused.value.code == rules.CLOSED


def test_there_is_no_step_nine():
    with pytest.raises(rules.StepRefused) as refused:
        rules.check_step(state(2), 9, {Role.CARE_MANAGER}, text="x")
    assert refused.value.code == rules.OUT_OF_ORDER


@pytest.mark.parametrize("step", [1, 2, 3, 5, 6])
def test_steps_that_need_a_text(step):
    with pytest.raises(rules.StepRefused) as refused:
        rules.check_step(state(step), step, {OWNER[step]}, **{**inputs(step), "text": "  "})
    assert refused.value.code == rules.TEXT_MISSING


@pytest.mark.parametrize("step", [4, 7, 8])
def test_steps_whose_text_is_optional(step):
    rules.check_step(state(step), step, {OWNER[step]}, **{**inputs(step), "text": ""})


def test_text_too_long():
    with pytest.raises(rules.StepRefused) as refused:
        rules.check_step(state(2), 2, {Role.CARE_MANAGER}, text="长" * (rules.MAX_TEXT + 1))
    assert refused.value.code == rules.TEXT_TOO_LONG


def test_dispatch_needs_someone_to_dispatch_to():
    with pytest.raises(rules.StepRefused) as refused:
        rules.check_step(state(4), 4, {Role.SALES_MANAGER}, has_handler=False)
    assert refused.value.code == rules.NO_HANDLER


def test_callback_needs_a_call_that_reached_the_customer_and_a_verdict():
    with pytest.raises(rules.StepRefused) as refused:
        rules.check_step(state(6), 6, {Role.CARE_MANAGER}, text="满意", outcome="satisfied", reached_call=False)
    assert refused.value.code == rules.NO_CALL
    with pytest.raises(rules.StepRefused) as refused:
        rules.check_step(state(6), 6, {Role.CARE_MANAGER}, text="满意", outcome="done", reached_call=True)
    assert refused.value.code == rules.BAD_OUTCOME
    with pytest.raises(rules.StepRefused):
        rules.check_step(state(2), 2, {Role.CARE_MANAGER}, text="x", outcome="satisfied")


def test_the_loop_in_order_closes_at_step_eight():
    s = state(1)
    now = T0
    for step in range(1, 9):
        now += timedelta(hours=1)
        move = rules.advance(s, step, "satisfied" if step == 6 else "done", now)
        s = rules.LoopState(move.step, move.closed_at is not None, T0, move.dispatched_at, move.reopened)
        if step == 4:
            assert move.dispatched_at == now
    assert s.closed and s.step == 8 and s.reopened == 0
    assert move.closed_at == T0 + timedelta(hours=8)


def test_dissatisfied_goes_back_to_step_two_reopened_never_closed():
    s = state(6, dispatched_at=T0 + timedelta(hours=3), reopened=1)
    move = rules.advance(s, 6, "dissatisfied", T0 + timedelta(hours=5))
    assert move.step == 2 and move.closed_at is None and move.reopened == 2 and move.reopening
    assert move.dispatched_at is None  # the next dispatch starts a new 12 h


def test_deadlines_from_settings():
    assert rules.loop_due(T0, 24) == T0 + timedelta(hours=24)
    for step in (1, 2, 3, 4, 6, 7, 8):
        assert rules.step_due(step, T0, None, close_hours=24, return_hours=12) == T0 + timedelta(hours=24)
    # the return: 12 h after the dispatch …
    assert rules.step_due(5, T0, T0 + timedelta(hours=2), close_hours=24, return_hours=12) == T0 + timedelta(hours=14)
    # … or the loop's deadline when that comes first
    assert rules.step_due(5, T0, T0 + timedelta(hours=20), close_hours=24, return_hours=12) == T0 + timedelta(hours=24)
    assert rules.step_due(5, T0, T0 + timedelta(hours=2), close_hours=48, return_hours=6) == T0 + timedelta(hours=8)


def test_overdue_only_after_the_deadline_and_while_open():
    due = T0 + timedelta(hours=24)
    assert not rules.is_overdue(due, due, closed=False)
    assert rules.is_overdue(due, due + timedelta(seconds=1), closed=False)
    assert not rules.is_overdue(due, due + timedelta(days=3), closed=True)


@pytest.mark.parametrize(
    ("opened", "closed", "in_time", "month"),
    [
        # opened 22:00 on 31 January (Shanghai), closed 08:00 on 1 February: January's, in time
        (datetime(2026, 1, 31, 14, 0, tzinfo=UTC), datetime(2026, 2, 1, 0, 0, tzinfo=UTC), True, date(2026, 1, 1)),
        # exactly 24 h: in time; a second more: late
        (datetime(2026, 1, 31, 14, 0, tzinfo=UTC), datetime(2026, 2, 1, 14, 0, tzinfo=UTC), True, date(2026, 1, 1)),
        (datetime(2026, 1, 31, 14, 0, tzinfo=UTC), datetime(2026, 2, 1, 14, 0, 1, tzinfo=UTC), False, date(2026, 1, 1)),
        # 23:30 on 28 February → 23:00 on 1 March, across month end and midnight: February's, in time
        (datetime(2026, 2, 28, 15, 30, tzinfo=UTC), datetime(2026, 3, 1, 15, 0, tzinfo=UTC), True, date(2026, 2, 1)),
        # 00:30 on 1 March in Shanghai is still 28 February in UTC: March's
        (datetime(2026, 2, 28, 16, 30, tzinfo=UTC), datetime(2026, 3, 2, 0, 0, tzinfo=UTC), False, date(2026, 3, 1)),
    ],
)
def test_24h_across_midnight_and_month_end(opened, closed, in_time, month):
    assert rules.closed_in_time(opened, closed, 24) is in_time
    assert rules.kpi_month(opened, "Asia/Shanghai") == month
    assert rules.kpi_counts(opened, closed, closed + timedelta(days=5), 24) == (True, in_time)


def test_an_open_complaint_counts_once_its_24h_have_passed():
    assert rules.kpi_counts(T0, None, T0 + timedelta(hours=23), 24) == (False, False)
    assert rules.kpi_counts(T0, None, T0 + timedelta(hours=25), 24) == (True, False)
    # closed in time, read before it closed: not decided yet
    assert rules.kpi_counts(T0, T0 + timedelta(hours=5), T0 + timedelta(hours=4), 24) == (False, False)


def test_owner_role_for_the_cli():
    assert [rules.owner_role(s) for s in range(1, 9)] == [OWNER[s].value for s in range(1, 9)]

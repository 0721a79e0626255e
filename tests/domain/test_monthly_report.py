"""The monthly report's rules (care.domain.monthly_report): steps by role and state,
deadlines at the dealer, late steps. No app."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from care.domain import monthly_report as r

SH = ZoneInfo("Asia/Shanghai")
CM, GM = {"care_manager"}, {"general_manager"}
DUE = r.deadlines(date(2026, 3, 1), "Asia/Shanghai", 3, 5)


@pytest.mark.parametrize(
    ("action", "status", "roles", "leads_to"),
    [
        (r.SUBMIT, r.DRAFT, CM, r.SUBMITTED),
        (r.REGENERATED, r.DRAFT, CM, r.DRAFT),
        (r.RETURN, r.SUBMITTED, GM, r.DRAFT),
        (r.APPROVE, r.SUBMITTED, GM, r.APPROVED),
    ],
)
def test_each_step_by_its_role_from_its_state(action, status, roles, leads_to):
    assert r.check_step(action, status, roles) == leads_to


@pytest.mark.parametrize(
    ("action", "status", "roles", "code"),
    [
        (r.SUBMIT, r.DRAFT, GM, 403),
        (r.APPROVE, r.SUBMITTED, CM, 403),
        (r.RETURN, r.SUBMITTED, {"specialist", "sales_manager"}, 403),
        (r.APPROVE, r.DRAFT, GM, 409),
        (r.SUBMIT, r.SUBMITTED, CM, 409),
        (r.SUBMIT, r.APPROVED, CM, 409),
        (r.REGENERATED, r.APPROVED, CM, 409),
        (r.RETURN, r.APPROVED, GM, 409),
    ],
)
def test_wrong_role_or_out_of_order_is_refused(action, status, roles, code):
    with pytest.raises(r.StepRefused) as exc:
        r.check_step(action, status, roles)
    assert exc.value.status == code


def test_texts_are_trimmed_required_and_limited():
    assert r.clean_text("  计划 \r\n第二行 ", "plan", required=True) == "计划 \n第二行"
    assert r.clean_text("   ", "plan", required=False) is None
    with pytest.raises(r.StepRefused) as exc:
        r.clean_text(" ", "comment", required=True, limit=r.MAX_COMMENT)
    assert exc.value.field == "comment" and exc.value.status == 422
    with pytest.raises(r.StepRefused) as exc:
        r.clean_text("x" * (r.MAX_TEXT + 1), "analysis", required=False)
    assert exc.value.params == {"length": r.MAX_TEXT + 1, "limit": r.MAX_TEXT}


def test_deadlines_are_the_ends_of_local_days_of_the_next_month():
    assert DUE.figures == datetime(2026, 4, 1, tzinfo=SH)
    assert DUE.submit == datetime(2026, 4, 4, tzinfo=SH)  # the end of 3 April
    assert DUE.approve == datetime(2026, 4, 6, tzinfo=SH)
    assert (DUE.figures_day, DUE.submit_day, DUE.approve_day) == (date(2026, 4, 1), date(2026, 4, 3), date(2026, 4, 5))
    december = r.deadlines(date(2026, 12, 1), "Asia/Shanghai", 3, 5)
    assert december.submit == datetime(2027, 1, 4, tzinfo=SH)


def test_the_report_due_on_a_day_is_the_previous_months():
    assert r.report_due_month(date(2026, 4, 1)) == date(2026, 3, 1)
    assert r.report_due_month(date(2026, 1, 15)) == date(2025, 12, 1)


def at(y, m, d, h=10):
    return datetime(y, m, d, h, tzinfo=SH)


def test_nothing_is_late_before_the_deadlines():
    steps = [r.Step(r.GENERATED, at(2026, 4, 1, 1))]
    assert r.late_steps(steps, DUE, DUE.submit - timedelta(seconds=1)) == []


def test_on_time_steps_are_not_late():
    steps = [r.Step(r.GENERATED, at(2026, 4, 1, 1)), r.Step(r.SUBMIT, at(2026, 4, 3, 23), 7),
             r.Step(r.APPROVE, at(2026, 4, 5, 23), 9)]  # fmt: skip
    assert r.late_steps(steps, DUE, at(2026, 5, 1)) == []


def test_never_submitted_is_both_late_and_the_care_managers():
    steps = [r.Step(r.GENERATED, at(2026, 4, 1, 1))]
    late = r.late_steps(steps, DUE, at(2026, 4, 10))
    assert [(x.rule, x.holder, x.user_id, x.done_at) for x in late] == [
        (r.ANALYSIS_NOT_REPORTED, "care_manager", None, None),
        (r.PLAN_LATE, "care_manager", None, None),
    ]
    # between the two deadlines only the submission is late
    assert [x.rule for x in r.late_steps(steps, DUE, at(2026, 4, 5))] == [r.ANALYSIS_NOT_REPORTED]


def test_waiting_for_approval_at_the_deadline_is_the_general_managers():
    steps = [r.Step(r.GENERATED, at(2026, 4, 1, 1)), r.Step(r.SUBMIT, at(2026, 4, 2), 7),
             r.Step(r.APPROVE, at(2026, 4, 8), 9)]  # fmt: skip
    late = r.late_steps(steps, DUE, at(2026, 4, 10))
    assert [(x.rule, x.holder, x.user_id, x.done_at) for x in late] == [
        (r.PLAN_LATE, "general_manager", 9, at(2026, 4, 8))
    ]


def test_returned_before_the_deadline_and_resubmitted_late_is_the_care_managers_plan():
    steps = [r.Step(r.GENERATED, at(2026, 4, 1, 1)), r.Step(r.SUBMIT, at(2026, 4, 2), 7),
             r.Step(r.RETURN, at(2026, 4, 4), 9), r.Step(r.SUBMIT, at(2026, 4, 7), 7),
             r.Step(r.APPROVE, at(2026, 4, 7, 15), 9)]  # fmt: skip
    late = r.late_steps(steps, DUE, at(2026, 4, 10))
    # the analysis was reported on time (the first submission); the plan was late
    assert [(x.rule, x.holder, x.user_id) for x in late] == [(r.PLAN_LATE, "care_manager", 7)]


def test_state_at_reads_the_history():
    steps = [r.Step(r.SUBMIT, datetime(2026, 4, 2, tzinfo=UTC)), r.Step(r.RETURN, datetime(2026, 4, 3, tzinfo=UTC))]
    assert r.state_at(steps, datetime(2026, 4, 1, tzinfo=UTC)) == r.DRAFT
    assert r.state_at(steps, datetime(2026, 4, 2, 12, tzinfo=UTC)) == r.SUBMITTED
    assert r.state_at(steps, datetime(2026, 4, 3, 12, tzinfo=UTC)) == r.DRAFT

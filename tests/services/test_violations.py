"""R23 with the database: each detector from crafted data (none found, a month without
data), deriving again (idempotent: open ones updated or removed, decided ones kept),
pricing by the penalty table and the person's role, the decisions by role, and the
penalty table's validation."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import select

from care.domain import violations as rules
from care.domain.settings import SettingError
from care.models import AuditLog, Penalty, Violation
from care.services import Actor
from care.services import sampling as sampling_service
from care.services import violations as svc
from care.services.settings import load_settings, set_settings
from tests import factories
from tests.services.helpers_sampling import NOW, OCTOBER, call, october

SEPTEMBER, NOVEMBER = date(2026, 9, 1), date(2026, 11, 1)


def oct_at(day: int, hour: int = 3) -> datetime:
    return datetime(2026, 10, day, hour, 0, tzinfo=UTC)


@pytest.fixture
def staff(session):
    return {
        "a": factories.make_user(session, "specialist", username="spec_a"),
        "b": factories.make_user(session, "specialist", username="spec_b"),
        "ins": factories.make_user(session, "insurance", username="ins_a"),
        "cons": factories.make_user(session, "consultant", username="cons_a"),
        "cm": factories.make_user(session, "care_manager", username="cm"),
        "gm": factories.make_user(session, "general_manager", username="gm"),
    }


def derive(session, month=OCTOBER, now=NOW, **kw):
    return svc.derive(session, month, load_settings(session), now, **kw)


def only(session, detector, month=OCTOBER, now=NOW):
    return svc.run_detectors(session, month, load_settings(session), now, [detector])


def fs_task(session, assignee, due_at, **kw):
    customer = factories.make_customer(session)
    vehicle = factories.make_vehicle(session, customer)
    return factories.make_task(session, customer, vehicle_id=vehicle.id, assignee=assignee, due_at=due_at, **kw)


def failed_attempt(session, task, at, user):
    return factories.make_attempt(
        session, task, user_id=user.id, status="no-answer", outcome="no_answer", started_at=at,
        ended_at=at + timedelta(minutes=1), counted=True, slot="morning", slot_date=at.date(),
    )  # fmt: skip


# --- the detectors ---------------------------------------------------------------------------------


def test_r15_a_failed_first_attempt_not_followed_up(session, staff):
    dropped = fs_task(session, staff["a"], datetime(2026, 11, 20, tzinfo=UTC), type="maintenance")
    first = failed_attempt(session, dropped, oct_at(10), staff["a"])
    followed = fs_task(session, staff["b"], datetime(2026, 11, 20, tzinfo=UTC), type="maintenance")
    failed_attempt(session, followed, oct_at(10), staff["b"])
    failed_attempt(session, followed, oct_at(11, 7), staff["b"])
    [f] = only(session, svc.r15_not_followed_up)
    assert (f.rule, f.person_id, f.subject) == ("r15_not_followed_up", staff["a"].id, f"task:{dropped.id}")
    assert f.evidence == (("task", dropped.id), ("call_attempt", first.id))
    # the window (3 days from the first attempt) still open: nothing yet
    assert only(session, svc.r15_not_followed_up, now=oct_at(11)) == []
    assert only(session, svc.r15_not_followed_up, month=SEPTEMBER) == []


def test_first_service_rate_below_the_floor_per_assignee(session, staff):
    a, b = staff["a"], staff["b"]
    due = oct_at(15)
    fs_task(session, a, due, status="done", outcome="will_come", closed_at=oct_at(5))
    missed = fs_task(session, a, due)  # open past its deadline: ended in October, not reminded
    fs_task(session, b, due, status="done", outcome="will_come", closed_at=oct_at(6))
    [f] = only(session, svc.first_service_rate_low)
    assert f.person_id == a.id and f.evidence == (("task", missed.id),)
    assert (f.detail["numerator"], f.detail["denominator"], f.detail["rate"]) == (1, 2, 0.5)
    # at 50 % as the floor it is no longer a violation (the setting decides)
    set_settings(session, {"first_service_reminder_min": "50%"}, actor=Actor.CLI, now=NOW)
    assert only(session, svc.first_service_rate_low) == []


def test_first_service_rate_not_judged_in_a_month_without_tasks_or_in_progress(session, staff):
    assert only(session, svc.first_service_rate_low, month=SEPTEMBER) == []  # 0 of 0: no rate, no violation
    fs_task(session, staff["a"], oct_at(15))
    assert only(session, svc.first_service_rate_low, now=oct_at(20)) == []  # October still running
    assert len(only(session, svc.first_service_rate_low)) == 1


def test_birthday_greeting_late_or_not_done(session, staff):
    a = staff["a"]
    late = factories.make_task(session, type="birthday", assignee=a, due_at=oct_at(8), status="expired",
                               outcome="expired", closed_at=oct_at(8))  # fmt: skip
    factories.make_task(session, type="birthday", assignee=a, due_at=oct_at(9), status="done",
                        outcome="greeted", closed_at=oct_at(9, 1))  # fmt: skip
    [f] = only(session, svc.care_not_done)
    assert (f.person_id, f.subject) == (a.id, f"task:{late.id}")
    assert ("task", late.id) in f.evidence and ("customer", late.customer_id) in f.evidence
    assert only(session, svc.care_not_done, month=SEPTEMBER) == []


def test_insurance_sample_short_and_reminders_below_standard(session, staff):
    ins, cm = staff["ins"], staff["cm"]
    assert only(session, svc.insurance_sample_short) == []  # no calls: nothing to sample
    call(session, ins, october(2))
    call(session, ins, october(3))
    assert only(session, svc.insurance_sample_short, now=october(20)) == []  # the month is running
    [f] = only(session, svc.insurance_sample_short)  # not even drawn: two calls left out
    assert f.person_id is None and f.count == 2 and f.subject == f"stratum:{ins.id}"
    draw = sampling_service.draw_sample(session, OCTOBER, seed=7, user=cm, actor=Actor.of(cm), now=NOW)
    [one, two] = [c for c in draw.calls if c.sampled]
    sampling_service.record_verdict(session, one, "not_done", "没有提醒保险到期", user=cm, actor=Actor.of(cm), now=NOW)
    [f] = only(session, svc.insurance_sample_short)
    assert f.count == 1 and f.evidence == (("sample_call", two.id),)
    [bad] = only(session, svc.insurance_reminder_below_standard)
    assert (bad.person_id, bad.subject) == (ins.id, f"sample_call:{one.id}")
    assert bad.evidence == (("sample_call", one.id), ("call_attempt", one.attempt_id))
    sampling_service.record_verdict(session, two, "to_standard", None, user=cm, actor=Actor.of(cm), now=NOW)
    assert only(session, svc.insurance_sample_short) == []
    assert len(only(session, svc.insurance_reminder_below_standard)) == 1


# --- deriving ---------------------------------------------------------------------------------------


def test_derive_is_idempotent_and_keeps_decided_ones(session, staff):
    a, cm = staff["a"], staff["cm"]
    late = [
        factories.make_task(session, type="birthday", assignee=a, due_at=oct_at(d), status="expired",
                            outcome="expired", closed_at=oct_at(d))
        for d in (8, 9, 10)
    ]  # fmt: skip
    first = derive(session, detectors=[svc.care_not_done])
    assert (first.created, first.updated, first.removed) == (3, 0, 0)
    rows = {v.subject: v for v in session.scalars(select(Violation))}
    assert {v.status for v in rows.values()} == {"open"} and {v.amount for v in rows.values()} == {50}
    again = derive(session, detectors=[svc.care_not_done])
    assert (again.created, again.updated, again.removed, again.kept) == (0, 3, 0, 0)
    assert session.scalar(select(Violation.id).order_by(Violation.id.desc())) == max(v.id for v in rows.values())

    kept = rows[f"task:{late[0].id}"]
    svc.decide(session, kept, "waive", amount=None, reason="客户出国，电话无法接通", user=cm, actor=Actor.of(cm), now=NOW)
    # the data change: two of the three greetings turn out to have been done on time
    for t in late[:2]:
        t.status, t.outcome, t.closed_at = "done", "greeted", t.due_at - timedelta(hours=1)
    session.flush()
    third = derive(session, detectors=[svc.care_not_done])
    assert (third.created, third.updated, third.removed, third.kept) == (0, 1, 1, 1)
    left = {v.subject: v.status for v in session.scalars(select(Violation))}
    assert left == {f"task:{late[0].id}": "waived", f"task:{late[2].id}": "open"}


def test_amount_follows_the_penalty_table_and_the_persons_role(session, staff):
    def ssi(session_, month, settings):
        return [
            {"rule": "ssi_below_target", "person_id": staff["cons"].id, "evidence": [("survey_response", 9)],
             "count": 1, "detail": {"ssi": 71.5}},
            {"rule": "ssi_below_target", "person_id": staff["cm"].id, "evidence": [], "count": 1, "detail": {}},
            {"rule": "ssi_below_target", "person_id": staff["ins"].id, "evidence": [], "count": 1, "detail": {}},
        ]  # fmt: skip

    derive(session, detectors=[ssi])
    amounts = {v.person_id: v.amount for v in session.scalars(select(Violation))}
    # consultant 50, care manager 100; no SSI penalty for an insurance specialist: no violation
    assert amounts == {staff["cons"].id: 50, staff["cm"].id: 100}
    set_settings(session, {"penalty_ssi_consultant": "60-80"}, actor=Actor.CLI, now=NOW)
    session.add(Penalty(rule="ssi_below_target", role="care_manager", per_item=False, active=False))
    session.flush()
    result = derive(session, detectors=[ssi])
    assert result.removed == 1
    [v] = session.scalars(select(Violation)).all()
    assert (v.amount, v.amount_min, v.amount_max) == (60, 60, 80)


def test_per_item_amounts_count_the_items(session, staff):
    def short(session_, month, settings):
        return [rules.Finding("insurance_sample_short", None, (("sample_call", 1),), count=3, key="stratum:1")]

    derive(session, detectors=[short])
    [v] = session.scalars(select(Violation)).all()
    assert (v.count, v.amount, v.person_id) == (3, 60, None)


def test_a_detector_returning_nonsense_fails_loudly(session):
    with pytest.raises(rules.FindingInvalid):
        derive(session, detectors=[lambda s, m, st: [{"rule": "no_such_rule", "person_id": None}]])


# --- decisions ---------------------------------------------------------------------------------------


def violation(session, person, **kw):
    values = {"rule": "reminder_not_standard", "amount_min": 50, "amount_max": 100, "amount": 100,
              "count": 2, "per_item": True}  # fmt: skip
    values.update(kw)
    return factories.make_violation(session, person, **values)


def test_confirm_within_the_range_per_item(session, staff):
    v = violation(session, staff["a"])
    svc.decide(session, v, "confirm", amount="80", reason="", user=staff["cm"], actor=Actor.of(staff["cm"]), now=NOW)
    assert (v.status, v.unit_amount, v.amount, v.decided_by_id) == ("confirmed", 80, 160, staff["cm"].id)
    entry = session.scalars(select(AuditLog).where(AuditLog.action == "violation.confirm")).one()
    assert entry.object_id == str(v.id)


@pytest.mark.parametrize(
    "action, amount, reason, field",
    [
        ("confirm", "120", "", "amount"),
        ("confirm", "49", "", "amount"),
        ("confirm", "-5", "", "amount"),
        ("confirm", "5o", "", "amount"),
        ("waive", "", " ", "reason"),
        ("waive", "", "x" * (rules.MAX_REASON + 1), "reason"),
        ("delete", "", "", "action"),
    ],
)
def test_bad_decisions_are_refused_and_change_nothing(session, staff, action, amount, reason, field):
    v = violation(session, staff["a"])
    with pytest.raises(svc.ViolationRefused) as exc:
        svc.decide(session, v, action, amount=amount, reason=reason, user=staff["gm"], actor=Actor.of(staff["gm"]), now=NOW)
    assert exc.value.status == 422 and exc.value.field == field
    assert v.status == "open" and v.decided_at is None


def test_waive_needs_a_reason_and_a_decision_can_change(session, staff):
    v = violation(session, staff["a"])
    gm = staff["gm"]
    svc.decide(session, v, "waive", amount="", reason="系统故障当天无法外呼", user=gm, actor=Actor.of(gm), now=NOW)
    assert (v.status, v.reason) == ("waived", "系统故障当天无法外呼")
    svc.decide(session, v, "confirm", amount="", reason="", user=gm, actor=Actor.of(gm), now=NOW)
    assert (v.status, v.amount) == ("confirmed", 100)  # the minimum, per item × 2


@pytest.mark.parametrize("who", ["a", "b", "ins", "cons"])
def test_only_the_care_and_general_managers_decide(session, staff, who):
    v = violation(session, staff["a"])
    user = staff[who]
    with pytest.raises(svc.ViolationRefused) as exc:
        svc.decide(session, v, "confirm", amount="50", reason="", user=user, actor=Actor.of(user), now=NOW)
    assert exc.value.status == 403 and v.status == "open"


def test_nobody_decides_on_their_own_violation(session, staff):
    cm = staff["cm"]
    v = violation(session, cm, rule="plan_late", amount_min=200, amount_max=300, amount=200, count=1, per_item=False)
    with pytest.raises(svc.ViolationRefused) as exc:
        svc.decide(session, v, "waive", amount="", reason="我自己的", user=cm, actor=Actor.of(cm), now=NOW)
    assert exc.value.status == 403
    svc.decide(session, v, "confirm", amount="250", reason="", user=staff["gm"], actor=Actor.of(staff["gm"]), now=NOW)
    assert v.amount == 250


def test_summary_per_person(session, staff):
    a, b = staff["a"], staff["b"]
    violation(session, a, status="confirmed", amount=160)
    violation(session, a, status="waived", amount=100)
    violation(session, b, amount=100)
    factories.make_violation(session, None, rule="insurance_sample_short", amount=40)
    rows, total = svc.monthly_summary(session, OCTOBER, viewer=staff["cm"])
    by = {(u.username if u else None): s for u, s in rows}
    assert (by["spec_a"].count, by["spec_a"].confirmed_amount, by["spec_a"].waived) == (2, 160, 1)
    assert (by["spec_b"].open, by["spec_b"].open_amount) == (1, 100)
    assert by[None].open_amount == 40 and total.count == 4
    mine, mine_total = svc.monthly_summary(session, OCTOBER, viewer=b)
    assert [u.username for u, _s in mine] == ["spec_b"] and mine_total.count == 1


# --- the penalty table --------------------------------------------------------------------------------


def change(rule="plan_late", role="", amount="250-350", per_item=False, active=True):
    return svc.PenaltyChange(rule, role, amount, per_item, active)


def test_penalty_table_saves_amounts_as_settings_and_flags_in_the_table(session, staff):
    cm = staff["cm"]
    n = svc.save_penalties(session, [change(), change("care_not_done", amount="50", per_item=False, active=False)],
                           user=cm, actor=Actor.of(cm), now=NOW)  # fmt: skip
    assert n == 2
    table = {(p.rule, p.role): p for p in svc.penalties(session)}
    assert (table[("plan_late", "")].minimum, table[("plan_late", "")].maximum) == (250, 350)
    assert not table[("care_not_done", "")].active and not table[("care_not_done", "")].per_item
    assert load_settings(session).penalty_plan_late == (250, 350)


@pytest.mark.parametrize("amount", ["300-200", "-5", "10001", "abc", "50-20000"])
def test_penalty_table_refuses_bad_amounts(session, staff, amount):
    cm = staff["cm"]
    with pytest.raises(SettingError) as exc:
        svc.save_penalties(session, [change(amount=amount)], user=cm, actor=Actor.of(cm), now=NOW)
    assert exc.value.key == "penalty_plan_late"
    assert load_settings(session).penalty_plan_late == (200, 300)


def test_months_the_scheduler_derives():
    assert svc.months_to_derive(date(2026, 11, 1)) == [OCTOBER, NOVEMBER]
    assert svc.months_to_derive(date(2026, 11, 17)) == [NOVEMBER]

"""R23, pure: findings (objects or plain dicts), the penalty table (by role, per item, a
range with its minimum as default), deriving again, decisions and the monthly summary."""

from __future__ import annotations

import pytest

from care.domain import violations as rules
from care.domain.settings import BY_KEY, Settings

F = rules.Finding


def test_a_dict_is_a_finding():
    f = rules.as_finding({"rule": "plan_late", "person_id": 7, "evidence": [("report", "2026-10")], "count": 1,
                          "detail": {"days_late": 3}})  # fmt: skip
    assert f == F("plan_late", 7, (("report", "2026-10"),), 1, {"days_late": 3})
    assert f.subject == "person:7"
    assert rules.as_finding(F("plan_late", None)).subject == "department"
    assert rules.as_finding({"rule": "plan_late", "person_id": None, "evidence": [{"kind": "task", "id": 3}]}).evidence == (
        ("task", 3),
    )


@pytest.mark.parametrize(
    "bad",
    [
        {"rule": "unknown", "person_id": 1},
        {"rule": "plan_late", "person_id": "7"},
        {"rule": "plan_late", "person_id": True},
        {"rule": "plan_late", "person_id": 1, "count": 0},
        {"rule": "plan_late", "person_id": 1, "count": 1.5},
        {"rule": "plan_late", "person_id": 1, "evidence": [("Task!", 1)]},
        {"rule": "plan_late", "person_id": 1, "evidence": [("task", None)]},
        {"rule": "plan_late", "person_id": 1, "evidence": [3]},
        {"rule": "plan_late", "person_id": 1, "detail": {"at": object()}},
        {"rule": "plan_late", "person_id": 1, "detail": {"rate": float("nan")}},
        "plan_late",
    ],
)
def test_nonsense_is_not_a_finding(bad):
    with pytest.raises(rules.FindingInvalid):
        rules.as_finding(bad)


def test_every_penalty_names_a_setting_with_the_seed_amount():
    defaults = Settings.defaults()
    seed = {
        ("r15_not_followed_up", ""): (20, 20), ("first_service_rate_low", ""): (200, 200),
        ("care_not_done", ""): (50, 50), ("greetings_short", ""): (50, 50),
        ("reminder_not_standard", ""): (50, 100), ("insurance_sample_short", ""): (20, 20),
        ("insurance_reminder_below_standard", ""): (50, 100), ("lapsed_data_late", ""): (200, 200),
        ("analysis_not_reported", ""): (200, 200), ("plan_late", ""): (200, 300),
        ("ssi_below_target", "sales_manager"): (100, 100), ("ssi_below_target", "care_manager"): (100, 100),
        ("ssi_below_target", "consultant"): (50, 50), ("ssi_below_target", "specialist"): (50, 50),
        ("register_not_submitted", ""): (50, 50),
    }  # fmt: skip
    assert {(d.rule, d.role): defaults[d.setting] for d in rules.PENALTIES} == seed
    assert all(BY_KEY[d.setting].maximum == 10000 for d in rules.PENALTIES)


TABLE = [
    rules.Penalty("ssi_below_target", "consultant", 50, 50, False),
    rules.Penalty("ssi_below_target", "care_manager", 100, 100, False),
    rules.Penalty("plan_late", "", 200, 300, False),
    rules.Penalty("r15_not_followed_up", "", 20, 20, True, active=False),
]


def test_the_penalty_for_a_persons_role():
    assert rules.penalty_for(TABLE, "ssi_below_target", {"consultant"}).minimum == 50
    assert rules.penalty_for(TABLE, "ssi_below_target", {"care_manager", "admin"}).minimum == 100
    assert rules.penalty_for(TABLE, "ssi_below_target", {"insurance"}) is None
    assert rules.penalty_for(TABLE, "ssi_below_target", ()) is None  # the department has no SSI penalty
    assert rules.penalty_for(TABLE, "plan_late", {"care_manager"}).maximum == 300
    assert rules.penalty_for(TABLE, "r15_not_followed_up", {"specialist"}) is None  # not in force


def test_totals_per_item_or_once():
    per_item = rules.Penalty("reminder_not_standard", "", 50, 100, True)
    once = rules.Penalty("plan_late", "", 200, 300, False)
    assert per_item.total(3) == 150 and per_item.total(3, 80) == 240
    assert once.total(3) == 200 and once.total(1, 250) == 250
    with pytest.raises(ValueError):
        rules.Penalty("plan_late", "", 300, 200, False)


def test_reconcile_creates_updates_removes_and_keeps():
    recorded = {
        ("plan_late", "person:1"): rules.Recorded(1, "open"),
        ("plan_late", "person:2"): rules.Recorded(2, "open"),
        ("plan_late", "person:3"): rules.Recorded(3, "confirmed"),
        ("plan_late", "person:4"): rules.Recorded(4, "waived"),
    }
    found = [F("plan_late", 1), F("plan_late", 3), F("plan_late", 5), F("plan_late", 5, count=2)]
    plan = rules.reconcile(recorded, found)
    assert plan.create == (F("plan_late", 5),)  # the first of two findings with one subject
    assert plan.update == ((1, F("plan_late", 1)),)
    assert plan.remove == (2,)
    assert set(plan.kept) == {3, 4}
    again = rules.reconcile({}, [])
    assert again == rules.Reconciliation((), (), (), ())


RANGE = rules.Penalty("reminder_not_standard", "", 50, 100, True)


def test_decisions():
    assert rules.check_decision("confirm", "", "", RANGE) == (rules.Action.CONFIRM, 50, None)
    assert rules.check_decision("confirm", " 1,00 ", "说明", RANGE) == (rules.Action.CONFIRM, 100, "说明")
    assert rules.check_decision("waive", "999", " 客户投诉已撤回 ", RANGE) == (rules.Action.WAIVE, None, "客户投诉已撤回")
    for action, amount, reason, field in [
        ("confirm", "101", "", "amount"), ("confirm", "1e2", "", "amount"), ("confirm", "99999999", "", "amount"),
        ("waive", "", "", "reason"), ("", "", "", "action"), (None, "", "", "action"),
    ]:  # fmt: skip
        with pytest.raises(rules.DecisionInvalid) as exc:
            rules.check_decision(action, amount, reason, RANGE)
        assert exc.value.field == field


def test_who_sees_and_decides():
    assert rules.may_see(1, {"specialist"}, 1) and not rules.may_see(1, {"specialist"}, 2)
    assert not rules.may_see(1, {"specialist"}, None)
    assert rules.may_see(1, {"sales_manager"}, 2)
    assert rules.may_decide_on(1, {"care_manager"}, 2) and not rules.may_decide_on(1, {"care_manager"}, 1)
    assert rules.may_decide_on(9, {"general_manager"}, 1)
    assert not rules.may_decide_on(9, {"sales_manager"}, 1)


def test_summary():
    rows = [(1, "confirmed", 100), (1, "waived", 50), (1, "open", 20), (None, "open", 40), (2, "confirmed", 30)]
    found = rules.summarize(rows)
    assert [s.person_id for s in found] == [1, 2, None]
    one = found[0]
    assert (one.count, one.open, one.confirmed, one.waived, one.confirmed_amount, one.open_amount) == (3, 1, 1, 1, 100, 20)
    total = rules.totals(found)
    assert (total.count, total.confirmed_amount, total.open_amount) == (5, 130, 60)
    assert rules.summarize([]) == []

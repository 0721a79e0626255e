"""R22: the KPI formulas, months and weeks, targets, the report's JSON (care.domain.kpis)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from care.domain import kpis as k
from care.domain.lapsed import LapsedGroup

TZ = "Asia/Shanghai"
TARGETS = {
    "reminder_rate_target": 1.0,
    "first_service_reminder_min": 0.95,
    "attempt_compliance_target": 1.0,
    "birthday_on_time_target": 1.0,
}


# --- rates -----------------------------------------------------------------------------


def test_a_rate_is_numerator_over_denominator():
    assert k.rate(3, 4) == 0.75
    assert k.rate(0, 5) == 0.0
    assert k.rate(5, 5) == 1.0


def test_a_zero_denominator_gives_no_rate_never_zero():
    assert k.rate(0, 0) is None
    r = k.KpiResult("x", 0, 0, target=1.0, floor=0.95)
    assert r.value is None
    assert r.as_json() == {"rate": None, "numerator": 0, "denominator": 0}
    assert r.meets_target is None
    assert r.violates is False  # nothing to violate


@pytest.mark.parametrize("n, d", [(-1, 3), (4, 3), (1, -1)])
def test_impossible_counts_are_a_counting_error(n, d):
    with pytest.raises(ValueError):
        k.rate(n, d)
    with pytest.raises(ValueError):
        k.KpiResult("x", n, d)


def test_mean_of_nothing_is_none():
    assert k.mean(7, 2) == 3.5
    assert k.mean(0, 0) is None


def test_first_service_reminder_rate_violates_below_its_floor_not_at_it():
    assert k.kpi("first_service_reminder_rate", 94, 100, TARGETS).violates
    at_floor = k.kpi("first_service_reminder_rate", 95, 100, TARGETS)
    assert not at_floor.violates
    assert at_floor.meets_target is False  # the target is 100 %
    assert at_floor.target == 1.0 and at_floor.floor == 0.95
    assert k.kpi("first_service_reminder_rate", 19, 19, TARGETS).meets_target is True


def test_other_figures_have_no_floor():
    r = k.kpi("attempt_compliance", 1, 10, TARGETS)
    assert r.target == 1.0 and r.floor is None and not r.violates
    assert k.kpi("churn_rate", 1, 10, TARGETS).target is None


# --- months ----------------------------------------------------------------------------


@pytest.mark.parametrize("text, month", [("2026-03", date(2026, 3, 1)), (" 2000-01 ", date(2000, 1, 1)), ("2100-12", date(2100, 12, 1))])
def test_parse_month(text, month):
    assert k.parse_month(text) == month


@pytest.mark.parametrize("text", ["", "2026-3", "2026-13", "2026-00", "1999-12", "2101-01", "2026/03", "March", "２０２６-03", "2026-03-01"])
def test_parse_month_refuses_anything_else_with_a_message(text):
    with pytest.raises(k.MonthInvalid) as exc:
        k.parse_month(text)
    assert "YYYY-MM" in str(exc.value) or "01 to 12" in str(exc.value) or "2000" in str(exc.value)


def test_previous_and_next_month_cross_the_year():
    assert k.previous_month(date(2026, 1, 31)) == date(2025, 12, 1)
    assert k.next_month(date(2026, 12, 5)) == date(2027, 1, 1)


def test_month_span_is_the_dealers_month_in_utc():
    span = k.month_span(date(2026, 3, 1), TZ, datetime(2026, 5, 1, tzinfo=UTC))
    assert span.start == datetime(2026, 2, 28, 16, 0, tzinfo=UTC)  # 1 March 00:00 in Shanghai
    assert span.end == datetime(2026, 3, 31, 16, 0, tzinfo=UTC)
    assert len(span.edges) == 32 and span.edges[1] == datetime(2026, 3, 1, 16, 0, tzinfo=UTC)
    assert span.cutoff == span.end and not span.in_progress and span.started
    assert span.as_of == date(2026, 3, 31)
    assert span.key == "2026-03" and span.days == 31


def test_month_in_progress_is_cut_at_now():
    now = datetime(2026, 3, 10, 4, 0, tzinfo=UTC)  # 10 March, 12:00 in Shanghai
    span = k.month_span(date(2026, 3, 1), TZ, now)
    assert span.in_progress and span.cutoff == now and span.as_of == date(2026, 3, 10)


def test_a_month_not_begun_has_nothing_ended():
    span = k.month_span(date(2026, 4, 1), TZ, datetime(2026, 3, 10, tzinfo=UTC))
    assert not span.started and span.cutoff == span.start
    assert span.as_of == date(2026, 3, 31)


def test_weeks_are_monday_to_sunday_cut_at_the_months_ends():
    weeks = k.weeks_of(date(2026, 11, 1))  # 1 Nov 2026 is a Sunday
    assert [(w.first.day, w.last.day) for w in weeks] == [(1, 1), (2, 8), (9, 15), (16, 22), (23, 29), (30, 30)]
    feb = k.weeks_of(date(2027, 2, 1))  # 1 Feb 2027 is a Monday, 28 days
    assert [(w.first.day, w.last.day) for w in feb] == [(1, 7), (8, 14), (15, 21), (22, 28)]
    assert sum((w.last - w.first).days + 1 for w in weeks) == 30


def test_first_service_windows_closing_in_a_month_come_from_one_delivery_month():
    # deadline = delivery + 3 months: February's windows are November's deliveries,
    # 29 and 30 November clamped onto 28 February.
    span = k.month_span(date(2026, 2, 1), TZ, datetime(2026, 6, 1, tzinfo=UTC))
    assert k.first_service_deliveries(span, 3) == (date(2025, 11, 1), date(2025, 11, 30))
    # in the month in progress only the deadlines already passed (before today)
    now = datetime(2026, 2, 10, 4, 0, tzinfo=UTC)
    assert k.first_service_deliveries(k.month_span(date(2026, 2, 1), TZ, now), 3) == (date(2025, 11, 1), date(2025, 11, 9))
    early = datetime(2026, 2, 1, 4, 0, tzinfo=UTC)
    assert k.first_service_deliveries(k.month_span(date(2026, 2, 1), TZ, early), 3) is None


# --- vocabularies ------------------------------------------------------------------------


def test_reached_outcomes_are_all_but_not_reached():
    reached = k.reached_outcomes()
    assert {"will_come", "serviced_elsewhere", "declined", "greeted", "booked", "lost"} <= reached
    assert "not_reached" not in reached and "reminder_failed" not in reached


def test_the_appointment_rate_counts_the_types_that_can_book():
    assert set(k.booking_task_types()) == {
        "first_service", "maintenance", "warranty_expiry", "inspection", "lapsed_recall", "appointment",
    }  # fmt: skip


def test_lapsed_counts_give_all_six_groups():
    counts = k.lapsed_counts({(True, True): 2, (True, False): 1, (False, False): 3})
    assert counts == {
        "local": 3, "out_of_town": 3, "local_in_warranty": 2, "local_out_of_warranty": 1,
        "out_of_town_in_warranty": 0, "out_of_town_out_of_warranty": 3,
    }  # fmt: skip
    assert k.lapsed_counts({}) == {g.value: 0 for g in LapsedGroup}


def test_group_members():
    assert k.group_members("local") == {(True, True), (True, False)}
    assert k.group_members("out_of_town_in_warranty") == {(False, True)}


# --- analyses --------------------------------------------------------------------------


def test_return_analysis_folds_days_into_weeks_reasons_and_shops():
    span = k.month_span(date(2026, 11, 1), TZ, datetime(2027, 1, 1, tzinfo=UTC))
    rows = [
        k.ReturnRow(3, True, None, None, None, None, 2),
        k.ReturnRow(4, False, "serviced_elsewhere", "途虎养车", "高新区", "300.00", 1),
        k.ReturnRow(10, False, "serviced_elsewhere", "途虎养车", "高新区", "500.00", 1),
        k.ReturnRow(10, False, "serviced_elsewhere", "小区快修", "", "bad", 1),
        k.ReturnRow(30, False, "declined", None, None, None, 2),
    ]
    a = k.return_analysis("first_service_return_rate", span, rows, TARGETS)
    assert (a.rate.numerator, a.rate.denominator) == (2, 7)
    by_week = {w.number: (r.numerator, r.denominator) for w, r in a.weeks}
    assert by_week == {1: (0, 0), 2: (2, 3), 3: (0, 2), 4: (0, 0), 5: (0, 0), 6: (0, 2)}
    assert a.weeks[0][1].value is None  # an empty week is "—", not 0
    assert a.not_returned == (("serviced_elsewhere", 3), ("declined", 2))
    assert a.other_shops == (
        k.ShopCount("途虎养车", "高新区", 2, 400.0),
        k.ShopCount("小区快修", "", 1, None),
    )
    doc = a.as_json()
    assert doc["weeks"][1] == {"week": 2, "from": "2026-11-02", "to": "2026-11-08", "rate": 2 / 3, "numerator": 2, "denominator": 3}
    assert doc["other_shops"][0] == {"shop": "途虎养车", "location": "高新区", "vehicles": 2, "average_price": 400.0}


def test_churn_analysis_by_group():
    c = k.ChurnAnalysis(date(2026, 3, 31), {(True, True): 10, (False, False): 5}, {(True, True): 2, (False, False): 5})
    assert (c.rate.numerator, c.rate.denominator) == (7, 15)
    assert c.group_rate("out_of_town").value == 1.0
    assert c.group_rate("local_out_of_warranty").value is None  # nobody served there
    assert c.lapsed_by_group["local"] == 2


# --- the report document (interfaces.md) -------------------------------------------------


def _monthly(**over) -> k.MonthlyKpis:
    span = k.month_span(date(2026, 3, 1), TZ, datetime(2026, 5, 1, tzinfo=UTC))
    empty = k.return_analysis("first_service_return_rate", span, [], TARGETS)
    values = {
        "span": span,
        "first_service": empty,
        "maintenance": k.return_analysis("maintenance_return_rate", span, [], TARGETS),
        "appointment_rate": k.kpi("appointment_rate", 1, 2, TARGETS),
        "churn": k.ChurnAnalysis(span.last, {}, {}),
        "reminder_rate": {t: k.kpi("reminder_rate", 0, 0, TARGETS) for t in k.TASK_TYPES}
        | {"first_service": k.kpi("first_service_reminder_rate", 9, 10, TARGETS)},
        "attempt_compliance": k.kpi("attempt_compliance", 0, 0, TARGETS),
        "birthday_on_time_rate": k.kpi("birthday_on_time_rate", 3, 4, TARGETS),
        "greetings": {"birthday_call": 2, "birthday_message": 1},
        "complaints_closed_in_24h_rate": k.null_rate("complaints_closed_in_24h_rate"),
        "appointment_show_rate": k.null_rate("appointment_show_rate"),
        "ssi": k.IndexResult(),
        "csi": k.IndexResult(),
        "very_satisfied": {"zhang": k.null_rate("very_satisfied")},
        "insurance_sample": {"calls": 0, "sampled": 0, "verified": 0, "completion": k.null_rate("c").as_json()},
    }
    values.update(over)
    return k.MonthlyKpis(**values)


def test_report_document_has_the_contracts_keys_and_shapes():
    doc = k.report_document(_monthly())
    for key in (
        "month", "first_service_return_rate", "maintenance_return_rate", "appointment_rate", "churn_rate",
        "reminder_rate", "attempt_compliance", "birthday_on_time_rate", "greetings_sent",
        "complaints_closed_in_24h_rate", "ssi_index", "csi_index", "lapsed_by_group", "very_satisfied",
        "insurance_sample", "appointment_show_rate",
    ):  # fmt: skip
        assert key in doc, key
    assert doc["month"] == "2026-03"
    assert doc["appointment_rate"] == {"rate": 0.5, "numerator": 1, "denominator": 2}
    assert doc["first_service_return_rate"] == {"rate": None, "numerator": 0, "denominator": 0}
    assert set(doc["reminder_rate"]) == set(k.TASK_TYPES)
    assert doc["reminder_rate"]["first_service"] == {"rate": 0.9, "numerator": 9, "denominator": 10}
    assert doc["greetings_sent"] == 3
    assert doc["ssi_index"] == {"index": None, "responses": 0, "ci95": None, "by_factor": {}}
    assert doc["complaints_closed_in_24h_rate"]["rate"] is None
    assert doc["very_satisfied"] == {"zhang": {"rate": None, "numerator": 0, "denominator": 0}}
    assert set(doc["lapsed_by_group"]) == {g.value for g in LapsedGroup}
    assert doc["targets"]["first_service_reminder_rate"] == {
        "target": 1.0, "violation_below": 0.95, "meets_target": False, "violates": True,
    }  # fmt: skip
    assert doc["targets"]["attempt_compliance"]["violates"] is None  # no value, no verdict


def test_every_rate_in_the_document_is_in_0_1_or_null():
    doc = k.report_document(_monthly())

    def rates(node):
        if isinstance(node, dict):
            if set(node) == {"rate", "numerator", "denominator"}:
                yield node
            for v in node.values():
                yield from rates(v)
        elif isinstance(node, list):
            for v in node:
                yield from rates(v)

    found = list(rates(doc))
    assert len(found) > 20
    for r in found:
        assert (r["rate"] is None) == (r["denominator"] == 0)
        assert r["rate"] is None or 0 <= r["rate"] <= 1


# --- scorecards ------------------------------------------------------------------------


def test_scorecard_counts_per_task_and_per_customer():
    c = k.ScoreCounts(
        tasks=6, customers=2, done=5, reached=4, reached_customers=1, on_time=3, phone_tasks=5,
        compliant=5, attempts=9, called_tasks=6, calls=3, called_customers=2,
    )  # fmt: skip
    card = k.Scorecard(1, c)
    assert card.reached_rate.value == 4 / 6
    assert card.reached_customer_rate.value == 0.5
    assert card.attempts_per_task == 1.5
    assert card.calls_per_customer == 1.5
    assert card.on_time_rate.value == 0.5
    assert card.attempt_compliance.value == 1.0
    assert card.survey_index.index is None


def test_an_empty_scorecard_is_all_dashes():
    card = k.Scorecard(1, k.ScoreCounts())
    assert card.reached_rate.value is None and card.attempts_per_task is None and card.calls_per_customer is None


@pytest.mark.parametrize(
    "roles, scope",
    [
        (["specialist"], {"specialist": "own"}),
        (["insurance"], {"insurance": "own"}),
        (["consultant"], {"consultant": "own"}),
        (["care_manager"], {"specialist": "all", "insurance": "all", "consultant": "all"}),
        (["general_manager"], {"specialist": "all", "insurance": "all", "consultant": "all"}),
        (["sales_manager"], {"consultant": "all"}),
        (["sales_manager", "specialist"], {"consultant": "all", "specialist": "own"}),
        (["consultant", "sales_manager"], {"consultant": "all"}),
        (["front_desk"], {}),
        (["admin"], {}),
    ],
)
def test_scorecard_scope(roles, scope):
    assert k.scorecard_scope(roles) == scope


def test_month_span_edges_are_local_midnights_across_a_dst_zone():
    # a zone with summer time: the edges follow the local clock, not fixed 24 h steps
    span = k.month_span(date(2026, 3, 1), "Europe/Berlin", datetime(2026, 5, 1, tzinfo=UTC))
    day = span.edges[29].astimezone(UTC) - span.edges[28].astimezone(UTC)
    assert day == timedelta(hours=23)  # 29 March 2026: the clocks go forward

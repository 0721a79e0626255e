"""The care-task rules R1–R10 (care.domain.task_rules): windows, cycle keys, purpose, consent."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from care.calendars import lunar_birthday_in_year
from care.domain.settings import Settings
from care.domain.task_rules import (
    REASON_MESSAGES,
    Channel,
    CustomerFacts,
    DeliveryFacts,
    OwnerRule,
    PolicyFacts,
    Skip,
    SkipReason,
    TaskProposal,
    TaskType,
    VehicleFacts,
    VisitFacts,
    average_daily_km,
    contact_plan,
    delivery_call_in_time,
    predict_maintenance,
    propose_appointment,
    propose_birthday,
    propose_delivery_call,
    propose_delivery_survey,
    propose_first_service,
    propose_inspection,
    propose_insurance_renewal,
    propose_lapsed_recall,
    propose_maintenance,
    propose_service_callback,
    propose_warranty_expiry,
)

S = Settings.defaults()
SH = ZoneInfo("Asia/Shanghai")
VIN = "LSVAU2180N2183294"
CUSTOMER = CustomerFacts("C001", has_valid_phone=True, has_email=True)


def settings(**overrides) -> Settings:
    return Settings({**S.as_dict(), **overrides})


def vehicle(**kw) -> VehicleFacts:
    return VehicleFacts(VIN, **kw)


def eod(d: date) -> datetime:
    return datetime.combine(d, time(23, 59, 59), tzinfo=SH)


def skipped(result, reason: SkipReason) -> bool:
    return isinstance(result, Skip) and result.reason is reason


def assert_window(propose, opens_on: date, deadline: date):
    """The four edges: the day before opens, the opening day, the deadline, the day after."""
    assert skipped(propose(opens_on - timedelta(days=1)), SkipReason.NOT_DUE)
    first = propose(opens_on)
    last = propose(deadline)
    assert isinstance(first, TaskProposal), first
    assert isinstance(last, TaskProposal), last
    assert first == last  # catch-up: any day of the window proposes the same task
    assert first.opens_on == opens_on
    assert skipped(propose(deadline + timedelta(days=1)), SkipReason.WINDOW_CLOSED)
    return first


# --- vocabulary ------------------------------------------------------------------------


def test_task_types_are_exactly_the_interface_values():
    spec = Path(__file__).resolve().parents[3] / "shared" / "spec" / "interfaces.md"
    expected = [
        "first_service",
        "maintenance",
        "warranty_expiry",
        "inspection",
        "insurance_renewal",
        "birthday",
        "delivery_call",
        "delivery_survey",
        "lapsed_recall",
        "service_callback",
        "appointment",
    ]
    assert [t.value for t in TaskType] == expected
    if spec.exists():  # the shared spec is beside the repository in the team's tree
        text = spec.read_text(encoding="utf-8")
        listed = text.split("Task `type` values:", 1)[1].split(".\n", 1)[0]
        assert re.findall(r"`(\w+)`", listed) == expected


# --- R1 first service ------------------------------------------------------------------


def test_r1_window_key_and_due_time():
    v = vehicle(delivery_date=date(2026, 9, 15))
    p = assert_window(
        lambda d: propose_first_service(v, CUSTOMER, S, d), date(2026, 11, 15), date(2026, 12, 15)
    )
    assert p.type is TaskType.FIRST_SERVICE
    assert p.cycle_key == f"first_service:{VIN}"
    assert p.due_at == eod(date(2026, 12, 15))
    assert p.due_at.utcoffset() == timedelta(hours=8)
    assert p.owner_rule is OwnerRule.ROUND_ROBIN
    assert (p.channel, p.fallback) == (Channel.CALL, Channel.SMS)
    assert p.needs_number_correction is False
    assert p.vin == VIN
    assert p.reason.message_id == "first_service.reason"
    assert p.reason.params == {"delivered": date(2026, 9, 15), "due": date(2026, 12, 15)}
    assert p.reason.render() == "delivered 2026-09-15 → first service due by 2026-12-15"


@pytest.mark.parametrize(
    ("delivered", "opens_on", "deadline"),
    [
        (date(2025, 11, 30), date(2026, 1, 30), date(2026, 2, 28)),
        (date(2027, 11, 30), date(2028, 1, 30), date(2028, 2, 29)),  # leap year
        (date(2025, 12, 31), date(2026, 2, 28), date(2026, 3, 31)),
    ],
)
def test_r1_end_of_month_clamping(delivered, opens_on, deadline):
    v = vehicle(delivery_date=delivered)
    p = assert_window(lambda d: propose_first_service(v, CUSTOMER, S, d), opens_on, deadline)
    assert p.due_at == eod(deadline)


def test_r1_windows_come_from_the_settings():
    v = vehicle(delivery_date=date(2026, 1, 15))
    s = settings(first_service_open_months=1, first_service_deadline_months=4)
    assert_window(
        lambda d: propose_first_service(v, CUSTOMER, s, d), date(2026, 2, 15), date(2026, 5, 15)
    )


@pytest.mark.parametrize(
    ("visit", "met"),
    [
        (VisitFacts(date(2026, 11, 20), 3000, "first_service", "RO1"), True),
        (VisitFacts(date(2026, 10, 20), 2000, "first_service", "RO1"), True),  # early
        (VisitFacts(date(2026, 11, 20), 3000, "maintenance", "RO1"), True),  # coded as maintenance
        (VisitFacts(date(2026, 11, 20), 3000, "repair", "RO1"), False),
        (VisitFacts(date(2026, 11, 20), 3000, "warranty", "RO1"), False),
    ],
)
def test_r1_purpose_met_when_the_first_service_was_done_here(visit, met):
    v = vehicle(delivery_date=date(2026, 9, 15), visits=(visit,))
    result = propose_first_service(v, CUSTOMER, S, date(2026, 12, 1))
    if met:
        assert result == Skip(SkipReason.PURPOSE_MET, f"first_service:{VIN}")
    else:
        assert isinstance(result, TaskProposal)


def test_r1_without_a_delivery_date():
    assert skipped(
        propose_first_service(vehicle(), CUSTOMER, S, date(2026, 1, 1)), SkipReason.NO_DATA
    )


# --- R2 regular maintenance ------------------------------------------------------------


def test_average_daily_km():
    assert average_daily_km([]) is None
    assert average_daily_km([VisitFacts(date(2026, 1, 1), 1000, "maintenance")]) is None
    two = [
        VisitFacts(date(2026, 3, 2), 7000, "maintenance"),
        VisitFacts(date(2026, 1, 1), 1000, "first_service"),
        VisitFacts(date(2026, 2, 1), None, "repair"),  # no reading: ignored
    ]
    assert average_daily_km(two) == pytest.approx(100.0)
    same_day = [
        VisitFacts(date(2026, 1, 1), 1000, "repair"),
        VisitFacts(date(2026, 1, 1), 1200, "repair"),
    ]
    assert average_daily_km(same_day) is None


def test_r2_without_visits_runs_from_the_delivery_date():
    v = vehicle(delivery_date=date(2026, 1, 10))
    pred = predict_maintenance(v, S)
    assert (pred.last_service, pred.last_service_km, pred.daily_km) == (date(2026, 1, 10), 0, None)
    assert pred.due_by_mileage is None
    p = assert_window(
        lambda d: propose_maintenance(v, CUSTOMER, S, d), date(2026, 7, 3), date(2026, 7, 10)
    )
    assert p.cycle_key == f"maintenance:{VIN}:2026-01-10"
    assert p.due_at == eod(date(2026, 7, 10))
    assert p.reason.message_id == "maintenance.reason_time"


def test_r2_with_one_visit_there_is_no_mileage_rate():
    v = vehicle(
        delivery_date=date(2025, 12, 1),
        visits=(VisitFacts(date(2026, 3, 1), 5000, "maintenance", "RO1"),),
    )
    pred = predict_maintenance(v, S)
    assert pred.daily_km is None and pred.due_by_mileage is None
    assert (pred.due, pred.basis) == (date(2026, 9, 1), "time")
    p = assert_window(
        lambda d: propose_maintenance(v, CUSTOMER, S, d), date(2026, 8, 25), date(2026, 9, 1)
    )
    assert p.cycle_key == f"maintenance:{VIN}:2026-03-01"


def test_r2_mileage_comes_first_for_a_high_mileage_driver():
    # 6000 km in 60 days = 100 km/day; 7000 + 5000 km reached 50 days after 2 March
    v = vehicle(
        delivery_date=date(2025, 11, 1),
        visits=(
            VisitFacts(date(2026, 1, 1), 1000, "first_service", "RO1"),
            VisitFacts(date(2026, 3, 2), 7000, "maintenance", "RO2"),
        ),
    )
    pred = predict_maintenance(v, S)
    assert pred.due_by_time == date(2026, 9, 2)
    assert pred.due_by_mileage == date(2026, 4, 21)
    assert (pred.due, pred.basis) == (date(2026, 4, 21), "mileage")
    p = assert_window(
        lambda d: propose_maintenance(v, CUSTOMER, S, d), date(2026, 4, 14), date(2026, 4, 21)
    )
    assert p.cycle_key == f"maintenance:{VIN}:2026-03-02"
    assert p.reason.message_id == "maintenance.reason_mileage"
    assert p.reason.params["daily_km"] == 100.0
    assert "12000" not in p.reason.render()  # renders the setting, not a computed literal
    assert "next 5000 km service due by 2026-04-21" in p.reason.render()


def test_r2_time_comes_first_for_a_low_mileage_driver():
    v = vehicle(
        visits=(
            VisitFacts(date(2026, 1, 1), 1000, "first_service", "RO1"),
            VisitFacts(date(2026, 3, 2), 1600, "maintenance", "RO2"),  # 10 km/day
        ),
    )
    pred = predict_maintenance(v, S)
    assert pred.due_by_mileage == date(2026, 3, 2) + timedelta(days=500)
    assert (pred.due, pred.basis) == (date(2026, 9, 2), "time")


def test_r2_interval_km_setting_moves_the_mileage_prediction():
    v = vehicle(
        visits=(
            VisitFacts(date(2026, 1, 1), 1000, "first_service", "RO1"),
            VisitFacts(date(2026, 3, 2), 7000, "maintenance", "RO2"),
        ),
    )
    assert predict_maintenance(v, settings(maintenance_interval_km=10000)).due == date(2026, 6, 10)


def test_r2_key_is_stable_when_a_repair_reading_moves_the_prediction():
    base = vehicle(
        visits=(
            VisitFacts(date(2026, 1, 1), 1000, "first_service", "RO1"),
            VisitFacts(date(2026, 3, 2), 7000, "maintenance", "RO2"),
        ),
    )
    later = replace(
        base, visits=(*base.visits, VisitFacts(date(2026, 3, 20), 8000, "repair", "RO3"))
    )
    a = predict_maintenance(base, S)
    b = predict_maintenance(later, S)
    assert a.due != b.due
    pa = propose_maintenance(base, CUSTOMER, S, a.due)
    pb = propose_maintenance(later, CUSTOMER, S, b.due)
    assert pa.cycle_key == pb.cycle_key == f"maintenance:{VIN}:2026-03-02"


def test_r2_purpose_met_when_the_customer_came_in_during_the_window():
    base = vehicle(delivery_date=date(2026, 1, 10))  # due 2026-07-10, opens 07-03
    came = replace(base, visits=(VisitFacts(date(2026, 7, 4), 6000, "repair", "RO9"),))
    assert skipped(propose_maintenance(came, CUSTOMER, S, date(2026, 7, 5)), SkipReason.PURPOSE_MET)
    earlier = replace(base, visits=(VisitFacts(date(2026, 5, 1), 4000, "repair", "RO9"),))
    assert isinstance(propose_maintenance(earlier, CUSTOMER, S, date(2026, 7, 5)), TaskProposal)


def test_r2_a_new_service_starts_a_new_cycle():
    v = vehicle(
        delivery_date=date(2026, 1, 10),
        visits=(VisitFacts(date(2026, 7, 5), 6000, "maintenance", "RO9"),),
    )
    result = propose_maintenance(v, CUSTOMER, S, date(2026, 7, 6))
    assert result == Skip(SkipReason.NOT_DUE, f"maintenance:{VIN}:2026-07-05")


def test_r2_fallback_is_email_else_sms():
    v = vehicle(delivery_date=date(2026, 1, 10))
    today = date(2026, 7, 5)
    assert propose_maintenance(v, CUSTOMER, S, today).fallback is Channel.EMAIL
    no_address = replace(CUSTOMER, has_email=False)
    assert propose_maintenance(v, no_address, S, today).fallback is Channel.SMS
    refuses_email = replace(CUSTOMER, no_email=True)
    assert propose_maintenance(v, refuses_email, S, today).fallback is Channel.SMS


def test_r2_without_any_date():
    assert skipped(
        propose_maintenance(vehicle(), CUSTOMER, S, date(2026, 1, 1)), SkipReason.NO_DATA
    )


# --- R3 warranty expiry, R4 inspection -------------------------------------------------


def test_r3_warranty_expiry_window():
    v = vehicle(warranty_end=date(2026, 8, 31), warranty_km=100_000, mileage=40_000)
    p = assert_window(
        lambda d: propose_warranty_expiry(v, CUSTOMER, S, d), date(2026, 7, 31), date(2026, 8, 31)
    )
    assert p.cycle_key == f"warranty_expiry:{VIN}:2026-08-31"
    assert (p.type, p.fallback) == (TaskType.WARRANTY_EXPIRY, Channel.SMS)
    assert p.due_at == eod(date(2026, 8, 31))


def test_r3_clamps_the_opening_day():
    v = vehicle(warranty_end=date(2026, 3, 31))
    assert_window(
        lambda d: propose_warranty_expiry(v, CUSTOMER, S, d), date(2026, 2, 28), date(2026, 3, 31)
    )


def test_r3_not_applicable_when_already_out_of_warranty_by_mileage():
    v = vehicle(warranty_end=date(2026, 8, 31), warranty_km=100_000, mileage=100_001)
    assert skipped(
        propose_warranty_expiry(v, CUSTOMER, S, date(2026, 8, 15)), SkipReason.NOT_APPLICABLE
    )
    assert skipped(
        propose_warranty_expiry(vehicle(), CUSTOMER, S, date(2026, 8, 15)), SkipReason.NO_DATA
    )


def test_r4_inspection_window():
    v = vehicle(inspection_due=date(2026, 5, 20))
    p = assert_window(
        lambda d: propose_inspection(v, CUSTOMER, S, d), date(2026, 4, 20), date(2026, 5, 20)
    )
    assert p.cycle_key == f"inspection:{VIN}:2026-05-20"
    assert p.type is TaskType.INSPECTION
    s = settings(inspection_lead_months=2)
    assert_window(
        lambda d: propose_inspection(v, CUSTOMER, s, d), date(2026, 3, 20), date(2026, 5, 20)
    )


# --- R5 insurance renewal --------------------------------------------------------------


def test_r5_insurance_renewal_window_and_owner():
    policy = PolicyFacts("P-2026-001", VIN, date(2026, 10, 31), specialist_id=7)
    p = assert_window(
        lambda d: propose_insurance_renewal(policy, CUSTOMER, S, d),
        date(2026, 8, 31),
        date(2026, 10, 31),
    )
    assert p.cycle_key == "insurance_renewal:P-2026-001:2026-10-31"
    assert (p.owner_rule, p.owner_id) == (OwnerRule.POLICY_SPECIALIST, 7)
    assert p.fallback is Channel.SMS
    assert p.vin == VIN


def test_r5_purpose_met_when_renewed():
    policy = PolicyFacts("P-2026-001", VIN, date(2026, 10, 31), renewed=True)
    assert skipped(
        propose_insurance_renewal(policy, CUSTOMER, S, date(2026, 9, 1)), SkipReason.PURPOSE_MET
    )


# --- R6 birthday -----------------------------------------------------------------------


def test_r6_solar_birthday():
    c = replace(CUSTOMER, birthday=date(1990, 7, 4))
    p = assert_window(lambda d: propose_birthday(c, S, d), date(2026, 7, 4), date(2026, 7, 4))
    assert p.cycle_key == "birthday:C001:2026"
    assert p.due_at == datetime(2026, 7, 4, 10, 30, tzinfo=SH)
    assert p.due_at.astimezone(UTC) == datetime(2026, 7, 4, 2, 30, tzinfo=UTC)
    assert (p.channel, p.fallback, p.owner_rule) == (
        Channel.CALL,
        Channel.SMS,
        OwnerRule.ROUND_ROBIN,
    )
    assert p.reason.render() == "birthday 2026-07-04"


def test_r6_hours_come_from_the_settings():
    c = replace(CUSTOMER, birthday=date(1990, 7, 4))
    s = settings(workday_start=time(9, 0), birthday_window_hours=3)
    assert propose_birthday(c, s, date(2026, 7, 4)).due_at == datetime(2026, 7, 4, 12, 0, tzinfo=SH)


def test_r6_29_february():
    c = replace(CUSTOMER, birthday=date(1988, 2, 29))
    common = propose_birthday(c, S, date(2026, 2, 28))
    assert isinstance(common, TaskProposal)
    assert common.cycle_key == "birthday:C001:2026"
    assert skipped(propose_birthday(c, S, date(2026, 3, 1)), SkipReason.WINDOW_CLOSED)
    assert skipped(propose_birthday(c, S, date(2028, 2, 28)), SkipReason.NOT_DUE)
    leap = propose_birthday(c, S, date(2028, 2, 29))
    assert isinstance(leap, TaskProposal) and leap.opens_on == date(2028, 2, 29)


def test_r6_lunar_birthday_wins_over_the_solar_one():
    c = replace(CUSTOMER, birthday=date(1990, 7, 4), birthday_lunar="08-15")
    mid_autumn = lunar_birthday_in_year("08-15", 2026)
    assert mid_autumn == date(2026, 9, 25)
    assert skipped(
        propose_birthday(c, S, date(2026, 7, 4), lunar_birthday_in_year), SkipReason.NOT_DUE
    )
    p = propose_birthday(c, S, mid_autumn, lunar_birthday_in_year)
    assert isinstance(p, TaskProposal)
    assert p.cycle_key == "birthday:C001:2026"
    assert p.reason.message_id == "birthday.reason_lunar"
    assert p.reason.params == {"birthday": mid_autumn, "lunar": "08-15"}
    after = propose_birthday(c, S, mid_autumn + timedelta(days=1), lunar_birthday_in_year)
    assert skipped(after, SkipReason.WINDOW_CLOSED)


def test_r6_lunar_day_30_in_a_29_day_month():
    from lunardate import LunarDate

    year, month = next(
        (y, m)
        for y in range(2026, 2030)
        for m in range(1, 11)
        if lunar_birthday_in_year(f"{m:02d}-30", y) == LunarDate(y, m, 29).to_solar_date()
    )
    c = replace(CUSTOMER, birthday_lunar=f"{month:02d}-30")
    day = LunarDate(year, month, 29).to_solar_date()
    p = propose_birthday(c, S, day, lunar_birthday_in_year)
    assert isinstance(p, TaskProposal) and p.opens_on == day


def test_r6_lunar_cycle_key_uses_the_lunar_year():
    # a (fake) lunar birthday late in the lunar year falls twice in solar 2026
    days = {2025: date(2026, 1, 5), 2026: date(2026, 12, 26)}
    c = replace(CUSTOMER, birthday_lunar="12-01")

    def convert(mm_dd, year):
        return days.get(year)

    first = propose_birthday(c, S, date(2026, 1, 5), convert)
    second = propose_birthday(c, S, date(2026, 12, 26), convert)
    assert first.cycle_key == "birthday:C001:2025"
    assert second.cycle_key == "birthday:C001:2026"
    assert skipped(propose_birthday(c, S, date(2026, 6, 1), convert), SkipReason.WINDOW_CLOSED)


def test_r6_unconvertible_lunar_falls_back_to_the_solar_birthday():
    c = replace(CUSTOMER, birthday=date(1990, 7, 4), birthday_lunar="13-45")
    assert isinstance(
        propose_birthday(c, S, date(2026, 7, 4), lunar_birthday_in_year), TaskProposal
    )
    # without a converter the solar birthday is used as well
    c2 = replace(CUSTOMER, birthday=date(1990, 7, 4), birthday_lunar="08-15")
    assert isinstance(propose_birthday(c2, S, date(2026, 7, 4)), TaskProposal)


def test_r6_no_usable_birthday():
    assert skipped(propose_birthday(CUSTOMER, S, date(2026, 7, 4)), SkipReason.NO_DATA)
    lunar_only = replace(CUSTOMER, birthday_lunar="08-15")
    assert skipped(propose_birthday(lunar_only, S, date(2026, 7, 4)), SkipReason.NO_DATA)
    bad_lunar = replace(CUSTOMER, birthday_lunar="13-45")
    result = propose_birthday(bad_lunar, S, date(2026, 7, 4), lunar_birthday_in_year)
    assert skipped(result, SkipReason.NO_DATA)


def test_r6_refusing_calls_gets_the_sms_greeting():
    c = replace(CUSTOMER, birthday=date(1990, 7, 4), no_call=True)
    p = propose_birthday(c, S, date(2026, 7, 4))
    assert (p.channel, p.fallback) == (Channel.SMS, None)


# --- R7 post-delivery call, R8 survey --------------------------------------------------


def test_r7_delivery_call_hour_deadline_and_consultant():
    delivered = datetime(2026, 3, 10, 7, 0, tzinfo=UTC)  # 15:00 in Shanghai
    d = DeliveryFacts(VIN, delivered, date(2026, 3, 11), consultant_id=42)
    p = assert_window(
        lambda day: propose_delivery_call(d, CUSTOMER, S, day), date(2026, 3, 10), date(2026, 3, 11)
    )
    assert p.due_at == datetime(2026, 3, 11, 15, 0, tzinfo=SH)
    assert p.due_at.utcoffset() == timedelta(hours=8)
    assert p.cycle_key == f"delivery_call:{VIN}"
    assert (p.owner_rule, p.owner_id, p.fallback) == (OwnerRule.CONSULTANT, 42, None)


def test_r7_opening_day_is_the_local_date():
    delivered = datetime(2026, 3, 10, 16, 30, tzinfo=UTC)  # 00:30 on 11 March in Shanghai
    d = DeliveryFacts(VIN, delivered)
    assert skipped(propose_delivery_call(d, CUSTOMER, S, date(2026, 3, 10)), SkipReason.NOT_DUE)
    p = propose_delivery_call(d, CUSTOMER, S, date(2026, 3, 12))
    assert p.opens_on == date(2026, 3, 11)
    assert p.due_at == datetime(2026, 3, 12, 0, 30, tzinfo=SH)


def test_r8_delivery_survey_window():
    d = DeliveryFacts(VIN, datetime(2026, 3, 10, 7, 0, tzinfo=UTC), date(2026, 3, 11))
    p = assert_window(
        lambda day: propose_delivery_survey(d, CUSTOMER, S, day),
        date(2026, 3, 12),
        date(2026, 3, 14),
    )
    assert p.cycle_key == f"delivery_survey:{VIN}"
    assert p.due_at == eod(date(2026, 3, 14))
    assert (p.owner_rule, p.fallback) == (OwnerRule.ROUND_ROBIN, None)
    assert "2026-03-11" in p.reason.render()


def test_r8_waits_for_the_delivery_file():
    d = DeliveryFacts(VIN, datetime(2026, 3, 10, 7, 0, tzinfo=UTC))
    assert skipped(propose_delivery_survey(d, CUSTOMER, S, date(2026, 3, 12)), SkipReason.NO_DATA)


def test_r8_checks_the_post_delivery_call():
    delivered = datetime(2026, 3, 10, 7, 0, tzinfo=UTC)
    h = timedelta(hours=1)
    assert delivery_call_in_time(delivered, [delivered + 71 * h], S)
    assert delivery_call_in_time(delivered, [delivered + 72 * h], S)
    assert not delivery_call_in_time(delivered, [delivered + 73 * h], S)
    assert not delivery_call_in_time(delivered, [delivered - h], S)
    assert not delivery_call_in_time(delivered, [], S)
    assert delivery_call_in_time(
        delivered, [delivered + 80 * h], settings(delivery_call_check_hours=96)
    )
    local = delivered.astimezone(SH)  # any aware zone compares correctly
    assert delivery_call_in_time(delivered, [local + 2 * h], S)


# --- R9 lapsed recall ------------------------------------------------------------------


def lapsed_vehicle(last_visit: date, **kw) -> VehicleFacts:
    return vehicle(visits=(VisitFacts(last_visit, 20_000, "maintenance", "RO1"),), **kw)


def test_r9_monthly_window():
    v = lapsed_vehicle(date(2026, 1, 1), customer_city="成都市", warranty_end=date(2029, 1, 1))
    p = propose_lapsed_recall(v, CUSTOMER, S, date(2026, 6, 15))
    assert p.cycle_key == f"lapsed_recall:{VIN}:2026-06"
    assert p.opens_on == date(2026, 6, 1)
    assert p.due_at == eod(date(2026, 6, 30))
    assert p.reason.params["location"] == "local"
    assert p.reason.params["group"] == "local_in_warranty"
    assert p.reason.params["last_visit"] == date(2026, 1, 1)
    assert p.reason.params["lapsed_since"] == date(2026, 4, 1)
    assert p.reason.render() == "no visit since 2026-01-01 (local_in_warranty)"
    assert propose_lapsed_recall(v, CUSTOMER, S, date(2026, 6, 30)) == p
    nxt = propose_lapsed_recall(v, CUSTOMER, S, date(2026, 7, 1))
    assert nxt.cycle_key == f"lapsed_recall:{VIN}:2026-07"
    assert nxt.due_at == eod(date(2026, 7, 31))


def test_r9_opens_the_day_the_vehicle_becomes_lapsed():
    v = lapsed_vehicle(date(2026, 3, 10))  # 90 days later: 2026-06-08
    assert skipped(propose_lapsed_recall(v, CUSTOMER, S, date(2026, 6, 7)), SkipReason.NOT_DUE)
    p = propose_lapsed_recall(v, CUSTOMER, S, date(2026, 6, 8))
    assert p.opens_on == date(2026, 6, 8)
    assert propose_lapsed_recall(v, CUSTOMER, S, date(2026, 6, 30)) == p


def test_r9_catch_up_after_the_vehicle_passed_the_maximum_this_month():
    last = date(2026, 6, 5) - timedelta(days=360)  # the last lapsed day is 5 June
    v = lapsed_vehicle(last)
    assert isinstance(propose_lapsed_recall(v, CUSTOMER, S, date(2026, 6, 5)), TaskProposal)
    assert isinstance(propose_lapsed_recall(v, CUSTOMER, S, date(2026, 6, 20)), TaskProposal)
    assert skipped(
        propose_lapsed_recall(v, CUSTOMER, S, date(2026, 7, 1)), SkipReason.WINDOW_CLOSED
    )


def test_r9_out_of_town_and_out_of_warranty_by_mileage():
    v = vehicle(
        customer_city="绵阳",
        warranty_end=date(2029, 1, 1),
        warranty_km=100_000,
        visits=(VisitFacts(date(2026, 1, 1), 100_500, "repair", "RO1"),),
    )
    p = propose_lapsed_recall(v, CUSTOMER, S, date(2026, 6, 15))
    assert p.reason.params["group"] == "out_of_town_out_of_warranty"


def test_r9_a_vehicle_that_came_back_is_no_longer_recalled():
    v = lapsed_vehicle(date(2026, 1, 1))
    back = replace(
        v, visits=(*v.visits, VisitFacts(date(2026, 6, 10), 25_000, "maintenance", "RO2"))
    )
    assert skipped(propose_lapsed_recall(back, CUSTOMER, S, date(2026, 6, 15)), SkipReason.NOT_DUE)


def test_r9_without_visits():
    assert skipped(
        propose_lapsed_recall(vehicle(), CUSTOMER, S, date(2026, 6, 15)), SkipReason.NO_DATA
    )


# --- R10 post-service callback ---------------------------------------------------------


def test_r10_service_callback_window():
    visit = VisitFacts(date(2026, 4, 10), 12_000, "repair", "RO-123")
    v = vehicle(visits=(visit,))
    p = assert_window(
        lambda d: propose_service_callback(visit, v, CUSTOMER, S, d),
        date(2026, 4, 11),
        date(2026, 4, 13),
    )
    assert p.cycle_key == "service_callback:RO-123"
    assert p.due_at == eod(date(2026, 4, 13))
    assert (p.vin, p.fallback) == (VIN, None)
    s = settings(service_callback_days=5)
    assert isinstance(
        propose_service_callback(visit, v, CUSTOMER, s, date(2026, 4, 15)), TaskProposal
    )


def test_r10_needs_a_repair_order_number():
    visit = VisitFacts(date(2026, 4, 10), 12_000, "repair", None)
    result = propose_service_callback(visit, vehicle(), CUSTOMER, S, date(2026, 4, 11))
    assert skipped(result, SkipReason.NO_DATA)


# --- consent and numbers (R12) ---------------------------------------------------------

R1_VEHICLE = vehicle(delivery_date=date(2026, 9, 15))
R1_DAY = date(2026, 12, 1)


@pytest.mark.parametrize(
    ("flags", "channel", "fallback", "correction"),
    [
        ({}, Channel.CALL, Channel.SMS, False),
        ({"no_sms": True}, Channel.CALL, None, False),  # fallback SMS refused
        ({"no_call": True}, Channel.SMS, None, False),
        ({"no_call": True, "no_sms": True}, Channel.EMAIL, None, False),
        ({"has_valid_phone": False}, Channel.CALL, Channel.SMS, True),
        ({"no_call": True, "has_valid_phone": False}, Channel.EMAIL, None, False),
        ({"no_call": True, "has_valid_phone": False, "has_email": False}, Channel.SMS, None, True),
    ],
)
def test_consent_and_numbers_choose_the_channel(flags, channel, fallback, correction):
    p = propose_first_service(R1_VEHICLE, replace(CUSTOMER, **flags), S, R1_DAY)
    assert isinstance(p, TaskProposal)
    assert (p.channel, p.fallback, p.needs_number_correction) == (channel, fallback, correction)


def test_refusing_every_channel_gets_no_task():
    c = replace(CUSTOMER, birthday=date(1990, 12, 1), no_call=True, no_sms=True, no_email=True)
    key = f"first_service:{VIN}"
    assert propose_first_service(R1_VEHICLE, c, S, R1_DAY) == Skip(SkipReason.CONSENT, key)
    assert skipped(propose_birthday(c, S, R1_DAY), SkipReason.CONSENT)
    # the window is checked first: outside it the reason is the window
    assert skipped(propose_first_service(R1_VEHICLE, c, S, date(2026, 10, 1)), SkipReason.NOT_DUE)


def test_no_channel_left_when_only_email_is_allowed_and_there_is_no_address():
    c = replace(CUSTOMER, no_call=True, no_sms=True, has_email=False)
    assert skipped(propose_first_service(R1_VEHICLE, c, S, R1_DAY), SkipReason.NO_CHANNEL)


def test_contact_plan_fallback_order():
    plan = contact_plan(replace(CUSTOMER, has_email=False), (Channel.EMAIL, Channel.SMS))
    assert (plan.channel, plan.fallback) == (Channel.CALL, Channel.SMS)
    plan = contact_plan(CUSTOMER, ())
    assert plan.fallback is None


# --- stable keys, catch-up, rendering --------------------------------------------------


def test_proposals_are_stable_and_hashable():
    a = propose_first_service(R1_VEHICLE, CUSTOMER, S, R1_DAY)
    b = propose_first_service(R1_VEHICLE, CUSTOMER, S, R1_DAY + timedelta(days=1))
    assert a == b  # generating for D+1 proposes the task created on D
    assert len({a, b}) == 1


def test_every_reason_renders():
    c = replace(CUSTOMER, birthday=date(1990, 7, 4), birthday_lunar="08-15")
    delivery = DeliveryFacts(VIN, datetime(2026, 3, 10, 7, 0, tzinfo=UTC), date(2026, 3, 11), 42)
    visit = VisitFacts(date(2026, 4, 10), 12_000, "repair", "RO-123")
    mileage_vehicle = vehicle(
        visits=(
            VisitFacts(date(2026, 1, 1), 1000, "first_service", "RO1"),
            VisitFacts(date(2026, 3, 2), 7000, "maintenance", "RO2"),
        )
    )
    proposals = [
        propose_first_service(R1_VEHICLE, c, S, R1_DAY),
        propose_maintenance(vehicle(delivery_date=date(2026, 1, 10)), c, S, date(2026, 7, 5)),
        propose_maintenance(mileage_vehicle, c, S, date(2026, 4, 20)),
        propose_warranty_expiry(vehicle(warranty_end=date(2026, 8, 31)), c, S, date(2026, 8, 1)),
        propose_inspection(vehicle(inspection_due=date(2026, 5, 20)), c, S, date(2026, 5, 1)),
        propose_insurance_renewal(
            PolicyFacts("P1", VIN, date(2026, 10, 31)), c, S, date(2026, 9, 1)
        ),
        propose_birthday(replace(c, birthday_lunar=None), S, date(2026, 7, 4)),
        propose_birthday(c, S, date(2026, 9, 25), lunar_birthday_in_year),
        propose_delivery_call(delivery, c, S, date(2026, 3, 10)),
        propose_delivery_survey(delivery, c, S, date(2026, 3, 12)),
        propose_lapsed_recall(lapsed_vehicle(date(2026, 1, 1)), c, S, date(2026, 6, 15)),
        propose_service_callback(visit, vehicle(), c, S, date(2026, 4, 11)),
        propose_appointment(R1_VEHICLE, c, S, R1_DAY),
        propose_appointment(vehicle(delivery_date=date(2026, 1, 10)), c, S, date(2026, 7, 5)),
    ]
    assert all(isinstance(p, TaskProposal) for p in proposals), proposals
    assert {p.type for p in proposals} == set(TaskType)
    used = {p.reason.message_id for p in proposals}
    # the no-show follow-up's reason comes from the register (care.services.register), not a rule
    assert used == set(REASON_MESSAGES) - {"appointment.reason_no_show"}
    for p in proposals:
        assert p.reason.render()
        assert p.due_at.tzinfo is not None
        assert p.cycle_key.startswith(p.type.value + ":")

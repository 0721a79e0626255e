"""R9: lapsed vehicles and the six report categories (care.domain.lapsed)."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from care.domain.lapsed import (
    LAPSED_GROUPS,
    LOSS_REASONS,
    OTHER_LOSS_REASON,
    LapsedClass,
    LapsedGroup,
    classify,
    count_by_group,
    in_warranty,
    is_lapsed,
    is_local,
    is_recovered,
    known_mileage,
    last_visit_date,
    loss_reason_words,
    normalize_city,
)
from care.domain.settings import Settings
from care.domain.task_rules import VehicleFacts, VisitFacts

TODAY = date(2026, 6, 15)
S = Settings.defaults()  # dealer_city 成都, lapsed 90–360 days


def vehicle(**kw) -> VehicleFacts:
    base = {
        "vin": "LSVAU2180N2183294",
        "warranty_end": date(2028, 1, 1),
        "warranty_km": 100_000,
        "mileage": 20_000,
        "customer_city": "成都",
        "visits": (VisitFacts(TODAY - timedelta(days=120), 18_000, "maintenance", "RO1"),),
    }
    base.update(kw)
    return VehicleFacts(**base)


def test_the_six_categories_are_the_interface_names():
    assert [g.value for g in LAPSED_GROUPS] == [
        "local",
        "out_of_town",
        "local_in_warranty",
        "local_out_of_warranty",
        "out_of_town_in_warranty",
        "out_of_town_out_of_warranty",
    ]


@pytest.mark.parametrize(
    ("city", "local"),
    [
        ("成都", True),
        ("成都市", True),
        (" 成都市 ", True),
        ("成都 ", True),
        ("重庆", False),
        ("重庆市", False),
        ("成都市郊", False),
        (None, True),  # unknown city counts as local
        ("", True),
    ],
)
def test_local_vs_out_of_town(city, local):
    assert is_local(city, "成都") is local
    assert is_local(city, "成都市") is local  # the setting may carry 市 too


def test_normalize_city():
    assert normalize_city(" 成都市 ") == "成都"
    assert normalize_city("Chengdu") == normalize_city("chengdu ")
    assert normalize_city(None) == ""


@pytest.mark.parametrize(
    ("kw", "expected"),
    [
        ({}, True),
        ({"warranty_end": TODAY}, True),  # the last day still counts
        ({"warranty_end": TODAY - timedelta(days=1)}, False),  # out by date
        ({"mileage": 100_000}, True),  # at the limit
        ({"mileage": 100_001}, False),  # out by mileage
        ({"warranty_end": None}, False),  # no warranty end known
        ({"warranty_km": None, "mileage": 250_000}, True),  # no limit: the date decides
        ({"mileage": None, "visits": ()}, True),  # no reading: the date decides
    ],
)
def test_in_warranty(kw, expected):
    assert in_warranty(vehicle(**kw), TODAY) is expected


def test_a_visit_reading_above_the_vehicle_mileage_counts():
    v = vehicle(mileage=90_000, visits=(VisitFacts(date(2026, 1, 10), 101_000, "repair"),))
    assert known_mileage(v) == 101_000
    assert in_warranty(v, TODAY) is False


@pytest.mark.parametrize(
    ("days_ago", "expected"),
    [(89, False), (90, True), (200, True), (360, True), (361, False)],
)
def test_is_lapsed_edges(days_ago, expected):
    v = vehicle(visits=(VisitFacts(TODAY - timedelta(days=days_ago), None, "repair"),))
    assert is_lapsed(v, S, TODAY) is expected


def test_the_last_visit_of_any_kind_counts():
    v = vehicle(
        visits=(
            VisitFacts(TODAY - timedelta(days=300), 10_000, "maintenance"),
            VisitFacts(TODAY - timedelta(days=30), 15_000, "repair"),
        )
    )
    assert last_visit_date(v) == TODAY - timedelta(days=30)
    assert not is_lapsed(v, S, TODAY)


def test_no_visit_is_not_lapsed():
    assert not is_lapsed(vehicle(visits=()), S, TODAY)


@pytest.mark.parametrize(
    ("kw", "groups"),
    [
        ({}, ("local", "local_in_warranty")),
        ({"customer_city": "成都市"}, ("local", "local_in_warranty")),
        ({"mileage": 120_000}, ("local", "local_out_of_warranty")),  # out by mileage
        ({"warranty_end": date(2025, 1, 1)}, ("local", "local_out_of_warranty")),
        ({"customer_city": "绵阳"}, ("out_of_town", "out_of_town_in_warranty")),
        (
            {"customer_city": "绵阳市", "mileage": 120_000},
            ("out_of_town", "out_of_town_out_of_warranty"),
        ),
    ],
)
def test_classify(kw, groups):
    assert classify(vehicle(**kw), S, TODAY).groups == groups


def test_classify_follows_the_dealer_city_setting():
    chongqing = Settings({**S.as_dict(), "dealer_city": "重庆市"})
    assert classify(vehicle(customer_city="重庆"), chongqing, TODAY).location is LapsedGroup.LOCAL
    assert (
        classify(vehicle(customer_city="成都"), chongqing, TODAY).location
        is LapsedGroup.OUT_OF_TOWN
    )


def test_count_by_group_counts_each_vehicle_twice_and_lists_every_category():
    counts = count_by_group(
        [
            LapsedClass(local=True, in_warranty=True),
            LapsedClass(local=True, in_warranty=False),
            LapsedClass(local=False, in_warranty=False),
        ]
    )
    assert counts == {
        "local": 2,
        "out_of_town": 1,
        "local_in_warranty": 1,
        "local_out_of_warranty": 1,
        "out_of_town_in_warranty": 0,
        "out_of_town_out_of_warranty": 1,
    }
    assert sum(counts.values()) == 2 * 3
    assert count_by_group([]) == dict.fromkeys(counts, 0)


def test_recovered_when_a_visit_follows_the_recall():
    opened = date(2026, 6, 1)
    v = vehicle()
    assert not is_recovered(v, opened)
    back = vehicle(visits=(*v.visits, VisitFacts(date(2026, 6, 20), 21_000, "maintenance")))
    assert is_recovered(back, opened)
    assert is_recovered(vehicle(visits=(VisitFacts(opened, None, "repair"),)), opened)


# --- loss reasons: one list for the recall script and the outcome form -----------------


def test_loss_reasons_are_one_list_with_unique_codes_and_other_last():
    codes = [r.code for r in LOSS_REASONS]
    assert len(codes) == len(set(codes)) and codes[-1] == OTHER_LOSS_REASON
    assert loss_reason_words() == "距离较远、价格偏高、服务态度、维修质量、搬迁外地、车辆已出售、其他"


def test_the_forms_chinese_labels_are_the_scripts_words():
    """The zh-CN form shows each reason as the script reads it out (one list, one wording)."""
    from pathlib import Path

    from babel.messages.pofile import read_po

    po = Path(__file__).resolve().parents[2] / "translations/zh_Hans_CN/LC_MESSAGES/messages.po"
    with po.open("rb") as fh:
        catalog = read_po(fh)
    assert {r.code: catalog.get(r.label).string for r in LOSS_REASONS} == {r.code: r.zh for r in LOSS_REASONS}

"""Customer search, the customer page's data, the CSV export and their audit rows."""

from __future__ import annotations

import contextlib
import csv
import io
import json
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import event, select, text

from care.extensions import db
from care.models import AuditLog, Customer, OwnershipChange
from care.services import Actor
from care.services import customers as svc
from care.services.settings import set_settings
from tests.factories import (
    make_customer,
    make_delivery,
    make_policy,
    make_user,
    make_vehicle,
    make_visit,
    vin_for,
)

NOW = datetime(2026, 11, 20, 4, 0, tzinfo=UTC)  # 12:00 in Shanghai
WHO = {"actor": Actor("tester", ip="10.0.0.9"), "now": NOW}


def found(session, q) -> list[str]:
    """The customer numbers `q` finds through this database's trigram index, checked
    against the same search reading every row (the index only makes it faster)."""
    indexed = [c.customer_no for c in session.scalars(svc.search(session, q))]
    assert indexed == [c.customer_no for c in session.scalars(svc.search_statement(q))], q
    return indexed


@contextlib.contextmanager
def count_queries():
    seen: list[str] = []

    def before(conn, cursor, statement, *args):
        seen.append(statement)

    event.listen(db.engine, "before_cursor_execute", before)
    try:
        yield seen
    finally:
        event.remove(db.engine, "before_cursor_execute", before)


@pytest.fixture
def wang(session):
    c = make_customer(
        session, customer_no="K100001", name="王小明", mobile="+8613800138000", phone2="+8602887654321"
    )
    make_vehicle(session, c, vin=vin_for(4242), plate="川A12345", model="Tiguan L")
    make_customer(session, customer_no="K100002", name="李四", mobile="+8613912345678")
    return c


# --- the kind of query -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("q", "kind"),
    [
        ("", "all"),
        ("  ", "all"),
        ("138 0013 8000", "phone"),
        ("+86 138-0013-8000", "phone"),
        ("8000", "phone"),
        (vin_for(1), "vin"),
        ("川a 12345", "plate"),
        ("王小明", "name"),
        ("K100001", "code"),
        ("ab", "text"),
        ("800", "text"),
    ],
)
def test_describe_query(q, kind):
    assert svc.describe_query(q) == kind


# --- search ------------------------------------------------------------------------------


@pytest.mark.parametrize("q", ["138 0013 8000", "+86 138-0013-8000", "0086 138 0013 8000", "13800138000"])
def test_phone_in_any_spelling_finds_the_customer(session, wang, q):
    assert found(session, q) == ["K100001"]


def test_last_digits_of_mobile_or_second_phone(session, wang):
    assert found(session, "8000") == ["K100001"]
    assert found(session, "4321") == ["K100001"]  # phone2
    assert found(session, "5678") == ["K100002"]
    assert found(session, "800") == []  # fewer than 4 digits is not a phone search
    assert found(session, "0013") == []  # not the last digits


def test_name_contains(session, wang):
    assert found(session, "小明") == ["K100001"]
    assert found(session, "李") == ["K100002"]


def test_customer_number(session, wang):
    assert found(session, "k100002") == ["K100002"]


@pytest.mark.parametrize("q", ["川a 12345", "川A12345", "川A·12345", "a1234"])
def test_plate_ignores_case_and_spaces(session, wang, q):
    assert found(session, q) == ["K100001"]


def test_vin_whole_or_last_six(session, wang):
    vin = vin_for(4242)
    assert found(session, vin) == ["K100001"]
    assert found(session, vin.lower()) == ["K100001"]
    assert found(session, vin[-6:]) == ["K100001"]
    assert found(session, vin[-7:-1]) == []  # the VIN's middle is not its end


def test_the_index_follows_every_change_of_a_customer_or_a_vehicle(session, wang):
    """The trigram index is kept by the database (triggers on SQLite): renamed, renumbered,
    moved to another phone or plate, deleted — the search finds what is there now."""
    vehicle = wang.vehicles[0]
    wang.name, wang.mobile, vehicle.plate = "王大明", "+8613700137123", "川B54321"
    session.flush()
    assert found(session, "大明") == ["K100001"]
    assert found(session, "小明") == []
    assert found(session, "7123") == ["K100001"]
    assert found(session, "8000") == []
    assert found(session, "B54321") == ["K100001"]
    assert found(session, "A12345") == []
    session.delete(vehicle)
    session.flush()
    assert found(session, "B54321") == []
    li = session.scalars(select(Customer).where(Customer.customer_no == "K100002")).one()
    session.delete(li)
    session.flush()
    assert found(session, "李四") == []
    assert found(session, "5678") == []


def test_a_phones_last_digits_are_not_found_in_its_middle(session):
    """The index marks where a number ends: 1380 finds …1380, not 1380… (every 138 0 number)."""
    make_customer(session, customer_no="K1", mobile="+8613800001111")
    make_customer(session, customer_no="K2", mobile="+8613900001380")
    assert found(session, "1380") == ["K2"]
    assert found(session, "1111") == ["K1"]


def test_the_search_reads_the_trigram_index_not_every_customer(session, wang):
    dialect = session.get_bind().dialect.name
    statement = svc.search(session, "王小明").compile(
        session.get_bind(), compile_kwargs={"literal_binds": True}
    )
    if dialect == "sqlite":
        plan = " ".join(row[3] for row in session.execute(text(f"EXPLAIN QUERY PLAN {statement}")))
        assert "search_customer_names VIRTUAL TABLE" in plan
        assert "SCAN customers" not in plan and "SCAN vehicles" not in plan, plan
    else:  # on a few test rows a scan is cheaper: forbid it, the index must still serve
        session.execute(text("SET LOCAL enable_seqscan = off"))
        plan = " ".join(row[0] for row in session.execute(text(f"EXPLAIN {statement}")))
        assert "ix_search_customers_name" in plan, plan
        assert "Seq Scan on customers" not in plan, plan


def test_like_wildcards_are_literal(session, wang):
    assert found(session, "%") == []
    assert found(session, "_") == []


def test_empty_query_lists_most_recently_updated_first(session):
    old = make_customer(session, updated_at=NOW - timedelta(days=3))
    new = make_customer(session, updated_at=NOW)
    assert found(session, "")[:2] == [new.customer_no, old.customer_no]


def test_search_loads_vehicles_without_a_query_per_customer(session):
    for _ in range(12):
        c = make_customer(session)
        make_vehicle(session, c)
        make_vehicle(session, c)
    session.expire_all()
    with count_queries() as queries:
        rows = session.scalars(svc.search_statement("")).all()
        plates = [v.plate for c in rows for v in c.vehicles]
    assert len(plates) == 24
    assert len(queries) == 2  # the customers, then all their vehicles at once


def test_search_is_audited_by_kind_only(session, wang):
    svc.record_search(session, "138 0013 8000", 1, **WHO)
    entry = session.scalars(select(AuditLog).where(AuditLog.action == "customer.search")).one()
    assert entry.detail == {"by": "phone", "results": 1}
    assert entry.ip == "10.0.0.9"


# --- phones as a role sees them ------------------------------------------------------------


def test_shown_phone():
    assert svc.shown_phone("+8613800138000", full=True) == "138 0013 8000"
    assert svc.shown_phone("+8613800138000", full=False) == "138****8000"
    assert "4567" in svc.shown_phone("+14155554567", full=False)
    assert "555" not in svc.shown_phone("+14155554567", full=False)
    assert svc.shown_phone(None, full=False) == ""


# --- the customer page ----------------------------------------------------------------------


def test_add_months_clamps_to_the_month_end():
    assert svc.add_months(date(2026, 1, 31), 1) == date(2026, 2, 28)
    assert svc.add_months(date(2027, 12, 15), 2) == date(2028, 2, 15)
    assert svc.add_months(date(2028, 12, 31), 2) == date(2029, 2, 28)


def test_profile_gathers_vehicles_visits_policies_and_ownership(session, wang):
    consultant = make_user(session, "consultant", display_name="销售甲")
    specialist = make_user(session, "insurance", display_name="保险乙")
    v = wang.vehicles[0]
    v.consultant_id = consultant.id
    older = make_visit(session, v, date=date(2026, 3, 1))
    newer = make_visit(session, v, date=date(2026, 9, 1))
    soon = make_policy(session, v, expiry=date(2027, 1, 10), specialist_id=specialist.id)
    later = make_policy(session, v, expiry=date(2027, 6, 1))
    gone = make_policy(session, v, expiry=date(2026, 11, 1))
    make_delivery(session, v, consultant_id=consultant.id)
    seller = make_customer(session)
    session.add(OwnershipChange(vehicle_id=v.id, old_customer_id=seller.id, new_customer_id=wang.id, changed_at=NOW, source="import:vehicles.csv row 7"))
    other = make_vehicle(session, make_customer(session))  # not Wang's
    make_visit(session, other)
    session.flush()
    session.expire_all()

    wang_id = wang.id
    with count_queries() as queries:
        profile = svc.load_profile(session, wang_id, now=NOW)
    # One more vehicle with visits, a policy and a hand-over costs no extra query.
    second = make_vehicle(session, wang)
    make_visit(session, second)
    make_policy(session, second, specialist_id=specialist.id)
    make_delivery(session, second, consultant_id=consultant.id)
    session.expire_all()
    with count_queries() as more:
        assert len(svc.load_profile(session, wang_id, now=NOW).vehicles) == 2
    assert len(more) == len(queries) <= 12

    assert profile.today == date(2026, 11, 20)
    (rec,) = profile.vehicles
    assert [x.id for x in rec.visits] == [newer.id, older.id]
    assert [p.id for p in rec.policies] == [later.id, soon.id, gone.id]
    assert rec.delivery is not None and rec.delivery.consultant.label == "销售甲"
    assert [profile.policy_state(p) for p in rec.policies] == [None, "due", "expired"]
    assert [ch.source for ch in profile.ownership] == ["import:vehicles.csv row 7"]


def test_insurance_badge_follows_the_setting(session, wang):
    policy = make_policy(session, wang.vehicles[0], expiry=date(2027, 2, 10))  # 2 months 3 weeks
    assert svc.load_profile(session, wang.id, now=NOW).policy_state(policy) is None
    set_settings(session, {"insurance_lead_months": "3"}, actor=Actor("admin"), now=NOW)
    assert svc.load_profile(session, wang.id, now=NOW).policy_state(policy) == "due"


def test_view_writes_an_audit_row_and_unknown_gives_none(session, wang):
    assert svc.view_customer(session, 999_999, **WHO) is None
    assert session.scalars(select(AuditLog)).all() == []
    profile = svc.view_customer(session, wang.id, **WHO)
    assert profile.customer.id == wang.id
    entry = session.scalars(select(AuditLog)).one()
    assert (entry.action, entry.object_type, entry.object_id, entry.actor, entry.ip) == (
        "customer.view", "customer", str(wang.id), "tester", "10.0.0.9",
    )
    assert entry.detail is None


# --- export ---------------------------------------------------------------------------------


def _export(session, q="", *, full=False, cap=None):
    return svc.export_customers(
        session, q, full_phones=full, headers=["no", "name", "mobile", "phone2", "email", "city", "class",
                                                 "plates", "vins", "models", "no_call", "no_sms", "no_email"],
        labels={"existing": "Existing"}, capped_note="# capped", cap=cap, **WHO,
    )


def _rows(text):
    assert text.startswith("\ufeff")
    return list(csv.reader(io.StringIO(text[1:])))


def test_export_masks_phones_unless_asked(session, wang):
    masked = _rows(_export(session, "王小明").text)
    assert masked[0][0] == "no"
    assert masked[1][:4] == ["K100001", "王小明", "138****8000", "028****4321"]
    assert masked[1][7] == "川A12345"
    full = _rows(_export(session, "王小明", full=True).text)
    assert full[1][2] == "138 0013 8000"


def test_export_caps_and_says_so(session):
    for _ in range(4):
        make_customer(session)
    result = _export(session, cap=3)
    rows = _rows(result.text)
    assert result.capped and result.rows == 3
    assert rows[0] == ["# capped"] and rows[1][0] == "no" and len(rows) == 5
    assert not _export(session, cap=4).capped


def test_export_defuses_formulas(session):
    make_customer(session, name="=HYPERLINK(\"http://x\")")
    rows = _rows(_export(session).text)
    assert rows[1][1].startswith("'=")


def test_export_audit_has_counts_not_customer_data(session, wang):
    _export(session, "138 0013 8000")
    entry = session.scalars(select(AuditLog).where(AuditLog.action == "customer.export")).one()
    assert entry.detail["by"] == "phone" and entry.detail["results"] == 1
    text = json.dumps(entry.detail, ensure_ascii=False)
    assert "8000" not in text and "王" not in text

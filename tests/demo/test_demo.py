"""`care demo`: a reproducible, believable dealership that later rules can work on."""

from __future__ import annotations

import calendar
import hashlib
import re
from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from functools import partial
from zoneinfo import ZoneInfo

import phonenumbers
import pytest
from sqlalchemy import delete, func, select
from werkzeug.security import generate_password_hash

from care.demo import load_demo
from care.demo.catalogue import DEMO_PASSWORD, DEMO_USERS, INSURERS
from care.demo.dealership import add_years
from care.demo.load import MARKER_ACTION
from care.domain.roles import Role
from care.domain.vin import validate_vin
from care.extensions import db
from care.models import (
    AuditLog,
    Customer,
    Delivery,
    InsurancePolicy,
    ServiceVisit,
    User,
    UserRole,
    Vehicle,
)
from care.services import Actor, ServiceError
from care.services.settings import load_settings, set_settings
from tests import factories

TODAY = date(2026, 3, 10)
NOW = datetime(2026, 3, 10, 1, 30, tzinfo=UTC)
SHANGHAI = ZoneInfo("Asia/Shanghai")


@pytest.fixture(autouse=True)
def fast_hashing(monkeypatch):
    """Fourteen demo users per load: hash their passwords cheaply in these tests."""
    monkeypatch.setattr(
        "care.models.user.generate_password_hash",
        partial(generate_password_hash, method="pbkdf2:sha256:1000"),
    )


def load(session, customers=120, seed=7, today=TODAY):
    result = load_demo(session, customers=customers, seed=seed, today=today, actor=Actor("test"), now=NOW)
    session.commit()
    return result


def wipe(session) -> None:
    """Empty every table (both SQLite and PostgreSQL), as a fresh database would be."""
    for table in reversed(db.metadata.sorted_tables):
        session.execute(delete(table))
    session.commit()


def _plain(value):
    if isinstance(value, Decimal):
        return f"{value:.2f}"
    if isinstance(value, date | datetime):
        return value.isoformat()
    return value


def digest(session) -> str:
    """A hash of the demo rows by their natural keys (not ids, not created_at)."""
    names = {
        "customer_id": dict(session.execute(select(Customer.id, Customer.customer_no)).all()),
        "vehicle_id": dict(session.execute(select(Vehicle.id, Vehicle.vin)).all()),
        "user_id": dict(session.execute(select(User.id, User.username)).all()),
    }
    names["consultant_id"] = names["specialist_id"] = names["user_id"]
    skip = {"id", "created_at", "updated_at", "password_hash", "last_login_at", "at"}
    h = hashlib.sha256()
    for model in (User, UserRole, Customer, Vehicle, Delivery, ServiceVisit, InsurancePolicy):
        columns = [c.name for c in model.__table__.columns if c.name not in skip]
        rows = []
        for row in session.execute(select(*(model.__table__.c[c] for c in columns))):
            values = dict(zip(columns, row, strict=True))
            rows.append(
                tuple((c, repr(_plain(names[c].get(v) if c in names else v))) for c, v in values.items())
            )
        h.update(model.__tablename__.encode())
        for row in sorted(rows):
            h.update(repr(row).encode())
    return h.hexdigest()


def counts(session) -> dict[str, int]:
    return {
        t.name: session.scalar(select(func.count()).select_from(t)) for t in db.metadata.sorted_tables
    }


def test_same_seed_gives_the_same_data_and_another_seed_other_data(session):
    first = load(session, seed=7)
    assert first.already_loaded is False
    one = digest(session)
    wipe(session)
    load(session, seed=7)
    assert digest(session) == one
    wipe(session)
    load(session, seed=8)
    assert digest(session) != one


def test_running_again_changes_nothing_and_another_data_set_is_refused(session):
    load(session, seed=7)
    before, marker_rows = digest(session), counts(session)
    again = load(session, seed=7, today=TODAY + timedelta(days=30))
    assert again.already_loaded is True
    assert again.today == TODAY  # the data set as it was loaded
    assert digest(session) == before
    assert counts(session) == marker_rows
    for other in ({"seed": 8}, {"customers": 121}):
        with pytest.raises(ServiceError, match="already loaded"):
            load(session, **other)
        session.rollback()
    assert counts(session) == marker_rows
    marker = session.scalars(select(AuditLog).where(AuditLog.action == MARKER_ACTION)).one()
    assert marker.detail["seed"] == 7 and marker.detail["customers"] == 120
    assert marker.detail["today"] == TODAY.isoformat()


def test_refuses_a_database_that_holds_its_own_customers(session):
    factories.make_customer(session)
    session.commit()
    with pytest.raises(ServiceError, match="empty database"):
        load(session)


def _plus_months(day: date, months: int) -> date:
    """Months with end-of-month clamping, as domain.md §3 counts them."""
    year, month = divmod(day.year * 12 + day.month - 1 + months, 12)
    return date(year, month + 1, min(day.day, calendar.monthrange(year, month + 1)[1]))


def test_the_demo_is_believable_and_gives_the_rules_work_today(session):
    result = load(session, customers=150, seed=11)
    customers = session.scalars(select(Customer)).all()
    vehicles = session.scalars(select(Vehicle)).all()
    visits = session.scalars(select(ServiceVisit).order_by(ServiceVisit.date)).all()
    policies = session.scalars(select(InsurancePolicy)).all()
    deliveries = session.scalars(select(Delivery)).all()
    assert result.counts["customers"] == len(customers) == 150
    assert 1.05 <= len(vehicles) / len(customers) <= 1.4

    # Customers: numbers, phones, e-mail, places, consent.
    for c in customers:
        assert re.fullmatch(r"C20\d{7}", c.customer_no)
        for phone in (c.mobile, c.phone2):
            if phone is None:
                continue
            parsed = phonenumbers.parse(phone, None)
            assert phonenumbers.is_valid_number(parsed) and parsed.country_code == 86
            assert phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164) == phone
        if c.mobile is not None:  # a few have lost theirs: the number-correction queue
            parsed = phonenumbers.parse(c.mobile, None)
            assert phonenumbers.number_type(parsed) == phonenumbers.PhoneNumberType.MOBILE
        assert c.email is None or re.fullmatch(r"[a-z]+\d+@example\.(cn|com|net|org)", c.email)
        assert c.address.startswith(f"{c.city}市")
        for flag in ("no_call", "no_sms", "no_email"):
            if getattr(c, flag):
                assert getattr(c, f"{flag}_by") == "demo" and getattr(c, f"{flag}_at") is not None
    mobiles = [c.mobile for c in customers if c.mobile]
    assert len(set(mobiles)) == len(mobiles) and len(customers) - len(mobiles) <= len(customers) // 100
    cities = [c.city for c in customers]
    assert cities.count("成都") > len(customers) / 2
    assert len(set(cities)) >= 5
    assert {c.customer_class for c in customers} <= {"potential", "existing", "vip", "key"}
    assert 0.2 < sum(c.email is not None for c in customers) / len(customers) < 0.6
    assert any(getattr(c, f) for c in customers for f in ("no_call", "no_sms", "no_email"))

    # Vehicles: VINs, plates, dates, odometer.
    for v in vehicles:
        assert validate_vin(v.vin) == v.vin and v.vin.startswith("LFV")
        assert re.fullmatch(r"川[A-Z][A-Z0-9]{5,6}", v.plate)
        assert TODAY - timedelta(days=5 * 366) <= v.delivery_date < TODAY
        assert v.warranty_end == add_years(v.delivery_date, 3) and v.warranty_km == 100000
        assert v.inspection_due >= TODAY
        age = (TODAY - v.delivery_date).days
        assert 15 * age <= v.mileage <= 90 * age + 100
    assert len({v.plate for v in vehicles}) == len(vehicles)

    # Visits: after delivery, before today, odometer increasing along them.
    by_vehicle = defaultdict(list)
    for visit in visits:
        by_vehicle[visit.vehicle_id].append(visit)
    vehicle = {v.id: v for v in vehicles}
    for vehicle_id, own in by_vehicle.items():
        v = vehicle[vehicle_id]
        assert all(v.delivery_date < x.date < TODAY for x in own)
        mileages = [x.mileage for x in own]
        assert mileages == sorted(mileages) and len(set(mileages)) == len(mileages)
        assert v.mileage >= mileages[-1]
        assert sum(x.kind == "first_service" for x in own) <= 1
    kinds = {x.kind for x in visits}
    assert {"first_service", "maintenance", "repair", "warranty"} <= kinds
    assert all(400 <= x.amount <= 1500 for x in visits if x.kind == "maintenance")

    # R1: first-service windows open today (delivered 2–3 months ago, not yet serviced).
    first_served = {x.vehicle_id for x in visits if x.kind == "first_service"}
    open_windows = [
        v
        for v in vehicles
        if _plus_months(v.delivery_date, 2) <= TODAY <= _plus_months(v.delivery_date, 3) and v.id not in first_served
    ]
    assert open_windows

    # R5: policies expiring within the next two months, each with an insurance specialist.
    insurance_staff = {
        u.id for u in session.scalars(select(User)).all() if Role.INSURANCE in u.roles
    }
    assert any(TODAY <= p.expiry <= _plus_months(TODAY, 2) for p in policies)
    assert all(p.specialist_id in insurance_staff for p in policies)
    assert {p.insurer for p in policies} <= {name for name, _, _ in INSURERS}
    assert len({p.policy_no for p in policies}) == len(policies)

    # R9: lapsed vehicles (last visit 90–360 days ago), local and out-of-town.
    owner = {c.id: c for c in customers}
    lapsed = [
        vehicle[vid]
        for vid, own in by_vehicle.items()
        if 90 <= (TODAY - own[-1].date).days <= 360
    ]
    long_gone = [vid for vid, own in by_vehicle.items() if (TODAY - own[-1].date).days > 360]
    assert any(owner[v.customer_id].city == "成都" for v in lapsed)
    assert any(owner[v.customer_id].city != "成都" for v in lapsed)
    assert long_gone

    # Deliveries: one per vehicle, by its consultant, at a plausible local hour.
    assert len(deliveries) == len(vehicles)
    for d in deliveries:
        v = vehicle[d.vehicle_id]
        local = d.delivered_at.astimezone(SHANGHAI)
        assert local.date() == v.delivery_date and 9 <= local.hour <= 19
        assert d.consultant_id == v.consultant_id is not None
        assert d.customer_id == v.customer_id
    assert any(TODAY - v.delivery_date <= timedelta(days=7) for v in vehicles)


def test_the_dealer_city_comes_from_the_settings(session):
    set_settings(session, {"dealer_city": "绵阳"}, actor=Actor("test"), now=NOW)
    load(session, customers=60)
    cities = session.scalars(select(Customer.city)).all()
    assert cities.count("绵阳") > len(cities) / 2
    assert "成都" in cities or len(set(cities)) > 3
    plates = session.scalars(select(Vehicle.plate)).all()
    assert sum(p.startswith("川B") for p in plates) > len(plates) / 2


def test_the_demo_store_has_a_name_and_its_staff_plain_names(session):
    """Scripts read "我是成都锦泰一汽-大众4S店的客服专员刘婷", not "Care Desk 4S" nor "客服 刘婷"."""
    load(session, customers=30)
    assert load_settings(session).dealer_name == "成都锦泰一汽-大众4S店"
    names = session.scalars(select(User.display_name).order_by(User.id)).all()
    assert len(names) == len(DEMO_USERS) and names[0] == "刘婷"
    assert all(re.fullmatch(r"[\u4e00-\u9fff]{2,3}", n) for n in names), names  # a person's name, no role


def test_the_demo_keeps_a_dealer_name_someone_set(session):
    set_settings(session, {"dealer_name": "德阳一汽-大众旌阳店", "dealer_city": "德阳市"}, actor=Actor("test"), now=NOW)
    load(session, customers=30)
    assert load_settings(session).dealer_name == "德阳一汽-大众旌阳店"
    wipe(session)
    set_settings(session, {"dealer_city": "德阳市"}, actor=Actor("test"), now=NOW)
    load(session, customers=30)
    assert load_settings(session).dealer_name == "德阳锦泰一汽-大众4S店"


def test_cli_loads_once_and_prints_logins_that_work(app, runner):
    args = ["care", "demo", "--customers", "20", "--seed", "3", "--today", TODAY.isoformat()]
    result = runner.invoke(args=args)
    assert result.exit_code == 0, result.output
    assert "loaded the demo dealership" in result.output
    assert DEMO_PASSWORD in result.output
    for user in DEMO_USERS:
        assert user.username in result.output

    again = runner.invoke(args=args)
    assert again.exit_code == 0 and "demo data already loaded" in again.output

    other = runner.invoke(args=["care", "demo", "--customers", "20", "--seed", "4"])
    assert other.exit_code == 1
    assert "already loaded" in other.output and len(other.output.strip().splitlines()) == 1

    with app.app_context():
        roles = {r for u in db.session.scalars(select(User)).all() for r in u.roles}
    assert roles == set(Role)
    for user in DEMO_USERS:
        client = app.test_client()
        response = client.post("/auth/login", data={"username": user.username, "password": DEMO_PASSWORD})
        assert response.status_code == 303, user.username


def test_the_demo_has_a_worklist_for_today_and_months_of_worked_tasks(app, runner):
    """Past generator runs, closed tasks with outcomes naming a script version, an open
    list for today, and a few tasks waiting for a corrected number."""
    from care.models import CareTask, GenerationRun, TaskOutcome

    result = runner.invoke(args=["care", "demo", "--customers", "120", "--seed", "3", "--today", "2026-11-23"])
    assert result.exit_code == 0, result.output
    with app.app_context():
        statuses = dict(db.session.execute(select(CareTask.status, func.count()).group_by(CareTask.status)).all())
        assert statuses.get("done", 0) > 50 and statuses.get("open", 0) > 10
        assert statuses.get("blocked", 0) >= 1
        assert db.session.scalar(select(func.count()).select_from(GenerationRun)) == 91
        outcomes = db.session.scalars(select(TaskOutcome)).all()
        assert outcomes and all(o.script_version_id is not None for o in outcomes)
        assert any(o.outcome == "not_reached" and not o.closes_task for o in outcomes)
        latest = max(o.recorded_at for o in outcomes)
        assert latest.date() <= date(2026, 11, 23)

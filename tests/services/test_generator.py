"""The daily care-task generator (care/services/generator.py); its thread: tests/test_scheduler.py."""

from __future__ import annotations

import random
import threading
from collections import Counter
from datetime import UTC, date, datetime, time, timedelta

import pytest
from sqlalchemy import func, select

from care.calendars import lunar_birthday_in_year
from care.domain import task_rules as rules
from care.domain.dates import local_date, to_local
from care.domain.settings import Settings
from care.extensions import db
from care.models import CareTask, Customer, GenerationRun, ImportRun, Setting
from care.services import Actor
from care.services.generator import (
    days_due,
    generate,
    generate_due,
    last_generated,
    lock_generation,
)
from care.services.settings import load_settings
from tests import factories as f
from tests.conftest import PG_URL

D = date(2026, 3, 20)  # a Friday; the dealer is in Asia/Shanghai (UTC+8)
NOW = datetime(2026, 3, 20, 0, 30, tzinfo=UTC)  # 08:30 local
TZ = "Asia/Shanghai"


def run(session, day=D, **kw):
    return generate(session, day, actor=Actor("tester"), now=NOW, **kw)


def tasks(session, task_type=None) -> list[CareTask]:
    query = select(CareTask).order_by(CareTask.id)
    if task_type:
        query = query.where(CareTask.type == task_type)
    return list(session.scalars(query))


def the_task(session, task_type) -> CareTask:
    found = tasks(session, task_type)
    assert len(found) == 1, [t.cycle_key for t in found]
    return found[0]


def local(dt: datetime) -> datetime:
    return to_local(dt, TZ).replace(tzinfo=None)


@pytest.fixture
def specialist(session):
    return f.make_user(session, "specialist", username="spec1")


def old_vehicle(session, customer=None, **kw):
    """A vehicle that no rule cares about unless told (delivered long ago, no dates)."""
    return f.make_vehicle(session, customer, delivery_date=date(2018, 5, 5), **kw)


# --- every task type on its day, with its owner --------------------------------------------


def test_first_service_opens_two_months_after_delivery(session, specialist):
    vehicle = f.make_vehicle(session, delivery_date=date(2026, 1, 15))
    # the day before it opens only R16's invitation to book is there (a week before)
    assert run(session, date(2026, 3, 14)).created == {"appointment": 1}
    result = run(session)
    task = the_task(session, "first_service")
    assert result.created == {"first_service": 1}
    assert task.vehicle_id == vehicle.id and task.customer_id == vehicle.customer_id
    assert task.status == "open" and task.opens_on == date(2026, 3, 15)
    assert local(task.due_at) == datetime(2026, 4, 15, 23, 59, 59)
    assert task.owner_rule == "round_robin" and task.assignee_id == specialist.id
    assert task.channel == "call" and task.fallback == "sms"
    assert task.reason_id == "first_service.reason"
    assert task.reason_params == {"delivered": "2026-01-15", "due": "2026-04-15"}
    assert task.generation_run_id == result.id


def test_first_service_already_done_is_purpose_met(session, specialist):
    vehicle = f.make_vehicle(session, delivery_date=date(2026, 1, 15))
    f.make_visit(session, vehicle, date=date(2026, 3, 2), kind="first_service", mileage=2100)
    result = run(session)
    assert tasks(session, "first_service") == []
    assert result.skipped["first_service"] == {"purpose_met": 1}


def test_maintenance_due_by_time(session, specialist):
    vehicle = old_vehicle(session)
    f.make_visit(session, vehicle, date=date(2025, 9, 25), kind="maintenance", mileage=None)
    assert run(session, date(2026, 3, 17)).created.get("maintenance") is None  # opens on the 18th
    run(session)
    task = the_task(session, "maintenance")
    assert task.cycle_key == f"maintenance:{vehicle.vin}:2025-09-25"
    assert task.opens_on == date(2026, 3, 18) and local(task.due_at).date() == date(2026, 3, 25)
    assert task.reason_id == "maintenance.reason_time" and task.reason_params["due"] == "2026-03-25"
    assert task.fallback == "sms"  # no e-mail address: SMS


def test_maintenance_due_by_mileage(session, specialist):
    """5,000 km after the last service at 100 km a day comes before six months."""
    vehicle = old_vehicle(session)
    f.make_visit(session, vehicle, date=date(2026, 1, 1), kind="repair", mileage=10_000)
    f.make_visit(session, vehicle, date=date(2026, 2, 1), kind="maintenance", mileage=13_100)
    # 3,100 km in 31 days = 100 km/day; 18,100 km is reached 50 days after 1 Feb: 23 March
    run(session)
    task = the_task(session, "maintenance")
    assert task.reason_id == "maintenance.reason_mileage"
    assert task.reason_params["due"] == "2026-03-23" and task.reason_params["daily_km"] == 100.0
    assert task.opens_on == date(2026, 3, 16)


def test_warranty_inspection_and_insurance(session, specialist):
    agent = f.make_user(session, "insurance", username="agent")
    vehicle = old_vehicle(session, warranty_end=date(2026, 4, 10), inspection_due=date(2026, 4, 1))
    policy = f.make_policy(session, vehicle, expiry=date(2026, 5, 1), specialist_id=agent.id)
    result = run(session)
    assert result.created == {"warranty_expiry": 1, "inspection": 1, "insurance_renewal": 1}
    warranty = the_task(session, "warranty_expiry")
    assert warranty.opens_on == date(2026, 3, 10) and warranty.assignee_id == specialist.id
    inspection = the_task(session, "inspection")
    assert inspection.opens_on == date(2026, 3, 1) and local(inspection.due_at).date() == date(2026, 4, 1)
    renewal = the_task(session, "insurance_renewal")
    assert renewal.owner_rule == "policy_specialist" and renewal.assignee_id == agent.id
    assert renewal.policy_id == policy.id and renewal.vehicle_id == vehicle.id
    assert renewal.cycle_key == f"insurance_renewal:{policy.policy_no}:2026-05-01"
    assert renewal.reason_params == {"policy_no": policy.policy_no, "expiry": "2026-05-01"}


def test_renewed_policy_is_purpose_met(session, specialist):
    vehicle = old_vehicle(session)
    f.make_policy(session, vehicle, expiry=date(2026, 5, 1))
    f.make_policy(session, vehicle, expiry=date(2027, 5, 1))  # renewed already
    result = run(session)
    assert tasks(session, "insurance_renewal") == []
    assert result.skipped["insurance_renewal"] == {"purpose_met": 1}


def test_birthday_on_the_day_only(session, specialist):
    customer = f.make_customer(session, birthday=date(1980, 3, 21))
    assert run(session).created_total == 0
    result = run(session, date(2026, 3, 21))
    task = the_task(session, "birthday")
    assert result.created == {"birthday": 1}
    assert task.customer_id == customer.id and task.vehicle_id is None
    assert task.opens_on == date(2026, 3, 21)
    assert local(task.due_at) == datetime(2026, 3, 21, 10, 30)  # work-day start + 2 h
    assert task.cycle_key == f"birthday:{customer.customer_no}:2026"
    assert run(session, date(2026, 3, 22)).created_total == 0  # closed the next day


def test_29_february_birthday_is_greeted_on_28_february(session, specialist):
    f.make_customer(session, birthday=date(1992, 2, 29))
    assert run(session, date(2027, 2, 28)).created == {"birthday": 1}


def test_lunar_birthday(session, specialist):
    # lunar 08-15 of 2026 is 25 September 2026
    solar = lunar_birthday_in_year("08-15", 2026)
    customer = f.make_customer(session, birthday=date(1980, 3, 20), birthday_lunar="08-15")
    assert run(session).created_total == 0  # the solar day does not count
    run(session, solar)
    task = the_task(session, "birthday")
    assert task.reason_id == "birthday.reason_lunar"
    assert task.reason_params == {"birthday": solar.isoformat(), "lunar": "08-15"}
    assert task.customer_id == customer.id


def test_delivery_call_goes_to_the_consultant(session, specialist):
    consultant = f.make_user(session, "consultant", username="sales1")
    vehicle = old_vehicle(session, consultant_id=consultant.id)
    delivered = datetime(2026, 3, 19, 6, 0, tzinfo=UTC)  # 14:00 local
    delivery = f.make_delivery(session, vehicle, delivered_at=delivered, consultant_id=consultant.id)
    run(session)
    task = the_task(session, "delivery_call")
    assert task.owner_rule == "consultant" and task.assignee_id == consultant.id
    assert task.delivery_id == delivery.id and task.fallback is None
    assert local(task.due_at) == datetime(2026, 3, 20, 14, 0)
    assert task.reason_params == {
        "delivered_at": "2026-03-19T14:00:00+08:00",
        "due_at": "2026-03-20T14:00:00+08:00",
    }
    assert "owner_fallback" not in task.reason_params


def test_delivery_call_of_an_inactive_consultant_falls_back_to_a_specialist(session, specialist):
    consultant = f.make_user(session, "consultant", username="gone", active=False)
    vehicle = old_vehicle(session)
    f.make_delivery(session, vehicle, delivered_at=datetime(2026, 3, 19, 6, 0, tzinfo=UTC), consultant_id=consultant.id)
    run(session)
    task = the_task(session, "delivery_call")
    assert task.assignee_id == specialist.id
    assert task.reason_params["owner_fallback"] == "owner_inactive"


def test_delivery_survey_the_day_after_the_file_arrived(session, specialist):
    vehicle = old_vehicle(session)
    arrived = datetime(2026, 3, 18, 2, 0, tzinfo=UTC)  # 10:00 local on the 18th
    file = ImportRun(kind="deliveries", filename="d.csv", actor="cli", status="done", started_at=arrived, finished_at=arrived)
    session.add(file)
    session.flush()
    f.make_delivery(session, vehicle, delivered_at=datetime(2026, 3, 16, 6, 0, tzinfo=UTC), import_run_id=file.id)
    run(session, date(2026, 3, 18))
    assert tasks(session, "delivery_survey") == []  # opens the day after the file
    run(session)
    task = the_task(session, "delivery_survey")
    assert task.opens_on == date(2026, 3, 19) and local(task.due_at).date() == date(2026, 3, 21)
    assert task.reason_params["file_arrived_on"] == "2026-03-18"


def test_no_survey_while_the_delivery_file_is_still_importing(session, specialist):
    vehicle = old_vehicle(session)
    file = ImportRun(kind="deliveries", filename="d.csv", actor="cli", status="running",
                     started_at=datetime(2026, 3, 18, 2, 0, tzinfo=UTC))  # fmt: skip
    session.add(file)
    session.flush()
    f.make_delivery(session, vehicle, delivered_at=datetime(2026, 3, 10, 6, 0, tzinfo=UTC), import_run_id=file.id)
    assert run(session).created_total == 0


def test_delivery_without_a_file_counts_as_arrived_on_its_day(session, specialist):
    vehicle = old_vehicle(session)
    f.make_delivery(session, vehicle, delivered_at=datetime(2026, 3, 18, 6, 0, tzinfo=UTC))
    run(session)
    assert the_task(session, "delivery_survey").opens_on == date(2026, 3, 19)


def test_lapsed_recall_with_its_group(session, specialist):
    customer = f.make_customer(session, city="重庆")
    vehicle = old_vehicle(session, customer, warranty_end=date(2027, 1, 1), warranty_km=100_000)
    f.make_visit(session, vehicle, date=date(2025, 11, 1), kind="repair", mileage=30_000)
    result = run(session)
    assert result.created == {"lapsed_recall": 1}
    task = the_task(session, "lapsed_recall")
    assert task.cycle_key == f"lapsed_recall:{vehicle.vin}:2026-03"
    assert task.opens_on == date(2026, 3, 1) and local(task.due_at).date() == date(2026, 3, 31)
    assert task.reason_params["group"] == "out_of_town_in_warranty"
    assert task.reason_params["last_visit"] == "2025-11-01"
    # the next day: this month's recall exists
    again = run(session, date(2026, 3, 21))
    assert again.created_total == 0 and again.skipped["lapsed_recall"] == {"already_exists": 1}
    # next month: a new cycle, and last month's recall, still open, is superseded
    assert run(session, date(2026, 4, 1)).created == {"lapsed_recall": 1}
    session.refresh(task)
    assert (task.status, task.outcome) == ("canceled", "superseded")
    current = session.scalars(
        select(CareTask).where(CareTask.type == "lapsed_recall", CareTask.status == "open")
    ).all()
    assert [t.cycle_key for t in current] == [f"lapsed_recall:{vehicle.vin}:2026-04"]


def test_a_worked_recall_is_not_superseded(session, specialist):
    vehicle = old_vehicle(session)
    f.make_visit(session, vehicle, date=date(2025, 11, 1), kind="repair", mileage=30_000)
    run(session)
    task = the_task(session, "lapsed_recall")
    task.status, task.outcome = "done", "lost"
    session.flush()
    run(session, date(2026, 4, 1))
    session.refresh(task)
    assert (task.status, task.outcome) == ("done", "lost")


def test_lapsed_group_counts_the_largest_mileage(session, specialist):
    """The summary facts of the lapsed pre-filter keep the warranty-by-mileage class."""
    vehicle = old_vehicle(session, warranty_end=date(2027, 1, 1), warranty_km=50_000, mileage=20_000)
    f.make_visit(session, vehicle, date=date(2025, 6, 1), kind="repair", mileage=60_000)
    f.make_visit(session, vehicle, date=date(2025, 11, 1), kind="repair", mileage=None)
    run(session)
    assert the_task(session, "lapsed_recall").reason_params["group"] == "local_out_of_warranty"


def test_service_callback_for_every_visit(session, specialist):
    vehicle = old_vehicle(session)
    visit = f.make_visit(session, vehicle, date=date(2026, 3, 18), kind="repair")
    f.make_visit(session, vehicle, date=date(2026, 3, 10), kind="repair")  # window closed
    run(session)
    task = the_task(session, "service_callback")
    assert task.visit_id == visit.id and task.cycle_key == f"service_callback:{visit.ro_no}"
    assert task.opens_on == date(2026, 3, 19) and local(task.due_at).date() == date(2026, 3, 21)
    assert task.reason_params == {"ro_no": visit.ro_no, "visit_date": "2026-03-18", "kind": "repair"}


# --- consent, number correction, counting -------------------------------------------------


def test_consent_and_channel_skips_are_counted(session, specialist):
    f.make_customer(session, birthday=date(1970, 3, 20), no_call=True, no_sms=True, no_email=True)
    f.make_customer(session, birthday=date(1971, 3, 20), no_call=True, no_sms=True)  # no e-mail
    sms = f.make_customer(session, birthday=date(1972, 3, 20), no_call=True)
    result = run(session)
    assert result.skipped == {"birthday": {"consent": 1, "no_channel": 1}}
    task = the_task(session, "birthday")
    assert task.customer_id == sms.id and task.channel == "sms" and task.status == "open"


def test_a_customer_without_a_number_goes_to_the_correction_queue(session, specialist):
    customer = f.make_customer(session, birthday=date(1980, 3, 20), mobile=None, phone2=None)
    other = f.make_customer(session, birthday=date(1981, 3, 20), mobile=None, phone2="+862887654321")
    run(session)
    by_customer = {t.customer_id: t for t in tasks(session, "birthday")}
    assert by_customer[customer.id].status == "blocked"
    assert by_customer[customer.id].assignee_id == specialist.id  # resumes with its owner
    assert by_customer[other.id].status == "open"


def test_idempotent_second_run_counts_already_exists(session, specialist):
    vehicle = f.make_vehicle(session, f.make_customer(session, birthday=date(1980, 3, 20)),
                             delivery_date=date(2026, 1, 15), warranty_end=date(2026, 4, 10))  # fmt: skip
    f.make_visit(session, vehicle, date=date(2026, 3, 18), kind="repair")
    first = run(session)
    assert first.created == {"first_service": 1, "warranty_expiry": 1, "birthday": 1, "service_callback": 1, "appointment": 1}
    assert first.created_total == 5 and first.skipped == {}
    second = run(session)
    assert second.created == {} and second.created_total == 0
    assert second.skipped == {t: {"already_exists": n} for t, n in first.created.items()}
    assert len(tasks(session)) == 5
    runs = session.scalars(select(GenerationRun).order_by(GenerationRun.id)).all()
    assert [r.for_date for r in runs] == [D, D] and runs[0].duration_ms is not None
    assert runs[0].actor == "tester" and runs[0].finished_at >= runs[0].started_at


def test_no_specialist_leaves_tasks_unassigned(session):
    f.make_user(session, "specialist", username="inactive", active=False)
    f.make_customer(session, birthday=date(1980, 3, 20))
    result = run(session)
    assert result.created_total == 1 and the_task(session, "birthday").assignee_id is None


def test_round_robin_balances_the_load(session):
    a = f.make_user(session, "specialist", username="a")
    b = f.make_user(session, "specialist", username="b")
    f.make_task(session, assignee=a)  # a already holds an open task
    for n in range(5):
        f.make_customer(session, birthday=date(1980 + n, 3, 20))
    run(session)
    load = Counter(t.assignee_id for t in tasks(session))
    assert load == {a.id: 3, b.id: 3}


def test_a_customers_tasks_stay_with_one_specialist(session):
    f.make_user(session, "specialist", username="a")
    f.make_user(session, "specialist", username="b")
    customer = f.make_customer(session, birthday=date(1980, 3, 20))
    vehicle = f.make_vehicle(session, customer, delivery_date=date(2026, 1, 15), inspection_due=date(2026, 4, 1))
    f.make_visit(session, vehicle, date=date(2026, 3, 18), kind="repair")
    run(session)
    assert len({t.assignee_id for t in tasks(session)}) == 1 and len(tasks(session)) == 5  # R16's too


# --- catch-up ------------------------------------------------------------------------------


def test_days_due():
    assert days_due(None, D, 31) == [D]
    assert days_due(D, D, 31) == [] and days_due(D, D, 31, again=True) == [D]
    assert days_due(D - timedelta(days=3), D, 31) == [D - timedelta(days=2), D - timedelta(days=1), D]
    assert days_due(date(2025, 1, 1), D, 3) == [D - timedelta(days=n) for n in (3, 2, 1, 0)]


def test_a_missed_day_is_caught_up(session, specialist):
    run(session, date(2026, 3, 18))
    missed = f.make_customer(session, birthday=date(1980, 3, 19))
    runs = generate_due(session, D, actor=Actor.SCHEDULER, now=NOW)
    assert [r.for_date for r in runs] == [date(2026, 3, 19), D]
    task = the_task(session, "birthday")
    assert task.customer_id == missed.id and task.opens_on == date(2026, 3, 19)
    assert generate_due(session, D, actor=Actor.SCHEDULER, now=NOW) == []  # today is done
    assert [r.for_date for r in generate_due(session, D, actor=Actor("x"), now=NOW, again=True)] == [D]


def test_catch_up_is_limited_by_the_setting(session, specialist):
    session.add(Setting(key="generation_catchup_days", value="3"))
    run(session, date(2026, 3, 1))
    too_old = f.make_customer(session, birthday=date(1980, 3, 16))
    caught = f.make_customer(session, birthday=date(1980, 3, 17))
    runs = generate_due(session, D, actor=Actor.SCHEDULER, now=NOW)
    assert [r.for_date for r in runs] == [date(2026, 3, d) for d in (17, 18, 19, 20)]
    assert [t.customer_id for t in tasks(session, "birthday")] == [caught.id]
    assert too_old.id != caught.id


def test_a_run_for_a_future_day_does_not_stop_the_daily_runs(session, specialist):
    run(session, date(2030, 1, 1))
    run(session, date(2026, 3, 19))
    assert last_generated(session, D) == date(2026, 3, 19)
    assert [r.for_date for r in generate_due(session, D, actor=Actor.SCHEDULER, now=NOW)] == [D]


def test_lock_generation_runs_on_this_database(session):
    lock_generation(session)
    lock_generation(session)  # re-entrant within one transaction


# --- the pre-filter finds exactly what the rules find on the whole fleet --------------------


def _brute_force(session, day: date, settings: Settings) -> tuple[set[str], Counter]:
    """Every rule over every fact, with the full histories (no SQL pre-filter)."""
    from care.models import Delivery, InsurancePolicy, ServiceVisit, Vehicle

    customers = {c.id: c for c in session.scalars(select(Customer))}

    def cfacts(c):
        return rules.CustomerFacts(c.customer_no, c.birthday, c.birthday_lunar, c.no_call, c.no_sms,
                                   c.no_email, bool(c.mobile or c.phone2), bool(c.email))  # fmt: skip

    keys: set[str] = set()
    skips: Counter = Counter()

    def take(kind, result):
        if isinstance(result, rules.Skip):
            if result.reason.value not in ("not_due", "window_closed", "no_data"):
                skips[(kind, result.reason.value)] += 1
        else:
            keys.add(result.cycle_key)

    for c in customers.values():
        take("birthday", rules.propose_birthday(cfacts(c), settings, day, lunar_birthday_in_year))
    vehicles = {}
    for v in session.scalars(select(Vehicle)):
        visits = session.scalars(select(ServiceVisit).where(ServiceVisit.vehicle_id == v.id).order_by(ServiceVisit.date, ServiceVisit.id)).all()
        vf = rules.VehicleFacts(v.vin, v.delivery_date, v.warranty_end, v.warranty_km, v.inspection_due, v.mileage,
                                v.consultant_id, customers[v.customer_id].city,
                                tuple(rules.VisitFacts(x.date, x.mileage, x.kind, x.ro_no) for x in visits))  # fmt: skip
        vehicles[v.id] = (v, vf)
        cf = cfacts(customers[v.customer_id])
        for kind, fn in (("first_service", rules.propose_first_service), ("maintenance", rules.propose_maintenance),
                         ("warranty_expiry", rules.propose_warranty_expiry), ("inspection", rules.propose_inspection),
                         ("lapsed_recall", rules.propose_lapsed_recall), ("appointment", rules.propose_appointment)):  # fmt: skip
            take(kind, fn(vf, cf, settings, day))
        for visit in vf.visits:
            take("service_callback", rules.propose_service_callback(visit, vf, cf, settings, day))
    for p in session.scalars(select(InsurancePolicy)):
        v, vf = vehicles[p.vehicle_id]
        renewed = session.scalar(select(func.count()).where(InsurancePolicy.vehicle_id == p.vehicle_id, InsurancePolicy.expiry > p.expiry)) > 0
        pf = rules.PolicyFacts(p.policy_no, v.vin, p.expiry, p.specialist_id, renewed)
        take("insurance_renewal", rules.propose_insurance_renewal(pf, cfacts(customers[v.customer_id]), settings, day))
    for d in session.scalars(select(Delivery)):
        run_ = session.get(ImportRun, d.import_run_id) if d.import_run_id else None
        if run_ is None:
            arrived = local_date(d.delivered_at, TZ)
        elif run_.status == "done":
            arrived = local_date(run_.finished_at or run_.started_at, TZ)
        else:
            arrived = None
        v, _ = vehicles[d.vehicle_id]
        df = rules.DeliveryFacts(v.vin, d.delivered_at, arrived, d.consultant_id or v.consultant_id)
        cf = cfacts(customers[d.customer_id])
        take("delivery_call", rules.propose_delivery_call(df, cf, settings, day))
        take("delivery_survey", rules.propose_delivery_survey(df, cf, settings, day))
    return keys, skips


def _random_fleet(session, rng: random.Random, around: date) -> None:
    f.make_user(session, "specialist")
    agent = f.make_user(session, "insurance")
    file = ImportRun(kind="deliveries", filename="d.csv", actor="cli", status="done",
                     started_at=datetime.combine(around, time(3), UTC), finished_at=datetime.combine(around, time(3), UTC))  # fmt: skip
    session.add(file)
    session.flush()

    def near(days):
        return around + timedelta(days=rng.randint(-days, days))

    for n in range(70):
        customer = f.make_customer(
            session,
            birthday=near(12).replace(year=1970 + n % 30) if rng.random() < 0.7 else None,
            birthday_lunar=rng.choice([None, None, "01-20", "02-01", "12-30"]),
            city=rng.choice(["成都", "成都市", "重庆", None]),
            no_call=rng.random() < 0.1,
            no_sms=rng.random() < 0.1,
            email=f"c{n}@example.com" if rng.random() < 0.4 else None,
            mobile=None if rng.random() < 0.1 else f"+86137{n:08d}",
        )
        vehicle = f.make_vehicle(
            session,
            customer,
            delivery_date=rng.choice([None, near(120), near(30) - timedelta(days=60), near(400)]),
            warranty_end=rng.choice([None, near(40)]),
            warranty_km=rng.choice([None, 60_000, 100_000]),
            inspection_due=rng.choice([None, near(40)]),
            mileage=rng.choice([None, rng.randint(1000, 90_000)]),
        )
        day = around - timedelta(days=rng.randint(0, 600))
        km = rng.randint(0, 20_000)
        for _ in range(rng.randint(0, 6)):
            f.make_visit(session, vehicle, date=day, mileage=rng.choice([None, km, km, km, 0]),
                         kind=rng.choice(["first_service", "maintenance", "maintenance", "repair", "warranty", "other"]))  # fmt: skip
            day += timedelta(days=rng.choice([0, 0, rng.randint(1, 150)]))  # several a day, too
            km += rng.randint(-2000, 8000)  # odometers are misread now and then
        if rng.random() < 0.5:
            expiry = near(70)
            f.make_policy(session, vehicle, expiry=expiry, specialist_id=agent.id)
            if rng.random() < 0.3:
                f.make_policy(session, vehicle, expiry=expiry + timedelta(days=365))
        if rng.random() < 0.4:
            delivered = datetime.combine(near(5), time(rng.randint(0, 23)), UTC)
            f.make_delivery(session, vehicle, delivered_at=delivered,
                            import_run_id=file.id if rng.random() < 0.5 else None)  # fmt: skip


def test_generator_finds_what_the_rules_find_on_the_whole_fleet(session):
    """The SQL pre-filter and the history facts leave nothing out and add nothing, across
    a month boundary (R9) and every rule's window edges."""
    around = date(2026, 3, 1)
    _random_fleet(session, random.Random(20260301), around)
    odd = f.make_vehicle(session, delivery_date=date(2025, 12, 20))  # a mileage beyond the keys
    f.make_visit(session, odd, date=date(2026, 2, 20), kind="first_service", mileage=123_456_789)
    f.make_visit(session, odd, date=date(2025, 11, 20), kind="repair", mileage=-5)
    session.commit()
    settings = load_settings(session)
    checked = Counter()
    for offset in range(-12, 13):
        day = around + timedelta(days=offset)
        expected_keys, expected_skips = _brute_force(session, day, settings)
        result = generate(session, day, actor=Actor("tester"), now=NOW)
        created = set(session.scalars(select(CareTask.cycle_key)))
        assert created == expected_keys, day
        counted = Counter({(t, r): n for t, reasons in (result.skipped or {}).items() for r, n in reasons.items()})
        assert counted == expected_skips, day
        checked.update(k.split(":")[0] for k in created)
        session.rollback()
    assert set(checked) >= {"first_service", "maintenance", "warranty_expiry", "inspection", "insurance_renewal",
                            "birthday", "delivery_call", "delivery_survey", "lapsed_recall", "service_callback",
                            "appointment"}  # fmt: skip


# --- concurrency -----------------------------------------------------------------------------


def _in_threads(app, target, n=2):
    barrier = threading.Barrier(n)
    results, errors = [], []

    def work():
        with app.app_context():
            try:
                barrier.wait(10)
                results.append(target(db.session))
                db.session.commit()
            except Exception as exc:  # pragma: no cover - reported below
                errors.append(exc)
                db.session.rollback()
            finally:
                db.session.remove()

    threads = [threading.Thread(target=work) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors
    return results


def _seed_for_concurrency(app):
    with app.app_context():
        f.make_user(db.session, "specialist")
        for n in range(20):
            customer = f.make_customer(db.session, birthday=date(1980, 3, 20))
            f.make_vehicle(db.session, customer, delivery_date=date(2026, 1, 10 + n % 10))
        db.session.commit()


@pytest.mark.skipif(not PG_URL, reason="two concurrent writers: PostgreSQL (SQLite serializes them)")
def test_two_concurrent_runs_create_each_task_once(app):
    _seed_for_concurrency(app)
    runs = _in_threads(app, lambda s: generate(s, D, actor=Actor("t"), now=NOW).created_total)
    with app.app_context():
        total = db.session.scalar(select(func.count()).select_from(CareTask))
        keys = db.session.scalar(select(func.count(func.distinct(CareTask.cycle_key))))
    assert total == keys == 60 and sum(runs) == 60  # birthdays, first services and R16's invitations


def test_two_schedulers_generate_a_day_once(app):
    _seed_for_concurrency(app)
    with app.app_context():
        generate(db.session, D - timedelta(days=2), actor=Actor.SCHEDULER, now=NOW)
        db.session.commit()
    _in_threads(app, lambda s: [r.for_date for r in generate_due(s, D, actor=Actor.SCHEDULER, now=NOW)])
    with app.app_context():
        days = db.session.scalars(select(GenerationRun.for_date).order_by(GenerationRun.for_date)).all()
        assert days == [D - timedelta(days=2), D - timedelta(days=1), D]
        assert db.session.scalar(select(func.count()).select_from(CareTask)) == 60

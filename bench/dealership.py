"""A synthetic dealership for benchmarks: customers, vehicles, visits, policies, deliveries.

    from bench.dealership import build
    counts = build(session, vehicles=120_000, customers=100_000, visits=600_000, today=…)

Fast and plain (not the demo of care/demo/, which aims at realism for people):
rows are made from one seeded `random.Random` and written with Core bulk inserts in
chunks. The shape matters, not the names: deliveries spread over eight years, a visit
every four to eight months until the vehicle lapses (about four in ten stop coming at
some point), yearly policies for six vehicles in ten, birthdays (one customer in ten
with a lunar one), a few customers without a phone or with a no-call flag, and the last
days' deliveries arriving with a delivery file (an ImportRun), so that every rule R1–R10
has work on any day.
"""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import insert
from sqlalchemy.orm import Session

from care.domain.vin import with_check_digit
from care.models import (
    Customer,
    Delivery,
    ImportRun,
    InsurancePolicy,
    ServiceVisit,
    User,
    UserRole,
    Vehicle,
)

CHUNK = 10_000
CITIES = ("成都", "成都", "成都", "成都", "绵阳", "德阳", "重庆", None)
KINDS = ("maintenance",) * 14 + ("repair",) * 4 + ("warranty", "other")
# the care tasks of the history the report and pages benchmarks build on this dealership
TYPES = (  # (task type, share of the tasks)
    ("maintenance", 34), ("first_service", 10), ("insurance_renewal", 15), ("birthday", 10),
    ("warranty_expiry", 5), ("inspection", 5), ("service_callback", 10), ("delivery_call", 3),
    ("delivery_survey", 3), ("lapsed_recall", 5),
)  # fmt: skip
SLOT_HOURS = (1, 2, 6, 7, 11, 12)  # UTC hours inside the morning, afternoon and evening slots (UTC+8)
PASSWORD = "bench-Passw0rd!"  # the benchmark users' log-in


def _insert(session: Session, model, rows: list[dict]) -> None:
    for start in range(0, len(rows), CHUNK):
        session.execute(insert(model), rows[start : start + CHUNK])


def _anniversary_after(day: date, after: date) -> date:
    """The first anniversary of ``day`` on or after ``after`` (29 Feb → 28 Feb)."""
    for year in (after.year, after.year + 1):
        try:
            candidate = day.replace(year=year)
        except ValueError:
            candidate = date(year, 2, 28)
        if candidate >= after:
            return candidate
    raise AssertionError("unreachable")


def build(
    session: Session,
    *,
    vehicles: int = 120_000,
    customers: int | None = None,
    visits: int | None = None,
    today: date,
    seed: int = 7,
) -> dict[str, int]:
    """Fill an empty schema; returns the row counts. ``visits`` is a target: the visit
    rhythm is scaled so that the total lands near it."""
    customers = customers or max(1, round(vehicles / 1.2))
    visits = visits or vehicles * 5
    rng = random.Random(seed)
    now = datetime.now(UTC)
    counts: dict[str, int] = {}

    # users: specialists, insurance specialists, consultants
    users, roles = [], []
    names = [("specialist", 10), ("insurance", 4), ("consultant", 20), ("care_manager", 1)]
    uid = 0
    by_role: dict[str, list[int]] = {}
    for role, n in names:
        for i in range(n):
            uid += 1
            users.append({"id": uid, "username": f"{role}{i + 1}", "display_name": f"{role} {i + 1}",
                          "password_hash": "x", "active": True, "created_at": now})  # fmt: skip
            roles.append({"user_id": uid, "role": role})
            by_role.setdefault(role, []).append(uid)
    _insert(session, User, users)
    _insert(session, UserRole, roles)
    counts["users"] = len(users)

    # customers
    rows = []
    for i in range(1, customers + 1):
        phone = rng.random()
        birthday = date(1950, 1, 1) + timedelta(days=rng.randrange(365 * 50)) if rng.random() < 0.9 else None
        rows.append(
            {
                "id": i,
                "customer_no": f"C{i:07d}",
                "name": f"客户{i}",
                "mobile": f"+86138{i:08d}" if phone < 0.96 else None,
                "phone2": f"+86139{i:08d}" if 0.96 <= phone < 0.98 else None,
                "email": f"c{i}@example.com" if rng.random() < 0.4 else None,
                "birthday": birthday,
                "birthday_lunar": f"{rng.randint(1, 12):02d}-{rng.randint(1, 29):02d}" if birthday and rng.random() < 0.1 else None,
                "city": rng.choice(CITIES),
                "customer_class": "existing",
                "no_call": rng.random() < 0.02,
                "no_sms": rng.random() < 0.02,
                "no_email": rng.random() < 0.05,
                "created_at": now,
                "updated_at": now,
            }
        )
    _insert(session, Customer, rows)
    counts["customers"] = len(rows)

    # vehicles: one per customer first, the rest to random customers
    span_days = 8 * 365
    vrows, plans = [], []
    for i in range(1, vehicles + 1):
        customer_id = i if i <= customers else rng.randint(1, customers)
        delivered = today - timedelta(days=rng.randrange(span_days))
        daily_km = rng.uniform(15, 90)
        lapses_on = today if rng.random() < 0.6 else delivered + timedelta(days=rng.randrange(max(1, (today - delivered).days)))
        vrows.append(
            {
                "id": i,
                "vin": with_check_digit(f"LSVBENCH0{i:08d}"),
                "customer_id": customer_id,
                "plate": f"川A{i:05d}"[:16],
                "model": "Sagitar 1.4T",
                "delivery_date": delivered,
                "consultant_id": rng.choice(by_role["consultant"]),
                "warranty_end": delivered + timedelta(days=3 * 365),
                "warranty_km": 100_000,
                "inspection_due": _anniversary_after(delivered, today - timedelta(days=20)),
                "mileage": round(daily_km * (today - delivered).days),
                "created_at": now,
                "updated_at": now,
            }
        )
        plans.append((i, delivered, daily_km, lapses_on))
    _insert(session, Vehicle, vrows)
    counts["vehicles"] = len(vrows)

    # visits: first service ~3 months after delivery, then every `gap` days until lapsing
    possible = sum(max(0, (lapses - delivered).days) for _, delivered, _, lapses in plans)
    mean_gap = max(30.0, possible / max(1, visits))
    srows = []
    ro = 0
    for vehicle_id, delivered, daily_km, lapses_on in plans:
        day = delivered + timedelta(days=rng.randint(60, 100))
        first = True
        while day <= lapses_on and day <= today:
            ro += 1
            kind = "first_service" if first else rng.choice(KINDS)
            first = False
            km = round(daily_km * (day - delivered).days * rng.uniform(0.95, 1.05))
            srows.append({"ro_no": f"RO{ro:09d}", "vehicle_id": vehicle_id, "date": day, "mileage": km,
                          "kind": kind, "created_at": now, "updated_at": now})  # fmt: skip
            day += timedelta(days=max(20, round(rng.gauss(mean_gap, mean_gap / 4))))
    _insert(session, ServiceVisit, srows)
    counts["visits"] = len(srows)

    # policies: the current year's and last year's, for six vehicles in ten
    prows = []
    n = 0
    for vehicle_id, delivered, _, _ in plans:
        if rng.random() >= 0.6:
            continue
        expiry = _anniversary_after(delivered, today - timedelta(days=10))
        for back in (1, 0):
            n += 1
            prows.append({"policy_no": f"P{n:09d}", "vehicle_id": vehicle_id, "insurer": "PICC",
                          "expiry": expiry.replace(year=expiry.year - back) if not (expiry.month == 2 and expiry.day == 29) else expiry - timedelta(days=365 * back),
                          "specialist_id": rng.choice(by_role["insurance"]), "created_at": now, "updated_at": now})  # fmt: skip
    _insert(session, InsurancePolicy, prows)
    counts["policies"] = len(prows)

    # deliveries: every vehicle; the last week's came with the daily delivery file
    arrived = datetime(today.year, today.month, today.day, 1, tzinfo=UTC) - timedelta(days=1)
    run = ImportRun(kind="deliveries", filename="deliveries.csv", status="done", actor="bench",
                    started_at=arrived, finished_at=arrived)  # fmt: skip
    session.add(run)
    session.flush()
    recent = today - timedelta(days=7)
    drows = []
    for vehicle_id, delivered, _, _ in plans:
        hour = rng.randint(1, 10)  # 09:00–18:00 local is 01:00–10:00 UTC
        at = datetime(delivered.year, delivered.month, delivered.day, hour, tzinfo=UTC)
        drows.append({"vehicle_id": vehicle_id, "customer_id": vrows[vehicle_id - 1]["customer_id"],
                      "consultant_id": vrows[vehicle_id - 1]["consultant_id"], "delivered_at": at,
                      "import_run_id": run.id if delivered >= recent else None,
                      "created_at": now, "updated_at": now})  # fmt: skip
    _insert(session, Delivery, drows)
    counts["deliveries"] = len(drows)
    session.flush()
    return counts

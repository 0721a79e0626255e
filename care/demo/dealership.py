"""The steps that load the dealership itself: its staff, customers, vehicles,
deliveries, service visits and insurance policies, over the past five years.

Rows are inserted in bulk (``session.execute(insert(Model), rows)``); each step draws
from its own random stream (``ctx.rng(step)``).
"""

from __future__ import annotations

import math
import random
from bisect import bisect
from collections.abc import Callable
from datetime import date, timedelta
from decimal import Decimal
from itertools import accumulate

from sqlalchemy import insert, select

from care.demo.catalogue import (
    CITIES,
    COLOURS,
    COMPANY_CORES,
    COMPANY_KINDS,
    DEALER_NAME,
    DEMO_PASSWORD,
    DEMO_USERS,
    EMAIL_DOMAINS,
    FAR,
    FIRST_EXTENSION,
    GENERIC_ROADS,
    GIVEN_FEMALE,
    GIVEN_MALE,
    INSURERS,
    LOCAL_SHARE,
    MOBILE_PREFIXES,
    MODELS,
    NEARBY,
    NEARBY_SHARE,
    NOTES,
    PLANTS,
    PLATE_LETTERS,
    PLATE_PATTERNS,
    SURNAMES,
    WARRANTY_KM,
    WARRANTY_YEARS,
    WMI,
    YEAR_CODES,
    City,
)
from care.demo.context import CustomerPlan, DemoContext, VehiclePlan
from care.domain.vin import with_check_digit
from care.models import (
    Customer,
    Delivery,
    InsurancePolicy,
    ServiceVisit,
    Vehicle,
)
from care.phones import PhoneError, normalize_phone
from care.services.settings import set_settings, stored_texts
from care.services.users import create_user

CONSENT_SOURCE = "demo"
HISTORY_YEARS = 5


# --- helpers ---------------------------------------------------------------------------


class Weighted:
    """Fast weighted choice from ((value, weight), …)."""

    def __init__(self, pairs):
        pairs = list(pairs)
        self.values = [v for v, _ in pairs]
        self.cum = list(accumulate(w for _, w in pairs))

    def pick(self, rng: random.Random):
        return self.values[bisect(self.cum, rng.random() * self.cum[-1])]


_SURNAMES = Weighted(SURNAMES)
_MOBILES = Weighted(MOBILE_PREFIXES)
_COLOURS = Weighted(COLOURS)
_PLATES = Weighted(PLATE_PATTERNS)
_INSURERS = Weighted(((name, code), w) for name, code, w in INSURERS)


def add_years(d: date, years: int) -> date:
    """Same day `years` later; 29 February → 28 February in a common year."""
    try:
        return d.replace(year=d.year + years)
    except ValueError:
        return d.replace(year=d.year + years, day=28)


def _lunar_birthday(birthday: date) -> str | None:
    from lunardate import LunarDate

    convert = getattr(LunarDate, "from_solar_date", None) or LunarDate.fromSolarDate
    try:
        lunar = convert(birthday.year, birthday.month, birthday.day)
    except ValueError:
        return None
    return f"{lunar.month:02d}-{lunar.day:02d}"


# --- steps -----------------------------------------------------------------------------


def name_the_dealer(ctx: DemoContext) -> None:
    """The dealership's name (the `dealer_name` setting), unless someone set one: what the
    scripts, messages and pages call the demo store (成都锦泰一汽-大众4S店)."""
    if "dealer_name" in stored_texts(ctx.session):
        return
    city = ctx.dealer_city.strip().removesuffix("市")
    set_settings(ctx.session, {"dealer_name": DEALER_NAME.format(city=city)}, actor=ctx.actor, now=ctx.now)


def add_users(ctx: DemoContext) -> None:
    for n, spec in enumerate(DEMO_USERS):
        user = create_user(
            ctx.session,
            spec.username,
            roles=list(spec.roles),
            password=DEMO_PASSWORD,
            password_rules=False,  # the published demo password is below the rules
            extension=str(FIRST_EXTENSION + n),
            display_name=spec.display_name,
            actor=ctx.actor,
            now=ctx.now,
        )
        ctx.users[spec.username] = user.id
    ctx.counts["users"] = len(DEMO_USERS)


class _Unique:
    """Draw values until one is new."""

    def __init__(self):
        self.seen: set[str] = set()

    def draw(self, make: Callable[[], str | None], tries: int = 50) -> str | None:
        for _ in range(tries):
            value = make()
            if value is not None and value not in self.seen:
                self.seen.add(value)
                return value
        return None


def add_customers(ctx: DemoContext) -> None:
    rng = ctx.rng("customers")
    today = ctx.today
    span = HISTORY_YEARS * 365
    local = ctx.dealer_city
    nearby = [c for c in NEARBY if c != local]
    far = [c for c in FAR if c != local]
    mobiles, emails = _Unique(), _Unique()

    def mobile() -> str | None:
        raw = _MOBILES.pick(rng) + f"{rng.randrange(10**8):08d}"
        try:
            return normalize_phone(raw)
        except PhoneError:
            return None

    def landline(city: City) -> str | None:
        first = "86"[rng.randrange(2)] if city.area_code == "028" else str(rng.randint(2, 8))
        rest = "".join(str(rng.randrange(10)) for _ in range(city.landline_digits - 1))
        try:
            return normalize_phone(f"{city.area_code}-{first}{rest}")
        except PhoneError:
            return None

    # Guarantee a few recent deliveries and open first-service windows even when small.
    recent_quota = max(3, ctx.size // 300)
    window_quota = max(5, ctx.size // 150)
    birthday_quota = max(2, ctx.size // 400)
    plans: list[CustomerPlan] = []
    rows: list[dict] = []
    owners = 0
    for i in range(ctx.size):
        r = rng.random()
        klass = "potential" if r < 0.05 else "existing" if r < 0.87 else "vip" if r < 0.97 else "key"
        company = klass == "key"
        r = rng.random()
        city = local if r < LOCAL_SHARE else rng.choice(nearby) if r < LOCAL_SHARE + NEARBY_SHARE else rng.choice(far)
        if klass == "potential":
            n_vehicles = 0
            since = today - timedelta(days=rng.randint(1, 365))
        else:
            if klass == "key":
                n_vehicles = rng.randint(2, 5)
            elif klass == "vip":
                n_vehicles = 1 if rng.random() < 0.5 else 2 if rng.random() < 0.8 else 3
            else:
                n_vehicles = 1 if rng.random() < 0.8 else 2 if rng.random() < 0.85 else 3
            if owners < recent_quota:
                days = rng.randint(1, 7)
            elif owners < recent_quota + window_quota:
                days = rng.randint(62, 88)
            else:
                days = rng.randint(1, span)
            owners += 1
            since = today - timedelta(days=days)
        plans.append(CustomerPlan(i, since, klass, company, city, n_vehicles))

        place = ctx.city(city)
        if company:
            name = f"{'四川' if city in NEARBY else city}{rng.choice(COMPANY_CORES)}{rng.choice(COMPANY_KINDS)}有限公司"
        else:
            chars = GIVEN_MALE if rng.random() < 0.62 else GIVEN_FEMALE
            given = rng.choice(chars) if rng.random() < 0.4 else "".join(rng.sample(chars, 2))
            name = _SURNAMES.pick(rng) + given
        phone2 = None
        if company or rng.random() < 0.15:
            phone2 = landline(place) if company or rng.random() < 0.5 else mobiles.draw(mobile)
        email = None
        if rng.random() < (0.7 if company else 0.4):
            local_part = "office" if company else "u"
            email = emails.draw(lambda lp=local_part: f"{lp}{rng.randint(10000, 99999)}@{rng.choice(EMAIL_DOMAINS)}")
        birthday = lunar = None
        if not company and rng.random() < 0.95:
            year = today.year - rng.randint(22, 68)
            if i < birthday_quota:  # someone to greet today
                birthday = add_years(today, year - today.year)
            elif rng.random() < 0.01:  # born on 29 February
                while year % 4:
                    year -= 1
                birthday = date(year, 2, 29)
            else:
                birthday = date(year, 1, 1) + timedelta(days=rng.randrange(365))
            if rng.random() < 0.10:
                lunar = _lunar_birthday(birthday)
        district = rng.choice(place.districts)
        road = rng.choice(place.roads or GENERIC_ROADS)
        address = f"{city}市{district}{road}{rng.randint(1, 399)}号"
        if not company:
            address += f"{rng.randint(1, 18)}栋{rng.randint(1, 4)}单元{rng.randint(2, 32)}{rng.randint(1, 6):02d}"
        row = {
            "name": name,
            "mobile": mobiles.draw(mobile),
            "phone2": phone2,
            "email": email,
            "birthday": birthday,
            "birthday_lunar": lunar,
            "city": city,
            "address": address,
            "customer_class": klass,
            "notes": rng.choice(NOTES) if rng.random() < 0.06 else None,
            "created_at": ctx.now,
            "updated_at": ctx.now,
        }
        for flag, share in (("no_call", 0.02), ("no_sms", 0.03), ("no_email", 0.04)):
            refused = rng.random() < share
            at = None
            if refused:
                day = since + timedelta(days=rng.randint(0, max(0, (today - since).days)))
                at = ctx.local_utc(day, rng.randint(9, 17), rng.randrange(0, 60, 5))
            row[flag] = refused
            row[f"{flag}_by"] = CONSENT_SOURCE if refused else None
            row[f"{flag}_at"] = at
        rows.append(row)

    # Customer numbers in order of arrival: C<year><number in that year>.
    order = sorted(range(len(plans)), key=lambda k: (plans[k].since, k))
    per_year: dict[int, int] = {}
    for k in order:
        year = plans[k].since.year
        per_year[year] = per_year.get(year, 0) + 1
        plans[k].customer_no = f"C{year}{per_year[year]:05d}"
        rows[k]["customer_no"] = plans[k].customer_no
    ctx.session.execute(insert(Customer), [rows[k] for k in order])
    ids = dict(ctx.session.execute(select(Customer.customer_no, Customer.id)).all())
    for plan in plans:
        plan.id = ids[plan.customer_no]
    ctx.customers = [plans[k] for k in order]
    ctx.counts["customers"] = len(plans)


def _plate(rng: random.Random, prefix: str, energy: str) -> str:
    if energy:  # new-energy plate: D/F, a letter or digit, four digits
        second = rng.choice(PLATE_LETTERS[:8]) if rng.random() < 0.3 else str(rng.randrange(10))
        return f"{prefix}{energy}{second}{rng.randrange(10000):04d}"
    pattern = _PLATES.pick(rng)
    return prefix + "".join(rng.choice(PLATE_LETTERS) if c == "L" else str(rng.randrange(10)) for c in pattern)


def _inspection_due(delivery: date, today: date) -> date:
    """Private cars: exemption sticker at 2 and 4 years, first on-site inspection at 6,
    then every 2 years (every year after 10): the next of these at or after today."""
    years = 2
    while add_years(delivery, years) < today:
        years += 2 if years < 10 else 1
    return add_years(delivery, years)


def add_vehicles(ctx: DemoContext) -> None:
    rng = ctx.rng("vehicles")
    today = ctx.today
    consultants = ctx.usernames("consultant")
    vins, plates = _Unique(), _Unique()
    models_by_year: dict[int, Weighted] = {}
    plans: list[VehiclePlan] = []
    for customer in ctx.customers:
        deliveries = []
        for n in range(customer.vehicles):
            if n == 0:
                day = customer.since
            elif customer.company:  # a fleet: bought in a batch
                day = customer.since + timedelta(days=rng.randint(0, 45))
            else:  # a second car for the family, at least four months later
                owned = (today - customer.since).days
                day = customer.since + timedelta(days=rng.randint(120, max(120, owned - 1)))
            if day < today:
                deliveries.append(day)
        for day in deliveries:
            model_year = day.year + (1 if day.month >= 10 and rng.random() < 0.5 else 0)
            if model_year not in models_by_year:
                models_by_year[model_year] = Weighted((m, m.weight) for m in MODELS if m.since <= model_year)
            model = models_by_year[model_year].pick(rng)

            def vin(model=model, model_year=model_year) -> str:
                body = f"{WMI}{model.vds}0{YEAR_CODES[(model_year - 2010) % 30]}{rng.choice(PLANTS)}{rng.randrange(100000, 1000000)}"
                return with_check_digit(body)

            place = CITIES.get(customer.city)
            prefix = place.plate if place and place.plate.startswith("川") else ctx.city(ctx.dealer_city).plate
            daily = rng.triangular(25, 65, 40)
            plans.append(
                VehiclePlan(
                    customer=customer,
                    vin=vins.draw(vin),
                    delivery=day,
                    model=model,
                    consultant=rng.choice(consultants),
                    daily_km=daily,
                    base_km=rng.randint(5, 30),
                    swing_km=daily * rng.uniform(5, 15),
                    phase=rng.uniform(0, 2 * math.pi),
                )
            )
            plans[-1].plate = plates.draw(lambda p=prefix, e=model.energy: _plate(rng, p, e))
            plans[-1].colour = _COLOURS.pick(rng)
    plans.sort(key=lambda v: (v.delivery, v.vin))
    rows = [
        {
            "vin": v.vin,
            "customer_id": v.customer.id,
            "plate": v.plate,
            "model": v.model.name,
            "color": v.colour,
            "delivery_date": v.delivery,
            "consultant_id": ctx.users[v.consultant],
            "warranty_end": add_years(v.delivery, WARRANTY_YEARS),
            "warranty_km": WARRANTY_KM,
            "inspection_due": _inspection_due(v.delivery, today),
            "mileage": v.odometer(today),
            "created_at": ctx.now,
            "updated_at": ctx.now,
        }
        for v in plans
    ]
    ctx.session.execute(insert(Vehicle), rows)
    ids = dict(ctx.session.execute(select(Vehicle.vin, Vehicle.id)).all())
    for v in plans:
        v.id = ids[v.vin]
    ctx.vehicles = plans
    ctx.counts["vehicles"] = len(plans)


def add_deliveries(ctx: DemoContext) -> None:
    rng = ctx.rng("deliveries")
    rows = []
    for v in ctx.vehicles:
        hour = rng.choice((10, 11, 14, 15, 15, 16, 16, 17, 18))
        rows.append(
            {
                "vehicle_id": v.id,
                "customer_id": v.customer.id,
                "consultant_id": ctx.users[v.consultant],
                "delivered_at": ctx.local_utc(v.delivery, hour, rng.randrange(0, 60, 5)),
                "created_at": ctx.now,
                "updated_at": ctx.now,
            }
        )
    ctx.session.execute(insert(Delivery), rows)
    ctx.counts["deliveries"] = len(rows)


def _money(rng: random.Random, low: int, high: int, mode: int | None = None) -> Decimal:
    """A price in CNY between low and high (most often near `mode`), in ten-yuan steps."""
    value = rng.triangular(low, high, mode if mode is not None else (low + high) / 2)
    return Decimal(round(value / 10) * 10).quantize(Decimal("0.01"))


def _visit_days(rng: random.Random, v: VehiclePlan, today: date) -> list[tuple[date, str, Decimal]]:
    """A vehicle's repair orders: (day, kind, amount), by date, one a day at most."""
    # How this owner behaves: serviced here throughout, lapsed 90–360 days ago, lost for
    # more than a year, came back after a gap, or never came (serviced elsewhere).
    r = rng.random()
    profile = "elsewhere" if r < 0.08 else "lost" if r < 0.18 else "lapsed" if r < 0.36 else "gap" if r < 0.41 else "loyal"
    if profile == "elsewhere":
        return []
    visits: list[tuple[date, str, Decimal]] = []
    warranty_end = add_years(v.delivery, WARRANTY_YEARS)

    def extras(start: date, end: date) -> None:
        """Unplanned work between two services."""
        span = (end - start).days
        if span < 3:
            return
        for kind, share in (("repair", 0.12), ("warranty", 0.07), ("other", 0.05)):
            if rng.random() >= share:
                continue
            day = start + timedelta(days=rng.randint(1, span - 1))
            if day >= today:
                continue
            if kind == "warranty" and (day > warranty_end or v.odometer(day) > WARRANTY_KM):
                kind = "repair"
            low, high, mode = {"repair": (800, 12000, 1500), "warranty": (300, 6000, 1200), "other": (200, 3000, 600)}[kind]
            visits.append((day, kind, _money(rng, low, high, mode)))

    day = v.delivery + timedelta(days=rng.randint(50, 95))
    number = 0
    while day < today:
        if number == 0:
            visits.append((day, "first_service", Decimal("0.00")))  # the first service is free
        else:
            big = number % 2 == 0
            visits.append((day, "maintenance", _money(rng, 1000, 1500) if big else _money(rng, 400, 800)))
        number += 1
        km_interval = rng.randint(5000, 10000)
        interval = min(rng.randint(165, 195), round(km_interval / v.daily_km)) + rng.randint(-5, 20)
        nxt = day + timedelta(days=max(interval, 60))
        extras(day, min(nxt, today))
        day = nxt
    visits.sort(key=lambda x: x[0])

    if profile == "lapsed":
        candidates = [k for k, (d, _, _) in enumerate(visits) if 90 <= (today - d).days <= 360]
        if candidates:
            visits = visits[: rng.choice(candidates) + 1]
    elif profile == "lost":
        candidates = [k for k, (d, _, _) in enumerate(visits) if (today - d).days > 365]
        if candidates:
            visits = visits[: rng.choice(candidates) + 1]
    elif profile == "gap" and len(visits) > 4:
        k = rng.randint(1, len(visits) - 3)
        visits = visits[:k] + visits[k + 2 :]

    unique: dict[date, tuple[date, str, Decimal]] = {}
    for visit in visits:
        unique.setdefault(visit[0], visit)
    return list(unique.values())


def add_visits(ctx: DemoContext) -> None:
    rng = ctx.rng("visits")
    planned = []
    for n, v in enumerate(ctx.vehicles):
        for day, kind, amount in _visit_days(rng, v, ctx.today):
            planned.append((day, n, kind, amount))
    planned.sort(key=lambda p: (p[0], p[1]))
    rows = []
    per_day: dict[date, int] = {}
    for day, n, kind, amount in planned:
        per_day[day] = per_day.get(day, 0) + 1
        v = ctx.vehicles[n]
        rows.append(
            {
                "ro_no": f"RO{day:%Y%m%d}{per_day[day]:04d}",
                "vehicle_id": v.id,
                "date": day,
                "mileage": v.odometer(day),
                "kind": kind,
                "amount": amount,
                "created_at": ctx.now,
                "updated_at": ctx.now,
            }
        )
    if rows:
        ctx.session.execute(insert(ServiceVisit), rows)
    ctx.counts["visits"] = len(rows)


def add_policies(ctx: DemoContext) -> None:
    """One policy a year bought through the dealer: with the car, then renewals (most
    owners renew here; some go elsewhere and a few come back). Policies run one year,
    expiring the day before the anniversary."""
    rng = ctx.rng("policies")
    specialists = ctx.usernames("insurance")
    planned = []
    for v in ctx.vehicles:
        specialist = rng.choice(specialists)
        insurer = _INSURERS.pick(rng)
        here = rng.random() < 0.95
        year = 0
        while (start := add_years(v.delivery, year)) <= ctx.today:
            if year:
                here = rng.random() < (0.78 if here else 0.1)
                if rng.random() < 0.2:
                    insurer = _INSURERS.pick(rng)
                if rng.random() < 0.1:
                    specialist = rng.choice(specialists)
            if here:
                expiry = add_years(v.delivery, year + 1) - timedelta(days=1)
                planned.append((start, v.id, insurer, expiry, specialist))
            year += 1
    planned.sort(key=lambda p: (p[0], p[1]))
    rows = []
    for serial, (start, vehicle_id, (insurer, code), expiry, specialist) in enumerate(planned, 1):
        rows.append(
            {
                "policy_no": f"{code}{start.year}{serial:010d}",
                "vehicle_id": vehicle_id,
                "insurer": insurer,
                "expiry": expiry,
                "specialist_id": ctx.users[specialist],
                "created_at": ctx.now,
                "updated_at": ctx.now,
            }
        )
    if rows:
        ctx.session.execute(insert(InsurancePolicy), rows)
    ctx.counts["policies"] = len(rows)

"""`care demo`: a believable FAW-Volkswagen 4S store around the `dealer_city` setting.

The data set depends only on (seed, number of customers, `today`, the dealer settings):

- every random draw comes from a `random.Random` seeded with the seed *and the step's
  name* (`DemoContext.rng(step)`), so a step added later (past tasks, calls, surveys …)
  draws from its own stream and leaves the data of the earlier steps unchanged;
- every date is derived from the `today` anchor (default: today in the dealer's time
  zone), so the demo stays current: deliveries up to the last few days, first-service
  windows open today, policies expiring within the next two months, lapsed vehicles.

What was loaded is recorded in one audit-log row (action `demo.load`, object `demo`,
detail `{"seed", "customers", "today", "version", "counts"}`), written in the same
transaction as the data. A second run with the same seed and size finds it and changes
nothing; a different seed or size on a database that holds demo data is refused, and so
is a database that already holds customers that did not come from the demo (the demo
never mixes with real data).

History there is today (the tables that exist): deliveries over the past five years,
service visits (first services, maintenance, repairs, warranty claims) along each
vehicle's odometer, and the yearly insurance policies held through the dealer. Later
issues add steps to `STEPS` for care tasks, calls and surveys of the past months.

Not a use case of the desk but a tool, so a package of its own, which loads through the
models and services like any other caller: ``catalogue`` (what the dealership is made
of), ``context`` (the plan the steps share), ``dealership`` (staff, customers, cars and
their history), ``history`` (the past months' care tasks), and here the steps in order
and :func:`load_demo`. Rows are inserted in bulk; ``load_demo`` flushes and never
commits: the `care demo` command commits once.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from zoneinfo import ZoneInfo

from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from care.demo.call_habits import add_call_habits
from care.demo.campaigns import add_campaigns
from care.demo.catalogue import DEMO_PASSWORD, DEMO_USERS, DemoUser
from care.demo.complaints import add_complaints
from care.demo.context import DemoContext
from care.demo.dealership import (
    add_customers,
    add_deliveries,
    add_policies,
    add_users,
    add_vehicles,
    add_visits,
    name_the_dealer,
)
from care.demo.history import add_task_history
from care.demo.phone_surveys import add_phone_surveys
from care.demo.proactive import add_proactive_bookings
from care.demo.register import add_register
from care.demo.report import add_monthly_reports
from care.demo.supervision import add_insurance_sample
from care.demo.surveys import add_survey_responses
from care.demo.violations import add_violations
from care.extensions import db
from care.models import AuditLog, Customer, User
from care.services import Actor, ServiceError, audit
from care.services.settings import load_settings

MARKER_ACTION = "demo.load"
FORMAT_VERSION = 1
DEFAULT_SEED = 42
DEFAULT_CUSTOMERS = 300


@dataclass
class DemoResult:
    already_loaded: bool
    seed: int
    customers: int
    today: date
    counts: dict[str, int]
    logins: tuple[DemoUser, ...] = DEMO_USERS
    password: str = DEMO_PASSWORD


# The steps in order. A later issue adds its own at the end (e.g. ("tasks", add_tasks) for
# the past months' care tasks, then calls and surveys); each draws from ctx.rng(name).
Step = Callable[[DemoContext], None]
STEPS: list[tuple[str, Step]] = [
    ("dealer", name_the_dealer),
    ("users", add_users),
    ("customers", add_customers),
    ("vehicles", add_vehicles),
    ("deliveries", add_deliveries),
    ("visits", add_visits),
    ("policies", add_policies),
    ("task_history", add_task_history),
    ("insurance_sample", add_insurance_sample),
    ("surveys", add_survey_responses),
    ("complaints", add_complaints),
    ("phone_surveys", add_phone_surveys),
    ("call_habits", add_call_habits),
    ("proactive_bookings", add_proactive_bookings),
    ("campaigns", add_campaigns),
    ("violations", add_violations),
    ("monthly_reports", add_monthly_reports),
    ("register", add_register),
]


# --- the use case ----------------------------------------------------------------------


def _refresh_statistics(session: Session) -> None:
    """PostgreSQL plans by its tables' statistics, which know nothing of rows this load has
    just written (in one transaction, before autovacuum looks): planned for empty tables,
    a later step's join over the calls became nested loops over every row (minutes). So
    each step ends by analysing the tables, as one does after any bulk load; ANALYZE
    counts the transaction's own new rows. SQLite needs nothing of the kind."""
    if session.get_bind().dialect.name != "postgresql":
        return
    session.flush()
    tables = ", ".join(f'"{t.name}"' for t in db.metadata.sorted_tables)
    session.execute(text(f"ANALYZE {tables}"))


def loaded_demo(session: Session) -> dict | None:
    """What `care demo` loaded into this database (the marker's detail), or None."""
    entry = session.scalars(
        select(AuditLog).where(AuditLog.action == MARKER_ACTION).order_by(AuditLog.id)
    ).first()
    return dict(entry.detail or {}) if entry is not None else None


def load_demo(
    session: Session,
    *,
    customers: int = DEFAULT_CUSTOMERS,
    seed: int = DEFAULT_SEED,
    today: date | None = None,
    actor: Actor,
    now: datetime,
) -> DemoResult:
    """Load the demo dealership, or nothing when the same one is loaded already.

    Raises ServiceError when another demo data set (seed or size) is loaded, when the
    database holds customers of its own, or when a demo user name is taken.
    """
    if customers < 1:
        raise ServiceError("--customers must be at least 1")
    settings = load_settings(session)
    tz = ZoneInfo(settings.timezone)
    if today is None:
        today = now.astimezone(tz).date()

    loaded = loaded_demo(session)
    if loaded is not None:
        if loaded.get("seed") == seed and loaded.get("customers") == customers:
            return DemoResult(
                True, seed, customers, date.fromisoformat(loaded["today"]), dict(loaded.get("counts") or {})
            )
        raise ServiceError(
            f"demo data with seed {loaded.get('seed')} and {loaded.get('customers')} customers is "
            f"already loaded; use a fresh database for seed {seed} and {customers} customers"
        )
    if session.scalar(select(func.count()).select_from(Customer)):
        raise ServiceError("the database already holds customers; load the demo into an empty database")
    taken = session.scalars(
        select(User.username).where(func.lower(User.username).in_([u.username for u in DEMO_USERS]))
    ).all()
    if taken:
        raise ServiceError(f"user {sorted(taken)[0]!r} exists already; load the demo into an empty database")

    ctx = DemoContext(
        session=session,
        seed=seed,
        size=customers,
        today=today,
        now=now,
        actor=actor,
        dealer_city=settings.dealer_city,
        tz=tz,
    )
    for _name, run in STEPS:
        run(ctx)
        _refresh_statistics(session)
    detail = {
        "seed": seed,
        "customers": customers,
        "today": today.isoformat(),
        "version": FORMAT_VERSION,
        "counts": ctx.counts,
    }
    audit.record(session, actor=actor, action=MARKER_ACTION, object_type="demo", detail=detail, now=now)
    session.flush()
    return DemoResult(False, seed, customers, today, dict(ctx.counts))

"""The daily care-task generator (domain.md §3, rules R1–R10): set-based and idempotent.

``generate(session, day, …)`` creates, for generation day D (the dealer's local date),
every task whose window contains D, that does not exist yet for its cycle (the unique
``care_tasks.cycle_key``) and whose purpose is not met. The rules themselves are the pure
``propose_*`` functions of care.domain.task_rules; this module only feeds them facts and
stores what they propose.

How it stays fast on a large dealership (bench/generate_bench.py):

- SQL narrows the fleet to the vehicles that can possibly be inside a window on D
  (:func:`_vehicle_candidates`): deliveries within the first-service deadline (R1), a
  first/regular service or delivery within the maintenance interval (R2: the time-based
  due date is an upper bound for the mileage-based one), warranty end and inspection
  due within their lead (R3, R4), the last visit within the lapsed span (R9), a visit in
  the callback window (R10). Policies (R5), birthdays (R6) and deliveries (R7, R8) are
  selected by their own dates. Everything else is never looked at.
- Facts are read with a handful of Core selects of plain columns (no ORM objects). A
  vehicle's visit history is not read visit by visit: one grouped select returns the
  few values the rules look at (the last service, the first and last odometer reading,
  the last visit …), which become at most six stand-in visits that give every rule the
  answer the full history gives (see "history facts" below; a test compares both on a
  random fleet). R9's candidates whose recall of this month exists are counted
  ``already_exists`` in SQL without further work: most of them on most days. Id lists go
  as one array parameter on PostgreSQL, in chunks on SQLite
  (care.services.assignment.in_batches).
- The cycle keys that already exist are read in one pass over the proposals; the new
  tasks are inserted in chunks with ``INSERT … ON CONFLICT (cycle_key) DO NOTHING
  RETURNING cycle_key`` (on PostgreSQL from one JSON document per chunk): when
  two runs race, the unique constraint decides and the loser counts the task as
  ``already_exists``.

Counting (the GenerationRun): ``created`` per type and ``skipped`` per type per reason.
``not_due`` and ``window_closed`` are not counted (SQL's pre-filter is a superset of the
windows, so these would only count how wide it is); every other reason of a candidate
inside its window is: ``purpose_met``, ``consent``, ``no_channel``, ``not_applicable``,
``no_data`` and ``already_exists``.

Decisions where domain.md is silent:

- R8 "the day after the delivery file arrives": the file's arrival is the finish of the
  ImportRun (kind deliveries, status done) that created the Delivery; a delivery whose
  import has not finished yet is not a candidate; a delivery without an import run (demo
  data, typed in) counts as arrived on its delivery date.
- R5 ``renewed``: a policy of the same vehicle with a later expiry exists.
- R7's consultant is the delivery's, else the vehicle's selling consultant; either may be
  a name the DMS file gives that is no user yet (``consultant_name`` without
  ``consultant_id``): the assigner then leaves the task to the care manager's queue.
- Tasks that need a number correction (R12) are created ``blocked`` (the number-correction
  queue); the others ``open``. Both are assigned (care.services.assignment).
- Reason params are stored JSON-safe: dates and datetimes as ISO 8601 strings (datetimes
  in the dealer's time zone, with their offset).

``generate_due(session, today, …)`` catches up: it runs ``generate`` for every day after
the last run (at most ``generation_catchup_days`` back) up to ``today``, in order, one
GenerationRun per day, under a short database lock (:func:`lock_generation`) so that two
processes (several gunicorn workers, each with a scheduler thread) never generate the
same day twice.
"""

from __future__ import annotations

import calendar
import json
import time
from collections import Counter, defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from itertools import groupby
from operator import itemgetter
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Date,
    Integer,
    String,
    and_,
    bindparam,
    case,
    cast,
    exists,
    extract,
    func,
    literal,
    literal_column,
    or_,
    select,
    text,
    update,
)
from sqlalchemy import union_all as sa_union_all
from sqlalchemy.orm import Session

from care.calendars import lunar_birthday_in_year
from care.domain.dates import (
    add_months,
    end_of_month,
    first_of_month,
    local_date,
    local_today,
    start_of_day,
)
from care.domain.outcomes import SUPERSEDED
from care.domain.settings import Settings
from care.domain.task_rules import (
    FIRST_SERVICE_KIND,
    MAINTENANCE_KIND,
    SERVICE_KINDS,
    CustomerFacts,
    DeliveryFacts,
    LunarConverter,
    PolicyFacts,
    Proposal,
    Skip,
    SkipReason,
    TaskProposal,
    TaskType,
    VehicleFacts,
    VisitFacts,
    maintenance_in_view,
    maintenance_prediction,
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
from care.models import (
    OPEN_STATUSES,
    CareTask,
    Customer,
    Delivery,
    GenerationRun,
    ImportRun,
    InsurancePolicy,
    ServiceVisit,
    TaskStatus,
    Vehicle,
)
from care.services import Actor, proactive
from care.services.assignment import Assigner, in_batches
from care.services.settings import load_settings

ALREADY_EXISTS = "already_exists"
UNCOUNTED = frozenset({SkipReason.NOT_DUE.value, SkipReason.WINDOW_CLOSED.value})
# Every reason a GenerationRun may count, in the order pages show them.
SKIP_REASONS: tuple[str, ...] = (
    ALREADY_EXISTS,
    SkipReason.PURPOSE_MET.value,
    SkipReason.CONSENT.value,
    SkipReason.NO_CHANNEL.value,
    SkipReason.NOT_APPLICABLE.value,
    SkipReason.NO_DATA.value,
)
GENERATED_TYPES: tuple[str, ...] = tuple(t.value for t in TaskType)

INSERT_CHUNK = 1000  # task rows per INSERT statement
LOCK_KEY = 0x43415245  # "CARE": the PostgreSQL advisory-lock key of the generator

# Bits of the rules a candidate vehicle is selected for (see _vehicle_candidates).
R1, R2, R3, R4, R9, R10 = 1, 2, 4, 8, 16, 32

_v = Vehicle.__table__
_c = Customer.__table__
_sv = ServiceVisit.__table__
_p = InsurancePolicy.__table__
_d = Delivery.__table__
_ir = ImportRun.__table__
_t = CareTask.__table__
_CUSTOMER_COLUMNS = (
    _c.c.id.label("customer_id"),
    _c.c.customer_no,
    _c.c.birthday,
    _c.c.birthday_lunar,
    _c.c.no_call,
    _c.c.no_sms,
    _c.c.no_email,
    _c.c.mobile,
    _c.c.phone2,
    _c.c.email,
    _c.c.city,
)


# --- public API ------------------------------------------------------------------------


def generate(
    session: Session,
    day: date,
    *,
    actor: Actor,
    now: datetime,
    lunar_to_solar: LunarConverter | None = lunar_birthday_in_year,
    settings: Settings | None = None,
) -> GenerationRun:
    """Create the care tasks of generation day ``day``; returns the flushed GenerationRun."""
    clock = time.perf_counter()
    settings = settings or load_settings(session)
    run = GenerationRun(for_date=day, started_at=now, actor=actor.name[:64])
    session.add(run)
    session.flush()
    work = _Generation(session, day, settings, lunar_to_solar)
    work.collect()
    work.store(run.id, now)
    proactive.close_booked(session, day, now=now)  # R16: booked outside the app, or before
    run.created = {k: work.created[k] for k in GENERATED_TYPES if work.created[k]}
    run.created_total = sum(work.created.values())
    run.skipped = {
        k: {r: work.skipped[k][r] for r in SKIP_REASONS if work.skipped[k][r]}
        for k in GENERATED_TYPES
        if work.skipped[k]
    }
    elapsed = time.perf_counter() - clock
    run.duration_ms = round(elapsed * 1000)
    run.finished_at = now + timedelta(seconds=elapsed)
    session.flush()
    return run


def generate_due(
    session: Session,
    today: date,
    *,
    actor: Actor,
    now: datetime,
    again: bool = False,
    lunar_to_solar: LunarConverter | None = lunar_birthday_in_year,
) -> list[GenerationRun]:
    """Generate every day after the last run up to ``today`` (see :func:`days_due`).

    ``again``: generate ``today`` even when it was generated already (an explicit request:
    the "generate now" button, ``care generate``). Holds :func:`lock_generation` until the
    caller commits, so a concurrent call waits and then finds the days done.
    """
    settings = load_settings(session)
    lock_generation(session)
    days = days_due(last_generated(session, today), today, settings.generation_catchup_days, again=again)
    return [
        generate(session, day, actor=actor, now=now, lunar_to_solar=lunar_to_solar, settings=settings)
        for day in days
    ]


def days_due(last: date | None, today: date, catchup_days: int, *, again: bool = False) -> list[date]:
    """The days to generate, oldest first: after ``last`` (at most ``catchup_days`` before
    ``today``) up to ``today``. Without any run yet only ``today`` (a new installation does
    not create a month of overdue tasks); ``today`` again only when ``again``."""
    if last is None:
        return [today]
    if last >= today:
        return [today] if again else []
    first = max(last + timedelta(days=1), today - timedelta(days=catchup_days))
    return [first + timedelta(days=n) for n in range((today - first).days + 1)]


def last_generated(session: Session, today: date) -> date | None:
    """The latest day generated, ignoring runs for days after ``today`` (a run for a future
    date, e.g. `care generate --date` in a test, must not stop the daily runs)."""
    return session.scalar(
        select(func.max(GenerationRun.for_date)).where(GenerationRun.for_date <= today)
    )


def lock_generation(session: Session) -> None:
    """Serialize generators until the transaction ends: a PostgreSQL advisory lock; on
    SQLite a write statement that changes nothing takes the database's write lock (other
    writers wait up to the busy timeout)."""
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": LOCK_KEY})
    elif dialect == "sqlite":
        session.execute(text("UPDATE generation_runs SET id = id WHERE 1 = 0"))


# --- the work of one day ---------------------------------------------------------------


@dataclass
class _Candidate:
    """A proposal and the rows it refers to."""

    proposal: TaskProposal
    customer_id: int
    vehicle_id: int | None = None
    policy_id: int | None = None
    visit_id: int | None = None
    delivery_id: int | None = None
    owner_id: int | None = None
    owner_name: str | None = None  # the owner as the DMS file names them, when no user


@dataclass
class _Generation:
    session: Session
    day: date
    settings: Settings
    lunar_to_solar: LunarConverter | None
    candidates: dict[str, _Candidate] = field(default_factory=dict)
    created: Counter = field(default_factory=Counter)
    skipped: defaultdict = field(default_factory=lambda: defaultdict(Counter))
    _customers: dict[int, CustomerFacts] = field(default_factory=dict)

    # collecting proposals

    def collect(self) -> None:
        self._vehicles()
        self._policies()
        self._birthdays()
        self._deliveries()

    def offer(self, task_type: TaskType, result: Proposal, customer_id: int, **refs: Any) -> None:
        if isinstance(result, Skip):
            if result.reason.value not in UNCOUNTED:
                self.skipped[task_type.value][result.reason.value] += 1
            return
        if result.cycle_key not in self.candidates:
            self.candidates[result.cycle_key] = _Candidate(result, customer_id, **refs)

    def customer(self, row) -> CustomerFacts:
        facts = self._customers.get(row.customer_id)
        if facts is None:
            facts = CustomerFacts(
                customer_no=row.customer_no,
                birthday=row.birthday,
                birthday_lunar=row.birthday_lunar,
                no_call=bool(row.no_call),
                no_sms=bool(row.no_sms),
                no_email=bool(row.no_email),
                has_valid_phone=bool(row.mobile or row.phone2),
                has_email=bool(row.email),
            )
            self._customers[row.customer_id] = facts
        return facts

    def _vehicles(self) -> None:
        """R1–R4, R9, R10: the candidate vehicles (:func:`_vehicle_candidates`), each with
        the facts of its history that its rules read (see "history facts" below)."""
        session, day, settings = self.session, self.day, self.settings
        dialect = session.get_bind().dialect.name
        rules: dict[int, int] = defaultdict(int)
        for vehicle_id, bit in session.execute(_vehicle_candidates(day, settings)):
            rules[vehicle_id] |= bit
        lapsed: dict[int, tuple[date, int | None]] = {}
        for vehicle_id, last_visit, max_km, recalled in session.execute(_lapsed_candidates(day, settings)):
            if recalled:  # this month's recall exists: nothing more to look at
                self.skipped[TaskType.LAPSED_RECALL.value][ALREADY_EXISTS] += 1
            else:
                rules[vehicle_id] |= R9
                lapsed[vehicle_id] = (last_visit, max_km)
        if not rules:
            return
        summaries: dict[int, tuple] = {}
        odd: list[int] = []
        needing = sorted(vid for vid, bits in rules.items() if bits & (R1 | R2 | R3))
        for among in in_batches(session, _sv.c.vehicle_id, needing, Integer()):
            for row in session.execute(_history_summaries(dialect, among)):
                if row.odd:
                    odd.append(row.vehicle_id)
                else:
                    summaries[row.vehicle_id] = row
        # Most vehicles serviced within the interval are weeks away from their next
        # maintenance: the summary's prediction (the rules' own, care.domain.task_rules
        # .maintenance_prediction) leaves them out before any facts are built.
        for vehicle_id, row in summaries.items():
            bits = rules[vehicle_id]
            if bits & R2 and not _maintenance_in_view(row, bits & R1, day, settings):
                rules[vehicle_id] = bits & ~R2
        rules = {vehicle_id: bits for vehicle_id, bits in rules.items() if bits}
        full: dict[int, list] = {}
        for among in in_batches(session, _sv.c.vehicle_id, odd, Integer()):
            for vehicle_id, group in groupby(session.execute(_visits().where(among)), key=itemgetter(0)):
                full[vehicle_id] = list(group)
        booked = proactive.booked_vehicles(session, day)
        callback_from = day - timedelta(days=settings.service_callback_days)
        callbacks: dict[int, list] = defaultdict(list)
        for visit in session.execute(_visits().where(_sv.c.date.between(callback_from, day - timedelta(days=1)))):
            callbacks[visit[0]].append(visit)

        for among in in_batches(session, _v.c.id, sorted(rules), Integer()):
            rows = session.execute(
                select(
                    _v.c.id,
                    _v.c.vin,
                    _v.c.delivery_date,
                    _v.c.warranty_end,
                    _v.c.warranty_km,
                    _v.c.inspection_due,
                    _v.c.mileage,
                    _v.c.consultant_id,
                    *_CUSTOMER_COLUMNS,
                )
                .join(_c, _c.c.id == _v.c.customer_id)
                .where(among)
            )
            for row in rows:
                vehicle_id, vin, delivered, warranty_end, warranty_km, inspection_due, mileage, consultant_id = row[:8]
                bits = rules[vehicle_id]
                if vehicle_id in full:
                    history = tuple(VisitFacts(v[1], v[2], v[3], v[4]) for v in full[vehicle_id])
                elif vehicle_id in summaries:
                    history, mileage = _summary_facts(summaries[vehicle_id], mileage)
                else:
                    history, mileage = _lapsed_facts(lapsed.get(vehicle_id), mileage)
                vehicle = VehicleFacts(
                    vin=vin,
                    delivery_date=delivered,
                    warranty_end=warranty_end,
                    warranty_km=warranty_km,
                    inspection_due=inspection_due,
                    mileage=mileage,
                    consultant_id=consultant_id,
                    customer_city=row.city,
                    visits=history,
                )
                customer = self.customer(row)
                customer_id = row.customer_id
                if bits & R1:
                    self.offer(TaskType.FIRST_SERVICE, propose_first_service(vehicle, customer, settings, day), customer_id, vehicle_id=vehicle_id)
                if bits & R2:
                    self.offer(TaskType.MAINTENANCE, propose_maintenance(vehicle, customer, settings, day), customer_id, vehicle_id=vehicle_id)
                if bits & (R1 | R2):
                    result = propose_appointment(vehicle, customer, settings, day, booked=vehicle_id in booked)
                    self.offer(TaskType.APPOINTMENT, result, customer_id, vehicle_id=vehicle_id)
                if bits & R3:
                    self.offer(TaskType.WARRANTY_EXPIRY, propose_warranty_expiry(vehicle, customer, settings, day), customer_id, vehicle_id=vehicle_id)
                if bits & R4:
                    self.offer(TaskType.INSPECTION, propose_inspection(vehicle, customer, settings, day), customer_id, vehicle_id=vehicle_id)
                if bits & R9:
                    self.offer(TaskType.LAPSED_RECALL, propose_lapsed_recall(vehicle, customer, settings, day), customer_id, vehicle_id=vehicle_id)
                for v in callbacks.get(vehicle_id, ()):
                    result = propose_service_callback(VisitFacts(v[1], v[2], v[3], v[4]), vehicle, customer, settings, day)
                    self.offer(TaskType.SERVICE_CALLBACK, result, customer_id, vehicle_id=vehicle_id, visit_id=v[5])

    def _policies(self) -> None:
        """R5: policies expiring within the lead, with whether a later one exists."""
        day, settings = self.day, self.settings
        later = _p.alias("later")
        renewed = exists().where(later.c.vehicle_id == _p.c.vehicle_id, later.c.expiry > _p.c.expiry)
        until = add_months(day, settings.insurance_lead_months) + CLAMP_SLACK
        rows = self.session.execute(
            select(
                _p.c.id.label("policy_id"),
                _p.c.policy_no,
                _p.c.expiry,
                _p.c.specialist_id,
                _v.c.id.label("vehicle_id"),
                _v.c.vin,
                renewed.label("renewed"),
                *_CUSTOMER_COLUMNS,
            )
            .join(_v, _v.c.id == _p.c.vehicle_id)
            .join(_c, _c.c.id == _v.c.customer_id)
            .where(_p.c.expiry.between(day, until))
        )
        for row in rows:
            policy = PolicyFacts(
                policy_no=row.policy_no,
                vin=row.vin,
                expiry=row.expiry,
                specialist_id=row.specialist_id,
                renewed=bool(row.renewed),
            )
            result = propose_insurance_renewal(policy, self.customer(row), settings, day)
            self.offer(
                TaskType.INSURANCE_RENEWAL,
                result,
                row.customer_id,
                vehicle_id=row.vehicle_id,
                policy_id=row.policy_id,
                owner_id=row.specialist_id,
            )

    def _birthdays(self) -> None:
        """R6: customers whose solar birthday is today (29 Feb → 28 Feb in a common year)
        or whose lunar birthday falls on today."""
        day = self.day
        month, dom = extract("month", _c.c.birthday), extract("day", _c.c.birthday)
        conditions = [and_(month == day.month, dom == day.day)]
        if day.month == 2 and day.day == 28 and not calendar.isleap(day.year):
            conditions.append(and_(month == 2, dom == 29))
        if self.lunar_to_solar is not None:
            convert = self.lunar_to_solar
            values = self.session.scalars(
                select(_c.c.birthday_lunar).where(_c.c.birthday_lunar.is_not(None)).distinct()
            ).all()
            todays = [
                value
                for value in values
                if value and any(convert(value, year) == day for year in (day.year - 1, day.year))
            ]
            if todays:
                conditions.append(_c.c.birthday_lunar.in_(todays))
        rows = self.session.execute(select(*_CUSTOMER_COLUMNS).where(or_(*conditions)))
        for row in rows:
            result = propose_birthday(self.customer(row), self.settings, day, self.lunar_to_solar)
            self.offer(TaskType.BIRTHDAY, result, row.customer_id)

    def _deliveries(self) -> None:
        """R7 (delivered within the call window) and R8 (delivery file arrived within the
        survey window)."""
        day, settings = self.day, self.settings
        tz = settings.timezone
        today_starts = start_of_day(day, tz)
        tomorrow_starts = start_of_day(day + timedelta(days=1), tz)
        call_from = today_starts - timedelta(hours=settings.delivery_call_hours)
        files_from = start_of_day(day - timedelta(days=settings.delivery_survey_days), tz)
        recent_call = and_(_d.c.delivered_at >= call_from, _d.c.delivered_at < tomorrow_starts)
        no_file = and_(
            _d.c.import_run_id.is_(None),
            _d.c.delivered_at >= files_from,
            _d.c.delivered_at < today_starts,
        )
        file_done = and_(
            _ir.c.status == "done",
            or_(
                and_(_ir.c.finished_at >= files_from, _ir.c.finished_at < today_starts),
                and_(
                    _ir.c.finished_at.is_(None),
                    _ir.c.started_at >= files_from,
                    _ir.c.started_at < today_starts,
                ),
            ),
        )
        rows = self.session.execute(
            select(
                _d.c.id.label("delivery_id"),
                _d.c.vehicle_id,
                _d.c.delivered_at,
                _d.c.consultant_id,
                _d.c.consultant_name,
                _d.c.import_run_id,
                _ir.c.status.label("run_status"),
                _ir.c.started_at.label("run_started_at"),
                _ir.c.finished_at.label("run_finished_at"),
                _v.c.vin,
                _v.c.consultant_id.label("vehicle_consultant_id"),
                _v.c.consultant_name.label("vehicle_consultant_name"),
                *_CUSTOMER_COLUMNS,
            )
            .select_from(_d)
            .join(_v, _v.c.id == _d.c.vehicle_id)
            .join(_c, _c.c.id == _d.c.customer_id)
            .outerjoin(_ir, _ir.c.id == _d.c.import_run_id)
            .where(or_(recent_call, no_file, file_done))
        )
        for row in rows:
            if row.import_run_id is None:
                arrived = local_date(row.delivered_at, tz)
            elif row.run_status == "done":
                arrived = local_date(row.run_finished_at or row.run_started_at, tz)
            else:
                arrived = None  # the file is still being imported
            if row.consultant_id or row.consultant_name:  # the delivery's, else the vehicle's
                consultant_id, consultant_name = row.consultant_id, row.consultant_name
            else:
                consultant_id, consultant_name = row.vehicle_consultant_id, row.vehicle_consultant_name
            delivery = DeliveryFacts(
                vin=row.vin,
                delivered_at=row.delivered_at,
                file_arrived_on=arrived,
                consultant_id=consultant_id,
            )
            customer = self.customer(row)
            refs = {"vehicle_id": row.vehicle_id, "delivery_id": row.delivery_id}
            self.offer(
                TaskType.DELIVERY_CALL,
                propose_delivery_call(delivery, customer, settings, day),
                row.customer_id,
                owner_id=consultant_id,
                owner_name=consultant_name,
                **refs,
            )
            self.offer(
                TaskType.DELIVERY_SURVEY,
                propose_delivery_survey(delivery, customer, settings, day),
                row.customer_id,
                **refs,
            )

    # storing

    def store(self, run_id: int, now: datetime) -> None:
        session = self.session
        keys = list(self.candidates)
        known = select(_t.c.cycle_key).where(_t.c.cycle_key.in_(_json_values(session, keys)))
        existing = set(session.scalars(known))
        new: list[_Candidate] = []
        for key, candidate in self.candidates.items():
            if key in existing:
                self.skipped[candidate.proposal.type.value][ALREADY_EXISTS] += 1
            else:
                new.append(candidate)
        if not new:
            return
        # One customer's tasks together (earliest deadline first): the assigner keeps them
        # with one specialist (one contact, domain.md §3).
        new.sort(key=lambda c: (c.customer_id, c.proposal.due_at, c.proposal.cycle_key))
        assigner = Assigner.load(session)
        assigner.remember_holders(session, {c.customer_id for c in new})
        rows = []
        for candidate in new:
            proposal = candidate.proposal
            assignment = assigner.assign(
                proposal.owner_rule.value, candidate.owner_id, candidate.customer_id, candidate.owner_name
            )
            params = _json_safe(proposal.reason.params)
            if assignment.fallback:
                params["owner_fallback"] = assignment.fallback
            blocked = proposal.needs_number_correction
            rows.append(
                {
                    "type": proposal.type.value,
                    "status": (TaskStatus.BLOCKED if blocked else TaskStatus.OPEN).value,
                    "cycle_key": proposal.cycle_key,
                    "customer_id": candidate.customer_id,
                    "vehicle_id": candidate.vehicle_id,
                    "policy_id": candidate.policy_id,
                    "visit_id": candidate.visit_id,
                    "delivery_id": candidate.delivery_id,
                    "opens_on": proposal.opens_on,
                    "due_at": proposal.due_at,
                    "owner_rule": proposal.owner_rule.value,
                    "assignee_id": assignment.assignee_id,
                    "channel": proposal.channel.value,
                    "fallback": proposal.fallback.value if proposal.fallback else None,
                    "reason_id": proposal.reason.message_id,
                    "reason_params": params,
                }
            )
        constants = {"generation_run_id": run_id, "created_at": now, "updated_at": now}
        inserted = _insert_new(session, rows, constants)
        for row in rows:
            if row["cycle_key"] in inserted:
                self.created[row["type"]] += 1
            else:  # a concurrent run created it in the meantime
                self.skipped[row["type"]][ALREADY_EXISTS] += 1
        recalled = [
            row["vehicle_id"]
            for row in rows
            if row["cycle_key"] in inserted and row["type"] == TaskType.LAPSED_RECALL.value
        ]
        _supersede_recalls(session, recalled, run_id, now)


# Pre-filters look a few days past "lead months ahead": month arithmetic clamps to the
# month's end (Jan 31 − 1 month = Dec 31, Mar 31 − 1 month = Feb 28), so a window's
# opening day can sit up to 3 days after the naive bound. The rules decide exactly.
CLAMP_SLACK = timedelta(days=3)


def _vehicle_candidates(day: date, settings: Settings):
    """(vehicle id, rule bit) of every vehicle that may be inside a window of R1–R4 or
    R10 on ``day`` (a superset: the pure rules decide). One UNION ALL."""

    def bit(value: int):
        return literal(value, Integer)

    service_since = add_months(day, -settings.maintenance_interval_months)
    parts = [
        # R1: delivered at most first_service_deadline_months ago (add_months is monotone,
        # so delivery ≥ day − deadline months is necessary for delivery + deadline ≥ day).
        select(_v.c.id, bit(R1)).where(
            _v.c.delivery_date.between(add_months(day, -settings.first_service_deadline_months), day)
        ),
        # R2: the due date is at most last service + interval months, so the last service
        # (a first/regular service, else the delivery) is at most that long ago.
        select(_sv.c.vehicle_id, bit(R2)).where(
            _sv.c.kind.in_(sorted(SERVICE_KINDS)), _sv.c.date >= service_since
        ),
        select(_v.c.id, bit(R2)).where(_v.c.delivery_date >= service_since),
        # R3, R4: the end/due date within the lead (+3 days for end-of-month clamping).
        select(_v.c.id, bit(R3)).where(
            _v.c.warranty_end.between(
                day, add_months(day, settings.warranty_lead_months) + CLAMP_SLACK
            )
        ),
        select(_v.c.id, bit(R4)).where(
            _v.c.inspection_due.between(
                day, add_months(day, settings.inspection_lead_months) + CLAMP_SLACK
            )
        ),
        # R10: a visit in the callback window.
        select(_sv.c.vehicle_id, bit(R10)).where(
            _sv.c.date.between(day - timedelta(days=settings.service_callback_days), day - timedelta(days=1))
        ),
    ]
    return sa_union_all(*parts)


def _lapsed_candidates(day: date, settings: Settings):
    """R9: (vehicle id, last visit date, largest visit mileage, recalled) of the vehicles
    lapsed on some day of this month up to ``day`` – exactly those whose R9 window
    contains ``day`` (last visit + min ≤ day and last visit + max ≥ the 1st). ``recalled``:
    the vehicle's recall of this month exists (a lapsed_recall task opening this month;
    its cycle key is ``lapsed_recall:<vin>:<this month>``).

    The recalled vehicles are one set joined to the grouped visits, not a probe per
    vehicle: after the 1st of the month nearly every lapsed vehicle has its recall."""
    month_start = first_of_month(day)
    lapsed = (
        select(
            _sv.c.vehicle_id,
            func.max(_sv.c.date).label("last_visit"),
            func.max(_sv.c.mileage).label("max_km"),
        )
        .group_by(_sv.c.vehicle_id)
        .having(
            func.max(_sv.c.date).between(
                month_start - timedelta(days=settings.lapsed_max_days),
                day - timedelta(days=settings.lapsed_min_days),
            )
        )
        .subquery("lapsed")
    )
    recalled = (
        select(_t.c.vehicle_id)
        .where(
            _t.c.type == TaskType.LAPSED_RECALL.value,
            _t.c.opens_on.between(month_start, end_of_month(day)),
            _t.c.vehicle_id.is_not(None),
        )
        .distinct()
        .subquery("recalled")
    )
    return select(
        lapsed.c.vehicle_id,
        lapsed.c.last_visit,
        lapsed.c.max_km,
        recalled.c.vehicle_id.is_not(None),
    ).select_from(lapsed.outerjoin(recalled, recalled.c.vehicle_id == lapsed.c.vehicle_id))


# --- history facts -----------------------------------------------------------------------
#
# The rules read a vehicle's visits through a few questions only:
#
# - R1 purpose: is there a first_service visit (any date), or a maintenance visit on or
#   before the deadline?  → the first first_service day and the first maintenance day;
# - R2 prediction: the last first/regular service by (date, mileage or 0), the first and
#   the last odometer reading by (date, mileage), and for its purpose whether a visit
#   came after the last service and on or after the opening day → the last visit day;
# - R3 and R9's warranty class: the largest mileage known (visits and the vehicle's own);
# - R9: the last visit day.
#
# So instead of reading every visit, one grouped select per batch of vehicles
# (:func:`_history_summaries`) returns those few values, and :func:`_summary_facts` turns
# them into at most six VisitFacts that are themselves visits of the vehicle (a real date
# with a real kind or mileage, or "other" without a mileage): every rule answers on them
# exactly as on the full history. The last service comes first, so that it wins a tie in
# ``max`` as the real one does; the markers carry no mileage, so they are no reading; the
# largest mileage is folded into the vehicle's mileage (``known_mileage`` takes the larger
# of both). tests/services/test_generator.py checks the equivalence against the rules run
# on every full history of a random fleet.
#
# Dates and mileages travel as one integer key (day number × SCALE + km) so that min/max
# pick a whole reading. A vehicle with a mileage outside 0 … SCALE − 2 gets its full
# history instead (the "odd" flag).

SCALE = 100_000_000
EPOCH = date(1970, 1, 1)
_JULIAN_EPOCH = 2440587  # SQLite: CAST(julianday('1970-01-01') AS INTEGER)


def _day_number(dialect: str, column):
    """Days since 1970-01-01 of a DATE column, as an SQL integer."""
    if dialect == "postgresql":
        return cast(column - literal(EPOCH, Date), BigInteger)  # date − date: days
    return cast(func.julianday(column), BigInteger) - _JULIAN_EPOCH


def _history_summaries(dialect: str, among):
    """(vehicle id, last visit day, largest mileage, first first-service day, first
    maintenance day, last service key, first reading key, last reading key, delivery
    date, odd) per vehicle of ``among``. The last service key holds km + 1 (0: no
    mileage)."""
    km = _sv.c.mileage
    day_key = _day_number(dialect, _sv.c.date) * SCALE
    return (
        select(
            _sv.c.vehicle_id,
            func.max(_sv.c.date).label("last_visit"),
            func.max(km).label("max_km"),
            func.min(case((_sv.c.kind == FIRST_SERVICE_KIND, _sv.c.date))).label("first_fs"),
            func.min(case((_sv.c.kind == MAINTENANCE_KIND, _sv.c.date))).label("first_maint"),
            func.max(
                case((_sv.c.kind.in_(sorted(SERVICE_KINDS)), day_key + func.coalesce(km + 1, 0)))
            ).label("service"),
            func.min(case((km.is_not(None), day_key + km))).label("first_read"),
            func.max(case((km.is_not(None), day_key + km))).label("last_read"),
            func.max(_v.c.delivery_date).label("delivery_date"),  # one per vehicle
            func.max(case((or_(km < 0, km > SCALE - 2), 1), else_=0)).label("odd"),
        )
        .select_from(_sv.join(_v, _v.c.id == _sv.c.vehicle_id))
        .where(among)
        .group_by(_sv.c.vehicle_id)
    )


def _maintenance_in_view(row, first_service_bit: int, day: date, settings: Settings) -> bool:
    """False when a vehicle's R2 reminder and R16 maintenance invitation certainly answer
    ``not_due`` or ``window_closed`` on ``day`` (uncounted): its prediction from the
    :func:`_history_summaries` row – the same values :func:`predict_maintenance` reads
    from the stand-in visits – puts the due date outside both windows. True (keep it)
    whenever that is not certain: no service visit (the delivery is the last service, or
    there is none: ``no_data``, which counts), or R16 may still invite to the first
    service (its cycle comes first; a vehicle with the R1 bit is evaluated anyway)."""
    if row.service is None:
        return True
    if not first_service_bit and row.first_fs is None and row.delivery_date is not None:
        if day <= add_months(row.delivery_date, settings.first_service_deadline_months):
            return True  # the first service may be R16's cycle (e.g. a future delivery)
    on, km = _unkey(row.service)
    prediction = maintenance_prediction(
        on,
        km - 1 if km else None,
        None if row.first_read is None else _unkey(row.first_read),
        None if row.last_read is None else _unkey(row.last_read),
        settings,
    )
    return maintenance_in_view(prediction, settings, day)


def _visits():
    """Whole visits, ordered by vehicle and date (callbacks, odd histories)."""
    return select(_sv.c.vehicle_id, _sv.c.date, _sv.c.mileage, _sv.c.kind, _sv.c.ro_no, _sv.c.id).order_by(
        _sv.c.vehicle_id, _sv.c.date, _sv.c.id
    )


def _unkey(key: int) -> tuple[date, int]:
    days, km = divmod(int(key), SCALE)
    return EPOCH + timedelta(days=days), km


def _summary_facts(row, mileage: int | None) -> tuple[tuple[VisitFacts, ...], int | None]:
    """The stand-in visits of a :func:`_history_summaries` row, and the vehicle mileage."""
    _, last_visit, max_km, first_fs, first_maint, service, first_read, last_read, _, _ = row
    visits = []
    if service is not None:
        on, km = _unkey(service)
        visits.append(VisitFacts(on, km - 1 if km else None, MAINTENANCE_KIND))
    if first_read is not None:
        visits.append(VisitFacts(*_unkey(first_read), "other"))
        visits.append(VisitFacts(*_unkey(last_read), "other"))
    visits.append(VisitFacts(last_visit, None, "other"))
    if first_fs is not None:
        visits.append(VisitFacts(first_fs, None, FIRST_SERVICE_KIND))
    if first_maint is not None:
        visits.append(VisitFacts(first_maint, None, MAINTENANCE_KIND))
    if max_km is not None and (mileage is None or max_km > mileage):
        mileage = max_km
    return tuple(visits), mileage


def _lapsed_facts(summary: tuple[date, int | None] | None, mileage: int | None) -> tuple[tuple[VisitFacts, ...], int | None]:
    """The stand-in visits of a vehicle that only R4 and R9 look at: the last visit day
    (R9's span) and the largest visit mileage folded into the vehicle's (its warranty
    class). R4 reads no visits; R10 gets the visit itself."""
    if summary is None:
        return (), mileage
    last_visit, max_km = summary
    if max_km is not None and (mileage is None or max_km > mileage):
        mileage = max_km
    return (VisitFacts(last_visit, None, "other"),), mileage


def _supersede_recalls(session: Session, vehicle_ids: Sequence[int], run_id: int, now: datetime) -> None:
    """R9 is monthly: when this month's recall of a vehicle is created, last month's, if
    still open, is closed as superseded, so that one vehicle is never two lines."""
    for among in in_batches(session, _t.c.vehicle_id, vehicle_ids, Integer()):
        session.execute(
            update(_t)
            .where(
                among,
                _t.c.type == TaskType.LAPSED_RECALL.value,
                _t.c.status.in_(OPEN_STATUSES),
                _t.c.generation_run_id != run_id,
            )
            .values(status=TaskStatus.CANCELED.value, outcome=SUPERSEDED, closed_at=now, updated_at=now)
        )


def _insert_new(session: Session, rows: Sequence[dict], constants: dict[str, Any]) -> set[str]:
    """Insert ``rows`` (each also gets the ``constants``), leaving out those whose cycle
    key exists (``ON CONFLICT (cycle_key) DO NOTHING``: with a concurrent run the unique
    constraint decides); returns the keys inserted."""
    dialect = session.get_bind().dialect
    if dialect.name == "postgresql":
        return _insert_pg(session, rows, constants, dialect)
    if dialect.name != "sqlite":  # pragma: no cover - the app supports SQLite and PostgreSQL
        raise RuntimeError(f"unsupported database {dialect.name}")
    return _insert_sqlite(session, rows, constants, dialect)


def _insert_sqlite(session: Session, rows: Sequence[dict], constants: dict[str, Any], dialect) -> set[str]:
    """SQLite: ``INSERT … SELECT … FROM json_each(:rows)``, like PostgreSQL's: a chunk of
    rows travels as one JSON array of arrays. An executemany with RETURNING (SQLAlchemy's
    "insertmanyvalues") builds and processes a parameter dict per row in Python, which
    cost more than the rules that made the rows. The cells are converted by the columns'
    own bind processors (the dialect's), so they are stored exactly as the ORM stores
    them (dates and datetimes as SQLite's text, the JSON column as its serialized text)."""
    names = list(rows[0])
    processors = [
        (i, processor)
        for i, name in enumerate(names)
        if (processor := _t.c[name].type.dialect_impl(dialect).bind_processor(dialect))
    ]
    cells = ", ".join(f"json_extract(value, '$[{i}]')" for i in range(len(names)))
    statement = text(  # only our own table and column names go into the text
        f"INSERT INTO {_t.name} ({', '.join(names + list(constants))}) "  # noqa: S608
        f"SELECT {cells}, {', '.join(f':{name}' for name in constants)} "
        "FROM json_each(:rows) WHERE true "  # WHERE: SQLite's parser needs it before ON CONFLICT
        "ON CONFLICT (cycle_key) DO NOTHING RETURNING cycle_key"
    ).bindparams(*(bindparam(name, type_=_t.c[name].type) for name in constants))
    cells_of = itemgetter(*names)
    inserted: set[str] = set()
    for chunk in _chunks(rows, INSERT_CHUNK * 10):
        values = []
        for row in chunk:
            cells_of_row = list(cells_of(row))
            for i, processor in processors:
                cells_of_row[i] = processor(cells_of_row[i])
            values.append(cells_of_row)
        document = json.dumps(values, ensure_ascii=False)
        inserted.update(session.scalars(statement, {**constants, "rows": document}))
    return inserted


def _insert_pg(session: Session, rows: Sequence[dict], constants: dict[str, Any], dialect) -> set[str]:
    """PostgreSQL: ``INSERT … SELECT … FROM json_to_recordset(:rows)``: a chunk of rows
    travels as one JSON document (serialized in C), the constants as plain parameters. A
    multi-row VALUES list (one parameter per cell) is parsed again by the driver for
    every chunk, and arrays of text are escaped string by string: both several times
    slower."""
    names = list(rows[0])
    record = ", ".join(f"{name} {_t.c[name].type.compile(dialect=dialect)}" for name in names)
    fixed = ", ".join(
        f"CAST(:{name} AS {_t.c[name].type.compile(dialect=dialect)})" for name in constants
    )
    statement = text(  # only our own table, column and type names go into the text
        f"INSERT INTO {_t.name} ({', '.join(names + list(constants))}) "  # noqa: S608
        f"SELECT x.*, {fixed} FROM json_to_recordset(CAST(:rows AS JSON)) AS x({record}) "
        "ON CONFLICT (cycle_key) DO NOTHING RETURNING cycle_key"
    )
    params = {
        name: (value.astimezone(UTC) if isinstance(value, datetime) else value)
        for name, value in constants.items()
    }
    inserted: set[str] = set()
    for chunk in _chunks(rows, INSERT_CHUNK * 10):
        document = json.dumps([_json_row(row) for row in chunk], ensure_ascii=False)
        inserted.update(session.scalars(statement, {**params, "rows": document}))
    return inserted


def _json_row(row: dict[str, Any]) -> dict[str, Any]:
    """A task row for json_to_recordset: dates and (aware) datetimes ISO 8601, the latter
    with their offset, which ``timestamptz`` reads exactly (no conversion here)."""
    out = dict(row)
    for key, value in row.items():
        if isinstance(value, date):  # a datetime is a date too
            out[key] = value.isoformat()
    return out


def _json_safe(params: dict[str, Any]) -> dict[str, Any]:
    """Dates and datetimes as ISO 8601 strings (a datetime keeps its offset)."""
    out: dict[str, Any] = {}
    for key, value in params.items():
        if isinstance(value, datetime):
            out[key] = value.isoformat()
        elif isinstance(value, date):
            out[key] = value.isoformat()
        else:
            out[key] = value
    return out


def _json_values(session: Session, values: Sequence[str]):
    """The strings ``values`` as a one-column select from one JSON array parameter: tens
    of thousands of cycle keys travel as one text, serialized in C (an array parameter of
    text is escaped string by string, IN lists of parameters need chunks)."""
    document = bindparam(None, json.dumps(list(values), ensure_ascii=False), type_=String())
    if session.get_bind().dialect.name == "postgresql":
        return select(func.json_array_elements_text(cast(document, JSON)))
    return select(literal_column("value")).select_from(func.json_each(document))


def _chunks(items: Sequence, size: int) -> Iterator[Sequence]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


# --- for pages and the CLI -------------------------------------------------------------


def generate_requested(session: Session, *, actor: Actor, now: datetime) -> list[GenerationRun]:
    """Generate on request (the generation page's button): catch up the days missed, then
    today at the dealer again; audited with the days and the tasks created."""
    from care.services import audit

    today = local_now_date(now, load_settings(session))
    runs = generate_due(session, today, actor=actor, now=now, again=True)
    audit.record(
        session,
        actor=actor,
        action="generation.run",
        object_type="generation_run",
        object_id=runs[-1].id if runs else None,
        detail={"days": [r.for_date.isoformat() for r in runs], "created": sum(r.created_total for r in runs)},
        now=now,
    )
    session.flush()
    return runs


def runs_statement():
    """The generator's runs, newest first (the generation page's list)."""
    return select(GenerationRun).order_by(GenerationRun.started_at.desc(), GenerationRun.id.desc())


def run_summary(run: GenerationRun) -> dict[str, Any]:
    """The JSON document of one run (`care generate --json`)."""
    return {
        "date": run.for_date.isoformat(),
        "run_id": run.id,
        "actor": run.actor,
        "created": dict(run.created or {}),
        "created_total": run.created_total,
        "skipped": {k: dict(v) for k, v in (run.skipped or {}).items()},
        "duration_ms": run.duration_ms,
    }


def local_now_date(now: datetime, settings: Settings) -> date:
    """Today at the dealer for an aware ``now``."""
    return local_today(now, settings.timezone)


__all__ = [
    "ALREADY_EXISTS",
    "GENERATED_TYPES",
    "SKIP_REASONS",
    "days_due",
    "generate",
    "generate_due",
    "last_generated",
    "local_now_date",
    "lock_generation",
    "run_summary",
]

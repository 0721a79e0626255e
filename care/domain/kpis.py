"""R22 – the monthly KPIs and the scorecards, as pure functions over counts.

The database work (care/services/kpis.py, care/services/scorecards.py) counts; this
module says what the counts mean: a rate is ``numerator ÷ denominator`` or None when
the denominator is 0 (never 0, never an error), a :class:`KpiResult` carries both counts,
the value, the target and whether it violates its floor (the first-service reminder
rate below 95 %), and :func:`report_document` is the JSON of ``care report --json``
(interfaces.md). It also holds the calendar of a report: the dealer-local month as
aware instants, its days and its weeks.

The definitions (README, "KPIs"), each counted once per month:

- a **task** counts in the month it *ended*: when it was closed by its deadline, the
  moment it was closed; otherwise (closed late, or still open) its deadline. A task
  opened in January and done on 28 January counts in January even when it was due in
  February; one due on 31 January and done on 2 February counts in January. In the
  month in progress only tasks that have ended so far count. Withdrawn (canceled) tasks
  never count;
- a **vehicle's first-service window** counts in the month of its deadline (delivery
  + ``first_service_deadline_months``), once that deadline has passed;
- **churn** is read on the month's last day (today for the month in progress).

Standard library only.
"""

from __future__ import annotations

import calendar
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any

from care.domain import N_, DomainError
from care.domain.dates import add_months, first_of_month, local_datetime
from care.domain.lapsed import LAPSED_GROUPS, LapsedClass, count_by_group
from care.domain.outcomes import OUTCOMES, Booking, outcomes_for
from care.domain.task_rules import TaskType

# --- months ----------------------------------------------------------------------------

FIRST_YEAR, LAST_YEAR = 2000, 2100  # the months a report may be asked for
_MONTH_RE = re.compile(r"^([0-9]{4})-([0-9]{2})$")


class MonthInvalid(DomainError):
    """A month that is not ``YYYY-MM`` (2000-01 … 2100-12); ``template``/``params`` for
    the pages, ``str()`` for the command line."""

    def __init__(self, template: str, **params: Any):
        self.template, self.params = template, params
        super().__init__(template % params if params else template)


def parse_month(text: str | None) -> date:
    """``"2026-03"`` → 1 March 2026. Exactly four digits, a dash and two digits."""
    value = (text or "").strip()
    m = _MONTH_RE.match(value)
    if not m:
        raise MonthInvalid(N_("“%(value)s” is not a month: write it as YYYY-MM, e.g. 2026-03."), value=value[:20])
    year, month = int(m.group(1)), int(m.group(2))
    if not 1 <= month <= 12:
        raise MonthInvalid(N_("“%(value)s” is not a month: the month is 01 to 12."), value=value)
    if not FIRST_YEAR <= year <= LAST_YEAR:
        raise MonthInvalid(
            N_("“%(value)s”: reports cover %(first)s to %(last)s."), value=value, first=FIRST_YEAR, last=LAST_YEAR
        )
    return date(year, month, 1)


def month_text(month: date) -> str:
    return f"{month.year:04d}-{month.month:02d}"


def previous_month(month: date) -> date:
    return add_months(first_of_month(month), -1)


def next_month(month: date) -> date:
    return add_months(first_of_month(month), 1)


@dataclass(frozen=True)
class Week:
    """A Monday-to-Sunday week cut to the month: the weeks of a month add up to it."""

    number: int  # 1, 2 … within the month
    first: date
    last: date

    def contains(self, day: date) -> bool:
        return self.first <= day <= self.last


def weeks_of(month: date) -> tuple[Week, ...]:
    """The month's weeks (Monday first), the first and the last cut at the month's ends."""
    first = first_of_month(month)
    last = first.replace(day=calendar.monthrange(first.year, first.month)[1])
    weeks: list[Week] = []
    start = first
    while start <= last:
        end = min(last, start + timedelta(days=6 - start.weekday()))
        weeks.append(Week(len(weeks) + 1, start, end))
        start = end + timedelta(days=1)
    return tuple(weeks)


@dataclass(frozen=True)
class MonthSpan:
    """A dealer-local month as the queries need it: its dates, its start and end as aware
    instants ([start, end)), the local midnight that starts each day (``edges[i]`` starts
    day ``i + 1``; the last edge is ``end``), and ``cutoff``: the end, or ``now`` while
    the month is in progress (what has ended by then counts)."""

    month: date
    first: date
    last: date
    start: datetime
    end: datetime
    edges: tuple[datetime, ...]
    cutoff: datetime
    today: date  # the dealer's date of ``now``

    @property
    def key(self) -> str:
        return month_text(self.month)

    @property
    def in_progress(self) -> bool:
        return self.cutoff < self.end

    @property
    def started(self) -> bool:
        return self.cutoff > self.start

    @property
    def as_of(self) -> date:
        """The day churn is read on: the month's last day, or today in the month in
        progress (the day before its first day for a month not yet begun)."""
        if self.today > self.last:
            return self.last
        return max(self.today, self.first - timedelta(days=1))

    @property
    def days(self) -> int:
        return (self.last - self.first).days + 1

    @property
    def weeks(self) -> tuple[Week, ...]:
        return weeks_of(self.month)


def month_span(month: date, tz_name: str, now: datetime) -> MonthSpan:
    """The month containing ``month`` at the dealer (``tz_name``), seen at aware ``now``."""
    first = first_of_month(month)
    days = calendar.monthrange(first.year, first.month)[1]
    edges = tuple(local_datetime(first + timedelta(days=i), time(0), tz_name) for i in range(days + 1))
    start, end = edges[0], edges[-1]
    today = now.astimezone(start.tzinfo).date()
    cutoff = min(end, max(start, now))
    return MonthSpan(first, first, first + timedelta(days=days - 1), start, end, edges, cutoff, today)


def first_service_deliveries(span: MonthSpan, deadline_months: int) -> tuple[date, date] | None:
    """R1/R22: the delivery dates whose first-service window closed in the month (its
    deadline, delivery + ``deadline_months`` with end-of-month clamping, falls in the
    month and is over: before today). The month ``deadline_months`` earlier maps onto
    this one day by day (31 Jan → 28 Feb), so it is that month, cut at the last delivery
    day whose deadline has passed. None when no window has closed yet."""
    source_first = add_months(span.first, -deadline_months)
    source_last = source_first.replace(day=calendar.monthrange(source_first.year, source_first.month)[1])
    day, found = source_first, None
    while day <= source_last:
        if add_months(day, deadline_months) < span.today:
            found = day
        day += timedelta(days=1)
    return None if found is None else (source_first, found)


# --- rates -----------------------------------------------------------------------------


def rate(numerator: int, denominator: int) -> float | None:
    """``numerator ÷ denominator``, None when the denominator is 0. Counts are whole and
    ``0 ≤ numerator ≤ denominator``; anything else is a counting error and raises."""
    if numerator < 0 or denominator < 0 or numerator > denominator:
        raise ValueError(f"not a rate: {numerator} of {denominator}")
    if denominator == 0:
        return None
    return numerator / denominator


def mean(total: int, count: int) -> float | None:
    """``total ÷ count`` (e.g. attempts per task), None when ``count`` is 0."""
    if total < 0 or count < 0:
        raise ValueError(f"not a mean: {total} over {count}")
    return None if count == 0 else total / count


@dataclass(frozen=True)
class KpiResult:
    """One figure: its counts, its value (None with a zero denominator), the target it
    aims at and the floor below which it is a violation (both shares, or None)."""

    key: str
    numerator: int
    denominator: int
    target: float | None = None
    floor: float | None = None

    def __post_init__(self) -> None:
        rate(self.numerator, self.denominator)  # raises for impossible counts

    @property
    def value(self) -> float | None:
        return rate(self.numerator, self.denominator)

    @property
    def rest(self) -> int:
        """The denominator's members that are not in the numerator."""
        return self.denominator - self.numerator

    @property
    def meets_target(self) -> bool | None:
        if self.value is None or self.target is None:
            return None
        return self.value >= self.target - 1e-12

    @property
    def violates(self) -> bool:
        """Below its floor (only a figure with a value and a floor can violate)."""
        return self.value is not None and self.floor is not None and self.value < self.floor - 1e-12

    def as_json(self) -> dict[str, Any]:
        """interfaces.md: ``{"rate": r, "numerator": n, "denominator": d}``, r null at d = 0."""
        return {"rate": self.value, "numerator": self.numerator, "denominator": self.denominator}


def null_rate(key: str) -> KpiResult:
    """A figure whose data do not exist yet (complaints, surveys …): 0 of 0, shown "—"."""
    return KpiResult(key, 0, 0)


@dataclass(frozen=True)
class IndexResult:
    """A satisfaction index (SSI/CSI, domain.md §6): None without responses."""

    index: float | None = None
    responses: int = 0
    ci95: tuple[float, float] | None = None
    by_factor: Mapping[str, IndexResult] = field(default_factory=dict)

    def as_json(self, *, nested: bool = False) -> dict[str, Any]:
        doc: dict[str, Any] = {"index": self.index, "responses": self.responses}
        if not nested:
            doc["ci95"] = list(self.ci95) if self.ci95 else None
            doc["by_factor"] = {k: v.as_json(nested=True) for k, v in self.by_factor.items()}
        return doc


# --- what counts: vocabularies from the rules --------------------------------------------


def reached_outcomes() -> frozenset[str]:
    """Outcome codes that say the customer was reached (care.domain.outcomes ``reached``:
    every outcome but "not reached"; "declined" is reached)."""
    return frozenset(spec.code for specs in OUTCOMES.values() for spec in specs if spec.reached)


def booking_task_types() -> tuple[str, ...]:
    """R22 appointment rate: the reminder types whose outcomes book an appointment (R16):
    first service, maintenance, warranty, inspection, lapsed recall, appointment."""
    return tuple(
        t.value for t in TaskType if any(spec.booking is not Booking.NONE for spec in outcomes_for(t.value))
    )


GREETED = "greeted"  # R6: the birthday outcome of a greeting by phone
SENT_MESSAGE_STATUSES = ("sent", "delivered")  # an outbox message that went out
SERVICE_VISIT_KINDS = ("first_service", "maintenance")  # a return for service (R1, R2)
NO_TASK = "no_task"  # a vehicle not returned that had no reminder task at all
TASK_TYPES: tuple[str, ...] = tuple(t.value for t in TaskType)


def lapsed_counts(counts: Mapping[tuple[bool, bool], int]) -> dict[str, int]:
    """The six R9 counts from lapsed vehicles counted by (local, in warranty)."""
    classes: list[LapsedClass] = []
    for (local, warranty), n in counts.items():
        classes.extend([LapsedClass(local, warranty)] * n)
    return count_by_group(classes)


def group_members(group: str) -> frozenset[tuple[bool, bool]]:
    """The (local, in warranty) pairs an R9 group is made of."""
    return frozenset(
        (local, warranty)
        for local in (True, False)
        for warranty in (True, False)
        if group in LapsedClass(local, warranty).groups
    )


# --- the KPIs: names, definitions, drill-downs ------------------------------------------


@dataclass(frozen=True)
class KpiDef:
    """A figure's name and what it counts. The texts are message ids; some name settings
    as ``%(setting)s`` placeholders (the lapsed span), filled where they are shown."""

    key: str
    label: str  # message id
    rule: str
    numerator: str  # message id: what the numerator counts
    denominator: str  # message id: what the denominator counts
    unit: str  # "tasks" or "vehicles": what the drill-down lists
    target_setting: str | None = None
    floor_setting: str | None = None


KPIS: dict[str, KpiDef] = {
    d.key: d
    for d in (
        KpiDef(
            "first_service_return_rate", N_("First-service return rate"), "R1, R22",
            N_("vehicles whose first service was done here by the deadline"),
            N_("vehicles whose first-service window closed in the month"),
            "vehicles",
        ),
        KpiDef(
            "maintenance_return_rate", N_("Maintenance return rate"), "R2, R22",
            N_("maintenance reminders whose vehicle came in for service within the window"),
            N_("maintenance reminders whose window closed in the month"),
            "tasks",
        ),
        KpiDef(
            "appointment_rate", N_("Appointment rate"), "R16, R22",
            N_("reached reminders that booked an appointment"),
            N_("reminders that reached the customer (types that can book)"),
            "tasks",
        ),
        KpiDef(
            "churn_rate", N_("Churn rate"), "R9, R22",
            N_("vehicles whose last visit was %(lapsed_min_days)s–%(lapsed_max_days)s days before the day read"),
            N_("vehicles with a visit in the %(lapsed_max_days)s days before the day read"),
            "vehicles",
        ),
        KpiDef(
            "reminder_rate", N_("Reminder rate"), "R1–R10, R14, R22",
            N_("tasks that reached the customer by phone or whose message was sent"),
            N_("tasks that ended in the month"),
            "tasks", "reminder_rate_target",
        ),
        KpiDef(
            "first_service_reminder_rate", N_("First-service reminder rate"), "R1, R22, R23",
            N_("first-service reminders that reached the customer or whose SMS was sent"),
            N_("first-service reminders that ended in the month"),
            "tasks", "reminder_rate_target", "first_service_reminder_min",
        ),
        KpiDef(
            "attempt_compliance", N_("R13 compliance"), "R13, R15, R22",
            N_("tasks that reached the customer, or got every attempt in different slots within the days allowed"),
            N_("phone tasks that ended in the month (birthdays apart)"),
            "tasks", "attempt_compliance_target",
        ),
        KpiDef(
            "birthday_on_time_rate", N_("Birthday greetings on time"), "R6, R14, R22",
            N_("birthdays greeted by phone by the deadline, or by SMS the same day"),
            N_("birthday greetings that ended in the month"),
            "tasks", "birthday_on_time_target",
        ),
        KpiDef(
            "complaints_closed_in_24h_rate", N_("Complaints closed in time"), "R20, R22",
            N_("complaints closed within %(complaint_close_hours)s hours"),
            N_("complaints opened in the month"),
            "complaints",
        ),
    )
}  # fmt: skip

# Figures with a drill-down page (the others have no rows yet).
DRILLABLE: tuple[str, ...] = (
    "first_service_return_rate",
    "maintenance_return_rate",
    "appointment_rate",
    "churn_rate",
    "reminder_rate",
    "first_service_reminder_rate",
    "attempt_compliance",
    "birthday_on_time_rate",
)

PARTS: tuple[str, ...] = ("denominator", "numerator", "rest")  # what a drill-down lists


def kpi(key: str, numerator: int, denominator: int, targets: Mapping[str, Any]) -> KpiResult:
    """The figure ``key`` with its target and floor read from the settings ``targets``."""
    d = KPIS.get(key)
    target = targets.get(d.target_setting) if d and d.target_setting else None
    floor = targets.get(d.floor_setting) if d and d.floor_setting else None
    return KpiResult(key, numerator, denominator, target, floor)


# --- the return analyses (R1, R2: monthly and weekly, reasons and other shops) -----------


@dataclass(frozen=True)
class ShopCount:
    shop: str
    location: str
    vehicles: int
    average_price: float | None


@dataclass(frozen=True)
class ReturnAnalysis:
    """A return rate with its weeks, the reasons of those that did not return (outcome
    or task status → count) and the other shops that did the service."""

    rate: KpiResult
    weeks: tuple[tuple[Week, KpiResult], ...]
    not_returned: tuple[tuple[str, int], ...]
    other_shops: tuple[ShopCount, ...]

    def as_json(self) -> dict[str, Any]:
        return {
            "weeks": [
                {"week": w.number, "from": w.first.isoformat(), "to": w.last.isoformat(), **r.as_json()}
                for w, r in self.weeks
            ],
            "not_returned": dict(self.not_returned),
            "other_shops": [
                {"shop": s.shop, "location": s.location, "vehicles": s.vehicles, "average_price": s.average_price}
                for s in self.other_shops
            ],
        }


@dataclass(frozen=True)
class ReturnRow:
    """One group of the return query: the day of the month the window closed, whether the
    vehicle returned, the reason if not (outcome or status), the other shop and price."""

    day: int
    returned: bool
    reason: str | None
    shop: str | None
    location: str | None
    price: str | None
    count: int


def _price(text: str | None) -> float | None:
    try:
        value = float(str(text).replace(",", "").strip())
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) and value > 0 else None


def return_analysis(key: str, span: MonthSpan, rows: Iterable[ReturnRow], targets: Mapping[str, Any]) -> ReturnAnalysis:
    """Fold the grouped rows of a return query into the month, its weeks, the reasons and
    the other shops (named by shop and location; the average of the prices given)."""
    rows = list(rows)

    def fold(selected: list[ReturnRow]) -> KpiResult:
        return kpi(key, sum(r.count for r in selected if r.returned), sum(r.count for r in selected), targets)

    weeks = tuple(
        (w, fold([r for r in rows if w.first.day <= r.day <= w.last.day])) for w in span.weeks
    )
    reasons: dict[str, int] = {}
    shops: dict[tuple[str, str], list] = {}
    for r in rows:
        if r.returned:
            continue
        code = r.reason or NO_TASK
        reasons[code] = reasons.get(code, 0) + r.count
        if r.shop:
            entry = shops.setdefault((r.shop, r.location or ""), [0, 0.0, 0])
            entry[0] += r.count
            price = _price(r.price)
            if price is not None:
                entry[1] += price * r.count
                entry[2] += r.count
    return ReturnAnalysis(
        fold(rows),
        weeks,
        tuple(sorted(reasons.items(), key=lambda kv: (-kv[1], kv[0]))),
        tuple(
            ShopCount(shop, location, n, round(total / priced, 2) if priced else None)
            for (shop, location), (n, total, priced) in sorted(shops.items(), key=lambda kv: (-kv[1][0], kv[0]))
        ),
    )


# --- churn (R9) ------------------------------------------------------------------------


@dataclass(frozen=True)
class ChurnAnalysis:
    """Vehicles served in the 360 days before ``as_of`` and, of them, those lapsed, by
    (local, in warranty)."""

    as_of: date
    served: Mapping[tuple[bool, bool], int]
    lapsed: Mapping[tuple[bool, bool], int]

    @property
    def rate(self) -> KpiResult:
        return KpiResult("churn_rate", sum(self.lapsed.values()), sum(self.served.values()))

    @property
    def lapsed_by_group(self) -> dict[str, int]:
        return lapsed_counts(self.lapsed)

    def group_rate(self, group: str) -> KpiResult:
        members = group_members(group)
        return KpiResult(
            "churn_rate",
            sum(n for k, n in self.lapsed.items() if k in members),
            sum(n for k, n in self.served.items() if k in members),
        )

    def by_group(self) -> dict[str, KpiResult]:
        return {g.value: self.group_rate(g.value) for g in LAPSED_GROUPS}


# --- the report ------------------------------------------------------------------------


@dataclass(frozen=True)
class MonthlyKpis:
    span: MonthSpan
    first_service: ReturnAnalysis
    maintenance: ReturnAnalysis
    appointment_rate: KpiResult
    churn: ChurnAnalysis
    reminder_rate: Mapping[str, KpiResult]
    attempt_compliance: KpiResult
    birthday_on_time_rate: KpiResult
    greetings: Mapping[str, int]  # birthday_call, birthday_message, campaigns (R11: campaigns sent)
    complaints_closed_in_24h_rate: KpiResult
    appointment_show_rate: KpiResult
    ssi: IndexResult
    csi: IndexResult
    very_satisfied: Mapping[str, KpiResult]
    insurance_sample: Mapping[str, Any]

    @property
    def first_service_reminder_rate(self) -> KpiResult:
        return self.reminder_rate["first_service"]

    @property
    def greetings_sent(self) -> int:
        return sum(self.greetings.values())

    def figures(self) -> dict[str, KpiResult]:
        """The page's rates by key (reminder rates apart)."""
        return {
            "first_service_return_rate": self.first_service.rate,
            "maintenance_return_rate": self.maintenance.rate,
            "appointment_rate": self.appointment_rate,
            "churn_rate": self.churn.rate,
            "first_service_reminder_rate": self.first_service_reminder_rate,
            "attempt_compliance": self.attempt_compliance,
            "birthday_on_time_rate": self.birthday_on_time_rate,
            "complaints_closed_in_24h_rate": self.complaints_closed_in_24h_rate,
        }


def report_document(k: MonthlyKpis) -> dict[str, Any]:
    """``care report --month … --json`` (interfaces.md): the contract's keys first, then
    the analyses behind them (weeks, reasons, other shops, groups, targets)."""
    targets = {
        key: {
            "target": r.target,
            "violation_below": r.floor,
            "meets_target": r.meets_target,
            "violates": None if r.value is None else r.violates,
        }
        for key, r in {**k.figures(), **{f"reminder_rate.{t}": r for t, r in k.reminder_rate.items()}}.items()
        if r.target is not None or r.floor is not None
    }
    return {
        "month": k.span.key,
        "complete": not k.span.in_progress,
        "as_of": k.span.cutoff.isoformat(),
        "first_service_return_rate": k.first_service.rate.as_json(),
        "maintenance_return_rate": k.maintenance.rate.as_json(),
        "appointment_rate": k.appointment_rate.as_json(),
        "churn_rate": k.churn.rate.as_json(),
        "reminder_rate": {t: k.reminder_rate[t].as_json() for t in TASK_TYPES},
        "first_service_reminder_rate": k.first_service_reminder_rate.as_json(),
        "attempt_compliance": k.attempt_compliance.as_json(),
        "birthday_on_time_rate": k.birthday_on_time_rate.as_json(),
        "greetings_sent": k.greetings_sent,
        "complaints_closed_in_24h_rate": k.complaints_closed_in_24h_rate.as_json(),
        "appointment_show_rate": k.appointment_show_rate.as_json(),
        "ssi_index": k.ssi.as_json(),
        "csi_index": k.csi.as_json(),
        "very_satisfied": {name: r.as_json() for name, r in k.very_satisfied.items()},
        "insurance_sample": dict(k.insurance_sample),
        "lapsed_by_group": k.churn.lapsed_by_group,
        "churn_by_group": {g: r.as_json() for g, r in k.churn.by_group().items()},
        "churn_as_of": k.churn.as_of.isoformat(),
        "first_service_analysis": k.first_service.as_json(),
        "maintenance_analysis": k.maintenance.as_json(),
        "greetings_by_kind": dict(k.greetings),
        "targets": targets,
    }


# --- scorecards ------------------------------------------------------------------------

# The roles that have scorecards, in the page's order (role values of care.domain.roles).
SCORECARD_ROLES: tuple[str, ...] = ("specialist", "insurance", "consultant")
SCOPE_ALL, SCOPE_OWN = "all", "own"

# Who sees whose scorecards: the care and general managers everyone's, the sales
# manager the consultants', and each person with a scorecard role their own card.
_SCOPES: dict[str, dict[str, str]] = {
    "care_manager": {r: SCOPE_ALL for r in SCORECARD_ROLES},
    "general_manager": {r: SCOPE_ALL for r in SCORECARD_ROLES},
    "sales_manager": {"consultant": SCOPE_ALL},
    "specialist": {"specialist": SCOPE_OWN},
    "insurance": {"insurance": SCOPE_OWN},
    "consultant": {"consultant": SCOPE_OWN},
}


def scorecard_scope(roles: Iterable[str]) -> dict[str, str]:
    """role group → ``all`` or ``own`` for a viewer with ``roles`` (several roles: the
    widest of each); an empty map when they see no scorecard at all."""
    scope: dict[str, str] = {}
    for role in roles:
        for group, how in _SCOPES.get(str(role), {}).items():
            if scope.get(group) != SCOPE_ALL:
                scope[group] = how
    return scope



@dataclass(frozen=True)
class ScoreCounts:
    """One person's month, counted per task and per distinct customer (so that calling
    one customer again and again cannot inflate a figure)."""

    tasks: int = 0
    customers: int = 0
    done: int = 0  # tasks closed with an outcome
    reached: int = 0  # tasks that reached the customer
    reached_customers: int = 0  # customers reached for at least one task
    on_time: int = 0  # tasks closed with an outcome by their deadline
    phone_tasks: int = 0  # R13's denominator
    compliant: int = 0  # R13's numerator
    attempts: int = 0  # counted attempts, each counted for every task it served
    called_tasks: int = 0  # tasks with at least one counted attempt
    calls: int = 0  # distinct counted attempts (one call for a contact's three tasks is one)
    called_customers: int = 0  # distinct customers called


@dataclass(frozen=True)
class Scorecard:
    user_id: int | None
    counts: ScoreCounts

    @property
    def reached_rate(self) -> KpiResult:
        return KpiResult("reached_rate", self.counts.reached, self.counts.tasks)

    @property
    def reached_customer_rate(self) -> KpiResult:
        return KpiResult("reached_customer_rate", self.counts.reached_customers, self.counts.customers)

    @property
    def on_time_rate(self) -> KpiResult:
        return KpiResult("on_time_rate", self.counts.on_time, self.counts.tasks)

    @property
    def attempt_compliance(self) -> KpiResult:
        return KpiResult("attempt_compliance", self.counts.compliant, self.counts.phone_tasks)

    @property
    def attempts_per_task(self) -> float | None:
        return mean(self.counts.attempts, self.counts.called_tasks)

    @property
    def calls_per_customer(self) -> float | None:
        return mean(self.counts.calls, self.counts.called_customers)

    @property
    def survey_index(self) -> IndexResult:
        return IndexResult()  # surveys: issue 11

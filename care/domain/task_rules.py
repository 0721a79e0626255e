"""The care-task rules R1–R10 of spec/domain.md §3, as pure functions.

Each ``propose_<type>(facts…, settings, today)`` answers for one generation day ``today``
(the dealer's local date):

1. is ``today`` inside the rule's window [opens_on, deadline]? (else ``Skip`` with
   ``not_due`` or ``window_closed``) – so a day the generator missed is caught up the next
   day while the window is still open;
2. what is the cycle key (the generator creates a task only when no task with that key
   exists, which makes it idempotent);
3. is the purpose already met? (``Skip`` ``purpose_met``);
4. which channel may we use (consent, R12)? (``Skip`` ``consent`` / ``no_channel``).

It returns a :class:`TaskProposal` or a :class:`Skip`. All numbers come from the
``Settings`` passed in; ``due_at`` is an aware datetime in ``settings.timezone``: the end
of the deadline day (23:59:59 local) unless the rule has an hour deadline (R6, R7).

Decisions where domain.md is silent are noted in each rule's docstring; the common ones:

- "Within N days" after an event (R8, R10) means the N calendar days after it: the task
  opens the day after and its deadline is event day + N.
- Consent: the preferred channel is a call. A customer who refuses calls gets the task by
  SMS, else e-mail; one who refuses all three gets none (``consent``). A call (or SMS)
  for a customer without a valid phone number is proposed with
  ``needs_number_correction=True`` (R12: the generator puts it in the number-correction
  queue, the task resumes once corrected) – unless e-mail can reach a customer who
  refuses calls. When the only channel left is e-mail and there is no address, the
  result is ``Skip("no_channel")``.
- The fallback channel (R14; table of §3) is given only for call tasks and honours the
  consent flags (an e-mail fallback also needs an address). The phone number is not
  checked for an SMS fallback: a call task cannot fail three times before its number
  has been corrected.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from enum import StrEnum
from typing import Any

from care.domain import lapsed
from care.domain.dates import (
    add_months,
    birthday_in_year,
    end_of_day,
    end_of_month,
    first_of_month,
    local_date,
    local_datetime,
    month_key,
    to_local,
)
from care.domain.settings import Settings

# --- vocabularies ----------------------------------------------------------------------


class TaskType(StrEnum):
    """interfaces.md task ``type`` values."""

    FIRST_SERVICE = "first_service"
    MAINTENANCE = "maintenance"
    WARRANTY_EXPIRY = "warranty_expiry"
    INSPECTION = "inspection"
    INSURANCE_RENEWAL = "insurance_renewal"
    BIRTHDAY = "birthday"
    DELIVERY_CALL = "delivery_call"
    DELIVERY_SURVEY = "delivery_survey"
    LAPSED_RECALL = "lapsed_recall"
    SERVICE_CALLBACK = "service_callback"
    APPOINTMENT = "appointment"


class OwnerRule(StrEnum):
    """Who gets the task: round-robin among specialists, or the owner the rule names."""

    ROUND_ROBIN = "round_robin"
    POLICY_SPECIALIST = "policy_specialist"
    CONSULTANT = "consultant"


class Channel(StrEnum):
    CALL = "call"
    SMS = "sms"
    EMAIL = "email"


class SkipReason(StrEnum):
    """Why a rule proposed nothing (the generator counts these)."""

    NOT_DUE = "not_due"  # today is before the window opens
    WINDOW_CLOSED = "window_closed"  # today is after the deadline
    PURPOSE_MET = "purpose_met"  # e.g. the first service was already done here
    CONSENT = "consent"  # the customer refuses every channel
    NO_CHANNEL = "no_channel"  # the channels left cannot reach the customer
    NO_DATA = "no_data"  # the fact the rule needs is missing (no delivery date …)
    NOT_APPLICABLE = "not_applicable"  # e.g. warranty already ended by mileage


# Visit kinds (the DMS vocabulary of interfaces.md; VisitKind in care.models.service).
FIRST_SERVICE_KIND = "first_service"
MAINTENANCE_KIND = "maintenance"
SERVICE_KINDS = frozenset({FIRST_SERVICE_KIND, MAINTENANCE_KIND})

# lunar "MM-DD", lunar year -> solar date, or None (see care.calendars).
LunarConverter = Callable[[str, int], date | None]


# --- inputs ----------------------------------------------------------------------------


@dataclass(frozen=True)
class VisitFacts:
    """One service visit (repair order). ``kind``: first_service, maintenance, repair,
    warranty or other."""

    date: date
    mileage: int | None = None
    kind: str = "other"
    ro_no: str | None = None


@dataclass(frozen=True)
class VehicleFacts:
    vin: str
    delivery_date: date | None = None
    warranty_end: date | None = None
    warranty_km: int | None = None
    inspection_due: date | None = None
    mileage: int | None = None  # last known mileage from the DMS
    consultant_id: int | None = None  # the selling consultant (a user id)
    customer_city: str | None = None
    visits: tuple[VisitFacts, ...] = ()


@dataclass(frozen=True)
class CustomerFacts:
    customer_no: str
    birthday: date | None = None
    birthday_lunar: str | None = None  # "MM-DD" of the lunar calendar
    no_call: bool = False
    no_sms: bool = False
    no_email: bool = False
    has_valid_phone: bool = True
    has_email: bool = False


@dataclass(frozen=True)
class PolicyFacts:
    policy_no: str
    vin: str
    expiry: date
    specialist_id: int | None = None  # the policy's insurance specialist (a user id)
    renewed: bool = False  # a later policy for the same vehicle exists


@dataclass(frozen=True)
class DeliveryFacts:
    vin: str
    delivered_at: datetime  # aware
    file_arrived_on: date | None = None  # the day the delivery file with this row arrived
    consultant_id: int | None = None


# --- outputs ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Reason:
    """Why the task exists: a message id the UI translates, and its parameters (dates as
    ``date``/``datetime`` so that each language formats them its own way)."""

    message_id: str
    params: dict[str, Any] = field(default_factory=dict, hash=False)

    def render(self, template: str | None = None) -> str:
        """The English text (or ``template``, e.g. a translation) with the params filled."""
        return (template or REASON_MESSAGES[self.message_id]).format(**self.params)


# English defaults; the web layer translates by message id.
REASON_MESSAGES: dict[str, str] = {
    "first_service.reason": "delivered {delivered} → first service due by {due}",
    "maintenance.reason_time": (
        "last service {last_service} → maintenance due by {due} ({interval_months} months)"
    ),
    "maintenance.reason_mileage": (
        "last service {last_service} at {last_service_km} km, about {daily_km} km a day"
        " → next {interval_km} km service due by {due}"
    ),
    "warranty_expiry.reason": "warranty ends {warranty_end}",
    "inspection.reason": "annual inspection due {inspection_due}",
    "insurance_renewal.reason": "policy {policy_no} expires {expiry}",
    "birthday.reason": "birthday {birthday}",
    "birthday.reason_lunar": "lunar birthday {lunar} falls on {birthday}",
    "delivery_call.reason": "delivered {delivered_at:%Y-%m-%d %H:%M} → call by {due_at:%Y-%m-%d %H:%M}",
    "delivery_survey.reason": "delivered {delivered_at:%Y-%m-%d}, delivery file of {file_arrived_on}",
    "lapsed_recall.reason": "no visit since {last_visit} ({group})",
    "service_callback.reason": "service visit {visit_date} (order {ro_no})",
    "appointment.reason_first_service": "first service window {window_opens} – {due}: invite to book",
    "appointment.reason_maintenance": "maintenance due by {due}: invite to book",
    # R17: the follow-up of a missed appointment (care.services.register)
    "appointment.reason_no_show": "missed the appointment of {date} {time}: call to book again",
}


@dataclass(frozen=True)
class TaskProposal:
    """A task the generator should create unless one with ``cycle_key`` exists."""

    type: TaskType
    cycle_key: str
    opens_on: date
    due_at: datetime  # aware, in the dealer's time zone
    owner_rule: OwnerRule
    channel: Channel
    reason: Reason
    fallback: Channel | None = None  # R14: sent after the failed attempts
    needs_number_correction: bool = False  # R12: into the number-correction queue
    owner_id: int | None = None  # the consultant / policy specialist the rule names
    vin: str | None = None


@dataclass(frozen=True)
class Skip:
    """A rule proposed nothing, and why."""

    reason: SkipReason
    cycle_key: str | None = None


Proposal = TaskProposal | Skip


# --- shared steps ----------------------------------------------------------------------


def check_window(today: date, opens_on: date, deadline: date, key: str | None) -> Skip | None:
    """None when ``opens_on <= today <= deadline``; else the Skip saying which side."""
    if today < opens_on:
        return Skip(SkipReason.NOT_DUE, key)
    if today > deadline:
        return Skip(SkipReason.WINDOW_CLOSED, key)
    return None


@dataclass(frozen=True)
class ContactPlan:
    channel: Channel
    fallback: Channel | None
    needs_number_correction: bool


def contact_plan(
    customer: CustomerFacts, fallbacks: tuple[Channel, ...], key: str | None = None
) -> ContactPlan | Skip:
    """R12 and §3 consent: the channel a task uses, its fallback and whether the phone
    number must be corrected first (see the module docstring for the order)."""
    plan = _contact_plan(
        bool(customer.no_call),
        bool(customer.no_sms),
        bool(customer.no_email),
        bool(customer.has_valid_phone),
        bool(customer.has_email),
        fallbacks,
    )
    if isinstance(plan, SkipReason):
        return Skip(plan, key)
    return plan


@functools.cache
def _contact_plan(
    no_call: bool,
    no_sms: bool,
    no_email: bool,
    has_valid_phone: bool,
    has_email: bool,
    fallbacks: tuple[Channel, ...],
) -> ContactPlan | SkipReason:
    """:func:`contact_plan` on the five facts it reads: a few dozen combinations, each
    worked out once (the generator asks for every task of a large fleet)."""
    refused = {Channel.CALL: no_call, Channel.SMS: no_sms, Channel.EMAIL: no_email}
    allowed = [c for c in (Channel.CALL, Channel.SMS, Channel.EMAIL) if not refused[c]]
    if not allowed:
        return SkipReason.CONSENT
    if Channel.CALL in allowed:
        fallback = next(
            (c for c in fallbacks if not refused[c] and (c is not Channel.EMAIL or has_email)),
            None,
        )
        return ContactPlan(Channel.CALL, fallback, not has_valid_phone)
    reachable = [c for c in allowed if (has_email if c is Channel.EMAIL else has_valid_phone)]
    if reachable:
        return ContactPlan(reachable[0], None, False)
    if Channel.SMS in allowed:
        return ContactPlan(Channel.SMS, None, True)
    return SkipReason.NO_CHANNEL


def _propose(
    task_type: TaskType,
    key: str,
    opens_on: date,
    due_at: datetime,
    reason: Reason,
    customer: CustomerFacts,
    fallbacks: tuple[Channel, ...],
    *,
    owner_rule: OwnerRule = OwnerRule.ROUND_ROBIN,
    owner_id: int | None = None,
    vin: str | None = None,
) -> Proposal:
    plan = contact_plan(customer, fallbacks, key)
    if isinstance(plan, Skip):
        return plan
    return TaskProposal(
        type=task_type,
        cycle_key=key,
        opens_on=opens_on,
        due_at=due_at,
        owner_rule=owner_rule,
        channel=plan.channel,
        reason=reason,
        fallback=plan.fallback,
        needs_number_correction=plan.needs_number_correction,
        owner_id=owner_id,
        vin=vin,
    )


SMS_FALLBACK = (Channel.SMS,)
NO_FALLBACK: tuple[Channel, ...] = ()


# --- R1 first service ------------------------------------------------------------------


def first_service_done(vehicle: VehicleFacts, deadline: date) -> bool:
    """R1 purpose: the first service was done here – a visit of kind ``first_service``
    (any date), or of kind ``maintenance`` on or before the deadline (DMS clerks often
    code the first service as regular maintenance). Repairs do not count."""
    return any(
        v.kind == FIRST_SERVICE_KIND or (v.kind == MAINTENANCE_KIND and v.date <= deadline)
        for v in vehicle.visits
    )


def propose_first_service(
    vehicle: VehicleFacts, customer: CustomerFacts, settings: Settings, today: date
) -> Proposal:
    """R1 – first-service reminder 首保提示: opens delivery + ``first_service_open_months``,
    deadline delivery + ``first_service_deadline_months`` (clamped month arithmetic);
    fallback SMS. Key ``first_service:<vin>``."""
    key = f"first_service:{vehicle.vin}"
    if vehicle.delivery_date is None:
        return Skip(SkipReason.NO_DATA, key)
    opens_on = add_months(vehicle.delivery_date, settings.first_service_open_months)
    deadline = add_months(vehicle.delivery_date, settings.first_service_deadline_months)
    if skip := check_window(today, opens_on, deadline, key):
        return skip
    if first_service_done(vehicle, deadline):
        return Skip(SkipReason.PURPOSE_MET, key)
    reason = Reason("first_service.reason", {"delivered": vehicle.delivery_date, "due": deadline})
    return _propose(
        TaskType.FIRST_SERVICE,
        key,
        opens_on,
        end_of_day(deadline, settings.timezone),
        reason,
        customer,
        SMS_FALLBACK,
        vin=vehicle.vin,
    )


# --- R2 regular maintenance ------------------------------------------------------------


def average_daily_km(visits: Iterable[VisitFacts]) -> float | None:
    """Average daily mileage from the visit history: km between the earliest and the
    latest reading ÷ the days between them. None with fewer than two readings on
    different days, or when the odometer did not advance."""
    readings = sorted((v.date, v.mileage) for v in visits if v.mileage is not None)
    if len(readings) < 2:
        return None
    return _daily_km(readings[0], readings[-1])


def _daily_km(first: tuple[date, int], last: tuple[date, int]) -> float | None:
    """km per day between the earliest and the latest (date, km) reading."""
    (first_day, first_km), (last_day, last_km) = first, last
    elapsed = (last_day - first_day).days
    if elapsed <= 0 or last_km <= first_km:
        return None
    return (last_km - first_km) / elapsed


@dataclass(frozen=True)
class MaintenancePrediction:
    last_service: date  # the last first/regular service, or the delivery date
    last_service_km: int | None  # its mileage (0 at delivery); None when not recorded
    due_by_time: date
    due_by_mileage: date | None  # None when the daily mileage is unknown
    daily_km: float | None

    @property
    def due(self) -> date:
        """Whichever comes first (time wins a tie)."""
        if self.due_by_mileage is not None and self.due_by_mileage < self.due_by_time:
            return self.due_by_mileage
        return self.due_by_time

    @property
    def basis(self) -> str:
        """``"time"`` or ``"mileage"``: which prediction set the due date."""
        return "time" if self.due == self.due_by_time else "mileage"


def predict_maintenance(vehicle: VehicleFacts, settings: Settings) -> MaintenancePrediction | None:
    """R2 due date: last service + ``maintenance_interval_months``, or the day the mileage
    reaches last-service mileage + ``maintenance_interval_km`` at the average daily
    mileage, whichever comes first.

    Decisions: without a first/regular service visit the delivery date is the last
    service, at 0 km. The mileage forecast runs from the latest reading and is never
    earlier than that reading's date (when that reading already exceeds the target, the
    vehicle was overdue when last seen). The day the target is reached is rounded up.
    None when there is neither a service visit nor a delivery date.
    """
    services = [v for v in vehicle.visits if v.kind in SERVICE_KINDS]
    if services:
        last = max(services, key=lambda v: (v.date, v.mileage or 0))
        last_service, last_service_km = last.date, last.mileage
    elif vehicle.delivery_date is not None:
        last_service, last_service_km = vehicle.delivery_date, 0
    else:
        return None
    readings = [(v.date, v.mileage) for v in vehicle.visits if v.mileage is not None]
    return maintenance_prediction(
        last_service,
        last_service_km,
        min(readings) if readings else None,
        max(readings) if readings else None,
        settings,
    )


def maintenance_prediction(
    last_service: date,
    last_service_km: int | None,
    first_reading: tuple[date, int] | None,
    last_reading: tuple[date, int] | None,
    settings: Settings,
) -> MaintenancePrediction:
    """:func:`predict_maintenance` from the few values it reads: the last service (date,
    km), and the earliest and the latest odometer reading by (date, km). The generator
    calls it on its per-vehicle history summary to leave out the vehicles whose R2 and
    R16 windows cannot contain the day (:func:`maintenance_in_view`)."""
    due_by_time = add_months(last_service, settings.maintenance_interval_months)
    daily_km = None
    if first_reading is not None and last_reading is not None:
        daily_km = _daily_km(first_reading, last_reading)
    due_by_mileage = None
    if daily_km is not None and last_service_km is not None:
        read_on, read_km = last_reading
        remaining = last_service_km + settings.maintenance_interval_km - read_km
        days_left = max(0, math.ceil(remaining / daily_km))
        due_by_mileage = read_on + timedelta(days=days_left)
    return MaintenancePrediction(
        last_service, last_service_km, due_by_time, due_by_mileage, daily_km
    )


def maintenance_in_view(prediction: MaintenancePrediction, settings: Settings, today: date) -> bool:
    """Whether ``today`` may be inside the window of R2 (due − ``maintenance_lead_days`` …
    due) or of R16's maintenance invitation (due − ``appointment_lead_days`` … due). False
    means both propose_maintenance and propose_appointment's maintenance cycle answer
    ``not_due`` or ``window_closed`` for this prediction (see their window checks)."""
    lead = max(settings.maintenance_lead_days, settings.appointment_lead_days)
    return prediction.due - timedelta(days=lead) <= today <= prediction.due


def propose_maintenance(
    vehicle: VehicleFacts, customer: CustomerFacts, settings: Settings, today: date
) -> Proposal:
    """R2 – regular-maintenance reminder 定保提醒: opens due − ``maintenance_lead_days``,
    deadline the predicted due date (see :func:`predict_maintenance`); fallback e-mail
    (SMS without an address). Key ``maintenance:<vin>:<last service date>`` – stable while
    new readings move the prediction. Purpose met: any visit after the last service and
    on or after the day the window opened (the customer came in)."""
    prediction = predict_maintenance(vehicle, settings)
    if prediction is None:
        return Skip(SkipReason.NO_DATA, None)
    key = f"maintenance:{vehicle.vin}:{prediction.last_service.isoformat()}"
    due = prediction.due
    opens_on = due - timedelta(days=settings.maintenance_lead_days)
    if skip := check_window(today, opens_on, due, key):
        return skip
    if any(v.date > prediction.last_service and v.date >= opens_on for v in vehicle.visits):
        return Skip(SkipReason.PURPOSE_MET, key)
    params: dict[str, Any] = {
        "last_service": prediction.last_service,
        "due": due,
        "interval_months": settings.maintenance_interval_months,
        "interval_km": settings.maintenance_interval_km,
        "last_service_km": prediction.last_service_km,
        "daily_km": None if prediction.daily_km is None else round(prediction.daily_km, 1),
        "due_by_time": prediction.due_by_time,
        "due_by_mileage": prediction.due_by_mileage,
    }
    reason = Reason(f"maintenance.reason_{prediction.basis}", params)
    return _propose(
        TaskType.MAINTENANCE,
        key,
        opens_on,
        end_of_day(due, settings.timezone),
        reason,
        customer,
        (Channel.EMAIL, Channel.SMS),
        vin=vehicle.vin,
    )


# --- R3 warranty expiry ----------------------------------------------------------------


def propose_warranty_expiry(
    vehicle: VehicleFacts, customer: CustomerFacts, settings: Settings, today: date
) -> Proposal:
    """R3 – warranty-expiry reminder 保修到期提醒: opens warranty end −
    ``warranty_lead_months``, deadline the warranty end; fallback SMS. Key
    ``warranty_expiry:<vin>:<warranty end>``. Decision: a vehicle already past its
    warranty mileage gets none (``not_applicable``: the warranty has already ended)."""
    if vehicle.warranty_end is None:
        return Skip(SkipReason.NO_DATA, None)
    key = f"warranty_expiry:{vehicle.vin}:{vehicle.warranty_end.isoformat()}"
    opens_on = add_months(vehicle.warranty_end, -settings.warranty_lead_months)
    if skip := check_window(today, opens_on, vehicle.warranty_end, key):
        return skip
    mileage = lapsed.known_mileage(vehicle)
    if vehicle.warranty_km is not None and mileage is not None and mileage > vehicle.warranty_km:
        return Skip(SkipReason.NOT_APPLICABLE, key)
    reason = Reason("warranty_expiry.reason", {"warranty_end": vehicle.warranty_end})
    return _propose(
        TaskType.WARRANTY_EXPIRY,
        key,
        opens_on,
        end_of_day(vehicle.warranty_end, settings.timezone),
        reason,
        customer,
        SMS_FALLBACK,
        vin=vehicle.vin,
    )


# --- R4 annual inspection --------------------------------------------------------------


def propose_inspection(
    vehicle: VehicleFacts, customer: CustomerFacts, settings: Settings, today: date
) -> Proposal:
    """R4 – annual-inspection reminder 年检提示: opens inspection due −
    ``inspection_lead_months``, deadline the due date; fallback SMS. Key
    ``inspection:<vin>:<due date>`` (a new due date from the DMS is a new cycle)."""
    due = vehicle.inspection_due
    if due is None:
        return Skip(SkipReason.NO_DATA, None)
    key = f"inspection:{vehicle.vin}:{due.isoformat()}"
    opens_on = add_months(due, -settings.inspection_lead_months)
    if skip := check_window(today, opens_on, due, key):
        return skip
    reason = Reason("inspection.reason", {"inspection_due": due})
    return _propose(
        TaskType.INSPECTION,
        key,
        opens_on,
        end_of_day(due, settings.timezone),
        reason,
        customer,
        SMS_FALLBACK,
        vin=vehicle.vin,
    )


# --- R5 insurance renewal --------------------------------------------------------------


def propose_insurance_renewal(
    policy: PolicyFacts, customer: CustomerFacts, settings: Settings, today: date
) -> Proposal:
    """R5 – insurance-renewal reminder 保险到期提醒: opens expiry −
    ``insurance_lead_months``, deadline the expiry; owner the policy's insurance
    specialist; fallback SMS. Key ``insurance_renewal:<policy_no>:<expiry>``. Purpose met:
    the policy was already renewed (``policy.renewed``)."""
    key = f"insurance_renewal:{policy.policy_no}:{policy.expiry.isoformat()}"
    opens_on = add_months(policy.expiry, -settings.insurance_lead_months)
    if skip := check_window(today, opens_on, policy.expiry, key):
        return skip
    if policy.renewed:
        return Skip(SkipReason.PURPOSE_MET, key)
    reason = Reason(
        "insurance_renewal.reason", {"policy_no": policy.policy_no, "expiry": policy.expiry}
    )
    return _propose(
        TaskType.INSURANCE_RENEWAL,
        key,
        opens_on,
        end_of_day(policy.expiry, settings.timezone),
        reason,
        customer,
        SMS_FALLBACK,
        owner_rule=OwnerRule.POLICY_SPECIALIST,
        owner_id=policy.specialist_id,
        vin=policy.vin,
    )


# --- R6 birthday -----------------------------------------------------------------------


@dataclass(frozen=True)
class Greeting:
    """One day a customer's birthday is greeted."""

    day: date
    cycle_year: int  # the lunar year for a lunar birthday, else the solar year
    lunar: str | None = None  # the lunar "MM-DD" it came from


def birthdays_in_solar_year(
    customer: CustomerFacts, year: int, lunar_to_solar: LunarConverter | None = None
) -> list[Greeting] | None:
    """The greetings that fall in solar ``year`` (usually one; none or two can happen
    for a lunar birthday late in the lunar year).

    A lunar birthday (when set and convertible) wins over the solar one. Lunar dates of
    lunar year Y fall in solar Y or, late in the year, early Y+1, so lunar years
    ``year − 1`` and ``year`` are tried; the cycle year is the lunar year (a lunar
    birthday in the 12th month can fall twice in one solar year, never twice in one
    lunar year). Without a converter, or when it converts neither year, the solar
    birthday is used (29 Feb → 28 Feb in a common year). None when the customer has no
    usable birthday at all.
    """
    if customer.birthday_lunar and lunar_to_solar is not None:
        converted = [
            (lunar_to_solar(customer.birthday_lunar, lunar_year), lunar_year)
            for lunar_year in (year - 1, year)
        ]
        if any(day is not None for day, _ in converted):
            return [
                Greeting(day, lunar_year, customer.birthday_lunar)
                for day, lunar_year in converted
                if day is not None and day.year == year
            ]
    if customer.birthday is not None:
        return [Greeting(birthday_in_year(customer.birthday, year), year)]
    return None


def propose_birthday(
    customer: CustomerFacts,
    settings: Settings,
    today: date,
    lunar_to_solar: LunarConverter | None = None,
) -> Proposal:
    """R6 – birthday greeting 生日祝福: on the birthday, opens at ``workday_start`` local
    time, due ``birthday_window_hours`` later; fallback SMS the same morning. Key
    ``birthday:<customer_no>:<year>`` (the lunar year for a lunar birthday, see
    :func:`birthdays_in_solar_year`).

    ``lunar_to_solar`` converts ``birthday_lunar`` (care.calendars.lunar_birthday_in_year).
    The window is the birthday itself: generating later that day still proposes the task
    (already overdue, so its fallback goes out at once); the next day it is closed.
    """
    greetings = birthdays_in_solar_year(customer, today.year, lunar_to_solar)
    if greetings is None:
        return Skip(SkipReason.NO_DATA, None)
    todays = [g for g in greetings if g.day == today]
    if not todays:
        passed = any(g.day < today for g in greetings)
        return Skip(SkipReason.WINDOW_CLOSED if passed else SkipReason.NOT_DUE, None)
    greeting = todays[0]
    key = f"birthday:{customer.customer_no}:{greeting.cycle_year}"
    opens_at = local_datetime(greeting.day, settings.workday_start, settings.timezone)
    due_at = opens_at + timedelta(hours=settings.birthday_window_hours)
    if greeting.lunar:
        reason = Reason(
            "birthday.reason_lunar", {"birthday": greeting.day, "lunar": greeting.lunar}
        )
    else:
        reason = Reason("birthday.reason", {"birthday": greeting.day})
    return _propose(TaskType.BIRTHDAY, key, greeting.day, due_at, reason, customer, SMS_FALLBACK)


# --- R7 post-delivery call -------------------------------------------------------------


def propose_delivery_call(
    delivery: DeliveryFacts, customer: CustomerFacts, settings: Settings, today: date
) -> Proposal:
    """R7 – post-delivery call 交车24小时回访: opens at the delivery time, due
    ``delivery_call_hours`` later; owner the selling consultant; no fallback. Key
    ``delivery_call:<vin>``. The window in days runs from the local delivery date to the
    local date of the due time (a delivery file arriving the next day still creates it)."""
    key = f"delivery_call:{delivery.vin}"
    delivered_at = to_local(delivery.delivered_at, settings.timezone)
    due_at = delivered_at + timedelta(hours=settings.delivery_call_hours)
    opens_on = delivered_at.date()
    if skip := check_window(today, opens_on, local_date(due_at, settings.timezone), key):
        return skip
    reason = Reason("delivery_call.reason", {"delivered_at": delivered_at, "due_at": due_at})
    return _propose(
        TaskType.DELIVERY_CALL,
        key,
        opens_on,
        due_at,
        reason,
        customer,
        NO_FALLBACK,
        owner_rule=OwnerRule.CONSULTANT,
        owner_id=delivery.consultant_id,
        vin=delivery.vin,
    )


# --- R8 post-delivery survey -----------------------------------------------------------


def propose_delivery_survey(
    delivery: DeliveryFacts, customer: CustomerFacts, settings: Settings, today: date
) -> Proposal:
    """R8 – post-delivery survey 交车满意度回访: opens the day after the delivery file
    arrived, deadline file day + ``delivery_survey_days``; no fallback (survey
    unreachable). Key ``delivery_survey:<vin>``. Not yet arrived → ``no_data``."""
    key = f"delivery_survey:{delivery.vin}"
    if delivery.file_arrived_on is None:
        return Skip(SkipReason.NO_DATA, key)
    opens_on = delivery.file_arrived_on + timedelta(days=1)
    deadline = delivery.file_arrived_on + timedelta(days=settings.delivery_survey_days)
    if skip := check_window(today, opens_on, deadline, key):
        return skip
    reason = Reason(
        "delivery_survey.reason",
        {
            "delivered_at": to_local(delivery.delivered_at, settings.timezone),
            "file_arrived_on": delivery.file_arrived_on,
        },
    )
    return _propose(
        TaskType.DELIVERY_SURVEY,
        key,
        opens_on,
        end_of_day(deadline, settings.timezone),
        reason,
        customer,
        NO_FALLBACK,
        vin=delivery.vin,
    )


def delivery_call_in_time(
    delivered_at: datetime, call_times: Iterable[datetime], settings: Settings
) -> bool:
    """R8 checks R7: did a call (the caller passes the times of the consultant's calls)
    happen within ``delivery_call_check_hours`` of the delivery? Both ends included."""
    limit = delivered_at + timedelta(hours=settings.delivery_call_check_hours)
    return any(delivered_at <= t <= limit for t in call_times)


# --- R9 lapsed recall ------------------------------------------------------------------


def propose_lapsed_recall(
    vehicle: VehicleFacts, customer: CustomerFacts, settings: Settings, today: date
) -> Proposal:
    """R9 – lapsed-customer recall 流失客户回访, monthly: for a vehicle whose last visit
    was ``lapsed_min_days`` … ``lapsed_max_days`` days ago. Opens the first of the month,
    or the day it became lapsed if later; deadline the end of the month; no fallback.
    Key ``lapsed_recall:<vin>:<YYYY-MM>``.

    Decision (catch-up): a vehicle that was lapsed on any day of this month up to today
    is proposed, even if it passed ``lapsed_max_days`` after the 1st; a vehicle lapsed
    longer than that since before this month is ``window_closed``. The classification
    (care.domain.lapsed, as of the opening day so that the proposal is the same all
    month) is in the reason's params.
    """
    span = lapsed.lapsed_span(vehicle, settings)
    if span is None:
        return Skip(SkipReason.NO_DATA, None)
    key = f"lapsed_recall:{vehicle.vin}:{month_key(today)}"
    month_start = first_of_month(today)
    lapsed_from, lapsed_until = span
    if today < lapsed_from:
        return Skip(SkipReason.NOT_DUE, key)
    if lapsed_until < month_start:
        return Skip(SkipReason.WINDOW_CLOSED, key)
    opens_on = max(month_start, lapsed_from)
    cls = lapsed.classify(vehicle, settings, opens_on)  # as of opening: stable all month
    reason = Reason(
        "lapsed_recall.reason",
        {
            "last_visit": lapsed.last_visit_date(vehicle),
            "lapsed_since": lapsed_from,
            "location": cls.location.value,
            "group": cls.detail.value,
        },
    )
    return _propose(
        TaskType.LAPSED_RECALL,
        key,
        opens_on,
        end_of_day(end_of_month(today), settings.timezone),
        reason,
        customer,
        NO_FALLBACK,
        vin=vehicle.vin,
    )


# --- R10 post-service callback ---------------------------------------------------------


def propose_service_callback(
    visit: VisitFacts,
    vehicle: VehicleFacts,
    customer: CustomerFacts,
    settings: Settings,
    today: date,
) -> Proposal:
    """R10 – post-service callback 服务回访: opens the day after the visit, deadline
    visit day + ``service_callback_days``; no fallback. Key ``service_callback:<ro_no>``.
    Every visit kind gets one; a visit without a repair-order number → ``no_data``."""
    if not visit.ro_no:
        return Skip(SkipReason.NO_DATA, None)
    key = f"service_callback:{visit.ro_no}"
    opens_on = visit.date + timedelta(days=1)
    deadline = visit.date + timedelta(days=settings.service_callback_days)
    if skip := check_window(today, opens_on, deadline, key):
        return skip
    reason = Reason(
        "service_callback.reason",
        {"ro_no": visit.ro_no, "visit_date": visit.date, "kind": visit.kind},
    )
    return _propose(
        TaskType.SERVICE_CALLBACK,
        key,
        opens_on,
        end_of_day(deadline, settings.timezone),
        reason,
        customer,
        NO_FALLBACK,
        vin=vehicle.vin,
    )


# --- R16 proactive appointment -----------------------------------------------------------


def propose_appointment(
    vehicle: VehicleFacts,
    customer: CustomerFacts,
    settings: Settings,
    today: date,
    *,
    booked: bool = False,
) -> Proposal:
    """R16 – proactive appointment 主动预约: a call inviting the customer to book a service
    appointment, with the appointment script, for a vehicle close to its service time.

    Which service: the first service while it is not done and its window has not closed
    (the window opens delivery + ``first_service_open_months``, closes delivery +
    ``first_service_deadline_months``); after that the regular maintenance R2 predicts
    (:func:`predict_maintenance`: by time or mileage, whichever comes first). The task
    opens ``appointment_lead_days`` before the service time (the first-service window's
    opening, the predicted maintenance due date) and is due when the service is: the end
    of the first-service window, the maintenance due date.

    Keys: ``appointment:<vin>:first_service`` and ``appointment:<vin>:<last service date>``
    (the R2 cycle), so a vehicle gets one per service cycle however often the generator
    runs. Purpose met: ``booked`` (the vehicle has an active appointment today or later:
    the caller decides what active means), or the service was done (R1's and R2's
    purpose rules).

    Decisions: the invitation is a call or nothing — a customer who refuses calls gets
    none (``consent``: their R1/R2 reminder already goes by SMS or e-mail); no fallback
    message (the R1/R2 reminder of the same cycle carries it; a second message would
    say the same thing twice); a number to correct sends it to the R12 queue like any
    call task."""
    lead = timedelta(days=settings.appointment_lead_days)
    first_service = _first_service_cycle(vehicle, settings, today)
    if first_service is not None:
        service_on, deadline = first_service
        key = f"appointment:{vehicle.vin}:first_service"
        kind = FIRST_SERVICE_KIND
        reason = Reason(
            "appointment.reason_first_service", {"window_opens": service_on, "due": deadline}
        )
        done = False  # _first_service_cycle: not done yet
    else:
        prediction = predict_maintenance(vehicle, settings)
        if prediction is None:
            return Skip(SkipReason.NO_DATA, None)
        service_on = deadline = prediction.due
        key = f"appointment:{vehicle.vin}:{prediction.last_service.isoformat()}"
        kind = MAINTENANCE_KIND
        reason = Reason(
            "appointment.reason_maintenance",
            {"last_service": prediction.last_service, "due": deadline, "basis": prediction.basis},
        )
        done = any(
            v.date > prediction.last_service and v.date >= service_on - lead for v in vehicle.visits
        )
    opens_on = service_on - lead
    if skip := check_window(today, opens_on, deadline, key):
        return skip
    if done or booked:
        return Skip(SkipReason.PURPOSE_MET, key)
    if customer.no_call:
        return Skip(SkipReason.CONSENT, key)
    return TaskProposal(
        type=TaskType.APPOINTMENT,
        cycle_key=key,
        opens_on=opens_on,
        due_at=end_of_day(deadline, settings.timezone),
        owner_rule=OwnerRule.ROUND_ROBIN,
        channel=Channel.CALL,
        reason=Reason(reason.message_id, {**reason.params, "kind": kind}),
        fallback=None,
        needs_number_correction=not customer.has_valid_phone,
        vin=vehicle.vin,
    )


def _first_service_cycle(
    vehicle: VehicleFacts, settings: Settings, today: date
) -> tuple[date, date] | None:
    """(window opens, deadline) of the first service while it is the vehicle's next
    service: delivered, not done here, and its deadline not passed on ``today``."""
    if vehicle.delivery_date is None:
        return None
    deadline = add_months(vehicle.delivery_date, settings.first_service_deadline_months)
    if today > deadline or first_service_done(vehicle, deadline):
        return None
    return add_months(vehicle.delivery_date, settings.first_service_open_months), deadline

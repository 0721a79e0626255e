"""What things are called in the user's language: the one home of the display labels.

Every vocabulary the pages show (task types, outcomes, visit kinds, appointment and call
statuses, roles, settings …) is listed here once, by subject, each English text marked
where it is written: `_l(…)` here, `N_(…)` in the pure domain (outcomes, settings, script
fields), which this module translates at render time with `gettext`. `make
extract-messages` finds both.

Templates call the lookup functions below, registered as template globals for every page
by `register(app)` (care/web/__init__.py); views and forms import the tables. A value
without a label shows as itself. tests/web/test_labels.py checks that every value of the
enums has a label here.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime

from flask import g, has_request_context
from flask_babel import format_date, format_datetime, get_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from care.domain import attempts as attempt_rules
from care.domain import kpis as kpi_rules
from care.domain import outcomes as outcome_rules
from care.domain import sampling as sampling_rules
from care.domain import scripts as script_rules
from care.domain import settings as setting_rules
from care.domain import violations as violation_rules
from care.domain.dates import END_OF_DAY, to_local
from care.domain.reasons import render_reason
from care.domain.roles import Role
from care.services import Actor
from care.web.request_settings import current_settings


def resolved(table: Mapping) -> Mapping[str, str]:
    """``table`` with its lazy labels turned into text in the request's language, once per
    request and language: a page of 50 worklist lines asks for the same few labels
    hundreds of times, and each lazy label is a full gettext lookup. Outside a request
    (the CLI, messages) the labels are resolved on each call, as before."""
    if not has_request_context():
        return {key: str(label) for key, label in table.items()}
    cache = g.setdefault("_resolved_labels", {})
    key = (id(table), str(get_locale()))
    found = cache.get(key)
    if found is None:
        found = cache[key] = {k: str(label) for k, label in table.items()}
    return found


def _label(table: Mapping, value) -> str:
    """The label of `value` in `table`, else the value itself ("" for None)."""
    if value is None:
        return ""
    label = resolved(table).get(value)
    return label if label is not None else str(value)


# --- roles -------------------------------------------------------------------------------

ROLES = {
    Role.SPECIALIST: _l("Care specialist"),
    Role.INSURANCE: _l("Insurance specialist"),
    Role.CARE_MANAGER: _l("Care manager"),
    Role.CONSULTANT: _l("Sales consultant"),
    Role.SALES_MANAGER: _l("Sales manager"),
    Role.FRONT_DESK: _l("Front desk (service reception)"),
    Role.GENERAL_MANAGER: _l("General manager"),
    Role.ADMIN: _l("Administrator"),
}


def role_label(role) -> str:
    try:
        return str(ROLES[Role(role)])
    except (KeyError, ValueError):
        return str(role)


# --- care tasks --------------------------------------------------------------------------

TASK_TYPES = {
    "first_service": _l("First service"),
    "maintenance": _l("Maintenance"),
    "warranty_expiry": _l("Warranty expiry"),
    "inspection": _l("Annual inspection"),
    "insurance_renewal": _l("Insurance renewal"),
    "birthday": _l("Birthday"),
    "delivery_call": _l("Post-delivery call"),
    "delivery_survey": _l("Post-delivery survey"),
    "lapsed_recall": _l("Lapsed recall"),
    "service_callback": _l("Service callback"),
    "appointment": _l("Appointment"),
}

TASK_STATUSES = {
    "open": _l("Open"),
    "blocked": _l("Number correction"),
    "done": _l("Done"),
    "failed": _l("Reminder failed"),
    "canceled": _l("Canceled"),
    "expired": _l("Expired"),
}

CHANNELS = {
    "call": _l("Call"),
    "sms": _l("SMS"),
    "email": _l("E-mail"),
}

OWNER_RULES = {
    "round_robin": _l("Round-robin among specialists"),
    "policy_specialist": _l("The policy's insurance specialist"),
    "consultant": _l("The selling consultant"),
}


# Message templates that belong to no task type (care.services.message_templates).
MESSAGE_KINDS = {
    "appointment_reminder": _l("Appointment reminder (the day before)"),
}


def task_type_label(value: str | None) -> str:
    """A task type's label; also names the message templates of MESSAGE_KINDS."""
    return _label(TASK_TYPES, value) if value in TASK_TYPES else _label(MESSAGE_KINDS, value)


def task_status_label(value: str | None) -> str:
    return _label(TASK_STATUSES, value)


def channel_label(value: str | None) -> str:
    return _label(CHANNELS, value)


def owner_rule_label(value: str | None) -> str:
    return _label(OWNER_RULES, value)


# --- task reasons ------------------------------------------------------------------------

# The translations of care.domain.task_rules.REASON_MESSAGES (same ids, same field names; dates
# are formatted by Babel in the dealer's time zone, so the translations carry no format
# specs). tests/web/test_worklist.py checks ids and fields.
REASON_TEMPLATES = {
    "first_service.reason": _l("delivered {delivered} → first service due by {due}"),
    "maintenance.reason_time": _l(
        "last service {last_service} → maintenance due by {due} ({interval_months} months)"
    ),
    "maintenance.reason_mileage": _l(
        "last service {last_service} at {last_service_km} km, about {daily_km} km a day"
        " → next {interval_km} km service due by {due}"
    ),
    "warranty_expiry.reason": _l("warranty ends {warranty_end}"),
    "inspection.reason": _l("annual inspection due {inspection_due}"),
    "insurance_renewal.reason": _l("policy {policy_no} expires {expiry}"),
    "birthday.reason": _l("birthday {birthday}"),
    "birthday.reason_lunar": _l("lunar birthday {lunar} falls on {birthday}"),
    "delivery_call.reason": _l("delivered {delivered_at} → call by {due_at}"),
    "delivery_survey.reason": _l("delivered {delivered_at}, delivery file of {file_arrived_on}"),
    "lapsed_recall.reason": _l("no visit since {last_visit} ({group})"),
    "service_callback.reason": _l("service visit {visit_date} (order {ro_no})"),
    "appointment.reason_first_service": _l("first service window {window_opens} – {due}: invite to book"),
    "appointment.reason_maintenance": _l("maintenance due by {due}: invite to book"),
    "appointment.reason_no_show": _l("missed the appointment of {date} {time}: call to book again"),
}

# The lapsed-customer groups (care.domain.lapsed), shown inside a reason.
LAPSED_GROUPS = {
    "local": _l("local"),
    "out_of_town": _l("out of town"),
    "local_in_warranty": _l("local, in warranty"),
    "local_out_of_warranty": _l("local, out of warranty"),
    "out_of_town_in_warranty": _l("out of town, in warranty"),
    "out_of_town_out_of_warranty": _l("out of town, out of warranty"),
}

DATE_PATTERN = "yyyy-MM-dd"
DATETIME_PATTERN = "yyyy-MM-dd HH:mm"


def show_date(d: date) -> str:
    return format_date(d, DATE_PATTERN)


def show_datetime(dt: datetime) -> str:
    """An aware instant in the dealer's time zone (Flask-Babel's time zone is the
    ``timezone`` setting); a naive one is taken as it is."""
    if dt.tzinfo is None:
        return dt.strftime("%Y-%m-%d %H:%M")
    return format_datetime(dt, DATETIME_PATTERN)


def reason_text(task) -> str:
    """The task's reason in the user's language, e.g. "delivered 2026-09-15 → first
    service due by 2026-12-15"."""
    # Reason params that are words, not data, shown by their labels.
    param_labels = {"group": LAPSED_GROUPS, "location": LAPSED_GROUPS, "kind": VISIT_KINDS}
    return render_reason(
        task.reason_id,
        task.reason_params,
        resolved(REASON_TEMPLATES),
        fmt_date=show_date,
        fmt_datetime=show_datetime,
        labels={k: resolved(table) for k, table in param_labels.items()},
    )


def task_due(due_at: datetime | None) -> str:
    """A deadline: the day alone when it is the end of a day (23:59:59 at the dealer),
    else the day and the time (a birthday's 10:30, a post-delivery call's hour)."""
    if due_at is None:
        return ""
    if due_at.tzinfo is None:
        return show_datetime(due_at)
    local = to_local(due_at, current_settings().timezone)
    if local.time().replace(microsecond=0) == END_OF_DAY:
        return show_date(local.date())
    return show_datetime(due_at)


# --- outcomes (care.domain.outcomes marks its labels with N_) -----------------------------


def outcome_label(task_type: str | None, code: str | None) -> str:
    """An outcome in the user's language (its code when unknown)."""
    if not code:
        return ""
    spec = outcome_rules.outcome_spec(task_type or "", code)
    label = spec.label if spec else outcome_rules.all_outcome_labels().get(code)
    return _(label) if label else code


def note_condition(task_type: str | None) -> str:
    """When an outcome's note is required, as the note's label says it after "Note": "(required
    when you choose “Other” as the loss reason)" (备注（选择流失原因“其他”时必填）), else
    "(optional)". Built from care.domain.outcomes.note_rules, the rules validate_outcome
    applies. The brackets are part of the text: Chinese writes them full-width."""
    cases = []
    for rule in outcome_rules.note_rules(task_type or ""):
        if rule.field_label and rule.choice_label:
            field = _(rule.field_label)
            cases.append(_("“%(choice)s” as the %(field)s", choice=_(rule.choice_label), field=field[:1].lower() + field[1:]))
        else:
            cases.append(f"“{_(rule.outcome_label)}”")
    if not cases:
        return _("(optional)")
    return _("(required when you choose %(cases)s)", cases=_(" or ").join(cases))


# --- the insurance QA sample's verdicts (care.domain.sampling marks them with N_) ----------


def verdict_label(value: str | None) -> str:
    """A sampled call's verdict (R21) in the user's language (itself when unknown)."""
    label = sampling_rules.VERDICT_LABELS.get(value) if value else None
    return _(label) if label else (value or "")


# --- violations (R23; care.domain.violations marks its rules and statuses with N_) ---------

EVIDENCE_KINDS = {
    "task": _l("Task"),
    "call_attempt": _l("Call"),
    "reminder_failure": _l("Fallback record"),
    "customer": _l("Customer"),
    "sample_call": _l("Sampled call"),
    "survey_response": _l("Survey response"),
    "campaign": _l("Greeting campaign"),
    "monthly_report": _l("Monthly report"),
    "register_day": _l("Appointment register of the day"),
}


def violation_rule_label(code: str | None) -> str:
    """A violation's rule (R23) in the user's language (its code when unknown)."""
    label = violation_rules.RULE_LABELS.get(code) if code else None
    return _(label) if label else (code or "")


def violation_status_label(value: str | None) -> str:
    label = violation_rules.STATUS_LABELS.get(value) if value else None
    return _(label) if label else (value or "")


def evidence_label(kind: str | None) -> str:
    """What a piece of a violation's evidence is (its kind when another part of the app
    added a kind not named here)."""
    return _label(EVIDENCE_KINDS, kind)


# --- customers, visits and appointments ---------------------------------------------------

CUSTOMER_CLASSES = {
    "potential": _l("Potential"),
    "existing": _l("Existing"),
    "vip": _l("VIP"),
    "key": _l("Key account"),
}

# Visit kinds (care.models.service.VisitKind), also the service kind of an appointment.
VISIT_KINDS = {
    "first_service": _l("First service"),
    "maintenance": _l("Regular maintenance"),
    "repair": _l("Repair"),
    "warranty": _l("Warranty"),
    "other": _l("Other"),
}

APPOINTMENT_STATUSES = {
    "booked": _l("booked"),
    "confirmed": _l("confirmed"),
    "arrived": _l("arrived"),
    "no_show": _l("no-show"),
    "cancelled": _l("cancelled"),
    "rescheduled": _l("rescheduled"),
}
# Where a register line comes from, and how the two copies differ (R17).
REGISTER_SOURCES = {
    "care": _l("care department only"),
    "front_desk": _l("front desk only"),
    "both": _l("both copies"),
}
REGISTER_DIFFERENCES = {
    "missing_at_front_desk": _l("Missing at the front desk"),
    "missing_in_care": _l("Missing in the care register"),
    "time_differs": _l("Time differs"),
    "kind_differs": _l("Service differs"),
}


def customer_class_label(value: str | None) -> str:
    return _label(CUSTOMER_CLASSES, value)


def visit_kind_label(value: str | None) -> str:
    return _label(VISIT_KINDS, value)


def visit_kind_choices() -> list[tuple[str, str]]:
    """(value, label) of every visit kind, in order (a booking's service)."""
    return [(k, str(v)) for k, v in VISIT_KINDS.items()]


def appointment_status_label(value: str | None) -> str:
    return _label(APPOINTMENT_STATUSES, value)


def register_source_label(value: str | None) -> str:
    return _label(REGISTER_SOURCES, value)


def register_difference_label(value: str | None) -> str:
    return _label(REGISTER_DIFFERENCES, value)


# --- phone numbers to correct (care.services.number_corrections) -------------------------------------

NUMBER_PROBLEMS = {
    "no_number": _l("No number"),
    "invalid": _l("Invalid number"),
    "reported": _l("Number reported wrong"),
}
PHONE_FIELDS = {"mobile": _l("Mobile"), "phone2": _l("Other phone")}


def number_problem_label(value: str | None) -> str:
    return _label(NUMBER_PROBLEMS, value)


def phone_field_choices() -> list[tuple[str, str]]:
    return [(k, str(v)) for k, v in PHONE_FIELDS.items()]


# --- calls -------------------------------------------------------------------------------

# A call's state as the provider reports it: the live panel and a call's event list.
CALL_STATUSES = {
    "requested": _l("Ringing your extension…"),
    "initiated": _l("Ringing your extension…"),
    "ringing": _l("Ringing the customer…"),
    "answered": _l("Connected"),
    "completed": _l("Call ended"),
    "no_answer": _l("No answer"),
    "busy": _l("Busy"),
    "rejected": _l("Rejected by the customer"),
    "invalid_number": _l("Invalid number"),
    "failed": _l("Call failed"),
    "canceled": _l("Hung up before the customer answered"),
    "machine": _l("Answering machine"),
    "in_progress": _l("In progress"),
    "reached": _l("Reached"),
    "voicemail": _l("Voicemail"),
}
# What an attempt came to (its outcome): a call that was answered and then ended normally
# ("completed") reached the customer, so it reads "Connected", not "Call ended".
CALL_RESULTS = {**CALL_STATUSES, "completed": _l("Connected")}
CALL_SLOTS = {"morning": _l("morning"), "afternoon": _l("afternoon"), "evening": _l("evening")}


def call_status_label(status: str | None) -> str:
    return _label(CALL_STATUSES, status)


def call_result_label(outcome: str | None) -> str:
    """An attempt's result: its outcome once it has one (else its status)."""
    return _label(CALL_RESULTS, outcome)


def slot_label(name: str | None) -> str:
    return _label(CALL_SLOTS, name)


@dataclass(frozen=True)
class CallResultWords:
    """A finished call in words: ``label`` (Connected, No answer …) and ``meaning``, what it
    means for the task under R13 as care.domain.attempts counts it. ``counts``: ``reached``
    (not an unsuccessful attempt), ``unsuccessful`` (one of the task's attempts) or ``no``
    (not an attempt at all)."""

    label: str
    meaning: str
    counts: str


def call_result_words(outcome: str | None, plan=None) -> CallResultWords:
    """The words for a call that ended with ``outcome``. ``plan`` (the task's
    care.domain.attempts.AttemptPlan read after this call, when the page has it) adds which
    attempt it was and whether any is left."""
    label = call_result_label(outcome)
    value = (outcome or "").strip().lower()
    if value in attempt_rules.SUCCESS_OUTCOMES:
        return CallResultWords(
            label,
            _("The customer was reached: this is not an unsuccessful attempt. Record the outcome of the conversation."),
            "reached",
        )
    if value == attempt_rules.CANCELED:
        return CallResultWords(
            label, _("Not counted as an attempt: the time slot stays free."), "no"
        )
    if value == attempt_rules.INVALID_NUMBER:
        return CallResultWords(
            label,
            _("Not counted as an attempt: the task waits in the number-correction queue and can be called again once the number is corrected."),
            "no",
        )
    if value not in attempt_rules.UNSUCCESSFUL_OUTCOMES:
        return CallResultWords(label, "", "")
    if plan is None or not plan.used:
        return CallResultWords(label, _("Counts as an unsuccessful attempt."), "unsuccessful")
    numbers = {"n": plan.used, "max": plan.attempts_max}
    if plan.exhausted:
        meaning = _("Unsuccessful attempt %(n)s of %(max)s: no attempts are left for this task.", **numbers)
    elif value == attempt_rules.FAILED:
        meaning = _(
            "Unsuccessful attempt %(n)s of %(max)s: after a network failure you may try once more in this slot.",
            **numbers,
        )
    else:
        meaning = _("Unsuccessful attempt %(n)s of %(max)s: call again in another time slot.", **numbers)
    return CallResultWords(label, meaning, "unsuccessful")


# --- messages (care.services.outbox) ------------------------------------------------------

OUTBOX_STATUSES = {
    "queued": _l("queued"),
    "sent": _l("sent"),
    "failed": _l("failed"),
    "skipped": _l("skipped"),
}


def outbox_status_label(status: str | None) -> str:
    return _label(OUTBOX_STATUSES, status)


# Delivery receipts (care.messaging.receipts), and the campaign pages' message counts.
DELIVERY_STATUSES = {
    "sent": _l("sent, not confirmed yet"),
    "delivered": _l("delivered"),
    "failed": _l("delivery failed"),
    "undelivered": _l("not delivered"),
}
DELIVERY_BUCKETS = {
    "queued": _l("queued"),
    "sent": _l("sent"),
    "delivered": _l("delivered"),
    "failed": _l("failed"),
    "skipped": _l("skipped"),
}


def delivery_status_label(status: str | None) -> str:
    return _label(DELIVERY_STATUSES, status)


# --- greeting campaigns (care.services.campaigns) ---------------------------------------

CAMPAIGN_KINDS = {"holiday": _l("Holiday greeting"), "weather": _l("Special-weather notice")}
CAMPAIGN_STATUSES = {
    "draft": _l("draft"),
    "scheduled": _l("scheduled"),
    "sending": _l("sending"),
    "sent": _l("sent"),
    "cancelled": _l("cancelled"),
}


def campaign_kind_label(value: str | None) -> str:
    return _label(CAMPAIGN_KINDS, value)


def campaign_status_label(value: str | None) -> str:
    return _label(CAMPAIGN_STATUSES, value)


def message_skip_label(value: str | None) -> str:
    """Why an outbox message was not sent (its last_error), in words."""
    return _label(FALLBACK_SKIPS, value)


# --- tasks closed unreached: failed or expired (care.services.fallback, .expiry) ----------

# Why (ReminderFailure.reason).
UNREACHED_REASONS = {
    "no_attempt": _l("Nobody called by the deadline"),
    "not_followed_up": _l("First attempt failed, not followed up (R15)"),
    "window_closed": _l("The 3 days for the attempts ended"),
    "number_not_corrected": _l("The number was never corrected"),
    "attempts_exhausted": _l("All attempts failed"),
    "birthday": _l("The greeting call failed"),
    "message_failed": _l("The message was not delivered"),
}
# What became of the fallback message: its outbox state, or why there is none …
FALLBACK_STATES = {
    "queued": _l("queued"),
    "sent": _l("sent"),
    "failed": _l("could not be sent"),
    "skipped": _l("not sent"),
    "no_fallback_type": _l("none for this task type"),
    "refused": _l("none: the customer refuses the fallback channel"),
    "no_text": _l("none: no message text"),
}
# … and why a message was not sent (OutboxMessage.last_error).
FALLBACK_SKIPS = {
    "consent": _l("the customer refused the channel"),
    "no_address": _l("no usable number or address"),
    "too_late": _l("too late for the birthday"),
    "campaign_cancelled": _l("the campaign was cancelled"),
}


def unreached_reason_label(reason: str | None) -> str:
    return _label(UNREACHED_REASONS, reason)


def fallback_state_label(state: str | None, detail: str | None = None) -> str:
    text = _label(FALLBACK_STATES, state)
    return _("%(state)s: %(reason)s", state=text, reason=_label(FALLBACK_SKIPS, detail)) if detail else text


# --- DMS imports ---------------------------------------------------------------------------

IMPORT_KINDS = {
    "customers": _l("Customers"),
    "vehicles": _l("Vehicles"),
    "visits": _l("Service visits"),
    "policies": _l("Insurance policies"),
    "deliveries": _l("Deliveries"),
    "survey_responses": _l("Survey responses"),
    "appointments": _l("Appointments (front desk register)"),
}
IMPORT_STATUSES = {
    "queued": _l("Queued"),
    "running": _l("Running"),
    "done": _l("Done"),
    "failed": _l("Failed"),
}


def import_kind_label(kind: str | None) -> str:
    return _label(IMPORT_KINDS, kind)


def import_status_label(status: str | None) -> str:
    return _label(IMPORT_STATUSES, status)


# --- task generation (care.services.generator) ---------------------------------------------

GENERATION_SKIP_REASONS = {
    "already_exists": _l("already exists"),
    "purpose_met": _l("purpose already met"),
    "consent": _l("no consent to any channel"),
    "no_channel": _l("no channel reaches the customer"),
    "not_applicable": _l("not applicable"),
    "no_data": _l("data missing"),
    "not_due": _l("not due yet"),
    "window_closed": _l("window closed"),
}
GENERATION_ACTORS = {Actor.SCHEDULER.name: _l("automatic (daily)"), Actor.CLI.name: _l("command line")}


def skip_reason_label(value: str | None) -> str:
    return _label(GENERATION_SKIP_REASONS, value)


def generation_actor_label(value: str | None) -> str:
    return _label(GENERATION_ACTORS, value)


# --- call scripts (care.domain.scripts marks the merge fields' descriptions with N_) --------

SCRIPT_FIELD_GROUPS = {
    script_rules.G_CUSTOMER: _l("Customer"),
    script_rules.G_VEHICLE: _l("Vehicle"),
    script_rules.G_TASK: _l("Task"),
    script_rules.G_INSURANCE: _l("Insurance"),
    script_rules.G_DEALER: _l("Dealer and caller"),
}


def script_field_group_label(group: str | None) -> str:
    return _label(SCRIPT_FIELD_GROUPS, group)


# --- settings (care.domain.settings marks each setting's label with N_) --------------------

SETTING_GROUPS = {
    setting_rules.G_DEALER: _l("Dealership"),
    setting_rules.G_TASKS: _l("Care tasks"),
    setting_rules.G_CALLS: _l("Calls"),
    setting_rules.G_SURVEYS: _l("Surveys"),
    setting_rules.G_COMPLAINTS: _l("Complaints"),
    setting_rules.G_KPI: _l("Supervision and KPIs"),
    setting_rules.G_PENALTY: _l("Penalties"),
    setting_rules.G_SECURITY: _l("Log-in security"),
}

# The units of care.domain.settings, by their English text.
UNITS = {
    "months": _l("months"),
    "km": _l("km"),
    "days": _l("days"),
    "hours": _l("hours"),
    "minutes": _l("minutes"),
    "seconds": _l("seconds"),
    "CNY": _l("CNY"),
    "day of the next month": _l("day of the next month"),
}

# The format of each kind of value, shown under its input (the percentage and index
# kinds carry theirs in care/domain/settings.py).
SETTING_KIND_HINTS = {
    "time": _l("HH:MM, e.g. 08:30"),
    "slots": _l("name=HH:MM-HH:MM, separated by commas, e.g. morning=09:00-12:00, afternoon=14:00-17:30"),
    "range": _l("an amount or a range, e.g. 50-100"),
    "timezone": _l("an IANA time zone, e.g. Asia/Shanghai"),
}


def setting_label(sdef: setting_rules.SettingDef) -> str:
    return _(sdef.label)


def setting_group_label(group: str) -> str:
    return _label(SETTING_GROUPS, group)


def unit_label(text: str) -> str:
    return _label(UNITS, text)


def setting_kind_hint(kind: str) -> str:
    hint = SETTING_KIND_HINTS.get(kind)
    return str(hint) if hint is not None else ""


# --- the monthly KPIs and scorecards (care.domain.kpis marks the figures' names with N_) ---

# Why a task or vehicle did not count in a figure, where the outcome or status has no
# label of its own.
KPI_REASONS = {
    "no_task": _l("No reminder task"),
    "reminder_failed": _l("Not reached: fallback message sent"),
    "expired": _l("Expired unworked"),
}
KPI_PARTS = {
    "denominator": _l("All counted"),
    "numerator": _l("In the numerator"),
    "rest": _l("Not in the numerator"),
}
SCORECARD_GROUPS = {
    "specialist": _l("Care specialists"),
    "insurance": _l("Insurance specialists"),
    "consultant": _l("Sales consultants"),
}


def kpi_label(key: str | None) -> str:
    """A figure's name (care.domain.kpis.KPIS), else its key."""
    d = kpi_rules.KPIS.get(key or "")
    return _(d.label) if d else _label({}, key)


def kpi_reason_label(code: str | None, task_type: str | None = None) -> str:
    """A task's outcome or status as the reason it did not count."""
    if not code:
        return ""
    if code in KPI_REASONS:
        return str(KPI_REASONS[code])
    label = outcome_label(task_type, code)
    return label if label != code else task_status_label(code)


def lapsed_group_label(group: str | None) -> str:
    return _label(LAPSED_GROUPS, group)


def kpi_part_label(part: str | None) -> str:
    return _label(KPI_PARTS, part)


def scorecard_group_label(role: str | None) -> str:
    return _label(SCORECARD_GROUPS, role)


# --- the monthly report (care.domain.monthly_report) -----------------------------------------

REPORT_STATES = {
    "draft": _l("Draft"),
    "submitted": _l("Awaiting approval"),
    "approved": _l("Approved"),
}
REPORT_STEPS = {
    "generated": _l("Figures generated"),
    "regenerated": _l("Figures generated again"),
    "submitted": _l("Submitted"),
    "returned": _l("Sent back"),
    "approved": _l("Approved"),
}
REPORT_ACTORS = {Actor.SCHEDULER.name: _l("automatic (on the 1st)"), Actor.CLI.name: _l("command line")}
REPORT_LATE_RULES = {
    "analysis_not_reported": _l("Analysis not reported on time"),
    "plan_late": _l("Plan approved late"),
}


def report_state_label(value: str | None) -> str:
    return _label(REPORT_STATES, value)


def report_step_label(value: str | None) -> str:
    return _label(REPORT_STEPS, value)


def report_actor_label(value: str | None) -> str:
    return _label(REPORT_ACTORS, value)


def report_late_label(value: str | None) -> str:
    return _label(REPORT_LATE_RULES, value)
# --- surveys (issue 11) ---------------------------------------------------------------------

SURVEY_CHANNELS = {"phone": _l("Phone"), "ivr": _l("IVR"), "paper": _l("Paper form"), "oem": _l("Manufacturer")}
ANSWER_SOURCES = {"phone": _l("Phone"), "ivr": _l("IVR"), "import": _l("Imported")}


def survey_channel_label(code: str | None) -> str:
    return _label(SURVEY_CHANNELS, code)


def answer_source_label(code: str | None) -> str:
    return _label(ANSWER_SOURCES, code)


# --- templates -----------------------------------------------------------------------------

TEMPLATE_GLOBALS = {
    "role_label": role_label,
    "task_type_label": task_type_label,
    "task_status_label": task_status_label,
    "channel_label": channel_label,
    "owner_rule_label": owner_rule_label,
    "task_reason": reason_text,
    "task_due": task_due,
    "outcome_label": outcome_label,
    "verdict_label": verdict_label,
    "violation_rule_label": violation_rule_label,
    "violation_status_label": violation_status_label,
    "evidence_label": evidence_label,
    "customer_class_label": customer_class_label,
    "visit_kind_label": visit_kind_label,
    "visit_kind_choices": visit_kind_choices,
    "appointment_status_label": appointment_status_label,
    "register_source_label": register_source_label,
    "register_difference_label": register_difference_label,
    "number_problem_label": number_problem_label,
    "phone_field_choices": phone_field_choices,
    "call_status_label": call_status_label,
    "call_result_label": call_result_label,
    "call_result_words": call_result_words,
    "note_condition": note_condition,
    "slot_label": slot_label,
    "outbox_status_label": outbox_status_label,
    "delivery_status_label": delivery_status_label,
    "campaign_kind_label": campaign_kind_label,
    "campaign_status_label": campaign_status_label,
    "message_skip_label": message_skip_label,
    "unreached_reason_label": unreached_reason_label,
    "fallback_state_label": fallback_state_label,
    "import_kind_label": import_kind_label,
    "import_status_label": import_status_label,
    "skip_reason_label": skip_reason_label,
    "generation_actor_label": generation_actor_label,
    "kpi_label": kpi_label,
    "kpi_reason_label": kpi_reason_label,
    "lapsed_group_label": lapsed_group_label,
    "kpi_part_label": kpi_part_label,
    "scorecard_group_label": scorecard_group_label,
    "report_state_label": report_state_label,
    "report_step_label": report_step_label,
    "report_late_label": report_late_label,
    "report_actor_label": report_actor_label,
    "survey_channel_label": survey_channel_label,
    "answer_source_label": answer_source_label,
}


def register(app) -> None:
    """Make the lookups above template globals of every page."""
    app.jinja_env.globals.update(TEMPLATE_GLOBALS)


# --- the audit log (care.services.audit; branch small, issue 10 item 8) --------------------
# Each action in words; "action:object_type" where one code names different things.
# An action not listed shows as its code (the page keeps the code as the title anyway).

AUDIT_ACTIONS = {
    "login": _l("Logged in"),
    "login.failed": _l("Log-in failed"),
    "login.locked": _l("Log-in refused: account locked"),
    "logout": _l("Logged out"),
    "user.create": _l("Created a user"),
    "user.update": _l("Changed a user"),
    "user.activate": _l("Reactivated a user"),
    "user.deactivate": _l("Deactivated a user"),
    "user.password_reset": _l("Set a new password for a user"),
    "user.password_change": _l("Changed their own password"),
    "user.unlock": _l("Unlocked a user"),
    "customer.view": _l("Viewed a customer"),
    "customer.search": _l("Searched customers"),
    "customer.export": _l("Exported customers"),
    "customer.phone_corrected": _l("Corrected a phone number"),
    "task.reassign": _l("Reassigned a task"),
    "settings.update": _l("Changed settings"),
    "generation.run": _l("Generated care tasks"),
    "script.save": _l("Saved a script"),
    "script.defaults": _l("Created the default scripts"),
    "message_template.save": _l("Saved a message template"),
    "outbox.view": _l("Viewed the outbox"),
    "import": _l("Imported a DMS file"),
    "export": _l("Exported"),
    "export:import_run": _l("Downloaded the rejected rows of an import"),
    "export:care_tasks": _l("Exported care tasks"),
    "demo.load": _l("Loaded the demo data"),
    "monthly_report.generated": _l("Generated a monthly report"),
    "monthly_report.regenerated": _l("Generated a monthly report's figures again"),
    "monthly_report.submitted": _l("Submitted a monthly report"),
    "monthly_report.returned": _l("Returned a monthly report"),
    "monthly_report.approved": _l("Approved a monthly report"),
}

# The filter's groups (the part of a code before its dot).
AUDIT_ACTION_GROUPS = {
    "login": _l("Log-ins"),
    "logout": _l("Log-ins"),
    "user": _l("Users"),
    "customer": _l("Customers"),
    "task": _l("Care tasks"),
    "generation": _l("Care tasks"),
    "export": _l("Imports and exports"),
    "import": _l("Imports and exports"),
    "settings": _l("Settings and texts"),
    "script": _l("Settings and texts"),
    "message_template": _l("Settings and texts"),
    "outbox": _l("Messages"),
    "demo": _l("Other"),
    "monthly_report": _l("Monthly reports"),
}

# The filter's choice of every action with a prefix ("login.*").
AUDIT_ACTION_ALL = {
    "login": _l("Every log-in attempt"),
    "user": _l("Every change to a user"),
    "customer": _l("Every customer view, search and export"),
    "script": _l("Every script change"),
}

# What a detail's keys are called, and the words of some of their values.
AUDIT_DETAIL_KEYS = {
    "reason": _l("Why"),
    "username": _l("User name"),
    "display_name": _l("Display name"),
    "roles": _l("Roles"),
    "extension": _l("Phone extension"),
    "locale": _l("Language"),
    "active": _l("Active"),
    "unlocked": _l("Lock-out lifted"),
    "by": _l("Searched by"),
    "results": _l("Results"),
    "capped": _l("Cut off at the limit"),
    "full_phones": _l("Full phone numbers"),
    "field": _l("Number"),
    "released_tasks": _l("Tasks released"),
    "correction_id": _l("Correction"),
    "via": _l("Seen in"),
    "task_type": _l("Task type"),
    "version": _l("Version"),
    "fields": _l("Merge fields"),
    "days": _l("Days"),
    "created": _l("Created"),
    "kind": _l("Kind"),
    "status": _l("Status"),
    "total": _l("Rows"),
    "rows": _l("Rows"),
    "what": _l("What"),
    "date": _l("Date"),
    "type": _l("Task type"),
    "page": _l("Page"),
    "messages": _l("Messages shown"),
    "seed": _l("Seed"),
    "customers": _l("Customers"),
    "today": _l("Today"),
    "counts": _l("Counts"),
    "updated": _l("Updated"),
    "unchanged": _l("Unchanged"),
    "rejected": _l("Rejected"),
}
AUDIT_LOGIN_REASONS = {
    "password": _l("wrong password"),
    "unknown": _l("no such user name"),
    "inactive": _l("account disabled"),
}
AUDIT_SEARCH_KINDS = {
    "all": _l("everyone (no search)"),
    "phone": _l("phone number"),
    "vin": _l("VIN"),
    "plate": _l("plate"),
    "name": _l("name"),
    "code": _l("customer number or end of VIN"),
    "text": _l("text"),
}
AUDIT_ACTORS = {
    Actor.CLI.name: _l("command line"),
    Actor.SCHEDULER.name: _l("automatic (daily)"),
    Actor.SYSTEM.name: _l("the system"),
}


def audit_action_label(action: str | None, object_type: str | None = None) -> str:
    """An audit entry's action in words (its code when unknown)."""
    if action is None:
        return ""
    label = AUDIT_ACTIONS.get(f"{action}:{object_type}") or AUDIT_ACTIONS.get(action)
    return str(label) if label is not None else action


def audit_action_group_label(action: str) -> str:
    return _label(AUDIT_ACTION_GROUPS, action.split(".", 1)[0])

# --- the worklist's call states (care.services.worklist; issue 10 items 2-3) ---------------

CALL_STATES = {
    "callable": _l("Callable now"),
    "waiting": _l("Waiting for a slot"),
    "in_progress": _l("Call in progress"),
    "outcome_missing": _l("Answered — outcome missing"),
    "blocked": _l("Blocked"),
    "no_call_left": _l("No call left"),
}
# Why a line is blocked (care.services.worklist BLOCKED_NUMBER, BLOCKED_NO_CALL).
CALL_BLOCKED_REASONS = {
    "number": _l("Number correction"),
    "no_call": _l("Refuses calls"),
}


def call_state_label(value: str | None) -> str:
    return _label(CALL_STATES, value)


def call_blocked_label(value: str | None) -> str:
    return _label(CALL_BLOCKED_REASONS, value)


def slot_occurrence_text(occurrence, today: date) -> str:
    """When a call slot starts, in the dealer's time: "afternoon 14:00", "tomorrow morning
    09:00", "2026-12-09 evening 18:30"."""
    local = to_local(occurrence.starts_at, current_settings().timezone)
    slot, at = slot_label(occurrence.name), local.strftime("%H:%M")
    days = (local.date() - today).days
    if days == 0:
        return _("%(slot)s %(time)s", slot=slot, time=at)
    if days == 1:
        return _("tomorrow %(slot)s %(time)s", slot=slot, time=at)
    return _("%(date)s %(slot)s %(time)s", date=show_date(local.date()), slot=slot, time=at)


def slot_end_text(occurrence) -> str:
    """When a call slot ends, in the dealer's time: "12:00"."""
    return to_local(occurrence.ends_at, current_settings().timezone).strftime("%H:%M")


TEMPLATE_GLOBALS.update(
    {
        "call_state_label": call_state_label,
        "call_blocked_label": call_blocked_label,
        "slot_occurrence_text": slot_occurrence_text,
        "slot_end_text": slot_end_text,
    }
)

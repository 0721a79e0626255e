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
from datetime import date, datetime

from flask_babel import format_date, format_datetime
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from care.domain import outcomes as outcome_rules
from care.domain import sampling as sampling_rules
from care.domain import scripts as script_rules
from care.domain import settings as setting_rules
from care.domain.dates import END_OF_DAY, to_local
from care.domain.reasons import render_reason
from care.domain.roles import Role
from care.services import Actor
from care.web.request_settings import current_settings


def _label(table: Mapping, value) -> str:
    """The label of `value` in `table`, else the value itself ("" for None)."""
    if value is None:
        return ""
    label = table.get(value)
    return str(label) if label is not None else str(value)


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


def task_type_label(value: str | None) -> str:
    return _label(TASK_TYPES, value)


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
        {k: str(v) for k, v in REASON_TEMPLATES.items()},
        fmt_date=show_date,
        fmt_datetime=show_datetime,
        labels={k: {v: str(lbl) for v, lbl in table.items()} for k, table in param_labels.items()},
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


# --- the insurance QA sample's verdicts (care.domain.sampling marks them with N_) ----------


def verdict_label(value: str | None) -> str:
    """A sampled call's verdict (R21) in the user's language (itself when unknown)."""
    label = sampling_rules.VERDICT_LABELS.get(value) if value else None
    return _(label) if label else (value or "")


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
    "canceled": _l("canceled"),
    "arrived": _l("arrived"),
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

CALL_STATUSES = {
    "requested": _l("Ringing your extension…"),
    "initiated": _l("Ringing your extension…"),
    "ringing": _l("Ringing the customer…"),
    "answered": _l("Connected"),
    "completed": _l("Completed"),
    "no_answer": _l("No answer"),
    "busy": _l("Busy"),
    "rejected": _l("Rejected"),
    "invalid_number": _l("Invalid number"),
    "failed": _l("Failed"),
    "canceled": _l("Canceled"),
    "machine": _l("Answering machine"),
    "in_progress": _l("In progress"),
    "reached": _l("Reached"),
    "voicemail": _l("Voicemail"),
}
CALL_SLOTS = {"morning": _l("morning"), "afternoon": _l("afternoon"), "evening": _l("evening")}


def call_status_label(status: str | None) -> str:
    return _label(CALL_STATUSES, status)


def slot_label(name: str | None) -> str:
    return _label(CALL_SLOTS, name)


# --- messages (care.services.outbox) ------------------------------------------------------

OUTBOX_STATUSES = {
    "queued": _l("queued"),
    "sent": _l("sent"),
    "failed": _l("failed"),
    "skipped": _l("skipped"),
}


def outbox_status_label(status: str | None) -> str:
    return _label(OUTBOX_STATUSES, status)


# --- DMS imports ---------------------------------------------------------------------------

IMPORT_KINDS = {
    "customers": _l("Customers"),
    "vehicles": _l("Vehicles"),
    "visits": _l("Service visits"),
    "policies": _l("Insurance policies"),
    "deliveries": _l("Deliveries"),
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
}

# The format of each kind of value, shown under its input.
SETTING_KIND_HINTS = {
    "time": _l("HH:MM, e.g. 08:30"),
    "slots": _l("name=HH:MM-HH:MM, separated by commas, e.g. morning=09:00-12:00, afternoon=14:00-17:30"),
    "float": _l("a fraction or a percentage: 0.8 or 80%"),
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
    "customer_class_label": customer_class_label,
    "visit_kind_label": visit_kind_label,
    "visit_kind_choices": visit_kind_choices,
    "appointment_status_label": appointment_status_label,
    "number_problem_label": number_problem_label,
    "phone_field_choices": phone_field_choices,
    "call_status_label": call_status_label,
    "slot_label": slot_label,
    "outbox_status_label": outbox_status_label,
    "import_kind_label": import_kind_label,
    "import_status_label": import_status_label,
    "skip_reason_label": skip_reason_label,
    "generation_actor_label": generation_actor_label,
}


def register(app) -> None:
    """Make the lookups above template globals of every page."""
    app.jinja_env.globals.update(TEMPLATE_GLOBALS)

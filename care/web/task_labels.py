"""Care tasks in the user's language: one place for every page that shows a task.

Labels for task types, statuses, channels and owner rules, and the translated reason
templates (the English ones are care.domain.tasks.REASON_MESSAGES; the fields keep their
names, dates are formatted by Babel in the dealer's time zone, so the translations carry
no format specs). ``reason_text(task)`` renders a task's reason.

Registered as template globals by the tasks blueprint (care/web/tasks.py):
``task_type_label``, ``task_status_label``, ``channel_label``, ``owner_rule_label``,
``task_reason``, ``task_due``. tests/web/test_worklist.py checks that every TaskType,
TaskStatus, Channel, OwnerRule and reason id has an entry here.
"""

from __future__ import annotations

from datetime import date, datetime

from flask_babel import format_date, format_datetime
from flask_babel import lazy_gettext as _l

from care.domain.dates import END_OF_DAY, to_local
from care.domain.reasons import render_reason
from care.web.request_settings import current_settings

TYPE_LABELS = {
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

STATUS_LABELS = {
    "open": _l("Open"),
    "blocked": _l("Number correction"),
    "done": _l("Done"),
    "failed": _l("Reminder failed"),
    "canceled": _l("Canceled"),
}

CHANNEL_LABELS = {
    "call": _l("Call"),
    "sms": _l("SMS"),
    "email": _l("E-mail"),
}

OWNER_RULE_LABELS = {
    "round_robin": _l("Round-robin among specialists"),
    "policy_specialist": _l("The policy's insurance specialist"),
    "consultant": _l("The selling consultant"),
}

# The translations of care.domain.tasks.REASON_MESSAGES (same ids, same field names).
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

# Values inside reason params that are words, not data.
LAPSED_GROUP_LABELS = {
    "local": _l("local"),
    "out_of_town": _l("out of town"),
    "local_in_warranty": _l("local, in warranty"),
    "local_out_of_warranty": _l("local, out of warranty"),
    "out_of_town_in_warranty": _l("out of town, in warranty"),
    "out_of_town_out_of_warranty": _l("out of town, out of warranty"),
}
VISIT_KIND_LABELS = {
    "first_service": _l("first service"),
    "maintenance": _l("regular maintenance"),
    "repair": _l("repair"),
    "warranty": _l("warranty repair"),
    "other": _l("other"),
}
PARAM_LABELS = {"group": LAPSED_GROUP_LABELS, "location": LAPSED_GROUP_LABELS, "kind": VISIT_KIND_LABELS}

DATE_PATTERN = "yyyy-MM-dd"
DATETIME_PATTERN = "yyyy-MM-dd HH:mm"


def _label(table: dict, value: str | None) -> str:
    if value is None:
        return ""
    label = table.get(value)
    return str(label) if label is not None else str(value)


def task_type_label(value: str | None) -> str:
    return _label(TYPE_LABELS, value)


def task_status_label(value: str | None) -> str:
    return _label(STATUS_LABELS, value)


def channel_label(value: str | None) -> str:
    return _label(CHANNEL_LABELS, value)


def owner_rule_label(value: str | None) -> str:
    return _label(OWNER_RULE_LABELS, value)


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
    return render_reason(
        task.reason_id,
        task.reason_params,
        {k: str(v) for k, v in REASON_TEMPLATES.items()},
        fmt_date=show_date,
        fmt_datetime=show_datetime,
        labels={k: {v: str(lbl) for v, lbl in table.items()} for k, table in PARAM_LABELS.items()},
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

"""Every rule parameter of spec/domain.md as a typed, validated setting with its default.

Pure: the registry, parsing and validation. Storage lives in care/services/settings.py.
Values are stored as their canonical text (`fmt(parse(x))`) so that the database, the
settings page and `care settings` agree on one spelling.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import time
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from care.domain import N_


class SettingError(ValueError):
    """A value that does not fit its setting; the message says why.

    `template` is an English message id with `%(name)s` placeholders and `params` their
    values, so that the web layer can show it translated; `str(exc)` is the English text.
    `key` names the setting at fault (None for a cross-field error), `keys` the settings
    a cross-field error ties together.
    """

    key: str | None = None

    def __init__(self, template: str, *, keys: tuple[str, ...] = (), **params: Any):
        self.template = template
        self.params = params
        self.keys = keys
        super().__init__(template % params if params else template)


@dataclass(frozen=True)
class TimeSlot:
    name: str
    start: time
    end: time

    def contains(self, t: time) -> bool:
        return self.start <= t < self.end


# --- value kinds -----------------------------------------------------------------------


@dataclass(frozen=True)
class Kind:
    """How a setting's text is read (``parse``), stored (``fmt``: the canonical text of the
    database and `care settings`) and shown on the settings page (``show``, default
    ``fmt``); ``parse`` reads both texts. ``hint`` (a message id) says under the input
    how to write the value; kinds without one have theirs in care/web/labels.py."""

    name: str
    parse: Callable[[str], Any]
    fmt: Callable[[Any], str]
    show: Callable[[Any], str] | None = None
    hint: str = ""


def _parse_int(text: str) -> int:
    try:
        return int(text.strip().replace(",", "").replace("_", ""))
    except ValueError:
        raise SettingError(N_("“%(value)s” is not a whole number"), value=text.strip()) from None


def _number(text: str) -> tuple[float, bool]:
    """A finite number, and whether it was written with a per-cent sign (% or ％)."""
    t = text.strip()
    percent = t.endswith(("%", "％"))
    if percent:
        t = t[:-1].strip()
    try:
        value = float(t)
    except ValueError:
        raise SettingError(N_("“%(value)s” is not a number"), value=text.strip()) from None
    if not math.isfinite(value):  # NaN compares false with every bound
        raise SettingError(N_("“%(value)s” is not a number"), value=text.strip())
    return value, percent


def _parse_rate(text: str) -> float:
    """A share of a whole: ``80%`` or the fraction ``0.8`` (stored as the fraction). A bare
    number above 1 is refused rather than read as a fraction: whoever types 80 means 80 %."""
    value, percent = _number(text)
    if not percent and value > 1:
        raise SettingError(
            N_("“%(value)s” is more than 1: write it as a percentage, e.g. %(percent)s"),
            value=text.strip(),
            percent=f"{value:g}%",
        )
    fraction = value / 100 if percent else value
    if not 0 <= fraction <= 1:
        raise SettingError(N_("must be between 0% and 100%"))
    return fraction


def _fmt_float(value: float) -> str:
    return f"{value:g}"


def _show_percent(value: float) -> str:
    return f"{round(value * 100, 6):g}%"


def _parse_score(text: str) -> float:
    """A number on the scale of an index (the SSI: 0 to 100), never a percentage."""
    value, percent = _number(text)
    if percent:
        raise SettingError(
            N_("“%(value)s”: write the index as a plain number, without %% (e.g. 80)"), value=text.strip()
        )
    return value


_TIME_RE = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*$")


def parse_time(text: str) -> time:
    m = _TIME_RE.match(text)
    if not m or int(m.group(1)) > 23 or int(m.group(2)) > 59:
        raise SettingError(N_("“%(value)s” is not a time of day (HH:MM)"), value=text.strip())
    hour, minute = int(m.group(1)), int(m.group(2))
    return time(hour, minute)


def _fmt_time(value: time) -> str:
    return value.strftime("%H:%M")


MAX_TEXT_LENGTH = 100  # a text setting (a name, a city)
MAX_INPUT_LENGTH = 1000  # what any setting's text may be before it is parsed


def _parse_str(text: str) -> str:
    value = text.strip()
    if not value:
        raise SettingError(N_("may not be empty"))
    if len(value) > MAX_TEXT_LENGTH:
        raise SettingError(N_("may be at most %(count)d characters long"), count=MAX_TEXT_LENGTH)
    return value


def _parse_tz(text: str) -> str:
    name = text.strip()
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise SettingError(
            N_("“%(value)s” is not a time zone (e.g. Asia/Shanghai)"), value=text.strip()
        ) from None
    return name


def parse_slots(text: str) -> tuple[TimeSlot, ...]:
    """`morning=09:00-12:00, afternoon=14:00-17:30, evening=18:30-20:30` (names optional)."""
    slots: list[TimeSlot] = []
    for i, part in enumerate(p for p in re.split(r"[,;，\n]", text) if p.strip()):
        name, _, span = part.strip().rpartition("=")
        name = name.strip() or f"slot{i + 1}"
        start_s, sep, end_s = span.partition("-")
        if not sep:
            raise SettingError(N_("“%(value)s” is not a slot (HH:MM-HH:MM)"), value=part.strip())
        start, end = parse_time(start_s), parse_time(end_s)
        if end <= start:
            raise SettingError(N_("slot %(name)s ends before it starts"), name=name)
        slots.append(TimeSlot(name, start, end))
    if not slots:
        raise SettingError(N_("at least one time slot is needed"))
    slots.sort(key=lambda s: s.start)
    for a, b in zip(slots, slots[1:], strict=False):
        if b.start < a.end:
            raise SettingError(N_("slots %(first)s and %(second)s overlap"), first=a.name, second=b.name)
    if len({s.name for s in slots}) != len(slots):
        raise SettingError(N_("slot names must differ"))
    return tuple(slots)


def _fmt_slots(slots: tuple[TimeSlot, ...]) -> str:
    return ", ".join(f"{s.name}={_fmt_time(s.start)}-{_fmt_time(s.end)}" for s in slots)


def _parse_range(text: str) -> tuple[int, int]:
    lo_s, sep, hi_s = text.strip().partition("-")
    if not sep:
        value = _parse_int(text)
        return (value, value)
    lo, hi = _parse_int(lo_s), _parse_int(hi_s)
    if hi < lo:
        raise SettingError(N_("“%(value)s”: the upper bound is below the lower one"), value=text.strip())
    return (lo, hi)


def _fmt_range(value: tuple[int, int]) -> str:
    lo, hi = value
    return str(lo) if lo == hi else f"{lo}-{hi}"


INT = Kind("int", _parse_int, str)
# Shares (rates, targets): typed 80% or 0.8, stored as the fraction 0.8, shown as 80%.
RATE = Kind("rate", _parse_rate, _fmt_float, _show_percent, N_("a percentage, e.g. 80% (the fraction 0.8 means the same)"))
# Index values (the SSI, 0–100): a plain number; a per-cent sign is refused.
SCORE = Kind("score", _parse_score, _fmt_float, None, N_("index points from 0 to 100, e.g. 80 (not a percentage)"))
TIME = Kind("time", parse_time, _fmt_time)
TEXT = Kind("text", _parse_str, str)
TIMEZONE = Kind("timezone", _parse_tz, str)
SLOTS = Kind("slots", parse_slots, _fmt_slots)
RANGE = Kind("range", _parse_range, _fmt_range)


# --- the registry ----------------------------------------------------------------------


@dataclass(frozen=True)
class SettingDef:
    key: str
    kind: Kind
    default: str
    group: str
    label: str  # English; translated in the UI
    rule: str = ""  # the domain.md rule it parameterizes, e.g. "R13"
    unit: str = ""
    minimum: float | None = None
    maximum: float | None = None
    extra_check: Callable[[Any], None] | None = field(default=None, compare=False)

    def parse(self, text: str) -> Any:
        text = str(text)
        if len(text) > MAX_INPUT_LENGTH:
            raise SettingError(N_("may be at most %(count)d characters long"), count=MAX_INPUT_LENGTH)
        if any(ord(c) < 32 and c not in "\t\n\r" or 0xD800 <= ord(c) <= 0xDFFF for c in text):
            raise SettingError(N_("may not contain control characters"))
        value = self.kind.parse(text)
        for number in _numbers(value):
            if not math.isfinite(number):
                raise SettingError(N_("“%(value)s” is not a number"), value=text.strip())
            if self.minimum is not None and number < self.minimum:
                raise SettingError(N_("must be at least %(minimum)s"), minimum=f"{self.minimum:g}")
            if self.maximum is not None and number > self.maximum:
                raise SettingError(N_("must be at most %(maximum)s"), maximum=f"{self.maximum:g}")
        if self.extra_check:
            self.extra_check(value)
        return value

    def canonical(self, text: str) -> str:
        return self.kind.fmt(self.parse(text))

    @property
    def default_value(self) -> Any:
        return self.parse(self.default)


def _numbers(value: Any) -> list[float]:
    if isinstance(value, bool):
        return []
    if isinstance(value, int | float):
        return [value]
    if isinstance(value, tuple) and all(isinstance(v, int) for v in value):
        return list(value)
    return []


def _s(key, kind, default, group, label, rule="", unit="", minimum=None, maximum=None):
    return SettingDef(key, kind, default, group, label, rule, unit, minimum, maximum)


G_DEALER, G_TASKS, G_CALLS, G_SURVEYS, G_COMPLAINTS, G_KPI, G_PENALTY, G_SECURITY = (
    "dealer",
    "tasks",
    "calls",
    "surveys",
    "complaints",
    "kpi",
    "penalties",
    "security",
)

SETTINGS: tuple[SettingDef, ...] = (
    # the dealership
    _s("dealer_name", TEXT, "Care Desk 4S", G_DEALER, N_("Dealer name")),
    _s("dealer_city", TEXT, "成都", G_DEALER, N_("Dealer city (local vs out-of-town)"), "R9"),
    _s("timezone", TIMEZONE, "Asia/Shanghai", G_DEALER, N_("Time zone")),
    _s("workday_start", TIME, "08:30", G_DEALER, N_("Work-day start"), "R6"),
    _s("workday_end", TIME, "17:30", G_DEALER, N_("Work-day end (register due)"), "R17"),
    # care tasks
    _s("first_service_open_months", INT, "2", G_TASKS, N_("First service: open after delivery"), "R1", "months", 0, 36),
    _s("first_service_deadline_months", INT, "3", G_TASKS, N_("First service: deadline after delivery"), "R1", "months", 1, 36),
    _s("maintenance_interval_months", INT, "6", G_TASKS, N_("Maintenance interval (time)"), "R2", "months", 1, 36),
    _s("maintenance_interval_km", INT, "5000", G_TASKS, N_("Maintenance interval (distance)"), "R2", "km", 500, 100000),
    _s("maintenance_lead_days", INT, "7", G_TASKS, N_("Maintenance: open before due date"), "R2", "days", 0, 90),
    _s("warranty_lead_months", INT, "1", G_TASKS, N_("Warranty expiry: open before end"), "R3", "months", 0, 12),
    _s("inspection_lead_months", INT, "1", G_TASKS, N_("Inspection: open before due date"), "R4", "months", 0, 12),
    _s("insurance_lead_months", INT, "2", G_TASKS, N_("Insurance renewal: open before expiry"), "R5", "months", 0, 12),
    _s("birthday_window_hours", INT, "2", G_TASKS, N_("Birthday: hours after work-day start"), "R6", "hours", 1, 12),
    _s("delivery_call_hours", INT, "24", G_TASKS, N_("Post-delivery call: deadline"), "R7", "hours", 1, 168),
    _s("delivery_call_check_hours", INT, "72", G_TASKS, N_("Post-delivery call checked within"), "R8", "hours", 1, 720),
    _s("delivery_survey_days", INT, "3", G_TASKS, N_("Post-delivery survey: days to complete"), "R8", "days", 1, 30),
    _s("lapsed_min_days", INT, "90", G_TASKS, N_("Lapsed: last visit at least … ago"), "R9", "days", 1, 3650),
    _s("lapsed_max_days", INT, "360", G_TASKS, N_("Lapsed: last visit at most … ago"), "R9", "days", 1, 3650),
    _s("service_callback_days", INT, "3", G_TASKS, N_("Post-service callback: days to complete"), "R10", "days", 1, 30),
    _s("campaigns_per_month", INT, "3", G_TASKS, N_("Campaigns per month (at least)"), "R11", "", 0, 31),
    _s("campaign_sms_per_minute", INT, "60", G_TASKS, N_("Campaigns: text messages sent per minute (at most)"), "R11", "", 1, 10000),
    _s("appointment_lead_days", INT, "7", G_TASKS, N_("Proactive appointment: days before due"), "R16", "days", 0, 90),
    _s("service_opens", TIME, "08:30", G_TASKS, N_("Service bay: appointments from"), "R17"),
    _s("service_closes", TIME, "17:30", G_TASKS, N_("Service bay: appointments until (the last slot ends)"), "R17"),
    _s("appointment_slot_minutes", INT, "30", G_TASKS, N_("Appointment time slot length"), "R17", "minutes", 5, 240),
    _s("appointment_slot_capacity", INT, "4", G_TASKS, N_("Appointments per time slot (more only with a reason)"), "R17", "", 1, 100),
    _s("register_deadline", TIME, "17:30", G_TASKS, N_("The day's register submitted to the front desk by"), "R17"),
    _s("arrival_tolerance_days", INT, "1", G_TASKS, N_("A visit counts as the appointment's arrival within"), "R17", "days", 0, 14),
    _s("no_show_after_days", INT, "1", G_TASKS, N_("No visit by the work-day start … days after the appointment: a no-show"), "R17", "days", 1, 14),
    _s("appointment_reminder_days", INT, "1", G_TASKS, N_("Reminder SMS … days before the appointment"), "R17", "days", 1, 7),
    _s("generation_catchup_days", INT, "31", G_TASKS, N_("Generator: missed days caught up (at most)"), "", "days", 1, 366),
    _s("expiry_grace_days", INT, "0", G_TASKS, N_("A task nobody called expires … days after its deadline day"), "R13", "days", 0, 31),
    # calls
    _s("attempts_max", INT, "3", G_CALLS, N_("Unsuccessful attempts before fallback"), "R13", "", 1, 10),
    _s("attempt_window_days", INT, "3", G_CALLS, N_("Days for the attempts"), "R13", "days", 1, 14),
    _s("call_slots", SLOTS, "morning=09:00-12:00, afternoon=14:00-17:30, evening=18:30-20:30", G_CALLS, N_("Call time slots (outside them: quiet hours)"), "R13"),
    _s("attempt_timeout_minutes", INT, "30", G_CALLS, N_("Close an attempt with no final event after"), "", "minutes", 1, 1440),
    _s("manual_call_max_age_hours", INT, "24", G_CALLS, N_("A call made outside the app can be recorded for up to"), "R13", "hours", 1, 168),
    _s("sweep_interval_minutes", INT, "5", G_CALLS, N_("Deadline sweep while serving: every"), "R14", "minutes", 1, 60),
    _s("outbox_max_tries", INT, "5", G_CALLS, N_("Fallback messages: tries before giving up"), "R14", "", 1, 50),
    _s("outbox_backoff_seconds", INT, "60", G_CALLS, N_("Fallback messages: first retry after (doubles each try)"), "R14", "seconds", 1, 86400),
    _s("best_time_prior_strength", INT, "6", G_CALLS, N_("Best time to call: the desk-wide answer rate counts as this many of the customer's calls"), "", "", 0, 100),
    _s("best_time_min_attempts", INT, "3", G_CALLS, N_("Best time to call: the customer's own calls in a slot before it is called their habit"), "", "", 1, 50),
    _s("best_time_history_days", INT, "365", G_CALLS, N_("Best time to call: calls of the last … count"), "", "days", 7, 3650),
    # surveys
    _s("survey_scale_max", INT, "7", G_SURVEYS, N_("Survey scale: top score"), "", "", 2, 10),
    _s("complaint_score_threshold", INT, "4", G_SURVEYS, N_("Open a complaint at a score at or below"), "R19", "", 1, 10),
    _s("top_box_target", RATE, "0.8", G_SURVEYS, N_("Very-satisfied target per consultant"), "R18", "", 0, 1),
    # complaints
    _s("complaint_close_hours", INT, "24", G_COMPLAINTS, N_("Complaint loop closes within"), "R20", "hours", 1, 720),
    _s("complaint_return_hours", INT, "12", G_COMPLAINTS, N_("Handled form returned within (after dispatch)"), "R20", "hours", 1, 240),
    # supervision and KPIs
    _s("insurance_sample_rate", RATE, "0.6", G_KPI, N_("Insurance calls sampled for QA"), "R21", "", 0, 1),
    _s("insurance_sample_target", RATE, "1", G_KPI, N_("Sample completion target"), "R21", "", 0, 1),
    _s("reminder_rate_target", RATE, "1", G_KPI, N_("Reminder rate target"), "R22", "", 0, 1),
    _s("first_service_reminder_min", RATE, "0.95", G_KPI, N_("First-service reminder rate: violation below"), "R22", "", 0, 1),
    _s("attempt_compliance_target", RATE, "1", G_KPI, N_("R13 compliance target"), "R13", "", 0, 1),
    _s("birthday_on_time_target", RATE, "1", G_KPI, N_("Birthday greetings on time: target"), "R6", "", 0, 1),
    _s("ssi_target", SCORE, "80", G_KPI, N_("Monthly SSI target"), "R23", "", 0, 100),
    _s("report_submit_day", INT, "3", G_KPI, N_("Monthly report: the care manager submits by day"), "R22, R23", "day of the next month", 1, 28),
    _s("report_approve_day", INT, "5", G_KPI, N_("Monthly report: the general manager approves by day"), "R22, R23", "day of the next month", 1, 28),
    # penalties (CNY)
    _s("penalty_followup_missed", RANGE, "20", G_PENALTY, N_("First failed reminder not followed up (per item)"), "R23", "CNY", 0, 10000),
    _s("penalty_first_service_rate", RANGE, "200", G_PENALTY, N_("First-service reminder rate below target"), "R23", "CNY", 0, 10000),
    _s("penalty_greeting_missed", RANGE, "50", G_PENALTY, N_("Birthday/holiday care not done"), "R23", "CNY", 0, 10000),
    _s("penalty_reminder_not_standard", RANGE, "50-100", G_PENALTY, N_("Reminder not done to the standard process"), "R23", "CNY", 0, 10000),
    _s("penalty_insurance_sample_short", RANGE, "20", G_PENALTY, N_("Insurance sample short (per item)"), "R23", "CNY", 0, 10000),
    _s("penalty_insurance_not_standard", RANGE, "50-100", G_PENALTY, N_("Insurance reminder below standard"), "R23", "CNY", 0, 10000),
    _s("penalty_lapsed_data", RANGE, "200", G_PENALTY, N_("Lapsed-customer data late or untrue"), "R23", "CNY", 0, 10000),
    _s("penalty_analysis_missing", RANGE, "200", G_PENALTY, N_("Manager's analysis not reported"), "R23", "CNY", 0, 10000),
    _s("penalty_plan_late", RANGE, "200-300", G_PENALTY, N_("Monthly plan late"), "R23", "CNY", 0, 10000),
    _s("penalty_ssi_sales_manager", RANGE, "100", G_PENALTY, N_("SSI below target: sales manager"), "R23", "CNY", 0, 10000),
    _s("penalty_ssi_care_manager", RANGE, "100", G_PENALTY, N_("SSI below target: care manager"), "R23", "CNY", 0, 10000),
    _s("penalty_ssi_consultant", RANGE, "50", G_PENALTY, N_("SSI below target: consultant"), "R23", "CNY", 0, 10000),
    _s("penalty_ssi_specialist", RANGE, "50", G_PENALTY, N_("SSI below target: specialist"), "R23", "CNY", 0, 10000),
    _s("penalty_greetings_short", RANGE, "50", G_PENALTY, N_("Fewer greeting campaigns than required in a month"), "R11, R23", "CNY", 0, 10000),
    _s("penalty_register_not_submitted", RANGE, "50", G_PENALTY, N_("Appointment register not submitted (not in the seed: the desk's own amount)"), "R17, R23", "CNY", 0, 10000),
    # security
    _s("login_max_failures", INT, "5", G_SECURITY, N_("Failed log-ins before a lock-out"), "", "", 1, 100),
    _s("login_lockout_minutes", INT, "15", G_SECURITY, N_("Lock-out after repeated failures"), "", "minutes", 1, 1440),
    _s("import_rejects_retention_days", INT, "7", G_SECURITY, N_("Import rejects (with personal data) kept for"), "", "days", 1, 365),
    _s("import_max_rows", INT, "300000", G_SECURITY, N_("Import: data rows per file (at most)"), "", "", 1000, 5_000_000),
    _s("import_max_megabytes", INT, "200", G_SECURITY, N_("Import: megabytes of data per file, unpacked (at most)"), "", "", 1, 2000),
)

BY_KEY: dict[str, SettingDef] = {s.key: s for s in SETTINGS}
GROUPS: tuple[str, ...] = (G_DEALER, G_TASKS, G_CALLS, G_SURVEYS, G_COMPLAINTS, G_KPI, G_PENALTY, G_SECURITY)


def definition(key: str) -> SettingDef:
    try:
        return BY_KEY[key]
    except KeyError:
        raise SettingError(N_("unknown setting “%(key)s”"), key=key) from None


def check_consistency(values: dict[str, Any]) -> None:
    """Rules that tie two settings together; raises SettingError naming the pair.

    The params `first` and `second` are setting keys (also in `exc.keys`): the CLI shows
    them as they are, the settings page as the settings' translated labels.
    """

    def pair(template: str, first: str, second: str) -> SettingError:
        return SettingError(template, keys=(first, second), first=first, second=second)

    if values["first_service_open_months"] >= values["first_service_deadline_months"]:
        raise pair(N_("%(first)s must be below %(second)s"), "first_service_open_months", "first_service_deadline_months")
    if values["lapsed_min_days"] >= values["lapsed_max_days"]:
        raise pair(N_("%(first)s must be below %(second)s"), "lapsed_min_days", "lapsed_max_days")
    if values["workday_start"] >= values["workday_end"]:
        raise pair(N_("%(first)s must be before %(second)s"), "workday_start", "workday_end")
    if values["service_opens"] >= values["service_closes"]:
        raise pair(N_("%(first)s must be before %(second)s"), "service_opens", "service_closes")
    if values["attempts_max"] > len(values["call_slots"]) * values["attempt_window_days"]:
        raise pair(
            N_("%(first)s cannot exceed the number of call slots × %(second)s"),
            "attempts_max",
            "attempt_window_days",
        )


class Settings:
    """Typed read access to a full set of values: `settings.attempts_max`."""

    def __init__(self, values: dict[str, Any]):
        self._values = values

    def __getattr__(self, key: str) -> Any:
        try:
            return self._values[key]
        except KeyError:
            raise AttributeError(key) from None

    def __getitem__(self, key: str) -> Any:
        return self._values[key]

    def as_dict(self) -> dict[str, Any]:
        return dict(self._values)

    @classmethod
    def defaults(cls) -> Settings:
        return cls({s.key: s.default_value for s in SETTINGS})

    @classmethod
    def from_texts(cls, texts: dict[str, str]) -> Settings:
        """Stored texts over defaults; a stored text that no longer parses falls back."""
        values = {}
        for s in SETTINGS:
            text = texts.get(s.key)
            try:
                values[s.key] = s.parse(text) if text is not None else s.default_value
            except SettingError:
                values[s.key] = s.default_value
        return cls(values)

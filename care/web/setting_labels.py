"""What the settings page shows in the user's language.

The registry in care/domain/settings.py is pure (no Babel), so its English labels, group
names and units are listed here wrapped in `_l(…)` for the message extractor, and looked
up at render time with `gettext`. tests/web/test_settings.py checks that this list covers
every SettingDef, so a new setting without a translatable label fails the suite.

`translated(exc)` shows a SettingError or ServiceError (English template + params) in the
user's language.
"""

from __future__ import annotations

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from care.domain.settings import (
    BY_KEY,
    G_CALLS,
    G_COMPLAINTS,
    G_DEALER,
    G_KPI,
    G_PENALTY,
    G_SECURITY,
    G_SURVEYS,
    G_TASKS,
    SettingDef,
)

# Every SettingDef.label, as the extractor must see it.
LABELS = (
    _l("Dealer name"),
    _l("Dealer city (local vs out-of-town)"),
    _l("Time zone"),
    _l("Work-day start"),
    _l("Work-day end (register due)"),
    _l("First service: open after delivery"),
    _l("First service: deadline after delivery"),
    _l("Maintenance interval (time)"),
    _l("Maintenance interval (distance)"),
    _l("Maintenance: open before due date"),
    _l("Warranty expiry: open before end"),
    _l("Inspection: open before due date"),
    _l("Insurance renewal: open before expiry"),
    _l("Birthday: hours after work-day start"),
    _l("Post-delivery call: deadline"),
    _l("Post-delivery call checked within"),
    _l("Post-delivery survey: days to complete"),
    _l("Lapsed: last visit at least … ago"),
    _l("Lapsed: last visit at most … ago"),
    _l("Post-service callback: days to complete"),
    _l("Campaigns per month (at least)"),
    _l("Proactive appointment: days before due"),
    _l("Generator: missed days caught up (at most)"),
    _l("Unsuccessful attempts before fallback"),
    _l("Days for the attempts"),
    _l("Call time slots (outside them: quiet hours)"),
    _l("Close an attempt with no final event after"),
    _l("Fallback messages: tries before giving up"),
    _l("Fallback messages: first retry after (doubles each try)"),
    _l("Survey scale: top score"),
    _l("Open a complaint at a score at or below"),
    _l("Very-satisfied target per consultant"),
    _l("Complaint loop closes within"),
    _l("Handled form returned within (after dispatch)"),
    _l("Insurance calls sampled for QA"),
    _l("Sample completion target"),
    _l("Reminder rate target"),
    _l("First-service reminder rate: violation below"),
    _l("Monthly SSI target"),
    _l("First failed reminder not followed up (per item)"),
    _l("First-service reminder rate below target"),
    _l("Birthday/holiday care not done"),
    _l("Reminder not done to the standard process"),
    _l("Insurance sample short (per item)"),
    _l("Insurance reminder below standard"),
    _l("Lapsed-customer data late or untrue"),
    _l("Manager's analysis not reported"),
    _l("Monthly plan late"),
    _l("SSI below target: sales manager"),
    _l("SSI below target: care manager"),
    _l("SSI below target: consultant"),
    _l("SSI below target: specialist"),
    _l("Failed log-ins before a lock-out"),
    _l("Lock-out after repeated failures"),
)

GROUP_NAMES = {
    G_DEALER: _l("Dealership"),
    G_TASKS: _l("Care tasks"),
    G_CALLS: _l("Calls"),
    G_SURVEYS: _l("Surveys"),
    G_COMPLAINTS: _l("Complaints"),
    G_KPI: _l("Supervision and KPIs"),
    G_PENALTY: _l("Penalties"),
    G_SECURITY: _l("Log-in security"),
}

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
KIND_HINTS = {
    "time": _l("HH:MM, e.g. 08:30"),
    "slots": _l("name=HH:MM-HH:MM, separated by commas, e.g. morning=09:00-12:00, afternoon=14:00-17:30"),
    "float": _l("a fraction or a percentage: 0.8 or 80%"),
    "range": _l("an amount or a range, e.g. 50-100"),
    "timezone": _l("an IANA time zone, e.g. Asia/Shanghai"),
}


def label(sdef: SettingDef) -> str:
    return _(sdef.label)


def group_name(group: str) -> str:
    name = GROUP_NAMES.get(group)
    return str(name) if name is not None else group


def unit(text: str) -> str:
    name = UNITS.get(text)
    return str(name) if name is not None else text


def kind_hint(kind: str) -> str:
    hint = KIND_HINTS.get(kind)
    return str(hint) if hint is not None else ""


def translated(exc: Exception) -> str:
    """A SettingError / ServiceError in the user's language (its English text otherwise).

    Params that name settings (`exc.keys`, the pair of a cross-field rule) are shown as
    the settings' translated labels.
    """
    template = getattr(exc, "template", None)
    if not template:
        return str(exc)
    params = dict(getattr(exc, "params", None) or {})
    keys = set(getattr(exc, "keys", ()) or ())
    for name, value in params.items():
        if isinstance(value, str) and value in keys and value in BY_KEY:
            params[name] = "“" + label(BY_KEY[value]) + "”"
    return _(template, **params)

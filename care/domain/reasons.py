"""A care task's reason as text: its message id (``reason_id``) and params, rendered.

Pure and forgiving: the params come back from a JSON column (dates as ISO strings), the
templates come from the web layer (translated, ``str.format`` fields named as in
:data:`care.domain.task_rules.REASON_MESSAGES`), and a page must never fail because one
task's params are incomplete. So:

- ISO date / datetime strings are turned back into ``date`` / ``datetime``;
- dates and datetimes are shown with the formatters the caller passes (the web layer
  passes Babel's, in the dealer's time zone); without them, with the field's own format
  spec (``{due_at:%Y-%m-%d %H:%M}``) or ISO;
- a value with a label (``labels[field][value]``, e.g. the lapsed group
  ``local_in_warranty``) is shown by its label;
- a missing field shows as ``?``, a null one as ``—``; a template that does not fit the
  params falls back to the English one, then to the bare message id.
"""

from __future__ import annotations

import re
import string
from collections.abc import Callable, Mapping
from datetime import date, datetime
from typing import Any

from care.domain.task_rules import REASON_MESSAGES

MISSING = "?"
NULL = "—"

_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_ISO_DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?(Z|[+-]\d{2}:?\d{2})?$")

DateFormatter = Callable[[date], str]
DateTimeFormatter = Callable[[datetime], str]


def parse_param(value: Any) -> Any:
    """``"2026-09-15"`` → date, ``"2026-09-15T10:30:00+08:00"`` → datetime, else as is."""
    if not isinstance(value, str):
        return value
    text = value.strip()
    try:
        if _ISO_DATE.match(text):
            return date.fromisoformat(text)
        if _ISO_DATETIME.match(text):
            return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return value
    return value


def parse_params(params: Mapping[str, Any] | None) -> dict[str, Any]:
    if not isinstance(params, Mapping):
        return {}
    return {str(k): parse_param(v) for k, v in params.items()}


class _Formatter(string.Formatter):
    def __init__(
        self,
        fmt_date: DateFormatter | None,
        fmt_datetime: DateTimeFormatter | None,
        labels: Mapping[str, Mapping[str, str]],
    ):
        self.fmt_date = fmt_date
        self.fmt_datetime = fmt_datetime
        self.labels = labels

    def get_field(self, field_name, args, kwargs):
        # Plain names only: no attribute or index look-ups from a template.
        if not field_name.isidentifier():
            raise ValueError(f"unsupported field {field_name!r}")
        if field_name not in kwargs:
            return MISSING, field_name
        value = kwargs[field_name]
        table = self.labels.get(field_name)
        if table and isinstance(value, str) and value in table:
            return _Labelled(str(table[value])), field_name
        return value, field_name

    def format_field(self, value, format_spec):
        if value is None:
            return NULL
        if isinstance(value, _Labelled):
            return str(value)
        if isinstance(value, datetime):
            if self.fmt_datetime is not None:
                return self.fmt_datetime(value)
            return format(value, format_spec or "%Y-%m-%d %H:%M")
        if isinstance(value, date):
            if self.fmt_date is not None:
                return self.fmt_date(value)
            return format(value, format_spec or "%Y-%m-%d")
        try:
            return format(value, format_spec)
        except (TypeError, ValueError):
            return str(value)


class _Labelled(str):
    """A value already replaced by its label (no format spec applies)."""


def render_reason(
    reason_id: str | None,
    params: Mapping[str, Any] | None,
    templates: Mapping[str, str] | None = None,
    *,
    fmt_date: DateFormatter | None = None,
    fmt_datetime: DateTimeFormatter | None = None,
    labels: Mapping[str, Mapping[str, str]] | None = None,
) -> str:
    """The reason's text: ``templates[reason_id]`` (else the English message) filled."""
    if not reason_id:
        return ""
    values = parse_params(params)
    formatter = _Formatter(fmt_date, fmt_datetime, labels or {})
    candidates = []
    if templates and templates.get(reason_id):
        candidates.append(str(templates[reason_id]))
    if reason_id in REASON_MESSAGES:
        candidates.append(REASON_MESSAGES[reason_id])
    for template in candidates:
        try:
            return formatter.vformat(template, (), values)
        except (ValueError, TypeError, IndexError, KeyError, AttributeError):
            continue
    return reason_id

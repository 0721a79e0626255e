"""Greeting campaigns (domain.md §3 R11): the rules with no database.

- the campaign kinds and statuses, the holidays greeted (their dates come from a holiday
  library: care/calendars.py, never a table written here) and each one's default text;
- :class:`AudienceFilter` and :func:`parse_filter` (the audience form, range-checked:
  each bad value is refused with its field and why);
- :func:`body_problems`: the text's merge fields, validated as in scripts, limited to
  those a campaign can fill (the customer, the vehicle, the dealer);
- :func:`release_times`: when each message of a campaign may go out, throttled to so many
  a minute and never in quiet hours (the SMS hours of care.messaging.outbox.sms_hours);
- :func:`short_of`: the R11 monthly count against its setting.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass
from datetime import date, datetime, time, timedelta

from care.domain import N_
from care.domain import scripts as dom

HOLIDAY, WEATHER = "holiday", "weather"
KINDS = (HOLIDAY, WEATHER)
DRAFT, SCHEDULED, SENDING, SENT, CANCELLED = "draft", "scheduled", "sending", "sent", "cancelled"
STATUSES = (DRAFT, SCHEDULED, SENDING, SENT, CANCELLED)
EDITABLE = (DRAFT, SCHEDULED)  # a campaign whose messages are not queued yet
COUNTED = (SENDING, SENT)  # went out (R11's monthly count)
OPEN_TASK_CHOICES = ("", "yes", "no")
MAX_NAME = 120
MAX_BODY = 500  # as a fallback SMS (care.services.message_templates.MAX_SMS_BODY)
MAX_FILTER_TEXT = 80
PREVIEW_SIZE = 3

# The fields a campaign fills for each customer: no task, so no deadline, no specialist.
FIELDS = (
    "customer_name", "salutation", "plate", "model", "vin_last6", "delivery_date",
    "last_visit_date", "dealer_name", "today",
)  # fmt: skip

# The holidays greeted, in the order of the year; each a key, its Chinese name (for the
# default text) and an English label (translated where shown).
HOLIDAYS: tuple[tuple[str, str, str], ...] = (
    ("new_year", "元旦", N_("New Year's Day")),
    ("spring_festival", "春节", N_("Spring Festival")),
    ("lantern", "元宵节", N_("Lantern Festival")),
    ("qingming", "清明节", N_("Qingming Festival")),
    ("labour_day", "劳动节", N_("Labour Day")),
    ("dragon_boat", "端午节", N_("Dragon Boat Festival")),
    ("mid_autumn", "中秋节", N_("Mid-Autumn Festival")),
    ("national_day", "国庆节", N_("National Day")),
)
HOLIDAY_KEYS = tuple(k for k, _zh, _en in HOLIDAYS)
HOLIDAY_ZH = {k: zh for k, zh, _en in HOLIDAYS}
HOLIDAY_LABELS = {k: en for k, _zh, en in HOLIDAYS}

_WISH = {
    "new_year": "新年伊始，祝您和家人新年快乐、万事如意、行车平安！",
    "spring_festival": "值此新春佳节，恭祝您和家人新春快乐、阖家幸福、龙马精神！春节长途出行前欢迎到店免费检测。",
    "lantern": "元宵佳节，祝您和家人团团圆圆、幸福美满！",
    "qingming": "清明时节雨纷纷，出行扫墓请注意路况、谨慎驾驶，祝您出行平安！",
    "labour_day": "劳动节快乐！假期出游前欢迎到店免费检查轮胎、机油和灯光，祝您旅途愉快、一路平安！",
    "dragon_boat": "端午安康！祝您和家人节日快乐、身体健康！",
    "mid_autumn": "中秋佳节，月圆人团圆，祝您和家人中秋快乐、阖家幸福！",
    "national_day": "国庆快乐！长假自驾出行前欢迎到店免费检测，祝您假期愉快、一路平安！",
}


def default_body(holiday: str) -> str:
    """The proposed greeting of a holiday (Chinese, with merge fields)."""
    return f"【{{dealer_name}}】{{salutation}}，您好！{_WISH[holiday]}"


def default_name(holiday: str, year: int) -> str:
    return f"{year}年{HOLIDAY_ZH[holiday]}问候"


class CampaignError(ValueError):
    """A value refused; ``template``/``params`` for the page, ``field`` the form field."""

    def __init__(self, template: str, *, field: str | None = None, **params):
        self.template, self.params, self.field = template, params, field
        super().__init__(template % params if params else template)


# --- the audience ------------------------------------------------------------------------


@dataclass(frozen=True)
class AudienceFilter:
    """Who a campaign goes to: every customer that matches all the filters given."""

    city: str = ""
    model: str = ""  # a vehicle model containing this text
    customer_class: str = ""
    last_visit_after: date | None = None  # last visit on or after
    last_visit_before: date | None = None  # last visit before (or no visit at all: no)
    open_task: str = ""  # "yes": has an open task; "no": has none; "": either

    def as_json(self) -> dict:
        d = asdict(self)
        for key in ("last_visit_after", "last_visit_before"):
            d[key] = d[key].isoformat() if d[key] else None
        return {k: v for k, v in d.items() if v}

    @classmethod
    def from_json(cls, data: Mapping | None) -> AudienceFilter:
        data = dict(data or {})
        for key in ("last_visit_after", "last_visit_before"):
            data[key] = date.fromisoformat(data[key]) if data.get(key) else None
        return cls(**{k: v for k, v in data.items() if k in cls.__dataclass_fields__})

    @property
    def empty(self) -> bool:
        return not self.as_json()


def _text(form: Mapping[str, str], key: str) -> str:
    value = " ".join((form.get(key) or "").split())
    if len(value) > MAX_FILTER_TEXT:
        raise CampaignError(N_("At most %(max)s characters."), field=key, max=MAX_FILTER_TEXT)
    return value


def _date(form: Mapping[str, str], key: str) -> date | None:
    raw = (form.get(key) or "").strip()
    if not raw:
        return None
    try:
        value = date.fromisoformat(raw)
    except ValueError:
        raise CampaignError(N_("“%(value)s” is not a date (YYYY-MM-DD)."), field=key, value=raw[:20]) from None
    if not date(1990, 1, 1) <= value <= date(2100, 12, 31):
        raise CampaignError(N_("“%(value)s” is out of range."), field=key, value=raw)
    return value


def parse_filter(form: Mapping[str, str], classes: tuple[str, ...]) -> AudienceFilter:
    """The audience filter of a form; :class:`CampaignError` names the field at fault."""
    klass = (form.get("customer_class") or "").strip()
    if klass and klass not in classes:
        raise CampaignError(N_("Unknown customer class."), field="customer_class")
    open_task = (form.get("open_task") or "").strip()
    if open_task not in OPEN_TASK_CHOICES:
        raise CampaignError(N_("Choose yes, no or either."), field="open_task")
    after, before = _date(form, "last_visit_after"), _date(form, "last_visit_before")
    if after and before and after >= before:
        raise CampaignError(N_("“Last visit on or after” must come before “last visit before”."), field="last_visit_before")
    return AudienceFilter(
        city=_text(form, "city"), model=_text(form, "model"), customer_class=klass,
        last_visit_after=after, last_visit_before=before, open_task=open_task,
    )  # fmt: skip


# --- the text ----------------------------------------------------------------------------


def body_problems(body: str) -> list[dom.TemplateProblem]:
    """What is wrong with a campaign text: the script checks (an unknown merge field by
    its name, an unclosed brace …) and fields a campaign cannot fill (a task's deadline)."""
    parsed = dom.parse(body)
    problems = list(parsed.problems)
    for piece in parsed.pieces:
        if isinstance(piece, dom.FieldRef) and piece.field.name not in FIELDS:
            line = body.count("\n", 0, piece.offset) + 1
            column = piece.offset - (body.rfind("\n", 0, piece.offset) + 1) + 1
            problems.append(
                dom.TemplateProblem(
                    "not_in_campaign",
                    N_("merge field “%(name)s” has no value in a campaign (it belongs to a task)"),
                    {"name": piece.field.name}, piece.offset, line, column, len(piece.written),
                )  # fmt: skip
            )
    return problems


# --- sending -----------------------------------------------------------------------------


def next_open(local: datetime, opens: time, closes: time) -> datetime:
    """The first dealer-local instant at or after ``local`` inside the SMS hours
    [opens, closes) of a day (``local`` is aware, in the dealer's zone)."""
    t = local.timetz().replace(tzinfo=None)
    if t < opens:
        return local.replace(hour=opens.hour, minute=opens.minute, second=0, microsecond=0)
    if t >= closes:
        nxt = local + timedelta(days=1)
        return nxt.replace(hour=opens.hour, minute=opens.minute, second=0, microsecond=0)
    return local


def release_times(start_local: datetime, count: int, per_minute: int, opens: time, closes: time) -> Iterator[datetime]:
    """When each of ``count`` messages may go out: ``per_minute`` a minute from the first
    open instant at or after ``start_local``; a minute that falls in quiet hours moves to
    the next morning's opening (dealer-local aware datetimes)."""
    per_minute = max(1, per_minute)
    slot = next_open(start_local, opens, closes)
    for i in range(count):
        if i and i % per_minute == 0:
            slot = next_open(slot + timedelta(minutes=1), opens, closes)
        yield slot


@dataclass(frozen=True)
class MonthCount:
    sent: int
    scheduled: int
    required: int

    @property
    def short(self) -> bool:
        return self.sent < self.required

    @property
    def missing(self) -> int:
        return max(0, self.required - self.sent)


def short_of(sent: int, scheduled: int, required: int) -> MonthCount:
    return MonthCount(sent, scheduled, required)

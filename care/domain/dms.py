"""DMS export files (interfaces.md "Import files"): columns, header matching, cell values.

Pure: standard library only. The service (care/services/imports.py) reads the file,
normalizes phone numbers and e-mail addresses (which need third-party libraries),
resolves references against the database and writes the rows.

Conventions of a row:

- A column absent from the file leaves the stored value alone; so does an *empty cell*
  in an optional column (a blank is no information, e.g. a consent flag the DMS does
  not know). A required column must have a value in every row.
- Every problem is a `CellError` with an English message id (`N_`) and its parameters,
  so that pages show it translated and the CLI prints the English text.
- A staff member named in a file (consultant, insurance specialist) who is not a user is
  no problem of the row: the row is kept with the name as given (the column's
  `name_field`) and the service reports a `CellWarning` (interfaces.md).
- The rejected rows go back to the user as a CSV file with the file's own headers and
  cells (`rejects_table`), so that they can be corrected and imported again as they are.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta, timezone, tzinfo
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from functools import cached_property, lru_cache

from care.domain import N_
from care.domain.vin import check_digit, normalize_vin

# --- errors ------------------------------------------------------------------------------


class DmsError(ValueError):
    """A problem with a file or a cell: an English message id and its parameters."""

    def __init__(self, template: str, **params):
        self.template = template
        self.params = params
        super().__init__(template % params if params else template)


class CellError(DmsError):
    """One cell's value is not acceptable; the row is rejected."""


class HeaderError(DmsError):
    """The header row does not fit the kind of file: the whole file is refused."""


class CellWarning(DmsError):
    """Something the user should know about one cell; the row is imported all the same."""


UNKNOWN_STAFF = N_(
    "“%(value)s” is not a user (neither a user name nor the display name of exactly one user): "
    "the row is imported with the name as given; map the name to a user on the import page"
)


# --- columns -----------------------------------------------------------------------------

# Value types of a column. Those marked (service) are only trimmed here: phone numbers and
# e-mail addresses need libraries, references need the database.
TEXT, DATE, DATETIME, FLAG, CLASS, VISIT_KIND, LUNAR, INT, AMOUNT, PLATE, VIN = (
    "text", "date", "datetime", "flag", "class", "visit_kind", "lunar", "int", "amount", "plate", "vin",
)  # fmt: skip
PHONE, EMAIL, CUSTOMER_REF, USER_REF = "phone", "email", "customer_ref", "user_ref"  # (service)
CLOCK = "clock"  # a time of day, HH:MM (an appointment's time)

INT_MAX = 2_147_483_647  # a 32-bit INTEGER column
AMOUNT_MAX = Decimal("9999999999.99")  # NUMERIC(12, 2)


@dataclass(frozen=True)
class Column:
    key: str  # the English header of interfaces.md; also the `column` of a reject
    zh: str  # the Chinese header of interfaces.md
    type: str
    field: str  # the model attribute it fills
    required: bool = False
    max_len: int | None = None
    aliases: tuple[str, ...] = ()  # other headers seen in DMS exports
    name_field: str | None = None  # a staff column: the attribute keeping the name as given

    @property
    def label(self) -> str:
        return f"{self.key} ({self.zh})"

    def names(self) -> tuple[str, ...]:
        return (self.key, self.zh, *self.aliases)


@dataclass(frozen=True)
class KindSpec:
    name: str
    key: str  # the column whose value identifies a row (unique in the file and the table)
    columns: tuple[Column, ...]

    def column(self, key: str) -> Column:
        return next(c for c in self.columns if c.key == key)

    @property
    def required(self) -> tuple[Column, ...]:
        return tuple(c for c in self.columns if c.required)


def _c(key, zh, type_, field=None, *, required=False, max_len=None, aliases=(), name_field=None):
    return Column(key, zh, type_, field or key, required, max_len, tuple(aliases), name_field)


STAFF_NAME_MAX = 120  # the length of a stored staff name (as a user's display name)


_VIN_ALIASES = ("车架号", "VIN码", "车辆识别代号")

KINDS: dict[str, KindSpec] = {
    "customers": KindSpec(
        "customers",
        "customer_no",
        (
            _c("customer_no", "客户编号", TEXT, required=True, max_len=40),
            _c("name", "姓名", TEXT, required=True, max_len=120, aliases=("客户姓名",)),
            _c("mobile", "手机", PHONE, aliases=("手机号", "手机号码")),
            _c("phone2", "其他电话", PHONE),
            _c("email", "邮箱", EMAIL, aliases=("e-mail", "电子邮箱")),
            _c("birthday", "生日", DATE),
            _c("birthday_lunar", "农历生日", LUNAR),
            _c("city", "城市", TEXT, max_len=60),
            _c("address", "地址", TEXT, max_len=255),
            _c("class", "客户类别", CLASS, "customer_class"),
            _c("no_call", "拒绝电话", FLAG),
            _c("no_sms", "拒绝短信", FLAG),
            _c("no_email", "拒绝邮件", FLAG),
        ),
    ),
    "vehicles": KindSpec(
        "vehicles",
        "vin",
        (
            _c("vin", "车架号", VIN, required=True, aliases=_VIN_ALIASES),
            _c("customer_no", "客户编号", CUSTOMER_REF, "customer_id", required=True, max_len=40),
            _c("plate", "车牌", PLATE, max_len=16, aliases=("车牌号",)),
            _c("model", "车型", TEXT, max_len=80),
            _c("color", "颜色", TEXT, max_len=40),
            _c("delivery_date", "交车日期", DATE),
            _c("consultant", "销售顾问", USER_REF, "consultant_id", max_len=STAFF_NAME_MAX, name_field="consultant_name"),
            _c("warranty_end", "保修到期", DATE),
            _c("warranty_km", "保修里程", INT),
            _c("inspection_due", "年检到期", DATE),
            _c("mileage", "里程", INT),
        ),
    ),
    "visits": KindSpec(
        "visits",
        "ro_no",
        (
            _c("ro_no", "工单号", TEXT, required=True, max_len=40),
            _c("vin", "车架号", VIN, "vehicle_id", required=True, aliases=_VIN_ALIASES),
            _c("date", "进厂日期", DATE, required=True),
            _c("mileage", "里程", INT),
            _c("kind", "类型", VISIT_KIND, required=True),
            _c("amount", "金额", AMOUNT),
        ),
    ),
    "policies": KindSpec(
        "policies",
        "policy_no",
        (
            _c("policy_no", "保单号", TEXT, required=True, max_len=40),
            _c("vin", "车架号", VIN, "vehicle_id", required=True, aliases=_VIN_ALIASES),
            _c("insurer", "保险公司", TEXT, max_len=80),
            _c("expiry", "到期日", DATE, required=True),
            _c("specialist", "保险专员", USER_REF, "specialist_id", max_len=STAFF_NAME_MAX, name_field="specialist_name"),
        ),
    ),
    "deliveries": KindSpec(
        "deliveries",
        "vin",
        (
            _c("vin", "车架号", VIN, "vehicle_id", required=True, aliases=_VIN_ALIASES),
            _c("customer_no", "客户编号", CUSTOMER_REF, "customer_id", required=True, max_len=40),
            _c("consultant", "销售顾问", USER_REF, "consultant_id", max_len=STAFF_NAME_MAX, name_field="consultant_name"),
            _c("delivered_at", "交车时间", DATETIME, required=True),
        ),
    ),
    # Survey answers taken outside the app (issue 11): these fixed columns, then one column
    # per item (its code or its text); care/services/imports.py SurveyImport reads the rest.
    "survey_responses": KindSpec(
        "survey_responses",
        "customer_no",
        (
            _c("customer_no", "客户编号", CUSTOMER_REF, "customer_id", max_len=40),
            _c("vin", "车架号", VIN, "vehicle_id", aliases=_VIN_ALIASES),
            _c("template", "问卷", TEXT, required=True, max_len=32),
            _c("taken_at", "调查日期", TEXT, required=True, max_len=40, aliases=("调查时间",)),
            _c("staff", "被评价人", USER_REF, "staff_id", max_len=STAFF_NAME_MAX, name_field="staff_name"),
            _c("channel", "渠道", TEXT, max_len=16),
        ),
    ),
    # R17: the front desk's copy of the appointment register, from the DMS
    "appointments": KindSpec(
        "appointments",
        "appt_no",
        (
            _c("appt_no", "预约单号", TEXT, required=True, max_len=40, aliases=("预约号",)),
            _c("vin", "车架号", VIN, "vehicle_id", required=True, aliases=_VIN_ALIASES),
            _c("customer_no", "客户编号", CUSTOMER_REF, "customer_id", max_len=40),
            _c("date", "预约日期", DATE, required=True),
            _c("time", "预约时间", CLOCK, required=True),
            _c("kind", "预约类型", VISIT_KIND, "service_kind", required=True),
            _c("advisor", "服务顾问", USER_REF, "advisor_id", max_len=STAFF_NAME_MAX, name_field="advisor_name"),
        ),
    ),
}


def kind_spec(kind: str) -> KindSpec:
    try:
        return KINDS[kind]
    except KeyError:
        raise DmsError(
            N_("Unknown kind “%(kind)s”; kinds: %(kinds)s"), kind=kind, kinds=", ".join(KINDS)
        ) from None


# --- headers -----------------------------------------------------------------------------


def header_key(text) -> str:
    """`VIN`, ` vin `, `Customer No`, `customer_no`, `ＶＩＮ` all give the same key."""
    if text is None:
        return ""
    s = unicodedata.normalize("NFKC", str(text)).replace("\ufeff", "")
    return re.sub(r"[\s_\-]+", "", s).casefold()


@dataclass(frozen=True)
class HeaderMap:
    spec: KindSpec
    index: dict[str, int]  # column key -> position in the row
    ignored: tuple[str, ...]  # headers of the file that are no column of this kind

    def has(self, key: str) -> bool:
        return key in self.index

    @cached_property
    def present(self) -> tuple[tuple[Column, int], ...]:
        """(column, its position in the row) of the columns the file has, in the spec's order."""
        return tuple((c, self.index[c.key]) for c in self.spec.columns if c.key in self.index)


def match_headers(kind: str, headers: list) -> HeaderMap:
    """Map the file's header row onto the columns of `kind`; HeaderError when it cannot."""
    spec = kind_spec(kind)
    by_name: dict[str, Column] = {}
    for column in spec.columns:
        for name in column.names():
            by_name[header_key(name)] = column
    index: dict[str, int] = {}
    seen: dict[str, list[str]] = {}
    ignored: list[str] = []
    for i, header in enumerate(headers):
        column = by_name.get(header_key(header))
        if column is None:
            if header_key(header):
                ignored.append(str(header).strip())
            continue
        seen.setdefault(column.key, []).append(str(header).strip())
        index.setdefault(column.key, i)
    for key, names in seen.items():
        if len(names) > 1:
            raise HeaderError(
                N_("The column %(column)s appears more than once (%(headers)s)"),
                column=spec.column(key).label,
                headers=", ".join(names),
            )
    missing = [c.label for c in spec.required if c.key not in index]
    if missing:
        raise HeaderError(
            N_("The %(kind)s file lacks the required column(s): %(columns)s"),
            kind=kind,
            columns=", ".join(missing),
        )
    return HeaderMap(spec, index, tuple(ignored))


# --- encodings ---------------------------------------------------------------------------


def _usual_in_chinese(char: str) -> bool:
    """A character common in Chinese text: a level-1 hanzi of GB2312 (the 3,755 most used)
    or a symbol / punctuation / kana / Latin letter of GB2312's first rows."""
    try:
        code = char.encode("gb2312")
    except UnicodeEncodeError:
        return False
    return len(code) == 2 and code[0] <= 0xD7  # rows 0xA1-0xAF symbols, 0xB0-0xD7 level 1


def plausible_chinese(text: str) -> bool:
    """Whether text decoded as GB18030 reads like Chinese rather than another encoding's
    bytes read the wrong way (GB18030 accepts almost any byte sequence).

    Shift-JIS `王小明` read as GB18030 is `墹彫柧`, Big5 gives private-use characters,
    Windows-1252 `Renée` gives `Ren閑`: rare or traditional hanzi that real Chinese text
    almost never has. Implausible: any private-use, unassigned or C1 control character,
    or when fewer than half of the non-ASCII characters are usual ones (a real file's
    names hold the odd rare hanzi, not a majority of them).
    """
    counts = chinese_counts(text)
    return counts is not None and counts[1] <= counts[0]


def chinese_counts(text: str) -> tuple[int, int] | None:
    """(usual, unusual) non-ASCII characters of text, None when one is private-use,
    unassigned or a control character (see `plausible_chinese`). Counts of the pieces of a
    text add up to the text's, so a file can be judged piece by piece as it is read."""
    usual = unusual = 0
    for char in text:
        if char < "\x80" or char == "\ufeff":
            continue
        if unicodedata.category(char) in ("Co", "Cn", "Cc", "Cs"):
            return None
        if _usual_in_chinese(char):
            usual += 1
        else:
            unusual += 1
    return usual, unusual


# --- cells -------------------------------------------------------------------------------

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")  # a spreadsheet may read these as a formula


_EXCEL_TEXT = re.compile(r'="(.*)"')
_SPACES = re.compile(r"\s+")


def cell_text(value) -> str:
    """A cell as trimmed text: `12345.0` from Excel is `12345`, `="0012"` is `0012`, and
    `'=x` is `=x` (the apostrophe that keeps a spreadsheet from reading a cell as a
    formula, as the rejected-rows file writes it: see `spreadsheet_safe`)."""
    if isinstance(value, str):  # every CSV cell: tested first, it is called for each cell
        text = value.strip()
    elif value is None:
        return ""
    elif isinstance(value, bool):
        return "1" if value else "0"
    elif isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    elif isinstance(value, datetime):
        return value.isoformat(sep=" ")
    elif isinstance(value, date):
        return value.isoformat()
    else:
        text = str(value).strip()
    if text[:1] == "'" and text[1:2] in FORMULA_STARTS:
        text = text[1:].lstrip()
    if text[:2] == '="':  # Excel's "keep as text" trick in CSV exports
        m = _EXCEL_TEXT.fullmatch(text)
        if m:
            text = m.group(1).strip()
    return text


def _shown(value) -> str:
    """A value as quoted in an error message (long values cut)."""
    text = cell_text(value)
    return text if len(text) <= 60 else text[:57] + "…"


def parse_text(value, max_len: int | None = None) -> str | None:
    text = cell_text(value)
    if not text:
        return None
    if "  " in text or not text.isprintable():  # every other whitespace is unprintable
        text = _SPACES.sub(" ", text)
    if max_len is not None and len(text) > max_len:
        raise CellError(
            N_("The text has %(length)s characters; at most %(max)s are allowed"),
            length=len(text),
            max=max_len,
        )
    return text


def parse_plate(value) -> str | None:
    """`川A·12345`, `川a 12345` → `川A12345` (upper case, no spaces or dots)."""
    text = cell_text(value)
    if not text:
        return None
    plate = re.sub(r"[\s·•\-.]", "", unicodedata.normalize("NFKC", text)).upper()
    if len(plate) > 16:
        raise CellError(N_("“%(value)s” is not a number plate"), value=_shown(value))
    return plate


_DATE = (
    r"(?P<y>\d{4})(?:(?P<sep>[-/.])(?P<m>\d{1,2})(?P=sep)(?P<d>\d{1,2})"
    r"|\s*年\s*(?P<m2>\d{1,2})\s*月\s*(?P<d2>\d{1,2})\s*[日号]?)"
)
_TIME = (
    r"(?P<H>\d{1,2})(?:[:：](?P<M>\d{1,2})(?:[:：](?P<S>\d{1,2})(?:\.\d{1,6})?)?"
    r"|\s*[时点]\s*(?:(?P<M2>\d{1,2})\s*分)?(?:\s*(?P<S2>\d{1,2})\s*秒)?)"
)
_OFFSET = r"(?P<tz>Z|[+-]\d{2}:?\d{2})"
_DATETIME_RE = re.compile(rf"^{_DATE}(?:(?:\s*T\s*|\s+|(?<=[日号]))\s*{_TIME}\s*{_OFFSET}?)?$")

DATE_FORMATS = "YYYY-MM-DD, YYYY/MM/DD, YYYY年M月D日"


def _date_of(m: re.Match, raw) -> date:
    y = int(m.group("y"))
    mo = int(m.group("m") or m.group("m2"))
    d = int(m.group("d") or m.group("d2"))
    try:
        value = date(y, mo, d)
    except ValueError:
        raise CellError(N_("“%(value)s” is not a real calendar date"), value=_shown(raw)) from None
    _plausible(value, raw)
    return value


def _plausible(value: date, raw) -> None:
    if not 1900 <= value.year <= 2199:
        raise CellError(N_("“%(value)s” is not a plausible date"), value=_shown(raw))


def parse_date(value) -> date | None:
    """`2026-01-15`, `2026/1/15`, `2026年1月15日` or an Excel date cell; a time is ignored."""
    if value is None:
        return None
    if isinstance(value, date):  # an Excel date cell (openpyxl gives a datetime)
        day = value.date() if isinstance(value, datetime) else value
        _plausible(day, value)
        return day
    text = cell_text(value)
    if not text:
        return None
    m = _DATETIME_RE.match(text)
    if not m:
        raise CellError(
            N_("“%(value)s” is not a date (use %(formats)s)"), value=_shown(value), formats=DATE_FORMATS
        )
    return _date_of(m, value)


def parse_datetime(value, tz: tzinfo) -> datetime | None:
    """A date and a time of day in the dealer's time zone (unless the text has an offset) → UTC."""
    if value is None:
        return None
    if isinstance(value, datetime):
        _plausible(value, value)
        aware = value if value.tzinfo else value.replace(tzinfo=tz)
        return aware.astimezone(UTC)
    if isinstance(value, date):
        raise CellError(
            N_("“%(value)s” has a date but no time of day (e.g. 2026-01-15 10:30)"), value=_shown(value)
        )
    text = cell_text(value)
    if not text:
        return None
    m = _DATETIME_RE.match(text)
    if not m:
        raise CellError(
            N_("“%(value)s” is not a date and time (e.g. 2026-01-15 10:30)"), value=_shown(value)
        )
    day = _date_of(m, value)
    if m.group("H") is None:
        raise CellError(
            N_("“%(value)s” has a date but no time of day (e.g. 2026-01-15 10:30)"), value=_shown(value)
        )
    hour = int(m.group("H"))
    minute = int(m.group("M") or m.group("M2") or 0)
    second = int(m.group("S") or m.group("S2") or 0)
    if hour > 23 or minute > 59 or second > 59:
        raise CellError(N_("“%(value)s” is not a real time of day"), value=_shown(value))
    zone: tzinfo = tz
    offset = m.group("tz")
    if offset:
        if offset == "Z":
            zone = UTC
        else:
            sign = -1 if offset[0] == "-" else 1
            digits = offset[1:].replace(":", "")
            zone = timezone(sign * timedelta(hours=int(digits[:2]), minutes=int(digits[2:])))
    return datetime.combine(day, time(hour, minute, second), tzinfo=zone).astimezone(UTC)


_TRUE = {"y", "yes", "1", "是", "true", "t", "对"}
_FALSE = {"n", "no", "0", "否", "false", "f"}


def parse_flag(value) -> bool | None:
    """`Y/N`, `1/0`, `是/否`, `true/false` (any case); empty is None (no information)."""
    if isinstance(value, bool):
        return value
    text = cell_text(value).casefold()
    if not text:
        return None
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise CellError(
        N_("“%(value)s” is not a yes/no flag (use Y/N, 1/0, 是/否 or true/false)"), value=_shown(value)
    )


_CLASSES = {
    "potential": "potential", "潜在": "potential", "潜在客户": "potential",
    "existing": "existing", "保有": "existing", "保有客户": "existing",
    "vip": "vip", "vip客户": "vip",
    "key": "key", "keyaccount": "key", "大客户": "key",
}  # fmt: skip


def _vocabulary(value, table: dict[str, str], message: str) -> str | None:
    """A cell naming one of a fixed set of values in English or Chinese."""
    text = cell_text(value)
    if not text:
        return None
    found = table.get(_word_key(text))
    if found is None:
        raise CellError(message, value=_shown(value))
    return found


@lru_cache(maxsize=1024)
def _word_key(text: str) -> str:
    """header_key of a vocabulary cell: a file repeats a handful of them in every row."""
    return header_key(text)


def parse_class(value) -> str | None:
    return _vocabulary(
        value,
        _CLASSES,
        N_("“%(value)s” is not a customer class (potential, existing, vip, key / 潜在, 保有, VIP, 大客户)"),
    )


_VISIT_KINDS = {
    "firstservice": "first_service", "首保": "first_service", "首次保养": "first_service",
    "maintenance": "maintenance", "定保": "maintenance", "定期保养": "maintenance",
    "repair": "repair", "维修": "repair",
    "warranty": "warranty", "索赔": "warranty",
    "other": "other", "其他": "other",
}  # fmt: skip


def parse_visit_kind(value) -> str | None:
    return _vocabulary(
        value,
        _VISIT_KINDS,
        N_("“%(value)s” is not a visit kind (first_service, maintenance, repair, warranty, other / 首保, 定保, 维修, 索赔, 其他)"),
    )


_LUNAR_RE = re.compile(r"^(\d{1,2})\s*(?:[-/.]|月)\s*(\d{1,2})\s*日?$")


def parse_lunar(value) -> str | None:
    """A lunar-calendar birthday `MM-DD` (month 1–12, day 1–30) → `MM-DD`."""
    if isinstance(value, date):  # Excel turned "03-15" into a date of this year
        month, day = value.month, value.day
    else:
        text = cell_text(value)
        if not text:
            return None
        m = _LUNAR_RE.match(text)
        if not m:
            raise CellError(
                N_("“%(value)s” is not a lunar birthday (MM-DD, month 1–12, day 1–30)"), value=_shown(value)
            )
        month, day = int(m.group(1)), int(m.group(2))
    if not (1 <= month <= 12 and 1 <= day <= 30):
        raise CellError(
            N_("“%(value)s” is not a lunar birthday (MM-DD, month 1–12, day 1–30)"), value=_shown(value)
        )
    return f"{month:02d}-{day:02d}"


_CLOCK_RE = re.compile(r"^(\d{1,2})\s*[:：时点]\s*(\d{1,2})\s*分?(?:[:：]\d{1,2})?$")


def parse_clock(value) -> time | None:
    """A time of day: `09:30`, `9:30`, `9点30分`, an Excel time cell."""
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.time().replace(second=0, microsecond=0, tzinfo=None)
    if isinstance(value, time):
        return value.replace(second=0, microsecond=0, tzinfo=None)
    text = cell_text(value)
    if not text:
        return None
    m = _CLOCK_RE.match(unicodedata.normalize("NFKC", text))
    if not m or int(m.group(1)) > 23 or int(m.group(2)) > 59:
        raise CellError(N_("“%(value)s” is not a time of day (use HH:MM, e.g. 09:30)"), value=_shown(value))
    return time(int(m.group(1)), int(m.group(2)))


def parse_int(value) -> int | None:
    """A whole number ≥ 0: `12345`, `12,345`, `12345.0`, ` 12 345 `."""
    if isinstance(value, bool):
        raise CellError(N_("“%(value)s” is not a whole number"), value=_shown(value))
    if isinstance(value, int):
        number = value
    else:
        text = cell_text(value)
        if not text:
            return None
        cleaned = re.sub(r"[\s,，]", "", text)
        cleaned = re.sub(r"\.0+$", "", cleaned)
        if not re.fullmatch(r"[+-]?\d+", cleaned):
            raise CellError(N_("“%(value)s” is not a whole number"), value=_shown(value))
        if len(cleaned.lstrip("+-0")) > 12:
            raise CellError(N_("“%(value)s” is too large"), value=_shown(value))
        number = int(cleaned)
    if number < 0:
        raise CellError(N_("“%(value)s” may not be negative"), value=_shown(value))
    if number > INT_MAX:
        raise CellError(N_("“%(value)s” is too large"), value=_shown(value))
    return number


def parse_amount(value) -> Decimal | None:
    """An amount of money ≥ 0, to the cent: `1234.5`, `1,234.50`, `¥1234`, `1234元`."""
    if isinstance(value, bool):
        raise CellError(N_("“%(value)s” is not an amount of money"), value=_shown(value))
    if isinstance(value, int | float):
        text = repr(value) if isinstance(value, float) else str(value)
    else:
        text = cell_text(value)
    if not text:
        return None
    cleaned = re.sub(r"[\s,，¥￥元]|RMB|CNY", "", text, flags=re.IGNORECASE)
    if not re.fullmatch(r"[+-]?(\d+(\.\d*)?|\.\d+)(e[+-]?\d+)?", cleaned, flags=re.IGNORECASE):
        raise CellError(N_("“%(value)s” is not an amount of money"), value=_shown(value))
    try:
        amount = Decimal(cleaned).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    except InvalidOperation:
        raise CellError(N_("“%(value)s” is not an amount of money"), value=_shown(value)) from None
    if amount < 0:
        raise CellError(N_("“%(value)s” may not be negative"), value=_shown(value))
    if amount > AMOUNT_MAX:
        raise CellError(N_("“%(value)s” is too large"), value=_shown(value))
    return amount


def parse_vin(value) -> str | None:
    """A VIN (ISO 3779 / GB 16735, check digit verified), normalized to upper case."""
    text = cell_text(value)
    if not text:
        return None
    vin = normalize_vin(text)
    if len(vin) != 17:
        raise CellError(
            N_("VIN “%(value)s” has %(length)s characters; a VIN has 17"), value=_shown(value), length=len(vin)
        )
    bad = sorted({c for c in vin if c in "IOQ"})
    if bad:
        raise CellError(
            N_("VIN “%(value)s” contains %(letters)s (the letters I, O and Q are not used in VINs)"),
            value=vin,
            letters=", ".join(bad),
        )
    if not re.fullmatch(r"[A-Z0-9]{17}", vin):
        raise CellError(N_("VIN “%(value)s” may contain only letters and digits"), value=_shown(value))
    expected = check_digit(vin)
    if vin[8] != expected:
        raise CellError(
            N_("VIN “%(value)s”: the check digit (position 9) is %(found)s, but the other characters give %(expected)s"),
            value=vin,
            found=vin[8],
            expected=expected,
        )
    return vin


# --- rows --------------------------------------------------------------------------------


@dataclass
class ParsedRow:
    row: int  # as a spreadsheet shows it: the header is row 1
    values: dict[str, object]  # column key -> parsed value; None for an empty cell
    errors: list[tuple[str, DmsError]]  # (column key, problem)
    warnings: list[tuple[str, DmsError]] = field(default_factory=list)  # (column key, note)

    @property
    def ok(self) -> bool:
        return not self.errors


def parse_row(header: HeaderMap, row: int, cells, *, tz: tzinfo) -> ParsedRow:
    """Parse the cells of one data row; every problem is collected, none raised."""
    values: dict[str, object] = {}
    errors: list[tuple[str, DmsError]] = []
    n = len(cells)
    for column, i in header.present:
        raw = cells[i] if i < n else None
        try:
            value = _parse(column, raw, tz)
        except CellError as exc:
            errors.append((column.key, exc))
            continue
        if value is None and column.required:
            errors.append((column.key, CellError(N_("%(column)s is required but empty"), column=column.label)))
            continue
        values[column.key] = value
    return ParsedRow(row, values, errors)


def _parse(column: Column, raw, tz: tzinfo):
    t = column.type
    if t == DATETIME:
        return parse_datetime(raw, tz)
    parse = _PARSERS.get(t)
    if parse is not None:
        return parse(raw)
    # text, and the types the service finishes (phone, e-mail, references)
    return parse_text(raw, column.max_len)


_PARSERS = {
    DATE: parse_date, FLAG: parse_flag, CLASS: parse_class, VISIT_KIND: parse_visit_kind, LUNAR: parse_lunar,
    INT: parse_int, AMOUNT: parse_amount, VIN: parse_vin, PLATE: parse_plate, CLOCK: parse_clock,
}  # fmt: skip


def is_blank(cells) -> bool:
    return all(cell_text(c) == "" for c in cells)


# --- the rejected rows, back to the user ---------------------------------------------------

RAW_CELL_MAX = 2000  # characters of one cell kept for the rejected-rows file


def raw_cell(value) -> str:
    """A cell as the file has it, for the rejected-rows file: text untouched (a CSV cell is
    given back exactly, up to RAW_CELL_MAX characters), a workbook's numbers and dates as
    text that imports to the same value (`12345`, `2026-01-15`, `2026-01-15 10:30:00`)."""
    text = value if isinstance(value, str) else cell_text(value)
    return text[:RAW_CELL_MAX]


def spreadsheet_safe(text: str) -> str:
    """Keep a spreadsheet from reading a cell as a formula (CSV injection): an apostrophe
    before `=`, `+`, `-`, `@`, tab or carriage return, which `cell_text` takes off again
    when the file comes back, so that the cell imports as it was."""
    return "'" + text if text[:1] in FORMULA_STARTS else text


def rejects_table(
    headers: list[str] | None,
    rows: list[tuple[int, list[str]]],
    problems: dict[int, list[str]],
    *,
    row_header: str,
    problems_header: str,
) -> list[list[str]]:
    """The rejected rows as a table that can be corrected and imported again as it is: the
    row number and the problems first (columns the import ignores), then the file's own
    columns with the row's own cells. `rows` are (row number, cells); `problems` the
    texts per row number. Without the file's headers (a run stored before they were
    kept), only the row numbers and problems."""
    keep_cells = headers is not None
    table = [[spreadsheet_safe(h) for h in (row_header, problems_header, *(headers or []))]]
    for row, cells in rows:
        line = [str(row), "; ".join(problems.get(row, []))]
        if keep_cells:
            line += cells + [""] * (len(headers) - len(cells))  # a workbook leaves trailing blanks out
        table.append([spreadsheet_safe(cell) for cell in line])
    return table

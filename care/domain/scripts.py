"""Call scripts (话术, domain.md §4): the merge-field vocabulary, parsing, rendering.

A script body is plain text with merge fields in braces: ``{customer_name}``, ``{plate}``
… (the vocabulary is ``FIELDS``). Each field also answers to its Chinese name, so
``{车牌}`` is ``{plate}``. ``{{`` and ``}}`` write a literal brace.

- ``parse(body)`` returns the pieces and every problem with its position (offset, line
  and column): an unknown field (with the nearest known name as a hint), an empty or
  malformed field, a ``{`` never closed on its line, a ``}`` never opened, a field written
  with full-width braces ``｛plate｝`` (the Chinese input method's braces, which would be
  read out as text). ``validate(body)`` returns just the problems; a body with problems
  is refused by the service.
- ``render(body, context)`` fills the fields from a dict of raw values (``date``, ``int``,
  ``str`` …, formatted here the Chinese way: 2026年3月15日, 12,345). A missing value
  (absent, ``None`` or blank) renders as a visible placeholder such as 【车牌】, so the
  caller sees what the data lacks instead of a gap. Rendering never raises: whatever
  ``parse`` complains about is rendered as written. The result is plain text; escaping is
  the template engine's job. ``render_pieces`` gives the same text in pieces (literal,
  value, missing) so that a page can mark the filled-in parts.

Salutation (称呼): the data has no gender, so 先生/女士 after the surname cannot be
chosen. ``{salutation}`` is the full name followed by a gender-neutral honorific,
``车主`` by default (王伟车主 – "owner Wang Wei", as dealers address owners in calls and
messages); it reads naturally both in a greeting (``{salutation}，您好！``) and inside a
sentence (``祝{salutation}生日快乐``). The honorific is a parameter of ``salutation``
so that a setting can change it later. A customer that is an organization (a name ending
in 公司, 集团, 厂 …: fleet and key accounts) is addressed by its name alone
(四川鼎信物流有限公司，您好！), never "…有限公司车主".

The default scripts (``DEFAULT_SCRIPTS``, one per task type) are content in Chinese,
worded after the seed documents: the care procedure 「客户关怀标准流程」 and the
after-sales callback questions.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from care.domain import N_
from care.domain.lapsed import loss_reason_words
from care.domain.task_rules import TaskType

DEFAULT_HONORIFIC = "车主"
MAX_TITLE = 200  # ScriptVersion.title
MAX_NOTE = 500  # ScriptVersion.note
MAX_BODY = 20_000  # characters: far beyond a call script, small enough for any page
MAX_ERRORS = 50  # problems reported for one body (a pasted document could have thousands)

# --- the vocabulary --------------------------------------------------------------------

G_CUSTOMER, G_VEHICLE, G_TASK, G_INSURANCE, G_DEALER = (
    "customer",
    "vehicle",
    "task",
    "insurance",
    "dealer",
)
GROUPS = (G_CUSTOMER, G_VEHICLE, G_TASK, G_INSURANCE, G_DEALER)

TEXT, DATE, NUMBER = "text", "date", "number"


@dataclass(frozen=True)
class MergeField:
    name: str  # what the script writes: {name}
    zh: str  # its Chinese name: also accepted as {zh}, and the placeholder 【zh】
    label: str  # English description, translated where shown
    group: str
    kind: str  # text, date or number: how a value is formatted
    example: Any  # a believable value for the sample preview

    @property
    def placeholder(self) -> str:
        return f"【{self.zh}】"


def _f(name, zh, label, group, kind, example) -> MergeField:
    return MergeField(name, zh, label, group, kind, example)


FIELDS: tuple[MergeField, ...] = (
    _f("customer_name", "客户姓名", N_("Customer's full name"), G_CUSTOMER, TEXT, "王伟"),
    _f("salutation", "称呼", N_("Salutation: full name + 车主 (no gender is recorded); a company: its name"), G_CUSTOMER, TEXT, "王伟车主"),
    _f("plate", "车牌", N_("Plate"), G_VEHICLE, TEXT, "川A12345"),
    _f("model", "车型", N_("Model"), G_VEHICLE, TEXT, "速腾 1.4T"),
    _f("vin_last6", "车架号后六位", N_("Last 6 characters of the VIN"), G_VEHICLE, TEXT, "123456"),
    _f("delivery_date", "交车日期", N_("Delivery date"), G_VEHICLE, DATE, date(2026, 1, 15)),
    _f("mileage", "行驶里程", N_("Last known mileage (km, number only)"), G_VEHICLE, NUMBER, 4800),
    _f("warranty_end", "保修到期日", N_("Warranty end date"), G_VEHICLE, DATE, date(2029, 1, 14)),
    _f("warranty_km", "保修里程", N_("Warranty mileage limit (km)"), G_VEHICLE, NUMBER, 100000),
    _f("inspection_due", "年检到期日", N_("Annual inspection due"), G_VEHICLE, DATE, date(2028, 1, 31)),
    _f("last_visit_date", "上次进厂日期", N_("Date of the last service visit (any kind)"), G_VEHICLE, DATE, date(2025, 9, 20)),
    _f("last_service_date", "上次保养日期", N_("Date of the last first/regular service"), G_VEHICLE, DATE, date(2025, 9, 20)),
    _f("consultant_name", "销售顾问", N_("Selling consultant"), G_VEHICLE, TEXT, "李娜"),
    _f("due_date", "截止日期", N_("The task's deadline (e.g. first service due by)"), G_TASK, DATE, date(2026, 4, 15)),
    _f("visit_date", "服务日期", N_("Date of the visit a callback is about"), G_TASK, DATE, date(2026, 3, 2)),
    _f("loss_reasons", "流失原因", N_("The loss reasons of the outcome form, as one list (lapsed recall)"), G_TASK, TEXT, loss_reason_words()),
    _f("appointment_date", "预约日期", N_("The appointment's date (the reminder the day before)"), G_TASK, DATE, date(2026, 3, 18)),
    _f("appointment_time", "预约时间", N_("The appointment's time (HH:MM)"), G_TASK, TEXT, "09:30"),
    _f("insurer", "保险公司", N_("Insurer"), G_INSURANCE, TEXT, "中国人保"),
    _f("policy_expiry", "保险到期日", N_("Policy expiry date"), G_INSURANCE, DATE, date(2026, 5, 20)),
    _f("dealer_name", "经销商名称", N_("Dealer name (setting)"), G_DEALER, TEXT, "成都一汽-大众4S店"),
    _f("specialist_name", "专员姓名", N_("Name of the person calling"), G_DEALER, TEXT, "张敏"),
    _f("specialist_extension", "分机号", N_("Their phone extension"), G_DEALER, TEXT, "8012"),
    _f("today", "今天日期", N_("Today's date"), G_DEALER, DATE, date(2026, 3, 16)),
    _f("first_service_months", "首保期限月数", N_("First service due within … months of delivery (setting)"), G_DEALER, NUMBER, 3),
    _f("service_interval_months", "保养间隔月数", N_("Maintenance interval in months (setting)"), G_DEALER, NUMBER, 6),
    _f("service_interval_km", "保养间隔公里数", N_("Maintenance interval in km (setting)"), G_DEALER, NUMBER, 5000),
)

BY_NAME: dict[str, MergeField] = {f.name: f for f in FIELDS}
# {plate} and {车牌} both name the plate.
ALIASES: dict[str, MergeField] = {**BY_NAME, **{f.zh: f for f in FIELDS}}

_NAME = re.compile(r"^(?:[A-Za-z_][A-Za-z0-9_]*|[\u3400-\u9fff\uf900-\ufaff]+)$")
_FULLWIDTH_FIELD = re.compile(r"｛\s*([^｛｝{}\n]{1,40}?)\s*｝")


# How the names of organizations end (a person's name does not): 公司, 集团 …
ORGANIZATION_ENDINGS = (
    "公司", "集团", "厂", "中心", "医院", "学校", "大学", "学院", "研究院", "研究所",
    "事务所", "合作社", "协会", "银行", "酒店", "局", "委员会", "车队",
)  # fmt: skip


def is_organization(name: str | None) -> bool:
    """Is this customer name an organization's (四川鼎信物流有限公司) rather than a person's?"""
    return (name or "").strip().endswith(ORGANIZATION_ENDINGS)


def salutation(name: str | None, honorific: str = DEFAULT_HONORIFIC) -> str | None:
    """称呼: the full name and a gender-neutral honorific (王伟车主); an organization's name
    alone (四川鼎信物流有限公司); None without a name."""
    name = (name or "").strip()
    if not name:
        return None
    return name if is_organization(name) else f"{name}{honorific}"


def sample_context() -> dict[str, Any]:
    """Believable values for every field: the preview before a customer is chosen. The
    caller replaces the dealer's own values (its name, the settings, today, the person
    calling) with the real ones (care.services.scripts.preview)."""
    return {f.name: f.example for f in FIELDS}


def fixed_values() -> dict[str, Any]:
    """The fields whose value is the same for every customer and comes from the domain
    itself (not from a setting nor the data): the loss reasons of the outcome form."""
    return {"loss_reasons": loss_reason_words()}


# --- parsing ---------------------------------------------------------------------------


@dataclass(frozen=True)
class TemplateProblem:
    """One thing wrong in a body, where it is. ``message`` is an English template
    (marked with ``N_``) filled from ``params``; ``offset`` counts characters from 0,
    ``line`` and ``column`` from 1; ``length`` characters are at fault."""

    code: str
    message: str
    params: dict[str, Any]
    offset: int
    line: int
    column: int
    length: int = 1

    def __str__(self) -> str:
        text = self.message % self.params if self.params else self.message
        return f"line {self.line}, column {self.column}: {text}"


@dataclass(frozen=True)
class Literal:
    text: str


@dataclass(frozen=True)
class FieldRef:
    field: MergeField
    offset: int
    written: str  # as written, e.g. "{车牌}"


Piece = Literal | FieldRef


@dataclass(frozen=True)
class Parsed:
    pieces: tuple[Piece, ...]
    problems: tuple[TemplateProblem, ...]
    more_problems: int = 0  # beyond MAX_ERRORS, not listed

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def fields(self) -> tuple[str, ...]:
        """The field names used, in order of first use."""
        seen: dict[str, None] = {}
        for p in self.pieces:
            if isinstance(p, FieldRef):
                seen.setdefault(p.field.name, None)
        return tuple(seen)


class _Builder:
    def __init__(self, text: str):
        self.text = text
        self.pieces: list[Piece] = []
        self.buf: list[str] = []
        self.problems: list[TemplateProblem] = []
        self.more = 0
        self._line_starts = [0] + [m.end() for m in re.finditer("\n", text)]

    def literal(self, s: str) -> None:
        self.buf.append(s)

    def field(self, f: MergeField, offset: int, written: str) -> None:
        self._flush()
        self.pieces.append(FieldRef(f, offset, written))

    def problem(self, code: str, message: str, offset: int, length: int = 1, **params) -> None:
        if len(self.problems) >= MAX_ERRORS:
            self.more += 1
            return
        line = _bisect_right(self._line_starts, offset)
        column = offset - self._line_starts[line - 1] + 1
        self.problems.append(TemplateProblem(code, message, params, offset, line, column, length))

    def _flush(self) -> None:
        if self.buf:
            self.pieces.append(Literal("".join(self.buf)))
            self.buf = []

    def result(self) -> Parsed:
        self._flush()
        return Parsed(tuple(self.pieces), tuple(self.problems), self.more)


def _bisect_right(starts: list[int], offset: int) -> int:
    lo, hi = 0, len(starts)
    while lo < hi:
        mid = (lo + hi) // 2
        if starts[mid] <= offset:
            lo = mid + 1
        else:
            hi = mid
    return lo


def suggest(name: str) -> str | None:
    """The known field name nearest to a misspelt one ({custmer_name} → customer_name)."""
    lowered = name.lower()
    if lowered in ALIASES:
        return ALIASES[lowered].name
    close = difflib.get_close_matches(lowered, list(ALIASES), n=1, cutoff=0.6)
    return ALIASES[close[0]].name if close else None


def parse(text: str) -> Parsed:
    """The pieces of a body and its problems (see the module docstring)."""
    b = _Builder(text)
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch == "{":
            if text.startswith("{{", i):
                b.literal("{")
                i += 2
                continue
            j = i + 1
            while j < n and text[j] not in "{}\n":
                j += 1
            if j >= n or text[j] != "}":
                b.problem(
                    "unclosed_brace",
                    N_("“{” is not closed on its line (write “{{” for a brace)"),
                    i,
                )
                b.literal("{")
                i += 1
                continue
            written = text[i : j + 1]
            name = text[i + 1 : j].strip()
            f = ALIASES.get(name)
            if f is not None:
                b.field(f, i, written)
            elif not name:
                b.problem("empty_field", N_("empty field “{}”: name a merge field"), i, len(written))
                b.literal(written)
            elif not _NAME.match(name):
                b.problem(
                    "bad_field",
                    N_("“%(written)s” is not a merge field (write “{{” and “}}” for braces)"),
                    i,
                    len(written),
                    written=written,
                )
                b.literal(written)
            else:
                hint = suggest(name)
                if hint:
                    b.problem(
                        "unknown_field",
                        N_("unknown merge field “%(name)s”; did you mean {%(hint)s}?"),
                        i,
                        len(written),
                        name=name,
                        hint=hint,
                    )
                else:
                    b.problem("unknown_field", N_("unknown merge field “%(name)s”"), i, len(written), name=name)
                b.literal(written)
            i = j + 1
            continue
        if ch == "}":
            if text.startswith("}}", i):
                b.literal("}")
                i += 2
                continue
            b.problem("unmatched_brace", N_("“}” closes nothing (write “}}” for a brace)"), i)
            b.literal("}")
            i += 1
            continue
        if ch == "｛":
            m = _FULLWIDTH_FIELD.match(text, i)
            if m and m.group(1) in ALIASES:
                f = ALIASES[m.group(1)]
                b.problem(
                    "fullwidth_brace",
                    N_("“%(written)s” uses full-width braces: write {%(name)s}"),
                    i,
                    len(m.group(0)),
                    written=m.group(0),
                    name=f.name,
                )
        b.literal(ch)
        i += 1
    return b.result()


def validate(text: str) -> tuple[TemplateProblem, ...]:
    return parse(text).problems


def normalize_body(text: str) -> str:
    """The body as stored: Windows/Mac line ends made ``\\n``, trailing spaces of each
    line and blank lines at both ends removed (a browser's textarea sends ``\\r\\n``;
    comparing versions should not depend on it)."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    return "\n".join(line.rstrip() for line in lines).strip("\n")


# --- rendering -------------------------------------------------------------------------


def format_value(f: MergeField, value: Any) -> str | None:
    """A raw value as read out (None: missing). Dates 2026年3月15日, numbers 12,345."""
    if value is None:
        return None
    if isinstance(value, datetime):
        return f"{value.year}年{value.month}月{value.day}日 {value.hour:02d}:{value.minute:02d}"
    if isinstance(value, date):
        return f"{value.year}年{value.month}月{value.day}日"
    if isinstance(value, bool):
        return "是" if value else "否"
    if isinstance(value, int | Decimal):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:,.0f}" if value.is_integer() else f"{value:,.1f}"
    text = str(value).strip()
    return text or None


@dataclass(frozen=True)
class Rendered:
    """A rendered piece: ``kind`` is ``text`` (the script's own words), ``value`` (a
    filled field) or ``missing`` (a placeholder)."""

    kind: str
    text: str
    field: str | None = None


def render_pieces(body: str, context: Mapping[str, Any]) -> list[Rendered]:
    out: list[Rendered] = []
    for piece in parse(body).pieces:
        if isinstance(piece, Literal):
            out.append(Rendered("text", piece.text))
            continue
        f = piece.field
        text = format_value(f, context.get(f.name))
        if text is None:
            out.append(Rendered("missing", f.placeholder, f.name))
        else:
            out.append(Rendered("value", text, f.name))
    return out


def render(body: str, context: Mapping[str, Any]) -> str:
    """Plain text with the fields filled; missing values as 【…】 placeholders."""
    return "".join(p.text for p in render_pieces(body, context))


def missing_fields(body: str, context: Mapping[str, Any]) -> list[str]:
    """The fields a body uses that the context cannot fill (each once, in order)."""
    seen: dict[str, None] = {}
    for p in render_pieces(body, context):
        if p.kind == "missing" and p.field:
            seen.setdefault(p.field, None)
    return list(seen)


# --- versions --------------------------------------------------------------------------


@dataclass(frozen=True)
class DiffLine:
    op: str  # "+", "-" or " "
    text: str


def diff_lines(old: str, new: str, context: int = 2) -> list[DiffLine]:
    """The changes from ``old`` to ``new`` line by line: removed (-), added (+) and up to
    ``context`` unchanged lines around each change; ``…`` marks skipped lines."""
    a, b = old.split("\n"), new.split("\n")
    out: list[DiffLine] = []
    groups = difflib.SequenceMatcher(None, a, b, autojunk=False).get_grouped_opcodes(context)
    for gi, group in enumerate(groups):
        if gi:
            out.append(DiffLine(" ", "…"))
        for tag, i1, i2, j1, j2 in group:
            if tag == "equal":
                out.extend(DiffLine(" ", line) for line in a[i1:i2])
                continue
            if tag in ("replace", "delete"):
                out.extend(DiffLine("-", line) for line in a[i1:i2])
            if tag in ("replace", "insert"):
                out.extend(DiffLine("+", line) for line in b[j1:j2])
    return out


# --- outcome statistics ----------------------------------------------------------------


@dataclass
class VersionTally:
    """Outcomes recorded with one script version (``version`` None: no version noted)."""

    version: int | None
    by_outcome: dict[str, int] = field(default_factory=dict)
    closing: int = 0  # outcomes that closed their task

    @property
    def total(self) -> int:
        return sum(self.by_outcome.values())

    @property
    def closing_share(self) -> float | None:
        return self.closing / self.total if self.total else None


def tally(rows: Iterable[tuple[int | None, str, bool, int]]) -> dict[int | None, VersionTally]:
    """Rows of (version, outcome, closes_task, count) → one tally per version."""
    out: dict[int | None, VersionTally] = {}
    for version, outcome, closes, count in rows:
        t = out.setdefault(version, VersionTally(version))
        t.by_outcome[outcome] = t.by_outcome.get(outcome, 0) + count
        if closes:
            t.closing += count
    return out


# --- the default scripts ---------------------------------------------------------------

_GREETING = "{salutation}，您好！我是{dealer_name}的客服专员{specialist_name}，请问您现在方便接听电话吗？"
_CLOSING = (
    "【结束语】感谢您的接听！如有任何用车问题，欢迎随时来电联系我（分机{specialist_extension}）。"
    "祝您用车愉快，再见！"
)

DEFAULT_SCRIPTS: dict[TaskType, tuple[str, str]] = {
    TaskType.FIRST_SERVICE: (
        "首保提醒话术",
        f"""【问候】{_GREETING}
（如不方便：好的，请问您什么时间方便？我稍后再给您打过来。）

【近期车况】您的{{model}}（车牌{{plate}}）是{{delivery_date}}交车的，最近用车情况怎么样？车辆有没有什么异常或者使用上不清楚的地方？

【首保时间及里程】按照厂家规定，新车首次保养须在交车后{{first_service_months}}个月内完成，也就是{{due_date}}之前，并且行驶里程不超过{{service_interval_km}}公里，以先到者为准。请问您的车现在大约行驶了多少公里？（系统记录：{{mileage}}公里）

【携带物品】来店做首保时，请您带上行驶证和保养手册。

【预约】为了节省您的等候时间，我帮您预约一个进厂时间好吗？您看哪天上午或下午比较方便？
（预约成功：好的，已为您预约在__月__日__点，到时服务顾问会提前为您做好准备。）
（已在其他店做过首保：请问是在哪家店做的？大概在什么位置、费用是多少？我们做个记录，谢谢您。）
（暂不需要：好的，请问是什么原因呢？我们记录一下，首保期限前我们会再提醒您。）

{_CLOSING}""",
    ),
    TaskType.MAINTENANCE: (
        "定保提醒话术",
        f"""【问候】{_GREETING}

【提醒目的】您的{{model}}（车牌{{plate}}）上次保养是在{{last_service_date}}。按照每{{service_interval_months}}个月或{{service_interval_km}}公里保养一次的周期，预计在{{due_date}}前后需要做定期保养了。

【确认里程】请问您的车现在大约行驶了多少公里？（系统记录：{{mileage}}公里）

【预约】定期保养能让车辆保持良好状态。为了避免到店排队，我帮您预约一个进厂时间好吗？您看哪天比较方便？来店时请带上行驶证和保养手册。
（已在其他店保养：请问是在哪家店做的？大概在什么位置、费用是多少？我们做个记录，谢谢您。）
（暂不需要：好的，请问是什么原因呢？我们记录一下。）

{_CLOSING}""",
    ),
    TaskType.WARRANTY_EXPIRY: (
        "保修到期提醒话术",
        f"""【问候】{_GREETING}

【提醒目的】您的{{model}}（车牌{{plate}}）整车质量保修将于{{warranty_end}}到期（保修里程{{warranty_km}}公里，以先到者为准）。

【邀约检查】建议您在保修到期前来店做一次全面的免费车辆检查，如发现属于保修范围内的问题，可以在保修期内为您免费处理。我帮您预约一个进厂时间好吗？您看哪天比较方便？来店时请带上行驶证和保养手册。
（暂不需要：好的，请问是什么原因呢？我们记录一下。）

{_CLOSING}""",
    ),
    TaskType.INSPECTION: (
        "年检提示话术",
        f"""【问候】{_GREETING}

【提醒目的】您的{{model}}（车牌{{plate}}）年检将于{{inspection_due}}到期，提醒您提前安排，以免逾期影响用车。

【服务介绍】年检前我们可以为您免费检查灯光、轮胎、制动和排放等项目，检查合格再去年检更省心。办理年检时请带好行驶证和交强险保单。需要我帮您预约一个检查时间吗？

{_CLOSING}""",
    ),
    TaskType.INSURANCE_RENEWAL: (
        "保险到期提醒话术",
        """【问候】{salutation}，您好！我是{dealer_name}的保险专员{specialist_name}，请问您现在方便接听电话吗？

【提醒目的】您的{model}（车牌{plate}）在{insurer}投保的车险将于{policy_expiry}到期。为了避免脱保给您用车带来风险，提醒您提前安排续保。

【续保服务】在我店续保，出险后可以直接在店内定损、维修，理赔更方便。请问您今年续保有什么打算？需要我先为您做一份报价吗？
（已在其他渠道续保：好的，请问是在哪家保险公司续保的？我们做个记录，谢谢您。）

【结束语】感谢您的接听！如有任何问题，欢迎随时来电联系我（分机{specialist_extension}）。祝您用车愉快，再见！""",
    ),
    TaskType.BIRTHDAY: (
        "生日祝福话术",
        """【问候】{salutation}，您好！我是{dealer_name}的客服专员{specialist_name}，打扰您一分钟。

【生日祝福】今天是您的生日，{dealer_name}全体员工祝您生日快乐，身体健康，工作顺利，万事如意！

【关怀】感谢您一直以来对我们的信任和支持。最近用车还顺利吗？如果有需要我们帮忙的地方，请随时告诉我们。

【结束语】不打扰您了，再次祝您生日快乐，再见！
（如电话无法接通：当天上午会以短信送上祝福，无需再拨。）""",
    ),
    TaskType.DELIVERY_CALL: (
        "交车24小时回访话术",
        """【问候】{salutation}，您好！我是{dealer_name}的销售顾问{specialist_name}，请问您现在方便接听电话吗？

【回访目的】您的新车{model}（车牌{plate}）已于{delivery_date}交付，打电话来问候一下：请问您是否安全到家了？

【用车情况】新车开起来感觉怎么样？车上的功能和操作还有没有不清楚的地方？有任何问题都可以随时问我。

【首保提示】提醒您，新车首次保养须在交车后{first_service_months}个月内完成，行驶里程不超过{service_interval_km}公里，以先到者为准；到时客服专员也会提醒您。

【结束语】再次感谢您选择{dealer_name}！如有任何问题，欢迎随时联系我（分机{specialist_extension}）。祝您用车愉快，再见！""",
    ),
    TaskType.DELIVERY_SURVEY: (
        "交车满意度回访话术",
        f"""【问候】{_GREETING}

【回访目的】感谢您选择{{dealer_name}}！您于{{delivery_date}}提了新车{{model}}，我们想占用您几分钟做一个简短的满意度回访。

【交车回访核查】请问交车以后，销售顾问{{consultant_name}}有没有给您打电话问候、了解用车情况？

【满意度调查】请您按1到7分评价（1分为非常不满意，4分为一般，7分为非常满意），按问卷逐项询问：销售接待、销售顾问、展厅环境、购车手续、交车过程。
（任一项4分及以下：请问是哪方面让您不满意？我们记录下来，会尽快处理并给您回复。）

{_CLOSING}""",
    ),
    TaskType.LAPSED_RECALL: (
        "流失客户回访话术",
        f"""【问候】{_GREETING}

【回访目的】您的{{model}}（车牌{{plate}}）上次来店是在{{last_visit_date}}，已经有一段时间没有见到您了，想了解一下您最近的用车情况。

【了解原因】请问这段时间车辆是在哪里保养的呢？是我们哪方面做得不够好吗？（记录流失原因：{{loss_reasons}}）

【召回邀约】您的意见对我们非常重要，我们会认真改进。目前店里有车主关怀活动，欢迎您回店为爱车做一次检查。我帮您预约一个时间好吗？来店时请带上行驶证和保养手册。

{_CLOSING}""",
    ),
    TaskType.SERVICE_CALLBACK: (
        "售后服务回访话术",
        f"""【问候】{_GREETING}

【回访目的】您的{{model}}（车牌{{plate}}）于{{visit_date}}在我店进行了维修保养，想占用您几分钟了解一下您对这次服务的感受。请您按1到7分评价，7分为非常满意：
1. 到店时，接待人员是否及时迎接您，并且面带微笑？
2. 服务顾问是否与您一同检查车辆，确认车辆故障？
3. 服务顾问是否向您详细解释了将要采取的维修措施？
4. 服务顾问是否为您做了详细的报价？
5. 服务顾问是否告知您维修所需要的时间？
6. 维修人员是否爱护您的车辆及您的私人物品？
7. 维修项目发生变化时，是否有人征求您的意见，并重新确认费用及时间？
8. 是否一次性为您解决了您提出的问题？
9. 维修后，您的车辆看起来是否干净整洁？
10. 服务顾问是否与您逐一确认您的问题已得到解决？
11. 服务顾问是否就今后的车辆使用及保养提出建议？
12. 是否为您提供了详细的项目及费用清单？
13. 在我店接受服务的过程中，您是否感到舒适、便捷？
14. 服务人员是否热情、诚实地对待您，积极帮助您解决问题？
（任一项4分及以下：请问是哪方面让您不满意？我们记录下来，会尽快处理并给您回复。）

{_CLOSING}""",
    ),
    TaskType.APPOINTMENT: (
        "主动预约话术",
        f"""【问候】{_GREETING}

【预约目的】您的{{model}}（车牌{{plate}}）目前行驶约{{mileage}}公里，预计在{{due_date}}前后需要保养了。

【预约邀请】为了让您到店后不用排队等候，我们可以提前为您预约，服务顾问会提前备好配件、安排工位。请问您哪天、几点比较方便？
（预约成功：好的，已为您预约在__月__日__点。来店时请带上行驶证和保养手册。）
（暂不需要：好的，请问是什么原因呢？我们记录一下。）

{_CLOSING}""",
    ),
}


# --- one conversation: the scripts of a contact's tasks assembled ------------------------
#
# A contact with several due tasks is one call (domain.md §3 "one contact"), so its
# scripts are read as one: the greeting once, then each task's own part, the closing
# once. Where a script's greeting and closing are is written in the script itself, by
# the convention the default scripts follow and the care manager keeps on the scripts
# page: a section starts with its heading 【name】 at the start of a line and runs to
# the next heading. 【问候】 (or 【开场白】) is the greeting, 【结束语】 (or 【结语】) the
# closing; everything else — the text before the first heading and every other section
# — is the task's own part. A script without these headings is all its own part.


GREETING_HEADINGS = frozenset({"问候", "开场白", "开场"})
CLOSING_HEADINGS = frozenset({"结束语", "结语", "结束"})
_SECTION_HEADING = re.compile(r"^[ \t\u3000]*【([^】\n]{1,20})】", re.MULTILINE)


@dataclass(frozen=True)
class ScriptParts:
    """A script body cut at its section headings (each part still holds its headings and
    merge fields, and is rendered like a body)."""

    greeting: str
    own: str  # the task's own part: everything but the greeting and the closing
    closing: str


def _tidy(chunks: list[str]) -> str:
    return "\n\n".join(c.strip("\n") for c in chunks if c.strip())


def split_script(body: str) -> ScriptParts:
    """The greeting, own part and closing of a script body (see the convention above)."""
    heads = list(_SECTION_HEADING.finditer(body))
    starts = [0] + [m.start() for m in heads]
    names: list[str | None] = [None] + [m.group(1).strip() for m in heads]
    greeting: list[str] = []
    own: list[str] = []
    closing: list[str] = []
    for i, start in enumerate(starts):
        end = starts[i + 1] if i + 1 < len(starts) else len(body)
        chunk = body[start:end]
        name = names[i]
        if name in GREETING_HEADINGS:
            greeting.append(chunk)
        elif name in CLOSING_HEADINGS:
            closing.append(chunk)
        else:
            own.append(chunk)
    return ScriptParts(_tidy(greeting), _tidy(own), _tidy(closing))


@dataclass(frozen=True)
class AssembledScript:
    """The scripts of one call: ``greeting`` and ``closing`` once each (the source text,
    from the script at index ``greeting_from`` / ``closing_from``, None when no script
    has one), and ``own`` the own part of each script in the order given ("" for a task
    without a script)."""

    greeting: str
    greeting_from: int | None
    own: tuple[str, ...]
    closing: str
    closing_from: int | None


def assemble(bodies: Iterable[str | None]) -> AssembledScript:
    """One conversation from the scripts of a contact's tasks, the lead task first
    (``None`` for a task without a script): the greeting of the first script that has
    one (the lead's, as a rule), every script's own part, the closing of the first script
    that has one."""
    parts = [split_script(b) if b else ScriptParts("", "", "") for b in bodies]
    g = next((i for i, p in enumerate(parts) if p.greeting), None)
    c = next((i for i, p in enumerate(parts) if p.closing), None)
    return AssembledScript(
        greeting=parts[g].greeting if g is not None else "",
        greeting_from=g,
        own=tuple(p.own for p in parts),
        closing=parts[c].closing if c is not None else "",
        closing_from=c,
    )

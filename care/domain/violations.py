"""R23 – violations and penalties, pure: what a finding is, the penalty table's rules
(which amount applies to whom, per item or flat, a range with its minimum as default),
how a month's findings are reconciled with the violations recorded so far, a manager's
decision, and the monthly summary per person.

The data are read by the detectors (care/services/violations.py and the detectors other
parts of the app add to its registry); each returns :class:`Finding` objects, or plain
dicts ``{"rule", "person_id", "evidence": [(kind, id)], "count", "detail"}`` which
:func:`as_finding` turns into one. A finding is identified within its month by its rule
and its *subject* (``Finding.subject``: the task of an R15 finding, the sampled call of a
verdict, the person of a monthly rate …), so that deriving again finds the same one.

The amounts (CNY) are settings (``penalty_*``, a range ``min-max`` or one amount; the
seed's values as defaults) named by :data:`PENALTIES`; whether a rule is charged per item
and whether it is in force at all are the penalty table's (care.models.Penalty), with the
defaults here. Standard library only.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from care.domain import N_, DomainError
from care.domain.roles import Role

MAX_REASON = 1000  # characters of a decision's reason
MAX_EVIDENCE = 500  # evidence items kept per violation (the count says how many there were)
MAX_COUNT = 100_000  # items one violation may count
_KIND_RE = re.compile(r"^[a-z][a-z_]{0,31}$")
_SUBJECT_MAX = 80


class Status(StrEnum):
    OPEN = "open"  # found in the data, no decision yet
    CONFIRMED = "confirmed"  # a manager confirmed it, with the amount
    WAIVED = "waived"  # a manager waived it, with the reason


STATUS_LABELS: dict[str, str] = {
    Status.OPEN: N_("open"),
    Status.CONFIRMED: N_("confirmed"),
    Status.WAIVED: N_("waived"),
}


class Action(StrEnum):
    CONFIRM = "confirm"
    WAIVE = "waive"


# --- the rules and their penalties ------------------------------------------------------------


@dataclass(frozen=True)
class PenaltyDef:
    """One row of the penalty table: ``rule`` (the violation's code), ``role`` (the role of
    the person it applies to; "" for whoever the finding names, or the department),
    ``setting`` (the setting holding the amount), ``per_item`` (default: the amount is per
    item counted, else once per violation), ``label`` (message id) and ``seed`` (what the
    seed document says; empty where the amount is the desk's own)."""

    rule: str
    role: str
    setting: str
    per_item: bool
    label: str
    seed: str = ""


ANY = ""  # a penalty row for whoever the finding names

PENALTIES: tuple[PenaltyDef, ...] = (
    PenaltyDef("r15_not_followed_up", ANY, "penalty_followup_missed", True,
               N_("First failed reminder not followed up (R15)"), "首次提示失败不再跟踪的处客服专员20元每条"),
    PenaltyDef("first_service_rate_low", ANY, "penalty_first_service_rate", False,
               N_("First-service reminder rate below the floor"), "首保提示率低于95%的处于客服专员200元"),
    PenaltyDef("care_not_done", ANY, "penalty_greeting_missed", True,
               N_("Birthday greeting late or not done"), "生日提醒、节日祝福等关怀未做的处客服专员50元罚款"),
    PenaltyDef("greetings_short", ANY, "penalty_greetings_short", False,
               N_("Fewer greeting campaigns than required in the month"), "节日祝福等关怀未做的处客服专员50元罚款"),
    PenaltyDef("reminder_not_standard", ANY, "penalty_reminder_not_standard", True,
               N_("Reminder not done to the standard process"), "不按照标准流程提示的处客服专员50-100元罚款"),
    PenaltyDef("insurance_sample_short", ANY, "penalty_insurance_sample_short", True,
               N_("Insurance QA sample short"), "保险到期提示抽查样板量达不到标准的处每条20元罚款"),
    PenaltyDef("insurance_reminder_below_standard", ANY, "penalty_insurance_not_standard", True,
               N_("Insurance reminder below standard"), "保险专员提示达不到要求标准的处50-100元罚款"),
    PenaltyDef("lapsed_data_late", ANY, "penalty_lapsed_data", False,
               N_("Lapsed-customer data late or untrue"), "流失客户数据不及时上报或数据不真实的处客服专员200元罚款"),
    PenaltyDef("analysis_not_reported", ANY, "penalty_analysis_missing", False,
               N_("Manager's data analysis not reported"), "客服经理未及时有效上报各项数据分析及汇报的处200元罚款"),
    PenaltyDef("plan_late", ANY, "penalty_plan_late", False,
               N_("Monthly summary and plan late"), "客服经理不及时制定工作总结计划的处200-300元罚款"),
    PenaltyDef("ssi_below_target", Role.SALES_MANAGER.value, "penalty_ssi_sales_manager", False,
               N_("Monthly SSI below target"), "SSI低于80：销售经理100元"),
    PenaltyDef("ssi_below_target", Role.CARE_MANAGER.value, "penalty_ssi_care_manager", False,
               N_("Monthly SSI below target"), "SSI低于80：客服经理100元"),
    PenaltyDef("ssi_below_target", Role.CONSULTANT.value, "penalty_ssi_consultant", False,
               N_("Monthly SSI below target"), "SSI低于80：销售顾问50元"),
    PenaltyDef("ssi_below_target", Role.SPECIALIST.value, "penalty_ssi_specialist", False,
               N_("Monthly SSI below target"), "SSI低于80：客服专员50元"),
    PenaltyDef("register_not_submitted", ANY, "penalty_register_not_submitted", True,
               N_("Appointment register not submitted (amount not in the seed)"), ""),
)  # fmt: skip

RULES: tuple[str, ...] = tuple(dict.fromkeys(p.rule for p in PENALTIES))
RULE_LABELS: dict[str, str] = {p.rule: p.label for p in PENALTIES}


def penalty_def(rule: str, role: str) -> PenaltyDef | None:
    return next((p for p in PENALTIES if p.rule == rule and p.role == role), None)


@dataclass(frozen=True)
class Penalty:
    """A penalty row in force: its amount range (CNY, the minimum the default), whether it
    counts per item, whether it is active."""

    rule: str
    role: str
    minimum: int
    maximum: int
    per_item: bool
    active: bool = True

    def __post_init__(self) -> None:
        if not 0 <= self.minimum <= self.maximum:
            raise ValueError(f"not an amount range: {self.minimum}-{self.maximum}")

    @property
    def is_range(self) -> bool:
        return self.minimum != self.maximum

    def total(self, count: int, unit: int | None = None) -> int:
        """The amount of a violation of ``count`` items at ``unit`` (default the minimum):
        ``unit × count`` per item, else ``unit``."""
        unit = self.minimum if unit is None else unit
        return unit * count if self.per_item else unit


def penalty_from_setting(d: PenaltyDef, amount: tuple[int, int], *, per_item: bool | None = None,
                         active: bool = True) -> Penalty:
    """The row ``d`` in force with its setting's amount and the table's flags."""
    lo, hi = amount
    return Penalty(d.rule, d.role, lo, hi, d.per_item if per_item is None else per_item, active)


def penalty_for(penalties: Iterable[Penalty], rule: str, roles: Iterable[str]) -> Penalty | None:
    """The active penalty of ``rule`` for a person holding ``roles`` (none: the
    department): the row of one of their roles (in the table's order), else the row for
    anyone; None when no active row applies (the finding is then no violation)."""
    held = {str(r) for r in roles}
    rows = [p for p in penalties if p.rule == rule and p.active]
    for p in rows:
        if p.role and p.role in held:
            return p
    return next((p for p in rows if not p.role), None)


# --- findings -------------------------------------------------------------------------------


class FindingInvalid(DomainError):
    """A detector returned something that is not a finding (a programming error)."""


@dataclass(frozen=True)
class Finding:
    """What a detector found: the rule, the person (a user id; None for the department),
    the evidence ``((kind, id), …)``, how many items it counts and facts to show
    (``detail``: plain JSON values). ``key`` tells apart several findings of one rule and
    person in a month (the task, the sampled call …); empty: one per person."""

    rule: str
    person_id: int | None
    evidence: tuple[tuple[str, Any], ...] = ()
    count: int = 1
    detail: Mapping[str, Any] = field(default_factory=dict)
    key: str = ""

    @property
    def subject(self) -> str:
        if self.key:
            return self.key[:_SUBJECT_MAX]
        return "department" if self.person_id is None else f"person:{self.person_id}"


def _evidence(items: Iterable[Any]) -> tuple[tuple[str, Any], ...]:
    found = []
    for item in items:
        if isinstance(item, Mapping):
            kind, ident = item.get("kind"), item.get("id")
        else:
            try:
                kind, ident = item
            except (TypeError, ValueError):
                raise FindingInvalid(f"evidence is (kind, id), not {item!r}") from None
        if not isinstance(kind, str) or not _KIND_RE.match(kind):
            raise FindingInvalid(f"evidence kind {kind!r}")
        if isinstance(ident, bool) or not isinstance(ident, int | str) or (isinstance(ident, str) and len(ident) > 40):
            raise FindingInvalid(f"evidence id {ident!r}")
        found.append((kind, ident))
    return tuple(found)


def as_finding(obj: Finding | Mapping[str, Any]) -> Finding:
    """A detector's result as a checked :class:`Finding` (a Finding, or a dict with
    ``rule``, ``person_id``, ``evidence``, ``count``, ``detail`` and optionally ``key``)."""
    if isinstance(obj, Finding):
        rule, person, evidence, count, detail, key = obj.rule, obj.person_id, obj.evidence, obj.count, obj.detail, obj.key
    elif isinstance(obj, Mapping):
        rule, person = obj.get("rule"), obj.get("person_id")
        evidence, count = obj.get("evidence") or (), obj.get("count", 1)
        detail, key = obj.get("detail") or {}, obj.get("key") or ""
    else:
        raise FindingInvalid(f"not a finding: {type(obj).__name__}")
    if rule not in RULES:
        raise FindingInvalid(f"unknown rule {rule!r}")
    if person is not None and (isinstance(person, bool) or not isinstance(person, int)):
        raise FindingInvalid(f"person_id {person!r}")
    if isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= MAX_COUNT:
        raise FindingInvalid(f"count {count!r}")
    if not isinstance(detail, Mapping) or not isinstance(key, str):
        raise FindingInvalid("detail is a mapping, key a string")
    try:
        json.dumps(dict(detail), allow_nan=False)
    except (TypeError, ValueError):
        raise FindingInvalid("detail holds plain JSON values only (text, numbers, lists …)") from None
    return Finding(rule, person, _evidence(evidence), count, dict(detail), key)


# --- deriving again -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Recorded:
    """A violation recorded before: its id and status, keyed by (rule, subject)."""

    id: int
    status: str


@dataclass(frozen=True)
class Reconciliation:
    create: tuple[Finding, ...]
    update: tuple[tuple[int, Finding], ...]  # (violation id, finding): open ones still found
    remove: tuple[int, ...]  # open ones the data no longer show
    kept: tuple[int, ...]  # decided ones: never touched


def reconcile(recorded: Mapping[tuple[str, str], Recorded], findings: Iterable[Finding]) -> Reconciliation:
    """Deriving a month again: new findings are created, open violations still found are
    updated, open ones no longer found are removed, decided ones are kept as decided
    (found or not). Two findings with the same rule and subject: the first counts."""
    seen: dict[tuple[str, str], Finding] = {}
    for f in findings:
        seen.setdefault((f.rule, f.subject), f)
    create, update = [], []
    for key, f in seen.items():
        old = recorded.get(key)
        if old is None:
            create.append(f)
        elif old.status == Status.OPEN:
            update.append((old.id, f))
    remove = tuple(r.id for k, r in recorded.items() if r.status == Status.OPEN and k not in seen)
    kept = tuple(r.id for r in recorded.values() if r.status != Status.OPEN)
    return Reconciliation(tuple(create), tuple(update), remove, kept)


# --- decisions ----------------------------------------------------------------------------------

READERS: frozenset[Role] = frozenset(Role) - {Role.ADMIN}  # every staff role: their own at least
DECIDERS: frozenset[Role] = frozenset({Role.CARE_MANAGER, Role.GENERAL_MANAGER})
READ_ALL: frozenset[Role] = frozenset({Role.CARE_MANAGER, Role.GENERAL_MANAGER, Role.SALES_MANAGER})
PENALTY_EDITORS: frozenset[Role] = frozenset({Role.CARE_MANAGER, Role.ADMIN})


def _held(roles: Iterable[str]) -> set[str]:
    return {str(r) for r in roles}


def may_decide(roles: Iterable[str]) -> bool:
    return bool(_held(roles) & {r.value for r in DECIDERS})


def sees_everyone(roles: Iterable[str]) -> bool:
    return bool(_held(roles) & {r.value for r in READ_ALL})


def may_see(user_id: int, roles: Iterable[str], person_id: int | None) -> bool:
    """A manager sees every violation; anyone else only their own."""
    return sees_everyone(roles) or (person_id is not None and person_id == user_id)


def may_decide_on(user_id: int, roles: Iterable[str], person_id: int | None) -> bool:
    """The care and general managers decide, never on their own violation (the general
    manager decides on the care manager's)."""
    return may_decide(roles) and person_id != user_id


class DecisionInvalid(DomainError):
    """A decision that cannot be taken as sent; ``field`` names the input at fault."""

    def __init__(self, template: str, *, field: str, **params: Any):
        self.template, self.params, self.field = template, params, field
        super().__init__(template % params if params else template)


def check_decision(action: str | None, amount_text: str | None, reason: str | None, penalty: Penalty) -> tuple[
    Action, int | None, str | None
]:
    """A manager's decision as sent: ``(action, unit amount or None, reason or None)``.
    Confirming takes an amount (per item where the rule counts items) within the
    penalty's range (the minimum when none is given); waiving takes a reason."""
    try:
        chosen = Action((action or "").strip())
    except ValueError:
        raise DecisionInvalid(N_("Choose to confirm or to waive the violation."), field="action") from None
    text = (reason or "").strip()
    if len(text) > MAX_REASON:
        raise DecisionInvalid(N_("The reason is longer than %(max)d characters."), field="reason", max=MAX_REASON)
    if chosen is Action.WAIVE:
        if len(text) < 2:
            raise DecisionInvalid(N_("Say why the violation is waived."), field="reason")
        return chosen, None, text
    raw = (amount_text or "").strip().replace(",", "")
    if not raw:
        return chosen, penalty.minimum, text or None
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 7:
        raise DecisionInvalid(N_("“%(value)s” is not an amount in whole yuan."), field="amount", value=raw[:20])
    unit = int(raw)
    if not penalty.minimum <= unit <= penalty.maximum:
        raise DecisionInvalid(
            N_("The amount must be from %(min)d to %(max)d yuan."), field="amount",
            min=penalty.minimum, max=penalty.maximum,
        )  # fmt: skip
    return chosen, unit, text or None


# --- the monthly summary ----------------------------------------------------------------------


@dataclass
class PersonSummary:
    """One person's (None: the department's) violations of a month."""

    person_id: int | None
    count: int = 0
    open: int = 0
    confirmed: int = 0
    waived: int = 0
    confirmed_amount: int = 0  # CNY
    open_amount: int = 0  # CNY, at the default amounts: what is still to decide


def summarize(rows: Iterable[tuple[int | None, str, int]]) -> list[PersonSummary]:
    """``(person_id, status, amount)`` per violation → per person: counts by status, the
    confirmed amount and the amount still open; the department (None) last, then by id."""
    by: dict[int | None, PersonSummary] = {}
    for person, status, amount in rows:
        s = by.setdefault(person, PersonSummary(person))
        s.count += 1
        if status == Status.CONFIRMED:
            s.confirmed += 1
            s.confirmed_amount += amount
        elif status == Status.WAIVED:
            s.waived += 1
        else:
            s.open += 1
            s.open_amount += amount
    return sorted(by.values(), key=lambda s: (s.person_id is None, s.person_id or 0))


def totals(summaries: Sequence[PersonSummary]) -> PersonSummary:
    t = PersonSummary(None)
    for s in summaries:
        t.count += s.count
        t.open += s.open
        t.confirmed += s.confirmed
        t.waived += s.waived
        t.confirmed_amount += s.confirmed_amount
        t.open_amount += s.open_amount
    return t

"""Survey results (domain.md §6, R18, R22): the month's SSI/CSI indexes by factor and by
person, the very-satisfied rate per consultant, NPS, the 12-month trend, the responses
behind each figure, their export, and the R18 violations.

What counts (written down once):

* a response counts in the month its ``taken_at`` falls in at the dealer (the date of
  the phone call or IVR, the 调查日期 of an imported form), once it is **completed**;
* the month's index is the mean of those responses' indexes (responses without an
  index, all unanswered, are left out of the mean and of n); factor indexes likewise;
* a response is a consultant's (R18) when its ``staff`` is that user; a response with no
  staff user falls back to the selling consultant of its vehicle's delivery;
* the very-satisfied rate: overall item at the top of the scale ÷ overall item answered.

Services flush and never commit; the caller commits.
"""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from care.domain import kpis as rules
from care.domain import surveys as dom
from care.domain.roles import Role
from care.domain.settings import Settings
from care.domain.surveys import Scale, ScoredItem
from care.models import (
    Customer,
    Delivery,
    SurveyAnswer,
    SurveyFactor,
    SurveyItem,
    SurveyResponse,
    SurveyTemplate,
    SurveyTemplateVersion,
    User,
    UserRole,
    Vehicle,
)
from care.models.survey import ResponseStatus
from care.services import Actor, audit

TREND_MONTHS = 12


@dataclass
class Taken:
    """One completed response as the figures need it."""

    id: int
    template: str
    version_id: int
    customer_id: int
    vehicle_id: int | None
    taken_at: datetime
    channel: str
    staff_id: int | None
    staff_name: str | None
    index: float | None
    scale: Scale
    overall: str | None
    items: list[ScoredItem] = field(default_factory=list)

    @property
    def overall_score(self) -> int | None:
        return next((i.score for i in self.items if i.code == self.overall), None)

    @property
    def very_satisfied(self) -> bool | None:
        score = self.overall_score
        return None if score is None else score == self.scale.top


def load(
    session: Session, code: str, start: datetime, end: datetime, *, staff_id: int | None = None
) -> list[Taken]:
    """The completed responses of template ``code`` taken in [start, end)."""
    q = (
        select(
            SurveyResponse.id,
            SurveyResponse.version_id,
            SurveyResponse.customer_id,
            SurveyResponse.vehicle_id,
            SurveyResponse.taken_at,
            SurveyResponse.channel,
            SurveyResponse.staff_id,
            SurveyResponse.staff_name,
            SurveyResponse.index,
            SurveyTemplateVersion.scale_min,
            SurveyTemplateVersion.scale_max,
            SurveyTemplateVersion.overall_item_code,
        )
        .join(SurveyTemplate, SurveyTemplate.id == SurveyResponse.template_id)
        .join(SurveyTemplateVersion, SurveyTemplateVersion.id == SurveyResponse.version_id)
        .where(
            SurveyTemplate.code == code,
            SurveyResponse.status == ResponseStatus.COMPLETED.value,
            SurveyResponse.taken_at >= start,
            SurveyResponse.taken_at < end,
        )
        .order_by(SurveyResponse.taken_at, SurveyResponse.id)
    )
    if staff_id is not None:
        q = q.where(SurveyResponse.staff_id == staff_id)
    taken = {
        r.id: Taken(
            r.id, code, r.version_id, r.customer_id, r.vehicle_id, r.taken_at, r.channel, r.staff_id,
            r.staff_name, r.index, Scale(r.scale_min, r.scale_max), r.overall_item_code,
        )  # fmt: skip
        for r in session.execute(q)
    }
    if not taken:
        return []
    ids = list(taken)
    for chunk in range(0, len(ids), 500):
        part = ids[chunk : chunk + 500]
        rows = session.execute(
            select(SurveyAnswer.response_id, SurveyItem.code, SurveyFactor.code, SurveyItem.weight, SurveyAnswer.score)
            .join(SurveyItem, SurveyItem.id == SurveyAnswer.item_id)
            .outerjoin(SurveyFactor, SurveyFactor.id == SurveyItem.factor_id)
            .where(SurveyAnswer.response_id.in_(part), SurveyAnswer.unanswered.is_(False))
        )
        for response_id, item_code, factor_code, weight, score in rows:
            taken[response_id].items.append(ScoredItem(item_code, factor_code, weight, score))
    return list(taken.values())


# --- figures -------------------------------------------------------------------------------


def factor_codes(session: Session, *codes: str) -> dict[str, list[tuple[str, str, str]]]:
    """template code → (code, name_zh, name_en) of the factors of its version in force,
    in order, in one query (none for a template not seeded yet: reading writes nothing)."""
    out: dict[str, list[tuple[str, str, str]]] = {c: [] for c in codes}
    rows = session.execute(
        select(SurveyTemplate.code, SurveyFactor.code, SurveyFactor.name_zh, SurveyFactor.name_en)
        .join(SurveyTemplateVersion, SurveyTemplateVersion.id == SurveyFactor.version_id)
        .join(SurveyTemplate, SurveyTemplate.id == SurveyTemplateVersion.template_id)
        .where(SurveyTemplate.code.in_(codes), SurveyTemplateVersion.version == SurveyTemplate.current_version)
        .order_by(SurveyFactor.position)
    )
    for template, code, zh, en in rows:
        out[template].append((code, zh, en))
    return out


def index_of(taken: list[Taken], factors: list[str] | None = None) -> rules.IndexResult:
    """The month's index (mean of response indexes, n, 95 % CI) and each factor's."""
    month = dom.month_index(t.index for t in taken)
    per_factor: dict[str, list[float]] = defaultdict(list)
    for t in taken:
        for f_code, value in dom.factor_indexes(t.items, t.scale).items():
            if value is not None:
                per_factor[f_code].append(value)
    codes = list(factors or []) + [c for c in per_factor if c not in (factors or [])]
    by_factor = {}
    for f_code in codes:
        m = dom.month_index(per_factor.get(f_code, []))
        by_factor[f_code] = rules.IndexResult(m.index, m.responses, m.ci95)
    return rules.IndexResult(month.index, month.responses, month.ci95, by_factor)


def consultant_of(session: Session, taken: list[Taken]) -> dict[int, int | None]:
    """response id → the consultant it is counted for (staff, else the delivery's)."""
    need = {t.vehicle_id for t in taken if t.staff_id is None and t.vehicle_id is not None}
    by_vehicle: dict[int, int | None] = {}
    if need:
        for vehicle_id, consultant_id in session.execute(
            select(Delivery.vehicle_id, Delivery.consultant_id).where(Delivery.vehicle_id.in_(need))
        ):
            by_vehicle[vehicle_id] = consultant_id
    return {t.id: t.staff_id if t.staff_id is not None else by_vehicle.get(t.vehicle_id) for t in taken}


def _consultants_and(session: Session, ids: set[int]) -> list:
    """(id, username, display_name) of the active consultants and the users ``ids``, in
    one query (columns, not User objects: those load their roles too)."""
    consultant = select(UserRole.user_id).where(UserRole.role == Role.CONSULTANT.value)
    is_consultant = and_(User.active.is_(True), User.id.in_(consultant))
    return list(
        session.execute(
            select(User.id, User.username, User.display_name).where(
                or_(is_consultant, User.id.in_(ids)) if ids else is_consultant
            )
        )
    )


@dataclass(frozen=True)
class TopBox:
    user_id: int | None
    username: str | None
    name: str
    result: rules.KpiResult
    responses: tuple[int, ...]  # the ids in the denominator


def very_satisfied_rows(session: Session, taken: list[Taken], settings: Settings) -> list[TopBox]:
    """R18 per consultant: every active consultant (0 of 0 without responses) and every
    user responses were counted for; sorted by user name."""
    owner = consultant_of(session, taken)
    counted: dict[int, list[Taken]] = defaultdict(list)
    for t in taken:
        if owner[t.id] is not None:
            counted[owner[t.id]].append(t)
    rows = []
    for user in _consultants_and(session, set(counted)):
        user_id = user.id
        answered = [t for t in counted.get(user_id, []) if t.very_satisfied is not None]
        hits = sum(1 for t in answered if t.very_satisfied)
        result = rules.KpiResult("very_satisfied", hits, len(answered), target=settings.top_box_target, floor=settings.top_box_target)
        rows.append(TopBox(user_id, user.username, user.display_name or user.username, result, tuple(t.id for t in answered)))
    return sorted(rows, key=lambda r: r.username or "")


@dataclass(frozen=True)
class PersonRow:
    staff_id: int | None
    name: str
    index: dom.MonthIndex
    by_factor: dict[str, float | None]
    top_hits: int
    top_n: int


def by_person(taken: list[Taken]) -> list[PersonRow]:
    """The month's index per person evaluated (user, else the name a file gave, else
    "nobody named"), best first."""
    groups: dict[tuple[int | None, str], list[Taken]] = defaultdict(list)
    for t in taken:
        groups[(t.staff_id, t.staff_name or "")].append(t)
    merged: dict[Any, list[Taken]] = defaultdict(list)
    names: dict[Any, str] = {}
    for (staff_id, name), rows in groups.items():
        key = staff_id if staff_id is not None else f"name:{name}"
        merged[key].extend(rows)
        names.setdefault(key, name)
    out = []
    for key, rows in merged.items():
        result = index_of(rows)
        hits, n = dom.top_box((t.overall_score for t in rows), rows[0].scale) if rows else (0, 0)
        out.append(
            PersonRow(
                key if isinstance(key, int) else None, names[key], dom.MonthIndex(result.index, result.responses, result.ci95),
                {k: v.index for k, v in result.by_factor.items()}, hits, n,
            )
        )  # fmt: skip
    return sorted(out, key=lambda r: (r.index.index is None, -(r.index.index or 0), r.name))


def nps_of(taken: list[Taken]) -> dom.Nps | None:
    """NPS of the overall item where the template's scale is 0–10; None otherwise."""
    scored = [t for t in taken if t.scale.is_nps]
    if not scored:
        return None
    return dom.nps(t.overall_score for t in scored)


def channels_of(taken: list[Taken]) -> dict[str, int]:
    counts: dict[str, int] = defaultdict(int)
    for t in taken:
        counts[t.channel] += 1
    return dict(counts)


@dataclass(frozen=True)
class TrendPoint:
    month: date
    index: dom.MonthIndex


def trend(session: Session, code: str, month: date, tz: str, now: datetime, months: int = TREND_MONTHS) -> list[TrendPoint]:
    """The month's index of each of the ``months`` months up to ``month``, oldest first."""
    firsts = [month]
    for _ in range(months - 1):
        firsts.append(rules.previous_month(firsts[-1]))
    firsts.reverse()
    spans = [rules.month_span(m, tz, now) for m in firsts]
    taken = load(session, code, spans[0].start, spans[-1].end)
    points = []
    for span in spans:
        values = [t.index for t in taken if span.start <= t.taken_at < span.end]
        points.append(TrendPoint(span.month, dom.month_index(values)))
    return points


# --- the report keys (care/services/kpis.py) ----------------------------------------------


def report_figures(session: Session, span: rules.MonthSpan, settings: Settings) -> tuple[rules.IndexResult, rules.IndexResult, dict[str, rules.KpiResult]]:
    """``ssi_index``, ``csi_index`` and ``very_satisfied`` of interfaces.md for a month."""
    ssi = load(session, "ssi", span.start, span.end)
    csi = load(session, "csi", span.start, span.end)
    very = {
        row.username: row.result for row in very_satisfied_rows(session, ssi, settings) if row.username is not None
    }
    factors = factor_codes(session, "ssi", "csi")
    return (
        index_of(ssi, [c for c, _zh, _en in factors["ssi"]]),
        index_of(csi, [c for c, _zh, _en in factors["csi"]]),
        very,
    )


def find_violations(session: Session, month_start: date, settings: Settings, *, now: datetime | None = None) -> list[dict]:
    """R18: each consultant whose very-satisfied rate of the month is below the target
    (``top_box_target``, 80 %): one violation, the responses of the denominator as
    evidence. A consultant with no answered overall item has no rate and no violation."""
    from care.models.types import utcnow

    span = rules.month_span(month_start, settings.timezone, now or utcnow())
    taken = load(session, "ssi", span.start, span.end)
    out = []
    for row in very_satisfied_rows(session, taken, settings):
        if row.result.violates:
            out.append(
                {
                    "rule": "ssi_below_target",
                    "person_id": row.user_id,
                    "evidence": [("survey_response", rid) for rid in row.responses],
                    "count": 1,
                    "detail": {
                        "very_satisfied": row.result.numerator,
                        "answered": row.result.denominator,
                        "rate": round(row.result.value, 4),
                        "target": settings.top_box_target,
                    },
                }
            )
    return out


# --- the responses behind a figure, and their export ---------------------------------------


@dataclass(frozen=True)
class ResponseFilter:
    template: str | None = None
    start: datetime | None = None
    end: datetime | None = None
    staff_id: int | None = None
    staff_name: str | None = None  # a name with no user (files)
    channel: str | None = None
    very_satisfied: bool | None = None  # True: top score on the overall item
    taken_by_id: int | None = None  # ownership: the specialist's own
    owner_id: int | None = None  # ownership: staff or taken_by is this user
    include_open: bool = False


def responses_statement(f: ResponseFilter):
    q = (
        select(SurveyResponse)
        .join(SurveyTemplate, SurveyTemplate.id == SurveyResponse.template_id)
        .order_by(SurveyResponse.taken_at.desc(), SurveyResponse.id.desc())
    )
    if not f.include_open:
        q = q.where(SurveyResponse.status == ResponseStatus.COMPLETED.value)
    if f.template:
        q = q.where(SurveyTemplate.code == f.template)
    if f.start is not None:
        q = q.where(SurveyResponse.taken_at >= f.start)
    if f.end is not None:
        q = q.where(SurveyResponse.taken_at < f.end)
    if f.staff_id is not None:
        q = q.where(SurveyResponse.staff_id == f.staff_id)
    if f.staff_name:
        q = q.where(SurveyResponse.staff_id.is_(None), SurveyResponse.staff_name == f.staff_name)
    if f.channel:
        q = q.where(SurveyResponse.channel == f.channel)
    if f.owner_id is not None:
        q = q.where((SurveyResponse.staff_id == f.owner_id) | (SurveyResponse.taken_by_id == f.owner_id))
    if f.very_satisfied is not None:
        top = (
            select(SurveyAnswer.response_id)
            .join(SurveyItem, SurveyItem.id == SurveyAnswer.item_id)
            .join(SurveyTemplateVersion, SurveyTemplateVersion.id == SurveyItem.version_id)
            .where(
                SurveyItem.code == SurveyTemplateVersion.overall_item_code,
                SurveyAnswer.unanswered.is_(False),
                SurveyAnswer.score == SurveyTemplateVersion.scale_max,
            )
        )
        q = q.where(SurveyResponse.id.in_(top) if f.very_satisfied else SurveyResponse.id.not_in(top))
    return q


def _cell(value) -> str:
    from care.services.customers import _cell as safe

    return safe(value)


def export_rows(
    session: Session, code: str, start: datetime, end: datetime, *, actor: Actor, now: datetime, tz: str
) -> tuple[list[str], list[list[Any]]]:
    """The month's completed responses of template ``code``, one row each, in the
    import's columns (customer_no, vin, template, taken_at, staff, channel, then one
    column per item code of the version in force) plus the index; audited (it lists
    customers)."""
    from care.domain.dates import to_local
    from care.services import surveys as svc

    version = svc.current_version(session, code)
    item_codes = [i.code for f in version.factors for i in f.items] + [version.overall_item_code]
    headers = ["customer_no", "vin", "template", "taken_at", "staff", "channel", "index", *item_codes]
    taken = load(session, code, start, end)
    customers = dict(session.execute(select(Customer.id, Customer.customer_no).where(Customer.id.in_({t.customer_id for t in taken}))).all()) if taken else {}
    vehicle_ids = {t.vehicle_id for t in taken if t.vehicle_id}
    vins = dict(session.execute(select(Vehicle.id, Vehicle.vin).where(Vehicle.id.in_(vehicle_ids))).all()) if vehicle_ids else {}
    rows = []
    for t in taken:
        scores = {i.code: i.score for i in t.items}
        rows.append(
            [
                customers.get(t.customer_id), vins.get(t.vehicle_id), code,
                to_local(t.taken_at, tz).strftime("%Y-%m-%d %H:%M"), t.staff_name, t.channel,
                None if t.index is None else round(t.index, 1), *[scores.get(c) for c in item_codes],
            ]
        )  # fmt: skip
    audit.record(
        session, actor=actor, action="survey.export", object_type="survey_response",
        detail={"template": code, "from": start.isoformat(), "to": end.isoformat(), "rows": len(rows)}, now=now,
    )  # fmt: skip
    session.flush()
    return headers, rows


def as_csv(headers: list[str], rows: list[list[Any]]) -> str:
    out = io.StringIO()
    out.write("\ufeff")
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(headers)
    for row in rows:
        writer.writerow([_cell(v) for v in row])
    return out.getvalue()


def as_xlsx(headers: list[str], rows: list[list[Any]], title: str) -> bytes:
    import openpyxl

    workbook = openpyxl.Workbook(write_only=True)
    sheet = workbook.create_sheet(title[:31] or "responses")
    sheet.append(headers)
    for row in rows:
        sheet.append([_cell(v) if isinstance(v, str) else v for v in row])
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()

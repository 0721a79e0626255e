"""Surveys and indexes (domain.md §6, R18, R19): template rules and index arithmetic.

Pure: standard library only. The service (care/services/surveys.py) turns rows into the
specs and scored items below.

Definitions (written down here once; the report, the pages and the tests use these):

* **Weights** are percent of the whole index. A template's factor weights add up to 100;
  a factor's item weights add up to the factor's weight; the overall-satisfaction item
  has weight 0 (it feeds the top-box rate, not the index). Sums are compared with a
  tolerance of ``WEIGHT_TOLERANCE`` percentage points, so that weights typed with two
  decimals (3 × 33.33) pass; anything further off is refused with the difference.
* **Response index** (domain.md, generalised from 1–7 to the template's scale):
  ``100 · Σ wᵢ·(sᵢ − min)/(max − min) / Σ wᵢ`` over the answered items with weight > 0.
  Unanswered items leave the sum (the weights are renormalised over what was answered);
  a response with no answered weighted item has no index (None), which is not 0.
* **Factor index**: the same formula over one factor's items.
* **Month index**: the mean of the response indexes of that month's responses (those
  with an index), with n and a 95 % confidence interval by Student's t
  (``mean ± t₀.₉₇₅,ₙ₋₁ · s/√n``, s the sample standard deviation), clipped to [0, 100];
  no interval below 2 responses. t is right for the small n of one consultant's month;
  its quantile comes from a table (df 1–30) and the Cornish–Fisher expansion above.
* **Top box** ("very satisfied", R18): answered overall items with the scale's top score
  ÷ answered overall items.
* **NPS** (a 0–10 item): % promoters (9–10) − % detractors (0–6), −100 … 100.
* **Low items** (R19): the setting ``complaint_score_threshold`` is a score on the
  reference 1–7 scale (default 4, "average"). On another scale an answer is low when its
  position on its scale is at or below the threshold's position on 1–7:
  ``(s − min)/(max − min) ≤ (t − 1)/6``. So 4 on 1–7 means 3 on 1–5, 5 on 1–10 and
  5 on 0–10.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from care.domain import N_, DomainError

WEIGHT_TOLERANCE = 0.02  # percentage points
REFERENCE_SCALE = (1, 7)  # the scale complaint_score_threshold is written on
CODE_RE = re.compile(r"^[a-z][a-z0-9_]{0,39}$")


# The survey_responses import's file-level refusals (care/services/imports.py, SurveyImport;
# listed with the import's file messages so that the import page translates them).
IMPORT_UNKNOWN_COLUMNS = N_(
    "Unknown column(s) %(columns)s: neither a survey_responses column nor the code or text of an item of %(templates)s (see `care survey-templates`)"
)
IMPORT_NO_CUSTOMER_COLUMN = N_("The survey_responses file needs a customer_no (客户编号) or a vin (车架号) column")


class SurveyError(DomainError):
    """A template or an answer the rules refuse; ``template``/``params`` for the pages
    (translated there), ``str()`` (English) for the command line."""

    def __init__(self, template: str, *, field: str | None = None, **params: Any):
        self.template, self.params, self.field = template, params, field
        super().__init__(template % params if params else template)


# --- scales --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Scale:
    min: int = 1
    max: int = 7

    def __post_init__(self) -> None:
        if not (0 <= self.min < self.max <= 10) or self.min > 1:
            raise SurveyError(
                N_("A scale runs from 0 or 1 up to at most 10 (got %(low)s–%(high)s)"),
                field="scale",
                low=self.min,
                high=self.max,
            )

    def contains(self, score: int) -> bool:
        return self.min <= score <= self.max

    @property
    def top(self) -> int:
        return self.max

    @property
    def is_nps(self) -> bool:
        return (self.min, self.max) == (0, 10)

    def position(self, score: float) -> float:
        """0 at the bottom of the scale, 1 at its top."""
        return (score - self.min) / (self.max - self.min)

    def check(self, score: int | None, *, item: str = "") -> None:
        """Refuse a score that is not a whole number on the scale."""
        if score is None:
            return
        if isinstance(score, bool) or not isinstance(score, int) or not self.contains(score):
            raise SurveyError(
                N_("Score %(score)s of “%(item)s” is outside the scale %(low)s–%(high)s"),
                field=item or None,
                score=score,
                item=item,
                low=self.min,
                high=self.max,
            )


SCALES: tuple[tuple[int, int], ...] = ((1, 7), (1, 5), (1, 10), (0, 10))


# --- template specs and their validation -------------------------------------------------


@dataclass(frozen=True)
class ItemSpec:
    code: str
    text_zh: str
    text_en: str
    weight: float = 0.0


@dataclass(frozen=True)
class FactorSpec:
    code: str
    name_zh: str
    name_en: str
    weight: float
    items: tuple[ItemSpec, ...] = ()


@dataclass(frozen=True)
class TemplateSpec:
    code: str
    name_zh: str
    name_en: str
    factors: tuple[FactorSpec, ...]
    overall: ItemSpec
    scale: Scale = field(default_factory=Scale)

    def all_items(self) -> tuple[ItemSpec, ...]:
        return tuple(i for f in self.factors for i in f.items) + (self.overall,)


def _pp(value: float) -> str:
    """A weight for a message: two decimals, no trailing zeros."""
    return f"{value:.2f}".rstrip("0").rstrip(".")


def _check_code(code: str) -> None:
    if not CODE_RE.match(code or ""):
        raise SurveyError(
            N_("“%(code)s” is not a valid code (lower-case letters, digits and _, starting with a letter, at most 40)"),
            field="code",
            code=code,
        )


def _check_weight(weight: float, name: str) -> None:
    if not isinstance(weight, (int, float)) or not math.isfinite(weight) or weight < 0 or weight > 100:
        raise SurveyError(N_("The weight of “%(name)s” must be between 0 and 100"), field="weight", name=name)


def _sum_message(total: float, expected: float) -> tuple[str, str]:
    diff = total - expected
    return (_pp(abs(diff)), "over" if diff > 0 else "under")


def validate_spec(spec: TemplateSpec) -> None:
    """Raise SurveyError with a message that names the fault (and by how much)."""
    _check_code(spec.code)
    if not spec.name_zh.strip() or not spec.name_en.strip():
        raise SurveyError(N_("The template needs a Chinese and an English name"), field="name")
    if not spec.factors:
        raise SurveyError(N_("The template needs at least one factor"), field="factors")
    seen_factors: set[str] = set()
    seen_items: set[str] = set()
    for factor in spec.factors:
        _check_code(factor.code)
        if factor.code in seen_factors:
            raise SurveyError(N_("The factor code “%(code)s” is used twice"), field="code", code=factor.code)
        seen_factors.add(factor.code)
        if not factor.name_zh.strip() or not factor.name_en.strip():
            raise SurveyError(N_("Factor “%(code)s” needs a Chinese and an English name"), field="name", code=factor.code)
        _check_weight(factor.weight, factor.code)
        if not factor.items:
            raise SurveyError(N_("Factor “%(code)s” has no items"), field="items", code=factor.code)
        for item in factor.items:
            _check_item(item, seen_items)
        total = sum(i.weight for i in factor.items)
        if abs(total - factor.weight) > WEIGHT_TOLERANCE:
            by, direction = _sum_message(total, factor.weight)
            template = (
                N_("The items of “%(factor)s” add up to %(total)s %%, %(by)s %% more than the factor's %(weight)s %%")
                if direction == "over"
                else N_("The items of “%(factor)s” add up to %(total)s %%, %(by)s %% less than the factor's %(weight)s %%")
            )
            raise SurveyError(
                template, field="weight", factor=factor.code, total=_pp(total), by=by, weight=_pp(factor.weight)
            )
    _check_item(spec.overall, seen_items)
    if abs(spec.overall.weight) > 1e-9:
        raise SurveyError(
            N_("The overall-satisfaction item “%(code)s” must have weight 0 (it feeds the top-box rate, not the index)"),
            field="weight",
            code=spec.overall.code,
        )
    total = sum(f.weight for f in spec.factors)
    if abs(total - 100) > WEIGHT_TOLERANCE:
        by, direction = _sum_message(total, 100)
        template = (
            N_("The factors add up to %(total)s %%, %(by)s %% more than 100 %%")
            if direction == "over"
            else N_("The factors add up to %(total)s %%, %(by)s %% less than 100 %%")
        )
        raise SurveyError(template, field="weight", total=_pp(total), by=by)


def _check_item(item: ItemSpec, seen: set[str]) -> None:
    _check_code(item.code)
    if item.code in seen:
        raise SurveyError(N_("The item code “%(code)s” is used twice"), field="code", code=item.code)
    seen.add(item.code)
    if not item.text_zh.strip() or not item.text_en.strip():
        raise SurveyError(N_("Item “%(code)s” needs a Chinese and an English text"), field="text", code=item.code)
    _check_weight(item.weight, item.code)


def equal_weights(total: float, n: int) -> list[float]:
    """``total`` split over ``n`` items, two decimals each, the rounding remainder on the
    last so that the parts add up to ``total`` exactly (to the cent)."""
    if n <= 0:
        return []
    part = math.floor(total / n * 100) / 100
    rest = round(total - part * (n - 1), 2)
    return [part] * (n - 1) + [rest]


# --- index arithmetic ----------------------------------------------------------------------


@dataclass(frozen=True)
class ScoredItem:
    """One item of one response: its weight (percent of the index), its factor code (None
    for the overall item) and its score (None: unanswered or not asked)."""

    code: str
    factor: str | None
    weight: float
    score: int | None


def _weighted(items: Iterable[ScoredItem], scale: Scale) -> float | None:
    num = den = 0.0
    for item in items:
        if item.score is None or item.weight <= 0:
            continue
        num += item.weight * scale.position(item.score)
        den += item.weight
    if den <= 0:
        return None
    return 100.0 * num / den


def response_index(items: Iterable[ScoredItem], scale: Scale) -> float | None:
    """``100 · Σ wᵢ(sᵢ − min)/(max − min) / Σ wᵢ`` over the answered items; None when
    no weighted item was answered."""
    return _weighted(items, scale)


def factor_indexes(items: Sequence[ScoredItem], scale: Scale) -> dict[str, float | None]:
    """Each factor's index by the same formula over its own items (in first-seen order)."""
    codes: list[str] = []
    for item in items:
        if item.factor is not None and item.factor not in codes:
            codes.append(item.factor)
    return {code: _weighted((i for i in items if i.factor == code), scale) for code in codes}


# Student's t, two-sided 95 % (the 0.975 quantile), df 1 … 30.
_T975 = (
    12.7062, 4.3027, 3.1824, 2.7764, 2.5706, 2.4469, 2.3646, 2.3060, 2.2622, 2.2281,
    2.2010, 2.1788, 2.1604, 2.1448, 2.1314, 2.1199, 2.1098, 2.1009, 2.0930, 2.0860,
    2.0796, 2.0739, 2.0687, 2.0639, 2.0595, 2.0555, 2.0518, 2.0484, 2.0452, 2.0423,
)  # fmt: skip
_Z975 = 1.959963984540054


def t_quantile_975(df: int) -> float:
    """The 0.975 quantile of Student's t with ``df`` degrees of freedom: the table up to
    30, the Cornish–Fisher expansion in 1/df beyond (error < 1e-4 there)."""
    if df < 1:
        raise ValueError("df must be at least 1")
    if df <= len(_T975):
        return _T975[df - 1]
    z = _Z975
    g1 = (z**3 + z) / 4
    g2 = (5 * z**5 + 16 * z**3 + 3 * z) / 96
    g3 = (3 * z**7 + 19 * z**5 + 17 * z**3 - 15 * z) / 384
    return z + g1 / df + g2 / df**2 + g3 / df**3


@dataclass(frozen=True)
class MonthIndex:
    index: float | None
    responses: int
    ci95: tuple[float, float] | None


def month_index(values: Iterable[float | None]) -> MonthIndex:
    """The mean of the response indexes (None ones left out), n and the t-based 95 % CI
    (None below 2 responses), clipped to 0–100."""
    xs = [float(v) for v in values if v is not None]
    n = len(xs)
    if n == 0:
        return MonthIndex(None, 0, None)
    mean = sum(xs) / n
    if n < 2:
        return MonthIndex(mean, n, None)
    var = sum((x - mean) ** 2 for x in xs) / (n - 1)
    half = t_quantile_975(n - 1) * math.sqrt(var / n)
    return MonthIndex(mean, n, (max(0.0, mean - half), min(100.0, mean + half)))


def top_box(scores: Iterable[int | None], scale: Scale) -> tuple[int, int]:
    """(hits, answered): answered scores at the scale's top ÷ answered scores."""
    answered = [s for s in scores if s is not None]
    return sum(1 for s in answered if s == scale.top), len(answered)


@dataclass(frozen=True)
class Nps:
    promoters: int
    passives: int
    detractors: int

    @property
    def responses(self) -> int:
        return self.promoters + self.passives + self.detractors

    @property
    def score(self) -> float | None:
        """% promoters − % detractors (−100 … 100); None without answers."""
        n = self.responses
        return None if n == 0 else 100.0 * (self.promoters - self.detractors) / n


def nps(scores: Iterable[int | None]) -> Nps:
    """NPS of the answered scores of a 0–10 item: promoters 9–10, detractors 0–6."""
    p = pas = d = 0
    for s in scores:
        if s is None:
            continue
        if not 0 <= s <= 10:
            raise ValueError(f"not an NPS score: {s}")
        if s >= 9:
            p += 1
        elif s >= 7:
            pas += 1
        else:
            d += 1
    return Nps(p, pas, d)


def low_threshold_position(threshold: int) -> float:
    """The threshold (a score on the 1–7 reference scale) as a position 0 … 1."""
    low, high = REFERENCE_SCALE
    return min(1.0, max(0.0, (threshold - low) / (high - low)))


def is_low(score: int, scale: Scale, threshold: int) -> bool:
    return scale.position(score) <= low_threshold_position(threshold) + 1e-9


def low_items(answers: Iterable[ScoredItem], threshold: int, scale: Scale) -> list[str]:
    """R19: the codes of the answered items at or below the threshold (mapped to the
    scale, see the module doc), the overall item included, in the order given."""
    return [a.code for a in answers if a.score is not None and is_low(a.score, scale, threshold)]

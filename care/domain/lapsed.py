"""R9 – lapsed customers: who is lapsed, and the six report categories.

A vehicle is lapsed on day D when its last visit (of any kind) was between
``lapsed_min_days`` and ``lapsed_max_days`` days before D. Each lapsed vehicle counts in
its location group (``local`` / ``out_of_town``) *and* in its location × warranty group
(``local_in_warranty`` …), which gives the six categories of the seed's report.

Decisions where domain.md is silent:

- City comparison ignores surrounding white space, letter case and one trailing 市
  (``成都`` = ``成都市`` = `` 成都市 ``). A customer without a city counts as local (DMS
  exports usually leave the city blank for local buyers).
- In warranty means ``warranty_end >= today`` and the best known mileage (the largest of
  the vehicle's last known mileage and its visit readings; odometers only grow)
  ``<= warranty_km``. A vehicle without a warranty end date is out of warranty; a missing
  mileage or mileage limit leaves the decision to the date alone.
- A vehicle that has no visit at all is not lapsed (it never came back after delivery;
  R1/R2 remind it instead).

Functions take the vehicle facts of ``care.domain.task_rules.VehicleFacts`` (anything with
the same attributes works; only the type hints refer to it, so no import cycle).

The loss reasons (``LOSS_REASONS``) are the one list the recall records a lost customer
with: the outcome form offers them (care.domain.outcomes) and the recall script reads them
out (the ``{loss_reasons}`` merge field of care.domain.scripts), so the two never differ.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta
from enum import StrEnum
from typing import TYPE_CHECKING

from care.domain import N_

if TYPE_CHECKING:  # pragma: no cover
    from care.domain.settings import Settings
    from care.domain.task_rules import VehicleFacts


class LapsedGroup(StrEnum):
    """The six categories of R9 (interfaces.md `lapsed_by_group` keys)."""

    LOCAL = "local"
    OUT_OF_TOWN = "out_of_town"
    LOCAL_IN_WARRANTY = "local_in_warranty"
    LOCAL_OUT_OF_WARRANTY = "local_out_of_warranty"
    OUT_OF_TOWN_IN_WARRANTY = "out_of_town_in_warranty"
    OUT_OF_TOWN_OUT_OF_WARRANTY = "out_of_town_out_of_warranty"


LAPSED_GROUPS: tuple[LapsedGroup, ...] = tuple(LapsedGroup)


def normalize_city(name: str | None) -> str:
    """`` 成都市 `` → ``成都``; ``Chengdu`` → ``chengdu``; None → ``""``."""
    text = (name or "").strip()
    if text.endswith("市"):
        text = text[:-1].rstrip()
    return text.casefold()


def is_local(customer_city: str | None, dealer_city: str) -> bool:
    """Is the customer's city the dealer's city? An unknown city counts as local."""
    city = normalize_city(customer_city)
    return not city or city == normalize_city(dealer_city)


def known_mileage(vehicle: VehicleFacts) -> int | None:
    """The largest mileage we know of: the vehicle's last known one or any visit reading."""
    readings = [v.mileage for v in vehicle.visits if v.mileage is not None]
    if vehicle.mileage is not None:
        readings.append(vehicle.mileage)
    return max(readings) if readings else None


def in_warranty(vehicle: VehicleFacts, today: date) -> bool:
    """Within the warranty on ``today``: by date and (when known) by mileage."""
    if vehicle.warranty_end is None or vehicle.warranty_end < today:
        return False
    mileage = known_mileage(vehicle)
    if vehicle.warranty_km is not None and mileage is not None:
        return mileage <= vehicle.warranty_km
    return True


def last_visit_date(vehicle: VehicleFacts) -> date | None:
    """The date of the vehicle's latest visit of any kind (None without visits)."""
    return max((v.date for v in vehicle.visits), default=None)


def lapsed_span(vehicle: VehicleFacts, settings: Settings) -> tuple[date, date] | None:
    """The days on which the vehicle counts as lapsed: last visit + min … last visit + max."""
    last = last_visit_date(vehicle)
    if last is None:
        return None
    return (
        last + timedelta(days=settings.lapsed_min_days),
        last + timedelta(days=settings.lapsed_max_days),
    )


def is_lapsed(vehicle: VehicleFacts, settings: Settings, today: date) -> bool:
    """R9: was the last visit ``lapsed_min_days`` … ``lapsed_max_days`` days before today?"""
    span = lapsed_span(vehicle, settings)
    return span is not None and span[0] <= today <= span[1]


@dataclass(frozen=True)
class LapsedClass:
    """Where a lapsed vehicle counts in the R9 report."""

    local: bool
    in_warranty: bool

    @property
    def location(self) -> LapsedGroup:
        return LapsedGroup.LOCAL if self.local else LapsedGroup.OUT_OF_TOWN

    @property
    def detail(self) -> LapsedGroup:
        """The location × warranty group."""
        if self.local:
            return (
                LapsedGroup.LOCAL_IN_WARRANTY
                if self.in_warranty
                else LapsedGroup.LOCAL_OUT_OF_WARRANTY
            )
        return (
            LapsedGroup.OUT_OF_TOWN_IN_WARRANTY
            if self.in_warranty
            else LapsedGroup.OUT_OF_TOWN_OUT_OF_WARRANTY
        )

    @property
    def groups(self) -> tuple[LapsedGroup, LapsedGroup]:
        """Both groups the vehicle counts in: (location, location × warranty)."""
        return (self.location, self.detail)


def classify(vehicle: VehicleFacts, settings: Settings, today: date) -> LapsedClass:
    """R9: local or out-of-town (customer city vs ``dealer_city``) × in or out of warranty."""
    return LapsedClass(
        local=is_local(vehicle.customer_city, settings.dealer_city),
        in_warranty=in_warranty(vehicle, today),
    )


def count_by_group(classes: Iterable[LapsedClass]) -> dict[str, int]:
    """The six R9 counts (every key present, zeros included) for the monthly report."""
    counts = {group.value: 0 for group in LAPSED_GROUPS}
    for cls in classes:
        for group in cls.groups:
            counts[group.value] += 1
    return counts


def is_recovered(vehicle: VehicleFacts, recall_opened_on: date) -> bool:
    """R9: the vehicle came back – a visit on or after the day its recall opened."""
    return any(v.date >= recall_opened_on for v in vehicle.visits)


# --- why a customer was lost ---------------------------------------------------------


@dataclass(frozen=True)
class LossReason:
    """One reason a lapsed customer gives for not coming back.

    ``code`` is what an outcome stores (``detail["loss_reason"]``): never renamed, so
    recorded outcomes keep their meaning. ``label`` is the English message id the form
    shows (translated where shown); ``zh`` the words the recall script reads out, which are
    also the label's zh-CN translation (tests/domain/test_lapsed.py checks the catalogue).
    """

    code: str
    label: str
    zh: str


OTHER_LOSS_REASON = "other"

# In the order a specialist asks about them: the dealer's own shortcomings first.
# Codes of earlier versions kept as they were: ``other_shop_nearer`` is "too far"
# (another shop is nearer), ``service_quality`` the quality of the repair work.
LOSS_REASONS: tuple[LossReason, ...] = (
    LossReason("other_shop_nearer", N_("Too far from us"), "距离较远"),
    LossReason("price", N_("Price too high"), "价格偏高"),
    LossReason("service_attitude", N_("Staff attitude"), "服务态度"),
    LossReason("service_quality", N_("Repair quality"), "维修质量"),
    LossReason("moved_away", N_("Moved to another city"), "搬迁外地"),
    LossReason("sold_car", N_("Sold the car"), "车辆已出售"),
    LossReason(OTHER_LOSS_REASON, N_("Other"), "其他"),
)
LOSS_REASON_CODES: frozenset[str] = frozenset(r.code for r in LOSS_REASONS)


def loss_reason_words(separator: str = "、") -> str:
    """The reasons as a script reads them: 距离较远、价格偏高、…、其他."""
    return separator.join(r.zh for r in LOSS_REASONS)

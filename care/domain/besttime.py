"""Best time to call (issue 13 item 6): the call slot most likely to reach a customer.

Pure. The evidence is a customer's answered and unanswered call attempts per slot
(:class:`Tally`), and the desk-wide ones per slot and weekday (:class:`DeskRates`). An
estimate is an additive (beta-binomial) smoothing: the customer's answer rate in a slot
is ``(answered + k·p) / (attempts + k)`` where ``p`` is the desk-wide rate of that slot on
that weekday and ``k`` the setting ``best_time_prior_strength`` — the desk-wide rate
counts as ``k`` attempts, so one answered call moves the estimate by a little, never to
certainty ("one attempt decides nothing"); a customer without history gets the desk's
rates, i.e. the desk-wide best slot. The desk-wide rate of a slot and weekday is itself
smoothed towards the slot's rate over all weekdays, and that towards the desk's overall
rate (by the same ``k``), so a weekday with few calls borrows from the others.

Decisions:

- A customer's evidence is pooled over the weekdays (a customer has a handful of calls;
  per weekday they would say nothing); the weekday enters through the desk's rate.
- What counts: attempts that reached the customer (``completed``/``reached``) and those
  that rang without reaching them (no answer, busy, rejected, voicemail, machine). Not
  network failures, invalid numbers, hung-up (canceled) or uncounted calls, nor calls in
  quiet hours (no slot): they say nothing about when the customer picks up.
- A *habit* ("usually answers in the evening (4 of 5)") is said only when the best slot
  has at least ``best_time_min_attempts`` of the customer's own attempts and they
  answered at least half of them; otherwise the card says what the estimate rests on.
- Ties go to the earlier slot of the day (the configured order).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

ANSWERED_OUTCOMES = frozenset({"completed", "reached"})
UNANSWERED_OUTCOMES = frozenset({"no_answer", "busy", "rejected", "voicemail", "machine"})
EVIDENCE_OUTCOMES = ANSWERED_OUTCOMES | UNANSWERED_OUTCOMES
NEUTRAL_RATE = 0.5  # the overall rate of a desk without any evidence yet
SCALE = 1000  # scores are per mille (integers compare exactly, in SQL too)


@dataclass(frozen=True)
class Tally:
    """Answered of attempts."""

    answered: int = 0
    attempts: int = 0

    def __post_init__(self) -> None:
        if not 0 <= self.answered <= self.attempts:
            raise ValueError("a tally needs 0 <= answered <= attempts")

    def __add__(self, other: Tally) -> Tally:
        return Tally(self.answered + other.answered, self.attempts + other.attempts)

    @property
    def rate(self) -> float | None:
        return self.answered / self.attempts if self.attempts else None


def smoothed(tally: Tally, prior: float, strength: float) -> float:
    """``(answered + strength·prior) / (attempts + strength)``; the prior when both are 0."""
    if tally.attempts + strength <= 0:
        return prior
    return (tally.answered + strength * prior) / (tally.attempts + strength)


@dataclass(frozen=True)
class DeskRates:
    """The desk-wide tallies per (slot name, weekday: Monday 0 … Sunday 6)."""

    cells: Mapping[tuple[str, int], Tally] = field(default_factory=dict)

    @classmethod
    def of(cls, rows: Iterable[tuple[str, int, int, int]]) -> DeskRates:
        """From (slot, weekday, answered, attempts) rows (several rows of a cell add up)."""
        cells: dict[tuple[str, int], Tally] = {}
        for slot, weekday, answered, attempts in rows:
            key = (slot, int(weekday))
            cells[key] = cells.get(key, Tally()) + Tally(int(answered), int(attempts))
        return cls(cells)

    def overall(self) -> Tally:
        return sum(self.cells.values(), Tally())

    def slot(self, name: str) -> Tally:
        return sum((t for (s, _), t in self.cells.items() if s == name), Tally())

    def rate(self, slot: str, weekday: int | None, strength: float) -> float:
        """The smoothed desk-wide answer rate of ``slot`` on ``weekday`` (None: any day)."""
        overall = self.overall().rate
        base = NEUTRAL_RATE if overall is None else overall
        by_slot = smoothed(self.slot(slot), base, strength)
        if weekday is None:
            return by_slot
        return smoothed(self.cells.get((slot, weekday), Tally()), by_slot, strength)


@dataclass(frozen=True)
class SlotEstimate:
    slot: str
    rate: float  # the smoothed chance that a call in this slot reaches the customer
    prior: float  # the desk-wide rate it was smoothed towards
    own: Tally  # the customer's own evidence in this slot

    @property
    def score(self) -> int:
        """The rate per mille, truncated (what the worklist orders by)."""
        return int(self.rate * SCALE)


@dataclass(frozen=True)
class BestTime:
    estimates: tuple[SlotEstimate, ...]  # in the configured slot order
    habit: SlotEstimate | None  # the best slot, when the customer's own evidence says so
    total: Tally  # every counted attempt of the customer

    @property
    def best(self) -> SlotEstimate | None:
        return best_of(self.estimates)

    def of(self, slot: str) -> SlotEstimate | None:
        return next((e for e in self.estimates if e.slot == slot), None)


def best_of(estimates: Iterable[SlotEstimate]) -> SlotEstimate | None:
    """The highest rate; a tie goes to the first (the earlier slot)."""
    best: SlotEstimate | None = None
    for e in estimates:
        if best is None or e.rate > best.rate:
            best = e
    return best


def estimate(
    own: Mapping[str, Tally],
    desk: DeskRates,
    slots: Sequence[str],
    *,
    weekday: int | None,
    strength: float,
    min_attempts: int,
) -> BestTime:
    """The customer's chance of answering in each of ``slots`` on ``weekday`` (None: any
    weekday), from their own tallies per slot, smoothed towards the desk's."""
    if strength < 0 or min_attempts < 1:
        raise ValueError("strength >= 0 and min_attempts >= 1")
    estimates = []
    for name in slots:
        prior = desk.rate(name, weekday, strength)
        tally = own.get(name, Tally())
        estimates.append(SlotEstimate(name, smoothed(tally, prior, strength), prior, tally))
    found = tuple(estimates)
    best = best_of(found)
    habit = None
    if best is not None and best.own.attempts >= min_attempts and 2 * best.own.answered >= best.own.attempts:
        habit = best
    total = sum((own.get(name, Tally()) for name in slots), Tally())
    return BestTime(found, habit, total)


def score(own: Tally, prior: float, strength: int) -> int:
    """The per-mille score of :func:`smoothed` as the worklist's SQL computes it: integer
    arithmetic, ``(1000·answered + round(1000·strength·prior)) // (attempts + strength)``,
    so that Python and both databases agree to the unit."""
    weight = prior_weight(prior, strength)
    if own.attempts + strength <= 0:
        return int(prior * SCALE)
    return (SCALE * own.answered + weight) // (own.attempts + strength)


def prior_weight(prior: float, strength: int) -> int:
    """``round(1000·strength·prior)``: the prior's share of a :func:`score` numerator."""
    return round(SCALE * strength * prior)


def best_occurrence(occurrences: Iterable, own: Mapping[str, Tally], desk: DeskRates, *, strength: float):
    """Of open slot occurrences (``care.domain.attempts.SlotOccurrence``: ``name``, ``day``),
    the one most likely to reach the customer, each scored on its own weekday; a tie goes
    to the first (pass them in time order). (occurrence, rate), or None without any."""
    chosen = None
    for occ in occurrences:
        prior = desk.rate(occ.name, occ.day.weekday(), strength)
        rate = smoothed(own.get(occ.name, Tally()), prior, strength)
        if chosen is None or rate > chosen[1]:
            chosen = (occ, rate)
    return chosen

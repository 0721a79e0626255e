"""Best time to call, read from the call attempts (the rules: care.domain.besttime).

Set-based: :func:`desk_rates` is one GROUP BY (slot, weekday) over the desk's attempts;
:func:`customer_tallies` one GROUP BY (customer, slot) for the customers asked about (a
page of the worklist, a contact page). :func:`for_customers` is both. The worklist's
order "most likely reachable now" uses :func:`reach_score`, the same estimate as an SQL
expression per customer for one slot and weekday, in integers (per mille), so the
keyset paging over it is exact on SQLite and PostgreSQL alike.

An attempt is read by its stored slot name and slot day (``call_attempts.slot``,
``slot_date``: the dealer's local day, set when the call was placed), so no time-zone
arithmetic happens in SQL. Only attempts started in the last ``best_time_history_days``
count (habits change).
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import Integer, case, cast, extract, func, literal, select, true
from sqlalchemy.orm import Session

from care.domain import besttime as rules
from care.domain.attempts import SlotOccurrence
from care.domain.settings import Settings
from care.models.call import CallAttempt
from care.services.settings import load_settings


def _evidence(now: datetime, settings: Settings) -> list:
    """The attempts that say something about when a customer answers."""
    return [
        CallAttempt.counted.is_(True),
        CallAttempt.slot.is_not(None),
        CallAttempt.slot_date.is_not(None),
        CallAttempt.outcome.in_(sorted(rules.EVIDENCE_OUTCOMES)),
        CallAttempt.started_at >= now - timedelta(days=settings.best_time_history_days),
    ]


def _answered():
    return func.sum(case((CallAttempt.outcome.in_(sorted(rules.ANSWERED_OUTCOMES)), 1), else_=0))


def python_weekday(dow: int) -> int:
    """SQL's day of week (Sunday 0 … Saturday 6) → Python's (Monday 0 … Sunday 6)."""
    return (int(dow) + 6) % 7


def desk_rates(session: Session, *, now: datetime, settings: Settings | None = None) -> rules.DeskRates:
    """The desk-wide tallies per slot and weekday (one query)."""
    settings = settings or load_settings(session)
    dow = cast(extract("dow", CallAttempt.slot_date), Integer)
    rows = session.execute(
        select(CallAttempt.slot, dow, _answered(), func.count())
        .where(*_evidence(now, settings))
        .group_by(CallAttempt.slot, dow)
    ).all()
    return rules.DeskRates.of((slot, python_weekday(d), a, n) for slot, d, a, n in rows)


class DeskRatesCache:
    """The desk's rates (:func:`desk_rates`), read again at most every ``seconds``.

    They are a year of the whole desk's calls per slot and weekday: one GROUP BY over most
    of the call attempts (seconds on a million of them, for every contact page), and the
    calls of the last minutes do not move them. The web app keeps one per process
    (``CARE_BEST_TIME_CACHE_SECONDS``); 0 reads them every time (the tests)."""

    def __init__(self, seconds: float):
        self.seconds = seconds
        self._found: tuple[float, tuple, rules.DeskRates] | None = None

    def get(self, session: Session, *, now: datetime, settings: Settings) -> rules.DeskRates:
        if self.seconds <= 0:
            return desk_rates(session, now=now, settings=settings)
        key = (settings.best_time_history_days, tuple(s.name for s in settings.call_slots))
        clock = time.monotonic()
        found = self._found
        if found is not None and found[1] == key and clock - found[0] < self.seconds:
            return found[2]
        rates = desk_rates(session, now=now, settings=settings)
        self._found = (clock, key, rates)
        return rates


def customer_tallies(
    session: Session, customer_ids: Iterable[int], *, now: datetime, settings: Settings | None = None
) -> dict[int, dict[str, rules.Tally]]:
    """customer id → slot name → their answered of attempts (one query)."""
    ids = sorted(set(customer_ids))
    found: dict[int, dict[str, rules.Tally]] = {i: {} for i in ids}
    if not ids:
        return found
    settings = settings or load_settings(session)
    rows = session.execute(
        select(CallAttempt.customer_id, CallAttempt.slot, _answered(), func.count())
        .where(CallAttempt.customer_id.in_(ids), *_evidence(now, settings))
        .group_by(CallAttempt.customer_id, CallAttempt.slot)
    ).all()
    for customer_id, slot, answered, attempts in rows:
        found[customer_id][slot] = rules.Tally(int(answered), int(attempts))
    return found


@dataclass(frozen=True)
class Reader:
    """The desk's rates and the settings, read once, for estimating many customers."""

    desk: rules.DeskRates
    slots: tuple[str, ...]
    strength: int
    min_attempts: int

    @classmethod
    def load(
        cls, session: Session, *, now: datetime, settings: Settings | None = None, desk: DeskRatesCache | None = None
    ) -> Reader:
        """``desk``: where the desk's rates are kept between requests (None: read them)."""
        settings = settings or load_settings(session)
        return cls(
            desk.get(session, now=now, settings=settings) if desk else desk_rates(session, now=now, settings=settings),
            tuple(s.name for s in settings.call_slots),
            int(settings.best_time_prior_strength),
            int(settings.best_time_min_attempts),
        )

    def estimate(self, own: dict[str, rules.Tally], weekday: int | None) -> rules.BestTime:
        return rules.estimate(
            own, self.desk, self.slots, weekday=weekday, strength=self.strength, min_attempts=self.min_attempts
        )

    def best_open(self, own: dict[str, rules.Tally], occurrences: Iterable[SlotOccurrence]):
        """(occurrence, rate) of the open slot occurrence most likely to reach them."""
        ordered = sorted(occurrences, key=lambda o: o.starts_at)
        return rules.best_occurrence(ordered, own, self.desk, strength=self.strength)


def for_customers(
    session: Session, customer_ids: Iterable[int], *, now: datetime, day: date | None = None
) -> dict[int, rules.BestTime]:
    """Each customer's estimate for the weekday of ``day`` (None: any weekday): two
    queries whatever the number of customers."""
    settings = load_settings(session)
    reader = Reader.load(session, now=now, settings=settings)
    weekday = day.weekday() if day is not None else None
    tallies = customer_tallies(session, customer_ids, now=now, settings=settings)
    return {cid: reader.estimate(own, weekday) for cid, own in tallies.items()}


def reach_score(*, reader: Reader, slot: str, weekday: int, now: datetime, settings: Settings, among=None):
    """SQL: each customer's per-mille chance of answering a call in ``slot`` on
    ``weekday`` (care.domain.besttime.score: the same integers as Python). Returns (a
    subquery by ``customer_id`` to outer-join, the score expression over it). ``among``:
    a SELECT of the customer ids that matter (the worklist's filter), so only their calls
    are read."""
    prior = reader.desk.rate(slot, weekday, reader.strength)
    tally = (
        select(
            CallAttempt.customer_id.label("customer_id"),
            _answered().label("answered"),
            func.count().label("attempts"),
        )
        .where(CallAttempt.slot == slot, *_evidence(now, settings))
        .where(CallAttempt.customer_id.in_(among) if among is not None else true())
        .group_by(CallAttempt.customer_id)
        .subquery("reach_tally")
    )
    answered = func.coalesce(tally.c.answered, 0)
    attempts = func.coalesce(tally.c.attempts, 0)
    strength = reader.strength
    if strength == 0:
        expression = case(
            (attempts == 0, literal(int(prior * rules.SCALE))),
            else_=(answered * rules.SCALE) // func.nullif(attempts, 0),
        )
    else:
        expression = (answered * rules.SCALE + rules.prior_weight(prior, strength)) // (attempts + strength)
    return tally, cast(expression, Integer)


@dataclass(frozen=True)
class ContactAdvice:
    """What the contact page says about when to call: the customer's estimate for today's
    weekday, and the open slot occurrence left (of the contact's tasks) most likely to
    reach them, with its chance."""

    best_time: rules.BestTime
    suggestion: SlotOccurrence | None
    rate: float | None
    today: date  # the dealer's day the advice is for

    @property
    def percent(self) -> int | None:
        return None if self.rate is None else round(self.rate * 100)


def for_contact(
    session: Session,
    customer_id: int,
    open_occurrences: Iterable[SlotOccurrence],
    *,
    now: datetime,
    today: date,
    desk: DeskRatesCache | None = None,
) -> ContactAdvice:
    """The contact card's advice (two queries: the desk's rates — unless ``desk`` has
    them —, the customer's tallies)."""
    settings = load_settings(session)
    reader = Reader.load(session, now=now, settings=settings, desk=desk)
    own = customer_tallies(session, [customer_id], now=now, settings=settings)[customer_id]
    unique = {(o.name, o.day): o for o in open_occurrences}
    chosen = reader.best_open(own, unique.values())
    return ContactAdvice(
        reader.estimate(own, today.weekday()),
        chosen[0] if chosen else None,
        chosen[1] if chosen else None,
        today,
    )

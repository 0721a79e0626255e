"""R21 – the insurance QA sample, pure: how many calls of each specialist are drawn, which
ones (reproducibly from a recorded seed), who may draw, judge and see, and how far the
month's verification has come.

What is sampled (the population) is decided in care/services/sampling.py (``month_calls``):
the calls of a month that counted for an insurance-renewal task and reached the customer,
one stratum per caller. This module only sees plain values: per stratum (a user id) the
call ids (attempt ids), a rate, a seed.

The draw (:func:`draw`)
    One ``random.Random(seed)`` for the whole draw. The strata are taken in ascending
    order of their key, and within a stratum the calls in ascending id order; each call
    gets one ``rng.random()`` and the stratum's ``k`` calls with the smallest numbers are
    sampled. Only ``random()`` is used (not ``sample``/``shuffle``), because Python
    guarantees the sequence of ``random()`` for a given seed across versions and not the
    others' algorithms: a draw recorded today can be reproduced after an upgrade.
How many (:func:`sample_size`, :func:`top_up_size`)
    ``ceil(rate × calls)`` per stratum, at least one where the stratum has calls, never
    more than its calls. The rate is read as the decimal it was written as (0.6, not the
    binary float 0.59999…), so 5 calls at 60 % are 3, not 4. A top-up draw (calls made
    after the month was drawn) draws from the new calls only, as many as bring the
    stratum to ``sample_size`` of all its calls so far — never fewer than already drawn,
    and at most the new calls: a month drawn in three goes samples as many calls as one
    drawn once at its end.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from fractions import Fraction

from care.domain import N_
from care.domain.roles import MANAGERS, Role

MAX_SEED = 2**31 - 1  # seeds are 0 … MAX_SEED (an INTEGER column on every database)
FIRST_MONTH = date(2000, 1, 1)
LAST_MONTH = date(2099, 12, 1)
MAX_NOTE = 2000  # characters of a verdict's note


class Verdict(StrEnum):
    """The supervisor's finding on one sampled call (domain.md R21)."""

    TO_STANDARD = "to_standard"  # the reminder was done, as the standard process asks
    NOT_TO_STANDARD = "not_to_standard"  # done, but not to the standard
    NOT_DONE = "not_done"  # the reminder was not done


VERDICT_LABELS: dict[Verdict, str] = {
    Verdict.TO_STANDARD: N_("Done to standard"),
    Verdict.NOT_TO_STANDARD: N_("Done not to standard"),
    Verdict.NOT_DONE: N_("Not done"),
}

# A verdict other than "to standard" says what was wrong: its note is required.
NOTE_REQUIRED = frozenset({Verdict.NOT_TO_STANDARD, Verdict.NOT_DONE})


# --- who may do what ------------------------------------------------------------------------

# The care department samples (domain.md §1: the care manager "samples insurance calls"):
# the care manager draws and gives verdicts.
SAMPLERS: frozenset[Role] = frozenset({Role.CARE_MANAGER})
# The managers (care.domain.roles.MANAGERS) see every specialist's sample, its verdicts and
# progress; an insurance specialist sees the part of it that is their own calls, and
# never anyone else's.
SAMPLE_READERS: frozenset[Role] = MANAGERS
OWN_SAMPLE_READERS: frozenset[Role] = frozenset({Role.INSURANCE})
PAGE_ROLES: frozenset[Role] = SAMPLERS | SAMPLE_READERS | OWN_SAMPLE_READERS

EVERYONE = "everyone"  # the scope of a reader of every stratum


def _roles(roles: Iterable[str]) -> frozenset[str]:
    return frozenset(str(r) for r in roles)


def may_draw(roles: Iterable[str]) -> bool:
    return bool(_roles(roles) & SAMPLERS)


def may_judge(roles: Iterable[str]) -> bool:
    return bool(_roles(roles) & SAMPLERS)


def scope(user_id: int | None, roles: Iterable[str]) -> str | int | None:
    """Whose sampled calls the user sees: EVERYONE, their own (their user id), or None."""
    held = _roles(roles)
    if held & (SAMPLERS | SAMPLE_READERS):
        return EVERYONE
    if held & OWN_SAMPLE_READERS and user_id is not None:
        return user_id
    return None


def may_see_stratum(user_id: int | None, roles: Iterable[str], specialist_id: int | None) -> bool:
    seen = scope(user_id, roles)
    return seen == EVERYONE or (seen is not None and seen == specialist_id)


# --- months ---------------------------------------------------------------------------------


class MonthInvalid(ValueError):
    """Not a month this app samples: ``template``/``params`` as care.services.ServiceError."""

    def __init__(self, template: str, **params):
        self.template, self.params = template, params
        super().__init__(template % params if params else template)


def parse_month(text: str | None) -> date:
    """``YYYY-MM`` → the first day of that month (2000-01 … 2099-12)."""
    raw = (text or "").strip()
    parts = raw.split("-")
    if len(parts) != 2 or not all(p.isascii() and p.isdigit() for p in parts) or len(parts[0]) != 4 or len(parts[1]) not in (1, 2):
        raise MonthInvalid(N_("“%(value)s” is not a month (YYYY-MM)."), value=raw[:20])
    year, month = int(parts[0]), int(parts[1])
    if not 1 <= month <= 12:
        raise MonthInvalid(N_("“%(value)s” is not a month (YYYY-MM)."), value=raw[:20])
    first = date(year, month, 1)
    if not FIRST_MONTH <= first <= LAST_MONTH:
        raise MonthInvalid(N_("The month must be between 2000-01 and 2099-12."))
    return first


def month_text(first: date) -> str:
    return f"{first.year:04d}-{first.month:02d}"


def next_month(first: date) -> date:
    return date(first.year + first.month // 12, first.month % 12 + 1, 1)


def previous_month(first: date) -> date:
    return date(first.year - (first.month == 1), (first.month - 2) % 12 + 1, 1)


def check_seed(seed: int) -> int:
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed <= MAX_SEED:
        raise ValueError(f"a seed is a whole number from 0 to {MAX_SEED}")
    return seed


# --- how many, which --------------------------------------------------------------------


def exact(rate: float) -> Fraction:
    """The rate as the decimal it was written as: 0.6 is 3/5, not 0.59999999999999997…"""
    value = Fraction(repr(float(rate)))
    if not 0 <= value <= 1:
        raise ValueError("a rate is a fraction from 0 to 1")
    return value


def sample_size(calls: int, rate: float) -> int:
    """R21: ``ceil(rate × calls)``, at least 1 where there are calls, at most the calls."""
    if calls <= 0:
        return 0
    return min(calls, max(1, math.ceil(exact(rate) * calls)))


def top_up_size(prior_calls: int, prior_sampled: int, new_calls: int, rate: float) -> int:
    """How many of ``new_calls`` a draw samples when ``prior_calls`` of the stratum were
    drawn from before (``prior_sampled`` of them sampled): up to ``sample_size`` of all."""
    wanted = sample_size(prior_calls + new_calls, rate) - prior_sampled
    return max(0, min(new_calls, wanted))


def draw(
    strata: Mapping[int, Sequence[int]],
    rate: float,
    seed: int,
    prior: Mapping[int, tuple[int, int]] | None = None,
) -> dict[int, tuple[int, ...]]:
    """The sampled call ids of each stratum (ascending), reproducible from ``seed``.

    ``strata``: stratum key → the ids of its calls in this draw; ``prior``: stratum key →
    (calls, sampled) of the month's earlier draws, for a top-up (none: a first draw).
    The same arguments always give the same result (see the module's docstring)."""
    check_seed(seed)
    exact(rate)
    prior = prior or {}
    rng = random.Random(seed)  # noqa: S311 - an auditable sample, not a secret
    chosen: dict[int, tuple[int, ...]] = {}
    for key in sorted(strata):
        calls = sorted(set(strata[key]))
        ranked = sorted((rng.random(), call) for call in calls)
        n_prior, s_prior = prior.get(key, (0, 0))
        k = top_up_size(n_prior, s_prior, len(calls), rate)
        chosen[key] = tuple(sorted(call for _number, call in ranked[:k]))
    return chosen


# --- progress ---------------------------------------------------------------------------


@dataclass(frozen=True)
class StratumProgress:
    """One specialist's part of a month's sample.

    ``calls`` all their calls of the month, ``undrawn`` those not yet in any draw (made
    after the last one), ``sampled`` the calls drawn, ``verified`` those with a verdict;
    ``rate`` the month's rate, ``target`` the completion target (1 = every sampled call)."""

    calls: int
    undrawn: int
    sampled: int
    verified: int
    rate: float
    target: float

    @property
    def required(self) -> int:
        """The sample the month asks of this specialist: ``sample_size`` of all the calls."""
        return max(sample_size(self.calls, self.rate), self.sampled)

    @property
    def required_verified(self) -> int:
        return math.ceil(exact(self.target) * self.required)

    @property
    def short(self) -> int:
        """Verdicts still missing to reach the target: the items an unfinished sample
        lacks (R23: "insurance sample short", per item)."""
        return max(0, self.required_verified - self.verified)

    @property
    def progress(self) -> float | None:
        """Verified ÷ required (None when nothing is required)."""
        return self.verified / self.required if self.required else None

    @property
    def finished(self) -> bool:
        return self.short == 0

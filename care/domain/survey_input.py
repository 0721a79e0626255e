"""Survey answers as they come in: typed on the phone form, keyed in the IVR, simulated.

Pure. An answer is a score on the template's scale or *unanswered* ("the customer did
not answer"), which is never a score and leaves the item out of the index
(domain.md §6). Three ways in:

- :func:`parse_typed` — the phone form's value: a score, or :data:`UNANSWERED`; anything
  else is refused with a message id (the web layer says it next to the item, 422).
- :func:`key_score` — the digits the IVR collected (Twilio's ``Digits``, the generic
  event's ``digits``): a missing key, ``*``/``#``, anything not a number or outside the
  scale is *unanswered*, never a score and never an error (telephony.md "IVR survey").
- :func:`parse_score_mix` / :func:`draw_key` — the simulator's customers: a weighted mix
  of keys (``"7=45,6=25,5=12,4=8,2=3,none=7"``, ``none`` = no key pressed).

:func:`ivr_digits` is how many keys one IVR question collects: one for a scale whose top
is a single digit (1–5, 1–7), two (ended by ``#``) for 1–10 and 0–10.
:func:`finish_outcome` is the task outcome a finished survey records (R8/R10 tasks): a
score at or below the complaint threshold (R19) is "reached, has an issue", with the
low items named in the note; otherwise "reached, satisfied".
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from care.domain import N_, DomainError

UNANSWERED = "none"  # the form's and the mix's word for "the customer did not answer"
MAX_MIX_PARTS = 20
MAX_NOTE = 2000  # as care.domain.outcomes.MAX_NOTE
REACHED_SATISFIED = "reached_satisfied"
REACHED_ISSUE = "reached_issue"


class ScoreInvalid(DomainError):
    """A typed score that is not one: ``template``/``params`` say why (a message id)."""

    def __init__(self, template: str, **params: Any):
        self.template = template
        self.params = params
        super().__init__(template % params if params else template)


def parse_typed(value: Any, scale_min: int, scale_max: int) -> int | None:
    """The phone form's value of one item: the score, or None for :data:`UNANSWERED`.

    Raises :class:`ScoreInvalid` for an empty value, text or a number outside the scale."""
    text = str(value if value is not None else "").strip()
    if text.lower() == UNANSWERED:
        return None
    if not text:
        raise ScoreInvalid(N_("Choose a score or “did not answer”."))
    if not (text.isascii() and text.isdigit() and len(text) <= 3):
        raise ScoreInvalid(
            N_("“%(value)s” is not a score: choose %(min)d to %(max)d or “did not answer”."),
            value=text[:12], min=scale_min, max=scale_max,
        )  # fmt: skip
    score = int(text)
    if not scale_min <= score <= scale_max:
        raise ScoreInvalid(
            N_("%(value)d is outside the scale %(min)d to %(max)d."), value=score, min=scale_min, max=scale_max
        )
    return score


def key_score(digits: Any, scale_min: int, scale_max: int) -> int | None:
    """The score the IVR keys mean, or None (unanswered) for no key, ``*``, ``#``, a key
    outside the scale or anything else."""
    if not isinstance(digits, str | int) or isinstance(digits, bool):
        return None
    text = str(digits).strip().rstrip("#")
    if not (text and text.isascii() and text.isdigit() and len(text) <= 2):
        return None
    score = int(text)
    return score if scale_min <= score <= scale_max else None


def ivr_digits(scale_max: int) -> int:
    """Keys one IVR question collects: 1 up to a top score of 9, else 2 (``#`` ends early)."""
    return 1 if scale_max <= 9 else 2


# --- the simulator's customers --------------------------------------------------------

DEFAULT_SCORE_MIX = "7=45,6=25,5=12,4=8,3=3,none=7"


def parse_score_mix(text: str | None) -> dict[str, int]:
    """``"7=45,6=25,none=7"`` → {key: weight}; keys are 0–10 or ``none`` (no key
    pressed), ``*`` and ``#`` (pressed, never a score). Raises ValueError with the part."""
    weights: dict[str, int] = {}
    parts = [p for p in (text or DEFAULT_SCORE_MIX).split(",") if p.strip()]
    if len(parts) > MAX_MIX_PARTS:
        raise ValueError(f"CARE_SIM_SURVEY_MIX: at most {MAX_MIX_PARTS} parts")
    for part in parts:
        name, eq, value = part.partition("=")
        name = name.strip().lower()
        ok_name = name in (UNANSWERED, "*", "#") or (name.isascii() and name.isdigit() and int(name) <= 10)
        if not eq or not ok_name:
            raise ValueError(
                f"CARE_SIM_SURVEY_MIX: unknown part {part.strip()!r}; keys are 0-10, none, * or #"
            )
        try:
            weight = int(value.strip())
        except ValueError:
            raise ValueError(f"CARE_SIM_SURVEY_MIX: {part.strip()!r} needs a whole-number weight") from None
        if weight < 0:
            raise ValueError("CARE_SIM_SURVEY_MIX: weights are >= 0")
        weights[str(int(name)) if name.isdigit() else name] = weight
    if not weights or sum(weights.values()) <= 0:
        raise ValueError("CARE_SIM_SURVEY_MIX: at least one positive weight")
    return weights


def draw_key(weights: Mapping[str, int], rng: random.Random) -> str | None:
    """One simulated customer's key press: the digits (or ``*``/``#``), None for no key."""
    names = list(weights)
    name = rng.choices(names, weights=[weights[n] for n in names])[0]
    return None if name == UNANSWERED else name


# --- finishing -------------------------------------------------------------------------


@dataclass(frozen=True)
class FinishOutcome:
    """The task outcome a finished survey records, and the note that names its low items."""

    code: str  # REACHED_SATISFIED or REACHED_ISSUE
    note: str | None = None


def finish_outcome(low: Iterable[tuple[str, int]], note: str | None = None) -> FinishOutcome:
    """``low``: (item text, score) of the answers at or below the complaint threshold
    (R19, care.domain.surveys.low_items). Any makes the outcome "reached, has an issue",
    whose note (required) names them, then what the specialist wrote."""
    low = list(low)
    typed = " ".join((note or "").split()) or None
    if not low:
        return FinishOutcome(REACHED_SATISFIED, typed)
    named = "; ".join(f"{text} ({score})" for text, score in low)
    return FinishOutcome(REACHED_ISSUE, (named + (f" — {typed}" if typed else ""))[:MAX_NOTE])

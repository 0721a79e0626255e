"""The call-attempt policy of spec/domain.md §4 (R13, R14, R15), as pure functions.

Given a task's call attempts (:class:`AttemptRecord`; a stored attempt becomes one through
:func:`stored_attempt`, the one conversion), the settings and an aware ``now``:

- :func:`plan` says where the task stands: attempts used and left, the 3-day window,
  the slots used and still open, whether the customer was reached, whether the attempts
  are exhausted, whether the fallback is due (R14) and whether R15 is violated;
- :func:`check_call` says whether a call may be placed now, else why not (a
  :class:`Refusal` with a message id and its params);
- :func:`violation` answers R15 alone.

Outcomes are the normalized vocabulary of spec/telephony.md plus ``in_progress``.

Decisions where the specs are silent:

- **Counted attempts.** ``canceled`` (the specialist hung up before the customer
  answered) is not an attempt: it neither counts nor uses its slot. ``invalid_number``
  is not counted either: it stops the task and sends it to the number-correction queue
  (R12, ``needs_number_correction``); once the number is corrected the task resumes with
  its attempts and slots untouched. ``in_progress`` counts: it occupies its slot, but it
  is not (yet) unsuccessful.
- **Different slots (R13)** means a different slot *name* across the whole window: with
  the default three slots, one morning, one afternoon and one evening attempt, on any of
  the three days. When ``attempts_max`` exceeds the number of slots, each name may be
  used ``ceil(attempts_max / len(slots))`` times, never twice in one slot of one day.
- **Network failure retry** (telephony.md: ``failed`` "may retry in the same slot
  once"): a ``failed`` attempt that is followed by another attempt in the same slot of
  the same day is superseded by it (not counted). One retry per slot and day; the retry
  is offered only while the task is open (a ``failed`` last attempt exhausts the task
  at once, the fallback is not held back for a possible retry).
- **The window (R13)** starts on the local day of the first counted attempt and ends at
  the end of local day ``first + attempt_window_days − 1``. Before the first attempt
  there is no window yet; the open slots are then listed as if it started today.
- **Exhausted** means no further call for this task: ``attempts_max`` unsuccessful
  attempts, or the window ended without reaching the customer. Either way the fallback
  is due (R14) once no call is in progress: a task whose window closed with attempts
  left is not dropped (R15), its fallback still goes out and :func:`violation` reports
  it when it got no attempt after the first.
- **Birthday (R6, R14)**: one unsuccessful attempt exhausts the task, and so does the
  end of the birthday window (``workday_start + birthday_window_hours`` on the birthday)
  without success: the fallback goes out the same morning. The birthday is the local day
  of the first counted attempt, else today; pass ``due_at`` (the task's due time) to be
  exact. R15 does not apply to it.
- **A task nobody called** (no counted attempt) has no R13 window; its own window
  (domain.md §3: created … deadline) closes at :func:`first_call_deadline`: a birthday
  greeting at its deadline (above); any other task at the end of its deadline's local
  day plus ``expiry_grace_days`` (default 0: the day the generator, too, calls its window
  closed). Pass ``due_at``: from then on the task is exhausted, its fallback due (the
  sweep closes it as expired, R14) and no first call is accepted. Without ``due_at``
  such a task never closes (the policy cannot know its deadline).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from enum import StrEnum
from typing import Any

from care.domain import N_
from care.domain.dates import end_of_day, is_aware, local_datetime, to_local
from care.domain.settings import Settings, TimeSlot
from care.domain.task_rules import TaskType

# --- outcomes --------------------------------------------------------------------------

IN_PROGRESS = "in_progress"
FAILED = "failed"
INVALID_NUMBER = "invalid_number"
CANCELED = "canceled"

SUCCESS_OUTCOMES = frozenset({"completed", "reached"})
UNSUCCESSFUL_OUTCOMES = frozenset({"no_answer", "busy", "rejected", "voicemail", "machine", FAILED})
NOT_COUNTED_OUTCOMES = frozenset({CANCELED, INVALID_NUMBER})
OUTCOMES = SUCCESS_OUTCOMES | UNSUCCESSFUL_OUTCOMES | NOT_COUNTED_OUTCOMES | {IN_PROGRESS}

# Statuses below terminal (telephony.md status ranks): the attempt is still in progress.
_NON_TERMINAL = frozenset({"requested", "initiated", "ringing", "answered"})


def normalize_outcome(outcome: str) -> str:
    """The outcome as this module knows it: lower case, ``-`` → ``_``, and a non-terminal
    provider status (requested, initiated, ringing, answered) → ``in_progress``.
    Raises ValueError for anything outside the vocabulary."""
    value = outcome.strip().lower().replace("-", "_")
    if value in _NON_TERMINAL:
        return IN_PROGRESS
    if value not in OUTCOMES:
        raise ValueError(f"unknown attempt outcome {outcome!r}")
    return value


def counts_as_attempt(outcome: str) -> bool:
    """R13: does the attempt count (and use its slot)? Not ``canceled`` nor
    ``invalid_number``; ``in_progress`` does (it occupies its slot)."""
    return normalize_outcome(outcome) not in NOT_COUNTED_OUTCOMES


def is_success(outcome: str) -> bool:
    """The customer was reached (``completed`` / ``reached``)."""
    return normalize_outcome(outcome) in SUCCESS_OUTCOMES


def is_unsuccessful(outcome: str) -> bool:
    """A counted attempt with a final state that did not reach the customer."""
    return normalize_outcome(outcome) in UNSUCCESSFUL_OUTCOMES


@dataclass(frozen=True)
class AttemptRecord:
    """One call attempt of a task: when it started (aware) and its outcome so far."""

    started_at: datetime
    outcome: str

    def __post_init__(self) -> None:
        if not is_aware(self.started_at):
            raise ValueError("AttemptRecord.started_at must be an aware datetime")
        object.__setattr__(self, "outcome", normalize_outcome(self.outcome))


def stored_attempt(
    started_at: datetime, outcome: str | None, status: str, *, counted: bool
) -> AttemptRecord | None:
    """R13: a stored call attempt as this policy reads it, from its plain fields; None
    when it is no attempt at all. The one conversion every caller uses (the task card,
    the call button, the fallback and R15), so that they all see the same plan.

    - ``counted`` false: the call never reached the customer's side of the policy: either
      it never left ours (the provider refused or was unreachable when we asked it to
      ring: ``status``/``outcome`` ``failed`` with an ``error``), or the specialist hung
      up before the customer answered (``canceled``, telephony.md: "counts: no"). Neither
      counts nor uses its slot, nor says anything about the number: it is left out.
    - Otherwise the attempt is read by its outcome, else its status while it is still in
      progress (``requested``…``answered`` → ``in_progress``). Which outcomes count is
      this module's rule (telephony.md's table): ``canceled`` and ``invalid_number`` do
      not (the latter sends the task to the number correction, R12).
    - The provider's ``error`` stored when ringing seemed to fail is not read: when the
      provider reports on that call after all (it did go out), the events set its
      outcome and ``counted`` again, and it counts as its outcome says.

    Raises ValueError for an outcome or status outside the vocabulary."""
    if not counted:
        return None
    return AttemptRecord(started_at, outcome or status)


# --- slots -----------------------------------------------------------------------------


def slot_of(moment: datetime, settings: Settings) -> TimeSlot | None:
    """The call slot (R13) containing ``moment`` in the dealer's local time, or None
    (quiet hours). A slot is [start, end): 12:00 is outside 09:00–12:00."""
    local = to_local(moment, settings.timezone).time()
    return next((s for s in settings.call_slots if s.contains(local)), None)


@dataclass(frozen=True)
class SlotOccurrence:
    """One slot on one local day, e.g. the afternoon of 30 January, 14:00–17:30."""

    name: str
    day: date
    starts_at: datetime  # aware, local time
    ends_at: datetime  # aware, local time, exclusive

    def contains(self, moment: datetime) -> bool:
        return self.starts_at <= moment < self.ends_at


@dataclass(frozen=True)
class OpenSlot:
    """A slot still open for this task with its remaining occurrences in the window,
    earliest first (the web layer says "afternoon today 14:00–17:30", "evening tomorrow")."""

    slot: TimeSlot
    occurrences: tuple[SlotOccurrence, ...]

    @property
    def name(self) -> str:
        return self.slot.name


@dataclass(frozen=True)
class SlotUse:
    """A slot used by a counted attempt."""

    name: str
    day: date
    started_at: datetime  # local time
    outcome: str


def _occurrence(slot: TimeSlot, day: date, tz: str) -> SlotOccurrence:
    return SlotOccurrence(
        slot.name, day, local_datetime(day, slot.start, tz), local_datetime(day, slot.end, tz)
    )


# --- reading the attempts --------------------------------------------------------------


@dataclass(frozen=True)
class _Seen:
    local: datetime
    outcome: str
    slot: str | None

    @property
    def key(self) -> tuple[date, str | None]:
        return (self.local.date(), self.slot)


@dataclass(frozen=True)
class _History:
    counted: tuple[_Seen, ...]  # counted attempts, superseded network failures removed
    retry_open: frozenset[tuple[date, str]]  # slot of a day whose one attempt failed
    number_invalid: bool

    @property
    def reached(self) -> bool:
        return any(s.outcome in SUCCESS_OUTCOMES for s in self.counted)

    @property
    def unsuccessful(self) -> int:
        return sum(s.outcome in UNSUCCESSFUL_OUTCOMES for s in self.counted)

    @property
    def in_progress(self) -> bool:
        return any(s.outcome == IN_PROGRESS for s in self.counted)

    @property
    def first_day(self) -> date | None:
        return self.counted[0].local.date() if self.counted else None


def _read(attempts: Iterable[AttemptRecord], settings: Settings) -> _History:
    tz = settings.timezone
    seen = [
        _Seen(to_local(a.started_at, tz), a.outcome, _name(slot_of(a.started_at, settings)))
        for a in sorted(attempts, key=lambda a: a.started_at)
    ]
    counted = [s for s in seen if s.outcome not in NOT_COUNTED_OUTCOMES]
    by_slot: dict[tuple[date, str | None], list[int]] = {}
    for i, s in enumerate(counted):
        if s.slot is not None:
            by_slot.setdefault(s.key, []).append(i)
    superseded = {
        ix[0] for ix in by_slot.values() if len(ix) > 1 and counted[ix[0]].outcome == FAILED
    }
    retry_open = frozenset(
        key for key, ix in by_slot.items() if len(ix) == 1 and counted[ix[0]].outcome == FAILED
    )
    final = [s for s in seen if s.outcome != CANCELED]
    return _History(
        counted=tuple(s for i, s in enumerate(counted) if i not in superseded),
        retry_open=retry_open,
        number_invalid=bool(final) and final[-1].outcome == INVALID_NUMBER,
    )


def _name(slot: TimeSlot | None) -> str | None:
    return slot.name if slot else None


def _uses_per_slot(settings: Settings, attempts_max: int) -> int:
    """R13: how often one slot name may be used in the window (1 with the defaults)."""
    return max(1, math.ceil(attempts_max / len(settings.call_slots)))


def _slot_free(history: _History, day: date, name: str, uses_per_slot: int) -> bool:
    """R13: may an attempt be placed in slot ``name`` on ``day``?"""
    key = (day, name)
    if key in history.retry_open:
        return True  # one retry after a network failure, same slot, same day
    if any(s.key == key for s in history.counted):
        return False
    return sum(s.slot == name for s in history.counted) < uses_per_slot


# --- the plan --------------------------------------------------------------------------


@dataclass(frozen=True)
class AttemptPlan:
    """Where a task's calling stands at ``now`` (R13/R14/R15); see the module docstring."""

    attempts_max: int  # 1 for a birthday greeting (R14)
    used: int  # unsuccessful counted attempts
    left: int  # attempts still allowed (a call in progress takes one)
    in_progress: bool
    reached: bool
    window_starts_on: date | None  # None before the first counted attempt
    window_ends_at: datetime | None  # aware local; for a birthday the end of its window
    window_closed: bool
    used_slots: tuple[SlotUse, ...]
    open_slots: tuple[OpenSlot, ...]
    exhausted: bool
    fallback_due: bool  # R14
    violation: bool  # R15
    needs_number_correction: bool  # R12: the last attempt found the number invalid
    # No counted attempt yet (and ``due_at`` given): when the task's own window closes,
    # i.e. the last moment for its first call (the module docstring); else None.
    first_call_by: datetime | None = None

    @property
    def next_open(self) -> SlotOccurrence | None:
        """The earliest open slot occurrence (possibly the current one)."""
        occurrences = [o for s in self.open_slots for o in s.occurrences]
        return min(occurrences, key=lambda o: o.starts_at, default=None)

    def current(self, now: datetime) -> SlotOccurrence | None:
        """The open occurrence containing ``now``, if any."""
        return next((o for s in self.open_slots for o in s.occurrences if o.contains(now)), None)


def birthday_deadline(settings: Settings, day: date) -> datetime:
    """R6: the end of the birthday window on ``day`` (default 08:30 + 2 h = 10:30 local)."""
    start = local_datetime(day, settings.workday_start, settings.timezone)
    return start + timedelta(hours=settings.birthday_window_hours)


def first_call_last_day(settings: Settings, due_at: datetime) -> date:
    """The last local day on which a task nobody called yet may get its first call: its
    deadline's day plus ``expiry_grace_days`` (not for a birthday: see
    :func:`first_call_deadline`)."""
    return to_local(due_at, settings.timezone).date() + timedelta(days=settings.expiry_grace_days)


def first_call_deadline(settings: Settings, due_at: datetime, *, task_type: str | None = None) -> datetime:
    """When the window of a task without any counted attempt closes (aware, local): a
    birthday greeting at its own deadline ``due_at`` (R6, R14: the fallback goes out the
    same morning); any other task at the end (23:59:59) of :func:`first_call_last_day`.
    See the module docstring."""
    if task_type == TaskType.BIRTHDAY:
        return to_local(due_at, settings.timezone)
    return end_of_day(first_call_last_day(settings, due_at), settings.timezone)


def first_call_overdue(
    settings: Settings, due_at: datetime, now: datetime, *, task_type: str | None = None
) -> bool:
    """Has the window of a task without any counted attempt closed at ``now``? A birthday
    from its deadline on; any other task from the day after :func:`first_call_last_day`."""
    if task_type == TaskType.BIRTHDAY:
        return now >= due_at
    return to_local(now, settings.timezone).date() > first_call_last_day(settings, due_at)


@dataclass(frozen=True)
class _Window:
    starts_on: date | None
    first_day: date  # first day slots may be offered
    last_day: date
    ends_at: datetime | None
    closed: bool
    birthday_deadline: datetime | None = None
    first_call_by: datetime | None = None  # no attempt yet: the first call's deadline


def _window(
    history: _History,
    settings: Settings,
    now: datetime,
    birthday: bool,
    due_at: datetime | None,
) -> _Window:
    """R13: the calendar days of the attempts; R6/R14: the birthday morning."""
    tz = settings.timezone
    today = to_local(now, tz).date()
    start = history.first_day
    if birthday:
        deadline = to_local(due_at, tz) if due_at else birthday_deadline(settings, start or today)
        first_by = deadline if start is None else None
        return _Window(start, today, deadline.date(), deadline, now >= deadline, deadline, first_by)
    if start is None:
        last = today + timedelta(days=settings.attempt_window_days - 1)
        if due_at is None:
            return _Window(None, today, last, None, False)
        by = first_call_deadline(settings, due_at)
        return _Window(None, today, last, None, first_call_overdue(settings, due_at, now), None, by)
    last = start + timedelta(days=settings.attempt_window_days - 1)
    return _Window(start, max(start, today), last, end_of_day(last, tz), today > last)


def _open_slots(
    history: _History, settings: Settings, now: datetime, window: _Window, uses_per_slot: int
) -> tuple[OpenSlot, ...]:
    """R13: the slots still open, each with its remaining occurrences in the window."""
    found: list[OpenSlot] = []
    days = (window.last_day - window.first_day).days + 1
    for slot in settings.call_slots:
        occurrences = []
        for n in range(max(0, days)):
            occ = _occurrence(slot, window.first_day + timedelta(days=n), settings.timezone)
            if occ.ends_at <= now:
                continue
            if window.birthday_deadline is not None and occ.starts_at >= window.birthday_deadline:
                continue
            if window.first_call_by is not None and occ.starts_at >= window.first_call_by:
                continue  # the first call must come before the task's own window closes
            if _slot_free(history, occ.day, slot.name, uses_per_slot):
                occurrences.append(occ)
        if occurrences:
            found.append(OpenSlot(slot, tuple(occurrences)))
    return tuple(sorted(found, key=lambda s: s.occurrences[0].starts_at))


def plan(
    attempts: Iterable[AttemptRecord],
    settings: Settings,
    now: datetime,
    *,
    task_type: str | None = None,
    due_at: datetime | None = None,
) -> AttemptPlan:
    """R13/R14/R15: the state of a task's calling at ``now`` (aware).

    ``due_at`` matters for a birthday greeting only (its window end; see the module
    docstring)."""
    to_local(now, settings.timezone)  # raises for a naive now
    history = _read(attempts, settings)
    birthday = task_type == TaskType.BIRTHDAY
    attempts_max = 1 if birthday else settings.attempts_max
    window = _window(history, settings, now, birthday, due_at)
    used = history.unsuccessful
    reached = history.reached
    pending = sum(s.outcome == IN_PROGRESS for s in history.counted)
    exhausted = not reached and (used >= attempts_max or window.closed)
    uses_per_slot = _uses_per_slot(settings, attempts_max)
    callable_ = not (reached or exhausted)
    return AttemptPlan(
        attempts_max=attempts_max,
        used=used,
        left=max(0, attempts_max - used - pending) if not reached else 0,
        in_progress=history.in_progress,
        reached=reached,
        window_starts_on=window.starts_on,
        window_ends_at=window.ends_at,
        window_closed=window.closed,
        used_slots=tuple(
            SlotUse(s.slot, s.local.date(), s.local, s.outcome)
            for s in history.counted
            if s.slot is not None
        ),
        open_slots=_open_slots(history, settings, now, window, uses_per_slot) if callable_ else (),
        exhausted=exhausted,
        fallback_due=exhausted and not history.in_progress,
        violation=not birthday and _violates(history, window, attempts_max),
        needs_number_correction=history.number_invalid and not reached,
        first_call_by=window.first_call_by,
    )


def _violates(history: _History, window: _Window, attempts_max: int) -> bool:
    """R15: the first attempt failed and no further attempt followed within the window."""
    return (
        window.closed
        and attempts_max > 1
        and len(history.counted) == 1
        and history.counted[0].outcome in UNSUCCESSFUL_OUTCOMES
    )


def violation(
    attempts: Iterable[AttemptRecord],
    settings: Settings,
    now: datetime,
    *,
    task_type: str | None = None,
) -> bool:
    """R15 – no task dropped: the first attempt failed and the task got no further
    attempt within its window (the window is over, the customer not reached). A task
    that got a second attempt and then ran out of days is exhausted (its fallback is
    due) but not an R15 violation. Never for a birthday greeting (it falls back at once)."""
    return plan(attempts, settings, now, task_type=task_type).violation


# --- may we call now? ------------------------------------------------------------------


class RefusalCode(StrEnum):
    QUIET_HOURS = "quiet_hours"
    NO_SLOT_LEFT = "no_slot_left"
    SLOT_USED = "slot_used"
    ATTEMPTS_EXHAUSTED = "attempts_exhausted"
    WINDOW_CLOSED = "window_closed"
    ALREADY_REACHED = "already_reached"
    CALL_IN_PROGRESS = "call_in_progress"


REFUSAL_MESSAGES: dict[str, str] = {
    RefusalCode.QUIET_HOURS: N_(
        "Quiet hours: calls only in the call slots. Next: %(slot)s from %(starts_at)s."
    ),
    RefusalCode.NO_SLOT_LEFT: N_(
        "No call slot is left in this task's window (it ends %(ends_at)s)."
    ),
    RefusalCode.SLOT_USED: N_("The %(slot)s slot was already used for this task."),
    RefusalCode.ATTEMPTS_EXHAUSTED: N_(
        "All %(attempts_max)s attempts were made; the fallback message is due."
    ),
    RefusalCode.WINDOW_CLOSED: N_("The time for the call attempts ended at %(ends_at)s."),
    RefusalCode.ALREADY_REACHED: N_("The customer was already reached."),
    RefusalCode.CALL_IN_PROGRESS: N_("A call for this task is still in progress."),
}


@dataclass(frozen=True)
class Refusal:
    """Why a call may not be placed now: ``code`` (a :class:`RefusalCode`), the English
    message id ``template`` and its ``params`` (the web layer translates and formats).

    ``slot_used`` also carries ``next_slot`` / ``next_starts_at`` (None when no slot is
    left)."""

    code: str
    params: dict[str, Any] = field(default_factory=dict)

    @property
    def template(self) -> str:
        return REFUSAL_MESSAGES[self.code]

    def __str__(self) -> str:
        return self.template % self.params


def check_call(
    attempts: Iterable[AttemptRecord],
    settings: Settings,
    now: datetime,
    *,
    task_type: str | None = None,
    due_at: datetime | None = None,
) -> Refusal | None:
    """R13/R14: None when a call may be placed at ``now``, else the :class:`Refusal`.

    Checked in order: already reached, a call in progress, attempts exhausted, window
    closed, quiet hours (with the next open slot; ``no_slot_left`` when none remains),
    current slot already used for this task."""
    p = plan(attempts, settings, now, task_type=task_type, due_at=due_at)
    if p.reached:
        return Refusal(RefusalCode.ALREADY_REACHED)
    if p.in_progress:
        return Refusal(RefusalCode.CALL_IN_PROGRESS)
    if p.used >= p.attempts_max:
        return Refusal(RefusalCode.ATTEMPTS_EXHAUSTED, {"attempts_max": p.attempts_max})
    if p.window_closed:
        return Refusal(RefusalCode.WINDOW_CLOSED, {"ends_at": p.window_ends_at or p.first_call_by})
    if p.current(now) is not None:
        return None
    nxt = p.next_open
    slot = slot_of(now, settings)
    if slot is not None:
        return Refusal(
            RefusalCode.SLOT_USED,
            {
                "slot": slot.name,
                "next_slot": nxt.name if nxt else None,
                "next_starts_at": nxt.starts_at if nxt else None,
            },
        )
    if nxt is None:
        return Refusal(RefusalCode.NO_SLOT_LEFT, {"ends_at": p.window_ends_at})
    return Refusal(RefusalCode.QUIET_HOURS, {"slot": nxt.name, "starts_at": nxt.starts_at})

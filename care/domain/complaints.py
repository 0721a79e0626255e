"""The 24-hour closed loop of a complaint (domain.md §6 R19, §7 R20): pure rules.

A complaint passes eight steps, each taken by one role and stamped with who, when and a
text (``STEPS``):

1. the care specialist fills the complaint form (opened by hand: filled as it is opened;
   opened from a low survey response: the form is waiting for the specialist);
2. the care manager writes the handling opinion;
3. the general manager reviews it;
4. the sales manager dispatches it to the consultant (a sales complaint) or the service
   advisor (a service complaint) — there is no service-manager role (interfaces.md lists
   eight roles), so the sales manager dispatches both kinds and the kind is recorded;
5. the sales manager returns the handled form to the care department, within
   ``complaint_return_hours`` (12) of the dispatch;
6. the care manager calls the customer back (a real call, see care/services/complaints.py)
   and records whether they are satisfied: satisfied → step 7; dissatisfied → back to
   step 2, counted as a reopening (``reopened``), never closed;
7. the general manager signs off;
8. the care specialist registers and archives it: the loop is closed.

Deadlines (elapsed hours, in UTC, so midnight and month ends change nothing):

- the whole loop: ``complaint_close_hours`` (24) from the moment the complaint was opened
  (by hand: when its form was filled, step 1; from a survey: when the low score was
  recorded — the customer's complaint exists from then, its form is the loop's first step);
  a reopening does not restart it;
- step 5: ``complaint_return_hours`` (12) after the (latest) dispatch, or the loop's
  deadline when that comes first;
- every other step: the loop's deadline.

A step is overdue once its deadline has passed and it is still waiting.

Which month a complaint counts in (``complaints_closed_in_24h_rate``, R22): the month
(dealer's time zone) in which it was **opened**, as the KPI's definition reads
("complaints opened in the month"); it is counted once it is decided — closed, or its
24 h have passed while open (not in time) — so a complaint still open within its 24 h is
in no denominator yet. A complaint opened at 22:00 on 31 January and closed at 08:00 on
1 February is January's and in time.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from enum import IntEnum, StrEnum
from zoneinfo import ZoneInfo

from care.domain import N_
from care.domain.roles import Role

MAX_TEXT = 2000  # characters of a step's text (and of the form's description)


class Step(IntEnum):
    FORM = 1
    OPINION = 2
    REVIEW = 3
    DISPATCH = 4
    RETURN = 5
    CALLBACK = 6
    SIGN_OFF = 7
    ARCHIVE = 8


class Outcome(StrEnum):
    DONE = "done"
    SATISFIED = "satisfied"
    DISSATISFIED = "dissatisfied"


class Kind(StrEnum):
    SALES = "sales"
    SERVICE = "service"


class Source(StrEnum):
    SURVEY = "survey"
    MANUAL = "manual"


@dataclass(frozen=True)
class StepDef:
    step: Step
    name: str  # stable, for the CLI and JSON
    label: str  # message id
    roles: frozenset[Role]
    text_required: bool = True


STEPS: dict[Step, StepDef] = {
    d.step: d
    for d in (
        StepDef(Step.FORM, "form", N_("Complaint form"), frozenset({Role.SPECIALIST})),
        StepDef(Step.OPINION, "opinion", N_("Handling opinion"), frozenset({Role.CARE_MANAGER})),
        StepDef(Step.REVIEW, "review", N_("General manager's review"), frozenset({Role.GENERAL_MANAGER})),
        StepDef(Step.DISPATCH, "dispatch", N_("Dispatch to the consultant or advisor"), frozenset({Role.SALES_MANAGER}), False),
        StepDef(Step.RETURN, "return", N_("Handled form returned"), frozenset({Role.SALES_MANAGER})),
        StepDef(Step.CALLBACK, "callback", N_("Call-back: is the customer satisfied?"), frozenset({Role.CARE_MANAGER})),
        StepDef(Step.SIGN_OFF, "sign_off", N_("General manager's sign-off"), frozenset({Role.GENERAL_MANAGER}), False),
        StepDef(Step.ARCHIVE, "archive", N_("Registered and archived"), frozenset({Role.SPECIALIST}), False),
    )
}

# Everyone who takes a step of some complaint (and so has "my steps").
STEP_TAKERS: frozenset[Role] = frozenset().union(*(d.roles for d in STEPS.values()))
# Who sees every complaint (all open and overdue ones); the specialists see all too, as
# the desk that fills and archives them. A consultant sees those dispatched to them.
MANAGERS: frozenset[Role] = frozenset({Role.CARE_MANAGER, Role.GENERAL_MANAGER, Role.SALES_MANAGER})
READERS: frozenset[Role] = STEP_TAKERS | MANAGERS | {Role.CONSULTANT}
# Who opens a complaint by hand (fills its form: step 1).
OPENERS: frozenset[Role] = STEPS[Step.FORM].roles


def owner_role(step: int) -> str:
    """The role that takes ``step`` (interfaces.md ``owner``)."""
    return sorted(r.value for r in STEPS[Step(step)].roles)[0]


# --- refusals --------------------------------------------------------------------------


class StepRefused(Exception):
    """A step that may not be taken now; ``template``/``params`` say what is expected and
    by whom. ``params``: ``expected`` (the step number waiting), ``expected_name`` (its label,
    a message id), ``who`` (the role values that take it, comma-separated), ``step`` (the
    step tried)."""

    def __init__(self, code: str, template: str, **params):
        self.code = code
        self.template = template
        self.params = params
        super().__init__(template % params if params else template)


CLOSED = "closed"
OUT_OF_ORDER = "out_of_order"
WRONG_ROLE = "wrong_role"
TEXT_MISSING = "text_missing"
TEXT_TOO_LONG = "text_too_long"
BAD_OUTCOME = "bad_outcome"
NO_CALL = "no_call"
NO_HANDLER = "no_handler"


@dataclass(frozen=True)
class LoopState:
    """Where a complaint stands: the step waiting (``step``), closed or not."""

    step: int
    closed: bool
    opened_at: datetime
    dispatched_at: datetime | None = None
    reopened: int = 0


def _expected(state: LoopState, step: int) -> dict:
    d = STEPS[Step(state.step)]
    return {
        "expected": int(state.step),
        "expected_name": d.label,
        "who": ", ".join(sorted(r.value for r in d.roles)),
        "step": int(step),
    }


def check_step(
    state: LoopState,
    step: int,
    roles,
    *,
    text: str = "",
    outcome: str = Outcome.DONE,
    reached_call: bool = False,
    has_handler: bool = False,
) -> None:
    """Raise :class:`StepRefused` unless ``roles`` may take ``step`` now with this input."""
    if state.closed:
        raise StepRefused(CLOSED, N_("This complaint is closed and archived: no step is left to take."))
    if step not in {int(s) for s in Step}:
        raise StepRefused(OUT_OF_ORDER, N_("There is no step %(step)s: the steps are 1 to 8."), step=step)
    params = _expected(state, step)
    if step != state.step:
        raise StepRefused(
            OUT_OF_ORDER,
            N_("Step %(step)s cannot be taken now: step %(expected)s (%(expected_name)s) is next, by the %(who)s."),
            **params,
        )
    d = STEPS[Step(step)]
    if not ({str(r) for r in roles} & {r.value for r in d.roles}):
        raise StepRefused(
            WRONG_ROLE,
            N_("Step %(expected)s (%(expected_name)s) is taken by the %(who)s, not by your role."),
            **params,
        )
    allowed = (Outcome.SATISFIED, Outcome.DISSATISFIED) if step == Step.CALLBACK else (Outcome.DONE,)
    if outcome not in {o.value for o in allowed}:
        raise StepRefused(BAD_OUTCOME, N_("Choose whether the customer is satisfied."), **params)
    stripped = (text or "").strip()
    if d.text_required and not stripped:
        raise StepRefused(TEXT_MISSING, N_("Write the text of step %(expected)s (%(expected_name)s)."), **params)
    if len(stripped) > MAX_TEXT:
        raise StepRefused(
            TEXT_TOO_LONG, N_("The text is too long: at most %(max)d characters."), max=MAX_TEXT, **params
        )
    if step == Step.DISPATCH and not has_handler:
        raise StepRefused(NO_HANDLER, N_("Choose the consultant or service advisor it is dispatched to."), **params)
    if step == Step.CALLBACK and not reached_call:
        raise StepRefused(
            NO_CALL,
            N_("Call the customer first: their satisfaction is confirmed on a call that reached them."),
            **params,
        )


@dataclass(frozen=True)
class Transition:
    step: int  # the step waiting next (8 stays 8 once closed)
    closed_at: datetime | None
    reopened: int
    dispatched_at: datetime | None
    reopening: bool = False


def advance(state: LoopState, step: int, outcome: str, now: datetime) -> Transition:
    """The state after ``step`` was taken at ``now`` (already checked by :func:`check_step`)."""
    dispatched = now if step == Step.DISPATCH else state.dispatched_at
    if step == Step.CALLBACK and outcome == Outcome.DISSATISFIED:
        return Transition(int(Step.OPINION), None, state.reopened + 1, None, reopening=True)
    if step == Step.ARCHIVE:
        return Transition(int(Step.ARCHIVE), now, state.reopened, dispatched)
    return Transition(step + 1, None, state.reopened, dispatched)


# --- deadlines -------------------------------------------------------------------------


def loop_due(opened_at: datetime, close_hours: int) -> datetime:
    return opened_at + timedelta(hours=close_hours)


def step_due(
    step: int, opened_at: datetime, dispatched_at: datetime | None, *, close_hours: int, return_hours: int
) -> datetime:
    """When the waiting ``step`` is due (see the module's notes)."""
    whole = loop_due(opened_at, close_hours)
    if step == Step.RETURN and dispatched_at is not None:
        return min(dispatched_at + timedelta(hours=return_hours), whole)
    return whole


def is_overdue(due_at: datetime | None, now: datetime, *, closed: bool) -> bool:
    return not closed and due_at is not None and now > due_at


def closed_in_time(opened_at: datetime, closed_at: datetime | None, close_hours: int) -> bool:
    return closed_at is not None and closed_at <= loop_due(opened_at, close_hours)


def kpi_month(opened_at: datetime, tz: str) -> date:
    """The first day of the month (dealer's time zone) the complaint counts in."""
    return opened_at.astimezone(ZoneInfo(tz)).date().replace(day=1)


def kpi_counts(opened_at: datetime, closed_at: datetime | None, now: datetime, close_hours: int) -> tuple[bool, bool]:
    """(decided, in time) at ``now``: decided once closed or past its 24 h."""
    in_time = closed_in_time(opened_at, closed_at, close_hours) and closed_at <= now
    decided = (closed_at is not None and closed_at <= now) or now > loop_due(opened_at, close_hours)
    return decided, in_time


"""R22 – the monthly report's workflow: who may take which step from which state, the
deadlines of each step, and which steps were late (R23). Standard library only.

A month's report is generated on the 1st of the next month (its figures frozen then);
the care manager writes the analysis and next month's improvement plan and submits it
by day ``report_submit_day`` (default 3); the general manager approves it, or returns it
with a required comment (back to a draft), by day ``report_approve_day`` (default 5).
A deadline "by day N" is the end of that day at the dealer (local midnight after it).

Late steps (R23, "manager's analysis not reported", "monthly plan late"):

- ``analysis_not_reported``: the report's *first* submission came after the submission
  deadline, or has not come and the deadline has passed — the care manager's;
- ``plan_late``: the report was not approved by the approval deadline (or is still not
  approved after it) — counted against whoever held the report at the deadline: the
  general manager when it was waiting for approval, else the care manager (a draft,
  never submitted or returned to them).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

from care.domain import N_, DomainError
from care.domain.dates import add_months, first_of_month, local_datetime
from care.domain.roles import Role

DRAFT, SUBMITTED, APPROVED = "draft", "submitted", "approved"
STATES: tuple[str, ...] = (DRAFT, SUBMITTED, APPROVED)

GENERATED, REGENERATED, SUBMIT, RETURN, APPROVE = "generated", "regenerated", "submitted", "returned", "approved"
ACTIONS: tuple[str, ...] = (GENERATED, REGENERATED, SUBMIT, RETURN, APPROVE)

ANALYSIS_NOT_REPORTED, PLAN_LATE = "analysis_not_reported", "plan_late"

MAX_TEXT = 10000  # characters of the analysis, of the plan
MAX_COMMENT = 2000  # characters of a return's or an approval's comment

# action → (the states it starts from, the state it leads to, the role that takes it)
STEPS: dict[str, tuple[frozenset[str], str, Role]] = {
    REGENERATED: (frozenset({DRAFT}), DRAFT, Role.CARE_MANAGER),
    SUBMIT: (frozenset({DRAFT}), SUBMITTED, Role.CARE_MANAGER),
    RETURN: (frozenset({SUBMITTED}), DRAFT, Role.GENERAL_MANAGER),
    APPROVE: (frozenset({SUBMITTED}), APPROVED, Role.GENERAL_MANAGER),
}
EDIT_ROLE = Role.CARE_MANAGER  # writes the analysis and the plan, on a draft


class StepRefused(DomainError):
    """A step that may not be taken: ``status`` 403 (not this role), 409 (not from this
    state) or 422 (something missing or too long); ``field`` the form field at fault."""

    def __init__(self, template: str, *, status: int, field: str | None = None, **params: Any):
        self.template, self.params, self.status, self.field = template, params, status, field
        super().__init__(template % params if params else template)


def may(action: str, roles: Iterable[str]) -> bool:
    """Whether a user with ``roles`` takes ``action`` (or edits, for ``"edit"``)."""
    role = EDIT_ROLE if action == "edit" else STEPS[action][2]
    return role.value in {str(r) for r in roles}


def check_step(action: str, status: str, roles: Iterable[str]) -> str:
    """The state ``action`` leads to from ``status``, or :class:`StepRefused`."""
    if action not in STEPS:
        raise StepRefused(N_("There is no such step."), status=404)
    starts, leads_to, _role = STEPS[action]
    if not may(action, roles):
        if _role is Role.CARE_MANAGER:
            raise StepRefused(N_("Only the care manager writes and submits the monthly report."), status=403)
        raise StepRefused(N_("Only the general manager approves or returns the monthly report."), status=403)
    if status not in starts:
        if status == APPROVED:
            raise StepRefused(N_("This report is approved: it can no longer change."), status=409)
        if status == SUBMITTED:
            raise StepRefused(N_("This report is waiting for the general manager's approval."), status=409)
        raise StepRefused(N_("This report has not been submitted yet."), status=409)
    return leads_to


def clean_text(value: str | None, field: str, *, required: bool, limit: int = MAX_TEXT) -> str | None:
    """A text as stored: trimmed, None when empty; refused when required and empty, or
    longer than ``limit``."""
    text = (value or "").replace("\r\n", "\n").strip()
    if len(text) > limit:
        too_long = {
            "analysis": N_("The analysis is too long: %(length)d characters, at most %(limit)d."),
            "plan": N_("The plan is too long: %(length)d characters, at most %(limit)d."),
        }
        template = too_long.get(field, N_("The comment is too long: %(length)d characters, at most %(limit)d."))
        raise StepRefused(template, status=422, field=field, length=len(text), limit=limit)
    if not text:
        if required:
            messages = {
                "analysis": N_("Write the analysis of the month before submitting."),
                "plan": N_("Write next month's improvement plan before submitting."),
                "comment": N_("Say why the report is returned: the comment is required."),
            }
            raise StepRefused(messages.get(field, N_("This field is required.")), status=422, field=field)
        return None
    return text


@dataclass(frozen=True)
class Deadlines:
    """A month's report deadlines as aware instants at the dealer: the figures (the 1st
    of the next month, when they are generated), the submission and the approval (each
    the end of its day)."""

    figures: datetime
    submit: datetime
    approve: datetime

    @property
    def figures_day(self) -> date:
        return self.figures.date()

    @property
    def submit_day(self) -> date:
        """The last day of the submission (the deadline is its end)."""
        return (self.submit - timedelta(seconds=1)).date()

    @property
    def approve_day(self) -> date:
        return (self.approve - timedelta(seconds=1)).date()


def deadlines(month: date, tz_name: str, submit_day: int, approve_day: int) -> Deadlines:
    nxt = add_months(first_of_month(month), 1)

    def end_of(day: int) -> datetime:
        return local_datetime(nxt + timedelta(days=day), time(0), tz_name)  # midnight after day ``day``

    return Deadlines(local_datetime(nxt, time(0), tz_name), end_of(submit_day), end_of(approve_day))


def report_due_month(now_local_day: date) -> date:
    """The month whose report is generated on ``now_local_day``: the previous month."""
    return add_months(first_of_month(now_local_day), -1)


@dataclass(frozen=True)
class Step:
    action: str
    at: datetime
    user_id: int | None = None


@dataclass(frozen=True)
class LateStep:
    rule: str  # ANALYSIS_NOT_REPORTED or PLAN_LATE
    due: datetime
    done_at: datetime | None  # None: still not done
    holder: str  # the role whose step it was: care_manager or general_manager
    user_id: int | None  # the person when known (the submitter); None: every holder


def state_at(steps: Sequence[Step], moment: datetime) -> str:
    """The report's state at ``moment`` from its history (a draft before any step)."""
    state = DRAFT
    for s in sorted(steps, key=lambda s: s.at):
        if s.at > moment:
            break
        if s.action in STEPS:
            state = STEPS[s.action][1]
    return state


def late_steps(steps: Sequence[Step], due: Deadlines, now: datetime) -> list[LateStep]:
    """The report's late steps (see the module's text), judged at ``now``: nothing is late
    before its deadline has passed."""
    ordered = sorted(steps, key=lambda s: s.at)
    found: list[LateStep] = []
    submissions = [s for s in ordered if s.action == SUBMIT]
    first = submissions[0] if submissions else None
    if now >= due.submit and (first is None or first.at >= due.submit):
        found.append(
            LateStep(ANALYSIS_NOT_REPORTED, due.submit, first.at if first else None, Role.CARE_MANAGER.value,
                     first.user_id if first else None)
        )  # fmt: skip
    approvals = [s for s in ordered if s.action == APPROVE]
    approved = approvals[-1] if approvals else None
    if now >= due.approve and (approved is None or approved.at >= due.approve):
        waiting = state_at(ordered, due.approve) == SUBMITTED
        if waiting:
            holder, user_id = Role.GENERAL_MANAGER.value, approved.user_id if approved else None
        else:
            last_submit = next((s for s in reversed(ordered) if s.action == SUBMIT and s.at < due.approve), None)
            holder, user_id = Role.CARE_MANAGER.value, (last_submit or first).user_id if (last_submit or first) else None
        found.append(LateStep(PLAN_LATE, due.approve, approved.at if approved else None, holder, user_id))
    return found

"""Task outcomes (domain.md §3 R1 and the task table, §5 R16): the vocabulary per task type.

Pure: which outcomes each task type offers, which of them close the task, which fields
each needs, and the validation of a recorded outcome (field → error). Labels and error
messages are English message ids marked with ``N_``; the web layer translates them.

Decisions where domain.md is silent:

- ``not_reached`` never closes a task: the attempt policy (R13/R14) counts it and decides
  when the task fails. Every other outcome closes the task.
- The four service reminders (first service, maintenance, warranty expiry, inspection)
  share R1's outcomes: will come / already done elsewhere (shop name, location and price)
  / declined (reason) / not reached. Only their labels differ.
- "Will come" (and "will return" of a lapsed recall) *offers* booking an appointment in
  the same step (``booking`` = optional); the appointment task's "booked" *needs* one
  (``booking`` = required: booked in the same step, or already booked for that task).
- A lost customer's loss reason comes from the one list of care.domain.lapsed (the recall
  script reads the same list); "other" needs a note saying what.
- When a note is required is said by ``note_rules`` (the form's note label is built from
  it) and checked by ``validate_outcome`` from the same specs.
- A reached customer with an issue (delivery call/survey, service callback) needs a note.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import Any

from care.domain import N_, DomainError
from care.domain.lapsed import LOSS_REASONS, OTHER_LOSS_REASON
from care.domain.task_rules import TaskType

MAX_TEXT = 200  # characters in a short detail field (shop name, insurer …)
MAX_NOTE = 2000  # characters in a note
MAX_PRICE = Decimal("1000000")  # CNY: an amount beyond this is a typing error


class FieldKind(StrEnum):
    TEXT = "text"  # one line
    MONEY = "money"  # a positive amount in CNY, two decimals at most
    CHOICE = "choice"  # one of `choices`


class Booking(StrEnum):
    """Whether an outcome books a service appointment (R16)."""

    NONE = "none"
    OPTIONAL = "optional"  # offered in the same step
    REQUIRED = "required"  # an appointment must exist for the task afterwards


@dataclass(frozen=True)
class FieldSpec:
    name: str
    label: str  # message id
    kind: FieldKind = FieldKind.TEXT
    required: bool = True
    choices: tuple[tuple[str, str], ...] = ()  # (value, label message id)
    note_required_for: frozenset[str] = frozenset()  # choice values that need a note
    max_length: int = MAX_TEXT


@dataclass(frozen=True)
class OutcomeSpec:
    code: str
    label: str  # message id
    closes_task: bool = True
    reached: bool = True  # the customer was reached (the appointment-rate KPI counts these)
    fields: tuple[FieldSpec, ...] = ()
    note_required: bool = False
    booking: Booking = Booking.NONE

    def field(self, name: str) -> FieldSpec | None:
        return next((f for f in self.fields if f.name == name), None)


@dataclass(frozen=True)
class FieldError:
    """One error: a message id with its params (translated where it is shown)."""

    template: str
    params: dict[str, Any] = field(default_factory=dict)

    def __str__(self) -> str:
        return self.template % self.params if self.params else self.template


class OutcomeInvalid(DomainError):
    """A recorded outcome does not fit its task type; ``errors`` maps field → FieldError.

    Field names: ``outcome`` (no or unknown outcome), ``note``, or a detail field's name.
    """

    def __init__(self, errors: dict[str, FieldError]):
        self.errors = errors
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))


# --- the vocabulary --------------------------------------------------------------------

# (code, label) of the loss reasons: care.domain.lapsed.LOSS_REASONS, the one list.
LOSS_REASON_CHOICES: tuple[tuple[str, str], ...] = tuple((r.code, r.label) for r in LOSS_REASONS)

NOT_REACHED = OutcomeSpec(
    "not_reached", N_("Not reached"), closes_task=False, reached=False
)
_REASON = FieldSpec("reason", N_("Reason"), max_length=500)
_DECLINED = OutcomeSpec("declined", N_("Declined"), fields=(_REASON,))
_ELSEWHERE_FIELDS = (
    FieldSpec("shop", N_("Shop name")),
    FieldSpec("location", N_("Location")),
    FieldSpec("price", N_("Price (CNY)"), kind=FieldKind.MONEY),
)


def _service_reminder(elsewhere_label: str) -> tuple[OutcomeSpec, ...]:
    return (
        OutcomeSpec("will_come", N_("Will come"), booking=Booking.OPTIONAL),
        OutcomeSpec("serviced_elsewhere", elsewhere_label, fields=_ELSEWHERE_FIELDS),
        _DECLINED,
        NOT_REACHED,
    )


_CALLBACK = (
    OutcomeSpec("reached_satisfied", N_("Reached, satisfied")),
    OutcomeSpec("reached_issue", N_("Reached, has an issue"), note_required=True),
    NOT_REACHED,
)

OUTCOMES: dict[str, tuple[OutcomeSpec, ...]] = {
    TaskType.FIRST_SERVICE: _service_reminder(N_("Already serviced elsewhere")),
    TaskType.MAINTENANCE: _service_reminder(N_("Already serviced elsewhere")),
    TaskType.WARRANTY_EXPIRY: _service_reminder(N_("Checked elsewhere")),
    TaskType.INSPECTION: _service_reminder(N_("Inspected elsewhere")),
    TaskType.INSURANCE_RENEWAL: (
        OutcomeSpec("will_renew", N_("Will renew with us")),
        OutcomeSpec(
            "renewed_elsewhere",
            N_("Renewed elsewhere"),
            fields=(
                FieldSpec("insurer", N_("Insurer")),
                FieldSpec("price", N_("Premium (CNY)"), kind=FieldKind.MONEY, required=False),
            ),
        ),
        _DECLINED,
        NOT_REACHED,
    ),
    TaskType.BIRTHDAY: (OutcomeSpec("greeted", N_("Greeted")), NOT_REACHED),
    TaskType.DELIVERY_CALL: _CALLBACK,
    TaskType.DELIVERY_SURVEY: _CALLBACK,
    TaskType.SERVICE_CALLBACK: _CALLBACK,
    TaskType.LAPSED_RECALL: (
        OutcomeSpec("will_return", N_("Will come back"), booking=Booking.OPTIONAL),
        OutcomeSpec(
            "lost",
            N_("Lost"),
            fields=(
                FieldSpec(
                    "loss_reason",
                    N_("Loss reason"),
                    kind=FieldKind.CHOICE,
                    choices=LOSS_REASON_CHOICES,
                    note_required_for=frozenset({OTHER_LOSS_REASON}),
                ),
            ),
        ),
        NOT_REACHED,
    ),
    TaskType.APPOINTMENT: (
        OutcomeSpec("booked", N_("Appointment booked"), booking=Booking.REQUIRED),
        _DECLINED,
        NOT_REACHED,
    ),
}


def outcomes_for(task_type: str) -> tuple[OutcomeSpec, ...]:
    """The outcomes a task of this type offers (none for an unknown type)."""
    return OUTCOMES.get(task_type, ())


def outcome_spec(task_type: str, code: str | None) -> OutcomeSpec | None:
    return next((o for o in outcomes_for(task_type) if o.code == code), None)


@dataclass(frozen=True)
class NoteRule:
    """One case in which an outcome of a task type needs a note: the outcome ``outcome``
    itself, or (``field`` set) that outcome with the choice ``choice`` of its field."""

    outcome: str
    outcome_label: str  # message id
    field: str | None = None
    field_label: str | None = None  # message id
    choice: str | None = None
    choice_label: str | None = None  # message id


def note_rules(task_type: str) -> tuple[NoteRule, ...]:
    """When a note is required for this task type, in the form's order: what the note's
    label says, and exactly what ``validate_outcome`` refuses without a note."""
    rules: list[NoteRule] = []
    for spec in outcomes_for(task_type):
        if spec.note_required:
            rules.append(NoteRule(spec.code, spec.label))
        for f in spec.fields:
            rules.extend(
                NoteRule(spec.code, spec.label, f.name, f.label, value, label)
                for value, label in f.choices
                if value in f.note_required_for
            )
    return tuple(rules)


def note_required_by(task_type: str) -> tuple[str, ...]:
    """Labels (message ids) of the outcomes, or choices, of this type that need a note."""
    return tuple(r.choice_label or r.outcome_label for r in note_rules(task_type))


# Set by the system, never chosen on a form: a lapsed recall still open when next
# month's recall for the same vehicle is created is closed as superseded.
SUPERSEDED = "superseded"
SYSTEM_OUTCOME_LABELS = {
    SUPERSEDED: N_("Superseded by a newer task"),
    # Closed by care.services.fallback when the calls did not reach the customer.
    "reminder_failed": N_("Reminder failed: the calls did not reach the customer"),
    "expired": N_("Expired: window closed without the call attempts"),
}


def all_outcome_labels() -> dict[str, str]:
    """code → label message id over every type (for lists that show any outcome)."""
    labels: dict[str, str] = dict(SYSTEM_OUTCOME_LABELS)
    for specs in OUTCOMES.values():
        for spec in specs:
            labels.setdefault(spec.code, spec.label)
    return labels


# --- validation ------------------------------------------------------------------------

_MONEY = re.compile(r"^\d+(\.\d{1,2})?$")


def parse_money(text: str) -> Decimal:
    """``688``, ``688.5``, ``1,288.00``, ``¥688`` → Decimal; raises FieldError-carrying
    ValueError for anything that is not a positive amount with at most two decimals."""
    cleaned = text.strip().replace(",", "").replace("，", "").lstrip("¥￥").strip()
    if not _MONEY.match(cleaned):
        raise _Bad(FieldError(N_("Enter a positive amount, e.g. 688 or 688.50.")))
    try:
        value = Decimal(cleaned)
    except InvalidOperation:  # pragma: no cover - the pattern rules it out
        raise _Bad(FieldError(N_("Enter a positive amount, e.g. 688 or 688.50."))) from None
    if value <= 0:
        raise _Bad(FieldError(N_("The amount must be more than 0.")))
    if value > MAX_PRICE:
        raise _Bad(FieldError(N_("The amount must be at most %(max)s."), {"max": f"{MAX_PRICE:,}"}))
    return value


class _Bad(ValueError):
    def __init__(self, error: FieldError):
        self.error = error
        super().__init__(str(error))


def _clean_text(value: Any) -> str:
    return " ".join(str(value or "").split())


@dataclass(frozen=True)
class CleanOutcome:
    spec: OutcomeSpec
    detail: dict[str, str]  # JSON-ready: strings only (money as "688.00")
    note: str | None


def validate_outcome(
    task_type: str, code: str | None, values: Mapping[str, Any], note: str | None
) -> CleanOutcome:
    """Check an outcome for a task of ``task_type``; raises OutcomeInvalid with every error.

    ``values`` holds the detail fields as typed (only the chosen outcome's fields are
    read; others are ignored). The note is kept as typed (trimmed); detail texts have
    their white space collapsed.
    """
    spec = outcome_spec(task_type, (code or "").strip())
    if spec is None:
        if not (code or "").strip():
            raise OutcomeInvalid({"outcome": FieldError(N_("Choose an outcome."))})
        raise OutcomeInvalid(
            {"outcome": FieldError(N_("“%(value)s” is not an outcome of this task."), {"value": str(code)[:40]})}
        )
    errors: dict[str, FieldError] = {}
    detail: dict[str, str] = {}
    note_text = (note or "").strip() or None
    note_needed = spec.note_required
    for f in spec.fields:
        raw = _clean_text(values.get(f.name))
        if not raw:
            if f.required:
                errors[f.name] = FieldError(N_("Fill in this field."))
            continue
        if len(raw) > f.max_length:
            errors[f.name] = FieldError(N_("At most %(max)d characters."), {"max": f.max_length})
            continue
        if f.kind is FieldKind.MONEY:
            try:
                detail[f.name] = f"{parse_money(raw):.2f}"
            except _Bad as exc:
                errors[f.name] = exc.error
        elif f.kind is FieldKind.CHOICE:
            if raw not in {value for value, _label in f.choices}:
                errors[f.name] = FieldError(N_("Choose one of the listed values."))
            else:
                detail[f.name] = raw
                note_needed = note_needed or raw in f.note_required_for
        else:
            detail[f.name] = raw
    if note_text and len(note_text) > MAX_NOTE:
        errors["note"] = FieldError(N_("At most %(max)d characters."), {"max": MAX_NOTE})
    elif note_needed and not note_text:
        errors["note"] = FieldError(N_("Write a note saying what happened."))
    if errors:
        raise OutcomeInvalid(errors)
    return CleanOutcome(spec, detail, note_text)

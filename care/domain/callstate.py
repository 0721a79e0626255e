"""Call events and the merge rule (spec/telephony.md "Normalized event", "Hangup causes").

Pure: providers' callbacks are mapped to a ``NormalizedEvent`` and folded into a
``CallState`` with ``apply``. Storing the raw event, deduplication in the database and
the row lock belong to the service layer; ``apply`` is the rule it runs under the lock.

Decisions where telephony.md is silent:

- **completed → no_answer needs state.** ``map_twilio`` maps Twilio's ``completed`` to
  ``completed``; ``apply`` keeps the terminal as received (``ended_as``) and derives the
  outcome from what it knows: ``completed`` if the call was answered, ``no_answer`` if
  not, ``machine`` if an answering machine was detected. Answer evidence is an
  ``answered``/``machine`` event, ``AnsweredBy``, a ``DialCallStatus`` of
  completed/answered, or a ``completed`` event with a duration > 0. A late answer
  event may still turn a ``no_answer`` derived from a bare ``completed`` into
  ``completed``: that is filling in what was missing, and it keeps ``apply`` independent
  of arrival order.
- **Terminal is absorbing**: the first terminal status received wins (besides the
  derivation above); later events only fill in empty fields. Fields are first-value-wins
  and empty strings count as missing, so a recording link is never erased.
- Events with no status (recording-ready, asynchronous AMD, unknown provider statuses)
  carry ``status=None``: they never move the status, they only fill in fields.
- ``AnsweredBy`` = ``machine_*`` or ``fax`` → ``machine``; ``human`` is answer evidence.
- ``failed`` with SIP 404/604 (Q.850 1), 410 (22) or 484 (28) → ``invalid_number``: the
  same causes as the Q.850 table (RFC 3398's mapping).
- ``leg`` defaults to ``customer`` for a ``<Dial action>`` request or a child leg's
  callback (``ParentCallSid``), else ``agent`` (our REST call rings the agent first).
- A ``<Gather action>`` request has no sequence; pass ``event_id`` (e.g. Twilio's
  ``I-Twilio-Idempotency-Token`` header or attempt + survey item) so that two answers
  are not taken for duplicates.

``apply`` gives the same final status/duration/recording for any order of a call's
events and any duplicates, as long as the call has at most one distinct terminal status
and each field is carried with one value (what real calls send); with conflicting
terminals the first to arrive wins.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from enum import StrEnum


class CallStatus(StrEnum):
    REQUESTED = "requested"
    INITIATED = "initiated"
    RINGING = "ringing"
    ANSWERED = "answered"
    COMPLETED = "completed"
    NO_ANSWER = "no_answer"
    BUSY = "busy"
    REJECTED = "rejected"
    INVALID_NUMBER = "invalid_number"
    FAILED = "failed"
    CANCELED = "canceled"
    MACHINE = "machine"


TERMINAL_RANK = 4
TERMINAL = frozenset(
    {
        CallStatus.COMPLETED,
        CallStatus.NO_ANSWER,
        CallStatus.BUSY,
        CallStatus.REJECTED,
        CallStatus.INVALID_NUMBER,
        CallStatus.FAILED,
        CallStatus.CANCELED,
        CallStatus.MACHINE,
    }
)
RANKS: dict[str, int] = {
    CallStatus.REQUESTED: 0,
    CallStatus.INITIATED: 1,
    CallStatus.RINGING: 2,
    CallStatus.ANSWERED: 3,
    **{status: TERMINAL_RANK for status in TERMINAL},
}


def rank(status: str) -> int:
    """The rank of a normalized status (KeyError for anything else)."""
    return RANKS[status]


def is_terminal(status: str | None) -> bool:
    return status in TERMINAL


# ------------------------------------------------------------------------- Q.850

# FreeSWITCH/Asterisk names of the causes in telephony.md's table.
Q850_NAMES: dict[str, int] = {
    "UNALLOCATED_NUMBER": 1,
    "NO_ROUTE_DESTINATION": 3,
    "NORMAL_CLEARING": 16,
    "USER_BUSY": 17,
    "NO_USER_RESPONSE": 18,
    "NO_ANSWER": 19,
    "SUBSCRIBER_ABSENT": 20,
    "CALL_REJECTED": 21,
    "NUMBER_CHANGED": 22,
    "DESTINATION_OUT_OF_ORDER": 27,
    "INVALID_NUMBER_FORMAT": 28,
    "NORMAL_CIRCUIT_CONGESTION": 34,
    "NETWORK_OUT_OF_ORDER": 38,
    "NORMAL_TEMPORARY_FAILURE": 41,
    "SWITCH_CONGESTION": 42,
    "REQUESTED_CHAN_UNAVAIL": 44,
    "RECOVERY_ON_TIMER_EXPIRE": 102,
}
_Q850: dict[int, str] = {
    17: CallStatus.BUSY,
    18: CallStatus.NO_ANSWER,
    19: CallStatus.NO_ANSWER,
    20: CallStatus.NO_ANSWER,
    21: CallStatus.REJECTED,
    **dict.fromkeys((1, 3, 22, 28), CallStatus.INVALID_NUMBER),
    **dict.fromkeys((27, 34, 38, 41, 42, 44, 102), CallStatus.FAILED),
}
ORIGINATOR_CANCEL = "ORIGINATOR_CANCEL"


def q850_code(cause: int | str | None) -> int | None:
    """The numeric Q.850 cause of ``cause`` (a number, a numeric string or a name)."""
    if cause is None or isinstance(cause, bool):
        return None
    if isinstance(cause, int):
        return cause
    text = cause.strip().upper()
    if text.isascii() and text.isdigit():
        return int(text)
    return Q850_NAMES.get(text)


def map_q850(cause: int | str, answered: bool) -> str:
    """The outcome of a hangup cause (telephony.md's table); unknown causes → failed."""
    if isinstance(cause, str) and cause.strip().upper() == ORIGINATOR_CANCEL:
        return CallStatus.CANCELED
    code = q850_code(cause)
    if code == 16:
        return CallStatus.COMPLETED if answered else CallStatus.NO_ANSWER
    return _Q850.get(code, CallStatus.FAILED) if code is not None else CallStatus.FAILED


# ------------------------------------------------------------------------ events


@dataclass(frozen=True)
class NormalizedEvent:
    """One provider callback in our vocabulary (telephony.md "Normalized event")."""

    event_id: str
    status: str | None  # a CallStatus, or None for an event that only carries data
    provider: str = "twilio"
    raw_status: str = ""
    provider_call_id: str | None = None
    parent_call_id: str | None = None
    attempt_id: str | None = None
    leg: str = "agent"  # agent | customer
    sequence: int | None = None
    occurred_at: datetime | None = None
    received_at: datetime | None = None  # set by the web layer
    duration_s: int | None = None
    q850_cause: int | None = None
    sip_code: int | None = None
    answered_by: str | None = None  # human | machine
    answered: bool = False  # the event proves the call was answered
    recording_url: str | None = None
    digits: str | None = None
    raw: Mapping[str, str] = field(default_factory=dict, compare=False, repr=False)


def event_id_for(
    provider: str, call_id: str | None, status: str | None, sequence: int | None
) -> str:
    """A stable id for an event the provider gives no id to: (provider, call, status, seq).

    Retries of one callback get the same id; different statuses or sequence numbers of
    one call do not (deduplicating on the call id alone would drop them).
    """
    key = json.dumps(
        [provider, call_id or "", status or "", "" if sequence is None else int(sequence)],
        ensure_ascii=False,
    )
    return f"{provider}:{hashlib.sha256(key.encode('utf-8')).hexdigest()[:32]}"


_TWILIO_STATUS = {
    "queued": CallStatus.INITIATED,
    "initiated": CallStatus.INITIATED,
    "ringing": CallStatus.RINGING,
    "in-progress": CallStatus.ANSWERED,
    "answered": CallStatus.ANSWERED,  # DialCallStatus when dialing a conference
    "completed": CallStatus.COMPLETED,
    "busy": CallStatus.BUSY,
    "no-answer": CallStatus.NO_ANSWER,
    "failed": CallStatus.FAILED,
    "canceled": CallStatus.CANCELED,
}
_SIP_INVALID_NUMBER = frozenset({404, 410, 484, 604})


def _int(value: str | None) -> int | None:
    if value is None:
        return None
    text = str(value).strip()
    if not (text.isascii() and text.lstrip("-").isdigit()):
        return None
    return int(text)


def _text(value: str | None) -> str | None:
    text = (value or "").strip()
    return text or None


def _timestamp(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    return when if when.tzinfo else when.replace(tzinfo=UTC)  # "-0000": UTC, origin unknown


def map_twilio(
    params: Mapping[str, str],
    *,
    leg: str | None = None,
    dial: bool = False,
    event_id: str | None = None,
) -> NormalizedEvent:
    """Map a Twilio voice callback (form parameters) to a ``NormalizedEvent``.

    ``dial=True`` for the ``<Dial action>`` request: its ``DialCallStatus`` and
    ``DialCallDuration`` are the customer leg's outcome. Otherwise ``CallStatus``,
    ``CallDuration`` and ``SequenceNumber`` of a status callback. ``attempt_id`` is
    left empty: it is the ``attempt`` query parameter of the signed URL, not a form
    field.
    """
    params = dict(params)
    call_sid = _text(params.get("CallSid"))
    if dial:
        raw_status = (params.get("DialCallStatus") or "").strip().lower()
        call_id = _text(params.get("DialCallSid")) or call_sid
        parent_id = call_sid
        duration = _int(params.get("DialCallDuration"))
        kind = f"dial:{raw_status}"
    else:
        raw_status = (params.get("CallStatus") or "").strip().lower()
        call_id = call_sid
        parent_id = _text(params.get("ParentCallSid"))
        duration = _int(params.get("CallDuration"))
        kind = raw_status
    if leg is None:
        leg = "customer" if dial or parent_id else "agent"

    status: str | None = _TWILIO_STATUS.get(raw_status)
    if dial and status == CallStatus.ANSWERED:
        # Twilio requests the <Dial action> when the dialed leg has ended: "answered"
        # (conferences) is then an answered call that is over.
        status = CallStatus.COMPLETED
    sip_code = _int(params.get("SipResponseCode"))
    if status == CallStatus.FAILED and sip_code in _SIP_INVALID_NUMBER:
        status = CallStatus.INVALID_NUMBER

    answered_by_raw = (params.get("AnsweredBy") or "").strip().lower()
    answered_by = None
    if answered_by_raw.startswith("machine") or answered_by_raw == "fax":
        answered_by = "machine"
        status = CallStatus.MACHINE
    elif answered_by_raw == "human":
        answered_by = "human"

    answered = (
        status in (CallStatus.ANSWERED, CallStatus.MACHINE)
        or answered_by is not None
        or (dial and raw_status in ("completed", "answered"))
        or (status == CallStatus.COMPLETED and (duration or 0) > 0)
    )

    if not raw_status:  # no status: a recording or asynchronous AMD callback
        if params.get("RecordingSid") or params.get("RecordingUrl"):
            kind = f"recording:{params.get('RecordingSid', '')}:{params.get('RecordingStatus', '')}"
        elif answered_by_raw:
            kind = f"amd:{answered_by_raw}"
    sequence = None if dial else _int(params.get("SequenceNumber"))
    q850 = q850_code(params.get("HangupCause")) if params.get("HangupCause") else None

    return NormalizedEvent(
        event_id=event_id or event_id_for("twilio", call_id, kind, sequence),
        status=status,
        provider="twilio",
        raw_status=raw_status,
        provider_call_id=call_id,
        parent_call_id=parent_id,
        leg=leg,
        sequence=sequence,
        occurred_at=_timestamp(params.get("Timestamp")),
        duration_s=duration,
        q850_cause=q850,
        sip_code=sip_code,
        answered_by=answered_by,
        answered=answered,
        recording_url=_text(params.get("RecordingUrl")),
        digits=_text(params.get("Digits")),
        raw=params,
    )


# ------------------------------------------------------------------------ limits

# What an event may carry and still be stored and applied on both databases (issue 9):
# outside these a webhook answers 400 (the provider must not retry what can never be
# stored) and the fold skips a stored event (``event_problem``).
MAX_DURATION_S = 24 * 3600  # a call longer than a day is not a call
MAX_SEQUENCE = 2**31 - 1  # call_events.sequence, call_attempts.sequence: INTEGER on PostgreSQL
MAX_Q850 = 127  # Q.850 cause values are 7 bits
SIP_CODES = range(100, 700)
EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)  # occurred_at: a real instant, in this window
LATEST = datetime(2100, 1, 1, tzinfo=UTC)
MAX_PAYLOAD_DEPTH = 16  # nesting of a stored JSON body
TEXT_LIMITS = {  # a NormalizedEvent's text fields → their columns' lengths
    "event_id": 120,
    "provider_call_id": 80,
    "parent_call_id": 80,
    "attempt_id": 200,
    "raw_status": 200,
    "recording_url": 500,
    "digits": 32,
    "answered_by": 16,
}
TWILIO_DURATIONS = ("CallDuration", "DialCallDuration", "RecordingDuration")


def text_problem(value: str, name: str, limit: int | None = None) -> str | None:
    """Why ``value`` cannot be stored as text (NUL, a lone surrogate, too long), or None."""
    if "\x00" in value:
        return f"{name} contains a NUL character"
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return f"{name} is not valid Unicode"
    if limit is not None and len(value) > limit:
        return f"{name} is too long (at most {limit} characters)"
    return None


def event_problem(event: NormalizedEvent) -> str | None:
    """Why ``event`` cannot be stored and applied (a short reason for a 400), or None."""
    for name, limit in TEXT_LIMITS.items():
        value = getattr(event, name)
        if value is not None:
            problem = text_problem(str(value), name, limit)
            if problem:
                return problem
    if event.duration_s is not None and not 0 <= event.duration_s <= MAX_DURATION_S:
        return f"duration_s must be between 0 and {MAX_DURATION_S}"
    if event.sequence is not None and not 0 <= event.sequence <= MAX_SEQUENCE:
        return f"sequence must be between 0 and {MAX_SEQUENCE}"
    if event.q850_cause is not None and not 0 <= event.q850_cause <= MAX_Q850:
        return f"q850_cause must be between 0 and {MAX_Q850}"
    if event.sip_code is not None and event.sip_code not in SIP_CODES:
        return "the SIP response code must be between 100 and 699"
    if event.occurred_at is not None:
        when = event.occurred_at
        try:
            when = when.astimezone(UTC) if when.tzinfo else when.replace(tzinfo=UTC)
        except (OverflowError, ValueError):
            return "occurred_at is not a time that can be stored"
        if not EARLIEST <= when < LATEST:
            return f"occurred_at must lie between {EARLIEST.year} and {LATEST.year}"
    return None


def payload_problem(value, name: str = "body", depth: int = 0) -> str | None:
    """Why a raw body (JSON document, form) cannot be stored: too deep, NaN/Infinity,
    text with NUL or lone surrogates; None when it can."""
    if depth > MAX_PAYLOAD_DEPTH:
        return f"{name} is nested too deeply"
    if isinstance(value, str):
        return text_problem(value, name)
    if isinstance(value, float) and not math.isfinite(value):
        return f"{name} is not a finite number"
    if isinstance(value, Mapping):
        for key, item in value.items():
            problem = payload_problem(str(key), "a field name", depth + 1) or payload_problem(item, str(key)[:40], depth + 1)
            if problem:
                return problem
    elif isinstance(value, list | tuple):
        for item in value:
            problem = payload_problem(item, name, depth + 1)
            if problem:
                return problem
    return None


def twilio_problem(params: Mapping[str, str]) -> str | None:
    """Why a Twilio callback's form cannot be stored (besides :func:`event_problem`):
    its numeric fields must be whole numbers in range, its text storable."""
    problem = payload_problem(params, "form")
    if problem:
        return problem
    for name in (*TWILIO_DURATIONS, "SequenceNumber"):
        text = (params.get(name) or "").strip()
        if not text:
            continue
        limit = MAX_SEQUENCE if name == "SequenceNumber" else MAX_DURATION_S
        if not (text.isascii() and text.isdigit() and len(text) <= 12 and int(text) <= limit):
            return f"{name} must be a whole number between 0 and {limit}"
    return None


# ------------------------------------------------------------------------- state


@dataclass(frozen=True)
class CallState:
    """What is known about one leg of a call attempt after the events applied so far."""

    status: str = CallStatus.REQUESTED
    rank: int = 0
    sequence: int = -1  # of the event that set the status; -1 = none
    ended_as: str | None = None  # the terminal status as received (before derivation)
    answered: bool = False
    answered_at: datetime | None = None  # earliest known moment of answer evidence
    duration_s: int | None = None
    q850_cause: int | None = None
    sip_code: int | None = None
    answered_by: str | None = None
    recording_url: str | None = None
    digits: str | None = None
    provider_call_id: str | None = None
    event_ids: frozenset[str] = frozenset()

    @property
    def terminal(self) -> bool:
        return self.rank == TERMINAL_RANK


def _outcome(ended_as: str, answered: bool, answered_by: str | None) -> str:
    if ended_as == CallStatus.COMPLETED:
        if answered_by == "machine":
            return CallStatus.MACHINE
        return CallStatus.COMPLETED if answered else CallStatus.NO_ANSWER
    return ended_as


def _fill(current, new):
    if current is not None and current != "":
        return current
    return new if new not in (None, "") else current


def _earliest(a: datetime | None, b: datetime | None) -> datetime | None:
    if a is None or b is None:
        return a or b
    try:
        return min(a, b)
    except TypeError:  # naive vs aware: keep the first
        return a


def apply(state: CallState, event: NormalizedEvent) -> CallState:
    """Fold ``event`` into ``state`` (telephony.md's merge rule; see the module doc)."""
    if event.event_id in state.event_ids:
        return state

    answer_evidence = event.answered or event.status in (CallStatus.ANSWERED, CallStatus.MACHINE)
    answered = state.answered or answer_evidence
    answered_at = (
        _earliest(state.answered_at, event.occurred_at) if answer_evidence else state.answered_at
    )
    answered_by = _fill(state.answered_by, event.answered_by)

    status, rank_, sequence, ended_as = state.status, state.rank, state.sequence, state.ended_as
    if event.status is not None and not state.terminal:
        event_rank = RANKS[event.status]
        event_seq = -1 if event.sequence is None else event.sequence
        if event_rank > rank_ or (event_rank == rank_ and event_seq > sequence):
            status, rank_, sequence = event.status, event_rank, event_seq
            if event_rank == TERMINAL_RANK:
                ended_as = event.status
    if ended_as is not None:
        status = _outcome(ended_as, answered, answered_by)

    return replace(
        state,
        status=status,
        rank=rank_,
        sequence=sequence,
        ended_as=ended_as,
        answered=answered,
        answered_at=answered_at,
        answered_by=answered_by,
        duration_s=_fill(state.duration_s, event.duration_s),
        q850_cause=_fill(state.q850_cause, event.q850_cause),
        sip_code=_fill(state.sip_code, event.sip_code),
        recording_url=_fill(state.recording_url, event.recording_url),
        digits=_fill(state.digits, event.digits),
        provider_call_id=_fill(state.provider_call_id, event.provider_call_id),
        event_ids=state.event_ids | {event.event_id},
    )


def fold(events, state: CallState | None = None) -> CallState:
    """Apply ``events`` in order, starting from ``state`` (a fresh attempt by default)."""
    state = state or CallState()
    for event in events:
        state = apply(state, event)
    return state

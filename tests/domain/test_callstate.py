"""Call events: the Twilio mapping, the Q.850 table and the merge rule (telephony.md)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from care.domain.callstate import (
    RANKS,
    TERMINAL,
    CallState,
    CallStatus,
    NormalizedEvent,
    apply,
    event_id_for,
    fold,
    map_q850,
    map_twilio,
)

SID = "CA0000000000000000000000000000aaaa"
REC = "https://api.twilio.com/2010-04-01/Accounts/AC1/Recordings/RE1"


def cb(status: str, seq: int, **extra) -> NormalizedEvent:
    """A Twilio status callback of the agent's leg."""
    return map_twilio({"CallSid": SID, "CallStatus": status, "SequenceNumber": str(seq), **extra})


def recording(url: str = REC) -> NormalizedEvent:
    return map_twilio(
        {"CallSid": SID, "RecordingSid": "RE1", "RecordingStatus": "completed", "RecordingUrl": url}
    )


def status_of(*events) -> str:
    return fold(events).status


# ------------------------------------------------------------------------- mapping


def test_ranks():
    assert [RANKS[s] for s in ("requested", "initiated", "ringing", "answered")] == [0, 1, 2, 3]
    assert {RANKS[s] for s in TERMINAL} == {4}
    assert len(TERMINAL) == 8


@pytest.mark.parametrize(
    ("raw", "status"),
    [
        ("queued", "initiated"),
        ("initiated", "initiated"),
        ("ringing", "ringing"),
        ("in-progress", "answered"),
        ("completed", "completed"),
        ("busy", "busy"),
        ("no-answer", "no_answer"),
        ("failed", "failed"),
        ("canceled", "canceled"),
        ("something-new", None),
    ],
)
def test_twilio_call_status(raw, status):
    event = cb(raw, 3)
    assert event.status == status and event.raw_status == raw
    assert event.sequence == 3 and event.provider_call_id == SID and event.leg == "agent"


def test_twilio_details():
    event = map_twilio(
        {
            "CallSid": SID,
            "CallStatus": "completed",
            "CallDuration": "42",
            "SequenceNumber": "4",
            "Timestamp": "Tue, 06 Jan 2026 02:03:04 +0000",
            "RecordingUrl": REC,
            "ParentCallSid": "CAparent",
        }
    )
    assert event.duration_s == 42 and event.answered
    assert event.occurred_at == datetime(2026, 1, 6, 2, 3, 4, tzinfo=UTC)
    assert event.recording_url == REC
    assert event.parent_call_id == "CAparent" and event.leg == "customer"
    assert event.raw["CallDuration"] == "42"
    assert (
        map_twilio({"CallSid": SID, "CallStatus": "ringing", "Timestamp": "soon"}).occurred_at
        is None
    )


def test_failed_404_is_invalid_number():
    assert cb("failed", 2, SipResponseCode="404").status == "invalid_number"
    assert cb("failed", 2, SipResponseCode="484").status == "invalid_number"
    assert cb("failed", 2, SipResponseCode="503").status == "failed"
    assert cb("failed", 2).status == "failed"


@pytest.mark.parametrize("answered_by", ["machine_start", "machine_end_beep", "fax"])
def test_answering_machine(answered_by):
    event = cb("in-progress", 2, AnsweredBy=answered_by)
    assert event.status == "machine" and event.answered_by == "machine"
    assert status_of(cb("initiated", 0), event, cb("completed", 3, CallDuration="20")) == "machine"
    assert status_of(cb("completed", 3, CallDuration="20"), event) == "machine"


def test_human_answer():
    event = cb("in-progress", 2, AnsweredBy="human")
    assert event.status == "answered" and event.answered_by == "human" and event.answered


@pytest.mark.parametrize(
    ("raw", "status"),
    [
        ("completed", "completed"),
        ("answered", "completed"),
        ("busy", "busy"),
        ("no-answer", "no_answer"),
        ("failed", "failed"),
        ("canceled", "canceled"),
    ],
)
def test_dial_action(raw, status):
    event = map_twilio(
        {
            "CallSid": SID,
            "CallStatus": "in-progress",  # the agent's leg: ignored for the dial result
            "DialCallSid": "CAchild",
            "DialCallStatus": raw,
            "DialCallDuration": "0" if raw != "completed" else "65",
        },
        dial=True,
    )
    assert event.leg == "customer" and event.provider_call_id == "CAchild"
    assert event.parent_call_id == SID and event.sequence is None
    # the dial result alone settles the customer's leg: "completed" there means answered
    state = apply(CallState(), event)
    assert state.status == status
    if raw == "completed":
        assert state.duration_s == 65


def test_event_ids():
    assert cb("ringing", 1).event_id == cb("ringing", 1).event_id  # a retry is a duplicate
    ids = {cb("ringing", 1).event_id, cb("ringing", 2).event_id, cb("completed", 1).event_id}
    assert len(ids) == 3
    assert recording().event_id != map_twilio({"CallSid": SID, "AnsweredBy": "human"}).event_id
    assert event_id_for("sim", "c1", "busy", None) == event_id_for("sim", "c1", "busy", None)
    assert event_id_for("sim", "c1", "busy", None) != event_id_for("sim", "c1", "busy", 0)
    assert event_id_for("sim", "c1", "busy", 1).startswith("sim:")
    given_id = map_twilio(
        {"CallSid": SID, "CallStatus": "in-progress", "Digits": "5"}, event_id="g1"
    )
    assert given_id.event_id == "g1" and given_id.digits == "5"


# -------------------------------------------------------------------------- Q.850


@pytest.mark.parametrize(
    ("cause", "answered", "outcome"),
    [
        (16, True, "completed"),
        (16, False, "no_answer"),
        ("16", True, "completed"),
        ("NORMAL_CLEARING", False, "no_answer"),
        (17, False, "busy"),
        ("USER_BUSY", False, "busy"),
        (18, False, "no_answer"),
        (19, False, "no_answer"),
        (20, False, "no_answer"),
        (21, False, "rejected"),
        (1, False, "invalid_number"),
        (3, False, "invalid_number"),
        (22, False, "invalid_number"),
        (28, False, "invalid_number"),
        ("UNALLOCATED_NUMBER", False, "invalid_number"),
        (27, False, "failed"),
        (34, False, "failed"),
        (38, False, "failed"),
        (41, False, "failed"),
        (42, False, "failed"),
        (44, False, "failed"),
        (102, False, "failed"),
        ("ORIGINATOR_CANCEL", False, "canceled"),
        ("originator_cancel", True, "canceled"),
        (999, True, "failed"),
        ("WHATEVER", False, "failed"),
        ("", False, "failed"),
    ],
)
def test_q850(cause, answered, outcome):
    assert map_q850(cause, answered) == outcome


# ------------------------------------------------------------------ ordered merges


def test_answered_call():
    events = [
        cb("initiated", 0),
        cb("ringing", 1),
        cb("in-progress", 2),
        cb("completed", 3, CallDuration="95"),
    ]
    states = []
    state = CallState()
    for event in events:
        state = apply(state, event)
        states.append(state.status)
    assert states == ["initiated", "ringing", "answered", "completed"]
    assert state.answered and state.duration_s == 95 and state.terminal


def test_ringing_then_no_answer():
    assert status_of(cb("initiated", 0), cb("ringing", 1), cb("no-answer", 2)) == "no_answer"


def test_busy():
    assert status_of(cb("initiated", 0), cb("busy", 1)) == "busy"


def test_failed_404():
    assert status_of(cb("initiated", 0), cb("failed", 1, SipResponseCode="404")) == "invalid_number"


def test_canceled():
    assert status_of(cb("initiated", 0), cb("ringing", 1), cb("canceled", 2)) == "canceled"


def test_completed_without_answer_is_no_answer():
    assert (
        status_of(cb("initiated", 0), cb("ringing", 1), cb("completed", 2, CallDuration="0"))
        == "no_answer"
    )
    # ... unless the answer turns up late: it fills in what was missing
    late = fold([cb("ringing", 1), cb("completed", 3, CallDuration="0"), cb("in-progress", 2)])
    assert late.status == "completed" and late.ended_as == "completed"


def test_same_rank_needs_a_higher_sequence():
    state = fold([cb("initiated", 5)])
    assert apply(state, cb("queued", 4)).sequence == 5
    assert apply(state, cb("queued", 6)).sequence == 6


# ---------------------------------------------------------------- terminal absorbing


def test_late_ringing_after_completed_changes_nothing():
    done = fold([cb("initiated", 0), cb("in-progress", 2), cb("completed", 3, CallDuration="30")])
    after = apply(done, cb("ringing", 1))
    assert (after.status, after.rank, after.sequence, after.duration_s) == (
        done.status,
        done.rank,
        done.sequence,
        done.duration_s,
    )


def test_other_terminal_does_not_change_the_outcome():
    busy = fold([cb("busy", 2)])
    assert apply(busy, cb("failed", 3)).status == "busy"
    assert apply(busy, cb("completed", 4, CallDuration="10")).status == "busy"


def test_late_recording_fills_in_and_empty_link_does_not_erase():
    done = fold([cb("in-progress", 2), cb("completed", 3, CallDuration="30")])
    assert done.recording_url is None
    with_link = apply(done, recording())
    assert with_link.recording_url == REC and with_link.status == "completed"
    emptied = apply(
        with_link,
        map_twilio(
            {"CallSid": SID, "CallStatus": "completed", "SequenceNumber": "9", "RecordingUrl": ""}
        ),
    )
    assert emptied.recording_url == REC
    raw_empty = NormalizedEvent(event_id="x", status=None, recording_url="", duration_s=None)
    assert apply(with_link, raw_empty).recording_url == REC
    assert apply(with_link, raw_empty).duration_s == 30


def test_duplicates_change_nothing():
    state = fold([cb("initiated", 0), cb("ringing", 1)])
    assert apply(state, cb("ringing", 1)) is state
    # a duplicate id wins over content: the first delivery is what counts
    copy = NormalizedEvent(event_id=cb("ringing", 1).event_id, status="busy")
    assert apply(state, copy) is state


def test_unknown_status_moves_nothing():
    state = fold([cb("ringing", 1)])
    assert apply(state, cb("weird", 7)).status == "ringing"


# ---------------------------------------------------------------- order independence

# One realistic call per scenario: its events in the order Twilio fires them.
SCENARIOS = {
    "answered": [
        cb("initiated", 0),
        cb("ringing", 1),
        cb("in-progress", 2),
        cb("completed", 3, CallDuration="95"),
    ],
    "answered_no_duration_on_completed": [
        cb("initiated", 0),
        cb("ringing", 1),
        cb("in-progress", 2),
        cb("completed", 3),
    ],
    "completed_unanswered": [
        cb("initiated", 0),
        cb("ringing", 1),
        cb("completed", 2, CallDuration="0"),
    ],
    "no_answer": [cb("initiated", 0), cb("ringing", 1), cb("no-answer", 2)],
    "busy": [cb("initiated", 0), cb("ringing", 1), cb("busy", 2)],
    "invalid": [cb("initiated", 0), cb("failed", 1, SipResponseCode="404")],
    "failed": [cb("queued", 0), cb("initiated", 1), cb("failed", 2, SipResponseCode="503")],
    "canceled": [cb("initiated", 0), cb("ringing", 1), cb("canceled", 2)],
    "machine": [
        cb("initiated", 0),
        cb("ringing", 1),
        cb("in-progress", 2, AnsweredBy="machine_end_beep"),
        cb("completed", 3, CallDuration="12"),
    ],
}
EXPECTED = {
    "answered": "completed",
    "answered_no_duration_on_completed": "completed",
    "completed_unanswered": "no_answer",
    "no_answer": "no_answer",
    "busy": "busy",
    "invalid": "invalid_number",
    "failed": "failed",
    "canceled": "canceled",
    "machine": "machine",
}


@st.composite
def _shuffled(draw):
    name = draw(st.sampled_from(sorted(SCENARIOS)))
    events = list(SCENARIOS[name])
    if draw(st.booleans()):
        events.append(recording())
    extra = draw(st.lists(st.sampled_from(events), max_size=6))  # duplicates
    shuffled = draw(st.permutations(events + extra))
    return name, events, shuffled


def _summary(state: CallState):
    return state.status, state.duration_s, state.recording_url, state.answered


@settings(max_examples=300, deadline=None)
@given(_shuffled())
def test_any_order_and_duplicates_give_the_same_outcome(case):
    name, ordered, shuffled = case
    expected = fold(ordered)
    assert expected.status == EXPECTED[name]
    assert _summary(fold(shuffled)) == _summary(expected)


def test_statuses_are_the_vocabulary():
    assert {s.value for s in CallStatus} == set(RANKS)

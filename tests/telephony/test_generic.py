"""The generic provider: its JSON events (interfaces.md "Webhooks") read by ``map_generic``."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from care.domain.callstate import CallStatus
from care.telephony.base import EventError
from care.telephony.generic import map_generic


def test_map_generic_reads_an_event():
    event = map_generic(
        {"event_id": "e1", "attempt_id": 7, "provider_call_id": "sim-1", "status": "completed", "sequence": "4",
         "duration_s": 42, "occurred_at": "2026-11-23T06:00:00Z", "recording_url": " https://r.example/1.mp3 "}
    )  # fmt: skip
    assert (event.event_id, event.status, event.provider, event.leg) == ("e1", CallStatus.COMPLETED, "generic", "customer")
    assert (event.attempt_id, event.provider_call_id, event.sequence, event.duration_s) == ("7", "sim-1", 4, 42)
    assert event.occurred_at == datetime(2026, 11, 23, 6, 0, tzinfo=UTC) and event.answered
    assert event.recording_url == "https://r.example/1.mp3"


def test_a_hangup_cause_gives_the_status():
    event = map_generic({"event_id": "e2", "q850_cause": "USER_BUSY"})
    assert event.status == CallStatus.BUSY and event.q850_cause == 17


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"attempt_id": 1, "status": "ringing"}, "event_id"),
        ({"event_id": "a", "status": "dialling"}, "status"),
        ({"event_id": "a"}, "status"),
        ({"event_id": "a", "status": "ringing", "sequence": "x"}, "sequence"),
        ({"event_id": "a", "status": "ringing", "occurred_at": "yesterday"}, "occurred_at"),
        ([1, 2], "object"),
    ],
)
def test_map_generic_refuses(body, message):
    with pytest.raises(EventError, match=message):
        map_generic(body)

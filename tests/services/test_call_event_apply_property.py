"""Order and duplicates do not matter: any permutation of a call's events (with repeats),
stored and applied one by one, ends in the attempt state of the ordered list; and four
threads posting the shuffled events of one call through the webhook agree too."""

from __future__ import annotations

import json
import random
import threading
import time
from datetime import UTC, datetime, timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from care.domain.callstate import map_twilio
from care.extensions import db
from care.models import CallAttempt, CallEvent
from care.services import call_event_apply
from care.telephony.generic import map_generic
from care.telephony.signatures import sign_generic
from tests import factories

NOW = datetime(2026, 11, 23, 6, 0, tzinfo=UTC)
T0 = datetime(2026, 11, 23, 5, 50, tzinfo=UTC)
REC = "https://recordings.example.com/r.mp3"

# (status, sequence, extra) of a generic call
GENERIC = {
    "answered": [("initiated", 1, {}), ("ringing", 2, {}), ("answered", 3, {}),
                 ("completed", 4, {"duration_s": 40}), (None, None, {"recording_url": REC})],
    "busy": [("initiated", 1, {}), ("ringing", 2, {}), ("busy", 3, {"q850_cause": 17})],
    "no_answer": [("initiated", 1, {}), ("ringing", 2, {}), ("completed", 3, {"duration_s": 0})],
    "canceled": [("ringing", 1, {}), (None, 2, {"q850_cause": "ORIGINATOR_CANCEL"}),
                 (None, None, {"recording_url": REC})],
}
# (kind, params) of a Twilio call: the agent's leg, the <Dial action>, a recording
TWILIO = {
    "talked": [("status", {"CallStatus": "initiated", "SequenceNumber": "0"}),
               ("status", {"CallStatus": "ringing", "SequenceNumber": "1"}),
               ("status", {"CallStatus": "in-progress", "SequenceNumber": "2"}),
               ("dial", {"DialCallStatus": "completed", "DialCallDuration": "35"}),
               ("status", {"CallStatus": "completed", "CallDuration": "50", "SequenceNumber": "3"}),
               ("status", {"RecordingSid": "RE1", "RecordingStatus": "completed", "RecordingUrl": REC})],
    "customer_busy": [("status", {"CallStatus": "ringing", "SequenceNumber": "1"}),
                      ("status", {"CallStatus": "in-progress", "SequenceNumber": "2"}),
                      ("dial", {"DialCallStatus": "busy"}),
                      ("status", {"CallStatus": "completed", "CallDuration": "12", "SequenceNumber": "3"})],
    "agent_missed": [("status", {"CallStatus": "initiated", "SequenceNumber": "0"}),
                     ("status", {"CallStatus": "ringing", "SequenceNumber": "1"}),
                     ("status", {"CallStatus": "no-answer", "SequenceNumber": "2"})],
}
FIELDS = ("status", "rank", "sequence", "ended_as", "answered", "answered_at", "outcome", "counted",
          "duration_s", "q850_cause", "sip_code", "recording_url", "ended_at")


def generic_body(attempt_id: int, i: int, spec) -> dict:
    status, seq, extra = spec
    body = {"event_id": f"a{attempt_id}-e{i}", "attempt_id": attempt_id, "provider_call_id": f"sim-{attempt_id}",
            "status": status, "sequence": seq, "occurred_at": (T0 + timedelta(seconds=10 * i)).isoformat()}
    body.update(extra)
    return body


def post_all(session, attempt, provider: str, scenario: str, order: list[int]) -> None:
    if provider == "generic":
        specs = GENERIC[scenario]
        for i in order:
            body = generic_body(attempt.id, i, specs[i])
            event = map_generic(body)
            call_event_apply.receive(session, event, kind="status", payload=body, attempt_ref=str(attempt.id), now=NOW)
        return
    specs = TWILIO[scenario]
    for i in order:
        kind, params = specs[i]
        params = {"CallSid": f"CA{attempt.id:032d}", **params,
                  "Timestamp": (T0 + timedelta(seconds=10 * i)).strftime("%a, %d %b %Y %H:%M:%S +0000")}
        if kind == "dial":
            params["DialCallSid"] = f"CB{attempt.id:032d}"
        event = map_twilio(params, dial=kind == "dial")
        call_event_apply.receive(session, event, kind=kind, payload=params, attempt_ref=str(attempt.id), now=NOW)


def state_of(attempt: CallAttempt) -> dict:
    return {name: getattr(attempt, name) for name in FIELDS}


@st.composite
def calls(draw):
    provider = draw(st.sampled_from(["generic", "twilio"]))
    scenario = draw(st.sampled_from(sorted(GENERIC if provider == "generic" else TWILIO)))
    n = len((GENERIC if provider == "generic" else TWILIO)[scenario])
    repeats = draw(st.lists(st.integers(0, n - 1), max_size=4))
    order = draw(st.permutations(list(range(n)) + repeats))
    return provider, scenario, n, order


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(call=calls())
def test_any_order_with_duplicates_same_state(session, call):
    provider, scenario, n, order = call
    ordered = factories.make_attempt(session, provider=provider, started_at=T0)
    shuffled = factories.make_attempt(session, provider=provider, started_at=T0, task_id=ordered.task_id)
    post_all(session, ordered, provider, scenario, list(range(n)))
    post_all(session, shuffled, provider, scenario, order)
    session.refresh(ordered)
    session.refresh(shuffled)
    assert state_of(shuffled) == state_of(ordered)
    assert ordered.rank == 4
    assert session.query(CallEvent).filter_by(attempt_id=shuffled.id).count() == n


def test_four_threads_posting_shuffled_events(app):
    with app.app_context():
        attempt = factories.make_attempt(db.session, started_at=datetime.now(UTC))
        db.session.commit()
        attempt_id = attempt.id
    bodies = [generic_body(attempt_id, i, spec) for i, spec in enumerate(GENERIC["answered"])]
    barrier = threading.Barrier(4)
    codes: list[int] = []
    errors: list[BaseException] = []

    def worker(seed: int) -> None:
        try:
            client = app.test_client()
            mine = bodies * 2
            random.Random(seed).shuffle(mine)
            barrier.wait()
            for body in mine:
                data = json.dumps(body).encode()
                headers = {"Content-Type": "application/json",
                           "X-Care-Signature": sign_generic("test-webhook-secret", data, int(time.time()))}
                codes.append(client.post("/webhooks/events", data=data, headers=headers).status_code)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(seed,)) for seed in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors and set(codes) == {204} and len(codes) == 4 * 2 * len(bodies)
    with app.app_context():
        attempt = db.session.get(CallAttempt, attempt_id)
        rows = db.session.query(CallEvent).filter_by(attempt_id=attempt_id).all()
        assert len(rows) == len(bodies) and all(r.applied_at is not None for r in rows)
        assert (attempt.status, attempt.outcome, attempt.rank, attempt.answered) == ("completed", "completed", 4, True)
        assert attempt.duration_s == 40 and attempt.recording_url == REC and attempt.sequence == 4
        assert attempt.answered_at == T0 + timedelta(seconds=20)

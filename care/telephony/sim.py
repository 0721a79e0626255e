"""The simulator (CARE_TELEPHONY=sim, the default): the whole call flow with no provider.

``originate`` returns a fake call id and, in a daemon thread, posts signed generic events
(``X-Care-Signature`` with the first CARE_WEBHOOK_SECRET) to the app's own
``/webhooks/events``: initiated → ringing → answered → completed (with a duration), or
initiated → ringing → busy / no_answer / failed / canceled, CARE_SIM_DELAY seconds
apart. The outcome is drawn from CARE_SIM_MIX ("answered=50,no_answer=25,…", weights)
unless the caller forces one (the ``force`` form field, accepted only with the sim).
The sim gives no recording link. An answered call stays connected CARE_SIM_TALK
seconds (None: 20; CARE_SIM_DELAY when app.testing) before the customer hangs up.

The automated survey (:meth:`SimProvider.start_survey`): the customer's call leaves the
specialist (the pending hang-up is not posted), then one event per item carrying
``digits`` (None: no key pressed) and ``survey_item``, keys drawn from
CARE_SIM_SURVEY_MIX (care.domain.survey_input.parse_score_mix), then ``completed``.

Slot habits (issue 13, best time to call): with ``CARE_SIM_HABITS`` (a seed; "off"
disables) a call that the mix leaves to the customer (answered, no answer, busy) is
answered with the customer's own chance for the call's slot (:func:`slot_habit`:
deterministic per customer id and seed), so the app's best-time estimate has something
to learn; the demo's call history (care/demo/call_habits.py) draws from the same habits.

Threads: ``CARE_SIM_THREAD`` (True/False) decides; unset, the thread runs except when
``app.testing``. Tests without a live server take the events from :func:`events_for`
and post them through the test client (:func:`signed`), so no test depends on a thread
or on timing; the browser test sets CARE_SIM_THREAD=True against its live server.
"""

from __future__ import annotations

import hashlib
import json
import logging
import random
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta

import requests

from care.domain.survey_input import draw_key, parse_score_mix
from care.telephony.base import TIMEOUT, Provider
from care.telephony.signatures import GENERIC_HEADER, sign_generic

log = logging.getLogger("care.telephony")

OUTCOMES = ("answered", "no_answer", "busy", "failed", "canceled")
DEFAULT_MIX = "answered=50,no_answer=25,busy=15,failed=5,canceled=5"
ANSWERED_SECONDS = (30, 240)  # the range of a simulated conversation's duration
DEFAULT_TALK = 20.0  # seconds an answered simulated call stays connected (not testing)
# Calls handed to the automated survey, by call id: their pending hang-up is not posted
# (the survey's thread posts the end). Module-level: a provider object is made per use.
_handed: dict[str, threading.Event] = {}
_handed_lock = threading.Lock()


def _handed_event(call_id: str) -> threading.Event:
    with _handed_lock:
        if len(_handed) > 1000:  # old calls: their threads are long gone
            for key in [k for k, e in _handed.items() if e.is_set()]:
                _handed.pop(key, None)
        return _handed.setdefault(call_id, threading.Event())
CUSTOMER_SIDE = ("answered", "no_answer", "busy")  # the outcomes a customer's habit decides
HABIT_SLOTS = ("morning", "afternoon", "evening")  # the default call slots (settings)
HABIT_FAVOURITE, HABIT_OTHER, HABIT_FLAT = 0.85, 0.2, 0.5


def habit_of(customer_id: int, seed: int | str) -> str | None:
    """The slot a simulated customer prefers (one of :data:`HABIT_SLOTS`), or None for one
    without a preference (three in ten): deterministic per customer id and seed."""
    digest = hashlib.sha256(f"care-sim-habit/{seed}/{customer_id}".encode()).digest()
    if digest[0] % 10 >= 7:
        return None
    return HABIT_SLOTS[digest[1] % len(HABIT_SLOTS)]


def slot_habit(customer_id: int, slot: str | None, seed: int | str) -> float:
    """The chance that a simulated customer answers a call in ``slot``: high in their
    favourite slot, low in the others, even for those without one (and for a slot not
    among the defaults)."""
    favourite = habit_of(customer_id, seed)
    if favourite is None or slot not in HABIT_SLOTS:
        return HABIT_FLAT
    return HABIT_FAVOURITE if slot == favourite else HABIT_OTHER


def parse_habits(text: str | None) -> str | None:
    """``CARE_SIM_HABITS``: a seed, or off/0/false/no (and empty) for none."""
    value = str(text or "").strip()
    return None if value.lower() in ("", "off", "0", "false", "no") else value


def parse_mix(text: str | None) -> dict[str, int]:
    """``"answered=50,busy=15"`` → weights; unknown outcomes or bad numbers raise ValueError."""
    weights: dict[str, int] = {}
    for part in (text or DEFAULT_MIX).split(","):
        if not part.strip():
            continue
        name, eq, value = part.partition("=")
        name = name.strip().lower()
        if not eq or name not in OUTCOMES:
            raise ValueError(f"CARE_SIM_MIX: unknown part {part.strip()!r}; outcomes: {', '.join(OUTCOMES)}")
        weight = int(value.strip())
        if weight < 0:
            raise ValueError("CARE_SIM_MIX: weights are >= 0")
        weights[name] = weight
    if not weights or sum(weights.values()) <= 0:
        raise ValueError("CARE_SIM_MIX: at least one positive weight")
    return weights


def events_for(attempt, outcome: str, now: datetime, *, call_id: str | None = None, duration_s: int = 60, step_s: float = 1.0) -> list[dict]:
    """The generic events the simulator posts for ``attempt`` ending in ``outcome``
    (one of :data:`OUTCOMES`), timed from ``now`` ``step_s`` apart."""
    if outcome not in OUTCOMES:
        raise ValueError(f"unknown simulated outcome {outcome!r}")
    call_id = call_id or attempt.provider_call_id or f"SIM{attempt.id}"
    if outcome == "answered":
        statuses = ["initiated", "ringing", "answered", "completed"]
    else:
        statuses = ["initiated", "ringing", outcome]
    events = []
    for seq, status in enumerate(statuses):
        at = now + timedelta(seconds=step_s * seq)
        if status == "completed":
            at += timedelta(seconds=duration_s)
        causes = {"completed": 16, "busy": 17, "no_answer": 19, "failed": 38}
        events.append(
            {
                "event_id": f"sim-{call_id}-{seq}-{status}",
                "attempt_id": attempt.id,
                "provider_call_id": call_id,
                "status": status,
                "sequence": seq,
                "occurred_at": at.astimezone(UTC).isoformat(),
                "duration_s": duration_s if status == "completed" else None,
                "q850_cause": causes.get(status),
                "recording_url": None,
                "digits": None,
                "survey_item": None,
            }
        )
    return events


def signed(secret: str, event: dict, timestamp: int | None = None) -> tuple[bytes, dict[str, str]]:
    """(body, headers) of one event as the simulator posts it."""
    body = json.dumps(event, separators=(",", ":")).encode("utf-8")
    t = int(time.time()) if timestamp is None else timestamp
    return body, {"Content-Type": "application/json", GENERIC_HEADER: sign_generic(secret, body, t)}


def survey_events_for(
    attempt, items: list[dict], weights: dict[str, int], rng: random.Random, now: datetime, *,
    step_s: float = 1.0, duration_s: int = 60,
) -> list[dict]:
    """The events of a simulated customer taking the automated survey: one per item
    (``digits`` drawn from ``weights``, None for no key), then the call's end."""
    call_id = attempt.provider_call_id or f"SIM{attempt.id}"
    events = []
    for n, item in enumerate(items, start=1):
        events.append(
            {
                "event_id": f"sim-{call_id}-ivr-{item['code']}",
                "attempt_id": attempt.id,
                "provider_call_id": call_id,
                "status": None,
                "sequence": None,
                "occurred_at": (now + timedelta(seconds=step_s * n)).astimezone(UTC).isoformat(),
                "duration_s": None,
                "q850_cause": None,
                "recording_url": None,
                "digits": draw_key(weights, rng),
                "survey_item": item["code"],
            }
        )
    end = now + timedelta(seconds=step_s * (len(items) + 1))
    events.append(
        {
            "event_id": f"sim-{call_id}-ivr-end", "attempt_id": attempt.id, "provider_call_id": call_id,
            "status": "completed", "sequence": 3, "occurred_at": end.astimezone(UTC).isoformat(),
            "duration_s": duration_s, "q850_cause": 16, "recording_url": None, "digits": None, "survey_item": None,
        }
    )  # fmt: skip
    return events


def _post_all(url: str, secret: str, events: list[dict], delay: float, talk: float | None = None) -> None:
    """Post ``events`` ``delay`` apart; an answered call's hang-up after ``talk`` seconds,
    and not at all once the call was handed to the survey."""
    for event in events:
        if talk is not None and event["status"] == "completed":
            if _handed_event(event["provider_call_id"]).wait(talk):
                return  # handed to the survey: its thread posts the end
        else:
            time.sleep(delay)
        body, headers = signed(secret, event)
        try:
            response = requests.post(url, data=body, headers=headers, timeout=TIMEOUT)
            if response.status_code >= 300:
                log.warning("sim event %s: HTTP %s", event["event_id"], response.status_code)
        except requests.RequestException as exc:
            log.warning("sim event %s: %s", event["event_id"], type(exc).__name__)


class SimProvider(Provider):
    name = "sim"

    def __init__(
        self,
        *,
        secret: str,
        mix: str | None,
        delay: float,
        thread: bool,
        rng: random.Random | None = None,
        talk: float | None = None,
        survey_mix: str | None = None,
        habits: str | None = None,
    ):
        self.secret = secret
        self.habits = habits  # the seed of the customers' slot habits, None: none
        self.weights = parse_mix(mix)
        self.survey_weights = parse_score_mix(survey_mix)
        self.delay = delay
        self.talk = delay if talk is None else talk
        self.thread = thread
        self.rng = rng or random.Random()  # noqa: S311 - a simulation, not a secret
        self.last_events: list[dict] = []  # what the last originate scheduled (for tests)

    @classmethod
    def from_app(cls, app) -> SimProvider:
        c = app.config
        secret = str(c.get("CARE_WEBHOOK_SECRET") or "").split(",")[0].strip()
        thread = c.get("CARE_SIM_THREAD")
        if thread is None:
            thread = not app.testing
        delay = float(c.get("CARE_SIM_DELAY", 1.0))
        talk = c.get("CARE_SIM_TALK")
        if talk is None:
            talk = delay if app.testing else DEFAULT_TALK
        return cls(
            secret=secret,
            mix=c.get("CARE_SIM_MIX"),
            delay=delay,
            thread=bool(thread),
            talk=float(talk),
            survey_mix=c.get("CARE_SIM_SURVEY_MIX"),
            habits=parse_habits(c.get("CARE_SIM_HABITS")),
        )

    def pick(self, attempt=None) -> str:
        """An outcome from the mix; with habits, one the mix leaves to the customer is
        decided by their habit for the attempt's slot."""
        names = list(self.weights)
        outcome = self.rng.choices(names, weights=[self.weights[n] for n in names])[0]
        customer_id = getattr(attempt, "customer_id", None)
        if self.habits is None or customer_id is None or outcome not in CUSTOMER_SIDE:
            return outcome
        if self.rng.random() < slot_habit(customer_id, getattr(attempt, "slot", None), self.habits):
            return "answered"
        missed = [n for n in ("no_answer", "busy") if self.weights.get(n)] or ["no_answer"]
        return self.rng.choices(missed, weights=[self.weights.get(n, 1) for n in missed])[0]

    def originate(self, attempt, *, agent_extension, to_number, callback_base, caller_id, force=None):
        outcome = force if force in OUTCOMES else self.pick(attempt)
        call_id = "SIM" + uuid.uuid4().hex[:24]
        duration = self.rng.randint(*ANSWERED_SECONDS)
        self.last_events = events_for(
            attempt, outcome, datetime.now(UTC), call_id=call_id, duration_s=duration, step_s=self.delay
        )
        if self.thread and self.secret:
            threading.Thread(
                target=_post_all,
                args=(f"{callback_base}/webhooks/events", self.secret, self.last_events, self.delay, self.talk),
                name=f"sim-call-{attempt.id}",
                daemon=True,
            ).start()
        return call_id

    def start_survey(self, attempt, *, items, callback_base, customer_call_id=None) -> None:
        """The simulated customer takes the survey: its answers, then the call's end."""
        now = datetime.now(UTC)
        answered = attempt.answered_at or now
        duration = max(1, int((now - answered).total_seconds()) + len(items))
        self.last_events = survey_events_for(
            attempt, list(items), self.survey_weights, self.rng, now, step_s=self.delay, duration_s=duration
        )
        if attempt.provider_call_id:
            _handed_event(attempt.provider_call_id).set()
        if self.thread and self.secret:
            threading.Thread(
                target=_post_all,
                args=(f"{callback_base}/webhooks/events", self.secret, self.last_events, self.delay),
                name=f"sim-survey-{attempt.id}",
                daemon=True,
            ).start()

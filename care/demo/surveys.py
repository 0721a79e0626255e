"""Surveys in the demo: twelve months of SSI responses for the deliveries and CSI
responses for the service visits, over the four channels (phone, IVR, paper forms at
the hand-over, the manufacturer's export), so that the results page, its trend, the
responses and the very-satisfied rates have content on `make run`.

The scores are drawn per response from a level that depends on the person evaluated
(one consultant well above the 80 % very-satisfied target, one below it) and on the
post-delivery survey or service callback's recorded outcome where there is one (a
"reached, has an issue" callback gets a low item: R19's material). A few items go
unanswered; one response in fifty has nothing answered (no index). Phone responses of
the last 90 days belong to the callback task the specialist closed (taken by them, at
that time); the others stand alone. Everything goes through the survey service, so the
indexes are the ones the app computes.
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from care.demo.context import DemoContext
from care.models import CareTask, Delivery, ServiceVisit, User, Vehicle
from care.models.survey import AnswerSource
from care.services import surveys as svc

MONTHS = 12
# How satisfied each consultant's customers are (a latent 1–7 level), and the service
# advisors (no log-ins: the names the manufacturer's export and paper forms carry).
CONSULTANT_LEVEL = {"consultant1": 6.9, "consultant2": 6.6, "consultant3": 6.3, "consultant4": 5.7}
ADVISORS = {"服务顾问 陈刚": 6.5, "服务顾问 林晓": 6.2, "服务顾问 赵宇": 5.7}
CHANNELS = (("phone", 50), ("ivr", 15), ("paper", 25), ("oem", 10))
SOURCES = {"phone": AnswerSource.PHONE.value, "ivr": AnswerSource.IVR.value}


def _score(rng, level: float, scale_max: int = 7) -> int:
    """A score around ``level``, never below 5 (a satisfied customer's spread), except
    for a bad moment now and then (about one questionnaire in twelve has one): R19's
    low items come from those and from the callbacks that reached a customer with an
    issue, not from the spread, so the demo's complaints stay at a believable few."""
    if rng.random() < 0.006:
        return max(1, min(scale_max, round(level - rng.uniform(2, 4))))
    return max(5, min(scale_max, round(level + rng.gauss(0, 0.75))))


def _answer(ctx, rng, response, level: float, *, source: str, low_item: bool, when) -> None:
    session = ctx.session
    items = response.version.items
    empty = rng.random() < 0.02  # the customer answered nothing after all
    low = rng.choice([i for i in items if i.factor is not None]) if low_item else None
    scores = []
    for item in items:
        if item.factor is None:
            continue
        if empty or rng.random() < 0.03:
            svc.put_answer(session, response, item, None, unanswered=True, source=source, now=when)
            continue
        score = rng.randint(2, 4) if item is low else _score(rng, level)
        scores.append(score)
        svc.put_answer(session, response, item, score, unanswered=False, source=source, now=when)
    overall = next(i for i in items if i.factor is None)
    if empty:
        svc.put_answer(session, response, overall, None, unanswered=True, source=source, now=when)
    else:
        mean = sum(scores) / len(scores) if scores else level
        top = mean >= 6.2 or (mean >= 5.8 and rng.random() < 0.5)
        score = 7 if top and not low_item else max(1, min(6, round(mean)))
        svc.put_answer(session, response, overall, score, unanswered=False, source=source, now=when)


def _channel(rng) -> str:
    return rng.choices([c for c, _w in CHANNELS], weights=[w for _c, w in CHANNELS])[0]


def add_survey_responses(ctx: DemoContext) -> None:
    session, rng = ctx.session, ctx.rng("surveys")
    ctx.survey_keys = set()  # (customer, template, taken_at): the responses' unique key
    svc.ensure_seeded(session, now=ctx.now)
    first_day = ctx.today.replace(day=1)
    for _ in range(MONTHS):  # twelve whole months before this one, and this one so far
        first_day = (first_day - timedelta(days=1)).replace(day=1)
    since = ctx.local_utc(first_day, 0, 0)
    until = ctx.local_utc(ctx.today, 0, 0)
    users = {u.username: u for u in session.scalars(select(User))}
    user_by_id = {u.id: u for u in users.values()}

    # The callback tasks the specialists closed: their surveys were taken on that call.
    tasks = {}
    for task in session.scalars(
        select(CareTask).where(CareTask.type.in_(("delivery_survey", "service_callback")), CareTask.status == "done")
    ):
        key = ("d", task.delivery_id) if task.type == "delivery_survey" else ("v", task.visit_id)
        if task.outcome in ("reached_satisfied", "reached_issue"):
            tasks[key] = task

    counts = {"ssi": 0, "csi": 0}
    deliveries = session.execute(
        select(Delivery, Vehicle.customer_id)
        .join(Vehicle, Vehicle.id == Delivery.vehicle_id)
        .where(Delivery.delivered_at >= since, Delivery.delivered_at < until)
        .order_by(Delivery.delivered_at, Delivery.id)
    ).all()
    for delivery, customer_id in deliveries:
        task = tasks.get(("d", delivery.id))
        if task is None and rng.random() > 0.8:
            continue  # not surveyed
        consultant = user_by_id.get(delivery.consultant_id)
        level = CONSULTANT_LEVEL.get(consultant.username if consultant else "", 6.0)
        _take(ctx, rng, "ssi", customer_id, delivery.vehicle_id, task, consultant or delivery.consultant_name,
              level, delivery.delivered_at, users, until)  # fmt: skip
        counts["ssi"] += 1

    visits = session.execute(
        select(ServiceVisit, Vehicle.customer_id)
        .join(Vehicle, Vehicle.id == ServiceVisit.vehicle_id)
        .where(ServiceVisit.date >= first_day, ServiceVisit.date < ctx.today)
        .order_by(ServiceVisit.date, ServiceVisit.id)
    ).all()
    advisors = sorted(ADVISORS)
    for visit, customer_id in visits:
        task = tasks.get(("v", visit.id))
        if task is None and rng.random() > 0.45:
            continue
        advisor = advisors[visit.id % len(advisors)]
        _take(ctx, rng, "csi", customer_id, visit.vehicle_id, task, advisor, ADVISORS[advisor],
              ctx.local_utc(visit.date, 16, 0), users, until)  # fmt: skip
        counts["csi"] += 1
    session.flush()
    ctx.counts["survey_responses_ssi"] = counts["ssi"]
    ctx.counts["survey_responses_csi"] = counts["csi"]


def _take(ctx, rng, code, customer_id, vehicle_id, task, staff, level, event_at, users, until) -> None:
    """One response: on the callback task's call when there is one, else by a channel
    drawn from the mix, a few days after the delivery or visit."""
    session = ctx.session
    specialists = [users[n] for n in ctx.usernames("specialist") if n in users]
    if task is not None:  # on the callback's call, or handed to the IVR after it
        channel, when = ("ivr" if rng.random() < 0.25 else "phone"), task.closed_at
        taker = next((u for u in users.values() if u.id == task.assignee_id), None)
    else:
        channel = _channel(rng)
        if channel == "paper":
            when = event_at + timedelta(minutes=rng.randint(20, 90))
        else:
            when = event_at + timedelta(days=rng.randint(1, 4), hours=rng.randint(0, 5), minutes=rng.randrange(0, 60, 5))
        taker = rng.choice(specialists) if channel == "phone" and specialists else None
    if when is None or when >= until or (customer_id, code, when) in ctx.survey_keys:
        return
    ctx.survey_keys.add((customer_id, code, when))
    customer = _Ref(customer_id)
    response = svc.start_or_resume(
        session, template_code=code, customer=customer, task=task, staff=staff, channel=channel, user=taker, now=when
    )
    if response.status == "completed":
        return
    response.vehicle_id = vehicle_id
    if code == "ssi":
        response.r7_call_within_72h = rng.random() < 0.9
    issue = task is not None and task.outcome == "reached_issue"
    source = SOURCES.get(channel, AnswerSource.IMPORT.value)
    _answer(ctx, rng, response, level, source=source, low_item=issue, when=when)
    session.flush()
    svc.finish(session, response, user=taker, now=when + timedelta(minutes=rng.randint(3, 9)))


class _Ref:
    """The customer as start_or_resume needs it (its id), without loading the row."""

    def __init__(self, id_: int):
        self.id = id_

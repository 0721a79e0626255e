"""Supervision in the demo: the calls behind the insurance specialists' recorded outcomes
of the past months, and last month's R21 sample drawn by the care manager with some of its
verdicts given — so that `make run` shows a drawn sample (and this month's calls waiting
for their draw)."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from care.demo.context import DemoContext
from care.domain import attempts as attempt_rules
from care.domain import sampling as sampling_rules
from care.domain.callstate import TERMINAL_RANK
from care.models import CallAttempt, CareTask, Customer, TaskOutcome, User
from care.services import Actor
from care.services import sampling as sampling_service
from care.services.settings import load_settings

# The care manager's findings on the sampled calls that fell short.
_NOTES = {
    sampling_rules.Verdict.NOT_TO_STANDARD: (
        "未核对客户当前保单的到期日，直接报价",
        "没有按话术介绍续保优惠和赠送的保养项目",
        "通话中未确认客户的联系地址，保单寄送信息不全",
    ),
    sampling_rules.Verdict.NOT_DONE: (
        "回访客户确认：通话只询问了保养，没有提醒保险到期",
        "录音中未提及续保，客户表示不知道保险即将到期",
    ),
}
_UNANSWERED = ("no_answer", "no_answer", "busy", "rejected")


def add_insurance_sample(ctx: DemoContext) -> None:
    session, rng = ctx.session, ctx.rng("insurance_sample")
    settings = load_settings(session)
    rows = session.execute(
        select(TaskOutcome, CareTask.customer_id, Customer.mobile, Customer.phone2)
        .join(CareTask, CareTask.id == TaskOutcome.task_id)
        .join(Customer, Customer.id == CareTask.customer_id)
        .where(CareTask.type == "insurance_renewal", TaskOutcome.recorded_by_id.is_not(None))
        .order_by(TaskOutcome.id)
    ).all()
    calls = 0
    for outcome, customer_id, mobile, phone2 in rows:
        number = mobile or phone2
        if number is None:
            continue
        reached = outcome.outcome != "not_reached"
        duration = rng.randint(70, 420) if reached else None
        ended = outcome.recorded_at - timedelta(minutes=rng.randint(1, 4))
        started = ended - timedelta(seconds=(duration or rng.randint(20, 40)) + rng.randint(8, 20))
        slot = attempt_rules.slot_of(started, settings)
        status = "completed" if reached else rng.choice(_UNANSWERED)
        session.add(CallAttempt(
            task_id=outcome.task_id, customer_id=customer_id, user_id=outcome.recorded_by_id, provider="sim",
            provider_call_id=f"demo-{outcome.id}", to_number=number, status=status, outcome=status, ended_as=status,
            rank=TERMINAL_RANK, answered=reached, counted=True,
            slot=slot.name if slot else None, slot_date=started.astimezone(ctx.tz).date(),
            started_at=started, answered_at=started + timedelta(seconds=9) if reached else None, ended_at=ended,
            duration_s=duration, finalized_at=ended,  # its final hook ran: nothing left for the applier
        ))  # fmt: skip
        calls += 1
    session.flush()
    ctx.counts["insurance_calls"] = calls

    month = sampling_rules.previous_month(ctx.today.replace(day=1))
    manager = session.scalars(select(User).where(User.username == "care_manager")).one()
    drawn_at = min(ctx.now, ctx.local_utc(ctx.today.replace(day=1), 9, 10))
    try:
        draw = sampling_service.draw_sample(
            session, month, seed=rng.randrange(sampling_rules.MAX_SEED + 1), user=manager,
            actor=Actor.of(manager), now=drawn_at, settings=settings,
        )  # fmt: skip
    except sampling_service.SampleRefused:  # no insurance call last month (a tiny demo)
        ctx.counts["sample_verdicts"] = 0
        return
    sampled = [c for c in draw.calls if c.sampled]
    judged = sampled[: max(1, len(sampled) * 2 // 3)]
    verdicts = 0
    for i, call in enumerate(judged):
        verdict = rng.choices(list(sampling_rules.Verdict), weights=(75, 18, 7))[0]
        note = rng.choice(_NOTES[verdict]) if verdict in _NOTES else None
        at = min(ctx.now, drawn_at + timedelta(minutes=25 * (i + 1)))
        sampling_service.record_verdict(session, call, verdict.value, note, user=manager, actor=Actor.of(manager), now=at)
        verdicts += 1
    ctx.counts["sample_verdicts"] = verdicts


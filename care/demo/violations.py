"""Violations in the demo (R23): last month's and this month's derived from the demo's data
(late birthday greetings, calls judged below standard in the sample, the sample still short
…); of last month's, the care manager has confirmed some and waived one with a reason, the
general manager decided on the rest of hers — so that `make run` shows open, confirmed and
waived violations."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select

from care.demo.context import DemoContext
from care.domain import kpis as month_rules
from care.models import User, Violation
from care.services import Actor
from care.services import violations as violation_service
from care.services.settings import load_settings

_WAIVE_REASONS = (
    "客户当天出差，家属已转达，情况特殊不予处罚",
    "系统外呼线路故障，非个人原因",
    "客户号码停机，已登记号码更正",
)


def add_violations(ctx: DemoContext) -> None:
    session, rng = ctx.session, ctx.rng("violations")
    settings = load_settings(session)
    this_month = ctx.today.replace(day=1)
    last_month = month_rules.previous_month(this_month)
    derived_at = min(ctx.now, ctx.local_utc(this_month, 8, 40))
    for month in (last_month, this_month):
        result = violation_service.derive(session, month, settings, derived_at)
        violation_service.record_derivation(session, result, actor=Actor.SCHEDULER, now=derived_at)
    manager = session.scalars(select(User).where(User.username == "care_manager")).one()
    general = session.scalars(select(User).where(User.username == "general_manager")).first()
    found = list(
        session.scalars(
            select(Violation).where(Violation.month == month_rules.month_text(last_month)).order_by(Violation.id)
        )
    )
    decided = 0
    # about half of last month's decided: most confirmed, every fourth waived; the rest open
    for i, v in enumerate(found):
        if i % 2:
            continue
        decider = general if v.person_id == manager.id else manager
        if decider is None:
            continue
        at = min(ctx.now, derived_at + timedelta(minutes=15 * (i + 1)))
        if decided % 4 == 1:
            action, amount, reason = "waive", None, rng.choice(_WAIVE_REASONS)
        else:
            action, amount, reason = "confirm", str(rng.randint(v.amount_min, v.amount_max)), None
        violation_service.decide(
            session, v, action, amount=amount, reason=reason, user=decider, actor=Actor.of(decider), now=at
        )
        decided += 1
    ctx.counts["violations"] = session.scalar(select(func.count()).select_from(Violation))
    ctx.counts["violations_decided"] = decided

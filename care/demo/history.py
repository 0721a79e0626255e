"""The last months of care work in the demo: the daily generator run for each past
day, and the outcomes the specialists recorded."""

from __future__ import annotations

import random
from datetime import timedelta

from sqlalchemy import func, select, update

from care.demo.context import DemoContext
from care.domain.outcomes import Booking, FieldKind, outcomes_for
from care.models import (
    CareTask,
    Customer,
    TaskOutcome,
    TaskStatus,
)
from care.services import Actor
from care.services.generator import generate
from care.services.message_templates import ensure_default_templates
from care.services.scripts import current_version, ensure_default_scripts

HISTORY_DAYS = 90  # days of generated tasks and recorded outcomes before `today`

_DETAIL_VALUES = {
    "shop": ("途虎养车工场店", "小区门口快修店", "天猫养车", "朋友开的修理厂", "其他品牌4S店"),
    "location": ("高新区天府三街", "金牛区营门口路", "双流区东升街道", "武侯区人民南路", "成华区建设路"),
    "reason": ("车开得少，暂时不需要", "刚换了工作，最近很忙", "价格偏高，再考虑", "车准备卖掉了", "自己在外面做过了"),
    "insurer": ("平安保险", "中国人保 PICC", "太平洋保险", "大地保险"),
}
_CALLBACKS = frozenset({"service_callback", "delivery_call", "delivery_survey"})
_ISSUE_NOTES = (
    "保养后仪表盘保养提示未复位，已约回店处理",
    "洗车不干净，客户有些不满，已转服务顾问",
    "等待时间比预计长40分钟",
    "交车时未讲解车机互联功能，已安排顾问电话说明",
)


def _detail_for(spec, rng: random.Random) -> dict[str, str]:
    detail: dict[str, str] = {}
    for f in spec.fields:
        if f.kind == FieldKind.MONEY:
            detail[f.name] = f"{rng.randrange(28, 160) * 10}.00"
        elif f.kind == FieldKind.CHOICE:
            plain = [value for value, _label in f.choices if value not in f.note_required_for]
            detail[f.name] = rng.choice(plain or [f.choices[0][0]])
        else:
            detail[f.name] = rng.choice(_DETAIL_VALUES.get(f.name, ("—",)))
    return detail


def add_task_history(ctx: DemoContext) -> None:
    """A few months of care work: the generator run for each past day (as the scheduler
    would have), and the outcomes the specialists recorded — most past tasks closed, some
    overdue, today's list partly worked. Default scripts first, so that each outcome
    names the script version that was read."""
    session, rng = ctx.session, ctx.rng("task_history")
    ensure_default_scripts(session, now=ctx.now)
    ensure_default_templates(session, now=ctx.now)
    # R12: a few customers whose only number is missing (the number-correction queue).
    for plan in rng.sample(ctx.customers, max(1, len(ctx.customers) // 100)):
        session.execute(
            update(Customer).where(Customer.id == plan.id, Customer.phone2.is_(None)).values(mobile=None)
        )
    first = ctx.today - timedelta(days=HISTORY_DAYS)
    for offset in range(HISTORY_DAYS + 1):
        day = first + timedelta(days=offset)
        generate(session, day, actor=Actor.SCHEDULER, now=min(ctx.now, ctx.local_utc(day, 8, 25)))

    versions: dict[str, int | None] = {}
    start_of_today = ctx.local_utc(ctx.today, 0, 0)
    tasks = session.scalars(
        select(CareTask).where(CareTask.status == TaskStatus.OPEN.value).order_by(CareTask.id)
    ).all()
    outcomes = 0
    for task in tasks:
        past = task.due_at < start_of_today
        if task.opens_on >= ctx.today or rng.random() > (0.93 if past else 0.3):
            continue  # still to do (overdue when its deadline has passed)
        specs = outcomes_for(task.type)
        closing = [o for o in specs if o.closes_task and o.booking != Booking.REQUIRED]
        if not closing:
            continue
        if task.type not in versions:
            version = current_version(session, task.type)
            versions[task.type] = version.id if version else None
        last_day = min(task.due_at.astimezone(ctx.tz).date(), ctx.today - timedelta(days=1))
        span = max(0, (last_day - task.opens_on).days)
        when = ctx.local_utc(
            task.opens_on + timedelta(days=rng.randint(0, span)), rng.randint(9, 19), rng.randrange(0, 60, 5)
        )
        if when >= ctx.now:
            continue
        can_miss = any(o.code == "not_reached" for o in specs)
        misses = rng.choice((0, 0, 0, 1, 1, 2)) if can_miss else 0
        for i in range(misses):
            session.add(TaskOutcome(
                task_id=task.id, outcome="not_reached", closes_task=False, source="manual",
                script_version_id=versions[task.type], recorded_by_id=task.assignee_id,
                recorded_at=when - timedelta(days=misses - i, hours=rng.randint(0, 3)),
            ))  # fmt: skip
            outcomes += 1
        # The first closing outcome is the common one (will come, greeted, satisfied …);
        # on a callback far more so: a customer with an issue (R19's complaints) is rare.
        common = 0.9 if task.type in _CALLBACKS else 0.65
        spec = closing[0] if rng.random() < common else rng.choice(closing)
        session.add(TaskOutcome(
            task_id=task.id, outcome=spec.code, detail=_detail_for(spec, rng) or None,
            note=rng.choice(_ISSUE_NOTES) if spec.note_required else None, closes_task=True, source="manual", script_version_id=versions[task.type],
            recorded_by_id=task.assignee_id, recorded_at=when,
        ))  # fmt: skip
        task.status, task.outcome = TaskStatus.DONE.value, spec.code
        task.closed_at, task.closed_by_id = when, task.assignee_id
        outcomes += 1
    session.flush()
    ctx.counts["tasks"] = session.scalar(select(func.count()).select_from(CareTask))
    ctx.counts["outcomes"] = outcomes

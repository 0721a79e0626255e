"""Complaints in the demo (R19, R20): the customers' own complaints of the past two months
walked through the eight steps by the demo staff — most closed within 24 hours, some late,
one reopened after a dissatisfied call-back — and today's still open at different steps,
one of them overdue (its owners told), so that every complaint page has content.

Each step is taken through care.services.complaints at a back-dated moment, as the staff
would have; the call-backs are finished calls of the simulator (answered)."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select

from care.demo.context import DemoContext
from care.domain.callstate import TERMINAL_RANK
from care.models import Customer, User
from care.services import Actor
from care.services import complaints as svc
from care.services.settings import load_settings

_COMPLAINTS = (
    ("sales", "提车时发现左后门有一道划痕，销售顾问当时没有说明"),
    ("sales", "承诺赠送的脚垫和行车记录仪到现在还没有装"),
    ("service", "保养后发动机异响，问了服务顾问没有给答复"),
    ("service", "等待保养时间比预约说的长了一个多小时"),
    ("sales", "购车发票上的信息有误，跑了两趟还没改好"),
    ("service", "车辆洗得不干净，座椅上还有油污"),
    ("service", "结算单项目和报价不一致，多收了工时费"),
    ("sales", "交车时没有讲解车机功能，导航不会用"),
    ("service", "更换的刹车片两周后又有异响"),
    ("sales", "贷款手续办理太慢，影响了提车时间"),
    ("service", "预约后到店没有工位，被要求改天再来"),
    ("sales", "销售顾问电话里态度不好"),
)
_TEXTS = {
    2: ("请销售部核实情况，向客户致歉并尽快补装", "请服务部复检车辆，给客户书面说明", "安排专人跟进，24小时内给客户答复"),
    3: ("同意处理意见", "同意，注意跟客户沟通的方式", "同意，费用由店里承担"),
    5: ("已联系客户并处理完毕，客户接受方案", "已复检并重新处理，客户到店确认", "已致歉并退还多收费用"),
    6: ("客户表示满意，感谢回访", "客户对处理结果满意", "客户满意，希望以后注意"),
    7: ("同意结案",),
    8: ("已登记归档",),
}
_DISSATISFIED = "客户对处理结果仍不满意，要求重新处理"

# (days ago it was opened, local hour, hours between steps, reopened on the first call-back)
# closed in time · closed late (steps 5 h apart: 35 h) · reopened then closed
_CLOSED = (
    (55, 9, 2, False), (48, 14, 3, False), (41, 10, 2, False), (34, 16, 5, False), (27, 11, 1, False),
    (20, 15, 2, False), (13, 9, 3, False), (9, 10, 2, True), (6, 13, 3, False),
)  # fmt: skip
# today's open ones: (hours ago it was opened, the step waiting)
_OPEN = ((2, 2), (5, 3), (7, 5), (9, 6), (30, 4))


def _who(session, username: str) -> User:
    return session.scalars(select(User).where(User.username == username)).one()


def _answered_callback(session, complaint, user, at: datetime, rng) -> None:
    attempt = svc.start_callback(session, complaint, user=user, now=at)
    duration = rng.randint(60, 300)
    attempt.status = attempt.outcome = attempt.ended_as = "completed"
    attempt.answered, attempt.rank = True, TERMINAL_RANK
    attempt.provider_call_id = f"demo-complaint-{attempt.id}"
    attempt.answered_at = at + timedelta(seconds=10)
    attempt.ended_at = at + timedelta(seconds=10 + duration)
    attempt.duration_s = duration
    attempt.finalized_at = attempt.ended_at
    session.flush()


def _walk(ctx: DemoContext, complaint, staff, start: datetime, gap: timedelta, upto: int, *, reopen: bool, rng) -> None:
    """Take steps 2 … upto, ``gap`` apart (the first reopened once at step 6)."""
    session, settings = ctx.session, load_settings(ctx.session)
    owner = {2: "care", 3: "gm", 4: "sm", 5: "sm", 6: "care", 7: "gm", 8: "spec"}
    at = start
    reopened = False
    step = 2
    while step <= upto:
        at += gap
        user = staff[owner[step]]
        kw = {"text": rng.choice(_TEXTS.get(step, ("",)))}
        if step == 4:
            kw = {"handler_id": staff["consultant"].id, "text": ""} if complaint.kind == "sales" else {
                "handler_name": rng.choice(("服务顾问 何勇", "服务顾问 罗娟")), "text": ""}  # fmt: skip
        if step == 6:
            _answered_callback(session, complaint, user, at - timedelta(minutes=15), rng)
            if reopen and not reopened:
                kw = {"text": _DISSATISFIED, "outcome": "dissatisfied"}
                reopened = True
            else:
                kw["outcome"] = "satisfied"
        svc.take_step(session, complaint, step, user=user, now=at, settings=settings, actor=Actor.of(user), **kw)
        step = complaint.step if not complaint.closed_at else upto + 1


def add_complaints(ctx: DemoContext) -> None:
    session, rng = ctx.session, ctx.rng("complaints")
    settings = load_settings(session)
    staff = {
        "spec": _who(session, "specialist1"), "care": _who(session, "care_manager"),
        "gm": _who(session, "general_manager"), "sm": _who(session, "sales_manager"),
        "consultant": _who(session, rng.choice(ctx.usernames("consultant"))),
    }  # fmt: skip
    planned = [c.id for c in ctx.customers if c.id is not None]
    callable_ids = set(session.scalars(  # the call-back (step 6) needs a number the customer lets us call
        select(Customer.id).where(Customer.id.in_(planned), Customer.no_call.is_(False), Customer.mobile.is_not(None))
    ))  # fmt: skip
    ids = [i for i in planned if i in callable_ids]
    chosen = rng.sample(ids, min(len(ids), len(_CLOSED) + len(_OPEN)))
    texts = list(_COMPLAINTS)
    rng.shuffle(texts)
    made = 0
    plans = [("closed", p) for p in _CLOSED] + [("open", p) for p in _OPEN]
    for customer_id, (state, plan) in zip(chosen, plans, strict=False):
        customer = session.get(Customer, customer_id)
        kind, text = texts[made % len(texts)]
        if state == "closed":
            days, hour, gap_hours, reopen = plan
            opened = ctx.local_utc(ctx.today - timedelta(days=days), hour, rng.randint(0, 50))
            upto, gap = 8, timedelta(hours=gap_hours, minutes=rng.randint(0, 30))
        else:
            hours_ago, waiting = plan
            opened = ctx.now - timedelta(hours=hours_ago, minutes=rng.randint(0, 30))
            upto, gap, reopen = waiting - 1, timedelta(minutes=50), False
        vehicle_id = next((v.id for v in ctx.vehicles if v.customer.id == customer_id and v.id), None)
        complaint = svc.open_manual(
            session, customer, user=staff["spec"], description=text, kind=kind, vehicle_id=vehicle_id,
            now=opened, settings=settings, actor=Actor.of(staff["spec"]),
        )  # fmt: skip
        _walk(ctx, complaint, staff, opened, gap, upto, reopen=reopen, rng=rng)
        made += 1
    ctx.counts["complaints"] = made
    ctx.counts["survey_complaints_handled"] = _handle_survey_complaints(ctx, staff, callable_ids, rng)
    ctx.counts["complaint_notices"] = svc.notify_overdue(session, now=ctx.now)


def _handle_survey_complaints(ctx: DemoContext, staff, callable_ids: set[int], rng) -> int:
    """The complaints the demo's survey history opened (R19) were handled as they came:
    each one older than three days walked through its eight steps, a step every one to
    four hours (so most close within 24 h and some do not). Those of customers who may
    not be called stay where a call-back is needed."""
    from care.models import Complaint

    session, settings = ctx.session, load_settings(ctx.session)
    old = session.scalars(
        select(Complaint)
        .where(Complaint.source == "survey", Complaint.step == 1, Complaint.closed_at.is_(None),
               Complaint.opened_at < ctx.now - timedelta(days=3))
        .order_by(Complaint.opened_at, Complaint.id)
    ).all()  # fmt: skip
    handled = 0
    for complaint in old:
        at = complaint.opened_at + timedelta(minutes=rng.randint(10, 40))
        svc.take_step(session, complaint, 1, user=staff["spec"], now=at, settings=settings,
                      actor=Actor.of(staff["spec"]), text=rng.choice(_TEXTS.get(1, ("客户反馈已记录",))))  # fmt: skip
        gap = timedelta(hours=rng.choice((1, 1, 2, 2, 3, 4)), minutes=rng.randint(0, 40))
        upto = 8 if complaint.customer_id in callable_ids else 5
        _walk(ctx, complaint, staff, at, gap, upto, reopen=False, rng=rng)
        handled += 1
    return handled

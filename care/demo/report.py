"""The monthly reports in the demo (R22 workflow): a year of them — up to three months
back approved on time, two months back returned once then approved, last month's
submitted and awaiting the general manager — each generated on its 1st with the figures of the demo's history and
written in the care manager's words from those figures."""

from __future__ import annotations

from datetime import datetime, time, timedelta

from sqlalchemy import select

from care.demo.context import DemoContext
from care.domain import kpis as kpi_rules
from care.domain.dates import add_months, first_of_month, local_datetime
from care.domain.roles import Role
from care.models import User, UserRole
from care.services import Actor
from care.services import monthly_report as svc
from care.services.settings import load_settings


def _user(ctx: DemoContext, role: Role) -> User | None:
    return ctx.session.scalar(
        select(User).join(UserRole, UserRole.user_id == User.id).where(UserRole.role == role.value).order_by(User.id)
    )


def _pct(doc: dict, key: str, sub: str | None = None) -> str:
    node = doc.get(key) or {}
    if sub is not None:
        node = node.get(sub) or {}
    value = node.get("rate")
    return "—" if value is None else f"{value * 100:.1f}%"


def _texts(doc: dict, month: str) -> tuple[str, str]:
    analysis = (
        f"{month} 首保回厂率 {_pct(doc, 'first_service_return_rate')}，定保回厂率 {_pct(doc, 'maintenance_return_rate')}，"
        f"预约率 {_pct(doc, 'appointment_rate')}，流失率 {_pct(doc, 'churn_rate')}。\n"
        f"首保提醒率 {_pct(doc, 'first_service_reminder_rate')}，R13 达标率 {_pct(doc, 'attempt_compliance')}，"
        f"生日关怀及时率 {_pct(doc, 'birthday_on_time_rate')}。\n"
        "未回厂的主要原因是客户在外地或就近在其他店保养；首次未接通后的跟进仍有遗漏。"
    )
    plan = (
        "1. 每天上午检查首保到期前 30 天的车辆，当天完成第一次提醒；\n"
        "2. 首次未接通的任务必须在 3 天内换时段再拨，客服经理每周三抽查；\n"
        "3. 对外地客户改为短信 + 微信提醒，并告知就近的授权服务站；\n"
        "4. 下月目标：首保提醒率不低于 95%，预约率提高 5 个百分点。"
    )
    return analysis, plan


def add_monthly_reports(ctx: DemoContext) -> None:
    session = ctx.session
    cm, gm = _user(ctx, Role.CARE_MANAGER), _user(ctx, Role.GENERAL_MANAGER)
    if cm is None or gm is None:
        return
    tz = str(ctx.tz)
    settings = load_settings(session)
    this_month = first_of_month(ctx.today)
    latest = ctx.now - timedelta(minutes=10)

    def at(month_first, day: int, hour: int, minute: int = 0) -> datetime:
        """Day ``day`` of the month after ``month_first``, at the dealer; never after now."""
        moment = local_datetime(add_months(month_first, 1) + timedelta(days=day - 1), time(hour, minute), tz)
        return min(moment, latest)

    # a year of reports, so that the trend charts have their 12 months
    plans = [(add_months(this_month, -k), "approved") for k in range(12, 2, -1)]
    plans += [(add_months(this_month, -2), "returned_then_approved"), (add_months(this_month, -1), "submitted")]
    for month, story in plans:
        generated_at = at(month, 1, 0, 5)
        if not svc.finished(month, generated_at, settings):  # the demo loaded in the first minutes of a month
            continue
        report, _created = svc.generate(session, month, actor=Actor.SCHEDULER, now=generated_at)
        analysis, plan = _texts(report.figures, kpi_rules.month_text(month))
        cm_actor, gm_actor = Actor.of(cm), Actor.of(gm)
        if story == "approved":
            svc.submit(session, report, analysis, plan, user=cm, actor=cm_actor, now=at(month, 2, 16, 20))
            svc.approve(session, report, "同意，按计划执行。", user=gm, actor=gm_actor, now=at(month, 4, 10, 0))
        elif story == "returned_then_approved":
            first = "首保提醒率偏低，已安排加强跟进。"
            svc.submit(session, report, first, plan, user=cm, actor=cm_actor, now=at(month, 3, 11, 0))
            svc.return_report(
                session, report, "分析太简单：请写明未回厂的原因和他店去向，并给出下月的具体目标。",
                user=gm, actor=gm_actor, now=at(month, 4, 9, 30),
            )  # fmt: skip
            svc.submit(session, report, analysis, plan, user=cm, actor=cm_actor, now=at(month, 5, 15, 0))
            svc.approve(session, report, None, user=gm, actor=gm_actor, now=at(month, 5, 17, 30))
        else:
            submitted_at = max(generated_at + timedelta(minutes=1), at(month, 2, 17, 0))
            svc.submit(session, report, analysis, plan, user=cm, actor=cm_actor, now=min(submitted_at, latest))
        ctx.counts["monthly_reports"] = ctx.counts.get("monthly_reports", 0) + 1

"""Greeting campaigns in the demo (R11, issue 13 items 4 and 5): the last holiday's
greeting sent to the local customers with its delivery receipts (most delivered, a few
failed or undelivered, as a gateway reports them), a special-weather notice sent earlier
this month, and the coming holiday's greeting scheduled — so that `make run` shows the
campaign pages with counts, the month's R11 shortfall and receipts on the timelines."""

from __future__ import annotations

from datetime import date, datetime, timedelta

from care.calendars import chinese_holidays
from care.demo.context import DemoContext
from care.domain import campaigns as dom
from care.messaging import outbox, receipts
from care.models import Campaign, CampaignRecipient, OutboxMessage
from care.services import campaigns as campaign_service
from care.services.settings import load_settings

_WEATHER = {
    "summer": ("高温天气关怀提醒", "【{dealer_name}】{salutation}，您好！近期持续高温，请注意检查轮胎气压和空调系统，切勿将打火机、充电宝留在车内。如需检测，欢迎到店。"),
    "winter": ("寒潮降温关怀提醒", "【{dealer_name}】{salutation}，您好！寒潮来袭，气温骤降，请注意检查防冻液和蓄电池，雨雪天气请减速慢行。如需检测，欢迎到店。"),
    "rain": ("暴雨天气关怀提醒", "【{dealer_name}】{salutation}，您好！近期将有强降雨，请避免驶入积水路段，涉水后请到店检查制动和电路。祝您出行平安！"),
}


def _weather(month: int) -> tuple[str, str]:
    if month in (12, 1, 2):
        return _WEATHER["winter"]
    return _WEATHER["summer"] if month in (7, 8) else _WEATHER["rain"]


def _last_holiday(today: date) -> tuple[str, date] | None:
    """The last holiday greeted before ``today``."""
    days = sorted((d, k) for year in (today.year - 1, today.year) for k, d in chinese_holidays(year).items() if d < today)
    return (days[-1][1], days[-1][0]) if days else None


def _send(ctx: DemoContext, campaign: Campaign, at: datetime, rng) -> None:
    """Release ``campaign`` at ``at``, send every message and give each its receipts."""
    settings = load_settings(ctx.session)
    campaign.status, campaign.released_at = dom.SENDING, at
    campaign_service.release(ctx.session, campaign, now=at, settings=settings)
    messages = (
        ctx.session.query(OutboxMessage)
        .join(CampaignRecipient, CampaignRecipient.message_id == OutboxMessage.id)
        .filter(CampaignRecipient.campaign_id == campaign.id)
        .order_by(OutboxMessage.id)
        .all()
    )
    for m in messages:
        sent = max(m.next_attempt_at, at) + timedelta(seconds=rng.randint(1, 40))
        m.status, m.sent_at, m.tries, m.provider_message_id = outbox.SENT, sent, 1, f"SMdemo{m.id:08d}"
        final = rng.choices(("delivered", "failed", "undelivered"), weights=(92, 5, 3))[0]
        code = {"failed": "30008", "undelivered": "30003"}.get(final)
        for step, status in enumerate(("sent", final)):
            when = sent + timedelta(seconds=5 + step * rng.randint(3, 90))
            receipt = receipts.Receipt(
                f"demo-{m.id}-{status}", "sim", str(m.id), m.provider_message_id, status, status,
                code if status == final else None, when,
            )  # fmt: skip
            receipts.record(ctx.session, receipt, payload={"message_id": m.id, "message_status": status}, now=when)
    campaign.status, campaign.finished_at = dom.SENT, at + timedelta(hours=1)
    ctx.session.flush()


def add_campaigns(ctx: DemoContext) -> None:
    session, rng = ctx.session, ctx.rng("campaigns")
    manager = ctx.users.get(ctx.usernames("care_manager")[0])
    past, coming = _last_holiday(ctx.today), campaign_service.next_holiday(ctx.today)
    made = 0

    def campaign(name: str, kind: str, body: str, send_at: datetime, filters: dict, **kw) -> Campaign:
        row = Campaign(
            name=name, kind=kind, body=body, filters=filters, send_at=send_at, status=dom.DRAFT,
            created_by_id=manager, scheduled_by_id=manager, created_at=send_at - timedelta(days=3),
            updated_at=send_at - timedelta(days=3), **kw,
        )  # fmt: skip
        session.add(row)
        session.flush()
        return row

    if past is not None:
        key, day = past
        at = ctx.local_utc(day, 9, 0)
        sent = campaign(
            dom.default_name(key, day.year), dom.HOLIDAY, dom.default_body(key), at, {"city": ctx.dealer_city},
            holiday=key, holiday_date=day,
        )  # fmt: skip
        _send(ctx, sent, at, rng)
        made += 1
    if ctx.today.day > 2:  # a weather notice earlier this month (R11 counts it)
        day = ctx.today - timedelta(days=rng.randint(1, min(ctx.today.day - 1, 6)))
        at = ctx.local_utc(day, 10, 30)
        name, body = _weather(day.month)
        notice = campaign(name, dom.WEATHER, body, at, {"city": ctx.dealer_city, "open_task": "no"})
        _send(ctx, notice, at, rng)
        made += 1
    if coming is not None:
        key, day = coming
        at = ctx.local_utc(day, 9, 0)
        row = campaign(dom.default_name(key, day.year), dom.HOLIDAY, dom.default_body(key), at, {}, holiday=key, holiday_date=day)
        row.status = dom.SCHEDULED
        made += 1
    session.flush()
    ctx.counts["campaigns"] = made

"""Greeting campaigns (R11, issue 13 item 4): audience, consent, text, release, R11 count."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from care.calendars import chinese_holidays
from care.domain import campaigns as dom
from care.messaging import outbox
from care.models import Campaign, CampaignRecipient, OutboxMessage
from care.services import Actor, ServiceError
from care.services import campaigns as svc
from care.services import settings as settings_service
from care.services.settings import load_settings
from care.services.tasks import timeline
from tests import factories

SH = ZoneInfo("Asia/Shanghai")
# 2026-09-24 10:00 in Shanghai (the day before Mid-Autumn)
NOW = datetime(2026, 9, 24, 10, 0, tzinfo=SH).astimezone(UTC)


@pytest.fixture
def manager(session):
    return factories.make_user(session, "care_manager")


@pytest.fixture
def crowd(session):
    """Five customers in 成都 (one refuses SMS, one has no number), two in 绵阳."""
    made = {}
    for key, kw in {
        "a": {}, "b": {}, "c": {},
        "refuses": {"no_sms": True},
        "no_number": {"mobile": None, "phone2": None},
        "m1": {"city": "绵阳"}, "m2": {"city": "绵阳", "customer_class": "vip"},
    }.items():  # fmt: skip
        made[key] = factories.make_customer(session, **kw)
    factories.make_vehicle(session, made["a"], model="迈腾 2.0T")
    v = factories.make_vehicle(session, made["b"], model="速腾 1.4T")
    factories.make_visit(session, v, date=date(2026, 1, 10))
    factories.make_task(session, made["c"])
    return made


def draft(body="【{dealer_name}】{salutation}，中秋快乐！", *, audience=None, send_at=NOW + timedelta(hours=1), name="中秋问候"):
    return svc.Draft(name, dom.HOLIDAY, body, audience or dom.AudienceFilter(), send_at)


def test_audience_counts_and_the_consent_exclusions(session, crowd):
    reach = svc.audience(session, dom.AudienceFilter(city="成都"))
    assert (reach.matched, reach.no_consent, reach.no_number, reach.reachable) == (5, 1, 1, 3)
    assert svc.audience(session, dom.AudienceFilter(city="绵阳", customer_class="vip")).reachable == 1
    assert svc.audience(session, dom.AudienceFilter(model="迈腾")).reachable == 1
    assert svc.audience(session, dom.AudienceFilter(open_task="yes")).reachable == 1
    assert svc.audience(session, dom.AudienceFilter(open_task="no")).matched == 6
    assert svc.audience(session, dom.AudienceFilter(last_visit_before=date(2026, 2, 1))).reachable == 1
    assert svc.audience(session, dom.AudienceFilter(last_visit_after=date(2026, 2, 1))).matched == 0


def test_preview_renders_three_real_customers(session, crowd):
    samples = svc.preview(session, dom.AudienceFilter(city="成都"), "{salutation}您好，车型{model}", now=NOW)
    assert [c.id for c, _text in samples] == [crowd["a"].id, crowd["b"].id, crowd["c"].id]
    assert samples[0][1] == f"{crowd['a'].name}车主您好，车型迈腾 2.0T"
    assert "【车型】" in samples[2][1]  # no vehicle: the placeholder shows what is missing


def test_unknown_merge_field_is_refused_by_its_name(session, manager):
    with pytest.raises(svc.CampaignInvalid) as caught:
        svc.save(session, None, draft("{salutation}您好 {holiday_name}"), user=manager, now=NOW)
    [problem] = caught.value.problems
    assert problem.params["name"] == "holiday_name" and problem.code == "unknown_field"
    with pytest.raises(svc.CampaignInvalid) as caught:  # a task's field has no value here
        svc.save(session, None, draft("请于{due_date}前到店"), user=manager, now=NOW)
    assert caught.value.problems[0].params["name"] == "due_date"
    assert session.scalar(select(func.count(Campaign.id))) == 0


def test_bad_filter_values_name_their_field():
    with pytest.raises(dom.CampaignError) as caught:
        dom.parse_filter({"last_visit_after": "2026-13-01"}, svc.CLASSES)
    assert caught.value.field == "last_visit_after"
    with pytest.raises(dom.CampaignError) as caught:
        dom.parse_filter({"customer_class": "gold"}, svc.CLASSES)
    assert caught.value.field == "customer_class"
    with pytest.raises(dom.CampaignError):
        dom.parse_filter({"last_visit_after": "2026-05-01", "last_visit_before": "2026-04-01"}, svc.CLASSES)


def test_an_empty_audience_cannot_be_scheduled(session, crowd, manager):
    campaign = svc.save(session, None, draft(audience=dom.AudienceFilter(city="拉萨")), user=manager, now=NOW)
    with pytest.raises(ServiceError) as caught:
        svc.schedule(session, campaign, user=manager, now=NOW)
    assert caught.value.field == "audience"
    assert campaign.status == dom.DRAFT
    # matched, but nobody can be texted: empty too, and said why
    only_refusers = svc.save(session, None, draft(audience=dom.AudienceFilter(city="成都", model="none")), user=manager, now=NOW)
    with pytest.raises(ServiceError):
        svc.schedule(session, only_refusers, user=manager, now=NOW)
    # a scheduled campaign cannot be edited into an empty audience either
    ok = svc.save(session, None, draft(audience=dom.AudienceFilter(city="成都")), user=manager, now=NOW)
    svc.schedule(session, ok, user=manager, now=NOW)
    with pytest.raises(ServiceError) as caught:
        svc.save(session, ok, draft(audience=dom.AudienceFilter(city="拉萨")), user=manager, now=NOW)
    assert caught.value.field == "audience" and ok.filters == {"city": "成都"}


def scheduled(session, manager, **kw) -> Campaign:
    campaign = svc.save(session, None, draft(**kw), user=manager, now=NOW)
    svc.schedule(session, campaign, user=manager, now=NOW)
    return campaign


def campaign_messages(session, campaign) -> list[OutboxMessage]:
    return list(
        session.scalars(
            select(OutboxMessage)
            .join(CampaignRecipient, CampaignRecipient.message_id == OutboxMessage.id)
            .where(CampaignRecipient.campaign_id == campaign.id)
            .order_by(OutboxMessage.id)
        )
    )


def test_release_sends_once_per_customer_even_when_run_twice(session, crowd, manager):
    campaign = scheduled(session, manager)
    assert svc.release_due(session, now=NOW)["messages"] == 0  # not yet time
    at = NOW + timedelta(hours=1)
    first = svc.release_due(session, now=at)
    assert first["campaigns"] == 1 and first["messages"] == 5  # 7 customers, 2 left out
    again = svc.release_due(session, now=at + timedelta(minutes=5))
    assert again["messages"] == 0
    session.refresh(campaign)
    assert campaign.status == dom.SENDING and campaign.excluded == {"audience": 7, "no_consent": 1, "no_number": 1}
    # a second release of the same campaign (a second process) queues nothing new either
    assert svc.release(session, campaign, now=at, settings=load_settings(session)) == 0
    msgs = campaign_messages(session, campaign)
    assert len({m.customer_id for m in msgs}) == len(msgs) == 5
    assert msgs[0].body == f"【Care Desk 4S】{crowd['a'].name}车主，中秋快乐！"
    with pytest.raises(IntegrityError), session.begin_nested():  # the constraint itself
        session.add(CampaignRecipient(campaign_id=campaign.id, customer_id=crowd["a"].id))
        session.flush()


def test_each_send_is_on_the_customers_timeline(session, crowd, manager):
    campaign = scheduled(session, manager)
    svc.release_due(session, now=NOW + timedelta(hours=1))
    entries = [e for e in timeline(session, crowd["a"].id) if e.kind == "message"]
    assert [e.campaign.id for e in entries] == [campaign.id]


def _set(session, **values):
    settings_service.set_settings(session, values, actor=Actor.CLI, now=NOW)
    session.flush()


def test_throttled_and_held_in_quiet_hours(session, crowd, manager):
    _set(session, campaign_sms_per_minute="2")
    # 20:29 in Shanghai: the last minute before quiet hours (the evening slot ends 20:30)
    late = datetime(2026, 9, 24, 20, 29, tzinfo=SH).astimezone(UTC)
    campaign = scheduled(session, manager, send_at=late)
    svc.release_due(session, now=late)
    times = [m.next_attempt_at.astimezone(SH) for m in campaign_messages(session, campaign)]
    assert [t.strftime("%d %H:%M") for t in times] == ["24 20:29", "24 20:29", "25 08:30", "25 08:30", "25 08:31"]
    # the outbox sends what is due at 20:29, defers nothing it should not, and holds the rest
    counts = outbox.send_due(session, settings=load_settings(session), now=late, adapter_for=lambda ch: _log())
    assert counts["sent"] == 2
    night = datetime(2026, 9, 24, 23, 0, tzinfo=SH).astimezone(UTC)
    assert outbox.send_due(session, settings=load_settings(session), now=night, adapter_for=lambda ch: _log())["sent"] == 0


def test_quiet_hours_hold_a_campaign_scheduled_for_the_night(session, crowd, manager):
    night = datetime(2026, 9, 24, 22, 0, tzinfo=SH).astimezone(UTC)
    campaign = scheduled(session, manager, send_at=night)
    svc.release_due(session, now=night)
    first = min(m.next_attempt_at for m in campaign_messages(session, campaign)).astimezone(SH)
    assert (first.date(), first.time()) == (date(2026, 9, 25), time(8, 30))


def _log():
    from care.messaging.adapters import LogAdapter

    return LogAdapter()


def test_sent_when_nothing_left_queued_and_the_counts(session, crowd, manager):
    campaign = scheduled(session, manager)
    at = NOW + timedelta(hours=1)
    svc.release_due(session, now=at)
    outbox.send_due(session, settings=load_settings(session), now=at, adapter_for=lambda ch: _log())
    assert svc.release_due(session, now=at)["finished"] == 1
    session.refresh(campaign)
    assert campaign.status == dom.SENT
    counts = svc.delivery_counts(session, [campaign.id])[campaign.id]
    assert counts == {"queued": 0, "sent": 0, "delivered": 5, "failed": 0, "skipped": 0}  # the log adapter's receipts


def test_cancel_holds_back_what_is_queued(session, crowd, manager):
    campaign = scheduled(session, manager)
    svc.release_due(session, now=NOW + timedelta(hours=1))
    assert svc.cancel(session, campaign, user=manager, now=NOW + timedelta(hours=1)) == 5
    assert {m.status for m in campaign_messages(session, campaign)} == {outbox.SKIPPED}
    with pytest.raises(ServiceError):
        svc.save(session, campaign, draft(), user=manager, now=NOW)


def test_holidays_come_from_the_library_for_2026_and_2027():
    # Spring Festival as published by the State Council: 2026-02-17, 2027-02-06
    h26, h27 = chinese_holidays(2026), chinese_holidays(2027)
    assert h26["spring_festival"] == date(2026, 2, 17) and h27["spring_festival"] == date(2027, 2, 6)
    assert h26["lantern"] == date(2026, 3, 3) and h27["lantern"] == date(2027, 2, 20)  # lunar 1-15
    assert h26["mid_autumn"] == date(2026, 9, 25) and h27["mid_autumn"] == date(2027, 9, 15)
    assert h26["dragon_boat"] == date(2026, 6, 19) and h27["dragon_boat"] == date(2027, 6, 9)
    assert h26["qingming"] == date(2026, 4, 5) and h26["labour_day"] == date(2026, 5, 1)
    assert h26["national_day"] == date(2026, 10, 1) and h27["new_year"] == date(2027, 1, 1)
    assert set(h26) == set(h27) == set(dom.HOLIDAY_KEYS)


def test_the_months_holidays_are_proposed_as_drafts_once(session, manager):
    assert [k for k, _d in svc.proposed_holidays(session, date(2027, 2, 1))] == ["spring_festival", "lantern"]
    campaign = svc.create_holiday_draft(session, "spring_festival", date(2027, 2, 6), user=manager, now=NOW)
    assert campaign.status == dom.DRAFT and "{salutation}" in campaign.body
    assert campaign.send_at.astimezone(SH) == datetime(2027, 2, 6, 9, 0, tzinfo=SH)
    assert [k for k, _d in svc.proposed_holidays(session, date(2027, 2, 1))] == ["lantern"]
    assert svc.create_holiday_draft(session, "spring_festival", date(2027, 2, 6), user=manager, now=NOW) is campaign
    with pytest.raises(ServiceError):
        svc.create_holiday_draft(session, "spring_festival", date(2027, 2, 7), user=manager, now=NOW)


def test_fewer_than_three_campaigns_a_month_is_a_violation(session, crowd, manager):
    settings = load_settings(session)
    september = date(2026, 9, 1)
    [found] = svc.find_violations(session, september, settings)
    assert found["rule"] == "greetings_short" and found["evidence"] == [] and found["count"] == 1
    ids = []
    for i in range(3):
        c = scheduled(session, manager, name=f"通知{i}")
        ids.append(c.id)
        svc.release_due(session, now=NOW + timedelta(hours=1))
        if i == 1:
            [found] = svc.find_violations(session, september, settings)
            assert found["evidence"] == [("campaign", ids[0]), ("campaign", ids[1])]
            assert svc.month_count(session, september, settings).missing == 1
    assert svc.find_violations(session, september, settings) == []
    assert svc.find_violations(session, date(2026, 10, 1), settings)[0]["evidence"] == []


def test_greetings_sent_counts_the_campaigns(app, session, crowd, manager, runner):
    scheduled(session, manager)
    svc.release_due(session, now=NOW + timedelta(hours=1))
    session.commit()
    result = runner.invoke(args=["care", "report", "--month", "2026-09", "--json"], catch_exceptions=False)
    doc = json.loads(result.output)
    assert doc["greetings_sent"] == 1 and doc["greetings_by_kind"]["campaigns"] == 1

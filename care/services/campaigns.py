"""Greeting campaigns (domain.md §3 R11; issue 13 item 4): the care manager's holiday
greetings and special-weather notices, sent by SMS to an audience chosen by filters.

- :func:`audience` counts who a filter reaches and who it leaves out and why (no SMS
  consent; no number); :func:`preview` renders the text for three real customers;
- :func:`save` (create or edit a draft or scheduled campaign: the text's merge fields
  validated, an unknown one refused by its name), :func:`schedule` (refused for an
  empty audience or no send time), :func:`cancel`;
- :func:`release_due` (the sweep and ``care outbox`` call it): each scheduled campaign
  whose send time has come is claimed once (a conditional UPDATE scheduled → sending),
  its audience read then, one outbox message per customer with consent and a number,
  throttled (``campaign_sms_per_minute``) and never in quiet hours (the SMS hours of
  care.messaging.outbox.sms_hours), one ``CampaignRecipient`` per customer (unique per
  campaign: never two messages to one customer, however often it runs); a campaign
  with nothing left queued is ``sent``;
- :func:`proposed_holidays` / :func:`create_holiday_draft`: the month's holidays from the
  holiday library (care/calendars.py) proposed as drafts;
- :func:`month_count` and :func:`find_violations` (R11: at least ``campaigns_per_month``
  campaigns sent a month), :func:`sent_between` for ``greetings_sent``.

A campaign counts as sent in the month its messages were released (``released_at``, the
dealer's month). Services flush, never commit.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

from sqlalchemy import and_, exists, func, not_, or_, select, update
from sqlalchemy.orm import Session

from care.calendars import chinese_holidays
from care.domain import N_
from care.domain import campaigns as dom
from care.domain import scripts as script_rules
from care.domain.dates import first_of_month, local_date, local_datetime, to_local
from care.domain.settings import Settings
from care.messaging import outbox
from care.messaging import receipts as receipt_service
from care.models import (
    OPEN_STATUSES,
    Campaign,
    CampaignRecipient,
    CareTask,
    Customer,
    CustomerClass,
    OutboxMessage,
    ServiceVisit,
    User,
    Vehicle,
)
from care.services import Actor, ServiceError, audit
from care.services.settings import load_settings

CLASSES = tuple(c.value for c in CustomerClass)
KEY_PREFIX = "campaign"


def message_key(campaign_id: int, customer_id: int) -> str:
    return f"{KEY_PREFIX}:{campaign_id}:{customer_id}"


class CampaignInvalid(ServiceError):
    """The text has problems (each with its line, column and the field's name)."""

    def __init__(self, problems: list[script_rules.TemplateProblem]):
        super().__init__(N_("The message has %(count)s problem(s); nothing was saved."), field="body", count=len(problems))
        self.problems = problems


def refused(exc: dom.CampaignError) -> ServiceError:
    return ServiceError(exc.template, field=exc.field, **exc.params)


# --- the audience ------------------------------------------------------------------------


def _last_visit():
    return (
        select(Vehicle.customer_id.label("customer_id"), func.max(ServiceVisit.date).label("last_visit"))
        .join(ServiceVisit, ServiceVisit.vehicle_id == Vehicle.id)
        .group_by(Vehicle.customer_id)
        .subquery()
    )


def audience_statement(f: dom.AudienceFilter, *columns):
    """Customers matching every filter given (``columns``: what to select, default the
    Customer)."""
    stmt = select(*(columns or (Customer,)))
    if f.city:
        stmt = stmt.where(Customer.city == f.city)
    if f.customer_class:
        stmt = stmt.where(Customer.customer_class == f.customer_class)
    if f.model:
        like = "%" + f.model.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        stmt = stmt.where(exists().where(Vehicle.customer_id == Customer.id, Vehicle.model.ilike(like, escape="\\")))
    if f.last_visit_after or f.last_visit_before:
        last = _last_visit()
        stmt = stmt.outerjoin(last, last.c.customer_id == Customer.id)
        if f.last_visit_after:
            stmt = stmt.where(last.c.last_visit >= f.last_visit_after)
        if f.last_visit_before:
            stmt = stmt.where(last.c.last_visit < f.last_visit_before)
    if f.open_task:
        has_open = exists().where(CareTask.customer_id == Customer.id, CareTask.status.in_(OPEN_STATUSES))
        stmt = stmt.where(has_open if f.open_task == "yes" else not_(has_open))
    return stmt


def _has_number():
    return or_(
        and_(Customer.mobile.is_not(None), Customer.mobile != ""),
        and_(Customer.phone2.is_not(None), Customer.phone2 != ""),
    )


def _reachable():
    return and_(Customer.no_sms.is_(False), _has_number())


@dataclass(frozen=True)
class Audience:
    matched: int  # every customer the filters match
    no_consent: int  # refused text messages
    no_number: int  # consent, but no number to text

    @property
    def reachable(self) -> int:
        return self.matched - self.no_consent - self.no_number


def audience(session: Session, f: dom.AudienceFilter) -> Audience:
    """Who the filter reaches, and who it leaves out and why (one query)."""
    inner = audience_statement(
        f, Customer.id, Customer.no_sms.label("no_sms"), _has_number().label("has_number")
    ).subquery()
    matched, no_consent, no_number = session.execute(
        select(
            func.count(),
            func.count().filter(inner.c.no_sms.is_(True)),
            func.count().filter(inner.c.no_sms.is_(False), inner.c.has_number.is_(False)),
        ).select_from(inner)
    ).one()
    return Audience(int(matched), int(no_consent), int(no_number))


def _number(customer: Customer) -> str | None:
    return customer.mobile or customer.phone2


def _contexts(session: Session, customers: list[Customer], settings: Settings, now: datetime) -> dict[int, dict]:
    """The merge values of each customer (their first vehicle, its last visit), in two
    queries whatever the number of customers."""
    ids = [c.id for c in customers]
    vehicles: dict[int, Vehicle] = {}
    for v in session.scalars(
        select(Vehicle).where(Vehicle.customer_id.in_(ids)).order_by(Vehicle.delivery_date.desc(), Vehicle.id)
    ):
        vehicles.setdefault(v.customer_id, v)
    last = _last_visit()
    visits = dict(session.execute(select(last.c.customer_id, last.c.last_visit).where(last.c.customer_id.in_(ids))).all())
    today = local_date(now, settings.timezone)
    found = {}
    for c in customers:
        v = vehicles.get(c.id)
        found[c.id] = {
            "customer_name": c.name,
            "salutation": script_rules.salutation(c.name),
            "plate": v.plate if v else None,
            "model": v.model if v else None,
            "vin_last6": v.vin[-6:] if v and v.vin else None,
            "delivery_date": v.delivery_date if v else None,
            "last_visit_date": visits.get(c.id),
            "dealer_name": settings.dealer_name,
            "today": today,
            **script_rules.fixed_values(),
        }
    return found


def preview(
    session: Session, f: dom.AudienceFilter, body: str, *, now: datetime, settings: Settings | None = None
) -> list[tuple[Customer, str]]:
    """The text as three real customers of the audience would get it."""
    settings = settings or load_settings(session)
    customers = list(
        session.scalars(audience_statement(f).where(_reachable()).order_by(Customer.id).limit(dom.PREVIEW_SIZE))
    )
    contexts = _contexts(session, customers, settings, now)
    return [(c, script_rules.render(body, contexts[c.id])) for c in customers]


# --- saving ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Draft:
    """What the form gives: checked by :func:`check`."""

    name: str
    kind: str
    body: str
    audience: dom.AudienceFilter
    send_at: datetime | None


def check(draft: Draft) -> Draft:
    """The draft with its text normalized; ServiceError / CampaignInvalid when refused."""
    name = " ".join((draft.name or "").split())
    if not name:
        raise ServiceError(N_("Give the campaign a name."), field="name")
    if len(name) > dom.MAX_NAME:
        raise ServiceError(N_("At most %(max)s characters."), field="name", max=dom.MAX_NAME)
    if draft.kind not in dom.KINDS:
        raise ServiceError(N_("Choose a holiday greeting or a special-weather notice."), field="kind")
    body = script_rules.normalize_body(draft.body or "").strip()
    if not body:
        raise ServiceError(N_("The message is empty."), field="body")
    if len(body) > dom.MAX_BODY:
        raise ServiceError(N_("The message may have at most %(max)s characters."), field="body", max=dom.MAX_BODY)
    problems = dom.body_problems(body)
    if problems:
        raise CampaignInvalid(problems)
    return Draft(name, draft.kind, body, draft.audience, draft.send_at)


def _editable(campaign: Campaign) -> None:
    if campaign.status not in dom.EDITABLE:
        raise ServiceError(N_("This campaign is %(status)s: it can no longer be changed."), status=campaign.status)


def save(
    session: Session, campaign: Campaign | None, draft: Draft, *, user: User, now: datetime, ip: str | None = None
) -> Campaign:
    """Create (``campaign`` None) or change a draft or scheduled campaign."""
    draft = check(draft)
    if campaign is None:
        campaign = Campaign(status=dom.DRAFT, created_by_id=user.id, created_at=now)
        session.add(campaign)
    else:
        _editable(campaign)
        if campaign.status == dom.SCHEDULED:
            _not_empty(audience(session, draft.audience))
    campaign.name, campaign.kind, campaign.body = draft.name, draft.kind, draft.body
    campaign.filters = draft.audience.as_json()
    campaign.send_at = draft.send_at
    campaign.updated_at = now
    session.flush()
    audit.record(session, actor=Actor.of(user, ip), action="campaign.save", object_type="campaign", object_id=campaign.id, now=now)
    return campaign


def filter_of(campaign: Campaign) -> dom.AudienceFilter:
    return dom.AudienceFilter.from_json(campaign.filters)


def _not_empty(reach: Audience) -> Audience:
    """``reach``, unless nobody in it can be texted: refused, saying why."""
    if reach.reachable == 0:
        raise ServiceError(
            N_("The audience is empty: %(matched)s customer(s) match, none can be texted (%(no_consent)s without SMS consent, %(no_number)s without a number)."),
            field="audience", matched=reach.matched, no_consent=reach.no_consent, no_number=reach.no_number,
        )  # fmt: skip
    return reach


def schedule(session: Session, campaign: Campaign, *, user: User, now: datetime, ip: str | None = None) -> Audience:
    """Schedule a draft for its send time; refused without a send time, with one in the
    past, or for an audience nobody can be texted in."""
    if campaign.status != dom.DRAFT:
        raise ServiceError(N_("Only a draft can be scheduled."))
    check(Draft(campaign.name, campaign.kind, campaign.body, filter_of(campaign), campaign.send_at))
    if campaign.send_at is None:
        raise ServiceError(N_("Choose when the campaign is sent."), field="send_at")
    if campaign.send_at < now - timedelta(hours=1):
        raise ServiceError(N_("The send time has passed: choose a later one."), field="send_at")
    reach = _not_empty(audience(session, filter_of(campaign)))
    campaign.status = dom.SCHEDULED
    campaign.scheduled_by_id = user.id
    campaign.updated_at = now
    audit.record(session, actor=Actor.of(user, ip), action="campaign.schedule", object_type="campaign", object_id=campaign.id, now=now)
    session.flush()
    return reach


CANCELLED_MESSAGE = "campaign_cancelled"  # last_error of a campaign message cancelled before it went


def cancel(session: Session, campaign: Campaign, *, user: User, now: datetime, ip: str | None = None) -> int:
    """Cancel a campaign that is not sent yet; its messages still queued are skipped.
    Returns how many messages were held back."""
    if campaign.status in (dom.SENT, dom.CANCELLED):
        raise ServiceError(N_("This campaign is %(status)s: it can no longer be changed."), status=campaign.status)
    ids = select(CampaignRecipient.message_id).where(CampaignRecipient.campaign_id == campaign.id)
    held = session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.id.in_(ids), OutboxMessage.status == outbox.QUEUED)
        .values(status=outbox.SKIPPED, last_error=CANCELLED_MESSAGE)
        .execution_options(synchronize_session=False)
    ).rowcount
    campaign.status = dom.CANCELLED
    campaign.cancelled_at, campaign.cancelled_by_id = now, user.id
    audit.record(
        session, actor=Actor.of(user, ip), action="campaign.cancel", object_type="campaign", object_id=campaign.id,
        now=now, detail={"held": held},
    )  # fmt: skip
    session.flush()
    return held


# --- sending -----------------------------------------------------------------------------


def _sms_window(settings: Settings) -> tuple[time, time]:
    return settings.workday_start, max(slot.end for slot in settings.call_slots)


def release(session: Session, campaign: Campaign, *, now: datetime, settings: Settings) -> int:
    """Queue the messages of a campaign claimed for sending (see the module docstring);
    returns how many were queued now. Customers who already have a message of this
    campaign are skipped (the unique recipient row)."""
    f = filter_of(campaign)
    reach = audience(session, f)
    have = select(CampaignRecipient.customer_id).where(CampaignRecipient.campaign_id == campaign.id)
    customers = list(
        session.scalars(
            audience_statement(f).where(_reachable(), Customer.id.not_in(have)).order_by(Customer.id)
        )
    )
    opens, closes = _sms_window(settings)
    start = to_local(max(now, campaign.send_at or now), settings.timezone)
    times = dom.release_times(start, len(customers), settings.campaign_sms_per_minute, opens, closes)
    queued = 0
    for chunk_start in range(0, len(customers), 500):
        chunk = customers[chunk_start : chunk_start + 500]
        contexts = _contexts(session, chunk, settings, now)
        for customer, at in zip(chunk, times, strict=False):
            message = outbox.queue(
                session, channel="sms", to=_number(customer), body=script_rules.render(campaign.body, contexts[customer.id]),
                customer_id=customer.id, task_id=None, key=message_key(campaign.id, customer.id), now=now,
            )  # fmt: skip
            message.next_attempt_at = at
            session.add(CampaignRecipient(campaign_id=campaign.id, customer_id=customer.id, message_id=message.id, created_at=now))
            queued += 1
        session.flush()
    campaign.excluded = {"audience": reach.matched, "no_consent": reach.no_consent, "no_number": reach.no_number}
    return queued


def release_due(session: Session, *, now: datetime, settings: Settings | None = None) -> dict[str, int]:
    """Release every scheduled campaign whose send time has come (each claimed once: a
    second run, or a second process, finds it sending and queues nothing), then mark
    ``sent`` those with nothing left queued. Returns ``{"campaigns", "messages", "finished"}``."""
    settings = settings or load_settings(session)
    due = list(
        session.scalars(
            select(Campaign.id).where(Campaign.status == dom.SCHEDULED, Campaign.send_at <= now).order_by(Campaign.send_at)
        )
    )
    released = messages = 0
    for campaign_id in due:
        claimed = session.execute(
            update(Campaign)
            .where(Campaign.id == campaign_id, Campaign.status == dom.SCHEDULED)
            .values(status=dom.SENDING, released_at=now)
            .execution_options(synchronize_session=False)
        ).rowcount
        if claimed != 1:
            continue
        campaign = session.get(Campaign, campaign_id)
        session.refresh(campaign)
        messages += release(session, campaign, now=now, settings=settings)
        released += 1
    return {"campaigns": released, "messages": messages, "finished": finish_sent(session, now=now)}


def finish_sent(session: Session, *, now: datetime) -> int:
    """Campaigns sending with no message left queued become ``sent``."""
    still = (
        select(CampaignRecipient.id)
        .join(OutboxMessage, OutboxMessage.id == CampaignRecipient.message_id)
        .where(CampaignRecipient.campaign_id == Campaign.id, OutboxMessage.status == outbox.QUEUED)
    )
    return session.execute(
        update(Campaign)
        .where(Campaign.status == dom.SENDING, ~exists(still))
        .values(status=dom.SENT, finished_at=now)
        .execution_options(synchronize_session=False)
    ).rowcount


def delivery_counts(session: Session, campaign_ids: list[int]) -> dict[int, dict[str, int]]:
    """Per campaign: its messages queued, sent (no final receipt yet), delivered, failed,
    skipped (consent withdrawn since, or cancelled)."""
    found = {i: receipt_service.counts(session, None) for i in campaign_ids}
    if not campaign_ids:
        return found
    rows = session.execute(
        select(CampaignRecipient.campaign_id, OutboxMessage.status, OutboxMessage.delivery_status, func.count())
        .join(OutboxMessage, OutboxMessage.id == CampaignRecipient.message_id)
        .where(CampaignRecipient.campaign_id.in_(campaign_ids))
        .group_by(CampaignRecipient.campaign_id, OutboxMessage.status, OutboxMessage.delivery_status)
    ).all()
    for campaign_id, status, delivery, n in rows:
        found[campaign_id][receipt_service.bucket(status, delivery)] += int(n)
    return found


# --- holidays ----------------------------------------------------------------------------


def holidays_in(month: date) -> list[tuple[str, date]]:
    """The holidays greeted that fall in ``month``, by date (from the holiday library)."""
    days = chinese_holidays(month.year)
    return sorted(((k, d) for k, d in days.items() if d.year == month.year and d.month == month.month), key=lambda x: x[1])


def next_holiday(today: date) -> tuple[str, date] | None:
    """The first holiday greeted after ``today`` (this year's or next year's)."""
    days = sorted((d, k) for year in (today.year, today.year + 1) for k, d in chinese_holidays(year).items() if d > today)
    return (days[0][1], days[0][0]) if days else None


def proposed_holidays(session: Session, month: date) -> list[tuple[str, date]]:
    """The month's holidays with no campaign for them yet (cancelled ones apart)."""
    found = []
    for key, day in holidays_in(month):
        taken = session.scalar(
            select(Campaign.id).where(Campaign.holiday == key, Campaign.holiday_date == day, Campaign.status != dom.CANCELLED).limit(1)
        )
        if taken is None:
            found.append((key, day))
    return found


def create_holiday_draft(
    session: Session, holiday: str, day: date, *, user: User, now: datetime, settings: Settings | None = None,
    ip: str | None = None,
) -> Campaign:
    """A draft greeting for a proposed holiday: every customer, at 09:00 on the day
    (the customer reads it that morning); refused for a holiday not on that day."""
    settings = settings or load_settings(session)
    if holiday not in dom.HOLIDAY_KEYS or chinese_holidays(day.year).get(holiday) != day:
        raise ServiceError(N_("No such holiday on that day."), field="holiday")
    existing = session.scalar(
        select(Campaign).where(Campaign.holiday == holiday, Campaign.holiday_date == day, Campaign.status != dom.CANCELLED).limit(1)
    )
    if existing is not None:
        return existing
    campaign = Campaign(
        name=dom.default_name(holiday, day.year), kind=dom.HOLIDAY, holiday=holiday, holiday_date=day,
        body=dom.default_body(holiday), filters={}, status=dom.DRAFT, created_by_id=user.id, created_at=now,
        send_at=local_datetime(day, time(9, 0), settings.timezone),
    )  # fmt: skip
    session.add(campaign)
    session.flush()
    audit.record(session, actor=Actor.of(user, ip), action="campaign.propose", object_type="campaign", object_id=campaign.id, now=now)
    return campaign


# --- R11: the month ----------------------------------------------------------------------


def _month_bounds(month: date, settings: Settings) -> tuple[datetime, datetime]:
    first = first_of_month(month)
    nxt = (first + timedelta(days=32)).replace(day=1)
    return local_datetime(first, time(0), settings.timezone), local_datetime(nxt, time(0), settings.timezone)


def sent_between(session: Session, since: datetime, until: datetime) -> int:
    """Campaigns released in [since, until) (sending or sent)."""
    return int(
        session.scalar(
            select(func.count(Campaign.id)).where(
                Campaign.status.in_(dom.COUNTED), Campaign.released_at >= since, Campaign.released_at < until
            )
        )
        or 0
    )


def month_count(session: Session, month: date, settings: Settings | None = None) -> dom.MonthCount:
    """R11 for the dealer's ``month``: sent, still scheduled within it, required."""
    settings = settings or load_settings(session)
    since, until = _month_bounds(month, settings)
    scheduled = session.scalar(
        select(func.count(Campaign.id)).where(
            Campaign.status == dom.SCHEDULED, Campaign.send_at >= since, Campaign.send_at < until
        )
    )
    return dom.short_of(sent_between(session, since, until), int(scheduled or 0), settings.campaigns_per_month)


def find_violations(session: Session, month_start: date, settings: Settings) -> list[dict[str, Any]]:
    """R11 for the violations registry: one ``greetings_short`` finding when fewer than
    ``campaigns_per_month`` campaigns were sent in the month, with the sent ones as
    evidence."""
    since, until = _month_bounds(month_start, settings)
    sent = list(
        session.scalars(
            select(Campaign.id)
            .where(Campaign.status.in_(dom.COUNTED), Campaign.released_at >= since, Campaign.released_at < until)
            .order_by(Campaign.released_at, Campaign.id)
        )
    )
    required = settings.campaigns_per_month
    if len(sent) >= required:
        return []
    return [
        {
            "rule": "greetings_short",
            "person_id": None,
            "evidence": [("campaign", i) for i in sent],
            "count": 1,
            "detail": {"month": f"{month_start:%Y-%m}", "sent": len(sent), "required": required},
        }
    ]


# --- reading -----------------------------------------------------------------------------


def listing_statement(status: str | None = None):
    stmt = select(Campaign).order_by(Campaign.created_at.desc(), Campaign.id.desc())
    if status:
        stmt = stmt.where(Campaign.status == status)
    return stmt


def recipients_statement(campaign_id: int):
    return (
        select(CampaignRecipient)
        .where(CampaignRecipient.campaign_id == campaign_id)
        .order_by(CampaignRecipient.id)
    )


def campaign_of_messages(session: Session, message_ids: list[int]) -> dict[int, Campaign]:
    """The campaign of each of these outbox messages (the customer's timeline)."""
    if not message_ids:
        return {}
    rows = session.execute(
        select(CampaignRecipient.message_id, Campaign)
        .join(Campaign, Campaign.id == CampaignRecipient.campaign_id)
        .where(CampaignRecipient.message_id.in_(message_ids))
    ).all()
    return {mid: c for mid, c in rows}


def this_month(now: datetime, settings: Settings) -> date:
    return first_of_month(local_date(now, settings.timezone))

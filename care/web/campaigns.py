"""Greeting campaigns (R11; care/services/campaigns.py): the care manager's holiday
greetings and special-weather notices.

GET  /campaigns/                       campaigns.index     the month's R11 count (short: said so
                                                           before the month ends), the month's
                                                           holidays proposed as drafts, every
                                                           campaign with its message counts
POST /campaigns/propose                campaigns.propose   form holiday, day: a draft for it, 303
GET  /campaigns/new                    campaigns.new       the form (live audience, preview)
POST /campaigns/new                    campaigns.create    303 to the campaign; 422 with the reasons
POST /campaigns/audience               campaigns.audience  htmx: the audience count, who is left
                                                           out and why, three real messages
GET  /campaigns/<id>                   campaigns.detail    the campaign, its counts and recipients
POST /campaigns/<id>                   campaigns.update    303; 422 with the reasons
POST /campaigns/<id>/schedule          campaigns.schedule  303; 422 (empty audience, no time …)
POST /campaigns/<id>/cancel            campaigns.cancel    303; 422 when already sent

Who: the care manager writes; the general manager reads. Campaigns are the
department's, not one person's: no ownership beyond the role.
"""

from __future__ import annotations

import logging
from datetime import date, datetime, timedelta

from flask import Blueprint, abort, flash, g, redirect, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy.exc import SQLAlchemyError

from care.domain import campaigns as dom
from care.domain.dates import local_date, local_datetime, to_local
from care.domain.roles import Role
from care.extensions import db
from care.models import Campaign, Customer
from care.services import ServiceError
from care.services import campaigns as svc
from care.web.access import roles_required, user_can
from care.web.calls import now as request_now
from care.web.htmx import render
from care.web.i18n import translated
from care.web.paging import paginate
from care.web.request_settings import current_settings

bp = Blueprint("campaigns", __name__, url_prefix="/campaigns")
log = logging.getLogger(__name__)

READERS = (Role.CARE_MANAGER, Role.GENERAL_MANAGER)
EDITORS = (Role.CARE_MANAGER,)
FILTER_FIELDS = ("city", "model", "customer_class", "last_visit_after", "last_visit_before", "open_task")


def campaigns_missing() -> int:
    """For the navigation: how many campaigns the month still lacks (R11), for those who
    write campaigns; counted once per request, 0 when the database cannot answer."""
    if "campaigns_missing" not in g:
        g.campaigns_missing = 0
        if current_user.is_authenticated and user_can("campaigns.create"):
            try:
                settings = current_settings()
                g.campaigns_missing = svc.month_count(db.session, svc.this_month(request_now(), settings), settings).missing
            except SQLAlchemyError as exc:
                log.warning("campaigns not counted: %s", type(exc).__name__)
    return g.campaigns_missing


@bp.app_context_processor
def _campaigns_missing_global() -> dict:
    return {"campaigns_missing": campaigns_missing}


def _problems(exc: Exception) -> list[str]:
    """The reasons of a refusal, each line by itself (a text's: with line and column)."""
    errors = [translated(exc)]
    for p in getattr(exc, "problems", ()):
        text = _(p.message, **p.params) if p.params else _(p.message)
        errors.append(_("Line %(line)s, column %(column)s: %(problem)s", line=p.line, column=p.column, problem=text))
    return errors


def _send_at(raw: str | None, tz: str) -> datetime | None:
    raw = (raw or "").strip()
    if not raw:
        return None
    try:
        value = datetime.fromisoformat(raw)
    except ValueError:
        raise ServiceError(_("“%(value)s” is not a date and time.", value=raw[:20]), field="send_at") from None
    if value.tzinfo is not None or not 2000 <= value.year <= 2100:
        raise ServiceError(_("“%(value)s” is not a date and time.", value=raw[:20]), field="send_at")
    return local_datetime(value.date(), value.time(), tz)


def _choices(session) -> dict:
    """What the audience form offers: the cities and models in the data."""
    from sqlalchemy import select

    from care.models import Vehicle

    cities = [c for c in session.scalars(select(Customer.city).where(Customer.city.is_not(None)).distinct().order_by(Customer.city)) if c]
    models = [m for m in session.scalars(select(Vehicle.model).where(Vehicle.model.is_not(None)).distinct().order_by(Vehicle.model)) if m]
    return {"cities": cities[:200], "models": models[:200], "classes": svc.CLASSES, "holiday_labels": dom.HOLIDAY_LABELS}


def _form_values(campaign: Campaign | None, tz: str) -> dict:
    if campaign is None:
        return {"name": "", "kind": dom.HOLIDAY, "body": "", "send_at": "", **dict.fromkeys(FILTER_FIELDS, "")}
    f = svc.filter_of(campaign).as_json()
    send_at = to_local(campaign.send_at, tz).strftime("%Y-%m-%dT%H:%M") if campaign.send_at else ""
    return {
        "name": campaign.name, "kind": campaign.kind, "body": campaign.body, "send_at": send_at,
        **{k: str(f.get(k) or "") for k in FILTER_FIELDS},
    }  # fmt: skip


def _read_form(tz: str) -> tuple[dict, svc.Draft]:
    """The form's values as typed (for showing again) and the draft (ServiceError: why not)."""
    form = request.form
    values = {k: form.get(k, "") for k in ("name", "kind", "body", "send_at", *FILTER_FIELDS)}
    try:
        audience = dom.parse_filter(form, svc.CLASSES)
    except dom.CampaignError as exc:
        raise svc.refused(exc) from None
    draft = svc.Draft(values["name"], values["kind"], values["body"], audience, _send_at(values["send_at"], tz))
    return values, draft


def _audience_context(values: dict, error: str | None = None) -> dict:
    """The live panel: the count, who is left out and why, three real messages."""
    settings = current_settings()
    try:
        f = dom.parse_filter(values, svc.CLASSES)
    except dom.CampaignError as exc:
        return {"reach": None, "samples": [], "audience_error": translated(svc.refused(exc)), "body_errors": []}
    reach = svc.audience(db.session, f)
    body = (values.get("body") or "").strip()
    body_errors = _problems(svc.CampaignInvalid(dom.body_problems(body)))[1:] if body else []
    samples = svc.preview(db.session, f, body, now=request_now(), settings=settings) if body and not body_errors else []
    return {"reach": reach, "samples": samples, "audience_error": error, "body_errors": body_errors}


def _form_page(campaign: Campaign | None, values: dict, errors: list[str] | None = None, status: int = 200):
    return (
        render(
            "campaigns/form.html", "campaigns/form.html",
            campaign=campaign, values=values, errors=errors or [], **_choices(db.session),
            **_audience_context(values),
        ),
        status,
    )  # fmt: skip


def _get(campaign_id: int) -> Campaign:
    campaign = db.session.get(Campaign, campaign_id)
    if campaign is None:
        abort(404)
    return campaign


@bp.route("/")
@roles_required(*READERS)
def index():
    settings = current_settings()
    now = request_now()
    month = svc.this_month(now, settings)
    pagination = paginate(svc.listing_statement())
    campaigns = list(pagination.items)
    return render(
        "campaigns/index.html", "campaigns/index.html",
        pagination=pagination, campaigns=campaigns,
        counts=svc.delivery_counts(db.session, [c.id for c in campaigns]),
        month=month, month_count=svc.month_count(db.session, month, settings),
        proposed=svc.proposed_holidays(db.session, month) + _next_month_proposals(month),
        month_has_holidays=bool(svc.holidays_in(month)), next_holiday=svc.next_holiday(local_date(now, settings.timezone)),
        holiday_labels=dom.HOLIDAY_LABELS, today=local_date(now, settings.timezone),
        can_edit=user_can("campaigns.create"),
    )  # fmt: skip


def _next_month_proposals(month: date) -> list[tuple[str, date]]:
    """Next month's holidays too, in the last week of a month (a greeting is prepared
    ahead: the 1st of the month is New Year's Day or Labour Day or National Day)."""
    today = local_date(request_now(), current_settings().timezone)
    nxt = (month.replace(day=28) + timedelta(days=4)).replace(day=1)
    if (nxt - today).days > 7:
        return []
    return svc.proposed_holidays(db.session, nxt)


@bp.route("/propose", methods=["POST"])
@roles_required(*EDITORS)
def propose():
    holiday = request.form.get("holiday", "").strip()
    try:
        day = date.fromisoformat(request.form.get("day", "").strip())
    except ValueError:
        abort(400, description=_("No such holiday on that day."))
    try:
        campaign = svc.create_holiday_draft(
            db.session, holiday, day, user=current_user, now=request_now(), settings=current_settings(),
            ip=request.remote_addr,
        )  # fmt: skip
    except ServiceError as exc:
        abort(400, description=translated(exc))
    flash(_("A draft greeting was created: check its text and audience, then schedule it."), "success")
    return redirect(url_for("campaigns.detail", campaign_id=campaign.id), code=303)


@bp.route("/new")
@roles_required(*EDITORS)
def new():
    values = _form_values(None, current_settings().timezone)
    return _form_page(None, values)


@bp.route("/new", methods=["POST"])
@roles_required(*EDITORS)
def create():
    tz = current_settings().timezone
    values = {k: request.form.get(k, "") for k in ("name", "kind", "body", "send_at", *FILTER_FIELDS)}
    try:
        values, draft = _read_form(tz)
        campaign = svc.save(db.session, None, draft, user=current_user, now=request_now(), ip=request.remote_addr)
    except ServiceError as exc:
        return _form_page(None, values, _problems(exc), 422)
    flash(_("The campaign was saved as a draft."), "success")
    return redirect(url_for("campaigns.detail", campaign_id=campaign.id), code=303)


@bp.route("/audience", methods=["POST"])
@roles_required(*EDITORS)
def audience():
    values = {k: request.form.get(k, "") for k in ("body", *FILTER_FIELDS)}
    return render("campaigns/_audience.html", "campaigns/_audience.html", **_audience_context(values))


def _detail_page(campaign: Campaign, values: dict | None = None, errors: list[str] | None = None, status: int = 200):
    tz = current_settings().timezone
    values = values or _form_values(campaign, tz)
    pagination = paginate(svc.recipients_statement(campaign.id))
    return (
        render(
            "campaigns/detail.html", "campaigns/detail.html",
            campaign=campaign, values=values, errors=errors or [], pagination=pagination,
            recipients=list(pagination.items), counts=svc.delivery_counts(db.session, [campaign.id])[campaign.id],
            editable=campaign.status in dom.EDITABLE and user_can("campaigns.update"),
            **_choices(db.session), **_audience_context(values),
        ),
        status,
    )  # fmt: skip


@bp.route("/<id:campaign_id>")
@roles_required(*READERS)
def detail(campaign_id: int):
    return _detail_page(_get(campaign_id))


@bp.route("/<id:campaign_id>", methods=["POST"])
@roles_required(*EDITORS)
def update(campaign_id: int):
    campaign = _get(campaign_id)
    values = {k: request.form.get(k, "") for k in ("name", "kind", "body", "send_at", *FILTER_FIELDS)}
    try:
        values, draft = _read_form(current_settings().timezone)
        svc.save(db.session, campaign, draft, user=current_user, now=request_now(), ip=request.remote_addr)
    except ServiceError as exc:
        return _detail_page(campaign, values, _problems(exc), 422)
    flash(_("The campaign was saved."), "success")
    return redirect(url_for("campaigns.detail", campaign_id=campaign.id), code=303)


def _act(campaign_id: int, action, message):
    """Schedule or cancel: the service's ``action``, then 303 with ``message(result)``;
    a refusal re-renders the page with its reason (422)."""
    campaign = _get(campaign_id)
    try:
        result = action(db.session, campaign, user=current_user, now=request_now(), ip=request.remote_addr)
    except ServiceError as exc:
        return _detail_page(campaign, None, [translated(exc)], 422)
    flash(message(result), "success")
    return redirect(url_for("campaigns.detail", campaign_id=campaign.id), code=303)


@bp.route("/<id:campaign_id>/schedule", methods=["POST"])
@roles_required(*EDITORS)
def schedule(campaign_id: int):
    return _act(
        campaign_id, svc.schedule,
        lambda reach: _("Scheduled: %(count)s customer(s) will get the message.", count=reach.reachable),
    )  # fmt: skip


@bp.route("/<id:campaign_id>/cancel", methods=["POST"])
@roles_required(*EDITORS)
def cancel(campaign_id: int):
    return _act(
        campaign_id, svc.cancel,
        lambda held: _("The campaign was cancelled; %(count)s message(s) held back.", count=held),
    )  # fmt: skip

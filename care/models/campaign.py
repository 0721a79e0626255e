"""Greeting campaigns (domain.md R11) and SMS delivery receipts (issue 13 items 4, 5)."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import JSON, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from care.extensions import db
from care.models.types import UTCDateTime, utcnow


class Campaign(db.Model):
    """A holiday greeting or a special-weather notice sent by SMS to a filtered audience.

    Status: draft → scheduled → sending (its messages are in the outbox) → sent (none
    left queued); draft or scheduled or sending → cancelled."""

    __tablename__ = "campaigns"
    __table_args__ = (Index("ix_campaigns_status_send_at", "status", "send_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(120))
    kind: Mapped[str] = mapped_column(String(16))  # holiday, weather
    holiday: Mapped[str | None] = mapped_column(String(24))  # the holiday it greets (proposed drafts)
    holiday_date: Mapped[date | None]
    body: Mapped[str] = mapped_column(Text)  # the SMS text with merge fields
    filters: Mapped[dict | None] = mapped_column(JSON)  # the audience (care.domain.campaigns.AudienceFilter)
    send_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    status: Mapped[str] = mapped_column(String(16), default="draft")
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)
    scheduled_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    released_at: Mapped[datetime | None] = mapped_column(UTCDateTime())  # messages queued
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())  # none left queued
    cancelled_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    cancelled_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    # At release: {"audience", "no_consent", "no_number"} — who was left out and why.
    excluded: Mapped[dict | None] = mapped_column(JSON)

    created_by = relationship("User", foreign_keys=[created_by_id])
    scheduled_by = relationship("User", foreign_keys=[scheduled_by_id])
    cancelled_by = relationship("User", foreign_keys=[cancelled_by_id])


class CampaignRecipient(db.Model):
    """One customer of a campaign: at most one per campaign (the unique constraint is
    what stops a second message, whoever releases the campaign and how often)."""

    __tablename__ = "campaign_recipients"
    __table_args__ = (UniqueConstraint("campaign_id", "customer_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id"))
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), index=True)
    message_id: Mapped[int | None] = mapped_column(ForeignKey("outbox.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    campaign = relationship("Campaign")
    customer = relationship("Customer")
    message = relationship("OutboxMessage")


class DeliveryReceipt(db.Model):
    """A delivery receipt as received (Twilio's message status callback, the generic
    provider's event, the log adapter and the SMS simulator): append-only, once per
    ``event_id``; one that names no known message is kept ``unmatched``."""

    __tablename__ = "delivery_receipts"

    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[str] = mapped_column(String(120), unique=True)
    message_id: Mapped[int | None] = mapped_column(ForeignKey("outbox.id"), index=True)
    message_ref: Mapped[str | None] = mapped_column(String(120))  # as given
    provider: Mapped[str] = mapped_column(String(16))
    status: Mapped[str | None] = mapped_column(String(16))  # sent delivered failed undelivered; None: in transit
    raw_status: Mapped[str | None] = mapped_column(String(40))
    error_code: Mapped[str | None] = mapped_column(String(40))
    occurred_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    received_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    payload: Mapped[dict | None] = mapped_column(JSON)
    unmatched: Mapped[bool] = mapped_column(default=False)

    message = relationship("OutboxMessage")

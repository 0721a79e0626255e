"""Complaints (domain.md §6 R19, §7 R20): the complaint, its steps, the overdue notices."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from care.extensions import db
from care.models.types import UTCDateTime, utcnow


class Complaint(db.Model):
    """One complaint and where its loop stands (care.domain.complaints): ``step`` is the
    step waiting (8 once closed, with ``closed_at``), ``step_due_at`` its deadline."""

    __tablename__ = "complaints"
    __table_args__ = (Index("ix_complaints_closed_step", "closed_at", "step"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), index=True)
    vehicle_id: Mapped[int | None] = mapped_column(ForeignKey("vehicles.id"))
    source: Mapped[str] = mapped_column(String(8))  # survey, manual
    # The survey response that opened it (R19: one complaint per response).
    survey_response_id: Mapped[int | None] = mapped_column(ForeignKey("survey_responses.id"), unique=True)
    low_items: Mapped[list | None] = mapped_column(JSON)  # [{"code", "text", "score"}]
    description: Mapped[str | None] = mapped_column(Text)
    kind: Mapped[str] = mapped_column(String(8), default="sales")  # sales, service
    step: Mapped[int] = mapped_column(default=1)
    step_started_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    step_due_at: Mapped[datetime] = mapped_column(UTCDateTime())
    due_at: Mapped[datetime] = mapped_column(UTCDateTime())  # the whole loop's deadline
    dispatched_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)
    opened_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    reopened: Mapped[int] = mapped_column(default=0)
    handler_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)  # consultant
    handler_name: Mapped[str | None] = mapped_column(String(120))  # or the advisor's name

    customer = relationship("Customer")
    vehicle = relationship("Vehicle")
    opened_by = relationship("User", foreign_keys=[opened_by_id])
    handler = relationship("User", foreign_keys=[handler_id])
    survey_response = relationship("SurveyResponse")
    steps: Mapped[list[ComplaintStep]] = relationship(
        back_populates="complaint", order_by="ComplaintStep.id", cascade="all, delete-orphan"
    )


class ComplaintStep(db.Model):
    """One step taken: who, when, the text and the outcome (``satisfied``/``dissatisfied``
    for the call-back, ``done`` otherwise); ``round`` counts the reopenings before it."""

    __tablename__ = "complaint_steps"

    id: Mapped[int] = mapped_column(primary_key=True)
    complaint_id: Mapped[int] = mapped_column(ForeignKey("complaints.id"), index=True)
    step: Mapped[int]
    round: Mapped[int] = mapped_column(default=0)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    actor: Mapped[str] = mapped_column(String(64))
    taken_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    due_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    text: Mapped[str | None] = mapped_column(Text)
    outcome: Mapped[str] = mapped_column(String(16), default="done")
    attempt_id: Mapped[int | None] = mapped_column(ForeignKey("call_attempts.id"))  # the call-back

    complaint: Mapped[Complaint] = relationship(back_populates="steps")
    user = relationship("User")
    attempt = relationship("CallAttempt")


class ComplaintNotice(db.Model):
    """A user told that a step became overdue (in the app; ``message_id`` the e-mail in
    the outbox when they have an address). Unique per complaint, round, step and user:
    told once per step."""

    __tablename__ = "complaint_notices"
    __table_args__ = (UniqueConstraint("complaint_id", "round", "step", "user_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    complaint_id: Mapped[int] = mapped_column(ForeignKey("complaints.id"), index=True)
    round: Mapped[int]
    step: Mapped[int]
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    due_at: Mapped[datetime] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    message_id: Mapped[int | None] = mapped_column(ForeignKey("outbox.id"))

    complaint = relationship("Complaint")
    user = relationship("User")


class ComplaintCall(db.Model):
    """A call-back of a complaint (step 6): a ``CallAttempt`` without a task, linked here
    (a link table, not a column of call_attempts: complaints → survey_responses →
    call_attempts would otherwise be a cycle of foreign keys)."""

    __tablename__ = "complaint_calls"

    attempt_id: Mapped[int] = mapped_column(ForeignKey("call_attempts.id"), primary_key=True)
    complaint_id: Mapped[int] = mapped_column(ForeignKey("complaints.id"), index=True)

"""Calls (domain.md §4, telephony.md): attempts, provider events, the message outbox."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import JSON, ForeignKey, Index, String, Text, UniqueConstraint, event, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from care.extensions import db
from care.models.types import UTCDateTime, utcnow


class CallAttempt(db.Model):
    """One click-to-call. Created before the provider is asked to ring, so that its id
    is the correlation id every provider event carries back (telephony.md)."""

    __tablename__ = "call_attempts"
    __table_args__ = (
        Index("ix_call_attempts_task_started", "task_id", "started_at"),
        # The month's calls (KPIs, scorecards, the insurance sample, the monthly report).
        Index("ix_call_attempts_started_at", "started_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    # The lead task; empty for a complaint's call-back (care.models.complaint.ComplaintCall),
    # which counts for no care task: no link row, so R13, the KPIs and the sample never see it.
    task_id: Mapped[int | None] = mapped_column(ForeignKey("care_tasks.id"))
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), index=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)
    provider: Mapped[str] = mapped_column(String(16))  # sim, twilio, generic
    provider_call_id: Mapped[str | None] = mapped_column(String(80), index=True)
    to_number: Mapped[str] = mapped_column(String(20))  # E.164
    agent_extension: Mapped[str | None] = mapped_column(String(32))
    caller_id: Mapped[str | None] = mapped_column(String(20))  # one caller id per task
    # State by the rank + sequence rule of care.domain.callstate; terminal is absorbing.
    status: Mapped[str] = mapped_column(String(16), default="requested")
    rank: Mapped[int] = mapped_column(default=0)
    sequence: Mapped[int] = mapped_column(default=-1)
    # How many stored events the state was folded from: the version the background apply
    # compares and sets (care.services.call_event_apply.apply_attempts).
    events_folded: Mapped[int] = mapped_column(default=0, server_default="0")
    ended_as: Mapped[str | None] = mapped_column(String(16))  # the terminal status received
    answered: Mapped[bool] = mapped_column(default=False)
    outcome: Mapped[str | None] = mapped_column(String(16))  # final: completed, busy, …
    counted: Mapped[bool] = mapped_column(default=True)  # False for canceled calls (R13)
    slot: Mapped[str | None] = mapped_column(String(32))  # the R13 slot name it used
    slot_date: Mapped[date | None]  # the dealer-local day of that slot
    started_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    answered_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    duration_s: Mapped[int | None]
    q850_cause: Mapped[int | None]
    sip_code: Mapped[int | None]
    answered_by: Mapped[str | None] = mapped_column(String(16))
    recording_url: Mapped[str | None] = mapped_column(String(500))
    error: Mapped[str | None] = mapped_column(String(500))  # why originating failed
    swept_at: Mapped[datetime | None] = mapped_column(UTCDateTime())  # closed by `care sweep`
    # When the final hook (fallback, number correction) ran for the terminal state; empty
    # for a terminal attempt means it is still due (care.services.call_event_apply).
    finalized_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)

    task = relationship("CareTask")  # the lead task: the one the call was started from
    # The complaint of a call-back (step 6), through its link row.
    complaint = relationship("Complaint", secondary="complaint_calls", viewonly=True, uselist=False)
    customer = relationship("Customer")
    user = relationship("User")
    # Every task the call counts for (issue 10: one call per contact), the lead included.
    tasks = relationship("CareTask", secondary="call_attempt_tasks", order_by="CareTask.id", viewonly=True)


class CallAttemptTask(db.Model):
    """One call counts as an attempt for each task of the contact that still needed a
    phone contact when it was placed (domain.md §3 "one contact", R13): each task keeps
    its own budget and slots, read through this link (care.services.calls.attempts_by_task).
    The attempt's ``task_id`` is the lead task and has a link row too."""

    __tablename__ = "call_attempt_tasks"
    # a task's attempts are read from its id alone (R13, the report's attempt summary):
    # with attempt_id in the index that read never touches the table's rows
    __table_args__ = (Index("ix_call_attempt_tasks_task_attempt", "task_id", "attempt_id"),)

    attempt_id: Mapped[int] = mapped_column(ForeignKey("call_attempts.id"), primary_key=True)
    task_id: Mapped[int] = mapped_column(ForeignKey("care_tasks.id"), primary_key=True)


@event.listens_for(CallAttempt, "after_insert")
def _link_lead_task(_mapper, connection, attempt: CallAttempt) -> None:
    """Every attempt counts for its lead task: the link row is written with the attempt,
    whoever creates it (the Call button, the demo, a test); further tasks of a contact
    call are linked by care.services.calls.start_contact_call. A complaint's call-back
    has no task and no link."""
    if attempt.task_id is None:
        return
    connection.execute(
        CallAttemptTask.__table__.insert().values(attempt_id=attempt.id, task_id=attempt.task_id)
    )


class CallEvent(db.Model):
    """A provider event as received: stored append-only before it is applied."""

    __tablename__ = "call_events"
    # Partial indexes: a webhook's INSERT touches only the primary key, event_id,
    # attempt_id and the pending index (matched events never enter the unreconciled one).
    __table_args__ = (
        Index(
            "ix_call_events_pending", "attempt_id",
            sqlite_where=text("applied_at IS NULL"), postgresql_where=text("applied_at IS NULL"),
        ),
        Index(
            "ix_call_events_unreconciled", "received_at",
            sqlite_where=text("unmatched AND reconciled_at IS NULL"),
            postgresql_where=text("unmatched AND reconciled_at IS NULL"),
        ),
    )  # fmt: skip

    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[str] = mapped_column(String(120), unique=True)  # dedupe key
    attempt_id: Mapped[int | None] = mapped_column(ForeignKey("call_attempts.id"), index=True)
    attempt_ref: Mapped[str | None] = mapped_column(String(40))  # as given, when unknown
    provider: Mapped[str] = mapped_column(String(16))
    kind: Mapped[str] = mapped_column(String(16), default="status")  # status, dial, gather
    provider_call_id: Mapped[str | None] = mapped_column(String(80))
    status: Mapped[str | None] = mapped_column(String(16))
    raw_status: Mapped[str | None] = mapped_column(String(40))
    sequence: Mapped[int | None]
    occurred_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    received_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    payload: Mapped[dict | None] = mapped_column(JSON)
    applied_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    unmatched: Mapped[bool] = mapped_column(default=False)  # for reconciliation
    reconciled_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    reconciled_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))

    attempt = relationship("CallAttempt")


class OutboxMessage(db.Model):
    """An SMS or e-mail to send, written in the transaction of the work that causes it."""

    __tablename__ = "outbox"
    __table_args__ = (Index("ix_outbox_status_next", "status", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    idempotency_key: Mapped[str] = mapped_column(String(120), unique=True)
    channel: Mapped[str] = mapped_column(String(8))  # sms, email
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customers.id"), index=True)
    task_id: Mapped[int | None] = mapped_column(ForeignKey("care_tasks.id"), index=True)
    to_address: Mapped[str] = mapped_column(String(254))
    subject: Mapped[str | None] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default="queued")  # queued sent failed skipped
    tries: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    last_error: Mapped[str | None] = mapped_column(String(500))
    provider_message_id: Mapped[str | None] = mapped_column(String(120), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # Delivery receipts (care/messaging/receipts.py): sent, delivered, failed, undelivered,
    # the provider's error code, when the last receipt said so and when it was delivered.
    delivery_status: Mapped[str | None] = mapped_column(String(16))
    delivery_error: Mapped[str | None] = mapped_column(String(40))
    delivery_updated_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    customer = relationship("Customer")
    task = relationship("CareTask")


class MessageTemplate(db.Model):
    """The fallback SMS / e-mail text of a task type (merge fields as in scripts)."""

    __tablename__ = "message_templates"
    __table_args__ = (UniqueConstraint("task_type", "channel"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    task_type: Mapped[str] = mapped_column(String(24))
    channel: Mapped[str] = mapped_column(String(8))
    subject: Mapped[str | None] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text)
    updated_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)


class ReminderFailure(db.Model):
    """R14: the record written when a task's calls failed and its fallback was queued."""

    __tablename__ = "reminder_failures"

    id: Mapped[int] = mapped_column(primary_key=True)
    task_id: Mapped[int] = mapped_column(ForeignKey("care_tasks.id"), unique=True)
    attempt_ids: Mapped[list | None] = mapped_column(JSON)
    message_id: Mapped[int | None] = mapped_column(ForeignKey("outbox.id"))
    reason: Mapped[str] = mapped_column(String(32))  # attempts_exhausted, window_closed, birthday
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    task = relationship("CareTask")
    message = relationship("OutboxMessage")

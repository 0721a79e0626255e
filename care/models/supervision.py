"""Supervision (domain.md §8): the insurance QA sample of R21 — its draws and its calls —
and the violations and penalties of R23."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Float, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from care.extensions import db
from care.models.types import UTCDateTime, utcnow


class SampleDraw(db.Model):
    """One draw of a month's sample: the month's first (``number`` 1) or a top-up for the
    calls made after the earlier draws (2, 3 …). The seed and the rate are recorded, and
    the calls it drew from (``SampleCall``), so that the draw can be reproduced
    (care.domain.sampling.draw). The unique (month, number) makes two draws at once fail
    instead of doubling the sample."""

    __tablename__ = "sample_draws"
    __table_args__ = (UniqueConstraint("month", "number"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    month: Mapped[str] = mapped_column(String(7))  # YYYY-MM
    number: Mapped[int]
    seed: Mapped[int]
    rate: Mapped[float] = mapped_column(Float)
    drawn_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    drawn_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    actor: Mapped[str] = mapped_column(String(64))  # the user name, or "cli"

    drawn_by = relationship("User")
    calls: Mapped[list[SampleCall]] = relationship(back_populates="draw", order_by="SampleCall.attempt_id")


class SampleCall(db.Model):
    """One call a draw drew from (its population): sampled or not, and for a sampled one
    the supervisor's verdict. A call is drawn from once (``attempt_id`` unique): a top-up
    draws from the calls no earlier draw saw. ``specialist_id`` is its stratum, the user
    who placed the call."""

    __tablename__ = "sample_calls"
    __table_args__ = (Index("ix_sample_calls_draw_sampled", "draw_id", "sampled"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    draw_id: Mapped[int] = mapped_column(ForeignKey("sample_draws.id"))
    attempt_id: Mapped[int] = mapped_column(ForeignKey("call_attempts.id"), unique=True)
    specialist_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    sampled: Mapped[bool] = mapped_column(default=False)
    verdict: Mapped[str | None] = mapped_column(String(16))  # care.domain.sampling.Verdict
    note: Mapped[str | None] = mapped_column(Text)
    verified_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    verified_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))

    draw: Mapped[SampleDraw] = relationship(back_populates="calls")
    attempt = relationship("CallAttempt")
    specialist = relationship("User", foreign_keys=[specialist_id])
    verified_by = relationship("User", foreign_keys=[verified_by_id])


class Penalty(db.Model):
    """R23's penalty table: per rule (and, for the SSI, per role of the person) whether it
    is charged per item and whether it is in force. The amounts are settings
    (``penalty_*``, care.domain.violations.PENALTIES names them); a rule without a row
    here has the defaults of care.domain.violations. ``role`` "" is for anyone."""

    __tablename__ = "penalties"
    __table_args__ = (UniqueConstraint("rule", "role"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    rule: Mapped[str] = mapped_column(String(40))
    role: Mapped[str] = mapped_column(String(20), default="")
    per_item: Mapped[bool]
    active: Mapped[bool] = mapped_column(default=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))


class Violation(db.Model):
    """One R23 violation of a month, derived from the data (care.services.violations):
    open until a manager confirms it (with the amount chosen within the range) or waives
    it (with a reason). Deriving again updates an open one, removes an open one the data
    no longer show, and never touches a decided one. (month, rule, subject) identifies it:
    the subject is the task, sampled call or person the finding is about."""

    __tablename__ = "violations"
    __table_args__ = (
        UniqueConstraint("month", "rule", "subject"),
        Index("ix_violations_month_person", "month", "person_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    month: Mapped[str] = mapped_column(String(7))  # YYYY-MM
    rule: Mapped[str] = mapped_column(String(40))
    subject: Mapped[str] = mapped_column(String(80))
    person_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))  # None: the department
    count: Mapped[int] = mapped_column(default=1)
    amount_min: Mapped[int]  # CNY per item (per_item) or for the violation
    amount_max: Mapped[int]
    per_item: Mapped[bool]
    amount: Mapped[int]  # CNY: at the minimum while open, as chosen once confirmed
    unit_amount: Mapped[int | None]  # the amount chosen at confirmation (per item when per_item)
    status: Mapped[str] = mapped_column(String(12), default="open")  # care.domain.violations.Status
    evidence: Mapped[list] = mapped_column(JSON)  # [[kind, id], …]
    detail: Mapped[dict | None] = mapped_column(JSON)
    detected_at: Mapped[datetime] = mapped_column(UTCDateTime())
    derived_at: Mapped[datetime] = mapped_column(UTCDateTime())  # last found in the data
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    reason: Mapped[str | None] = mapped_column(Text)

    person = relationship("User", foreign_keys=[person_id])
    decided_by = relationship("User", foreign_keys=[decided_by_id])

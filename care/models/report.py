"""The monthly report of R22 (issue 12 item 5): one per month, its figures frozen when
generated, the care manager's analysis and next month's plan, and its workflow history."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from care.extensions import db
from care.models.types import UTCDateTime, utcnow


class MonthlyReport(db.Model):
    """A month's report: ``draft`` → ``submitted`` (the care manager) → ``approved`` (the
    general manager), or back to ``draft`` when returned. ``figures`` is the document of
    ``care report --json`` as it was when generated (or regenerated while a draft), and
    ``people`` the scorecard counts per person, so that an approved report never changes
    when the data behind it do."""

    __tablename__ = "monthly_reports"

    id: Mapped[int] = mapped_column(primary_key=True)
    month: Mapped[str] = mapped_column(String(7), unique=True)  # YYYY-MM
    status: Mapped[str] = mapped_column(String(16), default="draft")  # care.services.monthly_report
    figures: Mapped[dict] = mapped_column(JSON)
    people: Mapped[list] = mapped_column(JSON)
    generated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    analysis: Mapped[str | None] = mapped_column(Text)
    plan: Mapped[str | None] = mapped_column(Text)
    first_submitted_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    submitted_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    submitted_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    approved_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    approved_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))

    submitted_by = relationship("User", foreign_keys=[submitted_by_id])
    approved_by = relationship("User", foreign_keys=[approved_by_id])
    steps: Mapped[list[MonthlyReportStep]] = relationship(
        back_populates="report", order_by="MonthlyReportStep.id", cascade="all, delete-orphan"
    )


class MonthlyReportStep(db.Model):
    """One stamped step of a report: generated, regenerated, saved, submitted, returned
    (with its required comment), approved — who (a user, or "scheduler"/"cli"), when,
    and the text that went with it."""

    __tablename__ = "monthly_report_steps"

    id: Mapped[int] = mapped_column(primary_key=True)
    report_id: Mapped[int] = mapped_column(ForeignKey("monthly_reports.id"), index=True)
    action: Mapped[str] = mapped_column(String(16))
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    actor: Mapped[str] = mapped_column(String(64))
    text: Mapped[str | None] = mapped_column(Text)

    report: Mapped[MonthlyReport] = relationship(back_populates="steps")
    user = relationship("User")

"""The automated (IVR) survey of a call (issue 11 item 3): a reached customer handed to
the provider's survey instead of the specialist's questions."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import JSON, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from care.extensions import db
from care.models.types import UTCDateTime, utcnow


class IvrStatus(StrEnum):
    RUNNING = "running"  # handed over; answers arrive as gather events
    FINISHED = "finished"  # every item asked has its answer (a key, or none)
    FAILED = "failed"  # the provider could not take the customer (``error``)


class IvrSurvey(db.Model):
    """One hand-over: the call (its id is what every gather callback names), the response
    the answers go to, and the items asked, in order (those without an answer when the
    customer was handed over). At most one per call."""

    __tablename__ = "ivr_surveys"

    id: Mapped[int] = mapped_column(primary_key=True)
    attempt_id: Mapped[int] = mapped_column(ForeignKey("call_attempts.id"), unique=True)
    response_id: Mapped[int] = mapped_column(ForeignKey("survey_responses.id"), index=True)
    task_id: Mapped[int] = mapped_column(ForeignKey("care_tasks.id"), index=True)
    items: Mapped[list] = mapped_column(JSON)  # item codes in the order asked
    status: Mapped[str] = mapped_column(String(16), default=IvrStatus.RUNNING.value)
    error: Mapped[str | None] = mapped_column(String(300))  # why the provider refused
    # Answers that came after the response was finished by hand: kept as events, not applied.
    late_answers: Mapped[int] = mapped_column(default=0)
    handed_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    handed_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    attempt = relationship("CallAttempt")
    response = relationship("SurveyResponse")
    task = relationship("CareTask")
    handed_by = relationship("User")

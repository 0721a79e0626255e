"""Surveys (domain.md §6): versioned templates (factors, items, weights, scale) and the
responses taken with them, by phone, IVR or import.

A template (SSI, CSI …) keeps its content in immutable versions: editing makes a new
version and every response points at the version it was taken with, so its index never
changes after the fact. Item codes are stable across versions (reports compare them).
Weights are percent of the whole index (care.domain.surveys)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import Float, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from care.extensions import db
from care.models.types import UTCDateTime, utcnow


class SurveyChannel(StrEnum):
    PHONE = "phone"
    IVR = "ivr"
    PAPER = "paper"
    OEM = "oem"  # the manufacturer's survey export


class ResponseStatus(StrEnum):
    IN_PROGRESS = "in_progress"
    COMPLETED = "completed"


class AnswerSource(StrEnum):
    PHONE = "phone"
    IVR = "ivr"
    IMPORT = "import"


class SurveyTemplate(db.Model):
    __tablename__ = "survey_templates"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)  # "ssi", "csi" …
    name_zh: Mapped[str] = mapped_column(String(120))
    name_en: Mapped[str] = mapped_column(String(120))
    # The version number in force (the newest); 0 only while the first one is written.
    current_version: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    versions: Mapped[list[SurveyTemplateVersion]] = relationship(
        back_populates="template", order_by="SurveyTemplateVersion.version",
    )


class SurveyTemplateVersion(db.Model):
    """One immutable revision of a template: scale, factors, items and weights."""

    __tablename__ = "survey_template_versions"
    __table_args__ = (UniqueConstraint("template_id", "version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    template_id: Mapped[int] = mapped_column(ForeignKey("survey_templates.id"), index=True)
    version: Mapped[int]
    scale_min: Mapped[int] = mapped_column(default=1)
    scale_max: Mapped[int] = mapped_column(default=7)
    overall_item_code: Mapped[str | None] = mapped_column(String(40))
    note: Mapped[str | None] = mapped_column(String(500))  # what changed
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))

    template: Mapped[SurveyTemplate] = relationship(back_populates="versions")
    created_by = relationship("User")
    factors: Mapped[list[SurveyFactor]] = relationship(
        back_populates="version", order_by="SurveyFactor.position"
    )
    items: Mapped[list[SurveyItem]] = relationship(back_populates="version", order_by="SurveyItem.position")


class SurveyFactor(db.Model):
    __tablename__ = "survey_factors"
    __table_args__ = (UniqueConstraint("version_id", "code"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    version_id: Mapped[int] = mapped_column(ForeignKey("survey_template_versions.id"), index=True)
    code: Mapped[str] = mapped_column(String(40))
    name_zh: Mapped[str] = mapped_column(String(120))
    name_en: Mapped[str] = mapped_column(String(120))
    weight: Mapped[float] = mapped_column(Float)  # percent of the whole index
    position: Mapped[int] = mapped_column(default=0)

    version: Mapped[SurveyTemplateVersion] = relationship(back_populates="factors")
    items: Mapped[list[SurveyItem]] = relationship(back_populates="factor", order_by="SurveyItem.position")


class SurveyItem(db.Model):
    """One question. ``factor`` is empty for the overall-satisfaction item (weight 0)."""

    __tablename__ = "survey_items"
    __table_args__ = (UniqueConstraint("version_id", "code"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    version_id: Mapped[int] = mapped_column(ForeignKey("survey_template_versions.id"), index=True)
    factor_id: Mapped[int | None] = mapped_column(ForeignKey("survey_factors.id"), index=True)
    code: Mapped[str] = mapped_column(String(40))  # stable across versions
    text_zh: Mapped[str] = mapped_column(String(300))
    text_en: Mapped[str] = mapped_column(String(300))
    weight: Mapped[float] = mapped_column(Float)  # percent of the whole index
    position: Mapped[int] = mapped_column(default=0)

    version: Mapped[SurveyTemplateVersion] = relationship(back_populates="items")
    factor: Mapped[SurveyFactor | None] = relationship(back_populates="items")


class SurveyResponse(db.Model):
    """One customer's questionnaire, taken with one template version.

    ``staff`` is the person evaluated (the selling consultant for the SSI, the service
    advisor for the CSI): a user when known, else the name as a file gave it.
    ``taken_by`` is who took it (the specialist on the phone, the importer).
    The key customer + template + taken_at makes a re-import update, not double."""

    __tablename__ = "survey_responses"
    __table_args__ = (
        UniqueConstraint("customer_id", "template_id", "taken_at"),
        Index("ix_survey_responses_template_taken", "template_id", "taken_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    template_id: Mapped[int] = mapped_column(ForeignKey("survey_templates.id"))
    version_id: Mapped[int] = mapped_column(ForeignKey("survey_template_versions.id"), index=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), index=True)
    vehicle_id: Mapped[int | None] = mapped_column(ForeignKey("vehicles.id"))
    task_id: Mapped[int | None] = mapped_column(ForeignKey("care_tasks.id"), index=True)
    attempt_id: Mapped[int | None] = mapped_column(ForeignKey("call_attempts.id"), index=True)
    staff_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)
    staff_name: Mapped[str | None] = mapped_column(String(120), index=True)
    channel: Mapped[str] = mapped_column(String(8))  # SurveyChannel
    taken_at: Mapped[datetime] = mapped_column(UTCDateTime())
    status: Mapped[str] = mapped_column(String(16), default=ResponseStatus.IN_PROGRESS.value)
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    index: Mapped[float | None] = mapped_column(Float)  # 0–100, stored when completed
    taken_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    # R8: did the consultant's 24 h call (R7) happen within 72 h of the delivery?
    r7_call_within_72h: Mapped[bool | None]
    import_run_id: Mapped[int | None] = mapped_column(ForeignKey("import_runs.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)

    template: Mapped[SurveyTemplate] = relationship()
    version: Mapped[SurveyTemplateVersion] = relationship()
    customer = relationship("Customer")
    vehicle = relationship("Vehicle")
    task = relationship("CareTask")
    attempt = relationship("CallAttempt")
    staff = relationship("User", foreign_keys=[staff_id])
    taken_by = relationship("User", foreign_keys=[taken_by_id])
    import_run = relationship("ImportRun")
    answers: Mapped[list[SurveyAnswer]] = relationship(back_populates="response")


class SurveyAnswer(db.Model):
    """One item's answer: a score, or ``unanswered`` (the customer did not answer, which
    is not a score and leaves the item out of the index). ``score`` None and
    ``unanswered`` False cannot both hold for a stored answer."""

    __tablename__ = "survey_answers"
    __table_args__ = (UniqueConstraint("response_id", "item_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    response_id: Mapped[int] = mapped_column(ForeignKey("survey_responses.id"), index=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("survey_items.id"), index=True)
    score: Mapped[int | None]
    unanswered: Mapped[bool] = mapped_column(default=False)
    source: Mapped[str] = mapped_column(String(8))  # AnswerSource
    answered_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    note: Mapped[str | None] = mapped_column(Text)

    response: Mapped[SurveyResponse] = relationship(back_populates="answers")
    item: Mapped[SurveyItem] = relationship()

"""The appointment register (R17): each appointment's status history, the front desk's
copy of the register (from the DMS, ``care import appointments``, or kept in the app) and
the day's submission to the after-sales front-desk supervisor."""

from __future__ import annotations

from datetime import date, datetime, time

from sqlalchemy import JSON, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from care.extensions import db
from care.models.types import UTCDateTime, utcnow


class AppointmentStatusChange(db.Model):
    """One change of an appointment's status: from, to, who (a user, or the scheduler /
    an import), when and why."""

    __tablename__ = "appointment_status_changes"

    id: Mapped[int] = mapped_column(primary_key=True)
    appointment_id: Mapped[int] = mapped_column(ForeignKey("appointments.id"), index=True)
    from_status: Mapped[str | None] = mapped_column(String(16))
    to_status: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str | None] = mapped_column(Text)
    changed_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    actor: Mapped[str] = mapped_column(String(64))  # a user name, "scheduler", "import:…"
    changed_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    changed_by = relationship("User")


class FrontDeskAppointment(db.Model):
    """One line of the front desk's copy of the register (interfaces.md ``appointments``):
    imported from the DMS (key ``appt_no``) or written at the front desk in the app."""

    __tablename__ = "front_desk_appointments"
    __table_args__ = (Index("ix_front_desk_appointments_date", "date", "time"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    appt_no: Mapped[str] = mapped_column(String(40), unique=True)
    vehicle_id: Mapped[int] = mapped_column(ForeignKey("vehicles.id"), index=True)
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customers.id"))
    date: Mapped[date]
    time: Mapped[time]
    service_kind: Mapped[str] = mapped_column(String(16))
    advisor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    advisor_name: Mapped[str | None] = mapped_column(String(120))
    source: Mapped[str] = mapped_column(String(16), default="import")  # import, app
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    vehicle = relationship("Vehicle")
    customer = relationship("Customer")
    advisor = relationship("User", foreign_keys=[advisor_id])


class RegisterSubmission(db.Model):
    """The day's register submitted by the care department (R17): who and when (first and
    latest), whether the first was after the deadline, and what was submitted (the
    appointments' fingerprint, to mark a change after submission)."""

    __tablename__ = "register_submissions"

    id: Mapped[int] = mapped_column(primary_key=True)
    day: Mapped[date] = mapped_column(unique=True)
    submitted_at: Mapped[datetime] = mapped_column(UTCDateTime())
    submitted_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    late: Mapped[bool] = mapped_column(default=False)
    last_submitted_at: Mapped[datetime] = mapped_column(UTCDateTime())
    last_submitted_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    times: Mapped[int] = mapped_column(default=1)
    snapshot: Mapped[list | None] = mapped_column(JSON)

    submitted_by = relationship("User", foreign_keys=[submitted_by_id])
    last_submitted_by = relationship("User", foreign_keys=[last_submitted_by_id])

"""Care tasks (domain.md §3), their outcomes, scripts, appointments and generator runs."""

from __future__ import annotations

from datetime import date, datetime, time
from enum import StrEnum

from sqlalchemy import JSON, ForeignKey, Index, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from care.extensions import db
from care.models.types import UTCDateTime, utcnow


class TaskStatus(StrEnum):
    OPEN = "open"  # in its window, to be worked
    BLOCKED = "blocked"  # waiting in the number-correction queue (R12)
    DONE = "done"  # an outcome closed it
    FAILED = "failed"  # reminder failed (attempts used up; fallback sent)
    CANCELED = "canceled"  # withdrawn (purpose met another way, data corrected …)
    # Its window closed without the R13 attempts (none, or fewer than the budget, or the
    # number never corrected): closed by the deadline sweep, fallback sent where one
    # applies, the attempts it got in its ReminderFailure (care.services.fallback).
    EXPIRED = "expired"


OPEN_STATUSES = (TaskStatus.OPEN.value, TaskStatus.BLOCKED.value)


class GenerationRun(db.Model):
    """One run of the daily generator for one day: what it created and what it skipped."""

    __tablename__ = "generation_runs"

    id: Mapped[int] = mapped_column(primary_key=True)
    for_date: Mapped[date] = mapped_column(index=True)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    actor: Mapped[str] = mapped_column(String(64))  # "scheduler", "cli", a user name
    created_total: Mapped[int] = mapped_column(default=0)
    created: Mapped[dict | None] = mapped_column(JSON)  # {task type: n}
    skipped: Mapped[dict | None] = mapped_column(JSON)  # {task type: {reason: n}}
    duration_ms: Mapped[int | None]


class CareTask(db.Model):
    __tablename__ = "care_tasks"
    __table_args__ = (
        Index("ix_care_tasks_assignee_status_due", "assignee_id", "status", "due_at"),
        Index("ix_care_tasks_status_due", "status", "due_at"),
        Index("ix_care_tasks_customer_status", "customer_id", "status"),
        # The tasks that ended in a month (care.services.kpis.ended_in): by deadline or
        # by closing, without reading the rest of the history.
        Index("ix_care_tasks_due_at", "due_at"),
        Index("ix_care_tasks_closed_at", "closed_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    type: Mapped[str] = mapped_column(String(24), index=True)
    status: Mapped[str] = mapped_column(String(16), default=TaskStatus.OPEN.value)
    # One task per cycle (the same vehicle's first service, the same policy's expiry,
    # the same year's birthday …): the unique key makes the generator idempotent.
    cycle_key: Mapped[str] = mapped_column(String(160), unique=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"))
    vehicle_id: Mapped[int | None] = mapped_column(ForeignKey("vehicles.id"), index=True)
    policy_id: Mapped[int | None] = mapped_column(ForeignKey("insurance_policies.id"))
    visit_id: Mapped[int | None] = mapped_column(ForeignKey("service_visits.id"))
    delivery_id: Mapped[int | None] = mapped_column(ForeignKey("deliveries.id"))
    opens_on: Mapped[date]
    due_at: Mapped[datetime] = mapped_column(UTCDateTime())
    owner_rule: Mapped[str] = mapped_column(String(20))
    assignee_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    channel: Mapped[str] = mapped_column(String(8), default="call")  # call, sms, email
    fallback: Mapped[str | None] = mapped_column(String(8))  # R14 channel after failed calls
    reason_id: Mapped[str] = mapped_column(String(60))  # message id (care.domain.task_rules)
    reason_params: Mapped[dict | None] = mapped_column(JSON)
    generation_run_id: Mapped[int | None] = mapped_column(ForeignKey("generation_runs.id"))
    outcome: Mapped[str | None] = mapped_column(String(32))  # the closing outcome
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    closed_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)

    customer = relationship("Customer")
    vehicle = relationship("Vehicle")
    policy = relationship("InsurancePolicy")
    visit = relationship("ServiceVisit")
    delivery = relationship("Delivery")
    assignee = relationship("User", foreign_keys=[assignee_id])
    closed_by = relationship("User", foreign_keys=[closed_by_id])
    outcomes: Mapped[list[TaskOutcome]] = relationship(
        back_populates="task", order_by="TaskOutcome.recorded_at"
    )


class TaskOutcome(db.Model):
    """An outcome recorded on a task (by hand, or from a call); the task keeps them all."""

    __tablename__ = "task_outcomes"

    id: Mapped[int] = mapped_column(primary_key=True)
    task_id: Mapped[int] = mapped_column(ForeignKey("care_tasks.id"), index=True)
    outcome: Mapped[str] = mapped_column(String(32))
    detail: Mapped[dict | None] = mapped_column(JSON)  # e.g. the other shop's name and price
    note: Mapped[str | None] = mapped_column(Text)
    closes_task: Mapped[bool] = mapped_column(default=True)
    source: Mapped[str] = mapped_column(String(16), default="manual")  # manual, call
    script_version_id: Mapped[int | None] = mapped_column(ForeignKey("script_versions.id"), index=True)
    recorded_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    task: Mapped[CareTask] = relationship(back_populates="outcomes")
    script_version = relationship("ScriptVersion")
    recorded_by = relationship("User")


class Script(db.Model):
    """The call script (话术) of one task type; its text lives in versions."""

    __tablename__ = "scripts"

    id: Mapped[int] = mapped_column(primary_key=True)
    task_type: Mapped[str] = mapped_column(String(24), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    versions: Mapped[list[ScriptVersion]] = relationship(
        back_populates="script", order_by="ScriptVersion.version"
    )


class ScriptVersion(db.Model):
    """An immutable revision of a script: outcomes point at the version that was read."""

    __tablename__ = "script_versions"
    __table_args__ = (UniqueConstraint("script_id", "version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    script_id: Mapped[int] = mapped_column(ForeignKey("scripts.id"), index=True)
    version: Mapped[int]
    title: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text)
    note: Mapped[str | None] = mapped_column(String(500))  # what changed
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    script: Mapped[Script] = relationship(back_populates="versions")
    created_by = relationship("User")


class Appointment(db.Model):
    """A service appointment (R16), booked from a task or for a customer: the care
    department's copy of the register (R17). ``status``: booked, confirmed, arrived,
    no_show, cancelled, rescheduled (care.domain.register), each change in
    ``AppointmentStatusChange``."""

    __tablename__ = "appointments"
    __table_args__ = (
        Index("ix_appointments_date_time", "date", "time"),
        # One active appointment per vehicle and moment (issue 10): a second booking of the
        # same vehicle at the same date and time is refused, even by two concurrent requests.
        # A cancelled or rescheduled one frees its moment.
        Index(
            "uq_appointments_vehicle_slot",
            "vehicle_id",
            "date",
            "time",
            unique=True,
            sqlite_where=text("status NOT IN ('cancelled', 'rescheduled')"),
            postgresql_where=text("status NOT IN ('cancelled', 'rescheduled')"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), index=True)
    vehicle_id: Mapped[int | None] = mapped_column(ForeignKey("vehicles.id"))
    task_id: Mapped[int | None] = mapped_column(ForeignKey("care_tasks.id"), index=True)
    date: Mapped[date]
    time: Mapped[time]
    service_kind: Mapped[str] = mapped_column(String(16))  # VisitKind values
    notes: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default="booked")  # care.domain.register.STATUSES
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    # R17: the service advisor (a user, or a name as given), who booked it (care / front_desk),
    # the reason given for booking a full slot, the visit that marked it arrived, the
    # appointment it was moved to, the no-show's follow-up task.
    advisor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    advisor_name: Mapped[str | None] = mapped_column(String(120))
    source: Mapped[str] = mapped_column(String(16), default="care", server_default="care")
    overbook_reason: Mapped[str | None] = mapped_column(String(500))
    visit_id: Mapped[int | None] = mapped_column(ForeignKey("service_visits.id"))
    rescheduled_to_id: Mapped[int | None] = mapped_column(ForeignKey("appointments.id"))
    follow_up_task_id: Mapped[int | None] = mapped_column(ForeignKey("care_tasks.id"))
    updated_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    customer = relationship("Customer")
    vehicle = relationship("Vehicle")
    task = relationship("CareTask", foreign_keys=[task_id])
    created_by = relationship("User", foreign_keys=[created_by_id])
    advisor = relationship("User", foreign_keys=[advisor_id])
    follow_up_task = relationship("CareTask", foreign_keys=[follow_up_task_id])
    visit = relationship("ServiceVisit")


class PhoneCorrection(db.Model):
    """A phone number corrected from the number-correction queue (R12): who, when, what."""

    __tablename__ = "phone_corrections"

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), index=True)
    field: Mapped[str] = mapped_column(String(10))  # mobile or phone2
    old_value: Mapped[str | None] = mapped_column(String(20))
    new_value: Mapped[str | None] = mapped_column(String(20))
    corrected_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    corrected_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    released_tasks: Mapped[int] = mapped_column(default=0)

    corrected_by = relationship("User")

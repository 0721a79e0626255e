"""Settings, the audit log, the record of every DMS import, and the staff names of DMS
files mapped to users."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from care.extensions import db
from care.models.types import UTCDateTime, utcnow


class Setting(db.Model):
    """A rule parameter changed from its default (care/domain/settings.py)."""

    __tablename__ = "settings"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)
    updated_by: Mapped[str | None] = mapped_column(String(64))


class AuditLog(db.Model):
    """Who did or saw what. Holds ids and action names, never customer data itself."""

    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_log_object", "object_type", "object_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)
    actor: Mapped[str] = mapped_column(String(64))  # user name, or "cli", "system"
    action: Mapped[str] = mapped_column(String(40))  # view, export, search, update, import …
    object_type: Mapped[str | None] = mapped_column(String(40))
    object_id: Mapped[str | None] = mapped_column(String(64))
    detail: Mapped[dict | None] = mapped_column(JSON)
    ip: Mapped[str | None] = mapped_column(String(45))

    user = relationship("User")


class ImportRun(db.Model):
    """One DMS file loaded (from the page or `care import`), with its counts and rejects."""

    __tablename__ = "import_runs"

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(16), index=True)
    filename: Mapped[str] = mapped_column(String(255))
    status: Mapped[str] = mapped_column(String(16), default="queued")  # queued running done failed
    strict: Mapped[bool] = mapped_column(default=False)
    total_rows: Mapped[int] = mapped_column(default=0)
    processed_rows: Mapped[int] = mapped_column(default=0)
    created: Mapped[int] = mapped_column(default=0)
    updated: Mapped[int] = mapped_column(default=0)
    unchanged: Mapped[int] = mapped_column(default=0)
    rejected: Mapped[int] = mapped_column(default=0)
    rejects: Mapped[list | None] = mapped_column(JSON)  # [{"row", "column", "error"}]
    # Rows kept with a warning (a staff name that is no user), and the warnings.
    warned: Mapped[int] = mapped_column(default=0, server_default="0")
    warnings: Mapped[list | None] = mapped_column(JSON)  # [{"row", "column", "warning"}]
    # The file's header row, and the cells of each rejected row ([{"row", "cells"}]), for
    # the rejected-rows file. reject_rows hold customer data: purged with the rejects.
    headers: Mapped[list | None] = mapped_column(JSON)
    reject_rows: Mapped[list | None] = mapped_column(JSON)
    error: Mapped[str | None] = mapped_column(Text)  # why a whole file failed
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    actor: Mapped[str] = mapped_column(String(64))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)
    # Moves with every chunk written: a queued or running import whose clock stopped
    # was cut off (the server restarted) and is shown as interrupted.
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    user = relationship("User")


class StaffNameMapping(db.Model):
    """A staff name that DMS files use and that is no user (a consultant without a log-in,
    a nickname), mapped once to the user it means, by a care manager or administrator.
    Later imports read the name as that user; the rows imported before got the user when
    the mapping was made (care/services/staff_names.py)."""

    __tablename__ = "staff_name_mappings"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(120), unique=True)  # as the files write it
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    created_by: Mapped[str] = mapped_column(String(64))  # the actor's name
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))

    user = relationship("User", foreign_keys=[user_id])
    creator = relationship("User", foreign_keys=[created_by_id])

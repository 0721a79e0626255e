"""What happened to a vehicle: service visits, insurance policies, deliveries."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum

from sqlalchemy import ForeignKey, Index, Numeric, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from care.extensions import db
from care.models.types import UTCDateTime, utcnow


class VisitKind(StrEnum):
    FIRST_SERVICE = "first_service"
    MAINTENANCE = "maintenance"
    REPAIR = "repair"
    WARRANTY = "warranty"
    OTHER = "other"


class ServiceVisit(db.Model):
    __tablename__ = "service_visits"
    __table_args__ = (
        Index("ix_service_visits_vehicle_date", "vehicle_id", "date"),
        # A window of days across the fleet (the churn of R9/R22), read from the index alone.
        Index("ix_service_visits_date", "date", "vehicle_id", "mileage"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    ro_no: Mapped[str] = mapped_column(String(40), unique=True)
    vehicle_id: Mapped[int] = mapped_column(ForeignKey("vehicles.id"))
    date: Mapped[date]
    mileage: Mapped[int | None]
    kind: Mapped[str] = mapped_column(String(16))
    amount: Mapped[Decimal | None] = mapped_column(Numeric(12, 2))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)

    vehicle = relationship("Vehicle")


class InsurancePolicy(db.Model):
    __tablename__ = "insurance_policies"

    id: Mapped[int] = mapped_column(primary_key=True)
    policy_no: Mapped[str] = mapped_column(String(40), unique=True)
    vehicle_id: Mapped[int] = mapped_column(ForeignKey("vehicles.id"), index=True)
    insurer: Mapped[str | None] = mapped_column(String(80))
    expiry: Mapped[date] = mapped_column(index=True)
    specialist_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)
    # The specialist as the DMS file names them; without specialist_id: no user (yet).
    specialist_name: Mapped[str | None] = mapped_column(String(120), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)

    vehicle = relationship("Vehicle")
    specialist = relationship("User")


class Delivery(db.Model):
    """A new-car hand-over; keyed by VIN (one hand-over per vehicle)."""

    __tablename__ = "deliveries"

    id: Mapped[int] = mapped_column(primary_key=True)
    vehicle_id: Mapped[int] = mapped_column(ForeignKey("vehicles.id"), unique=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), index=True)
    consultant_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)
    # The consultant as the DMS file names them; without consultant_id: no user (yet).
    consultant_name: Mapped[str | None] = mapped_column(String(120), index=True)
    delivered_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    import_run_id: Mapped[int | None] = mapped_column(ForeignKey("import_runs.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)

    vehicle = relationship("Vehicle")
    customer = relationship("Customer")
    consultant = relationship("User")

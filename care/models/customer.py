"""The customer aggregate: customers, their vehicles and ownership history."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum

from sqlalchemy import ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from care.extensions import db
from care.models.types import UTCDateTime, utcnow


class CustomerClass(StrEnum):
    POTENTIAL = "potential"
    EXISTING = "existing"
    VIP = "vip"
    KEY = "key"


class Customer(db.Model):
    __tablename__ = "customers"

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_no: Mapped[str] = mapped_column(String(40), unique=True)
    name: Mapped[str] = mapped_column(String(120))
    mobile: Mapped[str | None] = mapped_column(String(20), index=True)  # E.164
    phone2: Mapped[str | None] = mapped_column(String(20), index=True)  # E.164
    email: Mapped[str | None] = mapped_column(String(254))
    birthday: Mapped[date | None]
    birthday_lunar: Mapped[str | None] = mapped_column(String(5))  # "MM-DD" of the lunar year
    city: Mapped[str | None] = mapped_column(String(60))
    address: Mapped[str | None] = mapped_column(String(255))
    customer_class: Mapped[str] = mapped_column(String(16), default=CustomerClass.EXISTING.value)
    notes: Mapped[str | None] = mapped_column(Text)
    # Consent: each flag with who set it (a user name, or "import:<file>") and when.
    no_call: Mapped[bool] = mapped_column(default=False)
    no_call_by: Mapped[str | None] = mapped_column(String(120))
    no_call_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    no_sms: Mapped[bool] = mapped_column(default=False)
    no_sms_by: Mapped[str | None] = mapped_column(String(120))
    no_sms_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    no_email: Mapped[bool] = mapped_column(default=False)
    no_email_by: Mapped[str | None] = mapped_column(String(120))
    no_email_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)

    vehicles: Mapped[list[Vehicle]] = relationship(
        back_populates="customer", order_by="Vehicle.delivery_date.desc()"
    )

    def __repr__(self) -> str:
        return f"<Customer {self.customer_no}>"


class Vehicle(db.Model):
    __tablename__ = "vehicles"

    id: Mapped[int] = mapped_column(primary_key=True)
    vin: Mapped[str] = mapped_column(String(17), unique=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), index=True)
    plate: Mapped[str | None] = mapped_column(String(16), index=True)  # upper case, no spaces
    model: Mapped[str | None] = mapped_column(String(80))
    color: Mapped[str | None] = mapped_column(String(40))
    delivery_date: Mapped[date | None]
    consultant_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)
    # The consultant as the DMS file names them; without consultant_id: no user (yet).
    consultant_name: Mapped[str | None] = mapped_column(String(120), index=True)
    warranty_end: Mapped[date | None]
    warranty_km: Mapped[int | None]
    inspection_due: Mapped[date | None]
    mileage: Mapped[int | None]
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)

    customer: Mapped[Customer] = relationship(back_populates="vehicles")
    consultant = relationship("User", foreign_keys=[consultant_id])

    def __repr__(self) -> str:
        return f"<Vehicle {self.vin}>"


class OwnershipChange(db.Model):
    """A vehicle's customer changed in an import: recorded, never a silent overwrite."""

    __tablename__ = "ownership_changes"

    id: Mapped[int] = mapped_column(primary_key=True)
    vehicle_id: Mapped[int] = mapped_column(ForeignKey("vehicles.id"), index=True)
    old_customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"))
    new_customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"))
    changed_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    source: Mapped[str] = mapped_column(String(200))  # "import:<file> row <n>" or a user name

    vehicle: Mapped[Vehicle] = relationship()
    old_customer: Mapped[Customer] = relationship(foreign_keys=[old_customer_id])
    new_customer: Mapped[Customer] = relationship(foreign_keys=[new_customer_id])


Index("ix_customers_name", Customer.name)

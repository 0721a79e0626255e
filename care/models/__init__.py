"""All models, imported here so that Alembic and the app see every table."""

from care.models.admin import AuditLog, ImportRun, Setting
from care.models.customer import Customer, CustomerClass, OwnershipChange, Vehicle
from care.models.service import Delivery, InsurancePolicy, ServiceVisit, VisitKind
from care.models.user import User, UserRole

__all__ = [
    "AuditLog",
    "Customer",
    "CustomerClass",
    "Delivery",
    "ImportRun",
    "InsurancePolicy",
    "OwnershipChange",
    "ServiceVisit",
    "Setting",
    "User",
    "UserRole",
    "Vehicle",
    "VisitKind",
]

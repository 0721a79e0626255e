"""All models, imported here so that Alembic and the app see every table."""

from care.extensions import db
from care.models import search
from care.models.admin import AuditLog, ImportRun, Setting, StaffNameMapping
from care.models.call import (
    CallAttempt,
    CallAttemptTask,
    CallEvent,
    MessageTemplate,
    OutboxMessage,
    ReminderFailure,
)
from care.models.campaign import Campaign, CampaignRecipient, DeliveryReceipt
from care.models.complaint import Complaint, ComplaintCall, ComplaintNotice, ComplaintStep
from care.models.customer import Customer, CustomerClass, OwnershipChange, Vehicle
from care.models.ivr import IvrSurvey
from care.models.register import AppointmentStatusChange, FrontDeskAppointment, RegisterSubmission
from care.models.report import MonthlyReport, MonthlyReportStep
from care.models.service import Delivery, InsurancePolicy, ServiceVisit, VisitKind
from care.models.supervision import Penalty, SampleCall, SampleDraw, Violation
from care.models.survey import (
    SurveyAnswer,
    SurveyFactor,
    SurveyItem,
    SurveyResponse,
    SurveyTemplate,
    SurveyTemplateVersion,
)
from care.models.task import (
    OPEN_STATUSES,
    Appointment,
    CareTask,
    GenerationRun,
    PhoneCorrection,
    Script,
    ScriptVersion,
    TaskOutcome,
    TaskStatus,
)
from care.models.user import User, UserRole

__all__ = [
    "OPEN_STATUSES",
    "Appointment",
    "AppointmentStatusChange",
    "FrontDeskAppointment",
    "RegisterSubmission",
    "AuditLog",
    "CallAttempt",
    "CallAttemptTask",
    "CallEvent",
    "Complaint",
    "ComplaintCall",
    "ComplaintNotice",
    "ComplaintStep",
    "Campaign",
    "CampaignRecipient",
    "DeliveryReceipt",
    "MessageTemplate",
    "MonthlyReport",
    "MonthlyReportStep",
    "OutboxMessage",
    "ReminderFailure",
    "SampleCall",
    "SampleDraw",
    "IvrSurvey",
    "SurveyAnswer",
    "SurveyFactor",
    "SurveyItem",
    "SurveyResponse",
    "SurveyTemplate",
    "SurveyTemplateVersion",
    "Penalty",
    "Violation",
    "CareTask",
    "GenerationRun",
    "PhoneCorrection",
    "Script",
    "ScriptVersion",
    "TaskOutcome",
    "TaskStatus",
    "Customer",
    "CustomerClass",
    "Delivery",
    "ImportRun",
    "InsurancePolicy",
    "OwnershipChange",
    "ServiceVisit",
    "Setting",
    "StaffNameMapping",
    "User",
    "UserRole",
    "Vehicle",
    "VisitKind",
]


# the customer search's trigram indexes come and go with the tables (care/models/search.py)
search.attach(db.metadata)

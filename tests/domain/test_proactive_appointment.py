"""R16 proactive appointment tasks (主动预约): care.domain.task_rules.propose_appointment."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime

from care.domain.settings import Settings
from care.domain.task_rules import (
    Channel,
    CustomerFacts,
    Skip,
    SkipReason,
    TaskProposal,
    TaskType,
    VehicleFacts,
    VisitFacts,
    propose_appointment,
)

S = Settings.defaults()  # appointment_lead_days 7; first service 2–3 months; maintenance 6 months
VIN = "LSVAU2180N2183294"
C = CustomerFacts("C001", has_valid_phone=True)
NEW_CAR = VehicleFacts(VIN, delivery_date=date(2026, 1, 15))  # first-service window 15 Mar – 15 Apr
SERVICED = VehicleFacts(
    VIN,
    delivery_date=date(2025, 1, 10),
    visits=(VisitFacts(date(2025, 3, 20), 3000, "first_service", "RO1"), VisitFacts(date(2026, 1, 20), None, "maintenance", "RO2")),
)  # maintenance due 20 Jul 2026 by time (no mileage reading after the first): opens 13 Jul


def reason(result) -> SkipReason | None:
    return result.reason if isinstance(result, Skip) else None


def test_first_service_window_edges():
    assert reason(propose_appointment(NEW_CAR, C, S, date(2026, 3, 7))) is SkipReason.NOT_DUE
    p = propose_appointment(NEW_CAR, C, S, date(2026, 3, 8))  # window opens 15 Mar − 7 days
    assert isinstance(p, TaskProposal) and p.type is TaskType.APPOINTMENT
    assert p.opens_on == date(2026, 3, 8)
    assert p.due_at.date() == date(2026, 4, 15) and p.due_at.tzinfo is not None
    assert p.cycle_key == f"appointment:{VIN}:first_service"
    assert (p.channel, p.fallback, p.needs_number_correction) == (Channel.CALL, None, False)
    assert p.reason.message_id == "appointment.reason_first_service"
    assert p.reason.params["kind"] == "first_service" and p.reason.render()
    last = propose_appointment(NEW_CAR, C, S, date(2026, 4, 15))
    assert isinstance(last, TaskProposal) and last.cycle_key == p.cycle_key  # the same task all along
    # after the first-service deadline the next service is the maintenance (from delivery): not yet due
    assert reason(propose_appointment(NEW_CAR, C, S, date(2026, 4, 16))) is SkipReason.NOT_DUE


def test_maintenance_window_edges_follow_the_r2_prediction():
    assert reason(propose_appointment(SERVICED, C, S, date(2026, 7, 12))) is SkipReason.NOT_DUE
    p = propose_appointment(SERVICED, C, S, date(2026, 7, 13))
    assert isinstance(p, TaskProposal)
    assert p.cycle_key == f"appointment:{VIN}:2026-01-20"  # the R2 cycle
    assert p.opens_on == date(2026, 7, 13) and p.due_at.date() == date(2026, 7, 20)
    assert p.reason.message_id == "appointment.reason_maintenance" and p.reason.params["kind"] == "maintenance"
    assert isinstance(propose_appointment(SERVICED, C, S, date(2026, 7, 20)), TaskProposal)
    assert reason(propose_appointment(SERVICED, C, S, date(2026, 7, 21))) is SkipReason.WINDOW_CLOSED


def test_the_lead_is_a_setting():
    wide = Settings({**S.as_dict(), "appointment_lead_days": 30})
    assert propose_appointment(SERVICED, C, wide, date(2026, 6, 20)).opens_on == date(2026, 6, 20)
    assert reason(propose_appointment(SERVICED, C, wide, date(2026, 6, 19))) is SkipReason.NOT_DUE


def test_an_existing_appointment_meets_the_purpose():
    result = propose_appointment(SERVICED, C, S, date(2026, 7, 15), booked=True)
    assert result == Skip(SkipReason.PURPOSE_MET, f"appointment:{VIN}:2026-01-20")


def test_a_service_done_meets_the_purpose():
    came = replace(SERVICED, visits=(*SERVICED.visits, VisitFacts(date(2026, 7, 14), None, "repair", "RO3")))
    assert reason(propose_appointment(came, C, S, date(2026, 7, 15))) is SkipReason.PURPOSE_MET
    # the first service done (even early) moves the vehicle on to its maintenance cycle
    done = replace(NEW_CAR, visits=(VisitFacts(date(2026, 3, 1), 1500, "first_service", "RO9"),))
    assert reason(propose_appointment(done, C, S, date(2026, 3, 10))) is SkipReason.NOT_DUE


def test_the_invitation_is_a_call_or_nothing():
    assert reason(propose_appointment(NEW_CAR, replace(C, no_call=True), S, date(2026, 3, 20))) is SkipReason.CONSENT
    blocked = propose_appointment(NEW_CAR, replace(C, has_valid_phone=False), S, date(2026, 3, 20))
    assert isinstance(blocked, TaskProposal) and blocked.needs_number_correction  # R12 queue


def test_no_data_without_delivery_or_service():
    assert reason(propose_appointment(VehicleFacts(VIN), C, S, date(2026, 3, 20))) is SkipReason.NO_DATA


def test_due_at_is_the_end_of_the_local_day():
    p = propose_appointment(NEW_CAR, C, S, date(2026, 3, 20))
    assert p.due_at.replace(tzinfo=None) == datetime(2026, 4, 15, 23, 59, 59)

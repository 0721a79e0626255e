"""maintenance_prediction and maintenance_in_view (care.domain.task_rules): the generator
leaves a vehicle out of R2 and R16's maintenance cycle when maintenance_in_view is False,
so False must mean both rules answer not_due or window_closed, on any history."""

from __future__ import annotations

import random
from datetime import date, timedelta

import pytest

from care.domain.settings import Settings
from care.domain.task_rules import (
    FIRST_SERVICE_KIND,
    MAINTENANCE_KIND,
    CustomerFacts,
    Skip,
    SkipReason,
    VehicleFacts,
    VisitFacts,
    maintenance_in_view,
    maintenance_prediction,
    predict_maintenance,
    propose_appointment,
    propose_maintenance,
)

S = Settings.defaults()
CUSTOMER = CustomerFacts("C001", has_valid_phone=True, has_email=True)
OUTSIDE = {SkipReason.NOT_DUE, SkipReason.WINDOW_CLOSED}


def random_vehicle(rng: random.Random) -> VehicleFacts:
    delivered = date(2020, 1, 1) + timedelta(days=rng.randrange(2000))
    visits = [VisitFacts(delivered + timedelta(days=rng.randint(60, 100)), None, FIRST_SERVICE_KIND)]
    day, km = visits[0].date, 0
    for _ in range(rng.randrange(6)):
        day += timedelta(days=rng.randint(20, 250))
        km += rng.randint(0, 12_000)
        kind = rng.choice((MAINTENANCE_KIND, MAINTENANCE_KIND, "repair", "other"))
        visits.append(VisitFacts(day, km if rng.random() < 0.9 else None, kind))
    return VehicleFacts(vin=f"V{rng.randrange(10**6)}", delivery_date=delivered, visits=tuple(visits))


def from_values(vehicle: VehicleFacts):
    """maintenance_prediction fed the way the generator feeds it (its history summary)."""
    services = [v for v in vehicle.visits if v.kind in (FIRST_SERVICE_KIND, MAINTENANCE_KIND)]
    last = max(services, key=lambda v: (v.date, v.mileage or 0))
    readings = [(v.date, v.mileage) for v in vehicle.visits if v.mileage is not None]
    return maintenance_prediction(
        last.date,
        last.mileage,
        min(readings) if readings else None,
        max(readings) if readings else None,
        S,
    )


@pytest.mark.parametrize("seed", range(3))
def test_out_of_view_means_both_rules_are_outside_their_windows(seed):
    rng = random.Random(seed)
    checked = 0
    for _ in range(150):
        vehicle = random_vehicle(rng)
        prediction = predict_maintenance(vehicle, S)
        assert from_values(vehicle) == prediction
        start = prediction.last_service
        for offset in range(0, 400, 5):
            today = start + timedelta(days=offset)
            maintenance = propose_maintenance(vehicle, CUSTOMER, S, today)
            appointment = propose_appointment(vehicle, CUSTOMER, S, today)
            if not maintenance_in_view(prediction, S, today):
                checked += 1
                assert isinstance(maintenance, Skip) and maintenance.reason in OUTSIDE
                assert isinstance(appointment, Skip) and appointment.reason in OUTSIDE
            else:  # in view: at least one of the two windows contains the day
                assert not (
                    isinstance(maintenance, Skip)
                    and maintenance.reason in OUTSIDE
                    and isinstance(appointment, Skip)
                    and appointment.reason in OUTSIDE
                )
    assert checked > 1000


def test_in_view_takes_the_longer_of_the_two_leads():
    vehicle = VehicleFacts(
        vin="V1",
        delivery_date=date(2025, 1, 1),
        visits=(VisitFacts(date(2025, 9, 1), None, MAINTENANCE_KIND),),
    )
    settings = Settings({**S.as_dict(), "maintenance_lead_days": 7, "appointment_lead_days": 14})
    prediction = predict_maintenance(vehicle, settings)
    assert prediction.due == date(2026, 3, 1)  # six months, no mileage
    assert maintenance_in_view(prediction, settings, date(2026, 2, 15))  # 14 days before
    assert not maintenance_in_view(prediction, settings, date(2026, 2, 14))
    assert maintenance_in_view(prediction, settings, date(2026, 3, 1))
    assert not maintenance_in_view(prediction, settings, date(2026, 3, 2))

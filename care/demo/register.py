"""The appointment register in the demo (R17): the last days' and today's appointments, the
front desk's copy of them as the DMS sends it (with a few differences), arrivals marked
from the visits, no-shows with their follow-up calls, yesterday's register submitted on
time (and changed after), the day before left unsubmitted (the care manager's flag), and
tomorrow's appointments whose reminder SMS goes out today."""

from __future__ import annotations

from datetime import time, timedelta
from decimal import Decimal

from sqlalchemy import select

from care.demo.context import DemoContext
from care.domain import register as rules
from care.models import (
    Appointment,
    AppointmentStatusChange,
    FrontDeskAppointment,
    RegisterSubmission,
    ServiceVisit,
)
from care.services import register as register_service
from care.services.settings import load_settings

_ADVISORS = ("王磊", "刘洋", "赵静")
_KINDS = ("maintenance", "maintenance", "maintenance", "first_service", "repair", "warranty")
_NOTES = ("客户要求检查空调", "顺便做四轮定位", "更换雨刮片", "客户需要代步车", None, None, None)
# (day offset, number of appointments, share that arrived)
_DAYS = ((-2, 6, 4), (-1, 8, 6), (0, 10, 0), (1, 4, 0))


def add_register(ctx: DemoContext) -> None:
    session, rng = ctx.session, ctx.rng("register")
    settings = load_settings(session)
    specialists = [ctx.users[u] for u in ctx.usernames("specialist") if u in ctx.users]
    front_desk = next((ctx.users[u] for u in ctx.usernames("front_desk") if u in ctx.users), None)
    vehicles = [v for v in ctx.vehicles if v.id is not None and v.customer.id is not None]
    rng.shuffle(vehicles)
    if not specialists or len(vehicles) < 30:
        return
    slot_times = register_service.slot_times(settings)
    morning = [t for t in slot_times if t < time(12, 0)]
    pool = iter(vehicles)
    appointments: dict[int, list[Appointment]] = {}
    visits = []
    for offset, count, arrived in _DAYS:
        day = ctx.today + timedelta(days=offset)
        made = []
        # a nearly full morning slot today: 3 of its 4 places (the booking form shows it)
        times = sorted(rng.choice(slot_times) for _ in range(count))
        if offset == 0 and morning:
            times = sorted([morning[1]] * 3 + times[: count - 3])
        for i, at in enumerate(times):
            plan = next(pool)
            booked_by = rng.choice(specialists)
            created = ctx.local_utc(day - timedelta(days=rng.randint(2, 6)), rng.randint(9, 16), rng.randint(0, 59))
            a = Appointment(
                customer_id=plan.customer.id, vehicle_id=plan.id, date=day, time=at,
                service_kind=rng.choice(_KINDS), notes=rng.choice(_NOTES), status=rules.BOOKED,
                created_by_id=booked_by, created_at=created, updated_at=created, source=rules.SOURCE_CARE,
                advisor_name=_ADVISORS[i % len(_ADVISORS)],
            )  # fmt: skip
            session.add(a)
            made.append(a)
            if i < arrived:
                visits.append((plan, day))
        session.flush()
        for a in made:
            session.add(AppointmentStatusChange(
                appointment_id=a.id, from_status=None, to_status=rules.BOOKED, changed_by_id=a.created_by_id,
                actor="demo", changed_at=a.created_at,
            ))  # fmt: skip
            if offset >= 0 and rng.random() < 0.4:  # confirmed on the phone
                a.status = rules.CONFIRMED
                session.add(AppointmentStatusChange(
                    appointment_id=a.id, from_status=rules.BOOKED, to_status=rules.CONFIRMED,
                    changed_by_id=a.created_by_id, actor="demo", changed_at=a.created_at + timedelta(hours=20),
                ))  # fmt: skip
        appointments[offset] = made

    # The visits of the customers who came (the DMS's repair orders).
    for n, (plan, day) in enumerate(visits, start=1):
        session.add(ServiceVisit(
            ro_no=f"RA{day:%Y%m%d}{n:03d}", vehicle_id=plan.id, date=day, mileage=plan.odometer(day),
            kind="maintenance", amount=Decimal(rng.randint(420, 1480)),
        ))  # fmt: skip
    session.flush()

    # The front desk's copy (as `care import appointments` writes it), with differences.
    for offset in (-1, 0):
        day = ctx.today + timedelta(days=offset)
        made = appointments[offset]
        lines = []
        for i, a in enumerate(made):
            if i == 1:  # the front desk never got this one: missing at the front desk
                continue
            at, kind = a.time, a.service_kind
            if i == 2:  # written half an hour later at the front desk: time differs
                at = time(a.time.hour - 1 if a.time.hour >= 12 else a.time.hour + 1, a.time.minute)
            if i == 3 and offset == 0:  # written as a repair: the service differs
                kind = "repair" if a.service_kind != "repair" else "maintenance"
            lines.append((a.vehicle_id, a.customer_id, at, kind))
        walk_in = next(pool)  # booked at the front desk only: missing in the care register
        lines.append((walk_in.id, walk_in.customer.id, time(10, 0), "repair"))
        for n, (vehicle_id, customer_id, at, kind) in enumerate(lines, start=1):
            session.add(FrontDeskAppointment(
                appt_no=f"YY{day:%Y%m%d}{n:03d}", vehicle_id=vehicle_id, customer_id=customer_id, date=day, time=at,
                service_kind=kind, advisor_id=front_desk if n % 3 == 0 else None,
                advisor_name=_ADVISORS[n % len(_ADVISORS)], source="import",
                created_at=ctx.local_utc(day - timedelta(days=1), 18, 0), updated_at=ctx.local_utc(day - timedelta(days=1), 18, 0),
            ))  # fmt: skip
    session.flush()

    # Yesterday submitted on time; then the last one was cancelled by the customer's call
    # (a change after the submission, marked on the page).
    yesterday = ctx.today - timedelta(days=1)
    submitter = specialists[0]
    at = ctx.local_utc(yesterday, 16, 52)
    session.add(RegisterSubmission(
        day=yesterday, submitted_at=at, submitted_by_id=submitter, late=False, last_submitted_at=at,
        last_submitted_by_id=submitter, times=1,
        snapshot=rules.fingerprint((a.id, a.vehicle.vin, a.time, a.service_kind) for a in appointments[-1]),
    ))  # fmt: skip
    changed = appointments[-1][-1]
    session.add(AppointmentStatusChange(
        appointment_id=changed.id, from_status=changed.status, to_status=rules.CANCELLED,
        changed_by_id=changed.created_by_id, actor="demo", changed_at=ctx.local_utc(yesterday, 17, 41),
        reason="客户来电取消：临时出差",
    ))  # fmt: skip
    changed.status = rules.CANCELLED
    session.flush()

    # Arrivals from the visits, no-shows of the past days with their follow-up calls.
    decided = max(ctx.now, ctx.local_utc(ctx.today, 9, 0))
    register_service.mark_arrivals(session, now=decided, settings=settings, actor="demo")
    register_service.mark_no_shows(session, now=decided, settings=settings)
    ctx.counts["appointments"] = sum(len(v) for v in appointments.values())
    ctx.counts["front_desk_lines"] = len(session.scalars(select(FrontDeskAppointment.id)).all())


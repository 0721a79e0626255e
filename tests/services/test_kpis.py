"""R22: every KPI of a hand-computed fixture month (March 2026 at a dealer in Chengdu,
Asia/Shanghai = UTC+8), with zero denominators, tasks that span month ends and
instants that are March locally but February in UTC; the drill-downs list exactly the
rows behind each figure; one query per family, whatever the data.

The fixture (``world``) names each vehicle and task as the comments below count them;
every expected number in the tests is counted by hand from those comments.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import event

from care.domain import kpis as rules
from care.extensions import db
from care.models import Appointment, CallAttemptTask, OutboxMessage, TaskOutcome
from care.services import Actor
from care.services import kpis as svc
from tests import factories as f

SH = ZoneInfo("Asia/Shanghai")
MARCH = date(2026, 3, 1)
AFTER = datetime(2026, 4, 15, 4, 0, tzinfo=UTC)  # March is over


def at(y, m, d, h=12, mi=0, s=0) -> datetime:
    """A dealer-local moment (aware)."""
    return datetime(y, m, d, h, mi, s, tzinfo=SH)


def eod(y, m, d) -> datetime:
    return at(y, m, d, 23, 59, 59)


class World:
    def __init__(self, s):
        self.s = s
        self.n = 0
        self.a = f.make_user(s, "specialist", username="spec_a", display_name="A")
        self.b = f.make_user(s, "specialist", username="spec_b", display_name="B")
        self.ins = f.make_user(s, "insurance", username="ins", display_name="I")
        self.cons = f.make_user(s, "consultant", username="cons", display_name="C")

    def vehicle(self, *, city="成都", visits=(), **kw):
        customer = f.make_customer(self.s, city=city)
        vehicle = f.make_vehicle(self.s, customer, **kw)
        for day, kind, *km in visits:
            f.make_visit(self.s, vehicle, date=day, kind=kind, mileage=km[0] if km else None)
        return vehicle

    def task(self, type_, due_at, *, vehicle=None, customer=None, status="open", outcome=None, closed_at=None,
             assignee=None, channel="call", opens_on=None, detail=None, **kw):
        customer = customer or (vehicle.customer if vehicle is not None else f.make_customer(self.s))
        task = f.make_task(
            self.s, customer, type=type_, due_at=due_at, status=status, outcome=outcome, closed_at=closed_at,
            assignee=assignee, channel=channel, vehicle_id=vehicle.id if vehicle is not None else None,
            opens_on=opens_on or (due_at.astimezone(SH).date() - timedelta(days=7)), **kw,
        )
        if outcome and status in ("done", "failed", "canceled"):
            self.s.add(TaskOutcome(task_id=task.id, outcome=outcome, detail=detail, closes_task=True,
                                   recorded_at=closed_at or due_at))
        return task

    def attempt(self, task, started_at, outcome, *, also=()):
        """A call for ``task`` (and the other tasks of its contact, ``also``)."""
        self.n += 1
        local = started_at.astimezone(SH)
        slot = "morning" if local.hour < 12 else "afternoon" if local.hour < 18 else "evening"
        attempt = f.make_attempt(
            self.s, task, status="completed" if outcome == "completed" else "no-answer", outcome=outcome,
            started_at=started_at, slot=slot, slot_date=local.date(), counted=True,
            user_id=task.assignee_id,  # the caller: the insurance sample is drawn per caller
        )
        for other in also:
            self.s.add(CallAttemptTask(attempt_id=attempt.id, task_id=other.id))
        return attempt

    def message(self, task, status, sent_at=None):
        self.n += 1
        self.s.add(OutboxMessage(
            idempotency_key=f"fallback:{task.id}:{self.n}", channel="sms", customer_id=task.customer_id,
            task_id=task.id, to_address="+8613800000000", body="您好", status=status, sent_at=sent_at,
        ))  # fmt: skip

    def appointment(self, task, day):
        self.s.add(Appointment(customer_id=task.customer_id, vehicle_id=task.vehicle_id, task_id=task.id,
                               date=day, time=time(10, 0), service_kind="maintenance"))  # fmt: skip


@pytest.fixture
def world(session):
    w = World(session)
    s, a, b = session, w.a, w.b
    fs, mt = "first_service", "maintenance"

    # --- first-service windows (deadline = delivery + 3 months): March's are December's deliveries
    w.v1 = w.vehicle(delivery_date=date(2025, 12, 5), visits=[(date(2026, 3, 1), fs)])  # returned; day 5
    w.v2 = w.vehicle(delivery_date=date(2025, 12, 10), visits=[(date(2026, 3, 10), mt)])  # maintenance on the deadline: returned; day 10
    w.v3 = w.vehicle(delivery_date=date(2025, 12, 12), visits=[(date(2026, 3, 13), fs)])  # a day late: not returned; day 12
    w.v4 = w.vehicle(delivery_date=date(2025, 12, 20))  # serviced elsewhere; day 20
    w.v5 = w.vehicle(delivery_date=date(2025, 12, 31), visits=[(date(2026, 3, 20), "repair")])  # a repair is no first service; day 31
    w.v6 = w.vehicle(delivery_date=date(2025, 12, 25))  # its task still open; day 25
    w.v9 = w.vehicle(delivery_date=date(2025, 12, 3), visits=[(date(2025, 12, 20), fs)])  # came early: returned; day 3
    w.v11 = w.vehicle(delivery_date=date(2025, 12, 15))  # no task at all; day 15
    w.v7 = w.vehicle(delivery_date=date(2025, 11, 30))  # deadline 28 Feb: February's
    w.v8 = w.vehicle(delivery_date=date(2026, 1, 1))  # deadline 1 April: April's
    # their first-service reminders
    w.t_v3 = w.task(fs, eod(2026, 3, 12), vehicle=w.v3, status="done", outcome="will_come",
                    closed_at=at(2026, 2, 20, 10), assignee=a)  # ended 20 Feb: February's
    w.t_v4 = w.task(fs, eod(2026, 3, 20), vehicle=w.v4, status="done", outcome="serviced_elsewhere",
                    closed_at=at(2026, 3, 5, 10), assignee=a,
                    detail={"shop": "途虎养车", "location": "高新区", "price": "300.00"})
    w.t_v5 = w.task(fs, eod(2026, 3, 31), vehicle=w.v5, status="failed", outcome="reminder_failed",
                    closed_at=at(2026, 3, 28, 9), assignee=a)
    for day, hour in ((25, 10), (26, 15), (27, 19)):  # R13 done right: 3 slots in 3 days
        w.attempt(w.t_v5, at(2026, 3, day, hour), "no_answer")
    w.message(w.t_v5, "sent", at(2026, 3, 28, 9, 5))
    w.t_v6 = w.task(fs, eod(2026, 3, 25), vehicle=w.v6, assignee=a)  # never worked

    # --- maintenance reminders (windows closing in March)
    w.vm1 = w.vehicle(visits=[(date(2026, 3, 6), mt)])
    w.m1 = w.task(mt, eod(2026, 3, 8), vehicle=w.vm1, opens_on=date(2026, 3, 1), status="done",
                  outcome="will_come", closed_at=at(2026, 3, 2, 10), assignee=a)  # returned; day 8
    w.appointment(w.m1, date(2026, 3, 6))
    w.vm2 = w.vehicle(visits=[(date(2026, 2, 26), mt)])
    w.m2 = w.task(mt, eod(2026, 3, 3), vehicle=w.vm2, opens_on=date(2026, 2, 25), status="done",
                  outcome="will_come", closed_at=at(2026, 2, 25, 10), assignee=b)  # returned in February; day 3
    w.vm3 = w.vehicle(visits=[(date(2026, 3, 28), mt)])
    w.m3 = w.task(mt, eod(2026, 3, 27), vehicle=w.vm3, opens_on=date(2026, 3, 20), status="done",
                  outcome="declined", closed_at=at(2026, 3, 21, 10), assignee=a,
                  detail={"reason": "车开得少"})  # came a day late; day 27
    w.vm4 = w.vehicle()
    w.m4 = w.task(mt, eod(2026, 3, 31), vehicle=w.vm4, opens_on=date(2026, 3, 24), status="done",
                  outcome="serviced_elsewhere", closed_at=at(2026, 3, 25, 10), assignee=b,
                  detail={"shop": "天猫养车", "location": "金牛区", "price": "500.00"})  # day 31
    w.vm5 = w.vehicle()
    w.m5 = w.task(mt, eod(2026, 4, 1), vehicle=w.vm5, opens_on=date(2026, 3, 25), assignee=b)  # April's
    w.vm6 = w.vehicle()
    w.m6 = w.task(mt, eod(2026, 3, 15), vehicle=w.vm6, status="canceled", assignee=b)  # withdrawn
    w.vm7 = w.vehicle(visits=[(date(2026, 3, 30), "repair")])
    w.m7 = w.task(mt, eod(2026, 3, 31), vehicle=w.vm7, opens_on=date(2026, 3, 24), assignee=b)  # open; day 31
    w.attempt(w.m7, at(2026, 3, 25, 10), "busy")  # one failed attempt, then dropped

    # --- lapsed recalls
    w.l1 = w.task("lapsed_recall", eod(2026, 3, 31), status="canceled", outcome="superseded",
                  closed_at=at(2026, 4, 1, 8, 25), assignee=b)  # not done in March: counts, not reached
    w.l2 = w.task("lapsed_recall", eod(2026, 3, 31), status="canceled", assignee=b)  # withdrawn
    w.l3 = w.task("lapsed_recall", eod(2026, 3, 31), status="done", outcome="will_return",
                  closed_at=at(2026, 3, 10, 15), assignee=b)
    w.appointment(w.l3, date(2026, 3, 14))

    # --- birthdays (due 10:30 on the day)
    w.b1 = w.task("birthday", at(2026, 3, 3, 10, 30), status="done", outcome="greeted",
                  closed_at=at(2026, 3, 3, 9, 15), assignee=a)  # on time
    w.b2 = w.task("birthday", at(2026, 3, 10, 10, 30), status="done", outcome="greeted",
                  closed_at=at(2026, 3, 10, 11), assignee=a)  # recorded late, answered at 10:20: on time
    w.attempt(w.b2, at(2026, 3, 10, 10, 20), "completed")
    w.b3 = w.task("birthday", at(2026, 3, 15, 10, 30), status="done", outcome="greeted",
                  closed_at=at(2026, 3, 15, 14), assignee=a)  # late
    w.attempt(w.b3, at(2026, 3, 15, 13, 50), "completed")
    w.b4 = w.task("birthday", at(2026, 3, 20, 10, 30), status="failed", outcome="reminder_failed",
                  closed_at=at(2026, 3, 20, 10, 31), assignee=b)
    w.message(w.b4, "sent", at(2026, 3, 20, 10, 35))  # SMS the same morning: on time
    w.b5 = w.task("birthday", at(2026, 3, 25, 10, 30), status="failed", outcome="reminder_failed",
                  closed_at=at(2026, 3, 25, 10, 31), assignee=b)
    w.message(w.b5, "sent", at(2026, 3, 26, 9, 0))  # the next day: late
    w.b6 = w.task("birthday", at(2026, 3, 31, 10, 30), assignee=b)  # missed
    w.b7 = w.task("birthday", at(2026, 4, 1, 10, 30), assignee=b)  # April's

    # --- phone tasks for R13 (service callbacks), one contact with two tasks
    w.c1 = w.task("service_callback", eod(2026, 3, 5), status="done", outcome="reached_satisfied",
                  closed_at=at(2026, 3, 4, 10), assignee=a)
    w.attempt(w.c1, at(2026, 3, 4, 9, 50), "completed")
    w.c2 = w.task("service_callback", eod(2026, 3, 9), status="failed", outcome="reminder_failed",
                  closed_at=at(2026, 3, 9, 10, 30), assignee=a)
    for day in (7, 8, 9):  # three mornings: one slot only
        w.attempt(w.c2, at(2026, 3, day, 10), "no_answer")
    w.c3 = w.task("service_callback", eod(2026, 3, 14), status="failed", outcome="reminder_failed",
                  closed_at=at(2026, 3, 14, 20), assignee=b)
    for day, hour in ((10, 10), (11, 15), (13, 19)):  # three slots, but over four days
        w.attempt(w.c3, at(2026, 3, day, hour), "no_answer")
    w.c4 = w.task("service_callback", eod(2026, 3, 12), channel="sms", assignee=b)  # by SMS, sent
    w.message(w.c4, "sent", at(2026, 3, 11, 10))
    contact = f.make_customer(s)
    w.c5a = w.task("service_callback", eod(2026, 3, 18), customer=contact, status="failed",
                   outcome="reminder_failed", closed_at=at(2026, 3, 18, 21), assignee=a)
    w.c5b = w.task("warranty_expiry", eod(2026, 3, 18), customer=contact, status="failed",
                   outcome="reminder_failed", closed_at=at(2026, 3, 18, 21), assignee=a)
    for day, hour in ((16, 10), (17, 15), (18, 19)):  # one call per slot for both tasks
        w.attempt(w.c5a, at(2026, 3, day, hour), "no_answer", also=[w.c5b])
    w.message(w.c5b, "failed")  # the SMS could not be sent

    # --- post-delivery calls around the UTC boundary
    w.d1 = w.task("delivery_call", at(2026, 3, 1, 7, 0), assignee=w.cons)  # 28 Feb 23:00 UTC: March's
    w.d2 = w.task("delivery_call", at(2026, 2, 28, 23, 30), assignee=w.cons)  # February's

    # --- churn, read on 31 March (lapsed: last visit 90–360 days before)
    w.k1 = w.vehicle(warranty_end=date(2027, 1, 1), visits=[(date(2025, 10, 1), mt)])  # local, in warranty
    w.k2 = w.vehicle(city=" 成都市 ", warranty_end=date(2025, 12, 31), visits=[(date(2025, 6, 1), mt)])  # local, out
    w.k3 = w.vehicle(city="重庆", warranty_end=date(2028, 1, 1), warranty_km=100_000, mileage=120_000,
                     visits=[(date(2025, 11, 15), mt)])  # out of town, out (mileage)
    w.k4 = w.vehicle(city="绵阳", warranty_end=date(2028, 1, 1), warranty_km=100_000, mileage=None,
                     visits=[(date(2025, 9, 1), mt, 50_000)])  # out of town, in warranty
    w.k5 = w.vehicle(city=None, visits=[(date(2025, 4, 4), mt)])  # 361 days: not served
    w.k6 = w.vehicle(city="重庆", visits=[(date(2026, 2, 1), mt)])  # served, not lapsed
    w.k7 = w.vehicle(visits=[(date(2025, 8, 1), mt), (date(2026, 4, 5), mt)])  # the April visit is after the day read
    w.k8 = w.vehicle(warranty_end=date(2027, 1, 1), visits=[(date(2025, 12, 31), mt)])  # 90 days: lapsed
    w.k9 = w.vehicle(warranty_end=date(2027, 1, 1), visits=[(date(2026, 1, 1), mt)])  # 89 days: not
    w.k10 = w.vehicle(city="上海", visits=[(date(2025, 4, 5), mt)])  # 360 days: lapsed

    # --- the insurance specialist's and nobody's
    w.i1 = w.task("insurance_renewal", eod(2026, 3, 20), status="done", outcome="will_renew",
                  closed_at=at(2026, 3, 2, 10), assignee=w.ins)
    w.attempt(w.i1, at(2026, 3, 2, 9, 55), "completed")
    w.attempt(w.i1, at(2026, 2, 27, 9, 55), "no_answer")  # a February call
    session.flush()
    return w


def kpis(session, now=AFTER, month=MARCH):
    return svc.monthly_kpis(session, month, now=now)


def nd(r) -> tuple[int, int]:
    return (r.numerator, r.denominator)


# --- each figure, counted by hand ----------------------------------------------------------


def test_first_service_return_rate_with_weeks_reasons_and_shops(world, session):
    fs = kpis(session).first_service
    # v1, v2, v9 of v1 v2 v3 v4 v5 v6 v9 v11 (v7: February, v8: April)
    assert nd(fs.rate) == (3, 8)
    weeks = [(w.first.day, w.last.day, nd(r)) for w, r in fs.weeks]
    assert weeks == [(1, 1, (0, 0)), (2, 8, (2, 2)), (9, 15, (1, 3)), (16, 22, (0, 1)), (23, 29, (0, 1)), (30, 31, (0, 1))]
    assert dict(fs.not_returned) == {"will_come": 1, "serviced_elsewhere": 1, "reminder_failed": 1, "open": 1, "no_task": 1}
    assert fs.other_shops == (rules.ShopCount("途虎养车", "高新区", 1, 300.0),)
    february = kpis(session, month=date(2026, 2, 1)).first_service
    assert nd(february.rate) == (0, 1)  # v7, clamped from 30 November to 28 February
    assert nd(february.weeks[-1][1]) == (0, 1)


def test_maintenance_return_rate(world, session):
    mt = kpis(session).maintenance
    # m1 (visit 6 Mar), m2 (visit 26 Feb, in its window) of m1 m2 m3 m4 m7 (m5: April, m6: withdrawn)
    assert nd(mt.rate) == (2, 5)
    assert {w.number: nd(r) for w, r in mt.weeks if r.denominator} == {2: (2, 2), 5: (0, 1), 6: (0, 2)}
    assert dict(mt.not_returned) == {"declined": 1, "serviced_elsewhere": 1, "open": 1}
    assert mt.other_shops == (rules.ShopCount("天猫养车", "金牛区", 1, 500.0),)


def test_reminder_rate_per_task_type(world, session):
    r = kpis(session).reminder_rate
    assert set(r) == set(rules.TASK_TYPES)
    assert nd(r["first_service"]) == (2, 3)  # t_v4 reached, t_v5 SMS sent, t_v6 not (t_v3 ended in February)
    assert nd(r["maintenance"]) == (3, 4)  # m1 m3 m4 reached, m7 not (m2 February, m5 April, m6 withdrawn)
    assert nd(r["lapsed_recall"]) == (1, 2)  # l3; l1 superseded counts, l2 withdrawn does not
    assert nd(r["birthday"]) == (5, 6)  # b1 b2 b3 by phone, b4 b5 by SMS; b6 missed (b7 April)
    assert nd(r["service_callback"]) == (2, 5)  # c1 reached, c4 SMS sent; c2 c3 c5a not
    assert nd(r["warranty_expiry"]) == (0, 1)  # c5b: its SMS failed
    assert nd(r["delivery_call"]) == (0, 1)  # d1 (28 Feb 23:00 UTC is 1 March at the dealer); d2 February's
    assert nd(r["insurance_renewal"]) == (1, 1)
    for empty in ("inspection", "delivery_survey", "appointment"):
        assert nd(r[empty]) == (0, 0) and r[empty].value is None


def test_first_service_reminder_rate_below_95_percent_is_a_violation(world, session):
    k = kpis(session)
    fsr = k.first_service_reminder_rate
    assert nd(fsr) == (2, 3) and fsr.violates and fsr.floor == 0.95
    assert not k.reminder_rate["maintenance"].violates  # only the first service has a floor


def test_appointment_rate(world, session):
    # reached reminders that can book: t_v4, m1, m3, m4, l3; booked: m1, l3
    assert nd(kpis(session).appointment_rate) == (2, 5)


def test_r13_compliance_reads_attempts_through_the_contact_link(world, session):
    # ✓ t_v4 (reached) t_v5 (3 slots in 3 days) m1 m3 m4 l3 (reached) c1 (reached) c5a c5b
    #   (one call per slot counted for both tasks) i1 (reached)
    # ✗ t_v6 (never called) m7 (one attempt) l1 (never called) c2 (one slot) c3 (four days) d1
    # not counted: birthdays, c4 (by SMS), tasks of other months, withdrawn tasks
    assert nd(kpis(session).attempt_compliance) == (10, 16)


def test_birthday_on_time_and_greetings_sent(world, session):
    k = kpis(session)
    assert nd(k.birthday_on_time_rate) == (3, 6)  # b1, b2 (answered 10:20), b4 (SMS 10:35)
    assert k.greetings == {"birthday_call": 3, "birthday_message": 2, "campaigns": 0}
    assert k.greetings_sent == 5


def test_churn_by_the_six_groups(world, session):
    churn = kpis(session).churn
    assert churn.as_of == date(2026, 3, 31)
    # served: v1 v2 v3 v5 v9 vm1 vm2 vm3 vm7 (local, no warranty end) and k1–k4, k6–k10 (k5: 361 days)
    # lapsed: v9 (visit 20 Dec) k1 k2 k3 k4 k7 k8 k10
    assert nd(churn.rate) == (8, 18)
    assert churn.lapsed_by_group == {
        "local": 5, "out_of_town": 3, "local_in_warranty": 2, "local_out_of_warranty": 3,
        "out_of_town_in_warranty": 1, "out_of_town_out_of_warranty": 2,
    }  # fmt: skip
    assert nd(churn.group_rate("local_in_warranty")) == (2, 3)  # k1 k8 of k1 k8 k9
    assert nd(churn.group_rate("out_of_town")) == (3, 4)  # k3 k4 k10 of k3 k4 k6 k10


def test_what_is_not_recorded_yet_is_null_not_zero(world, session):
    k = kpis(session)
    doc = rules.report_document(k)
    assert doc["complaints_closed_in_24h_rate"] == {"rate": None, "numerator": 0, "denominator": 0}
    assert doc["appointment_show_rate"] == {"rate": None, "numerator": 0, "denominator": 0}
    assert doc["ssi_index"]["index"] is None and doc["csi_index"]["responses"] == 0
    assert doc["very_satisfied"] == {"cons": {"rate": None, "numerator": 0, "denominator": 0}}
    assert doc["insurance_sample"]["calls"] == 1  # i1's March call (its February call is February's)


def test_the_report_counts_the_insurance_sample_as_the_sampling_page_does(world, session):
    from care.services import Actor, sampling

    manager = f.make_user(session, "care_manager", username="boss")
    draw = sampling.draw_sample(session, MARCH, seed=7, user=manager, actor=Actor("boss"), now=AFTER)
    (call,) = [c for c in draw.calls if c.sampled]
    doc = rules.report_document(kpis(session))
    assert doc["insurance_sample"] == {
        "calls": 1, "sampled": 1, "verified": 0, "completion": {"rate": 0.0, "numerator": 0, "denominator": 1},
    }  # fmt: skip
    sampling.record_verdict(session, call, "to_standard", "ok", user=manager, actor=Actor("boss"), now=AFTER)
    doc = rules.report_document(kpis(session))
    assert doc["insurance_sample"]["verified"] == 1
    assert doc["insurance_sample"]["completion"]["rate"] == 1.0


def test_an_empty_database_gives_dashes_not_errors(session):
    k = kpis(session)
    doc = rules.report_document(k)
    assert doc["first_service_return_rate"]["rate"] is None
    assert all(v["rate"] is None for v in doc["reminder_rate"].values())
    assert doc["churn_rate"] == {"rate": None, "numerator": 0, "denominator": 0}
    assert doc["lapsed_by_group"] == {g.value: 0 for g in rules.LAPSED_GROUPS}
    assert doc["greetings_sent"] == 0


def test_the_month_in_progress_counts_what_has_ended(world, session):
    now = at(2026, 3, 20, 12)
    k = kpis(session, now=now)
    assert k.span.in_progress
    # first-service deadlines passed by 20 March: v9 (3) v1 (5) v2 (10) v3 (12) v11 (15)
    assert nd(k.first_service.rate) == (3, 5)
    # ended by now: t_v4 (closed 5 Mar); t_v5 closed 28 Mar and t_v6 due 25 Mar not yet
    assert nd(k.reminder_rate["first_service"]) == (1, 1)
    assert nd(k.birthday_on_time_rate) == (3, 4)  # b1 b2 b4 of b1 b2 b3 b4 (b4 was due 10:30 today)
    assert k.churn.as_of == date(2026, 3, 20)


def test_a_month_not_begun_has_no_figures(world, session):
    k = kpis(session, now=at(2026, 2, 15, 12))
    assert k.first_service.rate.denominator == 0 and k.reminder_rate["birthday"].denominator == 0


def test_the_scorecards_add_up_to_the_department(world, session):
    from care.services.scorecards import counts_by_assignee

    span = rules.month_span(MARCH, "Asia/Shanghai", AFTER)
    from care.services.settings import load_settings

    counts = counts_by_assignee(session, span, load_settings(session))
    k = kpis(session)
    assert sum(c.tasks for c in counts.values()) == sum(r.denominator for r in k.reminder_rate.values())
    assert sum(c.phone_tasks for c in counts.values()) == k.attempt_compliance.denominator
    assert sum(c.compliant for c in counts.values()) == k.attempt_compliance.numerator


# --- drill-downs ---------------------------------------------------------------------------


def drill(session, key, part="denominator", **kw):
    return svc.drill(session, key, MARCH, part=part, actor=Actor.CLI, now=AFTER, **kw)


@pytest.mark.parametrize(
    "key, kw",
    [
        ("first_service_return_rate", {}),
        ("maintenance_return_rate", {}),
        ("appointment_rate", {}),
        ("churn_rate", {}),
        ("reminder_rate", {"task_type": "birthday"}),
        ("reminder_rate", {}),
        ("first_service_reminder_rate", {}),
        ("attempt_compliance", {}),
        ("birthday_on_time_rate", {}),
        ("churn_rate", {"group": "local_in_warranty"}),
        ("churn_rate", {"group": "out_of_town"}),
    ],
)
def test_drill_down_lists_exactly_the_rows_behind_the_figure(world, session, key, kw):
    whole = drill(session, key, per_page=100, **kw)
    hits = drill(session, key, "numerator", per_page=100, **kw)
    rest = drill(session, key, "rest", per_page=100, **kw)
    assert whole.total == whole.figure.denominator == len(whole.rows)
    assert hits.total == whole.figure.numerator == len(hits.rows)
    assert rest.total == whole.figure.rest == len(rest.rows)
    assert all(r.hit for r in hits.rows) and not any(r.hit for r in rest.rows)
    ident = (lambda r: r.task_id) if whole.unit == "tasks" else (lambda r: r.vehicle_id)
    assert {ident(r) for r in hits.rows} | {ident(r) for r in rest.rows} == {ident(r) for r in whole.rows}


@pytest.mark.parametrize(
    "key, task_type",
    [("appointment_rate", None), ("attempt_compliance", None), ("birthday_on_time_rate", None),
     ("first_service_reminder_rate", None), ("reminder_rate", "birthday"), ("reminder_rate", "maintenance"),
     ("first_service_return_rate", None), ("maintenance_return_rate", None)],
)  # fmt: skip
def test_the_reports_one_pass_figures_equal_each_drill_downs_own_count(world, session, key, task_type):
    """The report counts four task families in one query (task_families); each drill-down
    counts its cohort alone. Both must give the same numerator and denominator."""
    kpis = svc.monthly_kpis(session, MARCH, now=AFTER)
    report = {
        "appointment_rate": kpis.appointment_rate,
        "attempt_compliance": kpis.attempt_compliance,
        "birthday_on_time_rate": kpis.birthday_on_time_rate,
        "first_service_reminder_rate": kpis.reminder_rate["first_service"],
        "reminder_rate": kpis.reminder_rate.get(task_type),
        "first_service_return_rate": kpis.first_service.rate,
        "maintenance_return_rate": kpis.maintenance.rate,
    }[key]
    figure = drill(session, key, task_type=task_type).figure
    assert figure.denominator > 0
    assert (report.numerator, report.denominator) == (figure.numerator, figure.denominator)


def test_drill_down_rows_name_the_tasks_and_mask_phones(world, session):
    rest = drill(session, "first_service_reminder_rate", "rest")
    assert [r.task_id for r in rest.rows] == [world.t_v6.id]
    assert rest.rows[0].phone.startswith("+86 138****")
    shops = drill(session, "first_service_return_rate", "rest")
    by_vehicle = {r.vehicle_id: r for r in shops.rows}
    assert set(by_vehicle) == {world.v3.id, world.v4.id, world.v5.id, world.v6.id, world.v11.id}
    assert by_vehicle[world.v4.id].extra["shop"] == "途虎养车" and by_vehicle[world.v4.id].task_id == world.t_v4.id
    assert by_vehicle[world.v11.id].extra["reason"] == "no_task"
    assert by_vehicle[world.v5.id].deadline == date(2026, 3, 31)
    lapsed = drill(session, "churn_rate", "numerator", group="out_of_town")
    assert {r.vehicle_id for r in lapsed.rows} == {world.k3.id, world.k4.id, world.k10.id}
    assert {r.extra["group"] for r in lapsed.rows} == {"out_of_town_out_of_warranty", "out_of_town_in_warranty"}


def test_drill_down_pages(world, session):
    first = drill(session, "reminder_rate", per_page=5, page=1)
    second = drill(session, "reminder_rate", per_page=5, page=2)
    assert len(first.rows) == 5 and first.total == second.total
    assert not {r.task_id for r in first.rows} & {r.task_id for r in second.rows}
    past = drill(session, "reminder_rate", per_page=5, page=99)
    assert past.rows == [] and past.total == first.total


def test_drill_down_is_audit_logged(world, session):
    from care.models import AuditLog

    drill(session, "churn_rate")
    entry = session.query(AuditLog).order_by(AuditLog.id.desc()).first()
    assert (entry.action, entry.object_type, entry.object_id) == ("view", "kpi", "churn_rate")
    assert entry.detail["month"] == "2026-03"


@pytest.mark.parametrize(
    "key, kw",
    [("nope", {}), ("complaints_closed_in_24h_rate", {}), ("reminder_rate", {"task_type": "x"}),
     ("churn_rate", {"group": "x"}), ("appointment_rate", {"group": "local"})],
)
def test_drill_down_of_nothing_is_not_found(session, key, kw):
    with pytest.raises(svc.DrillNotFound):
        drill(session, key, **kw)


# --- set-based: one query per family, whatever the data ---------------------------------------


def _statements(session, fn) -> int:
    count = 0

    def seen(*_args, **_kw):
        nonlocal count
        count += 1

    engine = db.engine
    event.listen(engine, "before_cursor_execute", seen)
    try:
        fn()
    finally:
        event.remove(engine, "before_cursor_execute", seen)
    return count


def test_the_report_costs_the_same_few_queries_for_any_amount_of_data(session):
    empty = _statements(session, lambda: kpis(session))
    World(session)  # users only
    for i in range(30):
        v = f.make_vehicle(session, delivery_date=date(2025, 12, 1 + i % 28))
        t = f.make_task(session, v.customer, vehicle_id=v.id, type="first_service", due_at=eod(2026, 3, 1 + i % 28))
        f.make_attempt(session, t, outcome="no_answer", status="no-answer", started_at=at(2026, 3, 2, 10))
        f.make_visit(session, v, date=date(2026, 3, 1 + i % 28), kind="first_service")
    session.flush()
    full = _statements(session, lambda: kpis(session))
    assert full == empty
    # settings, the seven families, the sample (its draws and the month's calls), the
    # surveys (SSI, CSI, their factors, the consultants), the complaints, the campaigns,
    # the appointment register's show rate
    assert full <= 17


# --- scorecards ----------------------------------------------------------------------------


@pytest.fixture
def team(session):
    """spec_a: customer X with two tasks settled by the same three calls (two missed, one
    answered); customer Y reached at the first call but recorded late; customer Z's
    birthday greeted on time. spec_b: nothing this month."""
    w = World(session)
    x = f.make_customer(session)
    w.t1 = w.task("service_callback", eod(2026, 3, 10), customer=x, status="done", outcome="reached_satisfied",
                  closed_at=at(2026, 3, 9, 15), assignee=w.a)
    w.t2 = w.task("warranty_expiry", eod(2026, 3, 10), customer=x, status="done", outcome="will_come",
                  closed_at=at(2026, 3, 9, 15), assignee=w.a)
    for day, hour, outcome in ((7, 10, "no_answer"), (8, 15, "busy"), (9, 14, "completed")):
        w.attempt(w.t1, at(2026, 3, day, hour), outcome, also=[w.t2])
    w.t3 = w.task("maintenance", eod(2026, 3, 12), status="done", outcome="will_come",
                  closed_at=at(2026, 3, 13, 9), assignee=w.a)
    w.attempt(w.t3, at(2026, 3, 12, 10), "completed")
    w.t4 = w.task("birthday", at(2026, 3, 20, 10, 30), status="done", outcome="greeted",
                  closed_at=at(2026, 3, 20, 9), assignee=w.a)
    session.flush()
    return w


def _cards(session, viewer):
    from care.services.scorecards import scorecards

    _span, groups = scorecards(session, MARCH, viewer=viewer, now=AFTER)
    return {g.role: {u.username: card for u, card in g.cards} for g in groups}


def test_a_scorecard_counts_per_task_and_per_customer(team, session):
    manager = f.make_user(session, "care_manager", username="boss")
    card = _cards(session, manager)["specialist"]["spec_a"]
    c = card.counts
    assert (c.tasks, c.customers, c.done, c.reached, c.reached_customers) == (4, 3, 4, 4, 3)
    assert c.on_time == 3  # t3 was recorded after its deadline
    assert (c.phone_tasks, c.compliant) == (3, 3)  # the birthday apart
    # three calls for X's two tasks count 3 for each task, but are 3 calls; one call for Y
    assert (c.attempts, c.called_tasks, c.calls, c.called_customers) == (7, 3, 4, 2)
    assert card.attempts_per_task == pytest.approx(7 / 3)
    assert card.calls_per_customer == 2.0
    assert card.reached_customer_rate.value == 1.0
    empty = _cards(session, manager)["specialist"]["spec_b"]
    assert empty.counts == rules.ScoreCounts() and empty.reached_rate.value is None


def test_calling_one_customer_again_and_again_inflates_no_rate(team, session):
    manager = f.make_user(session, "care_manager", username="boss")
    before = _cards(session, manager)["specialist"]["spec_a"]
    for day in (1, 2, 3, 4, 5):  # five more missed calls to Y, for the same task
        team.attempt(team.t3, at(2026, 3, day, 19), "no_answer")
    session.flush()
    after = _cards(session, manager)["specialist"]["spec_a"]
    assert after.reached_rate == before.reached_rate
    assert after.reached_customer_rate == before.reached_customer_rate
    assert after.on_time_rate == before.on_time_rate
    assert after.counts.customers == before.counts.customers and after.counts.called_customers == 2
    assert after.counts.calls == before.counts.calls + 5  # what grows is the effort, shown as such


@pytest.mark.parametrize(
    "roles, sees",
    [
        (("care_manager",), {"specialist": {"spec_a", "spec_b"}, "insurance": {"ins"}, "consultant": {"cons"}}),
        (("general_manager",), {"specialist": {"spec_a", "spec_b"}, "insurance": {"ins"}, "consultant": {"cons"}}),
        (("sales_manager",), {"consultant": {"cons"}}),
        (("front_desk",), {}),
        (("admin",), {}),
    ],
)
def test_who_sees_which_scorecards(team, session, roles, sees):
    viewer = f.make_user(session, *roles, username="viewer")
    assert {role: set(cards) for role, cards in _cards(session, viewer).items()} == sees


def test_a_specialist_sees_only_their_own_card(team, session):
    assert {r: set(c) for r, c in _cards(session, team.a).items()} == {"specialist": {"spec_a"}}
    assert {r: set(c) for r, c in _cards(session, team.ins).items()} == {"insurance": {"ins"}}
    assert {r: set(c) for r, c in _cards(session, team.cons).items()} == {"consultant": {"cons"}}

"""The register's rules (care.domain.register, R17): slots, reconciliation, show rate,
the no-show day, changes since a submission, who may change an appointment."""

from __future__ import annotations

from datetime import date, datetime, time
from zoneinfo import ZoneInfo

from care.domain import register as r

SH = ZoneInfo("Asia/Shanghai")


def E(vin, at, kind="maintenance", ref=None):
    return r.Entry(vin, time.fromisoformat(at), kind, ref or f"{vin}@{at}")


def test_slots_cut_the_opening_hours_and_the_last_may_be_short():
    slots = r.slots(time(8, 30), time(10, 0), 40)
    assert [(s.start, s.end) for s in slots] == [(time(8, 30), time(9, 10)), (time(9, 10), time(9, 50)), (time(9, 50), time(10, 0))]
    assert r.slot_of(time(9, 49), time(8, 30), time(10, 0), 40).start == time(9, 10)
    assert r.slot_of(time(10, 0), time(8, 30), time(10, 0), 40) is None
    assert not r.within_hours(time(8, 29), time(8, 30), time(17, 30))


def test_slot_use_counts_places_and_marks_a_full_or_overbooked_slot():
    uses = r.slot_use([time(9, 0), time(9, 10), time(9, 29), time(9, 30)], time(9, 0), time(10, 0), 30, 2)
    assert [(u.used, u.free, u.full, u.over) for u in uses] == [(3, 0, True, 1), (1, 1, False, 0)]


def test_reconcile_lists_every_kind_of_difference():
    care = [E("A", "09:00"), E("B", "10:00"), E("C", "11:00", "maintenance"), E("D", "12:00"), E("F", "13:00", "repair")]
    desk = [E("A", "09:00"), E("C", "11:00", "repair"), E("D", "12:30"), E("E", "14:00"), E("F", "15:00", "warranty")]
    result = r.reconcile(care, desk)
    kinds = [(d.kind, d.vin) for d in result.differences]
    assert kinds == [
        ("missing_at_front_desk", "B"),
        ("kind_differs", "C"),
        ("time_differs", "D"),
        ("time_differs", "F"),
        ("kind_differs", "F"),
        ("missing_in_care", "E"),
    ]
    assert result.source_of("A@09:00") == "both" and result.source_of("B@10:00") == "care"
    assert [e.vin for e in result.unmatched_front_desk] == ["E"]
    assert result.differences[2].as_json() == {
        "kind": "time_differs", "vin": "D",
        "care": {"time": "12:00", "kind": "maintenance"}, "front_desk": {"time": "12:30", "kind": "maintenance"},
    }  # fmt: skip


def test_reconcile_pairs_one_vehicles_two_bookings_by_time():
    result = r.reconcile([E("A", "09:00"), E("A", "15:00")], [E("A", "15:00"), E("A", "09:30")])
    assert [(d.kind, d.care.time, d.front_desk.time) for d in result.differences] == [
        ("time_differs", time(9, 0), time(9, 30))
    ]


def test_two_identical_copies_have_no_difference():
    assert r.reconcile([E("A", "09:00")], [E("A", "09:00")]).differences == ()
    assert r.reconcile([], []).differences == ()


def test_show_rate_counts_only_decided_appointments():
    rate = r.show_rate(["arrived", "arrived", "no_show", "booked", "cancelled", "rescheduled"])
    assert (rate.numerator, rate.denominator) == (2, 3)
    assert r.show_rate(["booked", "cancelled"]).as_json() == {"rate": None, "numerator": 0, "denominator": 0}


def test_a_no_show_is_decided_the_morning_after_by_default():
    day = date(2026, 5, 11)
    assert not r.no_show_due(day, datetime(2026, 5, 11, 20, 0), 1, time(8, 30))
    assert not r.no_show_due(day, datetime(2026, 5, 12, 8, 29), 1, time(8, 30))
    assert r.no_show_due(day, datetime(2026, 5, 12, 8, 30), 1, time(8, 30))
    assert not r.no_show_due(day, datetime(2026, 5, 12, 12, 0), 2, time(8, 30))
    assert r.no_show_due(day, datetime(2026, 5, 14, 0, 0), 2, time(8, 30))


def test_the_deadline_and_a_late_submission():
    day = date(2026, 5, 11)
    assert r.deadline(day, time(17, 30), SH) == datetime(2026, 5, 11, 17, 30, tzinfo=SH)
    assert not r.is_late(datetime(2026, 5, 11, 17, 30, tzinfo=SH), day, time(17, 30), SH)
    assert r.is_late(datetime(2026, 5, 11, 17, 31, tzinfo=SH), day, time(17, 30), SH)


def test_changes_since_a_submission():
    before = r.fingerprint([(1, "A", time(9, 0), "maintenance"), (2, "B", time(10, 0), "repair")])
    now = r.fingerprint([(1, "A", time(9, 30), "maintenance"), (3, "C", time(11, 0), "repair")])
    assert r.changes_since(before, now) == {"added": [3], "removed": [2], "changed": [1]}
    assert r.changes_since(before, before) == {"added": [], "removed": [], "changed": []}


def test_who_may_change_an_appointment():
    assert r.may_change(1, {"specialist"}, 1, None, "confirmed")
    assert r.may_change(2, {"specialist"}, 1, 2, "cancelled")  # holds the task
    assert not r.may_change(3, {"specialist"}, 1, 2, "confirmed")
    assert r.may_change(3, {"care_manager"}, 1, 2, "cancelled")
    assert r.may_change(4, {"front_desk"}, 1, None, "arrived")
    assert not r.may_change(4, {"front_desk"}, 1, None, "confirmed")


def test_the_manual_moves():
    assert r.can_change("booked", "confirmed") and r.can_change("no_show", "arrived")
    assert not r.can_change("cancelled", "booked") and not r.can_change("arrived", "no_show")

"""The appointment register (domain.md R17): statuses, time slots and their capacity,
the reconciliation of the care department's copy with the front desk's, the submission
deadline, and the show rate.

Pure: standard library only (care/services/register.py reads and writes the rows).

- **Statuses**: ``booked`` → ``confirmed`` (the customer confirmed, by a call or a reply)
  → ``arrived`` (a visit of the vehicle within ``arrival_tolerance_days``) or ``no_show``
  (no visit ``no_show_after_days`` after the day); ``cancelled`` and ``rescheduled``
  (moved to another appointment) leave the register. A no-show that turns out to have come
  (a late visits import) becomes ``arrived``.
- **Slots**: the opening hours (``service_opens`` … ``service_closes``) cut into slots of
  ``appointment_slot_minutes``; a slot holds ``appointment_slot_capacity`` appointments,
  more only with a reason (stored on the appointment).
- **Reconciliation**: one line per vehicle and day in either copy, matched on the vehicle;
  a difference is ``missing_at_front_desk`` (care booked it, the front desk has nothing
  for that vehicle that day), ``missing_in_care`` (the reverse), ``time_differs`` or
  ``kind_differs`` (both have it, the time or the service kind differ; both differences
  are listed when both differ).
- **Submission**: due at ``register_deadline`` of the day itself (dealer time); a
  submission after it is late; a day with appointments and no submission by then is
  flagged (and is a violation, ``register_not_submitted``).
- **Show rate**: arrived ÷ booked, where booked counts the appointments that stayed in the
  register (not cancelled nor rescheduled) of days already decided (arrived or no-show).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from care.domain import N_

BOOKED, CONFIRMED, ARRIVED, NO_SHOW, CANCELLED, RESCHEDULED = (
    "booked", "confirmed", "arrived", "no_show", "cancelled", "rescheduled",
)  # fmt: skip
STATUSES = (BOOKED, CONFIRMED, ARRIVED, NO_SHOW, CANCELLED, RESCHEDULED)
# In the register (they hold a place in their slot): all but cancelled and rescheduled.
ACTIVE = (BOOKED, CONFIRMED, ARRIVED, NO_SHOW)
INACTIVE = (CANCELLED, RESCHEDULED)
# Still waiting for the customer: a visit may make them arrived, none a no-show.
PENDING = (BOOKED, CONFIRMED)

# Status changes a person may make on the register (the scheduler and imports make
# arrived / no_show; rescheduling books the new appointment first).
MANUAL_CHANGES: dict[str, tuple[str, ...]] = {
    BOOKED: (CONFIRMED, ARRIVED, CANCELLED),
    CONFIRMED: (ARRIVED, CANCELLED),
    NO_SHOW: (ARRIVED,),
    ARRIVED: (),
    CANCELLED: (),
    RESCHEDULED: (),
}

SOURCE_CARE, SOURCE_FRONT_DESK, SOURCE_BOTH = "care", "front_desk", "both"

MISSING_AT_FRONT_DESK = "missing_at_front_desk"
MISSING_IN_CARE = "missing_in_care"
TIME_DIFFERS = "time_differs"
KIND_DIFFERS = "kind_differs"
DIFFERENCE_KINDS = (MISSING_AT_FRONT_DESK, MISSING_IN_CARE, TIME_DIFFERS, KIND_DIFFERS)


def can_change(current: str, new: str) -> bool:
    return new in MANUAL_CHANGES.get(current, ())


# --- slots -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Slot:
    start: time
    end: time

    @property
    def label(self) -> str:
        return f"{self.start:%H:%M}–{self.end:%H:%M}"


def _minutes(t: time) -> int:
    return t.hour * 60 + t.minute


def _clock(minutes: int) -> time:
    return time(minutes // 60, minutes % 60)


def slots(opens: time, closes: time, minutes: int) -> list[Slot]:
    """The day's slots from ``opens``; the last one ends at ``closes`` (it may be short)."""
    out = []
    start, end = _minutes(opens), _minutes(closes)
    step = max(1, int(minutes))
    while start < end:
        out.append(Slot(_clock(start), _clock(min(start + step, end))))
        start += step
    return out


def slot_of(at: time, opens: time, closes: time, minutes: int) -> Slot | None:
    """The slot ``at`` falls in, or None outside the opening hours."""
    return next((s for s in slots(opens, closes, minutes) if s.start <= at < s.end), None)


def within_hours(at: time, opens: time, closes: time) -> bool:
    return opens <= at < closes


@dataclass(frozen=True)
class SlotUse:
    slot: Slot
    used: int
    capacity: int

    @property
    def free(self) -> int:
        return max(0, self.capacity - self.used)

    @property
    def full(self) -> bool:
        return self.used >= self.capacity

    @property
    def over(self) -> int:
        return max(0, self.used - self.capacity)


def slot_use(times: Iterable[time], opens: time, closes: time, minutes: int, capacity: int) -> list[SlotUse]:
    """Each slot of the day with the places taken by ``times`` (one per appointment)."""
    day = slots(opens, closes, minutes)
    counts = dict.fromkeys(day, 0)
    for t in times:
        slot = next((s for s in day if s.start <= t < s.end), None)
        if slot is not None:
            counts[slot] += 1
    return [SlotUse(s, counts[s], capacity) for s in day]


# --- reconciliation -----------------------------------------------------------------------


@dataclass(frozen=True)
class Entry:
    """One appointment of one copy, as reconciled: the vehicle (VIN), time and kind."""

    vin: str
    time: time
    kind: str
    ref: int | str | None = None  # the appointment id / appt_no


@dataclass(frozen=True)
class Difference:
    kind: str
    vin: str
    care: Entry | None
    front_desk: Entry | None

    def as_json(self) -> dict:
        def side(e: Entry | None):
            return None if e is None else {"time": e.time.strftime("%H:%M"), "kind": e.kind}

        return {"kind": self.kind, "vin": self.vin, "care": side(self.care), "front_desk": side(self.front_desk)}


@dataclass(frozen=True)
class Reconciliation:
    differences: tuple[Difference, ...]
    # care ref → the front desk entry it matched; front desk refs matched to a care one
    matched: dict
    unmatched_front_desk: tuple[Entry, ...]

    def source_of(self, care_ref) -> str:
        return SOURCE_BOTH if care_ref in self.matched else SOURCE_CARE


def _pair(care: list[Entry], desk: list[Entry]) -> list[tuple[Entry | None, Entry | None]]:
    """Pair one vehicle's entries of the two copies: same time first, then by time order."""
    care, desk = sorted(care, key=lambda e: e.time), sorted(desk, key=lambda e: e.time)
    pairs: list[tuple[Entry | None, Entry | None]] = []
    left_desk = list(desk)
    rest_care = []
    for c in care:
        same = next((d for d in left_desk if d.time == c.time), None)
        if same is not None:
            left_desk.remove(same)
            pairs.append((c, same))
        else:
            rest_care.append(c)
    for c in rest_care:
        d = left_desk.pop(0) if left_desk else None
        pairs.append((c, d))
    pairs.extend((None, d) for d in left_desk)
    return pairs


def reconcile(care: Iterable[Entry], front_desk: Iterable[Entry]) -> Reconciliation:
    """Every difference between the two copies of one day's register, by VIN then time."""
    by_vin: dict[str, tuple[list[Entry], list[Entry]]] = {}
    for e in care:
        by_vin.setdefault(e.vin, ([], []))[0].append(e)
    for e in front_desk:
        by_vin.setdefault(e.vin, ([], []))[1].append(e)
    differences: list[Difference] = []
    matched: dict = {}
    unmatched: list[Entry] = []
    for vin in sorted(by_vin):
        for c, d in _pair(*by_vin[vin]):
            if c is None:
                differences.append(Difference(MISSING_IN_CARE, vin, None, d))
                unmatched.append(d)
                continue
            if d is None:
                differences.append(Difference(MISSING_AT_FRONT_DESK, vin, c, None))
                continue
            matched[c.ref] = d
            if c.time != d.time:
                differences.append(Difference(TIME_DIFFERS, vin, c, d))
            if c.kind != d.kind:
                differences.append(Difference(KIND_DIFFERS, vin, c, d))
    differences.sort(key=lambda x: ((x.care or x.front_desk).time, x.vin, DIFFERENCE_KINDS.index(x.kind)))
    return Reconciliation(tuple(differences), matched, tuple(unmatched))


# --- submission ---------------------------------------------------------------------------


def deadline(day: date, at: time, tz) -> datetime:
    """The instant the day's register is due (aware, in ``tz``)."""
    return datetime.combine(day, at, tzinfo=tz)


def is_late(submitted_at: datetime, day: date, at: time, tz) -> bool:
    return submitted_at > deadline(day, at, tz)


def fingerprint(rows: Iterable[tuple[int, str, time, str]]) -> list[list]:
    """What a submission fixes: (appointment id, VIN, time, kind) of each active
    appointment, sorted; a status change that keeps it in the register (confirmed,
    arrived, no-show) is no change of the register."""
    return sorted([int(i), vin or "", t.strftime("%H:%M"), kind] for i, vin, t, kind in rows)


def changes_since(snapshot: list | None, current: list[list]) -> dict[str, list[int]]:
    """The appointments added, removed (cancelled, rescheduled) and changed (time, kind,
    vehicle) since the submission's ``snapshot``."""
    before = {row[0]: row for row in snapshot or []}
    now = {row[0]: row for row in current}
    return {
        "added": sorted(i for i in now if i not in before),
        "removed": sorted(i for i in before if i not in now),
        "changed": sorted(i for i in now if i in before and list(now[i]) != list(before[i])),
    }


# --- show rate ----------------------------------------------------------------------------


@dataclass(frozen=True)
class ShowRate:
    numerator: int
    denominator: int

    @property
    def rate(self) -> float | None:
        return self.numerator / self.denominator if self.denominator else None

    def as_json(self) -> dict:
        return {"rate": self.rate, "numerator": self.numerator, "denominator": self.denominator}


def show_rate(statuses: Iterable[str]) -> ShowRate:
    """Arrived ÷ booked: of the appointments that stayed in the register (cancelled and
    rescheduled ones left it), those decided (arrived or no-show) count."""
    decided = [s for s in statuses if s in (ARRIVED, NO_SHOW)]
    return ShowRate(sum(1 for s in decided if s == ARRIVED), len(decided))


def no_show_due(day: date, now_local: datetime, after_days: int, workday_start: time) -> bool:
    """Is an appointment of ``day`` with no visit a no-show at ``now_local`` (the dealer's
    wall clock)? From the work-day start ``after_days`` days after it (the night's visits
    import is in by then): by default the next morning."""
    due = day + timedelta(days=max(1, after_days))
    today = now_local.date()
    return today > due or (today == due and now_local.time().replace(tzinfo=None) >= workday_start)


def reminder_day(day: date, days_before: int) -> date:
    return day - timedelta(days=days_before)


# Messages the service raises (collected here for the catalogue).
FULL_SLOT = N_(
    "The %(slot)s slot is full (%(used)d of %(capacity)d places): choose another time, "
    "or give a reason to book it all the same."
)
OUTSIDE_HOURS = N_("Choose a time within the opening hours, %(start)s to %(end)s.")


# --- who may change an appointment (the ownership matrix) ------------------------------------

CARE_MANAGER, FRONT_DESK = "care_manager", "front_desk"


def may_change(
    user_id: int, roles, booked_by_id: int | None, task_assignee_id: int | None, new_status: str
) -> bool:
    """A care manager changes any appointment; whoever booked it, or holds the task it was
    booked from, changes their own; the front desk marks any arrived (the car is there)."""
    roles = {str(r) for r in roles}
    if CARE_MANAGER in roles:
        return True
    if new_status == ARRIVED and FRONT_DESK in roles:
        return True
    return user_id is not None and user_id in (booked_by_id, task_assignee_id)

"""The data of bench/pages_bench.py: a dealership with a year of care work behind it.

    from bench.pages_data import build_pages_data
    info = build_pages_data(app, customers=100_000, tasks=200_000, attempts=1_000_000, seed=5)

On top of the synthetic dealership of bench/dealership.py (customers, vehicles, visits,
policies, deliveries, users), Core bulk inserts in chunks (as bench/report_bench.py does):

- the closed care tasks of the last year, each with its outcome when reached and its call
  attempts (five or six on average: a task's own three plus the calls of the contacts it
  was bundled in), every attempt linked in ``call_attempt_tasks`` as the app links them;
- today's work: about ``open_share`` of the tasks open and due (opened in the last weeks,
  deadlines from a few days ago to a month ahead) for the ten care specialists and the
  four insurance specialists, one in five already called once or twice in the last two
  days (the R13 window), a few blocked (number correction);
- the customer ``THREE_REASON`` with three open tasks (maintenance, inspection, insurance)
  for ``specialist1``, two of them called yesterday: the contact page's subject.

Everything is relative to ``now`` (the build's), so the call states are today's.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from bench.dealership import CHUNK, SLOT_HOURS, TYPES, build
from care.domain.outcomes import outcomes_for

DATA_VERSION = 2  # in the cached file's name: a change to the data builds it again
THREE_REASON = 4242  # the contact page's customer
LOGINS = ("specialist1", "care_manager1")


def reason(kind: str, rng: random.Random, due: datetime) -> tuple[str, dict]:
    """A real reason id with plausible parameters (the page renders them)."""
    day = due.date()
    if kind == "maintenance":
        return "maintenance.reason_time", {"last_service": str(day - timedelta(days=180)), "due": str(day), "interval_months": 6}
    if kind == "first_service":
        return "first_service.reason", {"delivered": str(day - timedelta(days=90)), "due": str(day)}
    if kind == "insurance_renewal":
        return "insurance_renewal.reason", {"policy_no": f"P{rng.randrange(10**9):09d}", "expiry": str(day + timedelta(days=30))}
    if kind == "inspection":
        return "inspection.reason", {"inspection_due": str(day)}
    if kind == "warranty_expiry":
        return "warranty_expiry.reason", {"warranty_end": str(day + timedelta(days=30))}
    if kind == "birthday":
        return "birthday.reason", {"birthday": str(day)}
    if kind == "service_callback":
        return "service_callback.reason", {"visit_date": str(day - timedelta(days=3)), "ro_no": f"RO{rng.randrange(10**9):09d}"}
    if kind == "lapsed_recall":
        return "lapsed_recall.reason", {"last_visit": str(day - timedelta(days=400)), "group": "local"}
    if kind == "delivery_call":
        return "delivery_call.reason", {"delivered_at": str(day - timedelta(days=2)), "due_at": str(day)}
    return "delivery_survey.reason", {"delivered_at": str(day - timedelta(days=7)), "file_arrived_on": str(day - timedelta(days=6))}


class _Writer:
    """Rows buffered per table, written parents first in chunks."""

    ORDER = ("care_tasks", "task_outcomes", "call_attempts", "call_attempt_tasks")

    def __init__(self, session):
        self.session = session
        self.rows: dict[str, list[dict]] = {name: [] for name in self.ORDER}
        self.counts = dict.fromkeys(self.ORDER, 0)
        self.tables = {name: sa.Table(name, sa.MetaData(), autoload_with=session.connection()) for name in self.ORDER}

    def add(self, table: str, row: dict) -> None:
        self.rows[table].append(row)

    def flush(self, final: bool = False) -> None:
        if not final and len(self.rows["call_attempts"]) < CHUNK:
            return
        for name in self.ORDER:
            if self.rows[name]:
                self.session.execute(sa.insert(self.tables[name]), self.rows[name])
                self.counts[name] += len(self.rows[name])
                self.rows[name].clear()


def build_pages_data(
    session,
    *,
    now: datetime,
    customers: int = 100_000,
    tasks: int = 200_000,
    attempts: int = 1_000_000,
    open_share: float = 0.12,
    seed: int = 5,
) -> dict[str, int]:
    """Fill an empty (migrated) schema; returns the row counts. ``now`` is aware."""
    rng = random.Random(seed)
    today = now.date()
    counts = build(session, vehicles=round(customers * 1.2), customers=customers, visits=customers * 2, today=today, seed=seed)
    vehicles = session.execute(sa.text("SELECT id, customer_id FROM vehicles ORDER BY id")).all()
    first_vehicle = {}
    for vid, cid in vehicles:
        first_vehicle.setdefault(cid, vid)
    by_role: dict[str, list[int]] = {}
    for uid, role in session.execute(sa.text("SELECT user_id, role FROM user_roles ORDER BY user_id")):
        by_role.setdefault(role, []).append(uid)
    kinds = [t for t, share in TYPES for _ in range(share)]
    closing = {t: [o.code for o in outcomes_for(t) if o.closes_task] or ["done"] for t, _ in TYPES}
    w = _Writer(session)
    ids = {"task": 0, "attempt": 0, "outcome": 0}

    def owner(kind: str) -> int:
        return rng.choice(by_role["insurance" if kind == "insurance_renewal" else "specialist"])

    def add_task(kind, customer_id, status, opens, due, assignee, *, closed=None, outcome=None) -> int:
        ids["task"] += 1
        reason_id, params = reason(kind, rng, due)
        w.add("care_tasks", {
            "id": ids["task"], "type": kind, "status": status, "cycle_key": f"bench:{ids['task']}",
            "customer_id": customer_id, "vehicle_id": first_vehicle.get(customer_id), "opens_on": opens,
            "due_at": due, "owner_rule": "round_robin", "assignee_id": assignee, "channel": "call",
            "reason_id": reason_id, "reason_params": params, "outcome": outcome, "closed_at": closed,
            "closed_by_id": assignee if closed else None, "created_at": datetime.combine(opens, datetime.min.time(), UTC),
            "updated_at": closed or now,
        })  # fmt: skip
        return ids["task"]

    def add_attempt(task_id, customer_id, user_id, when, answered) -> None:
        ids["attempt"] += 1
        outcome = "completed" if answered else "no_answer"
        local = when + timedelta(hours=8)
        slot = "morning" if local.hour < 12 else ("afternoon" if local.hour < 18 else "evening")
        w.add("call_attempts", {
            "id": ids["attempt"], "task_id": task_id, "customer_id": customer_id, "user_id": user_id,
            "provider": "sim", "provider_call_id": f"B{ids['attempt']}", "to_number": f"+86138{customer_id:08d}",
            "status": outcome, "rank": 3, "sequence": 3, "events_folded": 3, "ended_as": outcome,
            "answered": answered, "outcome": outcome, "counted": True, "slot": slot, "slot_date": local.date(),
            "started_at": when, "answered_at": when + timedelta(seconds=8) if answered else None,
            "ended_at": when + timedelta(seconds=40), "duration_s": 32 if answered else 0,
            "finalized_at": when + timedelta(minutes=1), "updated_at": when,
        })  # fmt: skip
        w.add("call_attempt_tasks", {"attempt_id": ids["attempt"], "task_id": task_id})

    # today's work first (small ids), then the closed history
    n_open = round(tasks * open_share)
    three = [("maintenance", 0), ("inspection", 1), ("insurance_renewal", 1)]  # (type, called yesterday)
    specialist1 = by_role["specialist"][0]
    for kind, called in three:
        due = now + timedelta(days=3 + len(kind) % 5)
        task_id = add_task(kind, THREE_REASON, "open", today - timedelta(days=5), due, specialist1)
        if called:
            add_attempt(task_id, THREE_REASON, specialist1, now - timedelta(days=1, hours=2), False)
    while ids["task"] < n_open:
        kind = rng.choice(kinds)
        customer_id = rng.randint(1, customers)
        if customer_id == THREE_REASON:
            continue
        opens = today - timedelta(days=rng.randrange(0, 30))
        due = datetime.combine(today, datetime.min.time(), UTC) + timedelta(days=rng.randrange(-4, 30), hours=15, minutes=59, seconds=59)
        status = "blocked" if rng.random() < 0.03 else "open"
        assignee = owner(kind)
        task_id = add_task(kind, customer_id, status, opens, due, assignee)
        if status == "open" and rng.random() < 0.2:
            for k in range(rng.choice((1, 1, 2))):
                add_attempt(task_id, customer_id, assignee, now - timedelta(days=k + 1, hours=rng.randrange(0, 6)), False)
        w.flush()
    open_attempts = ids["attempt"]
    n_closed = tasks - ids["task"]
    per_task = (attempts - open_attempts) / max(1, n_closed)
    for i in range(n_closed):
        kind = rng.choice(kinds)
        customer_id = rng.randint(1, customers)
        opens = today - timedelta(days=rng.randrange(31, 365))
        start = datetime.combine(opens, datetime.min.time(), UTC)
        assignee = owner(kind)
        # attempts of this task so that the total lands on ``attempts``
        n = int(per_task) + (1 if rng.random() < per_task - int(per_task) else 0)
        reached = rng.random() < 0.7
        when = start
        first_id = ids["task"] + 1
        for k in range(n):
            when = start + timedelta(days=k // 3, hours=rng.choice(SLOT_HOURS), minutes=rng.randrange(60))
            add_attempt(first_id, customer_id, assignee, when, reached and k == n - 1)
        closed = when + timedelta(minutes=5)
        code = rng.choice(closing[kind]) if reached else None
        add_task(kind, customer_id, "done" if reached else "failed", opens, start + timedelta(days=14, hours=15),
                 assignee, closed=closed, outcome=code)  # fmt: skip
        if reached:
            ids["outcome"] += 1
            w.add("task_outcomes", {"id": ids["outcome"], "task_id": first_id, "outcome": code, "closes_task": True,
                                    "source": "manual", "recorded_by_id": assignee, "recorded_at": closed})  # fmt: skip
        if i % 1000 == 0:
            w.flush()
    w.flush(final=True)
    counts.update(w.counts)
    return counts

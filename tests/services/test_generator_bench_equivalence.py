"""The generator's output on bench/dealership.py's synthetic dealership, against a golden
file recorded from the generator before issue 14's speed work.

A small dealership (fixed seed and dates) is generated on a sequence of days – a first
run, the same day again, the next day, the 1st of the next month (every lapsed vehicle's
R9 recall, last month's superseded) and the day after – and the resulting task table
(every column that says what a task is, ids replaced by the rows' natural keys) and each
run's counts are compared with tests/services/golden/generator_bench.json (per task type
the number of tasks and a sha256 of their sorted rows: the rows themselves would be
about 1 MB). A faster
generator must create exactly the same tasks, assign them to the same people, supersede
the same recalls and count the same skips.

To record the golden file again (only when a behaviour change is intended, and say so
in the commit): ``CARE_UPDATE_GOLDEN=1 pytest tests/services/test_generator_bench_equivalence.py``.
"""

from __future__ import annotations

import hashlib
import json
import os
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from sqlalchemy import select

from bench.dealership import build
from care.models import (
    CareTask,
    Customer,
    Delivery,
    GenerationRun,
    InsurancePolicy,
    ServiceVisit,
    User,
    Vehicle,
)
from care.services import Actor
from care.services.generator import generate

GOLDEN = Path(__file__).parent / "golden" / "generator_bench.json"
VEHICLES = 2000
SEED = 11
TODAY = date(2026, 3, 10)
DAYS = (  # (label, generation day) in the order they run
    ("first", TODAY),
    ("again", TODAY),
    ("next day", TODAY + timedelta(days=1)),
    ("1st of month", date(2026, 4, 1)),
    ("day after the 1st", date(2026, 4, 2)),
)


def _utc(value: datetime | None) -> str | None:
    if value is None:
        return None
    if value.tzinfo is None:  # SQLite hands back the stored UTC time without its zone
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).isoformat()


def _names(session, column_key, value_column) -> dict:
    return dict(session.execute(select(column_key, value_column)).all())


def task_digest(session) -> list[list]:
    """Every task as a list of what defines it, sorted; row ids as natural keys."""
    customers = _names(session, Customer.id, Customer.customer_no)
    vehicles = _names(session, Vehicle.id, Vehicle.vin)
    policies = _names(session, InsurancePolicy.id, InsurancePolicy.policy_no)
    visits = _names(session, ServiceVisit.id, ServiceVisit.ro_no)
    deliveries = {  # one delivery per vehicle in the bench dealership
        delivery_id: vehicles[vehicle_id]
        for delivery_id, vehicle_id in session.execute(select(Delivery.id, Delivery.vehicle_id))
    }
    users = _names(session, User.id, User.username)
    runs = {
        run_id: f"{for_date.isoformat()}#{n}"
        for n, (run_id, for_date) in enumerate(
            session.execute(select(GenerationRun.id, GenerationRun.for_date).order_by(GenerationRun.id))
        )
    }
    rows = []
    for t in session.scalars(select(CareTask)):
        rows.append(
            [
                t.cycle_key,
                t.type,
                t.status,
                t.outcome,
                customers[t.customer_id],
                vehicles.get(t.vehicle_id),
                policies.get(t.policy_id),
                visits.get(t.visit_id),
                deliveries.get(t.delivery_id),
                t.opens_on.isoformat(),
                _utc(t.due_at),
                t.owner_rule,
                users.get(t.assignee_id),
                t.channel,
                t.fallback,
                t.reason_id,
                json.dumps(t.reason_params, sort_keys=True, ensure_ascii=False),
                runs[t.generation_run_id],
            ]
        )
    return sorted(rows)


def tasks_by_type(rows: list[list]) -> dict[str, dict]:
    """Per task type: how many, and the sha256 of its sorted rows (one JSON line each)."""
    grouped: dict[str, list[str]] = {}
    for row in rows:
        grouped.setdefault(row[1], []).append(json.dumps(row, ensure_ascii=False))
    return {
        task_type: {
            "count": len(lines),
            "sha256": hashlib.sha256("\n".join(sorted(lines)).encode()).hexdigest(),
        }
        for task_type, lines in sorted(grouped.items())
    }


def test_generator_output_on_the_bench_dealership_matches_the_golden_file(session, tmp_path):
    counts = build(session, vehicles=VEHICLES, today=TODAY, seed=SEED)
    session.flush()
    run_counts = []
    for n, (label, day) in enumerate(DAYS):
        now = datetime(day.year, day.month, day.day, 0, 30, tzinfo=UTC) + timedelta(minutes=n)
        run = generate(session, day, actor=Actor("golden"), now=now)
        run_counts.append(
            {
                "label": label,
                "day": day.isoformat(),
                "created": dict(sorted((run.created or {}).items())),
                "skipped": {k: dict(sorted(v.items())) for k, v in sorted((run.skipped or {}).items())},
            }
        )
    session.flush()
    rows = task_digest(session)
    actual = {"dealership": counts, "runs": run_counts, "tasks": tasks_by_type(rows)}
    if os.environ.get("CARE_UPDATE_GOLDEN"):
        GOLDEN.parent.mkdir(exist_ok=True)
        GOLDEN.write_text(json.dumps(actual, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")

    golden = json.loads(GOLDEN.read_text(encoding="utf-8"))
    # the full rows (about 1 MB) are not kept; on a mismatch they are here to diff against
    # a run of the generator before the change
    dump = tmp_path / "generator_bench_tasks.jsonl"
    dump.write_text("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows), encoding="utf-8")
    assert actual["dealership"] == golden["dealership"]  # the same dealership was built
    assert actual["runs"] == golden["runs"]
    assert actual["tasks"] == golden["tasks"], f"the tasks differ; this run's rows: {dump}"

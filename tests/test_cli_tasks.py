"""`care generate` and `care tasks` (interfaces.md)."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime

import pytest
import time_machine
from sqlalchemy import select

from care.extensions import db
from care.models import AuditLog, GenerationRun
from tests import factories as f


def _run(runner, *args):
    return runner.invoke(args=["care", *args], catch_exceptions=False)


def _one_line(text: str) -> str:
    lines = [line for line in text.splitlines() if line.strip()]
    assert len(lines) == 1, text
    return lines[0]


@pytest.fixture
def dealership(app):
    """On 20 March 2026: a birthday (no vehicle), a first-service reminder, its proactive
    appointment invitation (R16, open since the 8th) and a service callback; the
    specialist is `spec`."""
    with app.app_context():
        s = db.session
        f.make_user(s, "specialist", username="spec")
        birthday = f.make_customer(s, birthday=date(1980, 3, 20))
        owner = f.make_customer(s)
        vehicle = f.make_vehicle(s, owner, delivery_date=date(2026, 1, 15))
        f.make_visit(s, vehicle, date=date(2026, 3, 18), kind="repair")
        s.commit()
        return {"birthday": birthday.customer_no, "owner": owner.customer_no, "vin": vehicle.vin}


def test_generate_json(runner, dealership):
    result = _run(runner, "generate", "--date", "2026-03-20", "--json")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["date"] == "2026-03-20"
    assert doc["created"] == {"first_service": 1, "birthday": 1, "service_callback": 1, "appointment": 1}
    assert doc["created_total"] == 4 and doc["skipped"] == {} and doc["caught_up"] == []
    assert isinstance(doc["run_id"], int)
    again = json.loads(_run(runner, "generate", "--date", "2026-03-20", "--json").stdout)
    assert again["created"] == {} and again["created_total"] == 0
    assert again["skipped"] == {"first_service": {"already_exists": 1}, "birthday": {"already_exists": 1},
                                "service_callback": {"already_exists": 1}, "appointment": {"already_exists": 1}}  # fmt: skip
    assert again["run_id"] != doc["run_id"]


def test_generate_defaults_to_today_at_the_dealer(app, runner, dealership):
    # 23:30 UTC on the 19th is 07:30 on the 20th in Shanghai
    with time_machine.travel(datetime(2026, 3, 19, 23, 30, tzinfo=UTC), tick=False):
        first = json.loads(_run(runner, "generate", "--json").stdout)
        assert first["date"] == "2026-03-20" and first["created_total"] == 4
    with time_machine.travel(datetime(2026, 3, 23, 1, 0, tzinfo=UTC), tick=False):
        later = json.loads(_run(runner, "generate", "--json").stdout)
    assert later["date"] == "2026-03-23"
    assert [d["date"] for d in later["caught_up"]] == ["2026-03-21", "2026-03-22"]
    with app.app_context():
        assert {r.actor for r in db.session.scalars(select(GenerationRun))} == {"cli"}


def test_generate_text(runner, dealership):
    result = _run(runner, "generate", "--date", "2026-03-20")
    assert result.exit_code == 0
    assert result.stdout.startswith("2026-03-20: 4 task(s) created (")
    again = _run(runner, "generate", "--date", "2026-03-20").stdout
    assert "0 task(s) created (nothing new)" in again and "skipped birthday: already_exists 1" in again


@pytest.mark.parametrize("bad", ["2026-02-30", "20-03-2026", "tomorrow", ""])
def test_generate_bad_date(runner, bad):
    result = _run(runner, "generate", "--date", bad)
    assert result.exit_code != 0
    assert _one_line(result.stderr).startswith("Error: --date:")


def test_tasks_json(runner, dealership):
    _run(runner, "generate", "--date", "2026-03-20")
    result = _run(runner, "tasks", "--json")
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    assert len(rows) == 4
    for row in rows:
        assert {"id", "type", "status", "customer_no", "vin", "opens_on", "due_at", "assignee"} <= row.keys()
        assert datetime.fromisoformat(row["due_at"]).utcoffset().total_seconds() == 8 * 3600
        assert row["due_at"].endswith("+08:00")
        date.fromisoformat(row["opens_on"])
        assert row["assignee"] == "spec" and row["status"] == "open"
    by_type = {r["type"]: r for r in rows}
    assert by_type["birthday"]["vin"] is None
    assert by_type["birthday"]["customer_no"] == dealership["birthday"]
    assert by_type["birthday"]["due_at"] == "2026-03-20T10:30:00+08:00"
    assert by_type["first_service"]["vin"] == dealership["vin"]
    assert by_type["first_service"]["customer_no"] == dealership["owner"]
    assert by_type["first_service"]["opens_on"] == "2026-03-15"
    assert by_type["first_service"]["due_at"] == "2026-04-15T23:59:59+08:00"


def test_tasks_filters(runner, dealership):
    _run(runner, "generate", "--date", "2026-03-20")

    def ids(*args):
        return sorted(r["type"] for r in json.loads(_run(runner, "tasks", *args, "--json").stdout))

    assert ids("--type", "birthday") == ["birthday"]
    assert ids("--status", "done") == []
    assert ids("--date", "2026-03-20") == ["appointment", "birthday", "first_service", "service_callback"]
    assert ids("--date", "2026-03-21") == ["appointment", "first_service", "service_callback"]  # the birthday closed
    assert ids("--date", "2026-03-22") == ["appointment", "first_service"]
    assert ids("--date", "2026-03-14") == ["appointment"]  # R16's invitation opens a week before the window
    assert ids("--date", "2026-03-07") == []  # before any window opens
    assert ids("--date", "2026-03-21", "--type", "service_callback", "--status", "open") == ["service_callback"]


def test_tasks_table(app, runner, dealership):
    assert _run(runner, "tasks").stdout.strip() == "no tasks"
    _run(runner, "generate", "--date", "2026-03-20")
    out = _run(runner, "tasks").stdout.splitlines()
    assert out[0].split() == ["id", "type", "status", "customer", "vin", "opens", "due", "assignee"]
    assert out[-1] == "4 task(s)" and len(out) == 6
    assert any("2026-03-20 10:30" in line and "birthday" in line for line in out)
    with app.app_context():
        entry = db.session.scalars(select(AuditLog).where(AuditLog.object_type == "care_tasks").order_by(AuditLog.id)).all()[-1]
        assert entry.action == "export" and entry.actor == "cli" and entry.detail["rows"] == 4


@pytest.mark.parametrize(
    ("args", "start"),
    [
        (["--date", "2026-3-32"], "Error: --date:"),
        (["--type", "oil_change"], "Error: --type: unknown task type 'oil_change'"),
        (["--status", "closed"], "Error: --status: unknown status 'closed'"),
    ],
)
def test_tasks_bad_arguments(runner, args, start):
    result = _run(runner, "tasks", *args, "--json")
    assert result.exit_code != 0 and result.stdout == ""
    assert _one_line(result.stderr).startswith(start)

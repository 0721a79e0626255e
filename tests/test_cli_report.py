"""`care report --month YYYY-MM [--json]` (interfaces.md): the monthly KPIs of R22."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest
import time_machine

from care.domain.lapsed import LAPSED_GROUPS
from care.domain.task_rules import TaskType
from care.extensions import db
from tests import factories as f

SH = ZoneInfo("Asia/Shanghai")


def _run(runner, *args):
    return runner.invoke(args=["care", *args], catch_exceptions=False)


@pytest.fixture
def march(app):
    """March 2026: two first-service windows closed (one returned), a first-service
    reminder reached and one never worked, a vehicle lapsed."""
    with app.app_context():
        s = db.session
        spec = f.make_user(s, "specialist", username="spec")
        f.make_user(s, "consultant", username="zhang")
        back = f.make_vehicle(s, delivery_date=date(2025, 12, 5))
        f.make_visit(s, back, date=date(2026, 3, 1), kind="first_service")
        away = f.make_vehicle(s, delivery_date=date(2025, 12, 20))
        f.make_task(s, away.customer, vehicle_id=away.id, type="first_service", assignee=spec, status="done",
                    outcome="will_come", due_at=datetime(2026, 3, 20, 23, 59, 59, tzinfo=SH),
                    closed_at=datetime(2026, 3, 2, 10, tzinfo=SH))  # fmt: skip
        f.make_task(s, type="first_service", assignee=spec, due_at=datetime(2026, 3, 25, 23, 59, 59, tzinfo=SH))
        lapsed = f.make_vehicle(s)
        f.make_visit(s, lapsed, date=date(2025, 10, 1), kind="maintenance")
        s.commit()


@time_machine.travel(datetime(2026, 4, 10, 2, 0, tzinfo=UTC), tick=False)
def test_report_json_is_the_contract(runner, march):
    result = _run(runner, "report", "--month", "2026-03", "--json")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)  # one JSON document and nothing else on stdout
    assert doc["month"] == "2026-03"
    assert doc["first_service_return_rate"] == {"rate": 0.5, "numerator": 1, "denominator": 2}
    assert doc["reminder_rate"]["first_service"] == {"rate": 0.5, "numerator": 1, "denominator": 2}
    assert set(doc["reminder_rate"]) == {t.value for t in TaskType}
    assert doc["reminder_rate"]["birthday"] == {"rate": None, "numerator": 0, "denominator": 0}
    assert doc["targets"]["first_service_reminder_rate"]["violates"] is True  # 50 % < 95 %
    assert doc["churn_rate"] == {"rate": 0.5, "numerator": 1, "denominator": 2}
    assert set(doc["lapsed_by_group"]) == {g.value for g in LAPSED_GROUPS}
    assert doc["lapsed_by_group"]["local_out_of_warranty"] == 1
    for key in ("appointment_rate", "attempt_compliance", "birthday_on_time_rate", "complaints_closed_in_24h_rate",
                "maintenance_return_rate", "appointment_show_rate"):  # fmt: skip
        assert set(doc[key]) == {"rate", "numerator", "denominator"}, key
    assert isinstance(doc["greetings_sent"], int)
    assert doc["ssi_index"] == {"index": None, "responses": 0, "ci95": None, "by_factor": {}}
    assert doc["csi_index"]["index"] is None
    assert doc["very_satisfied"] == {"zhang": {"rate": None, "numerator": 0, "denominator": 0}}
    assert set(doc["insurance_sample"]) == {"calls", "sampled", "verified", "completion"}


@time_machine.travel(datetime(2026, 4, 10, 2, 0, tzinfo=UTC), tick=False)
def test_report_text(runner, march):
    result = _run(runner, "report", "--month", "2026-03")
    assert result.exit_code == 0, result.output
    assert "KPIs of 2026-03" in result.output
    assert "first-service reminder rate  50.0% (1/2)  BELOW THE VIOLATION FLOOR" in result.output
    assert "complaints closed in time    —" in result.output


def test_an_empty_month_is_nulls_not_an_error(runner, app):
    result = _run(runner, "report", "--month", "2030-01", "--json")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["first_service_return_rate"]["rate"] is None and doc["churn_rate"]["rate"] is None


@pytest.mark.parametrize("month", ["2026-3", "2026-13", "march", "1999-12", ""])
def test_a_bad_month_is_one_line_and_exit_1(runner, app, month):
    result = _run(runner, "report", "--month", month, "--json")
    assert result.exit_code == 1
    assert result.stdout == ""
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("Error: --month:")


def test_month_is_required(runner, app):
    result = runner.invoke(args=["care", "report", "--json"])
    assert result.exit_code == 2 and "--month" in result.output

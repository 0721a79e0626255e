"""`care violations --month YYYY-MM [--json]` (interfaces.md): derives the month first, then
prints ``[{"rule", "person", "amount", "status", "evidence": [{"kind", "id"}]}]``."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
import time_machine
from sqlalchemy import select

from care.extensions import db
from care.models import AuditLog, Violation
from care.services import Actor
from care.services import sampling as sampling_service
from care.services.settings import set_settings
from tests import factories
from tests.services.helpers_sampling import NOW, OCTOBER, call, october


def _run(runner, *args):
    return runner.invoke(args=["care", "violations", *args])


@pytest.fixture(autouse=True)
def in_november():
    with time_machine.travel(NOW, tick=False):
        yield


@pytest.fixture
def october_data(app):
    with app.app_context():
        s = db.session
        a = factories.make_user(s, "specialist", username="spec_a")
        ins = factories.make_user(s, "insurance", username="ins_a")
        late = factories.make_task(s, type="birthday", assignee=a, due_at=datetime(2026, 10, 8, 3, tzinfo=UTC),
                                   status="expired", outcome="expired", closed_at=datetime(2026, 10, 8, 3, tzinfo=UTC))  # fmt: skip
        call(s, ins, october(2))
        draw = sampling_service.draw_sample(s, OCTOBER, seed=3, user=None, actor=Actor.CLI, now=NOW)
        # no greeting-campaign quota here (R11 has its own tests): the months hold only these
        set_settings(s, {"campaigns_per_month": "0"}, actor=Actor.CLI, now=NOW)
        s.commit()
        return {"late": late.id, "customer": late.customer_id, "sample_call": draw.calls[0].id}


def test_json_shape_exactly_as_interfaces_md(app, runner, october_data):
    result = _run(runner, "--month", "2026-10", "--json")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc == [
        {"rule": "care_not_done", "person": "spec_a", "amount": 50, "status": "open",
         "evidence": [{"kind": "task", "id": october_data["late"]}, {"kind": "customer", "id": october_data["customer"]}]},
        {"rule": "insurance_sample_short", "person": None, "amount": 20, "status": "open",
         "evidence": [{"kind": "sample_call", "id": october_data["sample_call"]}]},
    ]  # fmt: skip
    again = json.loads(_run(runner, "--month", "2026-10", "--json").stdout)
    assert again == doc  # deriving again changes nothing
    with app.app_context():
        assert len(db.session.scalars(select(Violation)).all()) == 2
        assert db.session.scalars(select(AuditLog).where(AuditLog.action == "violations.derive")).first().actor == "cli"


def test_text_and_an_empty_month(app, runner, october_data):
    out = _run(runner, "--month", "2026-10").output
    assert "2 violation(s)" in out and "care_not_done" in out and "(department)" in out
    empty = _run(runner, "--month", "2026-09", "--json")
    assert empty.exit_code == 0 and json.loads(empty.stdout) == []
    assert "no violation" in _run(runner, "--month", "2026-09").output


@pytest.mark.parametrize("month", ["2026-13", "2026/10", "10-2026", "", "1999-12"])
def test_a_bad_month_is_a_clear_error(app, runner, month):
    result = _run(runner, "--month", month, "--json")
    assert result.exit_code != 0
    assert "--month" in result.output and "Traceback" not in result.output
    with app.app_context():
        assert db.session.scalars(select(Violation)).all() == []

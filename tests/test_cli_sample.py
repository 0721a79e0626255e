"""`care sample-insurance --month YYYY-MM [--seed S] [--json]` (interfaces.md): draw, or
show the sample already drawn; `--top-up` for the calls made after the last draw."""

from __future__ import annotations

import json

import pytest
import time_machine
from sqlalchemy import func, select

from care.extensions import db
from care.models import AuditLog, SampleDraw
from tests import factories
from tests.services.helpers_sampling import NOW, call, calls, october


def _run(runner, *args):
    return runner.invoke(args=["care", "sample-insurance", *args])


def _json(runner, *args) -> dict:
    result = _run(runner, *args, "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


@pytest.fixture(autouse=True)
def in_november():
    with time_machine.travel(NOW, tick=False):
        yield


@pytest.fixture
def month_of_calls(app):
    with app.app_context():
        a = factories.make_user(db.session, "insurance", username="ins_a")
        b = factories.make_user(db.session, "insurance", username="ins_b")
        ids = {"ins_a": [c.id for c in calls(db.session, a, 5)], "ins_b": [c.id for c in calls(db.session, b, 2)]}
        db.session.commit()
        return {"users": {"ins_a": a.id, "ins_b": b.id}, "calls": ids}


def test_draws_once_and_then_shows_the_same_sample(app, runner, month_of_calls):
    doc = _json(runner, "--month", "2026-10", "--seed", "777")
    assert doc["month"] == "2026-10" and doc["seed"] == 777 and doc["rate"] == 0.6
    assert [s["specialist"] for s in doc["strata"]] == ["ins_a", "ins_b"]
    for s in doc["strata"]:
        assert s["calls"] == len(month_of_calls["calls"][s["specialist"]])
        assert set(s["sampled"]) <= set(month_of_calls["calls"][s["specialist"]])
        assert s["sampled"] == sorted(s["sampled"])
    assert [len(s["sampled"]) for s in doc["strata"]] == [3, 2]
    assert doc["draws"][0]["drawn_by"] == "cli" and doc["new_calls"] == 0

    assert _json(runner, "--month", "2026-10") == doc  # drawing again prints the same sample
    assert _json(runner, "--month", "2026-10", "--seed", "777") == doc
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(SampleDraw)) == 1
        assert db.session.scalar(select(func.count()).select_from(AuditLog).where(AuditLog.action == "sample.draw")) == 1


def test_the_same_seed_on_another_database_gives_the_same_sample(app, runner, month_of_calls):
    """Reproducible from the recorded seed: the same calls, drawn anew, give the same sample."""
    doc = _json(runner, "--month", "2026-10", "--seed", "31337")
    with app.app_context():
        from care.models import SampleCall

        db.session.query(SampleCall).delete()
        db.session.query(SampleDraw).delete()
        db.session.commit()
    again = _json(runner, "--month", "2026-10", "--seed", "31337")
    assert again["strata"] == doc["strata"]


def test_a_seed_is_chosen_when_none_is_given(runner, month_of_calls):
    doc = _json(runner, "--month", "2026-10")
    assert isinstance(doc["seed"], int) and 0 <= doc["seed"] <= 2**31 - 1


def test_another_seed_for_a_drawn_month_is_refused(runner, month_of_calls):
    _json(runner, "--month", "2026-10", "--seed", "1")
    result = _run(runner, "--month", "2026-10", "--seed", "2")
    assert result.exit_code == 1
    assert "with seed 1" in result.output and len(result.output.strip().splitlines()) == 1


def test_text_output(runner, month_of_calls):
    result = _run(runner, "--month", "2026-10", "--seed", "5")
    assert result.exit_code == 0, result.output
    assert "2026-10 sample: drawn 2026-11-05 10:00 by cli (seed 5, rate 0.6): 5 of 7 call(s)" in result.output
    assert "ins_a  3 of 5 call(s) sampled, 0 verified" in result.output


def test_top_up(app, runner, month_of_calls):
    first = _json(runner, "--month", "2026-10", "--seed", "5")
    with app.app_context():
        late = call(db.session, db.session.get(factories.User, month_of_calls["users"]["ins_a"]), october(30)).id
        db.session.commit()
    shown = _json(runner, "--month", "2026-10")
    assert shown["new_calls"] == 1 and shown["strata"][0]["new_calls"] == 1
    assert [s["sampled"] for s in shown["strata"]] == [s["sampled"] for s in first["strata"]]
    text = _run(runner, "--month", "2026-10").output
    assert "1 call(s) made after the last draw are not in the sample" in text

    topped = _json(runner, "--month", "2026-10", "--top-up", "--seed", "6")
    assert [d["seed"] for d in topped["draws"]] == [5, 6] and topped["seed"] == 5
    assert topped["draws"][1]["calls"] == 1 and topped["new_calls"] == 0
    assert late in topped["strata"][0]["sampled"]  # 6 calls → 4: the new one is drawn
    again = _run(runner, "--month", "2026-10", "--top-up")
    assert again.exit_code == 1 and "nothing to top up" in again.output


@pytest.mark.parametrize(
    "args, message",
    [
        (["--month", "2026-13"], "--month: “2026-13” is not a month (YYYY-MM)."),
        (["--month", "October"], "is not a month"),
        (["--month", "2026-10", "--seed", "-4"], "--seed: '-4' is not a whole number from 0 to 2147483647"),
        (["--month", "2026-10", "--seed", "2147483648"], "is not a whole number"),
        (["--month", "2026-10", "--seed", "seven"], "is not a whole number"),
        (["--month", "2026-12"], "2026-12 has not begun"),
        (["--month", "2026-10", "--top-up"], "has not been drawn yet"),
    ],
)
def test_bad_input_is_one_line_and_changes_nothing(app, runner, month_of_calls, args, message):
    result = _run(runner, *args)
    assert result.exit_code == 1
    assert message in result.output and len(result.output.strip().splitlines()) == 1
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(SampleDraw)) == 0


def test_a_month_without_calls_is_an_empty_sample(app, runner, month_of_calls):
    doc = _json(runner, "--month", "2026-08")
    assert doc == {"month": "2026-08", "seed": None, "rate": 0.6, "strata": [], "draws": [], "new_calls": 0, "verified": 0}
    assert "nothing to sample" in _run(runner, "--month", "2026-08").output
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(SampleDraw)) == 0

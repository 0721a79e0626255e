"""The monthly report service (care/services/monthly_report.py): generation (scheduler,
command line), frozen figures, late steps as violations (R23) with frozen time."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest
import time_machine
from sqlalchemy import func, select

from care import scheduler
from care.domain import monthly_report as rules
from care.extensions import db
from care.models import MonthlyReport
from care.services import Actor
from care.services import monthly_report as svc
from care.services.settings import load_settings, set_settings
from tests import factories as f

SH = ZoneInfo("Asia/Shanghai")
MARCH = date(2026, 3, 1)


def local(y, m, d, h=10, minute=0):
    return datetime(y, m, d, h, minute, tzinfo=SH)


@pytest.fixture
def people(session):
    cm = f.make_user(session, "care_manager", username="cm")
    cm2 = f.make_user(session, "care_manager", username="cm2")
    gm = f.make_user(session, "general_manager", username="gm")
    spec = f.make_user(session, "specialist", username="spec", display_name="Spec One")
    f.make_task(session, assignee=spec, status="done", outcome="will_come", due_at=local(2026, 3, 20, 23),
                closed_at=local(2026, 3, 2))  # fmt: skip
    f.make_task(session, assignee=spec, due_at=local(2026, 3, 25, 23))
    session.commit()
    return {"cm": cm, "cm2": cm2, "gm": gm, "spec": spec}


def generate(session, now):
    report, created = svc.generate(session, MARCH, actor=Actor.SCHEDULER, now=now)
    assert created
    return report


def test_a_month_not_over_is_not_generated(session, people):
    with pytest.raises(svc.ReportRefused) as exc:
        svc.generate(session, MARCH, actor=Actor.CLI, now=local(2026, 3, 31, 23))
    assert exc.value.status == 422
    assert session.scalar(select(func.count()).select_from(MonthlyReport)) == 0


def test_generation_freezes_the_figures_and_the_people(session, people):
    report = generate(session, local(2026, 4, 1, 0, 5))
    assert report.status == rules.DRAFT and report.month == "2026-03"
    assert report.figures["first_service_reminder_rate"] == {"rate": 0.5, "numerator": 1, "denominator": 2}
    spec = next(p for p in report.people if p["name"] == "Spec One")
    assert spec["role"] == "specialist" and spec["tasks"] == 2 and spec["reached"] == 1
    assert svc.scorecard_of(spec).reached_rate.value == 0.5
    # the data change: the stored report does not
    f.make_task(session, assignee=people["spec"], status="done", outcome="will_come", due_at=local(2026, 3, 28, 23),
                closed_at=local(2026, 3, 3))  # fmt: skip
    session.commit()
    again, created = svc.generate(session, MARCH, actor=Actor.CLI, now=local(2026, 4, 2))
    assert not created and again.id == report.id
    session.expire_all()
    assert svc.get(session, MARCH).figures["first_service_reminder_rate"]["denominator"] == 2
    # the trend reads the kept figures; a month without a report is a gap
    points = svc.trend(session, MARCH, months=3)
    assert [p.month for p in points] == [date(2026, 1, 1), date(2026, 2, 1), MARCH]
    assert [p.document is None for p in points] == [True, True, False]
    assert svc.rate_of(points[-1].document, ("first_service_reminder_rate",)) == 0.5
    assert svc.rate_of(points[0].document, ("first_service_reminder_rate",)) is None


def test_the_scheduler_generates_last_months_report_on_the_first_once(app, people):
    def clock_at(moment):
        return lambda: moment.astimezone(UTC)

    scheduler.Scheduler(app, clock=clock_at(local(2026, 3, 31, 23, 50))).tick()
    with app.app_context():
        assert db.session.scalars(select(MonthlyReport.month)).all() == ["2026-02"]  # the previous month's
    scheduler.Scheduler(app, clock=clock_at(local(2026, 4, 1, 0, 10))).tick()
    scheduler.Scheduler(app, clock=clock_at(local(2026, 4, 1, 9, 0))).tick()
    with app.app_context():
        reports = db.session.scalars(select(MonthlyReport).order_by(MonthlyReport.month)).all()
        assert [r.month for r in reports] == ["2026-02", "2026-03"]
        assert [(s.action, s.actor) for s in reports[1].steps] == [("generated", "scheduler")]


def test_generate_due_names_nothing_when_it_exists(session, people):
    assert svc.generate_due(session, now=local(2026, 4, 1, 8)).month == "2026-03"
    assert svc.generate_due(session, now=local(2026, 4, 2, 8)) is None


@time_machine.travel(datetime(2026, 4, 10, 2, 0, tzinfo=UTC), tick=False)
def test_care_report_generates_the_report_and_prints_the_same_json(app, runner, people):
    result = runner.invoke(args=["care", "report", "--month", "2026-03", "--json"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    with app.app_context():
        report = db.session.scalar(select(MonthlyReport))
        assert report.month == "2026-03" and report.figures == doc
        assert [(s.action, s.actor) for s in report.steps] == [("generated", "cli")]
    # the month in progress: no report
    result = runner.invoke(args=["care", "report", "--month", "2026-04", "--json"], catch_exceptions=False)
    assert result.exit_code == 0
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(MonthlyReport)) == 1


def _late(session, now):
    return sorted(
        (v["rule"], v["person_id"], v["detail"]["role"]) for v in svc.find_violations(session, MARCH, load_settings(session), now=now)
    )


def test_no_report_no_violation(session, people):
    assert svc.find_violations(session, MARCH, load_settings(session), now=local(2026, 5, 1)) == []


def test_late_steps_are_violations_with_their_evidence(session, people):
    cm, gm = people["cm"], people["gm"]
    report = generate(session, local(2026, 4, 1, 0, 5))
    with time_machine.travel(local(2026, 4, 3, 23, 59), tick=False):  # by day 3: nothing late yet
        assert svc.find_violations(session, MARCH, load_settings(session)) == []
    with time_machine.travel(local(2026, 4, 4, 0, 1), tick=False):
        found = svc.find_violations(session, MARCH, load_settings(session))
    # not submitted: every active care manager
    assert sorted((v["rule"], v["person_id"]) for v in found) == [
        ("analysis_not_reported", cm.id), ("analysis_not_reported", people["cm2"].id)
    ]
    v = found[0]
    assert v["evidence"] == [("monthly_report", report.id)] and v["count"] == 1
    assert v["detail"]["month"] == "2026-03" and v["detail"]["done_at"] is None
    svc.submit(session, report, "分析", "计划", user=cm, actor=Actor.of(cm), now=local(2026, 4, 4, 9))
    # submitted late by cm; at day 5's end waiting for the general manager
    assert _late(session, local(2026, 4, 6, 9)) == [
        ("analysis_not_reported", cm.id, "care_manager"), ("plan_late", gm.id, "general_manager")
    ]
    svc.approve(session, report, user=gm, actor=Actor.of(gm), now=local(2026, 4, 7, 9))
    late = svc.find_violations(session, MARCH, load_settings(session), now=local(2026, 5, 1))
    plan = next(v for v in late if v["rule"] == "plan_late")
    assert plan["person_id"] == gm.id and plan["detail"]["done_at"].startswith("2026-04-07")


def test_deadlines_are_settings(session, people):
    set_settings(session, {"report_submit_day": "10", "report_approve_day": "12"}, actor=Actor.CLI, now=local(2026, 4, 1))
    generate(session, local(2026, 4, 1, 0, 5))
    assert _late(session, local(2026, 4, 10, 23)) == []
    assert [x[0] for x in _late(session, local(2026, 4, 11, 1))] == ["analysis_not_reported"] * 2


def test_on_time_is_no_violation(session, people):
    cm, gm = people["cm"], people["gm"]
    report = generate(session, local(2026, 4, 1, 0, 5))
    svc.submit(session, report, "分析", "计划", user=cm, actor=Actor.of(cm), now=local(2026, 4, 3, 17))
    svc.approve(session, report, "好", user=gm, actor=Actor.of(gm), now=local(2026, 4, 5, 17))
    assert _late(session, local(2026, 6, 1)) == []


def test_the_service_checks_roles_too(session, people):
    report = generate(session, local(2026, 4, 1, 0, 5))
    spec = people["spec"]
    with pytest.raises(svc.ReportRefused) as exc:
        svc.submit(session, report, "a", "b", user=spec, actor=Actor.of(spec), now=local(2026, 4, 2))
    assert exc.value.status == 403
    with pytest.raises(svc.ReportRefused):
        svc.save_texts(session, report, "a", "b", user=people["gm"])
    assert report.status == rules.DRAFT and report.analysis is None

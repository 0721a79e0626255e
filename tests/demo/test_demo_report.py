"""`care demo` leaves a year of monthly reports (R22 workflow): approved, one returned
then approved, and last month's awaiting the general manager."""

from __future__ import annotations

from datetime import UTC, date, datetime

from sqlalchemy import select

from care.demo import load_demo
from care.models import MonthlyReport
from care.services import Actor
from tests.demo.test_demo_sample import fast_hashing  # noqa: F401 - the demo's users, hashed fast

TODAY = date(2026, 11, 23)
NOW = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)


def test_the_demo_has_reports_in_each_state(session):
    result = load_demo(session, customers=120, seed=42, today=TODAY, actor=Actor("test"), now=NOW)
    session.commit()
    assert result.counts["monthly_reports"] == 12
    reports = session.scalars(select(MonthlyReport).order_by(MonthlyReport.month)).all()
    assert reports[0].month == "2025-11"  # a year: the trend charts' 12 months
    assert [(r.month, r.status) for r in reports[-3:]] == [
        ("2026-08", "approved"), ("2026-09", "approved"), ("2026-10", "submitted")
    ]
    reports = reports[-3:]
    assert [s.action for s in reports[1].steps] == ["generated", "submitted", "returned", "submitted", "approved"]
    assert reports[1].steps[2].text  # the return's comment
    assert all(s.at <= NOW for r in reports for s in r.steps)
    assert reports[2].analysis and "首保提醒率" in reports[2].analysis and reports[2].plan
    assert reports[2].figures["month"] == "2026-10" and reports[2].figures["complete"] is True
    assert any(p["tasks"] for p in reports[2].people)  # the specialists' month was counted

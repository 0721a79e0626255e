"""`care demo` leaves last month's violations derived (R23): some open, some confirmed,
one waived with its reason; this month's derived so far."""

from __future__ import annotations

from collections import Counter
from datetime import date

from sqlalchemy import func, select

from care.demo import load_demo
from care.models import Violation
from care.services import Actor
from care.services import violations as svc
from tests.demo.test_demo_sample import NOW, TODAY, fast_hashing  # noqa: F401 - the autouse fixture


def test_the_demo_has_open_confirmed_and_waived_violations(session):
    result = load_demo(session, customers=300, seed=42, today=TODAY, actor=Actor("test"), now=NOW)
    session.commit()
    october = session.scalars(select(Violation).where(Violation.month == "2026-10")).all()
    statuses = Counter(v.status for v in october)
    assert statuses["open"] and statuses["confirmed"] and statuses["waived"], statuses
    assert all(v.reason for v in october if v.status == "waived")
    assert all(v.amount_min <= (v.unit_amount or v.amount_min) <= v.amount_max for v in october)
    assert result.counts["violations"] == session.scalar(select(func.count()).select_from(Violation))
    # deriving October again (as the scheduler would) changes no decision
    before = {v.id: (v.status, v.amount) for v in october if v.status != "open"}
    svc.derive(session, date(2026, 10, 1), now=NOW)
    after = {v.id: (v.status, v.amount) for v in session.scalars(select(Violation)) if v.id in before}
    assert after == before

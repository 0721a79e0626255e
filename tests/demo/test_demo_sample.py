"""`care demo` leaves last month's insurance sample drawn, with some verdicts (R21)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from functools import partial

import pytest
from sqlalchemy import func, select
from werkzeug.security import generate_password_hash

from care.demo import load_demo
from care.domain.roles import Role
from care.models import CallAttempt, SampleCall, SampleDraw, User
from care.services import Actor
from care.services import sampling as svc

TODAY = date(2026, 11, 23)
NOW = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def fast_hashing(monkeypatch):
    monkeypatch.setattr(
        "care.models.user.generate_password_hash", partial(generate_password_hash, method="pbkdf2:sha256:1000")
    )


def test_the_demo_has_last_months_sample_drawn_with_some_verdicts(session):
    result = load_demo(session, customers=300, seed=42, today=TODAY, actor=Actor("test"), now=NOW)
    session.commit()
    assert result.counts["insurance_calls"] > 0

    draws = session.scalars(select(SampleDraw).order_by(SampleDraw.id)).all()
    assert [(d.month, d.number, d.drawn_by.username) for d in draws] == [("2026-10", 1, "care_manager")]
    draw = draws[0]
    assert draw.drawn_at <= NOW and svc.reproduce(session, draw) == svc.recorded(draw)
    sampled = [c for c in draw.calls if c.sampled]
    verified = [c for c in sampled if c.verdict]
    assert sampled and 0 < len(verified) < len(sampled)  # some verdicts given, some still to do
    assert all(c.note for c in verified if c.verdict != "to_standard")
    assert result.counts["sample_verdicts"] == len(verified)
    insurance = {u.id for u in session.scalars(select(User)) if Role.INSURANCE in u.roles}
    assert {c.specialist_id for c in draw.calls} <= insurance

    # The calls are finished and their final hook is done: nothing for the applier or the sweep.
    unfinished = select(func.count()).select_from(CallAttempt).where(CallAttempt.finalized_at.is_(None))
    assert session.scalar(unfinished) == 0
    # This month's calls wait for their draw.
    view = svc.month_sample(session, TODAY.replace(day=1), user=draws[0].drawn_by, now=NOW)
    assert not view.drawn
    assert session.scalar(select(func.count()).select_from(SampleCall)) == len(draw.calls)

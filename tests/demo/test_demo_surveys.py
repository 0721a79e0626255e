"""`care demo` leaves twelve months of SSI/CSI responses over the four channels, some
low, linked to the deliveries' consultants and the closed callback tasks."""

from __future__ import annotations

from datetime import UTC, date, datetime
from functools import partial

import pytest
from sqlalchemy import func, select
from werkzeug.security import generate_password_hash

from care.demo import load_demo
from care.domain import kpis as rules
from care.models import SurveyAnswer, SurveyResponse, SurveyTemplate, User
from care.services import Actor
from care.services import survey_results as figures
from care.services.settings import load_settings

TODAY = date(2026, 11, 23)
NOW = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def fast_hashing(monkeypatch):
    monkeypatch.setattr(
        "care.models.user.generate_password_hash", partial(generate_password_hash, method="pbkdf2:sha256:1000")
    )


def test_the_demo_has_a_year_of_survey_responses(session):
    result = load_demo(session, customers=300, seed=42, today=TODAY, actor=Actor("test"), now=NOW)
    session.commit()
    assert result.counts["survey_responses_ssi"] > 40 and result.counts["survey_responses_csi"] > 100

    rows = session.execute(
        select(SurveyTemplate.code, SurveyResponse.channel, func.count())
        .join(SurveyTemplate, SurveyTemplate.id == SurveyResponse.template_id)
        .group_by(SurveyTemplate.code, SurveyResponse.channel)
    ).all()
    channels = {(code, channel) for code, channel, _n in rows}
    assert {("ssi", c) for c in ("phone", "ivr", "paper", "oem")} <= channels
    responses = list(session.scalars(select(SurveyResponse)))
    assert all(r.taken_at <= NOW for r in responses)
    # completed, but for the phone surveys the phone_surveys step leaves half-taken on open tasks
    assert all(r.status == "completed" or (r.channel == "phone" and r.task is not None and r.task.status == "open")
               for r in responses)  # fmt: skip
    # phone responses of the callbacks the specialists closed belong to those tasks
    assert session.scalar(select(func.count()).select_from(SurveyResponse).where(SurveyResponse.task_id.is_not(None))) > 5
    # some low scores (R19's material) and some unanswered items
    assert session.scalar(select(func.count()).select_from(SurveyAnswer).where(SurveyAnswer.score <= 4)) > 10
    assert session.scalar(select(func.count()).select_from(SurveyAnswer).where(SurveyAnswer.unanswered)) > 10

    settings = load_settings(session)
    months = {}
    month = TODAY.replace(day=1)
    for _ in range(12):
        month = rules.previous_month(month)
        span = rules.month_span(month, settings.timezone, NOW)
        ssi, csi, very = figures.report_figures(session, span, settings)
        months[rules.month_text(month)] = (ssi, csi, very)
    assert all(csi.responses > 5 and csi.index is not None for _ssi, csi, _v in months.values())
    assert sum(1 for ssi, _c, _v in months.values() if ssi.responses) >= 10
    consultants = {u.username for u in session.scalars(select(User)) if u.username.startswith("consultant")}
    last = months[rules.month_text(rules.previous_month(TODAY.replace(day=1)))]
    assert set(last[2]) == consultants

"""Complaints in the database (care/services/complaints.py): the whole loop by the right
users, refusals with their status, the call-back through the calling module (no R13
effect), the reopening, overdue notices told once, the KPI, `care complaints`, R19."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta

import pytest
import time_machine
from sqlalchemy import func, select

from care.domain import kpis as kpi_rules
from care.models import (
    AuditLog,
    CallAttempt,
    CallAttemptTask,
    Complaint,
    ComplaintNotice,
    ComplaintStep,
    OutboxMessage,
)
from care.services import Actor, fallback
from care.services import calls as call_service
from care.services import complaints as svc
from care.services import surveys as survey_service
from care.services.kpis import monthly_kpis
from care.services.settings import load_settings
from tests import factories

T0 = datetime(2026, 3, 10, 2, 0, tzinfo=UTC)  # 10:00 in Shanghai


@pytest.fixture
def people(session):
    return {
        "specialist": factories.make_user(session, "specialist", username="spec", email="spec@dealer.example"),
        "care_manager": factories.make_user(session, "care_manager", username="cm", email="cm@dealer.example"),
        "general_manager": factories.make_user(session, "general_manager", username="gm"),
        "sales_manager": factories.make_user(session, "sales_manager", username="sm"),
        "consultant": factories.make_user(session, "consultant", username="cons"),
    }


def _open(session, people, now=T0):
    customer = factories.make_customer(session)
    return svc.open_manual(
        session, customer, user=people["specialist"], description="交车时发现车门有划痕", kind="sales",
        now=now, settings=load_settings(session), actor=Actor.of(people["specialist"]),
    )  # fmt: skip


def _take(session, complaint, step, user, now, **kw):
    kw.setdefault("text", f"第{step}步")
    return svc.take_step(
        session, complaint, step, user=user, now=now, settings=load_settings(session), actor=Actor.of(user), **kw
    )


def _answered_callback(session, complaint, user, now):
    attempt = svc.start_callback(session, complaint, user=user, now=now)
    attempt.status = attempt.outcome = "completed"
    attempt.answered, attempt.rank, attempt.answered_at, attempt.ended_at = True, 4, now, now + timedelta(minutes=3)
    session.flush()
    return attempt


def _walk(session, complaint, people, start, *, upto=8, satisfied=True):
    """Steps 2 … upto, an hour apart; returns the time of the last."""
    now = start
    for step in range(2, upto + 1):
        now += timedelta(hours=1)
        user = {2: "care_manager", 3: "general_manager", 4: "sales_manager", 5: "sales_manager",
                6: "care_manager", 7: "general_manager", 8: "specialist"}[step]  # fmt: skip
        extra = {}
        if step == 4:
            extra["handler_id"] = people["consultant"].id
        if step == 6:
            _answered_callback(session, complaint, people[user], now - timedelta(minutes=10))
            extra["outcome"] = "satisfied" if satisfied else "dissatisfied"
        _take(session, complaint, step, people[user], now, **extra)
    return now


def test_the_whole_loop_by_the_right_users(session, people):
    complaint = _open(session, people)
    assert (complaint.step, complaint.source, complaint.due_at) == (2, "manual", T0 + timedelta(hours=24))
    closed = _walk(session, complaint, people, T0)
    assert complaint.closed_at == closed and complaint.step == 8 and complaint.reopened == 0
    assert complaint.handler_id == people["consultant"].id and complaint.handler_name == people["consultant"].label
    rows = session.scalars(select(ComplaintStep).where(ComplaintStep.complaint_id == complaint.id).order_by(ComplaintStep.id)).all()
    assert [r.step for r in rows] == list(range(1, 9))
    assert [r.user_id for r in rows][:2] == [people["specialist"].id, people["care_manager"].id]
    assert rows[5].outcome == "satisfied" and rows[5].attempt_id is not None
    assert session.scalar(select(func.count()).select_from(AuditLog).where(AuditLog.action == "complaint.step")) == 7
    with pytest.raises(svc.ComplaintRefused) as refused:
        _take(session, complaint, 8, people["specialist"], closed + timedelta(hours=1))
    assert refused.value.status == 409


def test_dispatch_sets_the_12h_return_deadline(session, people):
    complaint = _open(session, people)
    _walk(session, complaint, people, T0, upto=4)  # dispatched at T0 + 3 h
    assert complaint.step == 5
    assert complaint.step_due_at == T0 + timedelta(hours=15)
    assert complaint.dispatched_at == T0 + timedelta(hours=3)


@pytest.mark.parametrize(
    ("who", "step", "status", "code"),
    [
        ("specialist", 2, 403, "wrong_role"),
        ("sales_manager", 2, 403, "wrong_role"),
        ("care_manager", 3, 409, "out_of_order"),
        ("general_manager", 3, 409, "out_of_order"),
        ("consultant", 2, 403, "wrong_role"),
    ],
)
def test_refusals_write_nothing(session, people, who, step, status, code):
    complaint = _open(session, people)
    with pytest.raises(svc.ComplaintRefused) as refused:
        _take(session, complaint, step, people[who], T0 + timedelta(hours=1))
    assert (refused.value.status, refused.value.code) == (status, code)
    assert complaint.step == 2
    assert session.scalar(select(func.count()).select_from(ComplaintStep)) == 1


def test_a_bad_text_is_422_with_the_field(session, people):
    complaint = _open(session, people)
    with pytest.raises(svc.ComplaintRefused) as refused:
        _take(session, complaint, 2, people["care_manager"], T0, text=" ")
    assert (refused.value.status, refused.value.field) == (422, "text")


def test_only_a_specialist_opens_one_and_the_form_is_checked(session, people):
    customer = factories.make_customer(session)
    settings = load_settings(session)
    with pytest.raises(svc.ComplaintRefused) as refused:
        svc.open_manual(session, customer, user=people["care_manager"], description="x", kind="sales", now=T0,
                        settings=settings, actor=Actor.CLI)  # fmt: skip
    assert refused.value.status == 403
    for description, kind, field in (("", "sales", "description"), ("x", "parts", "kind")):
        with pytest.raises(svc.ComplaintRefused) as refused:
            svc.open_manual(session, customer, user=people["specialist"], description=description, kind=kind,
                            now=T0, settings=settings, actor=Actor.CLI)  # fmt: skip
        assert refused.value.field == field
    other = factories.make_vehicle(session)
    with pytest.raises(svc.ComplaintRefused) as refused:
        svc.open_manual(session, customer, user=people["specialist"], description="x", kind="sales",
                        vehicle_id=other.id, now=T0, settings=settings, actor=Actor.CLI)  # fmt: skip
    assert refused.value.field == "vehicle"
    assert session.scalar(select(func.count()).select_from(Complaint)) == 0


def test_callback_is_needed_and_counts_for_no_task(session, people):
    complaint = _open(session, people)
    customer = complaint.customer
    task = factories.make_task(session, customer)
    _walk(session, complaint, people, T0, upto=5)
    with pytest.raises(svc.ComplaintRefused) as refused:
        _take(session, complaint, 6, people["care_manager"], T0 + timedelta(hours=6), outcome="satisfied")
    assert refused.value.code == "no_call" and refused.value.status == 409
    # only the care manager calls back
    with pytest.raises(call_service.CallRefused):
        svc.start_callback(session, complaint, user=people["general_manager"], now=T0 + timedelta(hours=6))
    attempt = svc.start_callback(session, complaint, user=people["care_manager"], now=T0 + timedelta(hours=6))
    assert attempt.task_id is None and attempt.complaint.id == complaint.id
    # a second call while the first rings is refused
    with pytest.raises(call_service.CallRefused):
        svc.start_callback(session, complaint, user=people["care_manager"], now=T0 + timedelta(hours=6))
    # no link row: the customer's task has no attempt (R13 untouched) …
    assert session.scalar(select(func.count()).select_from(CallAttemptTask)) == 0
    assert call_service.attempts_of(session, task.id) == []
    # … and the final hook of the ended call-back touches no task
    attempt.status = attempt.outcome = "no_answer"
    attempt.rank = 4
    session.flush()
    assert fallback.on_attempt_final(session, attempt, now=T0 + timedelta(hours=6)) is None
    assert task.status == "open"
    with pytest.raises(svc.ComplaintRefused):  # not reached
        _take(session, complaint, 6, people["care_manager"], T0 + timedelta(hours=6, minutes=5), outcome="satisfied")


def test_a_customer_who_refused_calls_is_not_called_back(session, people):
    complaint = _open(session, people)
    complaint.customer.no_call = True
    _walk(session, complaint, people, T0, upto=5)
    with pytest.raises(call_service.CallRefused) as refused:
        svc.start_callback(session, complaint, user=people["care_manager"], now=T0 + timedelta(hours=6))
    assert refused.value.code == call_service.NO_CALL


def test_dissatisfied_reopens_from_step_two(session, people):
    complaint = _open(session, people)
    now = _walk(session, complaint, people, T0, upto=6, satisfied=False)
    assert (complaint.step, complaint.reopened, complaint.closed_at, complaint.dispatched_at) == (2, 1, None, None)
    assert complaint.due_at == T0 + timedelta(hours=24)  # the loop's 24 h do not restart
    # the second round: 2 … 8, with a new call-back after the new step 5
    closed = _walk(session, complaint, people, now)
    assert complaint.closed_at == closed and complaint.reopened == 1
    rounds = session.execute(select(ComplaintStep.step, ComplaintStep.round).order_by(ComplaintStep.id)).all()
    assert [tuple(r) for r in rounds] == [(s, 0) for s in range(1, 7)] + [(s, 1) for s in range(2, 9)]


def test_overdue_notices_are_told_once_per_step(session, people):
    complaint = _open(session, people)
    with time_machine.travel(T0 + timedelta(hours=23), tick=False):
        assert svc.notify_overdue(session, now=datetime.now(UTC)) == 0
    with time_machine.travel(T0 + timedelta(hours=24, minutes=1), tick=False):
        now = datetime.now(UTC)
        # step 2's owners are the care managers: one person, told once
        assert svc.notify_overdue(session, now=now) == 1
        assert svc.notify_overdue(session, now=now) == 0
    notice = session.scalars(select(ComplaintNotice)).one()
    assert (notice.user_id, notice.step, notice.round) == (people["care_manager"].id, 2, 0)
    mail = session.get(OutboxMessage, notice.message_id)
    assert mail.channel == "email" and mail.to_address == "cm@dealer.example" and f"#{complaint.id}" in mail.subject
    # the next step overdue is told again: the general manager (no address: in the app only) and the care manager
    _take(session, complaint, 2, people["care_manager"], T0 + timedelta(hours=25))
    assert svc.notify_overdue(session, now=T0 + timedelta(hours=25, minutes=5)) == 2
    assert svc.notify_overdue(session, now=T0 + timedelta(hours=26)) == 0
    gm = session.scalars(select(ComplaintNotice).where(ComplaintNotice.user_id == people["general_manager"].id)).one()
    assert gm.message_id is None
    assert [n.complaint_id for n in svc.notices_of(session, people["general_manager"])] == [complaint.id]
    assert session.scalar(select(func.count()).select_from(OutboxMessage)) == 2


def test_the_12h_return_is_overdue_before_the_loop(session, people):
    complaint = _open(session, people)
    _walk(session, complaint, people, T0, upto=4)
    assert svc.notify_overdue(session, now=T0 + timedelta(hours=14)) == 0
    assert svc.notify_overdue(session, now=T0 + timedelta(hours=15, minutes=1)) == 2  # sales manager + care manager
    overdue = svc.export(session, status="overdue", now=T0 + timedelta(hours=15, minutes=1))
    assert [r["id"] for r in overdue] == [complaint.id]


def test_my_steps_and_visibility(session, people):
    complaint = _open(session, people)
    assert svc.my_step_count(session, people["care_manager"]) == 1
    assert svc.my_step_count(session, people["general_manager"]) == 0
    assert svc.my_step_count(session, people["consultant"]) == 0
    assert not svc.may_see(people["consultant"], complaint)
    _walk(session, complaint, people, T0, upto=4)
    assert svc.may_see(people["consultant"], complaint)
    assert svc.my_step_count(session, people["sales_manager"]) == 1


def _kpi(session, month, now):
    return monthly_kpis(session, month, now=now).complaints_closed_in_24h_rate


def test_kpi_counts_by_the_month_opened_once_decided(session, people):
    # opened 22:00 on 31 March (Shanghai), closed 08:00 on 1 April: March's, in time
    late_march = datetime(2026, 3, 31, 14, 0, tzinfo=UTC)
    a = _open(session, people, now=late_march)
    _walk(session, a, people, late_march)
    # opened on 5 March, closed 30 h later: late
    b = _open(session, people, now=datetime(2026, 3, 5, 2, 0, tzinfo=UTC))
    _walk(session, b, people, datetime(2026, 3, 6, 1, 0, tzinfo=UTC))
    # opened on 31 March 20:00 UTC (1 April in Shanghai): April's
    c = _open(session, people, now=datetime(2026, 3, 31, 20, 0, tzinfo=UTC))
    # still open, within its 24 h on 31 March 23:00 UTC: in no denominator yet
    result = _kpi(session, date(2026, 3, 1), datetime(2026, 4, 10, tzinfo=UTC))
    assert (result.numerator, result.denominator) == (1, 2)
    april = _kpi(session, date(2026, 4, 1), datetime(2026, 4, 1, 0, 0, tzinfo=UTC))
    assert (april.numerator, april.denominator) == (0, 0)
    april = _kpi(session, date(2026, 4, 1), datetime(2026, 4, 10, tzinfo=UTC))
    assert (april.numerator, april.denominator) == (0, 1)
    doc = kpi_rules.report_document(monthly_kpis(session, date(2026, 3, 1), now=datetime(2026, 4, 10, tzinfo=UTC)))
    assert doc["complaints_closed_in_24h_rate"] == {"rate": 0.5, "numerator": 1, "denominator": 2}
    assert c.closed_at is None


def test_cli_complaints_json(app, runner, session, people):
    complaint = _open(session, people)
    done = _open(session, people)
    _walk(session, done, people, T0)
    session.commit()
    result = runner.invoke(args=["care", "complaints", "--json"])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.output)
    assert [r["id"] for r in rows] == [complaint.id, done.id]
    assert rows[0] == {
        "id": complaint.id, "customer_no": complaint.customer.customer_no, "opened_at": T0.isoformat(),
        "step": 2, "step_name": "opinion", "owner": "care_manager", "step_due_at": (T0 + timedelta(hours=24)).isoformat(),
        "closed_at": None, "reopened": 0, "source": "manual",
    }  # fmt: skip
    assert rows[1]["closed_at"] is not None and rows[1]["owner"] is None and rows[1]["step"] == 8
    closed = json.loads(runner.invoke(args=["care", "complaints", "--status", "closed", "--json"]).output)
    assert [r["id"] for r in closed] == [done.id]
    text = runner.invoke(args=["care", "complaints"])
    assert "2 complaint(s)" in text.output
    assert runner.invoke(args=["care", "complaints", "--status", "nope"]).exit_code != 0


def _response(session, customer, scores: dict[str, int], *, template="csi"):
    survey_service.ensure_seeded(session, now=T0)
    response = survey_service.start_or_resume(
        session, template_code=template, customer=customer, channel="phone", user=None, now=T0
    )
    for code, score in scores.items():
        survey_service.save_answer(session, response, code, score, source="phone", now=T0)
    return response


def test_a_low_survey_response_opens_one_complaint_naming_the_items(session, people):
    customer = factories.make_customer(session)
    response = _response(session, customer, {"greeted_promptly": 7, "checked_together": 3, "repairs_explained": 4})
    survey_service.finish(session, response, user=people["specialist"], now=T0)
    complaint = session.scalars(select(Complaint)).one()
    assert (complaint.source, complaint.kind, complaint.step, complaint.survey_response_id) == ("survey", "service", 1, response.id)
    assert [(i["code"], i["score"]) for i in complaint.low_items] == [("checked_together", 3), ("repairs_explained", 4)]
    assert complaint.low_items[0]["text"]
    # once per response
    assert svc.open_from_response(session, response, T0 + timedelta(hours=1)).id == complaint.id
    assert session.scalar(select(func.count()).select_from(Complaint)) == 1
    # its form waits for a care specialist, who names the kind and describes it
    _take(session, complaint, 1, people["specialist"], T0 + timedelta(minutes=30), text="客户对检查环节不满意", kind="service")
    assert complaint.step == 2 and complaint.description == "客户对检查环节不满意"


def test_no_complaint_above_the_threshold_and_the_threshold_is_a_setting(session, people):
    from care.services.settings import set_settings

    customer = factories.make_customer(session)
    response = _response(session, customer, {"greeted_promptly": 5, "checked_together": 6})
    survey_service.finish(session, response, user=None, now=T0)
    assert session.scalar(select(func.count()).select_from(Complaint)) == 0
    set_settings(session, {"complaint_score_threshold": "5"}, actor=Actor.CLI, now=T0)
    other = _response(session, factories.make_customer(session), {"greeted_at_once": 5}, template="ssi")
    survey_service.finish(session, other, user=None, now=T0)
    complaint = session.scalars(select(Complaint)).one()
    assert complaint.kind == "sales"


def test_the_sweep_tells(session, people):
    from care.services.sweep import sweep

    _open(session, people)
    counts = sweep(session, T0 + timedelta(hours=25))
    assert counts["complaint_notices"] == 1
    assert sweep(session, T0 + timedelta(hours=26))["complaint_notices"] == 0


def test_timeline_shows_the_complaint_and_its_steps(session, people):
    from care.services.tasks import timeline

    complaint = _open(session, people)
    _take(session, complaint, 2, people["care_manager"], T0 + timedelta(hours=1))
    kinds = [e.kind for e in timeline(session, complaint.customer_id)]
    assert kinds == ["complaint_step", "complaint_step", "complaint"]


def test_callback_attempt_never_enters_the_insurance_sample_population(session, people):
    complaint = _open(session, people)
    _walk(session, complaint, people, T0, upto=6)
    attempt = session.scalars(select(CallAttempt).where(CallAttempt.task_id.is_(None))).one()
    assert attempt.complaint.id == complaint.id
    assert call_service.task_ids_of(session, attempt) == []


def test_create_user_takes_an_email_for_the_notices(app, runner, session):
    ok = runner.invoke(args=["care", "create-user", "cm2", "--role", "care_manager", "--password", "Zebra-cactus-91",
                             "--email", "cm2@dealer.example"])  # fmt: skip
    assert ok.exit_code == 0, ok.output
    bad = runner.invoke(args=["care", "create-user", "cm3", "--role", "care_manager", "--password", "Zebra-cactus-91",
                              "--email", "not-an-address"])  # fmt: skip
    assert bad.exit_code != 0 and "not an e-mail address" in bad.output
    from care.models import User

    assert session.scalars(select(User.email).where(User.username == "cm2")).one() == "cm2@dealer.example"

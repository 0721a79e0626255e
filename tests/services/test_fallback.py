"""R14/R15: fallback messages after failed calls, the sweep, the violations list."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from sqlalchemy import func, select

from care.messaging import outbox
from care.models import CallAttempt, CareTask, MessageTemplate, OutboxMessage, ReminderFailure
from care.services import fallback
from care.services.message_templates import ensure_default_templates
from tests import factories

# Asia/Shanghai = UTC+8: 02:00 UTC is 10:00 (morning), 07:00 afternoon, 11:00 evening.
DAY = datetime(2026, 3, 16, tzinfo=UTC)
MORNING, AFTERNOON, EVENING = (
    DAY + timedelta(hours=2),
    DAY + timedelta(hours=7),
    DAY + timedelta(hours=11),
)


def attempt(session, task, started_at, outcome, **kw) -> CallAttempt:
    values = {
        "task_id": task.id,
        "customer_id": task.customer_id,
        "provider": "sim",
        "to_number": "+8613800000000",
        "status": "completed" if outcome == "completed" else "no-answer",
        "outcome": outcome,
        "started_at": started_at,
        "ended_at": started_at + timedelta(minutes=1),
    }
    values.update(kw)
    a = CallAttempt(**values)
    session.add(a)
    session.flush()
    return a


def first_service(session, **kw) -> CareTask:
    customer = kw.pop("customer", None) or factories.make_customer(session)
    vehicle = factories.make_vehicle(session, customer)
    return factories.make_task(
        session, customer, vehicle_id=vehicle.id, fallback="sms", now=DAY, **kw
    )


def messages(session) -> list[OutboxMessage]:
    return list(session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)))


def test_fallback_after_the_third_failed_attempt_not_before(session):
    task = first_service(session)
    a1 = attempt(session, task, MORNING, "no_answer")
    assert fallback.on_attempt_final(session, a1, now=MORNING + timedelta(minutes=2)) is None
    a2 = attempt(session, task, AFTERNOON, "busy")
    assert fallback.on_attempt_final(session, a2, now=AFTERNOON + timedelta(minutes=2)) is None
    assert messages(session) == [] and task.status == "open"

    a3 = attempt(session, task, EVENING, "no_answer")
    failure = fallback.on_attempt_final(session, a3, now=EVENING + timedelta(minutes=2))
    assert failure is not None
    assert failure.reason == "attempts_exhausted"
    assert failure.attempt_ids == [a1.id, a2.id, a3.id]
    [msg] = messages(session)
    assert failure.message_id == msg.id
    assert msg.idempotency_key == f"fallback:{task.id}"
    assert msg.channel == "sms" and msg.status == "queued"
    assert msg.to_address == task.customer.mobile
    assert "首保" in msg.body and task.vehicle.plate in msg.body and "{" not in msg.body
    assert task.status == "failed" and task.outcome == "reminder_failed"
    assert task.closed_at == EVENING + timedelta(minutes=2)


def test_idempotent_on_attempt_final_twice_one_message(session):
    task = first_service(session)
    for at in (MORNING, AFTERNOON):
        attempt(session, task, at, "no_answer")
    a3 = attempt(session, task, EVENING, "no_answer")
    now = EVENING + timedelta(minutes=5)
    first = fallback.on_attempt_final(session, a3, now=now)
    second = fallback.on_attempt_final(session, a3, now=now + timedelta(minutes=1))
    assert first is second
    assert len(messages(session)) == 1
    assert session.scalar(select(func.count(ReminderFailure.id))) == 1
    assert fallback.sweep_fallbacks(session, now=now + timedelta(days=5))["queued"] == 0
    assert len(messages(session)) == 1


def test_reached_gives_no_fallback(session):
    task = first_service(session)
    attempt(session, task, MORNING, "no_answer")
    a2 = attempt(session, task, AFTERNOON, "completed")
    assert fallback.on_attempt_final(session, a2, now=AFTERNOON) is None
    assert fallback.sweep_fallbacks(session, now=DAY + timedelta(days=10))["queued"] == 0
    assert messages(session) == [] and task.status == "open"


def test_invalid_number_blocks_the_task(session):
    task = first_service(session)
    a = attempt(session, task, MORNING, "invalid_number", status="failed")
    assert fallback.on_attempt_final(session, a, now=MORNING) is None
    assert task.status == "blocked"
    assert messages(session) == []


def test_birthday_falls_back_after_one_failed_attempt_the_same_morning(session):
    customer = factories.make_customer(session)
    # 08:30 local + 2 h = 10:30 local = 02:30 UTC
    task = factories.make_task(
        session,
        customer,
        type="birthday",
        fallback="sms",
        opens_on=DAY.date(),
        due_at=DAY + timedelta(hours=2, minutes=30),
    )
    a = attempt(session, task, DAY + timedelta(hours=1, minutes=5), "no_answer")  # 09:05 local
    failure = fallback.on_attempt_final(session, a, now=DAY + timedelta(hours=1, minutes=7))
    assert failure is not None and failure.reason == "birthday"
    [msg] = messages(session)
    assert "生日快乐" in msg.body and msg.status == "queued"
    assert task.status == "failed"


def test_sweep_birthday_without_attempts_after_its_morning(session):
    task = factories.make_task(
        session, type="birthday", fallback="sms", opens_on=DAY.date(), due_at=DAY + timedelta(hours=2, minutes=30)
    )
    assert fallback.sweep_fallbacks(session, now=DAY + timedelta(hours=2))["queued"] == 0
    result = fallback.sweep_fallbacks(session, now=DAY + timedelta(hours=3))
    assert result == {
        "checked": 1, "queued": 1, "skipped": 0, "failed": 0, "expired": 1, "birthday_fallbacks": 1, "violations": 0,
    }  # fmt: skip
    assert task.status == "expired"  # nobody called: expired, its SMS sent all the same (R6, R14)


def test_sweep_window_over_with_attempts_left(session):
    task = first_service(session)
    attempt(session, task, MORNING, "no_answer")
    assert fallback.sweep_fallbacks(session, now=DAY + timedelta(days=1))["queued"] == 0
    result = fallback.sweep_fallbacks(session, now=DAY + timedelta(days=3, hours=1))
    assert result["queued"] == 1 and result["violations"] == 1
    failure = session.scalar(select(ReminderFailure))
    # the first attempt failed and none followed within the 3 days: R15, and expired
    assert failure.reason == "not_followed_up" and task.status == "expired"


def test_rolled_back_transaction_leaves_no_message(session):
    task = first_service(session)
    session.commit()
    for at in (MORNING, AFTERNOON):
        attempt(session, task, at, "no_answer")
    a3 = attempt(session, task, EVENING, "no_answer")
    fallback.on_attempt_final(session, a3, now=EVENING)
    assert len(messages(session)) == 1
    session.rollback()
    assert messages(session) == []
    assert session.scalar(select(func.count(ReminderFailure.id))) == 0
    assert session.get(CareTask, task.id).status == "open"


def test_consent_at_queue_time_skips_but_records(session):
    customer = factories.make_customer(session, no_sms=True)
    task = first_service(session, customer=customer)
    for at in (MORNING, AFTERNOON):
        attempt(session, task, at, "no_answer")
    a3 = attempt(session, task, EVENING, "no_answer")
    failure = fallback.on_attempt_final(session, a3, now=EVENING)
    assert failure is not None
    [msg] = messages(session)
    assert msg.status == "skipped" and msg.last_error == "consent"
    assert task.status == "failed"


def test_email_fallback_and_sms_when_no_email(session):
    with_mail = factories.make_customer(session, email="wang@example.com")
    without = factories.make_customer(session)
    tasks = []
    for customer in (with_mail, without):
        v = factories.make_vehicle(session, customer)
        t = factories.make_task(
            session, customer, vehicle_id=v.id, type="maintenance", fallback="email", now=DAY
        )
        for at in (MORNING, AFTERNOON, EVENING):
            a = attempt(session, t, at, "no_answer")
        fallback.on_attempt_final(session, a, now=EVENING)
        tasks.append(t)
    mail, sms = messages(session)
    assert mail.channel == "email" and mail.to_address == "wang@example.com" and mail.subject
    assert sms.channel == "sms" and sms.to_address == without.mobile and sms.subject is None


def test_edited_template_is_used(session):
    ensure_default_templates(session, DAY)
    assert ensure_default_templates(session, DAY) == 0
    row = session.scalar(
        select(MessageTemplate).where(
            MessageTemplate.task_type == "first_service", MessageTemplate.channel == "sms"
        )
    )
    row.body = "自定义 {plate}"
    task = first_service(session)
    for at in (MORNING, AFTERNOON, EVENING):
        a = attempt(session, task, at, "no_answer")
    fallback.on_attempt_final(session, a, now=EVENING)
    assert messages(session)[0].body == f"自定义 {task.vehicle.plate}"


def test_violations_list(session):
    user = factories.make_user(session, "specialist")
    dropped = first_service(session, assignee=user)
    attempt(session, dropped, MORNING, "no_answer", user_id=user.id)
    followed = first_service(session)
    attempt(session, followed, MORNING, "no_answer")
    attempt(session, followed, MORNING + timedelta(days=1), "busy")
    reached = first_service(session)
    attempt(session, reached, MORNING, "completed")
    now = DAY + timedelta(days=4)
    found = fallback.violations(session, month=date(2026, 3, 1), now=now)
    assert [v.task.id for v in found] == [dropped.id]
    v = found[0]
    assert v.specialist.id == user.id and v.first_attempt_at == MORNING
    assert v.window_ends_at is not None
    # the window still open: no violation yet; another month: none
    assert fallback.violations(session, month=date(2026, 3, 1), now=DAY + timedelta(days=1)) == []
    assert fallback.violations(session, month=date(2026, 4, 1), now=now) == []


def test_a_month_lists_only_tasks_whose_first_call_was_in_it(session):
    """The month's list reads the tasks called in the month, not every attempt ever: a
    task first called (and dropped) in February and called again in March is February's."""
    user = factories.make_user(session, "specialist")
    earlier = first_service(session, assignee=user)
    attempt(session, earlier, datetime(2026, 2, 26, 2, tzinfo=UTC), "no_answer", user_id=user.id)
    attempt(session, earlier, MORNING, "no_answer", user_id=user.id)
    dropped = first_service(session, assignee=user)
    attempt(session, dropped, MORNING, "no_answer", user_id=user.id)
    now = DAY + timedelta(days=4)
    assert [v.task.id for v in fallback.violations(session, month=date(2026, 3, 1), now=now)] == [dropped.id]


def test_queue_is_idempotent_by_key(session):
    customer = factories.make_customer(session)
    one = outbox.queue(
        session,
        channel="sms",
        to="+8613800000001",
        body="a",
        customer_id=customer.id,
        task_id=None,
        key="k1",
    )
    two = outbox.queue(
        session,
        channel="sms",
        to="+8613800000001",
        body="b",
        customer_id=customer.id,
        task_id=None,
        key="k1",
    )
    assert one.id == two.id and len(messages(session)) == 1


def test_a_birthday_greeting_is_not_sent_after_the_day(session):
    """Seen in the demo: months-old birthday tasks swept at night got "today is your
    birthday" SMS. After the day the failure is recorded and the message skipped."""
    task = factories.make_task(
        session, type="birthday", fallback="sms", opens_on=DAY.date(),
        due_at=DAY + timedelta(hours=2, minutes=30),
    )
    result = fallback.sweep_fallbacks(session, now=DAY + timedelta(days=40))
    assert result["checked"] == 1 and task.status == "expired"
    [msg] = messages(session)
    assert msg.status == "skipped" and msg.last_error == "too_late"

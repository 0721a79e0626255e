"""SMS delivery receipts (issue 13 item 5): Twilio's message status callback signed by
twilio's own RequestValidator, the generic receipt by sign_generic; duplicates, unknown
messages, bad signatures; a failed fallback SMS counts as a failed reminder."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select
from twilio.request_validator import RequestValidator

from care.extensions import db
from care.messaging import outbox
from care.messaging.adapters import SimSms
from care.models import DeliveryReceipt, OutboxMessage, ReminderFailure
from care.services.kpis import monthly_kpis
from care.telephony.signatures import sign_generic
from tests import factories

TOKEN = "12345"
SECRET = "test-webhook-secret"
PATH = "/webhooks/twilio/sms-status"
SID = "SM00000000000000000000000000000001"


@pytest.fixture
def hooks(app):
    app.config["CARE_TWILIO_AUTH_TOKEN"] = TOKEN
    app.config["CARE_WEBHOOK_SECRET"] = SECRET
    return app


def sent_message(app, *, task=False, sid=SID) -> int:
    with app.app_context():
        customer = factories.make_customer(db.session)
        task_id = (
            factories.make_task(
                db.session, customer, status="failed", fallback="sms", outcome="reminder_failed",
                closed_at=datetime.now(UTC) - timedelta(minutes=1),
            ).id
            if task
            else None
        )
        message = outbox.queue(
            db.session, channel="sms", to=customer.mobile, body="您好", customer_id=customer.id,
            task_id=task_id, key=f"test:{customer.id}",
        )  # fmt: skip
        message.status, message.sent_at, message.provider_message_id = outbox.SENT, datetime.now(UTC), sid
        if task:
            db.session.add(ReminderFailure(task_id=task_id, attempt_ids=[], message_id=message.id, reason="attempts_exhausted"))
        db.session.commit()
        return message.id


def message(app, message_id) -> OutboxMessage:
    with app.app_context():
        row = db.session.get(OutboxMessage, message_id)
        db.session.expunge(row)
        return row


def receipts(app) -> list[DeliveryReceipt]:
    with app.app_context():
        rows = list(db.session.scalars(select(DeliveryReceipt).order_by(DeliveryReceipt.id)))
        for row in rows:
            db.session.expunge(row)
        return rows


def twilio(client, params: dict, *, message_id=None, signature=None):
    query = f"?message={message_id}" if message_id is not None else ""
    url = f"http://localhost{PATH}{query}"
    sig = RequestValidator(TOKEN).compute_signature(url, params) if signature is None else signature
    return client.post(f"{PATH}{query}", data=params, headers={"X-Twilio-Signature": sig})


def generic(client, body: dict, *, secret=SECRET, raw: bytes | None = None):
    data = raw if raw is not None else json.dumps(body).encode()
    headers = {"Content-Type": "application/json", "X-Care-Signature": sign_generic(secret, data, int(time.time()))}
    return client.post("/webhooks/events", data=data, headers=headers)


def test_twilio_receipts_move_the_message_and_duplicates_change_nothing(hooks, client):
    mid = sent_message(hooks)
    for status in ("queued", "sent", "delivered"):
        r = twilio(client, {"MessageSid": SID, "MessageStatus": status}, message_id=mid)
        assert r.status_code == 204, r.get_data(as_text=True)
    m = message(hooks, mid)
    assert m.delivery_status == "delivered" and m.delivered_at is not None and m.status == outbox.SENT
    assert twilio(client, {"MessageSid": SID, "MessageStatus": "delivered"}, message_id=mid).status_code == 204
    assert len(receipts(hooks)) == 3
    # a late "sent" never moves a delivered message back
    assert twilio(client, {"MessageSid": SID, "MessageStatus": "sent", "ErrorCode": ""}, message_id=mid).status_code == 204
    assert message(hooks, mid).delivery_status == "delivered"


def test_twilio_failure_with_its_code_and_matching_by_the_sid(hooks, client):
    mid = sent_message(hooks, sid="SMfail")
    r = twilio(client, {"MessageSid": "SMfail", "MessageStatus": "undelivered", "ErrorCode": "30003"})  # no ?message=
    assert r.status_code == 204
    m = message(hooks, mid)
    assert (m.delivery_status, m.delivery_error, m.status) == ("undelivered", "30003", outbox.FAILED)


def test_twilio_bad_signature_403_and_unreadable_400(hooks, client):
    mid = sent_message(hooks)
    assert twilio(client, {"MessageSid": SID, "MessageStatus": "delivered"}, message_id=mid, signature="bad").status_code == 403
    signed_for_other = RequestValidator("other").compute_signature(f"http://localhost{PATH}", {"MessageSid": SID})
    assert twilio(client, {"MessageSid": SID, "MessageStatus": "delivered"}, signature=signed_for_other).status_code == 403
    assert client.post(PATH).status_code == 400  # empty
    assert twilio(client, {"MessageSid": SID, "MessageStatus": "teleported"}, message_id=mid).status_code == 400
    assert twilio(client, {"MessageStatus": "delivered"}, message_id=mid).status_code == 400
    assert receipts(hooks) == [] and message(hooks, mid).delivery_status is None


def test_a_receipt_for_an_unknown_message_is_stored_and_flagged_not_404(hooks, client, login_as):
    r = twilio(client, {"MessageSid": "SMnobody", "MessageStatus": "delivered"}, message_id=999999)
    assert r.status_code == 204
    r = generic(client, {"event_id": "gw-1", "message_id": "gateway-xyz", "message_status": "failed"})
    assert r.status_code == 204
    stored = receipts(hooks)
    assert [(x.unmatched, x.message_id, x.message_ref) for x in stored] == [(True, None, "999999"), (True, None, "gateway-xyz")]
    login_as("care_manager")
    assert "2 delivery receipts named no message of ours" in client.get("/messages/outbox").get_data(as_text=True)


def test_generic_receipts_by_our_id_duplicates_and_bad_input(hooks, client):
    mid = sent_message(hooks)
    body = {"event_id": "gw-7", "message_id": str(mid), "message_status": "delivered", "error_code": None,
            "occurred_at": "2026-12-06T10:00:00+08:00"}  # fmt: skip
    assert generic(client, body).status_code == 204
    assert generic(client, body).status_code == 204  # duplicate
    assert len(receipts(hooks)) == 1
    m = message(hooks, mid)
    assert m.delivery_status == "delivered" and m.delivered_at == datetime(2026, 12, 6, 2, 0, tzinfo=UTC)
    assert generic(client, body, secret="wrong").status_code == 403
    assert generic(client, {**body, "event_id": "gw-8", "message_status": "lost"}).status_code == 400
    assert generic(client, {**body, "event_id": "gw-9", "occurred_at": "yesterday"}).status_code == 400
    assert generic(client, {}, raw=b"{not json").status_code == 400
    assert len(receipts(hooks)) == 1


def test_a_failed_fallback_sms_counts_as_a_failed_reminder(hooks, client):
    mid = sent_message(hooks, task=True)
    with hooks.app_context():
        task_id = message(hooks, mid).task_id
        month = datetime.now(ZoneInfo("Asia/Shanghai")).date().replace(day=1)
        before = monthly_kpis(db.session, month, now=datetime.now(UTC) + timedelta(seconds=1))
    r = generic(client, {"event_id": "gw-f", "message_id": str(mid), "message_status": "failed", "error_code": "30008"})
    assert r.status_code == 204
    m = message(hooks, mid)
    assert m.status == outbox.FAILED and m.last_error == "failed: 30008"
    with hooks.app_context():
        after = monthly_kpis(db.session, month, now=datetime.now(UTC) + timedelta(seconds=1))
        failure = db.session.scalar(select(ReminderFailure).where(ReminderFailure.task_id == task_id))
    assert failure.message_id == mid
    # the reminder no longer counts as reminded by its message
    assert before.reminder_rate["first_service"].numerator == 1
    assert after.reminder_rate["first_service"].numerator == before.reminder_rate["first_service"].numerator - 1


def test_a_failed_task_message_without_a_record_gets_one(session):
    customer = factories.make_customer(session)
    task = factories.make_task(session, customer, status="expired")
    m = outbox.queue(session, channel="sms", to=customer.mobile, body="x", customer_id=customer.id, task_id=task.id, key="t:1")
    from care.messaging import receipts as svc

    svc.record(session, svc.Receipt("r-1", "generic", str(m.id), None, "undelivered", "undelivered", "30003", None), payload={}, now=datetime.now(UTC))
    failure = session.scalar(select(ReminderFailure).where(ReminderFailure.task_id == task.id))
    assert failure.reason == svc.MESSAGE_FAILED and failure.message_id == m.id


def test_the_simulator_and_the_log_adapter_give_receipts(session):
    from care.domain.settings import Settings
    from care.messaging.adapters import LogAdapter

    settings = Settings.defaults()
    now = datetime(2026, 12, 7, 3, 0, tzinfo=UTC)  # 11:00 in Shanghai
    customer = factories.make_customer(session)
    ids = [
        outbox.queue(session, channel="sms", to=customer.mobile, body="x", customer_id=customer.id, task_id=None, key=f"k{i}", now=now).id
        for i in range(40)
    ]
    sim = SimSms("delivered=50,failed=25,undelivered=25")
    outbox.send_due(session, settings=settings, now=now, adapter_for=lambda ch: sim)
    statuses = {session.get(OutboxMessage, i).delivery_status for i in ids}
    assert statuses == {"delivered", "failed", "undelivered"}
    failed = [session.get(OutboxMessage, i) for i in ids if session.get(OutboxMessage, i).delivery_status == "failed"]
    assert all(m.status == outbox.FAILED and m.delivery_error == "30008" for m in failed)
    one = outbox.queue(session, channel="sms", to=customer.mobile, body="x", customer_id=customer.id, task_id=None, key="log", now=now)
    outbox.send_due(session, settings=settings, now=now, adapter_for=lambda ch: LogAdapter())
    assert one.delivery_status == "delivered"


def test_twilio_is_given_the_signed_status_callback_with_our_id(monkeypatch):
    import requests

    from care.messaging import adapters

    calls = []

    class Answer:
        status_code = 201

        def json(self):
            return {"sid": "SM9"}

    monkeypatch.setattr(requests, "post", lambda url, **kw: calls.append(kw) or Answer())
    adapter = adapters.sms_adapter({
        "CARE_SMS": "twilio", "CARE_TWILIO_ACCOUNT_SID": "AC1", "CARE_TWILIO_AUTH_TOKEN": "tok",
        "CARE_TWILIO_FROM": "+15550001", "CARE_PUBLIC_BASE_URL": "https://care.example/",
    })  # fmt: skip

    class Msg:
        id, idempotency_key, channel, to_address, subject, body = 42, "k", "sms", "+8613800000000", None, "您好"

    assert adapter.send(Msg()) == "SM9"
    assert calls[0]["data"]["StatusCallback"] == "https://care.example/webhooks/twilio/sms-status?message=42"


def test_the_receipts_use_the_outboxs_own_statuses():
    from care.messaging import receipts as svc

    assert (svc.OUTBOX_QUEUED, svc.OUTBOX_FAILED, svc.OUTBOX_SKIPPED) == (outbox.QUEUED, outbox.FAILED, outbox.SKIPPED)

"""The fallback-message pages: templates, the outbox (audited), the R15 list."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import time_machine
from sqlalchemy import select

from care.extensions import db
from care.messaging import outbox
from care.models import AuditLog, CallAttempt, MessageTemplate
from care.models.types import utcnow
from tests import factories


def test_templates_list_and_read_only_for_specialists(client, login_as):
    login_as("specialist")
    page = client.get("/messages/templates")
    assert page.status_code == 200
    assert "/messages/templates/birthday/sms" in page.get_data(as_text=True)
    one = client.get("/messages/templates/first_service/sms").get_data(as_text=True)
    assert "首保" in one and "<textarea" not in one
    assert (
        client.post("/messages/templates/first_service/sms", data={"body": "x"}).status_code == 403
    )


def test_unknown_template_kind_is_404(client, login_as):
    login_as("care_manager")
    assert client.get("/messages/templates/delivery_call/sms").status_code == 404
    assert client.get("/messages/templates/first_service/fax").status_code == 404


def test_care_manager_edits_a_template(app, client, login_as):
    login_as("care_manager")
    assert "<textarea" in client.get("/messages/templates/first_service/sms").get_data(as_text=True)
    r = client.post(
        "/messages/templates/first_service/sms",
        data={"body": "【{dealer_name}】{salutation}，首保提醒 {plate}"},
    )
    assert r.status_code == 303
    with app.app_context():
        row = db.session.scalar(
            select(MessageTemplate).where(MessageTemplate.task_type == "first_service")
        )
        assert row.body.endswith("{plate}") and row.channel == "sms"
        assert (
            db.session.scalar(select(AuditLog).where(AuditLog.action == "message_template.save"))
            is not None
        )


def test_invalid_template_is_refused_and_kept(app, client, login_as):
    login_as("care_manager")
    r = client.post("/messages/templates/first_service/sms", data={"body": "您好 {plat}"})
    assert r.status_code == 422
    html = r.get_data(as_text=True)
    assert "{plat}" in html and "problem" in html
    r = client.post("/messages/templates/maintenance/email", data={"subject": "", "body": "您好"})
    assert r.status_code == 422
    with app.app_context():
        assert db.session.scalar(select(MessageTemplate)) is None


def test_outbox_page_filters_paginates_and_is_audited(app, client, login_as):
    with app.app_context():
        customer = factories.make_customer(db.session)
        for n in range(30):
            outbox.queue(
                db.session,
                channel="sms",
                to=customer.mobile,
                body=f"正文{n}",
                customer_id=customer.id,
                task_id=None,
                key=f"k{n}",
            )
        m = outbox.queue(
            db.session,
            channel="sms",
            to=customer.mobile,
            body="跳过的",
            customer_id=customer.id,
            task_id=None,
            key="skip",
            status="skipped",
            last_error="consent",
        )
        skipped_id = m.id
        db.session.commit()
    login_as("care_manager", username="cm")
    html = client.get("/messages/outbox").get_data(as_text=True)
    assert "正文29" in html and "page=2" in html
    assert "正文0<" not in html  # on page 2
    assert "正文0" in client.get("/messages/outbox?page=2").get_data(as_text=True)
    only = client.get("/messages/outbox?status=skipped").get_data(as_text=True)
    assert f'id="message-{skipped_id}"' in only and "正文1" not in only
    assert client.get("/messages/outbox?status=bogus").status_code == 400
    assert client.get("/messages/outbox?page=x").status_code == 400
    with app.app_context():
        views = db.session.scalars(select(AuditLog).where(AuditLog.action == "outbox.view")).all()
        assert len(views) == 3 and views[0].actor == "cm"


def test_violations_page(app, client, login_as):
    now = utcnow()
    with app.app_context():
        customer = factories.make_customer(db.session, name="李雷")
        task = factories.make_task(db.session, customer, fallback="sms")
        first = now - timedelta(days=5)
        # a failed first attempt in a call slot (10:00 Asia/Shanghai)
        first = datetime(first.year, first.month, first.day, 2, 0, tzinfo=UTC)
        db.session.add(
            CallAttempt(
                task_id=task.id,
                customer_id=customer.id,
                provider="sim",
                to_number="+8613800000000",
                status="no-answer",
                outcome="no_answer",
                started_at=first,
            )
        )
        db.session.commit()
        month = first.strftime("%Y-%m")
    login_as("general_manager")
    html = client.get(f"/messages/violations?month={month}").get_data(as_text=True)
    assert "李雷" in html
    assert client.get("/messages/violations?month=2026-13").status_code == 400


def test_violations_default_to_this_month_at_the_dealer_not_in_utc(app, client, login_as):
    # 00:30 on 1 June in Shanghai is still 31 May in UTC
    with time_machine.travel(datetime(2026, 6, 1, 0, 30, tzinfo=ZoneInfo("Asia/Shanghai")), tick=False):
        with app.app_context():
            customer = factories.make_customer(db.session, name="韩梅梅")
            task = factories.make_task(db.session, customer, fallback="sms")
            db.session.add(
                CallAttempt(
                    task_id=task.id,
                    customer_id=customer.id,
                    provider="sim",
                    to_number="+8613800000000",
                    status="no-answer",
                    outcome="no_answer",
                    started_at=datetime(2026, 5, 20, 2, 0, tzinfo=UTC),  # 10:00 on 20 May
                )
            )
            db.session.commit()
        login_as("care_manager")
        html = client.get("/messages/violations").get_data(as_text=True)
        assert 'value="2026-06"' in html and "韩梅梅" not in html
        assert "韩梅梅" in client.get("/messages/violations?month=2026-05").get_data(as_text=True)


def test_nav_link_only_for_readers(client, login_as):
    login_as("front_desk")
    assert "/messages/templates" not in client.get("/").get_data(as_text=True)
    assert client.get("/messages/templates").status_code == 403
    assert client.get("/messages/outbox").status_code == 403

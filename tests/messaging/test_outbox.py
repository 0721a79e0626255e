"""The outbox: sending due messages, consent at send time, retries, the adapters."""

from __future__ import annotations

import smtplib
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest
import requests
from sqlalchemy import select

from care.messaging import adapters, outbox
from care.models import OutboxMessage
from care.services.settings import load_settings
from tests import factories

NOW = datetime(2026, 3, 16, 2, 0, tzinfo=UTC)


def send_due(session, **kw):
    """``outbox.send_due`` under the stored settings, as ``care outbox`` calls it."""
    return outbox.send_due(session, settings=load_settings(session), **kw)


class Recorder:
    name = "fake"

    def __init__(self, fail: int = 0, error: Exception | None = None):
        self.sent: list[int] = []
        self.fail = fail
        self.error = error or adapters.SendError("fake: HTTP 503")

    def send(self, message) -> str:
        if self.fail:
            self.fail -= 1
            raise self.error
        self.sent.append(message.id)
        return f"P{message.id}"


def make(session, customer=None, **kw) -> OutboxMessage:
    customer = customer or factories.make_customer(session)
    values = {
        "channel": "sms",
        "to": customer.mobile,
        "body": "您好",
        "customer_id": customer.id,
        "task_id": None,
        "key": f"test:{customer.id}:{kw.get('channel', 'sms')}",
        "now": NOW,
    }
    values.update(kw)
    return outbox.queue(session, **values)


def test_send_due_sends_and_records(session):
    msg = make(session)
    fake = Recorder()
    counts = send_due(session, now=NOW, adapter_for=lambda ch: fake)
    assert counts == {"sent": 1, "skipped": 0, "retry": 0, "failed": 0, "deferred": 0}
    assert fake.sent == [msg.id]
    assert msg.status == "sent" and msg.sent_at == NOW and msg.provider_message_id == f"P{msg.id}"
    # sent once: a second round sends nothing
    assert (
        send_due(session, now=NOW + timedelta(hours=1), adapter_for=lambda ch: fake)["sent"]
        == 0
    )


def test_not_due_yet_is_left(session):
    make(session, now=NOW + timedelta(minutes=5))
    fake = Recorder()
    assert send_due(session, now=NOW, adapter_for=lambda ch: fake)["sent"] == 0


def test_consent_checked_again_at_send_time(session):
    customer = factories.make_customer(session)
    msg = make(session, customer)
    customer.no_sms = True
    fake = Recorder()
    counts = send_due(session, now=NOW, adapter_for=lambda ch: fake)
    assert counts["skipped"] == 1 and fake.sent == []
    assert msg.status == "skipped" and msg.last_error == "consent"


def test_retries_with_backoff_then_gives_up(session):
    settings = load_settings(session)
    base, max_tries = settings.outbox_backoff_seconds, settings.outbox_max_tries
    msg = make(session)
    fake = Recorder(fail=100)
    now = NOW
    for n in range(1, max_tries):
        assert send_due(session, now=now, adapter_for=lambda ch: fake)["retry"] == 1
        assert msg.tries == n and msg.status == "queued"
        assert msg.next_attempt_at == now + timedelta(seconds=base * 2 ** (n - 1))
        assert msg.last_error == "fake: HTTP 503"
        # not before its time
        assert (
            send_due(
                session, now=msg.next_attempt_at - timedelta(seconds=1), adapter_for=lambda ch: fake
            )["retry"]
            == 0
        )
        now = msg.next_attempt_at
    assert send_due(session, now=now, adapter_for=lambda ch: fake)["failed"] == 1
    assert msg.status == "failed" and msg.tries == max_tries


def test_retry_then_success(session):
    msg = make(session)
    fake = Recorder(fail=1, error=RuntimeError("boom +8613800000000"))
    send_due(session, now=NOW, adapter_for=lambda ch: fake)
    assert msg.status == "queued" and msg.last_error == "fake: RuntimeError"  # no data in the error
    send_due(session, now=NOW + timedelta(hours=1), adapter_for=lambda ch: fake)
    assert msg.status == "sent" and msg.tries == 2


def test_log_adapter_logs_no_customer_data(session, caplog):
    msg = make(session, body="秘密内容")
    caplog.set_level("INFO")
    send_due(session, now=NOW, adapter_for=lambda ch: adapters.LogAdapter())
    assert msg.status == "sent"
    assert str(msg.id) in caplog.text
    assert msg.to_address not in caplog.text and "秘密内容" not in caplog.text


def test_skipped_rows_are_not_sent(session):
    make(session, status="skipped", last_error="consent")
    fake = Recorder()
    assert send_due(session, now=NOW, adapter_for=lambda ch: fake)["sent"] == 0
    assert session.scalar(select(OutboxMessage)).status == "skipped"


# --- adapters (no network) ----------------------------------------------------------------


def _msg(**kw):
    values = {
        "id": 7,
        "idempotency_key": "fallback:42",
        "channel": "sms",
        "to_address": "+8613800000000",
        "subject": None,
        "body": "您好",
    }
    values.update(kw)
    return SimpleNamespace(**values)


class FakeResponse:
    def __init__(self, status_code=201, data=None):
        self.status_code = status_code
        self._data = data or {}

    def json(self):
        return self._data


def test_twilio_request(monkeypatch):
    calls = []

    def post(url, **kw):
        calls.append((url, kw))
        return FakeResponse(201, {"sid": "SM123"})

    monkeypatch.setattr(requests, "post", post)
    adapter = adapters.sms_adapter(
        {
            "CARE_SMS": "twilio",
            "CARE_TWILIO_ACCOUNT_SID": "AC1",
            "CARE_TWILIO_AUTH_TOKEN": "tok",
            "CARE_TWILIO_FROM": "+15550001",
        }
    )
    assert adapter.send(_msg()) == "SM123"
    [(url, kw)] = calls
    assert url == "https://api.twilio.com/2010-04-01/Accounts/AC1/Messages.json"
    assert kw["auth"] == ("AC1", "tok")
    assert kw["data"] == {"To": "+8613800000000", "From": "+15550001", "Body": "您好"}
    assert "I-Twilio-Idempotency-Token" not in (kw.get("headers") or {})  # Twilio's API has none


def test_twilio_error_and_network_failure(monkeypatch):
    adapter = adapters.TwilioSms("AC1", "tok", "+15550001")
    monkeypatch.setattr(requests, "post", lambda url, **kw: FakeResponse(500))
    with pytest.raises(adapters.SendError, match="HTTP 500"):
        adapter.send(_msg())

    def down(url, **kw):
        raise requests.ConnectionError("to +8613800000000")

    monkeypatch.setattr(requests, "post", down)
    with pytest.raises(adapters.SendError) as exc:
        adapter.send(_msg())
    assert "+86" not in str(exc.value)


def test_http_request(monkeypatch):
    calls = []

    def post(url, **kw):
        calls.append((url, kw))
        return FakeResponse(200, {"id": "m-1"})

    monkeypatch.setattr(requests, "post", post)
    adapter = adapters.sms_adapter({"CARE_SMS": "http", "CARE_SMS_URL": "https://sms.example/send"})
    assert adapter.send(_msg()) == "m-1"
    [(url, kw)] = calls
    assert url == "https://sms.example/send"
    assert kw["headers"]["Idempotency-Key"] == "fallback:42"
    assert kw["json"] == {"id": "fallback:42", "to": "+8613800000000", "body": "您好"}


class FakeSMTP:
    instances: list[FakeSMTP] = []

    def __init__(self, host, port, timeout=None):
        self.host, self.port = host, port
        self.calls: list = []
        self.sent = []
        FakeSMTP.instances.append(self)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def starttls(self):
        self.calls.append("starttls")

    def login(self, user, password):
        self.calls.append(("login", user, password))

    def send_message(self, mail):
        self.sent.append(mail)


def test_smtp_email(monkeypatch):
    FakeSMTP.instances = []
    monkeypatch.setattr(smtplib, "SMTP", FakeSMTP)
    adapter = adapters.email_adapter(
        {
            "CARE_SMTP_URL": "smtp://care%40dealer:p%40ss@mail.dealer.example:587?starttls=1&from=care@dealer.example"
        }
    )
    msg = _msg(
        channel="email", to_address="wang@example.com", subject="保养提醒", body="您好，保养"
    )
    message_id = adapter.send(msg)
    [smtp] = FakeSMTP.instances
    assert (smtp.host, smtp.port) == ("mail.dealer.example", 587)
    assert smtp.calls == ["starttls", ("login", "care@dealer", "p@ss")]
    [mail] = smtp.sent
    assert mail["To"] == "wang@example.com" and mail["From"] == "care@dealer.example"
    assert mail["Subject"] == "保养提醒" and "您好，保养" in mail.get_content()
    assert mail["Message-ID"] == message_id and message_id.endswith("@dealer.example>")
    # the same key gives the same Message-ID (a resend is recognisable)
    assert adapter.send(msg) == message_id


def test_smtp_failure_is_a_send_error(monkeypatch):
    class Down(FakeSMTP):
        def send_message(self, mail):
            raise smtplib.SMTPServerDisconnected("gone")

    monkeypatch.setattr(smtplib, "SMTP", Down)
    adapter = adapters.SmtpEmail("smtp://mail.dealer.example")
    with pytest.raises(adapters.SendError, match="SMTPServerDisconnected"):
        adapter.send(_msg(channel="email", to_address="wang@example.com", subject="s"))


def test_email_without_smtp_url_goes_to_the_log():
    assert isinstance(adapters.email_adapter({"CARE_SMTP_URL": None}), adapters.LogAdapter)
    assert isinstance(adapters.sms_adapter({}), adapters.LogAdapter)
    with pytest.raises(ValueError):
        adapters.sms_adapter({"CARE_SMS": "pigeon"})


def test_cli_outbox_once(app, runner, caplog, monkeypatch):
    from care.extensions import db

    monkeypatch.setattr(outbox, "sms_hours", lambda settings, now: True)  # whatever the hour

    with app.app_context():
        customer = factories.make_customer(db.session)
        mobile = customer.mobile
        outbox.queue(
            db.session,
            channel="sms",
            to=customer.mobile,
            body="您好",
            customer_id=customer.id,
            task_id=None,
            key="cli:1",
        )
        outbox.queue(
            db.session,
            channel="email",
            to="a@example.com",
            subject="s",
            body="您好",
            customer_id=customer.id,
            task_id=None,
            key="cli:2",
        )
        db.session.commit()
    caplog.set_level("INFO")
    result = runner.invoke(args=["care", "outbox", "--once", "--json"])
    assert result.exit_code == 0, result.output
    assert '"sent": 2' in result.output
    assert "a@example.com" not in caplog.text and mobile not in caplog.text
    with app.app_context():
        assert {m.status for m in db.session.scalars(select(OutboxMessage))} == {"sent"}
    again = runner.invoke(args=["care", "outbox", "--once"])
    assert again.exit_code == 0 and "0 sent" in again.output


def test_cli_outbox_bad_sms_config(app, runner):
    app.config["CARE_SMS"] = "pigeon"  # read when the command runs; the app fixture restores it
    result = runner.invoke(args=["care", "outbox", "--once"])
    assert result.exit_code != 0 and "pigeon" in result.output


def test_two_workers_do_not_take_the_same_message(app, session):
    """PostgreSQL: rows picked by one worker are locked (FOR UPDATE SKIP LOCKED) and
    skipped by another; SQLite (one writer at a time) has no row locks to test."""
    from sqlalchemy.orm import Session

    if session.get_bind().dialect.name != "postgresql":
        pytest.skip("row locks: PostgreSQL only")
    first = make(session)
    session.commit()
    taken = outbox.due(session, now=NOW)  # worker A holds the lock until it commits
    assert [m.id for m in taken] == [first.id]
    with Session(bind=session.get_bind()) as other:  # worker B
        assert outbox.due(other, now=NOW) == []
        other.rollback()
    session.rollback()
    with Session(bind=session.get_bind()) as other:
        assert [m.id for m in outbox.due(other, now=NOW)] == [first.id]
        other.rollback()


def test_no_text_messages_at_night(session):
    """SMS wait in the outbox outside the call hours (22:00 Shanghai); e-mail goes."""
    sms = make(session)
    mail = make(session, channel="email", to="a@example.cn")
    fake = Recorder()
    night = datetime(2026, 3, 16, 14, 0, tzinfo=UTC)  # 22:00 local
    counts = send_due(session, now=night, adapter_for=lambda ch: fake)
    assert counts["deferred"] == 1 and counts["sent"] == 1
    assert sms.status == "queued" and mail.status == "sent"
    morning = datetime(2026, 3, 17, 1, 0, tzinfo=UTC)  # 09:00 local
    assert send_due(session, now=morning, adapter_for=lambda ch: fake)["sent"] == 1
    assert sms.status == "sent"


class KilledAfter:
    """A gateway that receives ``n`` messages, then a ``n+1``-th, and the worker dies
    before it records that one (SystemExit: a BaseException, like a kill)."""

    name = "fake"

    def __init__(self, received: list[str], n: int | None = None):
        self.received = received
        self.n = n

    def send(self, message) -> str:
        self.received.append(message.idempotency_key)
        if self.n is not None and len(self.received) > self.n:
            raise SystemExit(137)
        return f"P{message.id}"


def test_a_worker_killed_mid_round_resends_at_most_the_message_in_flight(app, runner, monkeypatch):
    """Issue 9 item 18: 150 queued SMS, the worker dies after 40 sends (one round of 100
    was one commit, so the rerun sent those 40 again); the rerun after the lease sends
    the rest, and only the message in flight may be received twice."""
    from care import cli
    from care.extensions import db
    from care.messaging import adapters as adapter_module

    monkeypatch.setattr(outbox, "sms_hours", lambda settings, now: True)
    with app.app_context():
        for n in range(150):
            customer = factories.make_customer(db.session)
            outbox.queue(db.session, channel="sms", to=customer.mobile, body="您好", customer_id=customer.id,
                         task_id=None, key=f"crash:{n}")
        db.session.commit()
    received: list[str] = []
    gateway = {"adapter": KilledAfter(received, n=40)}
    monkeypatch.setattr(adapter_module, "adapters_from_config", lambda config: lambda channel: gateway["adapter"])
    killed = runner.invoke(args=["care", "outbox", "--once", "--limit", "1000"])
    assert killed.exit_code == 137 and len(received) == 41
    in_flight = received[-1]

    gateway["adapter"] = KilledAfter(received)
    rerun = runner.invoke(args=["care", "outbox", "--once", "--limit", "1000"])
    assert rerun.exit_code == 0, rerun.output
    # the 40 sent were recorded and the one in flight is still claimed: the rest only
    assert len(received) == 150 and len(set(received)) == 150 and received.count(in_flight) == 1
    start = cli.utcnow()
    monkeypatch.setattr(cli, "utcnow", lambda: start + outbox.LEASE + timedelta(seconds=1))
    rerun = runner.invoke(args=["care", "outbox", "--once", "--limit", "1000", "--json"])
    assert rerun.exit_code == 0, rerun.output
    twice = {key for key in received if received.count(key) > 1}
    assert twice <= {in_flight} and set(received) == {f"crash:{n}" for n in range(150)}
    assert len(received) <= 151  # the lease ended: the one in flight may go out again
    with app.app_context():
        assert {m.status for m in db.session.scalars(select(OutboxMessage))} == {"sent"}


def test_two_workers_claim_a_message_once(app, session):
    """The claim is conditional: a worker that read the message as due before another
    claimed it does not take it (on both databases)."""
    first = make(session)
    session.commit()
    until = NOW + outbox.LEASE
    assert outbox.claim(session, first, now=NOW, until=until)
    session.commit()
    from sqlalchemy.orm import Session

    with Session(bind=session.get_bind()) as other:
        stale = other.get(OutboxMessage, first.id)
        assert not outbox.claim(other, stale, now=NOW, until=until)
        other.rollback()
    assert not outbox.claim(session, first, now=until - timedelta(seconds=1), until=until)
    assert outbox.claim(session, first, now=until, until=until + outbox.LEASE)  # the lease ended
    session.rollback()


WORKER = """
import json, sys
from datetime import datetime
from care import create_app
from care.extensions import db
from care.messaging import outbox
from care.messaging.adapters import HttpSms
from care.services.settings import load_settings
config, now = json.loads(sys.argv[1]), datetime.fromisoformat(sys.argv[2])
app = create_app(config)
with app.app_context():
    gateway = HttpSms(config["CARE_SMS_URL"])
    outbox.send_due(db.session, settings=load_settings(db.session), now=now, adapter_for=lambda ch: gateway,
                    limit=1000, commit=db.session.commit, clock=lambda: now)
"""


def test_a_worker_killed_with_sigkill_resends_at_most_the_message_in_flight(app, session, tmp_path):
    """The issue's reproduction end to end: a worker process sending to an HTTP SMS
    gateway is killed with SIGKILL while the gateway holds its 21st request; the rerun
    (after the lease) completes the queue, and the gateway saw each Idempotency-Key once
    but for the one in flight."""
    import json
    import os
    import signal
    import subprocess
    import sys
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
    from pathlib import Path

    keys: list[str] = []
    arrived, release = threading.Event(), threading.Event()
    hold_at = {"n": 21}

    class Gateway(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 - the http.server name
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            keys.append(self.headers["Idempotency-Key"])
            if len(keys) == hold_at["n"]:
                arrived.set()
                release.wait(30)  # in flight when the worker dies
            body = b'{"id": "ok"}'
            try:
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
            except OSError:
                pass

        def log_message(self, *args):
            pass

    for n in range(60):
        make(session, key=f"kill:{n}")
    session.commit()
    server = ThreadingHTTPServer(("127.0.0.1", 0), Gateway)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    config = {
        "TESTING": True, "INSTANCE_PATH": str(tmp_path), "SECRET_KEY": "x", "CARE_WEBHOOK_SECRET": "y",
        "SQLALCHEMY_DATABASE_URI": app.config["SQLALCHEMY_DATABASE_URI"],
        "SQLALCHEMY_ENGINE_OPTIONS": app.config["SQLALCHEMY_ENGINE_OPTIONS"],
        "CARE_SMS_URL": f"http://127.0.0.1:{server.server_port}/sms",
    }
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}

    def worker(now):
        return subprocess.Popen([sys.executable, "-c", WORKER, json.dumps(config), now.isoformat()], env=env)

    try:
        first = worker(NOW)
        assert arrived.wait(60), "the worker never reached its 21st message"
        os.kill(first.pid, signal.SIGKILL)
        first.wait(30)
        release.set()
        in_flight = keys[-1]
        hold_at["n"] = -1
        assert worker(NOW + outbox.LEASE + timedelta(seconds=1)).wait(120) == 0
    finally:
        release.set()
        server.shutdown()
        server.server_close()
    assert {k for k in keys if keys.count(k) > 1} <= {in_flight}
    assert set(keys) == {f"kill:{n}" for n in range(60)} and len(keys) <= 61
    session.expire_all()
    assert {m.status for m in session.scalars(select(OutboxMessage))} == {"sent"}

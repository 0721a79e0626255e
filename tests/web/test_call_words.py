"""Words that match the rules (issue 10 item 7): what a finished call means for its task
under R13, the note's label of an outcome, the loss reasons, in English and zh-CN."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest

from care.domain.lapsed import LOSS_REASONS
from care.extensions import db
from care.models.call import CallAttempt
from care.web import labels
from tests.factories import make_customer, make_task

EN = {"Accept-Language": "en"}
ZH = {"Accept-Language": "zh-CN"}
HX = {"HX-Request": "true"}
MORNING = datetime(2026, 5, 11, 2, 0, tzinfo=UTC)  # 10:00 Shanghai
EVENING = datetime(2026, 5, 12, 11, 0, tzinfo=UTC)  # 19:00 Shanghai, the next day


@pytest.fixture
def world(app, login_as):
    app.config["CARE_NOW"] = (EVENING + timedelta(minutes=5)).isoformat()
    me = login_as("specialist", username="spec")
    with app.app_context():
        s = db.session
        c = make_customer(s, mobile="+8613800138000")
        task = make_task(s, c, assignee=me, now=MORNING)
        recall = make_task(
            s, make_customer(s), assignee=me, now=MORNING, type="lapsed_recall",
            reason_id="lapsed_recall.reason", reason_params={"last_visit": "2025-12-01", "group": "local"},
        )  # fmt: skip
        s.commit()
        return {"me": me.id, "customer": c.id, "task": task.id, "recall": recall.id}


def attempt(app, world, outcome, *, at=MORNING, **kw) -> int:
    """A finished call attempt of the world's task."""
    with app.app_context():
        a = CallAttempt(
            task_id=world["task"], customer_id=world["customer"], user_id=world["me"], provider="sim",
            to_number="+8613800138000", status=outcome, outcome=outcome, rank=4, started_at=at,
            counted=outcome != "canceled", **kw,
        )  # fmt: skip
        db.session.add(a)
        db.session.commit()
        return a.id


def panel(client, attempt_id, headers=EN) -> str:
    return client.get(f"/calls/{attempt_id}/panel", headers={**HX, **headers}).get_data(as_text=True)


def card(client, world, headers=EN) -> str:
    """The task card as it reloads after a call (hx-get …?last_call=1)."""
    return client.get(f"/tasks/{world['task']}?last_call=1", headers=headers).get_data(as_text=True)


def test_an_answered_call_reads_connected_and_is_not_an_unsuccessful_attempt(app, client, world):
    a = attempt(app, world, "completed", duration_s=135)
    html = panel(client, a)
    assert "Connected" in html and "2:15 min" in html
    assert 'data-counts="reached"' in html
    assert "The customer was reached: this is not an unsuccessful attempt." in html
    zh = panel(client, a, ZH)
    assert "已接通" in zh and "已联系上客户，不计入未接通次数" in zh
    assert "已完成" not in zh and "计为一次尝试" not in zh
    # The card agrees: its count of unsuccessful attempts stays at 0.
    assert "Unsuccessful attempts: 0 of 3" in card(client, world)


def test_a_no_answer_says_which_attempt_it_used(app, client, world):
    first = attempt(app, world, "no_answer")
    assert "Counts as an unsuccessful attempt." in panel(client, first)  # the poll knows no plan
    html = card(client, world)
    assert "Unsuccessful attempt 1 of 3: call again in another time slot." in html
    second = attempt(app, world, "busy", at=EVENING)
    html = card(client, world)
    assert f'id="call-panel-{second}"' in html
    assert "Unsuccessful attempt 2 of 3: call again in another time slot." in html
    assert "Unsuccessful attempts: 2 of 3" in html
    zh = card(client, world, ZH)
    assert "第 2 次未接通（共 3 次）：请换一个时段再拨。" in zh and "未接通次数：2 / 3" in zh


def test_the_last_attempt_says_none_is_left(app, client, world):
    attempt(app, world, "no_answer")
    attempt(app, world, "busy", at=MORNING + timedelta(hours=5))  # 15:00, afternoon
    attempt(app, world, "rejected", at=EVENING)
    html = card(client, world)
    assert "Unsuccessful attempt 3 of 3: no attempts are left for this task." in html
    assert "Rejected by the customer" in html


@pytest.mark.parametrize(
    ("outcome", "en", "zh"),
    [
        ("canceled", "Not counted as an attempt: the time slot stays free.", "不计入拨打次数，本时段仍可再拨。"),
        ("invalid_number", "Not counted as an attempt: the task waits in the number-correction queue",
         "不计入拨打次数：任务已转入号码更正队列"),
    ],
)  # fmt: skip
def test_calls_that_are_no_attempt_say_so(app, client, world, outcome, en, zh):
    a = attempt(app, world, outcome)
    html = panel(client, a)
    assert en in html and 'data-counts="no"' in html
    assert zh in panel(client, a, ZH)
    assert "Unsuccessful attempts: 0 of 3" in card(client, world)


def test_the_simulators_choices_read_as_call_results(app, client, world):
    html = client.get(f"/tasks/contact/{world['customer']}", headers=ZH).get_data(as_text=True)
    options = html[html.index('name="force"') : html.index("</select>", html.index('name="force"'))]
    assert '<option value="answered">已接通</option>' in options
    assert "已完成" not in options and "失败</option>" not in options.replace("呼叫失败", "")


def test_result_and_status_labels_differ_only_where_a_call_was_answered():
    assert set(labels.CALL_RESULTS) == set(labels.CALL_STATUSES)
    differ = {k for k in labels.CALL_STATUSES if str(labels.CALL_RESULTS[k]) != str(labels.CALL_STATUSES[k])}
    assert differ == {"completed"}


def test_call_result_words_follow_the_attempt_policy(app):
    with app.test_request_context(headers=EN):
        plan = SimpleNamespace(used=2, attempts_max=3, exhausted=False)
        assert labels.call_result_words("reached").counts == "reached"
        assert labels.call_result_words("failed", plan).meaning.startswith("Unsuccessful attempt 2 of 3: after a network failure")
        assert labels.call_result_words("voicemail", plan).counts == "unsuccessful"
        assert labels.call_result_words("machine", SimpleNamespace(used=1, attempts_max=1, exhausted=True)).meaning == (
            "Unsuccessful attempt 1 of 1: no attempts are left for this task."
        )
        assert labels.call_result_words("ringing") == labels.CallResultWords("Ringing the customer…", "", "")


# --- the outcome form: the note's label and the loss reasons ----------------------------


def recall_card(client, world, headers) -> str:
    return client.get(f"/tasks/{world['recall']}", headers=headers).get_data(as_text=True)


def test_the_note_label_says_when_the_note_is_required(app, client, world):
    html = recall_card(client, world, EN)
    assert "(required when you choose “Other” as the loss reason)" in html
    zh = recall_card(client, world, ZH)
    assert '备注\n      <span class="muted">（选择流失原因“其他”时必填）</span></label>' in zh
    assert "必填：其他" not in zh and "以下情况必填" not in zh
    first_service = client.get(f"/tasks/{world['task']}", headers=ZH).get_data(as_text=True)
    assert '备注\n      <span class="muted">（选填）</span></label>' in first_service


def test_the_server_wants_the_note_exactly_when_the_label_says(app, client, world):
    url = f"/tasks/{world['recall']}/outcome"
    refused = client.post(url, data={"outcome": "lost", "lost-loss_reason": "other"}, headers=EN)
    assert refused.status_code == 422 and "Write a note saying what happened." in refused.get_data(as_text=True)
    kept = client.post(url, data={"outcome": "lost", "lost-loss_reason": "price"}, headers=EN)
    assert kept.status_code == 303


def test_the_form_offers_the_one_list_of_loss_reasons_in_the_scripts_words(app, client, world):
    zh = recall_card(client, world, ZH)
    select = zh[zh.index('name="lost-loss_reason"') : zh.index("</select>", zh.index('name="lost-loss_reason"'))]
    for reason in LOSS_REASONS:
        assert f'<option value="{reason.code}">{reason.zh}</option>' in select

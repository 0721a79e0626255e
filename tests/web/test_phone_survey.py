"""The questionnaire beside the call (care/web/phone_survey.py, care.services.phone_survey):
R8/R10 surveys saved item by item, resumed, finished with the task's outcome; the R7
question of R8; refusals (422 bad input, 403 someone else's task, 409 closed)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from care.extensions import db
from care.models import CareTask, SurveyAnswer, SurveyResponse, TaskOutcome
from care.services import surveys as survey_service
from tests.factories import (
    make_attempt,
    make_customer,
    make_delivery,
    make_task,
    make_user,
    make_vehicle,
)

HX = {"HX-Request": "true", "Accept-Language": "en"}
EN = {"Accept-Language": "en"}
MORNING = datetime(2026, 5, 11, 2, 0, tzinfo=UTC)  # 10:00 Shanghai
DELIVERED = datetime(2026, 5, 6, 2, 0, tzinfo=UTC)


@pytest.fixture
def world(app, login_as):
    """A specialist; a customer with a post-delivery survey (R8, its R7 call reached the
    customer 30 h after the delivery) and a post-service callback (R10), both theirs."""
    app.config["CARE_NOW"] = MORNING.isoformat()
    me = login_as("specialist", username="spec", display_name="客服 小张")
    with app.app_context():
        s = db.session
        c = make_customer(s, name="韩梅梅", mobile="+8613800138000")
        v = make_vehicle(s, c, plate="川A20002", model="迈腾")
        d = make_delivery(s, v, delivered_at=DELIVERED)
        r7 = make_task(s, c, type="delivery_call", vehicle_id=v.id, delivery_id=d.id, status="done",
                       outcome="reached_satisfied", reason_id="delivery_call.reason")  # fmt: skip
        s.add(TaskOutcome(task_id=r7.id, outcome="reached_satisfied", recorded_at=DELIVERED + timedelta(hours=30)))
        r8 = make_task(s, c, assignee=me, type="delivery_survey", vehicle_id=v.id, delivery_id=d.id,
                       reason_id="delivery_survey.reason")  # fmt: skip
        r10 = make_task(s, c, assignee=me, type="service_callback", vehicle_id=v.id, reason_id="service_callback.reason")
        s.commit()
        return {"me": me.id, "customer": c.id, "r8": r8.id, "r10": r10.id, "r7": r7.id}


def answer(client, task_id, item, score, headers=HX):
    return client.post(f"/tasks/{task_id}/survey/answer", data={"item": item, "score": score}, headers=headers)


def ssi_items(app) -> list[str]:
    with app.app_context():
        return [i.code for i in survey_service.current_version(db.session, "ssi").items]


def response_of(app, task_id):
    with app.app_context():
        r = db.session.scalars(select(SurveyResponse).where(SurveyResponse.task_id == task_id)).first()
        if r is None:
            return None
        return {
            "status": r.status, "channel": r.channel, "r7": r.r7_call_within_72h, "index": r.index,
            "answers": {a.item.code: (a.score, a.unanswered, a.source) for a in r.answers},
        }  # fmt: skip


def test_contact_page_shows_each_questionnaire_beside_the_call(client, world):
    html = client.get(f"/tasks/contact/{world['customer']}", headers=EN).get_data(as_text=True)
    assert f'id="survey-{world["r8"]}"' in html and f'id="survey-{world["r10"]}"' in html
    assert "Sales satisfaction (SSI)" in html and "Service satisfaction" in html or "CSI" in html
    # one form per item, a radio per score 1..7 and "did not answer"
    first = ssi_items(client.application)[0]
    assert f'data-survey-item="{first}"' in html
    assert html.count('name="score" value="none"') >= len(ssi_items(client.application))
    # R8: the R7 question, prefilled "yes" from the consultant's task (30 h < 72 h)
    r7 = re.search(r'name="r7" value="yes"( checked)?', html)
    assert r7 and r7.group(1), "the R7 answer is prefilled"
    assert "Prefilled from the consultant" in html


def test_saved_item_by_item_and_resumed(client, world, app):
    items = ssi_items(app)
    assert response_of(app, world["r8"]) is None  # nothing is written by looking
    r = answer(client, world["r8"], items[0], "6")
    assert r.status_code == 200 and "saved" in r.get_data(as_text=True)
    assert "1 of" in r.get_data(as_text=True)  # the progress, out of band
    r = answer(client, world["r8"], items[1], "none")
    assert r.status_code == 200
    r = answer(client, world["r8"], items[0], "7")  # changed
    got = response_of(app, world["r8"])
    assert got["status"] == "in_progress" and got["channel"] == "phone"
    assert got["answers"] == {items[0]: (7, False, "phone"), items[1]: (None, True, "phone")}
    assert got["r7"] is True  # the prefill is stored with the response
    # reopening the page resumes: the answers are checked
    html = client.get(f"/tasks/contact/{world['customer']}", headers=EN).get_data(as_text=True)
    form = html.split(f'data-survey-item="{items[0]}"')[1].split("</form>")[0]
    assert 'value="7" checked' in form
    form = html.split(f'data-survey-item="{items[1]}"')[1].split("</form>")[0]
    assert 'value="none" checked' in form


@pytest.mark.parametrize(
    ("item", "score", "words"),
    [
        ("greeted_at_once", "8", "outside the scale 1 to 7"),
        ("greeted_at_once", "0", "outside the scale 1 to 7"),
        ("greeted_at_once", "seven", "is not a score"),
        ("greeted_at_once", "", "Choose a score"),
        ("no_such_item", "5", "no item"),
        ("x" * 200, "5", "no item"),
    ],
)
def test_bad_input_is_422_with_the_reason_and_writes_nothing(client, world, app, item, score, words):
    r = answer(client, world["r8"], item, score)
    assert r.status_code == 422
    assert words in r.get_data(as_text=True)
    assert response_of(app, world["r8"]) is None


def test_plain_post_without_htmx(client, world, app):
    items = ssi_items(app)
    r = answer(client, world["r8"], items[0], "5", headers=EN)
    assert r.status_code == 303 and f"#survey-{world['r8']}" in r.headers["Location"]
    r = answer(client, world["r8"], items[0], "9", headers=EN)
    assert r.status_code == 422 and "outside the scale" in r.get_data(as_text=True)


def test_finish_records_the_outcome_with_the_low_items(client, world, app):
    items = ssi_items(app)
    for code, score in zip(items[:4], ("7", "6", "3", "none"), strict=True):
        assert answer(client, world["r8"], code, score).status_code == 200
    r = client.post(f"/tasks/{world['r8']}/survey/finish", data={"note": "客户说等了很久"}, headers=HX)
    assert r.status_code == 200, r.get_data(as_text=True)
    assert "tasks-changed" in r.headers["HX-Trigger"]
    assert "Reached, has an issue" in r.get_data(as_text=True)
    got = response_of(app, world["r8"])
    assert got["status"] == "completed" and got["index"] is not None
    with app.app_context():
        task = db.session.get(CareTask, world["r8"])
        assert task.status == "done" and task.outcome == "reached_issue"
        (row,) = task.outcomes
        assert row.source == "survey" and row.recorded_by_id == world["me"]
        low_text = next(i.text_zh for i in survey_service.current_version(db.session, "ssi").items if i.code == items[2])
        assert low_text in row.note and "(3)" in row.note and "客户说等了很久" in row.note
    # finished: nothing changes any more
    assert answer(client, world["r8"], items[0], "1").status_code == 409
    assert response_of(app, world["r8"])["answers"][items[0]] == (7, False, "phone")


def test_finish_satisfied_and_finish_needs_an_answer(client, world, app):
    r = client.post(f"/tasks/{world['r10']}/survey/finish", headers=HX)
    assert r.status_code == 422 and "No item has an answer yet" in r.get_data(as_text=True)
    with app.app_context():
        code = survey_service.current_version(db.session, "csi").items[0].code
    assert answer(client, world["r10"], code, "7").status_code == 200
    assert client.post(f"/tasks/{world['r10']}/survey/finish", headers=HX).status_code == 200
    with app.app_context():
        assert db.session.get(CareTask, world["r10"]).outcome == "reached_satisfied"


def test_r7_answer_and_its_checks(client, world, app):
    url = f"/tasks/{world['r8']}/survey/r7"
    assert client.post(url, data={"r7": "no"}, headers=HX).status_code == 200
    assert response_of(app, world["r8"])["r7"] is False
    r = client.post(url, data={"r7": "maybe"}, headers=HX)
    assert r.status_code == 422 and "yes or no" in r.get_data(as_text=True)
    assert client.post(f"/tasks/{world['r10']}/survey/r7", data={"r7": "no"}, headers=HX).status_code == 422


def test_r7_prefill_says_no_when_the_call_came_too_late(client, world, app):
    with app.app_context():
        row = db.session.scalars(select(TaskOutcome).where(TaskOutcome.task_id == world["r7"])).one()
        row.recorded_at = DELIVERED + timedelta(hours=80)
        db.session.commit()
    html = client.get(f"/tasks/contact/{world['customer']}", headers=EN).get_data(as_text=True)
    assert re.search(r'name="r7" value="no" checked', html)


def test_someone_elses_task_is_refused_a_care_manager_may(client, world, app, login_as):
    items = ssi_items(app)
    with app.app_context():
        other = make_user(db.session, "specialist")
        db.session.get(CareTask, world["r8"]).assignee_id = other.id
        db.session.commit()
    r = answer(client, world["r8"], items[0], "5")
    assert r.status_code == 403 and "assigned to someone else" in r.get_data(as_text=True)
    html = client.get(f"/tasks/contact/{world['customer']}", headers=EN).get_data(as_text=True)
    section = html.split(f'id="survey-{world["r8"]}"')[1].split("</section>")[0]
    assert "disabled" in section and "Finish survey" not in section
    client.post("/auth/logout")
    login_as("care_manager")
    assert answer(client, world["r8"], items[0], "5").status_code == 200


def test_closed_task_is_409(client, world, app):
    with app.app_context():
        db.session.get(CareTask, world["r10"]).status = "done"
        db.session.commit()
    with app.app_context():
        code = survey_service.current_version(db.session, "csi").items[0].code
    assert answer(client, world["r10"], code, "5").status_code == 409


def test_not_a_survey_task_is_404(client, world, app):
    with app.app_context():
        t = make_task(db.session, type="birthday")
        db.session.commit()
        tid = t.id
    assert answer(client, tid, "x", "5").status_code == 404


def test_ivr_offer_only_while_the_customer_is_on_the_line(client, world, app):
    with app.app_context():
        task = db.session.get(CareTask, world["r8"])
        attempt = make_attempt(db.session, task, status="answered", rank=3, answered=True,
                               answered_at=MORNING, user_id=world["me"])  # fmt: skip
        db.session.commit()
        attempt_id = attempt.id
    html = client.get(f"/calls/{attempt_id}/panel", headers=HX).get_data(as_text=True)
    assert "Hand over to the automated survey" in html
    with app.app_context():
        a = db.session.get(type(attempt), attempt_id)
        a.status, a.rank, a.outcome = "completed", 4, "completed"
        db.session.commit()
    html = client.get(f"/calls/{attempt_id}/panel", headers=HX).get_data(as_text=True)
    assert "Hand over to the automated survey" not in html


def test_answer_rows_are_unique(app, client, world):
    items = ssi_items(app)
    for _ in range(3):
        answer(client, world["r8"], items[0], "5")
    with app.app_context():
        assert db.session.scalar(select(db.func.count()).select_from(SurveyAnswer)) == 1


def test_r7_prefill_from_the_consultants_calls_and_its_task(app, world):
    """The R7 task's answered calls count like its reached outcomes; an R7 task closed
    without reaching the customer is "no"; no R7 task (or one still open with nothing) is
    not known."""
    from care.services import phone_survey

    with app.app_context():
        s = db.session
        r7 = s.get(CareTask, world["r7"])
        r8 = s.get(CareTask, world["r8"])
        for row in list(r7.outcomes):
            s.delete(row)
        r7.status, r7.outcome = "expired", "expired"
        s.flush()
        s.expire_all()
        assert phone_survey.r7_prefill(s, r8) is False
        make_attempt(s, r7, answered=True, answered_at=DELIVERED + timedelta(hours=20), status="completed",
                     outcome="completed", rank=4)  # fmt: skip
        s.expire_all()
        assert phone_survey.r7_prefill(s, r8) is True
        r7.status = "open"
        s.flush()
        s.expire_all()
        assert phone_survey.r7_prefill(s, s.get(CareTask, world["r10"])) is None  # R8 only
        s.rollback()

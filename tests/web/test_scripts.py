"""Scripts pages: list, editor (care manager only), old versions with diff, preview, stats."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from sqlalchemy import func, select

from care.domain.task_rules import TaskType
from care.extensions import db
from care.models import AuditLog, CareTask, ScriptVersion, TaskOutcome
from care.models.types import utcnow
from care.services import scripts as svc
from tests import factories

HX = {"HX-Request": "true"}


def add_version(app, body, *, task_type="first_service", title="首保提醒", note=None) -> int:
    with app.app_context():
        sv = svc.save_version(db.session, task_type, title=title, body=body, note=note, user=None, now=utcnow())
        db.session.commit()
        return sv.version


@pytest.fixture
def customer(app):
    with app.app_context():
        c = factories.make_customer(db.session, name="王伟", customer_no="C777001")
        factories.make_vehicle(db.session, c, plate="川A77777", model="迈腾", delivery_date=date(2026, 1, 15))
        db.session.commit()
        return {"id": c.id, "no": c.customer_no}


def test_the_list_shows_every_task_type_with_its_current_version(app, client, login_as):
    with app.app_context():
        svc.ensure_default_scripts(db.session, now=utcnow())
        db.session.commit()
    add_version(app, "新版首保{plate}", title="首保提醒 第二版")
    login_as("specialist")
    page = client.get("/scripts/")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "First service" in html and "首保提醒 第二版" in html and "v2" in html
    assert html.count('href="/scripts/') >= len(TaskType)
    fragment = client.get("/scripts/", headers=HX)
    assert fragment.status_code == 200 and "<html" not in fragment.get_data(as_text=True)
    assert 'id="scripts-list"' in fragment.get_data(as_text=True)


def test_the_list_without_scripts(client, login_as):
    login_as("general_manager")
    html = client.get("/scripts/").get_data(as_text=True)
    assert "no script yet" in html


def test_a_reader_sees_the_script_but_no_editor(app, client, login_as):
    add_version(app, "{salutation}，您好！车牌{plate}")
    login_as("specialist")
    page = client.get("/scripts/first_service")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "<textarea" not in html and 'class="merge-field"' in html and "{plate}" in html
    fragment = client.get("/scripts/first_service", headers=HX).get_data(as_text=True)
    assert "<html" not in fragment and 'id="script-page"' in fragment and "<textarea" not in fragment


def test_the_care_manager_gets_the_editor_with_the_field_reference(app, client, login_as):
    add_version(app, "{salutation}，您好！")
    login_as("care_manager")
    html = client.get("/scripts/first_service").get_data(as_text=True)
    assert "<textarea" in html and 'data-insert="{plate}"' in html and 'name="base_version"' in html
    assert 'value="1"' in html  # the version the editor starts from
    assert 'id="script-preview"' in html and "王伟车主" in html  # sample preview
    fragment = client.get("/scripts/first_service", headers=HX).get_data(as_text=True)
    assert "<html" not in fragment and 'id="script-page"' in fragment


def test_saving_makes_a_new_version_and_redirects(app, client, login_as):
    add_version(app, "旧的{plate}")
    login_as("care_manager")
    response = client.post(
        "/scripts/first_service",
        data={"title": "首保提醒", "body": "新的{plate}\r\n第二行", "note": "更礼貌", "base_version": "1"},
    )
    assert response.status_code == 303 and response.headers["Location"].endswith("/scripts/first_service")
    with app.app_context():
        sv = svc.current_version(db.session, "first_service")
        assert (sv.version, sv.body, sv.note) == (2, "新的{plate}\n第二行", "更礼貌")
        assert sv.created_by.username.startswith("user")
    followed = client.get("/scripts/first_service").get_data(as_text=True)
    assert "Version 2 of “首保提醒” saved." in followed


def test_a_specialist_may_not_save(app, client, login_as):
    login_as("specialist")
    response = client.post("/scripts/first_service", data={"title": "x", "body": "y"})
    assert response.status_code == 403
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(ScriptVersion)) == 0


def test_an_invalid_body_answers_422_with_positions(app, client, login_as):
    login_as("care_manager")
    response = client.post(
        "/scripts/first_service", data={"title": "首保", "body": "您好{custmer_name}\n车牌{plate", "base_version": "0"}
    )
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert "Line 1, column 3" in html and "customer_name" in html and "Line 2, column 3" in html
    assert 'data-select-offset="2"' in html
    assert "您好{custmer_name}" in html  # the text typed is kept
    with app.app_context():
        assert svc.current_version(db.session, "first_service") is None


def test_problem_offsets_count_utf16_units_for_the_browser(client, login_as):
    login_as("care_manager")
    html = client.post("/scripts/first_service", data={"title": "t", "body": "😀{oops}"}).get_data(as_text=True)
    assert 'data-select-offset="2"' in html  # the emoji is two UTF-16 units


def test_identical_body_answers_422_no_change(app, client, login_as):
    add_version(app, "同样的{plate}")
    login_as("care_manager")
    response = client.post("/scripts/first_service", data={"title": "别的", "body": "同样的{plate}\r\n", "base_version": "1"})
    assert response.status_code == 422 and "No change" in response.get_data(as_text=True)


def test_an_empty_title_answers_422(client, login_as):
    login_as("care_manager")
    response = client.post("/scripts/first_service", data={"title": " ", "body": "正文"})
    assert response.status_code == 422 and "Give the script a title." in response.get_data(as_text=True)


def test_a_stale_editor_gets_409_and_keeps_the_text(app, client, login_as):
    add_version(app, "v1")
    add_version(app, "v2 by someone else")
    login_as("care_manager")
    response = client.post("/scripts/first_service", data={"title": "t", "body": "my edit of v1", "base_version": "1"})
    assert response.status_code == 409
    html = response.get_data(as_text=True)
    assert "my edit of v1" in html and "/scripts/first_service/versions/2" in html
    assert 'name="base_version" type="hidden" value="2"' in html


@pytest.mark.parametrize(
    ("method", "url"),
    [
        ("GET", "/scripts/holiday"),
        ("POST", "/scripts/holiday"),
        ("GET", "/scripts/holiday/versions/1"),
        ("GET", "/scripts/holiday/preview"),
        ("POST", "/scripts/holiday/preview"),
        ("GET", "/scripts/holiday/stats"),
    ],
)
def test_an_unknown_task_type_is_404(client, login_as, method, url):
    login_as("care_manager")
    assert client.open(url, method=method, data={"title": "t", "body": "b"}).status_code == 404


def test_an_old_version_is_readable_with_a_diff(app, client, login_as):
    add_version(app, "问候\n旧的内容{plate}\n结束", title="第一版")
    add_version(app, "问候\n新的内容{model}\n结束", title="第二版", note="换成车型")
    add_version(app, "第三版")
    login_as("consultant")
    page = client.get("/scripts/first_service/versions/2")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "第二版" in html and "换成车型" in html and "old version (read-only)" in html
    assert 'class="diff-del"' in html and "旧的内容{plate}" in html
    assert 'class="diff-add"' in html and "新的内容{model}" in html
    assert "“第一版” → “第二版”" in html
    first = client.get("/scripts/first_service/versions/1").get_data(as_text=True)
    assert "nothing to compare with" in first
    fragment = client.get("/scripts/first_service/versions/2", headers=HX).get_data(as_text=True)
    assert "<html" not in fragment and 'id="script-version"' in fragment
    assert client.get("/scripts/first_service/versions/9").status_code == 404
    assert client.get("/scripts/first_service/versions/99999999999").status_code == 404


def test_the_preview_shows_a_real_customer_and_is_audited(app, client, login_as, customer):
    add_version(app, "{salutation}：您的{model}（{plate}）首保截止{due_date}，电话{mileage}")
    user = login_as("specialist")
    page = client.get(f"/scripts/first_service/preview?customer={customer['no']}")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "王伟车主" in html and "迈腾" in html and "川A77777" in html and "2026年4月15日" in html
    assert "【行驶里程】" in html and 'class="merge-missing"' in html
    with app.app_context():
        entry = db.session.scalar(select(AuditLog).where(AuditLog.action == "customer.view"))
        assert entry.user_id == user.id and entry.object_id == str(customer["id"])
        assert entry.detail["via"] == "script.preview" and entry.detail["version"] == 1
    by_id = client.get(f"/scripts/first_service/preview?customer={customer['id']}&version=1", headers=HX)
    assert by_id.status_code == 200 and "川A77777" in by_id.get_data(as_text=True)
    assert "<html" not in by_id.get_data(as_text=True)


def test_the_preview_without_customer_uses_sample_values(app, client, login_as):
    add_version(app, "{plate}")
    login_as("insurance")
    page = client.get("/scripts/first_service/preview")
    assert page.status_code == 200 and "川A12345" in page.get_data(as_text=True)
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(AuditLog).where(AuditLog.action == "customer.view")) == 0


def test_preview_bad_input(app, client, login_as, customer):
    login_as("care_manager")
    assert client.get("/scripts/first_service/preview").status_code == 404  # no script yet
    add_version(app, "{plate}")
    assert client.get("/scripts/first_service/preview?version=abc").status_code == 400
    assert client.get("/scripts/first_service/preview?version=0").status_code == 400
    assert client.get("/scripts/first_service/preview?version=7").status_code == 404
    missing = client.get("/scripts/first_service/preview?customer=NOBODY")
    assert missing.status_code == 404 and "NOBODY" in missing.get_data(as_text=True)
    assert client.get("/scripts/first_service/preview?customer=" + "9" * 300).status_code == 404


def test_live_preview_renders_the_unsaved_text(app, client, login_as, customer):
    login_as("care_manager")
    response = client.post(
        "/scripts/first_service/preview", data={"body": "<b>{plate}</b> {oops}", "customer": customer["no"]}, headers=HX
    )
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "<html" not in html and 'id="script-preview"' in html and "hx-post" in html
    assert "&lt;b&gt;" in html and "<b>" not in html  # the template engine escapes
    assert "川A77777" in html and "unknown merge field" in html
    client.post("/scripts/first_service/preview", data={"body": "{plate}!", "customer": customer["no"]}, headers=HX)
    with app.app_context():  # typing on: one audit row for the customer
        assert db.session.scalar(select(func.count()).select_from(AuditLog).where(AuditLog.action == "customer.view")) == 1
    sample = client.post("/scripts/first_service/preview", data={"body": "{plate}"}, headers=HX)
    assert "Sample values" in sample.get_data(as_text=True)
    page = client.post("/scripts/first_service/preview", data={"body": "{plate}"})  # without JS: a page
    assert "<html" in page.get_data(as_text=True)


def test_live_preview_is_for_the_care_manager(client, login_as):
    login_as("specialist")
    assert client.post("/scripts/first_service/preview", data={"body": "{plate}"}).status_code == 403


def test_stats_show_outcomes_per_version(app, client, login_as, customer):
    add_version(app, "v1 {plate}")
    add_version(app, "v2 {plate}")
    with app.app_context():
        task = CareTask(
            type="first_service", cycle_key="t:1", customer_id=customer["id"], opens_on=date(2026, 3, 1),
            due_at=datetime(2026, 4, 15, tzinfo=UTC), owner_rule="round_robin", reason_id="first_service.reason",
        )  # fmt: skip
        db.session.add(task)
        db.session.flush()
        v1 = svc.get_version(db.session, "first_service", 1)
        for value, closes in [("will_come", True), ("will_come", True), ("not_reached", False)]:
            db.session.add(TaskOutcome(task_id=task.id, outcome=value, closes_task=closes, script_version_id=v1.id))
        db.session.commit()
    login_as("general_manager")
    page = client.get("/scripts/first_service/stats")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "Will come" in html and "Not reached" in html and 'title="not_reached"' in html
    assert "67%" in html  # two of three closed the task
    fragment = client.get("/scripts/first_service/stats", headers=HX).get_data(as_text=True)
    assert "<html" not in fragment and 'id="script-stats"' in fragment
    listing = client.get("/scripts/").get_data(as_text=True)
    assert ">3</td>" in listing


def test_init_db_creates_the_default_scripts(tmp_path):
    from tests.test_cli_core import fresh_app

    with fresh_app(tmp_path) as app:
        result = app.test_cli_runner().invoke(args=["care", "init-db"])
        assert result.exit_code == 0, result.output
        with app.app_context():
            assert db.session.scalar(select(func.count()).select_from(ScriptVersion)) == len(TaskType)
        again = app.test_cli_runner().invoke(args=["care", "init-db"])
        assert again.exit_code == 0
        with app.app_context():
            assert db.session.scalar(select(func.count()).select_from(ScriptVersion)) == len(TaskType)

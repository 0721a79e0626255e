"""The dashboard page: where the managers land; a specialist's own month on the worklist."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tests import factories as f


def test_the_care_manager_lands_on_the_dashboard_with_its_figures(app, client, login_as, session):
    ann = f.make_user(session, "specialist", username="ann", display_name="安娜")
    f.make_task(session, assignee=ann, due_at=datetime.now(UTC) - timedelta(hours=1))
    session.commit()
    login_as("care_manager")
    home = client.get("/")
    assert home.status_code == 302 and home.headers["Location"] == "/dashboard/"
    page = client.get("/dashboard/", headers={"Accept-Language": "zh-CN"}).get_data(as_text=True)
    assert "今日客服工作" in page and "安娜" in page
    assert 'href="/tasks/?owner=all&amp;due=overdue"' in page  # the overdue tile links to the list behind it


def test_a_specialist_sees_their_own_month_on_the_worklist(client, login_as):
    login_as("specialist")
    page = client.get("/tasks/").get_data(as_text=True)
    assert 'id="my-month-title"' in page
    assert client.get("/dashboard/").status_code == 403


def test_the_managers_worklist_has_no_personal_strip(client, login_as):
    login_as("care_manager")
    assert 'id="my-month-title"' not in client.get("/tasks/").get_data(as_text=True)

"""The KPI pages (R22): the month's figures with numerator and denominator, the
drill-downs behind them, the scorecards; who may open what; bad input."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest
import time_machine

from care.extensions import db
from tests import factories as f

SH = ZoneInfo("Asia/Shanghai")
APRIL = datetime(2026, 4, 10, 2, 0, tzinfo=UTC)


def eod(y, m, d):
    return datetime(y, m, d, 23, 59, 59, tzinfo=SH)


@pytest.fixture
def march(app):
    """March 2026: spec's first-service reminder reached, another never worked; spec2's
    service callback never worked; a first-service window that closed with a return."""
    with app.app_context():
        s = db.session
        spec = f.make_user(s, "specialist", username="spec", display_name="Spec One")
        spec2 = f.make_user(s, "specialist", username="spec2", display_name="Spec Two")
        wang = f.make_customer(s, name="王小明", mobile="+8613800138000")
        car = f.make_vehicle(s, wang, plate="川A12345", delivery_date=date(2025, 12, 5))
        f.make_visit(s, car, date=date(2026, 3, 1), kind="first_service")
        done = f.make_task(s, wang, vehicle_id=car.id, assignee=spec, status="done", outcome="will_come",
                           due_at=eod(2026, 3, 20), closed_at=datetime(2026, 3, 2, 10, tzinfo=SH))  # fmt: skip
        li = f.make_customer(s, name="李四", mobile="+8613900139000")
        missed = f.make_task(s, li, assignee=spec, due_at=eod(2026, 3, 25))
        other = f.make_task(s, type="service_callback", assignee=spec2, due_at=eod(2026, 3, 26))
        s.commit()
        return {"done": done.id, "missed": missed.id, "other": other.id, "wang": wang.id, "li": li.id}


def text(response) -> str:
    html = response.get_data(as_text=True)
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def test_the_kpi_page_shows_each_figure_with_its_counts(client, login_as, march):
    login_as("care_manager")
    page = client.get("/kpis?month=2026-03")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    words = text(page)
    assert "First-service reminder rate" in words and "50.0%" in words and "Violation: below 95.0%" in words
    assert "First-service return rate" in words and "100.0%" in words
    assert "/kpis/first_service_reminder_rate?month=2026-03&amp;part=numerator" in html
    assert "/kpis/reminder_rate?month=2026-03&amp;part=denominator&amp;type=service_callback" in html
    # zero denominators: a dash, never 0 %
    assert "Complaints closed in time" in words
    row = re.search(r"Birthday greetings on time.*?</tr>", html, re.S).group(0)
    rate = re.search(r'<td class="num rate">(.*?)</td>', row, re.S).group(1)
    assert rate.split() == ["—"]
    assert "王小明" not in html  # the page itself names no customer


def test_the_kpi_page_defaults_to_the_last_complete_month(client, login_as, march):
    # 1 April 07:00 in Shanghai is still 31 March in UTC: the report month is March
    with time_machine.travel(datetime(2026, 3, 31, 23, 0, tzinfo=UTC), tick=False):
        login_as("care_manager")
        page = client.get("/kpis")
    assert page.status_code == 200
    assert 'value="2026-03"' in page.get_data(as_text=True)


def test_the_month_in_progress_says_so(client, login_as, march):
    with time_machine.travel(datetime(2026, 3, 20, 4, 0, tzinfo=UTC), tick=False):
        login_as("care_manager")
        words = text(client.get("/kpis?month=2026-03"))
    assert "This month is not over" in words


@pytest.mark.parametrize("month", ["2026-3", "2026-13", "x", "1999-12", "2026-03-01"])
def test_a_bad_month_is_400_with_a_message(client, login_as, month):
    login_as("care_manager")
    for url in (f"/kpis?month={month}", f"/kpis/reminder_rate?month={month}", f"/scorecards?month={month}"):
        response = client.get(url)
        assert response.status_code == 400, url
        assert "YYYY-MM" in text(response) or "01 to 12" in text(response) or "2000" in text(response)


def test_previous_and_next_month_links(client, login_as):
    login_as("care_manager")
    html = client.get("/kpis?month=2026-01").get_data(as_text=True)
    assert 'href="/kpis?month=2025-12"' in html and 'href="/kpis?month=2026-02"' in html


def test_the_drill_down_lists_the_tasks_with_masked_phones_and_links(client, login_as, march):
    login_as("care_manager")
    page = client.get("/kpis/first_service_reminder_rate?month=2026-03&part=rest")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "李四" in html and "王小明" not in html  # the rest: the one never worked
    assert "+86 139****9000" in html and "13900139000" not in html
    assert f'href="/tasks/{march["missed"]}"' in html  # the care manager may open the task
    assert f'href="/tasks/contact/{march["li"]}"' in html
    whole = client.get("/kpis/first_service_reminder_rate?month=2026-03").get_data(as_text=True)
    assert "李四" in whole and "王小明" in whole


def test_the_general_manager_gets_the_links_his_role_opens(client, login_as, march):
    login_as("general_manager")
    html = client.get("/kpis/first_service_reminder_rate?month=2026-03&part=rest").get_data(as_text=True)
    assert f'href="/tasks/{march["missed"]}"' in html  # he reads tasks
    assert f'href="/tasks/contact/{march["li"]}"' not in html  # but does not call
    assert f'href="/customers/{march["li"]}"' in html


def test_the_drill_down_of_vehicles_and_of_a_group(client, login_as, march):
    login_as("care_manager")
    page = client.get("/kpis/first_service_return_rate?month=2026-03")
    assert page.status_code == 200 and "川A12345" in page.get_data(as_text=True)
    assert client.get("/kpis/churn_rate?month=2026-03&group=local").status_code == 200


def test_the_drill_down_is_a_fragment_for_htmx(client, login_as, march):
    login_as("care_manager")
    page = client.get("/kpis/reminder_rate?month=2026-03", headers={"HX-Request": "true"})
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and "<html" not in html and 'id="kpi-drill"' in html


@pytest.mark.parametrize(
    "url, status",
    [
        ("/kpis/nothing?month=2026-03", 404),
        ("/kpis/complaints_closed_in_24h_rate?month=2026-03", 404),
        ("/kpis/reminder_rate?month=2026-03&type=fax", 404),
        ("/kpis/churn_rate?month=2026-03&group=mars", 404),
        ("/kpis/reminder_rate?month=2026-03&part=all", 400),
        ("/kpis/reminder_rate?month=2026-03&page=0", 400),
        ("/kpis/reminder_rate?month=2026-03&page=x", 400),
        ("/kpis/reminder_rate?month=2026-03&page=500", 200),
    ],
)
def test_drill_down_bad_input(client, login_as, url, status):
    login_as("care_manager")
    assert client.get(url).status_code == status


def test_a_specialist_sees_only_their_own_scorecard(client, login_as, march):
    login_as("specialist", username="spec3", display_name="Spec Three")
    words = text(client.get("/scorecards?month=2026-03"))
    assert "Spec Three" in words and "Spec One" not in words and "Spec Two" not in words


def test_the_care_manager_sees_everyones_scorecards_side_by_side(client, login_as, march):
    login_as("care_manager")
    page = client.get("/scorecards?month=2026-03")
    words = text(page)
    assert "Spec One" in words and "Spec Two" in words
    assert "Care specialists" in words and "Insurance specialists" in words and "Sales consultants" in words
    row = re.search(r"Spec One.*?</tr>", page.get_data(as_text=True), re.S).group(0)
    assert "2 (2)" in row and "50.0%" in row  # two tasks, two customers; one reached


def test_nav_links_follow_the_roles(client, login_as):
    login_as("care_manager")
    html = client.get("/scorecards").get_data(as_text=True)
    assert 'href="/kpis"' in html and 'href="/scorecards"' in html
    client.post("/auth/logout")
    login_as("specialist")
    html = client.get("/scorecards").get_data(as_text=True)
    assert 'href="/kpis"' not in html and 'href="/scorecards"' in html
    client.post("/auth/logout")
    login_as("front_desk")
    html = client.get("/customers/").get_data(as_text=True)
    assert 'href="/kpis"' not in html and 'href="/scorecards"' not in html


def test_the_pages_in_chinese(client, login_as, march):
    login_as("care_manager")
    zh = {"Accept-Language": "zh-CN,zh"}
    kpis = text(client.get("/kpis?month=2026-03", headers=zh))
    assert "月度指标" in kpis and "首保提醒率" in kpis
    assert "个人考核" in text(client.get("/scorecards?month=2026-03", headers=zh))


def test_viewing_a_drill_down_is_audited(app, client, login_as, march):
    from sqlalchemy import select

    from care.models import AuditLog

    user = login_as("care_manager")
    client.get("/kpis/reminder_rate?month=2026-03")
    with app.app_context():
        entry = db.session.scalar(select(AuditLog).where(AuditLog.object_type == "kpi"))
        assert entry.user_id == user.id and entry.object_id == "reminder_rate"

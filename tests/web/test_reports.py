"""The monthly report pages (R22 workflow): the workflow by role and by state, the frozen
figures, the exports (XLSX opened with openpyxl, CSV)."""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest
import time_machine
from openpyxl import load_workbook
from sqlalchemy import select

from care.extensions import db
from care.models import AuditLog, MonthlyReport
from tests import factories as f

SH = ZoneInfo("Asia/Shanghai")
APRIL_2 = datetime(2026, 4, 2, 2, 0, tzinfo=UTC)  # 2 April 10:00 in Shanghai


def eod(y, m, d):
    return datetime(y, m, d, 23, 59, 59, tzinfo=SH)


@pytest.fixture
def march(app):
    """March 2026: one first-service reminder reached, one never worked (50 %)."""
    with app.app_context():
        s = db.session
        spec = f.make_user(s, "specialist", username="spec", display_name="Spec One")
        wang = f.make_customer(s, name="王小明")
        car = f.make_vehicle(s, wang, delivery_date=date(2025, 12, 5))
        f.make_task(s, wang, vehicle_id=car.id, assignee=spec, status="done", outcome="will_come",
                    due_at=eod(2026, 3, 20), closed_at=datetime(2026, 3, 2, 10, tzinfo=SH))  # fmt: skip
        f.make_task(s, assignee=spec, due_at=eod(2026, 3, 25))
        s.commit()
        return {"spec": spec.id}


@pytest.fixture
def frozen():
    with time_machine.travel(APRIL_2, tick=False):
        yield


def text(response) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", response.get_data(as_text=True)))


def report(app) -> MonthlyReport | None:
    with app.app_context():
        found = db.session.scalar(select(MonthlyReport).where(MonthlyReport.month == "2026-03"))
        if found is not None:
            found.steps  # noqa: B018 - load them before the session closes
            db.session.expunge_all()
        return found


def test_before_generation_the_page_shows_live_figures_and_offers_generation_to_the_care_manager(
    client, login_as, march, frozen
):
    login_as("care_manager")
    page = client.get("/reports/2026-03")
    assert page.status_code == 200
    words = text(page)
    assert "not generated yet" in words and "First-service reminder rate" in words and "50.0%" in words
    assert 'action="/reports/2026-03/generate"' in page.get_data(as_text=True)
    assert "Submit for approval" not in words


def test_the_general_manager_cannot_generate_nor_submit(client, login_as, march, frozen):
    login_as("general_manager")
    page = client.get("/reports/2026-03")
    assert page.status_code == 200 and "/generate" not in page.get_data(as_text=True)
    assert client.post("/reports/2026-03/generate").status_code == 403
    assert report(client.application) is None


def _generate(client):
    response = client.post("/reports/2026-03/generate")
    assert response.status_code == 303, response.get_data(as_text=True)[:400]


def as_user(app, client, username: str, role: str):
    """Log ``client`` out and in as ``username`` (made with ``role`` the first time)."""
    with app.app_context():
        user = db.session.scalar(select(f.User).where(f.User.username == username))
        if user is None:
            user = f.make_user(db.session, role, username=username, display_name=username.upper())
            db.session.commit()
        user_id = user.id
    client.post("/auth/logout")
    assert client.post("/auth/login", data={"username": username, "password": f.PASSWORD}).status_code == 303
    return user_id


def test_the_whole_workflow_submit_return_with_comment_resubmit_approve(app, client, march, frozen):
    cm = as_user(app, client, "cm", "care_manager")
    _generate(client)
    # submitting needs both texts: the missing one is named
    refused = client.post("/reports/2026-03/submit", data={"analysis": "首保提醒率低", "plan": "  "})
    assert refused.status_code == 422 and "improvement plan" in text(refused)
    assert 'id="analysis"' in refused.get_data(as_text=True) and "首保提醒率低" in text(refused)  # kept
    assert report(app).status == "draft"
    ok = client.post("/reports/2026-03/submit", data={"analysis": "首保提醒率低", "plan": "每天检查首保任务"})
    assert ok.status_code == 303
    # the care manager cannot approve, nor submit twice
    assert client.post("/reports/2026-03/approve").status_code == 403
    again = client.post("/reports/2026-03/submit", data={"analysis": "a", "plan": "b"})
    assert again.status_code == 409 and "waiting for the general manager" in text(again)

    as_user(app, client, "gm", "general_manager")
    page = text(client.get("/reports/2026-03"))
    assert "首保提醒率低" in page and "每天检查首保任务" in page and "Approve" in page
    no_comment = client.post("/reports/2026-03/return", data={"comment": "   "})
    assert no_comment.status_code == 422 and "comment is required" in text(no_comment)
    assert report(app).status == "submitted"
    assert client.post("/reports/2026-03/submit", data={"analysis": "x", "plan": "y"}).status_code == 403
    assert client.post("/reports/2026-03/return", data={"comment": "请补充原因"}).status_code == 303
    r = report(app)
    assert r.status == "draft"
    assert client.post("/reports/2026-03/approve").status_code == 409  # a draft: not from this state

    as_user(app, client, "cm", "care_manager")
    page = text(client.get("/reports/2026-03"))
    assert "Returned by the general manager: 请补充原因" in page
    assert client.post("/reports/2026-03/submit", data={"analysis": "补充了原因", "plan": "每天检查"}).status_code == 303

    as_user(app, client, "gm", "general_manager")
    assert client.post("/reports/2026-03/approve", data={"comment": ""}).status_code == 303
    r = report(app)
    assert r.status == "approved" and r.analysis == "补充了原因"
    steps = [(s.action, s.actor, s.text) for s in r.steps]
    assert steps == [
        ("generated", "cm", None),
        ("submitted", "cm", "首保提醒率低\n---\n每天检查首保任务"),  # the first version, as submitted
        ("returned", "gm", "请补充原因"),
        ("submitted", "cm", "补充了原因\n---\n每天检查"),
        ("approved", "gm", None),
    ]
    assert r.first_submitted_at is not None and r.submitted_by_id == cm
    # approved: nothing changes any more, not even the figures
    as_user(app, client, "cm", "care_manager")
    assert client.post("/reports/2026-03/regenerate").status_code == 409
    assert client.post("/reports/2026-03/save", data={"analysis": "x"}).status_code == 409
    with app.app_context():
        actions = db.session.scalars(select(AuditLog.action).where(AuditLog.object_type == "monthly_report")).all()
    assert actions.count("monthly_report.submitted") == 2 and "monthly_report.approved" in actions


def test_steps_on_a_month_without_report_are_404_and_bad_months_too(client, login_as, march, frozen):
    login_as("care_manager")
    assert client.post("/reports/2026-03/submit", data={"analysis": "a", "plan": "b"}).status_code == 404
    assert client.get("/reports/2026-13").status_code == 404
    assert client.get("/reports/march").status_code == 404
    not_over = client.post("/reports/2026-04/generate")
    assert not_over.status_code == 422 and "not over" in text(not_over)


def test_texts_too_long_are_refused_with_their_length(client, login_as, march, frozen):
    login_as("care_manager")
    _generate(client)
    long = client.post("/reports/2026-03/save", data={"analysis": "字" * 10001, "plan": ""})
    assert long.status_code == 422 and "10001" in text(long)


def test_the_figures_are_frozen_until_regenerated(app, client, login_as, march, frozen):
    login_as("care_manager")
    _generate(client)
    with app.app_context():  # a third first-service task ends in March, reached
        spec = db.session.get(f.User, march["spec"])
        f.make_task(db.session, assignee=spec, status="done", outcome="will_come", due_at=eod(2026, 3, 28),
                    closed_at=datetime(2026, 3, 3, 10, tzinfo=SH))  # fmt: skip
        db.session.commit()
    assert report(app).figures["first_service_reminder_rate"] == {"rate": 0.5, "numerator": 1, "denominator": 2}
    assert "50.0%" in text(client.get("/reports/2026-03"))
    sheet = load_workbook(io.BytesIO(client.get("/reports/2026-03/export.xlsx").data))["KPIs"]
    row = next(r for r in sheet.iter_rows(values_only=True) if r[0] == "First-service reminder rate")
    assert row[1:4] == (0.5, 1, 2)
    assert client.post("/reports/2026-03/regenerate").status_code == 303
    r = report(app)
    assert r.figures["first_service_reminder_rate"]["denominator"] == 3
    assert [s.action for s in r.steps] == ["generated", "regenerated"]


def test_the_xlsx_has_a_sheet_per_section_with_numbers_as_numbers(app, client, login_as, march, frozen):
    login_as("care_manager")
    _generate(client)
    client.post("/reports/2026-03/save", data={"analysis": "=HYPERLINK(\"x\")", "plan": "计划"})
    response = client.get("/reports/2026-03/export.xlsx")
    assert response.status_code == 200
    assert response.mimetype == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    assert 'filename="monthly-report-2026-03.xlsx"' in response.headers["Content-Disposition"]
    book = load_workbook(io.BytesIO(response.data))
    assert book.sheetnames == [
        "Summary", "KPIs", "Reminder rates", "Churn by group", "Weekly returns", "Not returned", "Other shops",
        "Other figures", "People", "Analysis and plan", "History",
    ]  # fmt: skip
    kpis = book["KPIs"]
    assert [c.value for c in kpis[1]] == ["Figure", "Rate", "Numerator", "Denominator", "Target"]
    rows = {r[0].value: r for r in kpis.iter_rows(min_row=2)}
    first = rows["First-service reminder rate"]
    assert first[1].value == 0.5 and first[1].number_format == "0.0%"
    assert isinstance(first[2].value, int) and isinstance(first[3].value, int)
    assert first[4].value == 1 and first[4].number_format == "0.0%"
    birthday = rows["Birthday greetings on time"]
    assert birthday[1].value is None and birthday[3].value == 0  # a zero denominator: no figure, not 0 %
    people = {r[1]: r for r in book["People"].iter_rows(min_row=2, values_only=True)}
    assert people["Spec One"][2] == 2 and people["Spec One"][5] == 0.5
    texts = {r[0].value: r[1] for r in book["Analysis and plan"].iter_rows(min_row=2)}
    cell = texts["Analysis of the month"]
    assert cell.value == '=HYPERLINK("x")' and cell.data_type == "s"  # a text, not a formula
    assert book["History"]["C2"].value == "Figures generated"


def test_the_csv_lists_every_section(client, login_as, march, frozen):
    login_as("general_manager")
    response = client.get("/reports/2026-03/export.csv")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    body = response.data.decode("utf-8")
    assert body.startswith("\ufeff")
    rows = list(csv.reader(io.StringIO(body[1:])))
    kpi = next(r for r in rows if r[:2] == ["KPIs", "First-service reminder rate"])
    assert kpi[2:5] == ["0.5", "1", "2"]
    birthday = next(r for r in rows if r[:2] == ["KPIs", "Birthday greetings on time"])
    assert birthday[2] == "" and birthday[4] == "0"
    assert {r[0] for r in rows if r} >= {"Section", "Summary", "KPIs", "Reminder rates", "People"}


def test_the_page_in_chinese_has_the_charts_and_no_untranslated_headings(client, login_as, march, frozen):
    login_as("care_manager", locale="zh_CN")
    client.post("/reports/2026-03/generate")
    page = client.get("/reports/2026-03")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert html.count('role="img"') == 4 + 2  # four trends, one group of people × two charts
    assert "近12个月趋势" in text(page)
    for english in ("Monthly report", "Workflow", "Trends over 12 months", "People compared"):
        assert english not in text(page)


def test_the_list_shows_states_and_late_steps(app, client, login_as, march):
    with time_machine.travel(APRIL_2, tick=False):
        login_as("care_manager")
        _generate(client)
    with time_machine.travel(datetime(2026, 4, 6, 2, 0, tzinfo=UTC), tick=False):
        words = text(client.get("/reports/"))
    assert "2026-03" in words and "Draft" in words
    assert "Analysis not reported on time" in words and "Plan approved late" in words

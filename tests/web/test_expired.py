"""The managers' "expired" page (GET /expired/): who may open it, what it says, its filters
and pages. The tasks are expired by the real sweep (care.services.fallback) at frozen
instants; the page's "today" is frozen with time-machine."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine

from care.extensions import db
from care.models import CallAttempt
from care.services import fallback
from tests import factories as f

SH = ZoneInfo("Asia/Shanghai")
D = date(2026, 3, 16)
EN = {"Accept-Language": "en"}
TODAY = datetime(2026, 3, 20, 2, 0, tzinfo=UTC)  # 10:00 at the dealer, four days later


def local(day: date, hh: int, mm: int = 0) -> datetime:
    return datetime.combine(day, time(hh, mm), tzinfo=SH).astimezone(UTC)


@pytest.fixture(autouse=True)
def frozen():
    """The page's "today" (and the log-in's clock) is 20 March 2026."""
    with time_machine.travel(TODAY, tick=False):
        yield


@pytest.fixture
def world(app):
    """Expired on 17 March: a birthday nobody called (SMS too late), a first-service
    reminder dropped after one failed call (R15, SMS queued), a service callback nobody
    called (no fallback); one task still open; one expired long ago (outside the period)."""
    with app.app_context():
        s = db.session
        liu = f.make_user(s, "specialist", display_name="Liu Ting")
        zhang = f.make_user(s, "specialist", display_name="Zhang Min")
        wang = f.make_customer(s, name="王小明")
        li = f.make_customer(s, name="李四")
        bd = f.make_task(s, li, type="birthday", fallback="sms", opens_on=D, due_at=local(D, 10, 30),
                         assignee=zhang, reason_id="birthday.reason", reason_params={"birthday": "1990-03-16"})
        car = f.make_vehicle(s, wang, plate="川A12345")
        r1 = f.make_task(s, wang, vehicle_id=car.id, fallback="sms", due_at=local(D + timedelta(days=9), 23, 59),
                         assignee=liu)
        s.add(CallAttempt(task_id=r1.id, customer_id=wang.id, user_id=liu.id, provider="sim", to_number="+8613800000000",
                          status="no-answer", outcome="no_answer", started_at=local(D - timedelta(days=2), 10, 0),
                          finalized_at=local(D - timedelta(days=2), 10, 1)))
        cb = f.make_task(s, wang, type="service_callback", due_at=local(D, 23, 59), opens_on=D - timedelta(days=3),
                         assignee=liu, reason_id="service_callback.reason", reason_params={})
        still_open = f.make_task(s, wang, due_at=local(D + timedelta(days=30), 23, 59), assignee=liu)
        old = f.make_task(s, li, type="service_callback", due_at=local(D - timedelta(days=60), 23, 59),
                          opens_on=D - timedelta(days=63), reason_id="service_callback.reason", reason_params={})
        fallback.sweep_fallbacks(s, now=local(D - timedelta(days=59), 9, 0))  # the old one, long ago
        fallback.sweep_fallbacks(s, now=local(D + timedelta(days=1), 8, 0))
        s.commit()
        return {"birthday": bd.id, "r15": r1.id, "callback": cb.id, "open": still_open.id, "old": old.id,
                "liu": liu.id, "zhang": zhang.id}


def get(client, url="/expired/", **headers):
    return client.get(url, headers={**EN, **headers})


def rows(html: str) -> list[int]:
    import re

    return [int(n) for n in re.findall(r'id="expired-(\d+)"', html)]


def test_a_care_manager_sees_each_expired_task_with_its_reason(client, login_as, world):
    login_as("care_manager")
    page = get(client)
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert sorted(rows(html)) == sorted([world["birthday"], world["r15"], world["callback"]])
    assert world["open"] not in rows(html) and world["old"] not in rows(html)  # open; outside the period
    assert "Nobody called by the deadline" in html
    assert "First attempt failed, not followed up (R15)" in html
    assert "too late for the birthday" in html  # the birthday SMS was not sent the next morning
    assert "SMS queued" in html  # the dropped reminder's SMS
    assert "none for this task type" in html  # a service callback has no fallback
    assert '1: <span style="white-space:nowrap">03-14 10:00 No answer (Liu Ting)</span>' in html  # the attempt it got, and who made it
    assert "Zhang Min" in html and "王小明" in html and "川A12345" in html
    assert "3 expired task(s) from 2026-02-19 to 2026-03-20" in html
    assert 'href="/expired/"' in html and 'aria-current="page"' in html  # in the navigation


def test_filters_by_type_specialist_and_dates(client, login_as, world):
    login_as("general_manager")
    assert rows(get(client, "/expired/?type=birthday").get_data(as_text=True)) == [world["birthday"]]
    by_liu = rows(get(client, f"/expired/?owner={world['liu']}").get_data(as_text=True))
    assert sorted(by_liu) == sorted([world["r15"], world["callback"]])
    assert rows(get(client, "/expired/?owner=unassigned").get_data(as_text=True)) == []
    long_ago = get(client, "/expired/?from=2026-01-01&to=2026-01-31").get_data(as_text=True)
    assert rows(long_ago) == [world["old"]]
    assert rows(get(client, "/expired/?from=2026-03-18&to=2026-03-20").get_data(as_text=True)) == []


@pytest.mark.parametrize(
    "query",
    ["from=2026-13-01", "to=yesterday", "from=2026-03-20&to=2026-03-01", "from=2024-01-01&to=2026-03-20",
     "type=nonsense", "owner=somebody"],
)  # fmt: skip
def test_a_bad_filter_is_a_400_with_the_reason(client, login_as, world, query):
    login_as("care_manager")
    page = get(client, f"/expired/?{query}")
    assert page.status_code == 400
    assert "Something went wrong" not in page.get_data(as_text=True)


def test_the_fragment_for_htmx(client, login_as, world):
    login_as("sales_manager")
    page = get(client, "/expired/?type=service_callback", **{"HX-Request": "true"})
    body = page.get_data(as_text=True)
    assert page.status_code == 200 and "<html" not in body and 'id="expired-list"' in body
    assert rows(body) == [world["callback"]]


def test_pages_of_expired_tasks(app, client, login_as):
    app.config["CARE_PAGE_SIZE"] = 2
    try:
        with app.app_context():
            for _ in range(5):
                f.make_task(db.session, type="service_callback", due_at=local(D, 23, 59), opens_on=D,
                            reason_id="service_callback.reason", reason_params={})
            fallback.sweep_fallbacks(db.session, now=local(D + timedelta(days=1), 8, 0))
            db.session.commit()
        login_as("care_manager")
        first = get(client).get_data(as_text=True)
        third = get(client, "/expired/?page=3").get_data(as_text=True)
        assert len(rows(first)) == 2 and len(rows(third)) == 1
        assert "Page 1 of 3" in first and 'rel="next"' in first
        assert get(client, "/expired/?page=x").status_code == 400
    finally:
        app.config["CARE_PAGE_SIZE"] = 25


@pytest.mark.parametrize("role", ["specialist", "insurance", "consultant", "front_desk", "admin"])
def test_other_roles_may_not_see_it_nor_its_link(client, login_as, world, role):
    login_as(role)
    assert get(client).status_code == 403
    home = client.get("/customers/" if role != "admin" else "/settings/", headers=EN).get_data(as_text=True)
    assert 'href="/expired/"' not in home


def test_the_contact_page_shows_an_expired_task_as_closed(client, login_as, world):
    login_as("care_manager")
    html = client.get(f"/tasks/{world['callback']}", headers=EN).get_data(as_text=True)
    assert "Expired" in html

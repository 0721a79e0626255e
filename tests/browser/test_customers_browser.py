"""Log in, find a customer by phone with live search, open the page: as a caller and not."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from care.extensions import db
from tests.factories import (
    PASSWORD,
    make_customer,
    make_policy,
    make_user,
    make_vehicle,
    make_visit,
)

pytestmark = pytest.mark.browser


def seed(app, role: str) -> str:
    """A customer with a vehicle, a visit and a policy, and a user of `role`; its user name."""
    with app.app_context():
        s = db.session
        user = make_user(s, role, username=f"{role}-1", display_name=f"Browser {role}", locale="en")
        c = make_customer(
            s,
            customer_no="K200001",
            name="王小明",
            mobile="+8613800138000",
            city="成都",
            address="高新区天府大道 1 号",
            email="wang@example.cn",
            birthday=date(1985, 4, 12),
            no_sms=True,
            no_sms_by="import:customers.csv",
            no_sms_at=datetime(2026, 11, 2, 6, 3, tzinfo=UTC),
        )
        v = make_vehicle(s, c, plate="川A12345", model="Tiguan L", color="白", warranty_km=100000)
        make_visit(s, v, amount=688)
        make_policy(s, v)
        make_customer(s, customer_no="K200002", name="李四", mobile="+8613912345678")
        s.commit()
        return user.username


def log_in(page, live_server, username):
    page.goto(live_server("/auth/login"))
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    # Roles with care tasks land on the worklist, the front desk on the customers.
    page.wait_for_url(lambda url: url in (live_server("/customers/"), live_server("/tasks/")))
    if page.url != live_server("/customers/"):
        page.goto(live_server("/customers/"))


def find_and_open(page, live_server):
    box = page.locator("[data-search]")
    assert box.evaluate("el => el === document.activeElement")  # autofocus
    box.press_sequentially("138 0013 8000", delay=20)
    results = page.locator("#results")
    results.get_by_text("1 customer matches").wait_for()  # swapped in by htmx, no reload
    assert "q=138" in page.url  # hx-push-url: the search is in the address bar
    assert results.get_by_text("李四").count() == 0
    results.get_by_role("link", name="王小明").click()
    page.wait_for_url("**/customers/*")
    page.get_by_role("heading", name="Contact timeline").wait_for()


def test_specialist_finds_a_customer_by_phone_and_sees_the_full_number(page, live_server, tmp_path):
    username = seed(live_server.app, "specialist")
    log_in(page, live_server, username)
    find_and_open(page, live_server)
    tel = page.locator('a[href="tel:+8613800138000"]')
    assert tel.inner_text() == "138 0013 8000"
    assert "****" not in page.content()
    page.screenshot(path=str(tmp_path / "customer_specialist.png"), full_page=True)


def test_front_desk_sees_the_number_masked_and_no_tel_link(page, live_server, tmp_path):
    username = seed(live_server.app, "front_desk")
    log_in(page, live_server, username)
    find_and_open(page, live_server)
    assert page.get_by_text("138****8000").count() >= 1
    assert page.locator('a[href^="tel:"]').count() == 0
    assert "138 0013 8000" not in page.content()
    page.screenshot(path=str(tmp_path / "customer_front_desk.png"), full_page=True)

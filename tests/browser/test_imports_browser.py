"""The import page in Chromium: a vehicles file with a consultant who is no user, the
counts laid out as one table, the name mapped with htmx; a file whose every row is
rejected, its rows downloaded, corrected and imported again as they are."""

from __future__ import annotations

import csv
import io

import pytest

from care.extensions import db
from care.models import Vehicle
from tests.factories import PASSWORD, make_customer, make_user, vin_for

pytestmark = pytest.mark.browser

V1, V2 = vin_for(901), vin_for(902)


def seed(app) -> dict:
    with app.app_context():
        s = db.session
        make_user(s, "care_manager", username="cm", display_name="Care Manager", locale="en")
        zhang = make_user(s, "consultant", username="zhangwei", display_name="销售 张伟", locale="en")
        make_customer(s, customer_no="K1", name="王小明")
        make_customer(s, customer_no="K2", name="李四")
        s.commit()
        return {"zhang": zhang.id}


def log_in(page, live_server):
    page.goto(live_server("/auth/login"))
    page.fill("input[name=username]", "cm")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(lambda url: "/auth/login" not in url)


def upload(page, live_server, kind, name, text):
    page.goto(live_server("/imports/"))
    page.select_option("select[name=kind]", kind)
    page.set_input_files("input[name=file]", {"name": name, "mimeType": "text/csv", "buffer": text.encode("utf-8")})
    page.click("#import-form button[type=submit]")
    page.wait_for_selector("#import-run")


def test_an_unknown_consultant_is_kept_and_mapped_once(page, live_server):
    world = seed(live_server.app)
    log_in(page, live_server)
    upload(page, live_server, "vehicles", "车辆.csv", f"车架号,客户编号,销售顾问\n{V1},K1,张伟\n{V2},K2,张伟\n")

    # the counts: each header above its own number, in one table
    headers = page.locator("table.import-counts thead th")
    numbers = page.locator("table.import-counts tbody td")
    assert headers.count() == numbers.count() == 6
    for i in range(6):
        head, number = headers.nth(i).bounding_box(), numbers.nth(i).bounding_box()
        assert head["y"] < number["y"]
        assert abs(head["x"] - number["x"]) < 1 and abs(head["width"] - number["width"]) < 1
    assert page.locator("[data-count=warned]").inner_text() == "2"
    assert "All 2 row(s) were imported." in page.locator("[data-summary]").inner_text()

    page.get_by_label("The user “张伟” means").select_option(str(world["zhang"]))
    page.locator("#staff-names button", has_text="Map").click()
    page.wait_for_selector("#staff-names .flash-success")
    assert "“张伟” is mapped to 销售 张伟: 2 imported row(s)" in page.locator("#staff-names").inner_text()
    assert page.locator("#staff-names select").count() == 0
    with live_server.app.app_context():
        assert {v.consultant_id for v in db.session.query(Vehicle)} == {world["zhang"]}


def test_every_row_rejected_then_corrected_and_imported_as_it_is(page, live_server):
    seed(live_server.app)
    log_in(page, live_server)
    upload(page, live_server, "vehicles", "车辆.csv", f"车架号,客户编号,车牌\n{V1},K9,川A1\n{V2},K8,+86\n")
    summary = page.locator("[data-summary]").inner_text()
    assert "No row was imported: all 2 row(s) were rejected." in summary
    assert "Every other row" not in page.content()

    with page.expect_download() as info:
        page.click("text=Download the rejected rows (CSV)")
    rows = list(csv.reader(io.StringIO(info.value.path().read_text(encoding="utf-8-sig"))))
    assert rows[0] == ["Row in the file", "Problems", "车架号", "客户编号", "车牌"]
    assert rows[1][2:] == [V1, "K9", "川A1"] and rows[2][2:] == [V2, "K8", "'+86"]
    rows[1][3], rows[2][3] = "K1", "K2"
    buffer = io.StringIO()
    csv.writer(buffer).writerows(rows)

    upload(page, live_server, "vehicles", "车辆-改正.csv", buffer.getvalue())
    assert "All 2 row(s) were imported." in page.locator("[data-summary]").inner_text()
    with live_server.app.app_context():
        assert sorted(v.plate for v in db.session.query(Vehicle)) == ["+86", "川A1"]

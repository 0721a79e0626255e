"""The customer pages: search, the customer page, masking per role, export, audit rows."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import select

from care.extensions import db
from care.models import AuditLog, OwnershipChange, Vehicle
from care.services import customers as svc
from tests.factories import (
    make_customer,
    make_delivery,
    make_policy,
    make_user,
    make_vehicle,
    make_visit,
    vin_for,
)

HX = {"HX-Request": "true"}
VIN = vin_for(7777)


@pytest.fixture
def wang(app):
    with app.app_context():
        c = make_customer(
            db.session,
            customer_no="K100001",
            name="王小明",
            mobile="+8613800138000",
            phone2="+8602887654321",
            email="wang@example.cn",
            city="成都",
            address="高新区天府大道 1 号",
            birthday=date(1985, 4, 12),
            birthday_lunar="02-24",
            customer_class="vip",
            no_call=True,
            no_call_by="import:customers.csv",
            no_call_at=datetime(2026, 11, 2, 6, 3, tzinfo=UTC),
        )
        v = make_vehicle(db.session, c, vin=VIN, plate="川A12345", model="Tiguan L", color="白")
        make_customer(db.session, customer_no="K100002", name="李四", mobile="+8613912345678")
        db.session.commit()
        return {"id": c.id, "vehicle": v.id}


def rows_of(html: str) -> int:
    return html.count("<tr>") - 1 if "<tbody>" in html else 0  # minus the header row


def search(client, q, **kw):
    return client.get("/customers/", query_string={"q": q, **kw})


# --- search --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "q",
    ["王小明", "小明", "K100001", "138 0013 8000", "+86 138-0013-8000", "0086 13800138000", "13800138000",
     "8000", "川a 12345", "川A12345", VIN, VIN[-6:]],
)
def test_search_finds_by_each_kind(client, login_as, wang, q):
    login_as("specialist", locale="en")
    html = search(client, q).get_data(as_text=True)
    assert "K100001" in html, q
    assert "K100002" not in html, q
    assert "1 customer matches" in html


def test_no_result_says_what_was_searched(client, login_as, wang):
    login_as("specialist", locale="en")
    response = search(client, "赵六")
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "No customer matches “赵六”" in html and "<table" not in html


def test_empty_query_lists_recent_customers_with_a_hint(client, login_as, wang):
    login_as("specialist", locale="en")
    html = client.get("/customers/").get_data(as_text=True)
    assert "K100001" in html and "K100002" in html
    assert "most recently updated" in html
    assert "data-search" in html and "autofocus" in html
    assert 'hx-get="/customers/"' in html and "delay:300ms" in html and 'hx-push-url="true"' in html


def test_no_customers_at_all(client, login_as):
    login_as("specialist", locale="en")
    assert "No customers yet" in client.get("/customers/").get_data(as_text=True)


def test_htmx_gets_the_results_fragment_only(client, login_as, wang):
    login_as("specialist", locale="en")
    fragment = client.get("/customers/?q=小明", headers=HX)
    html = fragment.get_data(as_text=True)
    assert fragment.status_code == 200
    assert "<html" not in html and "data-search" not in html
    assert "K100001" in html and "<table" in html
    assert "HX-Request" in fragment.headers.get("Vary", "")
    page = client.get("/customers/?q=小明").get_data(as_text=True)
    assert page.startswith("<!doctype html>") and "K100001" in page
    boosted = client.get("/customers/?q=小明", headers={**HX, "HX-Boosted": "true"}).get_data(as_text=True)
    assert "<html" in boosted


def test_too_long_query_is_refused_with_a_message(client, login_as):
    login_as("specialist", locale="en")
    response = search(client, "x" * (svc.MAX_QUERY + 1))
    assert response.status_code == 422
    assert "at most 100 characters" in response.get_data(as_text=True)


# --- pagination ----------------------------------------------------------------------------


@pytest.fixture
def thirty(app):
    with app.app_context():
        for n in range(30):
            make_customer(db.session, customer_no=f"P{n:04d}", name=f"张{n}")
        db.session.commit()


def test_pages_of_25(client, login_as, thirty):
    login_as("specialist", locale="en")
    first = search(client, "张").get_data(as_text=True)
    assert rows_of(first) == 25 and "P0000" in first and "P0025" not in first
    assert "Page 1 of 2" in first and "page=2" in first
    second = search(client, "张", page="2").get_data(as_text=True)
    assert rows_of(second) == 5 and "P0025" in second and "P0029" in second


@pytest.mark.parametrize(("page", "status"), [("3", 404), ("99", 404), ("9" * 30, 404), ("abc", 400), ("0", 400), ("-1", 400), ("1.5", 400), ("²", 400), ("", 200)])
def test_bad_page_numbers(client, login_as, thirty, page, status):
    login_as("specialist", locale="en")
    response = search(client, "张", page=page)
    assert response.status_code == status
    html = response.get_data(as_text=True)
    if status == 400:
        assert "The page number must be a whole number" in html
    if status == 404:
        assert "does not exist" in html
    if page in ("3", "99"):
        assert "this list has 2 page(s)" in html


@pytest.mark.parametrize("q", ["\x00", "王\x00小明", "%_\\", "' OR 1=1 --"])
def test_odd_input_is_no_error(client, login_as, wang, q):
    login_as("care_manager", locale="en")
    assert search(client, q).status_code == 200
    assert client.get("/customers/export.csv", query_string={"q": q}).status_code == 200


def test_page_one_of_an_empty_result_is_fine(client, login_as):
    login_as("specialist", locale="en")
    assert search(client, "nobody", page="1").status_code == 200


# --- masking ---------------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["front_desk", "general_manager", "sales_manager"])
def test_non_calling_roles_see_masked_numbers(client, login_as, wang, role):
    login_as(role, locale="en")
    for html in (search(client, "王").get_data(as_text=True), client.get(f"/customers/{wang['id']}").get_data(as_text=True)):
        assert "138****8000" in html
        assert "138 0013 8000" not in html and "13800138000" not in html
        assert "tel:" not in html


@pytest.mark.parametrize("role", ["specialist", "insurance", "care_manager", "consultant"])
def test_calling_roles_see_full_numbers_and_tel_links(client, login_as, wang, role):
    login_as(role, locale="en")
    assert "138 0013 8000" in search(client, "王").get_data(as_text=True)
    html = client.get(f"/customers/{wang['id']}").get_data(as_text=True)
    assert 'href="tel:+8613800138000"' in html and "138 0013 8000" in html
    assert "****" not in html


# --- the customer page -------------------------------------------------------------------------


def test_customer_page_shows_everything(app, client, login_as, wang):
    with app.app_context():
        s = db.session
        consultant = make_user(s, "consultant", display_name="销售甲")
        specialist = make_user(s, "insurance", display_name="保险乙")
        v = s.get(Vehicle, wang["vehicle"])
        v.consultant_id, v.warranty_end, v.warranty_km, v.mileage = consultant.id, date(2029, 1, 15), 100000, 12345
        make_visit(s, v, ro_no="RO-OLD", date=date(2026, 3, 1), kind="first_service", amount=0)
        make_visit(s, v, ro_no="RO-NEW", date=date(2026, 9, 1), kind="maintenance", amount=688)
        make_policy(s, v, policy_no="POL-GONE", expiry=datetime.now(UTC).date() - timedelta(days=2), specialist_id=specialist.id)
        make_delivery(s, v, consultant_id=consultant.id)
        seller = make_customer(s, name="前车主")
        s.add(OwnershipChange(vehicle_id=v.id, old_customer_id=seller.id, new_customer_id=wang["id"],
                              changed_at=datetime(2026, 5, 1, tzinfo=UTC), source="import:vehicles.csv row 3"))
        s.commit()
    login_as("specialist", locale="en")
    response = client.get(f"/customers/{wang['id']}")
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    for text in ("王小明", "K100001", "VIP", "高新区天府大道 1 号", "wang@example.cn", "lunar 02-24",
                 VIN, "川A12345", "Tiguan L", "销售甲", "保险乙", "100,000 km", "12,345 km",
                 "First service", "Regular maintenance", "¥688.00", "POL-GONE", "前车主",
                 "import:vehicles.csv row 3", "Contact timeline",
                 "No contacts yet: calls, messages and surveys will appear here."):
        assert text in html, text
    assert html.index("RO-NEW") < html.index("RO-OLD")  # newest visit first
    assert "set by import:customers.csv on" in html and "refused" in html
    assert "badge-danger\">expired" in html  # the policy expired two days ago
    fragment = client.get(f"/customers/{wang['id']}", headers=HX).get_data(as_text=True)
    assert "<html" not in fragment and "王小明" in fragment


def test_policy_badge_when_renewal_is_due(app, client, login_as, wang):
    today = datetime.now(UTC).date()
    with app.app_context():
        v = db.session.get(Vehicle, wang["vehicle"])
        make_policy(db.session, v, expiry=svc.add_months(today, 1))
        db.session.commit()
    login_as("insurance", locale="en")
    assert "renewal due" in client.get(f"/customers/{wang['id']}").get_data(as_text=True)


def test_unknown_customer_is_a_404_page(client, login_as):
    login_as("specialist", locale="en")
    response = client.get("/customers/987654")
    assert response.status_code == 404
    assert "There is no customer with the id 987654" in response.get_data(as_text=True)
    assert client.get("/customers/abc").status_code == 404
    assert client.get("/customers/" + "9" * 25).status_code == 404


def test_empty_states_for_a_customer_without_vehicles(client, login_as, app):
    with app.app_context():
        c = make_customer(db.session)
        db.session.commit()
        cid = c.id
    login_as("front_desk", locale="en")
    html = client.get(f"/customers/{cid}").get_data(as_text=True)
    assert "No vehicles recorded" in html and "No change of owner recorded" in html


# --- audit --------------------------------------------------------------------------------------


def audit_rows(app, action):
    with app.app_context():
        return [
            {"object_id": a.object_id, "user_id": a.user_id, "actor": a.actor, "ip": a.ip, "detail": a.detail}
            for a in db.session.scalars(select(AuditLog).where(AuditLog.action == action).order_by(AuditLog.id))
        ]


def assert_no_customer_data(entry):
    text = json.dumps(entry, ensure_ascii=False)
    for secret in ("8000", "王", "小明", "wang@"):
        assert secret not in text


def test_view_is_audited(app, client, login_as, wang):
    user = login_as("specialist", locale="en")
    client.get(f"/customers/{wang['id']}")
    client.get(f"/customers/{wang['id']}", headers=HX)
    rows = audit_rows(app, "customer.view")
    assert len(rows) == 2
    assert rows[0]["object_id"] == str(wang["id"]) and rows[0]["user_id"] == user.id
    assert rows[0]["actor"] == user.username and rows[0]["ip"] == "127.0.0.1"
    assert_no_customer_data(rows[0])
    client.get("/customers/987654")
    assert len(audit_rows(app, "customer.view")) == 2


def test_search_is_audited_by_kind(app, client, login_as, wang):
    login_as("front_desk", locale="en")
    search(client, "138 0013 8000")
    search(client, "王小明")
    client.get("/customers/")  # the landing list is no search
    rows = audit_rows(app, "customer.search")
    assert [r["detail"] for r in rows] == [{"by": "phone", "results": 1}, {"by": "name", "results": 1}]
    for r in rows:
        assert_no_customer_data(r)


# --- export --------------------------------------------------------------------------------------


def read_csv(response):
    body = response.get_data()
    assert body.startswith("\ufeff".encode())
    return list(csv.reader(io.StringIO(body.decode("utf-8-sig"))))


def test_export_for_general_manager_is_masked_and_audited(app, client, login_as, wang):
    user = login_as("general_manager", locale="en")
    response = client.get("/customers/export.csv", query_string={"q": "138 0013 8000"})
    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    assert "attachment" in response.headers["Content-Disposition"]
    rows = read_csv(response)
    assert rows[0][:3] == ["Customer no.", "Name", "Mobile"]
    assert len(rows) == 2 and rows[1][:3] == ["K100001", "王小明", "138****8000"]
    (entry,) = audit_rows(app, "customer.export")
    assert entry["user_id"] == user.id
    assert entry["detail"]["by"] == "phone" and entry["detail"]["results"] == 1
    assert_no_customer_data(entry)


def test_export_for_care_manager_has_full_numbers_and_all_pages(app, client, login_as, wang, thirty):
    login_as("care_manager", locale="en")
    rows = read_csv(client.get("/customers/export.csv"))
    assert len(rows) == 1 + 32  # header + every customer, not one page
    assert ["K100001", "王小明", "138 0013 8000"] in [r[:3] for r in rows]


def test_export_cap_is_announced(client, login_as, thirty, monkeypatch):
    monkeypatch.setattr(svc, "EXPORT_CAP", 10)
    login_as("care_manager", locale="en")
    rows = read_csv(client.get("/customers/export.csv"))
    assert rows[0][0].startswith("# Only the first 10 customers")
    assert len(rows) == 2 + 10


def test_export_refused_for_a_specialist(app, client, login_as, wang):
    login_as("specialist", locale="en")
    assert client.get("/customers/export.csv").status_code == 403
    assert audit_rows(app, "customer.export") == []


@pytest.mark.parametrize(("role", "shown"), [("care_manager", True), ("general_manager", True), ("specialist", False), ("front_desk", False)])
def test_export_link_only_for_those_allowed(client, login_as, wang, role, shown):
    login_as(role, locale="en")
    html = search(client, "王").get_data(as_text=True)
    assert ("/customers/export.csv?q=" in html) is shown


def test_admin_is_not_a_reader(client, login_as, wang):
    login_as("admin", locale="en")
    assert client.get("/customers/").status_code == 403
    assert client.get(f"/customers/{wang['id']}").status_code == 403

"""The campaign pages: the form with its live audience, refusals with their reasons, the
month's holidays proposed as drafts, the R11 count shown to the care manager."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from care.extensions import db
from care.models import Campaign
from tests import factories


@pytest.fixture
def customers(app):
    with app.app_context():
        for kw in ({}, {}, {"no_sms": True}, {"mobile": None, "phone2": None}):
            factories.make_customer(db.session, **kw)
        db.session.commit()


def form(**kw):
    values = {"name": "寒潮预警", "kind": "weather", "body": "【{dealer_name}】{salutation}，明日降温，请注意行车安全。", "send_at": "2099-01-10T10:00"}
    values.update(kw)
    return values


def test_the_live_audience_counts_and_explains_exclusions(app, client, login_as, customers):
    login_as("care_manager")
    r = client.post("/campaigns/audience", data=form(city="成都"), headers={"HX-Request": "true"})
    html = r.get_data(as_text=True)
    assert r.status_code == 200
    assert "2 customers will get the message" in html and "(4 match the filters)" in html
    assert "1 left out: refuses text messages" in html and "1 left out: no mobile number" in html
    assert html.count("车主，明日降温") == 2  # the preview of real customers (only two can be texted)
    r = client.post("/campaigns/audience", data=form(body="您好{birthday_wish}"), headers={"HX-Request": "true"})
    assert "birthday_wish" in r.get_data(as_text=True)


def test_an_unknown_merge_field_is_refused_with_its_name(app, client, login_as, customers):
    login_as("care_manager")
    r = client.post("/campaigns/new", data=form(body="{salutation}，{weather_alert}"))
    assert r.status_code == 422
    assert "weather_alert" in r.get_data(as_text=True)
    with app.app_context():
        assert db.session.scalar(select(Campaign.id)) is None


def test_create_then_an_empty_audience_cannot_be_scheduled(app, client, login_as, customers):
    login_as("care_manager")
    r = client.post("/campaigns/new", data=form(city="拉萨"))
    assert r.status_code == 303
    campaign_id = int(r.headers["Location"].rsplit("/", 1)[1])
    r = client.post(f"/campaigns/{campaign_id}/schedule")
    assert r.status_code == 422
    assert "The audience is empty" in r.get_data(as_text=True)
    r = client.post(f"/campaigns/{campaign_id}", data=form(city=""))
    assert r.status_code == 303
    assert client.post(f"/campaigns/{campaign_id}/schedule").status_code == 303
    with app.app_context():
        assert db.session.get(Campaign, campaign_id).status == "scheduled"
    # a bad date in the filters: 422 naming it, never a 500
    r = client.post(f"/campaigns/{campaign_id}", data=form(last_visit_after="2026-02-30"))
    assert r.status_code == 422 and "2026-02-30" in r.get_data(as_text=True)


def test_the_index_shows_the_months_count_and_proposes_holidays(app, client, login_as):
    app.config["CARE_NOW"] = "2027-02-01T02:00:00+00:00"
    try:
        login_as("care_manager")
        html = client.get("/campaigns/").get_data(as_text=True)
        assert "3 more campaigns must go out before the end of the month." in html
        assert "3 campaigns still to send this month" in html  # beside the link, on every page
        assert "Spring Festival" in html and "Lantern Festival" in html
        r = client.post("/campaigns/propose", data={"holiday": "spring_festival", "day": "2027-02-06"})
        assert r.status_code == 303
        html = client.get(r.headers["Location"]).get_data(as_text=True)
        assert "2027年春节问候" in html
        assert not re.search(r'name="holiday" value="spring_festival"', client.get("/campaigns/").get_data(as_text=True))
    finally:
        app.config.pop("CARE_NOW", None)


def test_the_general_manager_reads_but_cannot_write(app, client, login_as):
    login_as("general_manager")
    assert client.get("/campaigns/").status_code == 200
    assert client.post("/campaigns/new", data=form()).status_code == 403

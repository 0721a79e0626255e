"""The settings page: grouped rows, one form for all values, errors beside fields, reset."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest
from sqlalchemy import select

from care.domain import settings as setting_rules
from care.domain.settings import GROUPS, SETTINGS
from care.extensions import db
from care.models import AuditLog, Setting
from care.services.settings import load_settings
from care.web import i18n, labels

EN = {"Accept-Language": "en"}
HX = {"HX-Request": "true", **EN}


@pytest.fixture
def admin(login_as):
    return login_as("admin", username="root")


def _form(client) -> dict[str, str]:
    """The values the page shows, as the browser would post them back."""
    html = client.get("/settings/", headers=EN).get_data(as_text=True)
    return dict(re.findall(r'<input type="text" id="input-[\w]+" name="(\w+)" value="([^"]*)"', html))


def _errors(html: str) -> list[str]:
    return re.findall(r'<p class="error"[^>]*>([^<]*)</p>', html)


def test_labels_module_covers_every_setting():
    """Every label of the registry is marked N_(…) where it is written; groups and units
    have a translated label in care/web/labels.py."""
    tree = ast.parse(Path(setting_rules.__file__).read_text(encoding="utf-8"))
    marked = {
        node.args[0].value
        for node in ast.walk(tree)
        if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "N_" and node.args
        and isinstance(node.args[0], ast.Constant)
    }
    missing_labels = sorted({s.label for s in SETTINGS} - marked)
    assert not missing_labels, f"mark with N_(…) in care/domain/settings.py: {missing_labels}"
    assert set(GROUPS) <= set(labels.SETTING_GROUPS), "a group without a translated name"
    units = {s.unit for s in SETTINGS if s.unit}
    assert units <= set(labels.UNITS), f"units without translation: {units - set(labels.UNITS)}"


def test_page_lists_every_setting_grouped(client, admin):
    response = client.get("/settings/", headers=EN)
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    for sdef in SETTINGS:
        assert f'name="{sdef.key}"' in html
    assert html.count("<fieldset") == len(GROUPS)
    assert "<legend>Calls</legend>" in html
    assert "Call time slots (outside them: quiet hours)" in html
    assert "R13" in html
    assert "name=HH:MM-HH:MM" in html  # the slots format hint
    assert "Never changed" in html
    assert 'value="morning=09:00-12:00, afternoon=14:00-17:30, evening=18:30-20:30"' in html


def test_htmx_gets_the_form_fragment(client, admin):
    response = client.get("/settings/", headers=HX)
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "<html" not in html and 'id="settings-form"' in html
    assert "HX-Request" in response.headers.get("Vary", "")


def test_save_changes_redirects_with_a_count_and_audits(app, client, admin):
    values = _form(client)
    values.update({"dealer_city": "重庆", "workday_start": "8:00", "insurance_sample_rate": "70%"})
    response = client.post("/settings/", data=values, headers=EN)
    assert response.status_code == 303 and response.headers["Location"].endswith("/settings/")
    page = client.get("/settings/", headers=EN).get_data(as_text=True)
    assert "3 settings changed" in page
    assert "Changed by root" in page
    assert 'value="08:00"' in page and 'value="70%"' in page  # a rate is shown as a percentage
    with app.app_context():
        s = load_settings(db.session)
        assert s.dealer_city == "重庆" and s.insurance_sample_rate == pytest.approx(0.7)
        (entry,) = db.session.scalars(select(AuditLog).where(AuditLog.action == "settings.update")).all()
        assert entry.actor == "root" and entry.user_id == admin.id and entry.ip == "127.0.0.1"
        assert set(entry.detail) == {"dealer_city", "workday_start", "insurance_sample_rate"}


def test_saving_unchanged_values_says_so(client, admin):
    response = client.post("/settings/", data=_form(client), headers=EN, follow_redirects=True)
    assert "Nothing changed" in response.get_data(as_text=True)


def test_invalid_values_come_back_beside_their_fields_and_keep_what_was_typed(app, client, admin):
    values = _form(client)
    values.update({"dealer_city": "重庆", "attempts_max": "three", "workday_end": "25:00", "call_slots": "a=09:00-12:00, b=11:00-13:00"})
    response = client.post("/settings/", data=values, headers=EN)
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    errors = _errors(html)
    assert "“three” is not a whole number" in errors
    assert "“25:00” is not a time of day (HH:MM)" in errors
    assert "slots a and b overlap" in errors
    assert "3 values need correcting; nothing was saved." in errors
    assert "&#39;" not in "".join(errors) and "'three'" not in html  # no Python repr
    # every typed value is still in the form, the good ones too
    assert 'value="重庆"' in html and 'value="three"' in html and 'value="25:00"' in html
    # the message sits in the row of its setting
    row = html[html.index('id="setting-attempts_max"'):]
    row = row[: row.index('id="setting-', 10)]
    assert "is not a whole number" in row and "has-error" in html[html.index('id="setting-attempts_max"') - 40 :][:80]
    with app.app_context():
        assert db.session.scalars(select(Setting)).all() == []


def test_out_of_range_message(client, admin):
    values = _form(client)
    values["attempts_max"] = "0"
    html = client.post("/settings/", data=values, headers=EN).get_data(as_text=True)
    assert "must be at least 1" in _errors(html)


def test_cross_field_error_is_shown_at_the_top(app, client, admin):
    values = _form(client)
    values.update({"workday_start": "18:00", "dealer_city": "重庆"})
    response = client.post("/settings/", data=values, headers=EN)
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    top = html[html.index('id="settings-errors"'):][:500]
    assert "“Work-day start” must be before “Work-day end (register due)”" in top
    assert 'value="18:00"' in html and 'value="重庆"' in html
    with app.app_context():
        assert db.session.scalars(select(Setting)).all() == []


def test_messages_go_through_gettext_with_their_params(app, monkeypatch):
    """SettingError and consistency messages are translated as templates, labels too."""
    calls = []

    def fake_gettext(template, **params):
        calls.append((template, params))
        return "T:" + (template % params if params else template)

    monkeypatch.setattr(i18n, "_", fake_gettext)
    monkeypatch.setattr(labels, "_", fake_gettext)
    from care.domain.settings import BY_KEY, SettingError, check_consistency

    with app.test_request_context("/"):
        with pytest.raises(SettingError) as info:
            BY_KEY["attempts_max"].parse("three")
        assert i18n.translated(info.value) == "T:“three” is not a whole number"
        assert calls[-1] == ("“%(value)s” is not a whole number", {"value": "three"})

        values = load_settings(db.session).as_dict()
        values["lapsed_min_days"] = 999
        with pytest.raises(SettingError) as info:
            check_consistency(values)
        text = i18n.translated(info.value)
        # the keys become translated labels
        assert text == "T:“T:Lapsed: last visit at least … ago” must be below “T:Lapsed: last visit at most … ago”"


def test_htmx_invalid_post_gets_the_fragment_with_422(client, admin):
    values = _form(client)
    values["attempts_max"] = "x"
    response = client.post("/settings/", data=values, headers=HX)
    assert response.status_code == 422
    assert "<html" not in response.get_data(as_text=True)


def test_partial_post_changes_only_what_was_sent(app, client, admin):
    response = client.post("/settings/", data={"attempts_max": "4"})
    assert response.status_code == 303
    with app.app_context():
        s = load_settings(db.session)
        assert s.attempts_max == 4 and s.dealer_city == "成都"


def test_reset_to_default_plain_post(app, client, admin):
    client.post("/settings/", data={"dealer_city": "重庆"})
    page = client.get("/settings/", headers=EN).get_data(as_text=True)
    assert "/settings/dealer_city/reset" in page
    assert "/settings/attempts_max/reset" not in page  # already the default
    response = client.post("/settings/dealer_city/reset", headers=EN)
    assert response.status_code == 303 and "#setting-dealer_city" in response.headers["Location"]
    with app.app_context():
        assert load_settings(db.session).dealer_city == "成都"
        entries = db.session.scalars(select(AuditLog).where(AuditLog.action == "settings.update").order_by(AuditLog.id)).all()
        assert [e.detail["dealer_city"]["new"] for e in entries] == ["重庆", "成都"]
    assert "Reset to the default." in client.get("/settings/", headers=EN).get_data(as_text=True)


def test_reset_with_htmx_returns_the_row(client, admin):
    client.post("/settings/", data={"attempts_max": "5"})
    response = client.post("/settings/attempts_max/reset", headers=HX)
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert html.lstrip().startswith('<div class="settings-row') and 'id="setting-attempts_max"' in html
    assert 'value="3"' in html and "Reset to the default." in html
    assert response.headers["HX-Trigger"] == "settings-changed"


def test_reset_that_breaks_a_cross_field_rule_is_refused(app, client, admin):
    client.post("/settings/", data={"first_service_deadline_months": "8", "first_service_open_months": "5"})
    client.post("/settings/", data={"first_service_deadline_months": "6"})
    # open 5 < deadline 6; resetting the deadline to 3 would put it below the opening
    response = client.post("/settings/first_service_deadline_months/reset", headers=HX)
    assert response.status_code == 422
    assert "Not reset" in response.get_data(as_text=True)
    with app.app_context():
        assert load_settings(db.session).first_service_deadline_months == 6


def test_reset_unknown_key_is_404(client, admin):
    assert client.post("/settings/nonsense/reset").status_code == 404


def test_a_broken_stored_value_is_flagged(app, client, admin):
    with app.app_context():
        db.session.add(Setting(key="attempts_max", value="many"))
        db.session.commit()
    html = client.get("/settings/", headers=EN).get_data(as_text=True)
    assert "The saved value “many” is not valid any more" in html


def test_only_admins(client, login_as):
    login_as("care_manager")
    assert client.get("/settings/").status_code == 403
    assert client.post("/settings/", data={"attempts_max": "4"}).status_code == 403


# --- issue 10: percentages read, stored and shown one way; the SSI is no percentage ------


def _row(html: str, key: str) -> str:
    start = html.index(f'id="setting-{key}"')
    return html[start:html.index('class="settings-row', start + 1) if 'class="settings-row' in html[start + 1:] else None]


def test_rates_are_shown_as_percentages_and_the_ssi_as_points(app, client, admin):
    html = client.get("/settings/", headers=EN).get_data(as_text=True)
    rate = _row(html, "top_box_target")
    assert 'value="80%"' in rate and "Default: 80%" in rate
    assert "a percentage, e.g. 80% (the fraction 0.8 means the same)" in rate
    ssi = _row(html, "ssi_target")
    assert 'value="80"' in ssi and "Default: 80" in ssi and "index points from 0 to 100" in ssi
    assert "0.8 or 80%" not in html  # the old hint that the SSI's value of 80 contradicted
    # the page posted back as shown changes nothing
    response = client.post("/settings/", data=_form(client), headers=EN, follow_redirects=True)
    assert "Nothing changed" in response.get_data(as_text=True)
    with app.app_context():
        assert db.session.scalars(select(Setting)).all() == []


def test_a_rate_typed_as_a_percentage_is_stored_as_the_fraction(app, client, admin):
    values = _form(client)
    values.update({"top_box_target": "85%", "ssi_target": "82.5"})
    assert client.post("/settings/", data=values).status_code == 303
    with app.app_context():
        stored = {row.key: row.value for row in db.session.scalars(select(Setting))}
    assert stored == {"top_box_target": "0.85", "ssi_target": "82.5"}
    html = client.get("/settings/", headers=EN).get_data(as_text=True)
    assert 'value="85%"' in _row(html, "top_box_target") and 'value="82.5"' in _row(html, "ssi_target")


@pytest.mark.parametrize(("key", "text", "message"), [
    ("ssi_target", "80%", "“80%”: write the index as a plain number, without % (e.g. 80)"),
    ("top_box_target", "80", "“80” is more than 1: write it as a percentage, e.g. 80%"),
    ("top_box_target", "180%", "must be between 0% and 100%"),
])
def test_a_percentage_where_it_does_not_belong_is_refused_clearly(app, client, admin, key, text, message):
    values = _form(client)
    values[key] = text
    response = client.post("/settings/", data=values, headers=EN)
    assert response.status_code == 422
    assert message in _errors(response.get_data(as_text=True))

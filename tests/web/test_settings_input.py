"""Issue 9 item 12: settings refuse NaN/Infinity for every numeric kind and text beyond
its maximum length, with a clear message, on the page and in `care settings`."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from care.domain.settings import (
    INT,
    MAX_INPUT_LENGTH,
    MAX_TEXT_LENGTH,
    RANGE,
    RATE,
    SCORE,
    SETTINGS,
    SettingError,
)
from care.extensions import db
from care.models import Setting
from tests.web.test_settings import EN, _errors, _form

NOT_FINITE = ["NaN", "nan", "inf", "-inf", "Infinity", "-Infinity", "nan%", "1e999", "-1e999"]
NUMERIC = [s for s in SETTINGS if s.kind in (RATE, SCORE, INT, RANGE)]


@pytest.mark.parametrize("text", NOT_FINITE)
def test_no_numeric_setting_takes_a_non_finite_value(text):
    for sdef in NUMERIC:
        with pytest.raises(SettingError):
            sdef.parse(text)


def test_text_settings_have_a_maximum_length_and_no_control_characters():
    for sdef in SETTINGS:
        with pytest.raises(SettingError):
            sdef.parse("x" * (MAX_INPUT_LENGTH + 1))
        with pytest.raises(SettingError):
            sdef.parse("a\x00b")
    city = next(s for s in SETTINGS if s.key == "dealer_city")
    assert city.parse("成" * MAX_TEXT_LENGTH) == "成" * MAX_TEXT_LENGTH
    with pytest.raises(SettingError, match="at most 100 characters"):
        city.parse("成" * (MAX_TEXT_LENGTH + 1))


@pytest.fixture
def admin(login_as):
    return login_as("admin", username="root")


def test_page_refuses_nan_and_a_long_city(app, client, admin):
    values = _form(client)
    values.update({"top_box_target": "NaN", "insurance_sample_rate": "nan", "dealer_city": "x" * 5000,
                   "dealer_name": "a\x07b"})
    response = client.post("/settings/", data=values, headers=EN)
    assert response.status_code == 422
    errors = _errors(response.get_data(as_text=True))
    assert "“NaN” is not a number" in errors and "“nan” is not a number" in errors
    assert any("at most" in e and "characters" in e for e in errors)
    assert "may not contain control characters" in errors
    with app.app_context():
        assert db.session.scalars(select(Setting)).all() == []
    # NUL is refused for every form before the page reads it (care/web/input_guard.py)
    values["dealer_name"] = "a\x00b"
    assert client.post("/settings/", data=values, headers=EN).status_code == 400


@pytest.mark.parametrize(("key", "value"), [("top_box_target", "NaN"), ("insurance_sample_rate", "nan"),
                                             ("ssi_target", "inf"), ("dealer_city", "x" * 5000)])
def test_cli_refuses(app, runner, key, value):
    result = runner.invoke(args=["care", "settings", key, value], catch_exceptions=False)
    assert result.exit_code == 1
    assert f"Error: {key}: " in result.stderr and ("not a number" in result.stderr or "at most" in result.stderr)
    with app.app_context():
        assert db.session.scalar(select(Setting)) is None

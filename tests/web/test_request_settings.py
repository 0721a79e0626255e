"""care/web/request_settings.py: the settings read once per request."""

from __future__ import annotations

from datetime import UTC, datetime

from care.services import Actor
from care.services.settings import set_settings
from care.web.request_settings import current_settings

NOW = datetime(2026, 3, 16, 2, 0, tzinfo=UTC)


def test_current_settings_is_read_once_per_request_and_refreshed_after_a_change(app):
    from care.extensions import db

    with app.test_request_context("/"):
        first = current_settings()
        assert current_settings() is first
        set_settings(db.session, {"attempts_max": "5"}, actor=Actor("t"), now=NOW)
        assert current_settings().attempts_max == 5
        db.session.rollback()


def test_outside_a_request_the_settings_are_read_fresh(app):
    from care.extensions import db

    with app.app_context():
        assert current_settings() is not current_settings()
        db.session.rollback()

"""The dealer's settings for the current request: read once per request.

The web layer's cache (``flask.g``) of ``care.services.settings.load_settings``: views,
templates' helpers and Flask-Babel's time zone ask many times per request. A change
made in the request (``set_settings`` counts changes in ``session.info``) is read
again; outside a request the settings are read fresh each time.
"""

from __future__ import annotations

from flask import g, has_request_context

from care.domain.settings import Settings
from care.extensions import db
from care.services.settings import SETTINGS_VERSION, load_settings

_KEY = "care_settings"


def current_settings() -> Settings:
    """The settings for this request (read once, and again after a change), or fresh
    outside one."""
    if not has_request_context():
        return load_settings(db.session)
    version = db.session.info.get(SETTINGS_VERSION, 0)
    cached = g.get(_KEY)
    if cached is None or cached[0] != version:
        cached = (version, load_settings(db.session))
        setattr(g, _KEY, cached)
    return cached[1]

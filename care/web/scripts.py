"""Scripts: placeholder blueprint, replaced by the issue that builds the page."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("scripts", __name__, url_prefix="/scripts")

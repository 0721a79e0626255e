"""Generation: placeholder blueprint, replaced by the issue that builds the page."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("generation", __name__, url_prefix="/generation")

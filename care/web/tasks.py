"""Tasks: placeholder blueprint, replaced by the issue that builds the page."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("tasks", __name__, url_prefix="/tasks")

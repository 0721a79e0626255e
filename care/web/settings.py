"""Settings: placeholder until its page lands."""

from __future__ import annotations

from flask import Blueprint, render_template

from care.domain.roles import Role
from care.web.access import roles_required

bp = Blueprint("settings", __name__, url_prefix="/settings")


@bp.route("/")
@roles_required(Role.ADMIN)
def index():
    return render_template("main/home.html")

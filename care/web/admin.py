"""Administration: users and roles, the audit log."""

from __future__ import annotations

from flask import Blueprint, render_template

from care.domain.roles import Role
from care.web.access import roles_required

bp = Blueprint("admin", __name__, url_prefix="/admin")


@bp.route("/users")
@roles_required(Role.ADMIN)
def users():
    return render_template("main/home.html")


@bp.route("/audit")
@roles_required(Role.ADMIN)
def audit():
    return render_template("main/home.html")

"""Home, language choice and the health check."""

from __future__ import annotations

from flask import Blueprint, redirect, render_template, request, session, url_for
from flask_login import current_user

from care.domain.roles import CUSTOMER_READERS, Role
from care.extensions import db
from care.services.schema import database_reachable
from care.web.access import login_only, public, user_can
from care.web.auth import _safe_next
from care.web.dashboard import lands_on_dashboard

bp = Blueprint("main", __name__)


@bp.route("/")
@login_only
def home():
    """Each role's start page: the dashboard for the care and general managers, the
    worklist for those with care tasks (specialists, insurance, consultants, the sales
    manager), the customers for the front desk, the settings for an administrator."""
    roles = current_user.roles
    if lands_on_dashboard(current_user):  # the care and general managers (issue 12 item 7)
        return redirect(url_for("dashboard.index"))
    if user_can("worklist.index"):
        return redirect(url_for("worklist.index"))
    if roles & CUSTOMER_READERS:
        return redirect(url_for("customers.index"))
    if Role.ADMIN in roles:
        return redirect(url_for("settings.index"))
    return render_template("main/home.html")


@bp.route("/language", methods=["POST"])
@public
def language():
    from flask import current_app

    chosen = request.form.get("locale", "")
    if chosen in current_app.config["CARE_LANGUAGES"]:
        session["locale"] = chosen
        if current_user.is_authenticated:
            current_user.locale = chosen
    return redirect(_safe_next(request.form.get("next")) or url_for("main.home"), code=303)


@bp.route("/healthz")
@public
def healthz():
    if not database_reachable(db.session):  # 503: the unit of work rolls back
        return {"status": "unavailable", "database": "unreachable"}, 503
    return {"status": "ok", "database": "ok"}, 200

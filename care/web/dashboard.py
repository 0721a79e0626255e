"""The managers' dashboard (issue 12 item 7): ``/dashboard``.

The care manager and the general manager land here after log-in (care.web.main.home):
today's progress of every queue, the team's day, the R15 violations of the month so
far, the insurance sample's progress and the number-correction queue, each linking to
the list behind it. The figures come from care.services.dashboard.
"""

from __future__ import annotations

from flask import Blueprint
from flask_login import current_user

from care.domain.kpis import month_text
from care.domain.roles import Role
from care.extensions import db
from care.services import dashboard as svc
from care.web.access import roles_required, user_can
from care.web.calls import now as request_now
from care.web.htmx import render
from care.web.kpis import number, percent
from care.web.labels import show_datetime, task_type_label
from care.web.request_settings import current_settings

bp = Blueprint("dashboard", __name__, url_prefix="/dashboard")

DASHBOARD_ROLES = (Role.CARE_MANAGER, Role.GENERAL_MANAGER)


def lands_on_dashboard(user) -> bool:
    return bool(set(user.roles) & set(DASHBOARD_ROLES))


@bp.route("/")
@roles_required(*DASHBOARD_ROLES)
def index():
    board = svc.dashboard(db.session, now=request_now(), settings=current_settings())
    return render(
        "dashboard/index.html",
        "dashboard/index.html",
        board=board,
        percent=percent,
        number=number,
        month_text=month_text,
        task_type_label=task_type_label,
        show_datetime=show_datetime,
        user_can=user_can,
        viewer=current_user,
    )

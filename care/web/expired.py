"""Expired tasks for managers: GET /expired/ (issue 10 item 4).

The tasks the deadline sweep closed as expired (care.services.fallback: their window
closed without the R13 attempts), of a period of expiry days, with the reason, the
attempts they got, their fallback message (or why none went out) and the specialist;
filtered by task type, specialist and dates, paged (care/web/paging.py). The filter form
reloads the list as a fragment (``expired/_list.html``) for htmx; without JavaScript it
is a plain GET.

Read by the managers (care manager, sales manager, general manager): the customer names
shown are theirs to see (care.domain.roles.CUSTOMER_READERS); phone numbers are not shown.
"""

from __future__ import annotations

from flask import Blueprint, abort, request

from care.domain.dates import local_today
from care.domain.roles import MANAGERS
from care.extensions import db
from care.models.types import utcnow
from care.services import expiry
from care.web.access import roles_required
from care.web.htmx import render
from care.web.i18n import translated
from care.web.paging import paginate
from care.web.request_settings import current_settings

bp = Blueprint("expired", __name__, url_prefix="/expired")

VIEWERS = tuple(sorted(MANAGERS))


def _filter() -> expiry.ExpiredFilter:
    today = local_today(utcnow(), current_settings().timezone)
    args = request.args
    try:
        return expiry.parse_filter(args.getlist("type"), args.get("owner"), args.get("from"), args.get("to"), today=today)
    except expiry.ExpiryFilterError as exc:
        abort(400, description=translated(exc))


@bp.get("/")
@roles_required(*VIEWERS)
def index():
    f = _filter()
    tz = current_settings().timezone
    page = paginate(expiry.expired_statement(f, tz))
    return render(
        "expired/index.html",
        "expired/_list.html",
        f=f,
        listing=page,
        rows=expiry.rows_of(db.session, list(page.items)),
        counts=expiry.reason_counts(db.session, f, tz),
        owners=expiry.owner_choices(db.session, f.owner),
        task_types=expiry.TASK_TYPES,
        reasons=expiry.EXPIRED_REASONS,
    )

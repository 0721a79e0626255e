"""Customers: the search, the customer page and the CSV export."""

from __future__ import annotations

from flask import Blueprint, Response, abort, request
from flask_babel import format_datetime, format_number
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import SearchField
from wtforms.validators import Length

from care.domain.roles import CUSTOMER_READERS, Role, sees_full_phone
from care.extensions import db
from care.models.types import utcnow
from care.services import customers as svc
from care.services import tasks as task_service
from care.web.access import current_actor, roles_required
from care.web.htmx import render
from care.web.labels import CUSTOMER_CLASSES
from care.web.paging import page_number, paginate

bp = Blueprint("customers", __name__, url_prefix="/customers")

EXPORTERS = (Role.CARE_MANAGER, Role.GENERAL_MANAGER)


class SearchForm(FlaskForm):
    """The search box: a GET form, so no CSRF token (nothing is changed)."""

    class Meta:
        csrf = False

    q = SearchField(
        _l("Search customers"),
        validators=[Length(max=svc.MAX_QUERY, message=_l("Search for at most %(max)d characters."))],
    )




def _full_phones() -> bool:
    return sees_full_phone(current_user.roles)


@bp.app_template_global()
def customer_phone(e164: str | None) -> str:
    """A phone as the current user may see it: whole for calling roles, else masked."""
    return svc.shown_phone(e164, full=_full_phones())


@bp.route("/")
@roles_required(*CUSTOMER_READERS)
def index():
    form = SearchForm(request.args)
    page_no = page_number()
    context = {"form": form, "q": "", "results": None}
    if not form.validate():
        return render("customers/index.html", "customers/_results.html", **context), 422
    q = svc.clean_query(form.q.data)
    results = paginate(svc.search(db.session, q), page_no)
    if page_no > 1 and page_no > results.pages:
        abort(
            404,
            description=_(
                "Page %(page)d does not exist: this list has %(pages)d page(s).",
                page=page_no,
                pages=results.pages,
            ),
        )
    if q:
        svc.record_search(db.session, q, results.total, now=utcnow(), actor=current_actor())
    context.update(q=q, results=results)
    return render("customers/index.html", "customers/_results.html", **context)


@bp.route("/<id:customer_id>")
@roles_required(*CUSTOMER_READERS)
def detail(customer_id: int):
    profile = svc.view_customer(db.session, customer_id, now=utcnow(), actor=current_actor())
    if profile is None:
        abort(404, description=_("There is no customer with the id %(id)d.", id=customer_id))
    return render(
        "customers/detail.html",
        "customers/_detail.html",
        profile=profile,
        c=profile.customer,
        full_phones=_full_phones(),
        timeline=task_service.timeline(db.session, customer_id),
    )


@bp.route("/export.csv")
@roles_required(*EXPORTERS)
def export():
    form = SearchForm(request.args)
    if not form.validate():
        abort(400, description="; ".join(str(e) for e in form.q.errors))
    now = utcnow()
    cap = svc.EXPORT_CAP
    headers = [
        _("Customer no."),
        _("Name"),
        _("Mobile"),
        _("Other phone"),
        _("E-mail"),
        _("City"),
        _("Class"),
        _("Plates"),
        _("VINs"),
        _("Models"),
        _("No calls"),
        _("No SMS"),
        _("No e-mail"),
    ]
    result = svc.export_customers(
        db.session,
        form.q.data,
        full_phones=_full_phones(),
        headers=headers,
        labels={k: str(v) for k, v in CUSTOMER_CLASSES.items()},
        capped_note=_(
            "# Only the first %(cap)s customers are exported: narrow the search to export the rest.",
            cap=format_number(cap),
        ),
        cap=cap,
        now=now,
        actor=current_actor(),
    )
    stamp = format_datetime(now, "yyyyMMdd-HHmm")
    return Response(
        result.text.encode("utf-8"),
        mimetype="text/csv",
        headers={
            "Content-Disposition": f'attachment; filename="customers-{stamp}.csv"',
            "Cache-Control": "no-store",
            "X-Export-Rows": str(result.rows),
        },
    )

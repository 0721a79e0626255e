"""The worklist (today's contacts), the next callable contact and reassignment:
GET /tasks/, GET /tasks/next, POST /tasks/reassign.

The contact and task pages, with their outcome forms, are care/web/contact.py (the same
/tasks/ prefix).
"""

from __future__ import annotations

import json

from flask import Blueprint, abort, current_app, flash, redirect, request, url_for
from flask_babel import gettext as _
from flask_babel import ngettext
from flask_login import current_user

from care.domain.roles import CALLING_ROLES, Role
from care.extensions import db
from care.services import worklist as wl
from care.services.dashboard import my_month
from care.web.access import roles_required
from care.web.auth import _safe_next
from care.web.calls import desk_rates_cache
from care.web.calls import now as request_now
from care.web.htmx import is_htmx, render
from care.web.request_settings import current_settings

bp = Blueprint("worklist", __name__, url_prefix="/tasks")


# === Worklist and reassignment ==========================================================
# GET  /tasks/          worklist.index  today's contacts (page, or _contacts.html for htmx)
# GET  /tasks/next      worklist.next_contact  303 to the next callable contact's page, or
#                       back to the list ("no more callable contacts")
# POST /tasks/reassign  worklist.reassign  move tasks to another owner
# Mutations answer with the HX-Trigger event TASKS_CHANGED ("tasks-changed"); the list
# refreshes itself on it.

# Who has a worklist: everyone who owns or supervises care tasks.
WORKLIST_ROLES = (
    Role.SPECIALIST,
    Role.INSURANCE,
    Role.CONSULTANT,
    Role.CARE_MANAGER,
    Role.SALES_MANAGER,
    Role.GENERAL_MANAGER,
)
REASSIGN_ROLES = tuple(sorted(wl.REASSIGNERS))
# Who is sent to a contact page by "next contact": those who call (the contact page's roles).
NEXT_ROLES = tuple(sorted(CALLING_ROLES))
TASKS_CHANGED = "tasks-changed"
# The query arguments of a worklist filter (carried from the list to the contact pages and on).
FILTER_ARGS = ("type", "status", "due", "owner", "state", "order")


def tasks_changed_header(**detail) -> dict[str, str]:
    """The HX-Trigger header of a mutation of tasks (other sections may use it)."""
    return {"HX-Trigger": json.dumps({TASKS_CHANGED: detail or {"changed": True}})}


def _parse_filter(args) -> wl.WorklistFilter:
    """The worklist filter of a query string (wl.WorklistError when it is garbage)."""
    return wl.parse_filter(
        args.getlist("type"),
        args.get("status"),
        args.get("due"),
        args.get("owner"),
        state=args.get("state"),
        order=args.get("order"),
    )


def _read_filter(args) -> tuple[wl.WorklistFilter, wl.Cursor | None]:
    """The filter and cursor of a query string; 400 with the reason on garbage."""
    try:
        f = _parse_filter(args)
    except wl.WorklistError:
        abort(400, description=_("The worklist filter is not valid: use the filter form."))
    after = None
    raw = (args.get("after") or "").strip()
    if raw:
        try:
            after = wl.Cursor.parse(raw)
        except wl.WorklistError:
            abort(400, description=_("The page link is not valid: go back to the first page."))
    return f, after


def _page_args(page: wl.WorklistPage, *, with_after: bool = True) -> dict:
    args = page.filter.query_args()
    if with_after and page.after is not None:
        args["after"] = page.after.encode()
    return args


def _worklist_context(f: wl.WorklistFilter, after: wl.Cursor | None, **extra) -> dict:
    now = request_now()
    page = wl.worklist(
        db.session,
        f,
        user=current_user,
        now=now,
        after=after,
        page_size=current_app.config["CARE_PAGE_SIZE"],
        desk=desk_rates_cache(),
    )
    loads = wl.load_panel(db.session, now=now) if page.manager_view else []
    can_reassign = bool(set(current_user.roles) & wl.REASSIGNERS)
    context = {
        "listing": page,
        "f": page.filter,
        "args": _page_args(page, with_after=False),
        "self_url": url_for("worklist.index", **_page_args(page)),
        "next_url": (
            url_for("worklist.index", after=page.next_cursor.encode(), **page.filter.query_args())
            if page.next_cursor
            else None
        ),
        "first_url": url_for("worklist.index", **page.filter.query_args()) if page.after else None,
        "loads": loads,
        "owners": [load.user for load in loads if load.user is not None],
        "can_reassign": can_reassign,
        "reassign_url": url_for("worklist.reassign", **_page_args(page)),
        "targets": wl.task_owners(db.session) if can_reassign else [],
        "task_types": wl.TASK_TYPES,
        "status_choices": list(wl.StatusFilter),
        "due_choices": list(wl.DueFilter),
        "state_choices": list(wl.STATE_ORDER),
        "order_choices": list(wl.Order),
        "now": now,
        "reassign_error": None,
        "reassign_messages": [],
    }
    context.update(extra)
    return context


@bp.route("/")
@roles_required(*WORKLIST_ROLES)
def index():
    f, after = _read_filter(request.args)
    context = _worklist_context(f, after)
    if not is_htmx() and not context["listing"].manager_view:
        # A specialist lands here: their own month so far above their contacts (issue 12 item 7).
        context["my_month"] = my_month(db.session, current_user, now=context["now"], settings=current_settings())
    return render("worklist/index.html", "worklist/_contacts.html", **context)


def carried_filter_args(args=None) -> dict:
    """The worklist filter of the current request's query string as URL arguments (the
    contact page keeps the list's filter in its own URL, so "next contact" follows it);
    none when there is none or it is not valid."""
    args = request.args if args is None else args
    if not any(key in args for key in FILTER_ARGS):
        return {}
    try:
        return _parse_filter(args).query_args()
    except wl.WorklistError:
        return {}


def next_contact_url(customer_id: int | None = None) -> str:
    """The "next contact" link: after the customer ``customer_id`` (None: the first callable
    contact), with the filter the page was reached with."""
    args = carried_filter_args()
    if customer_id is not None:
        args["after"] = int(customer_id)
    return url_for("worklist.next_contact", **args)


@bp.app_context_processor
def _next_contact_helpers() -> dict:
    """For templates/worklist/_next_contact.html on any page (the contact page includes it)."""
    return {"next_contact_url": next_contact_url, "worklist_filter_args": carried_filter_args}


def _customer_id(raw: str | None) -> int | None:
    """``after``: a customer id (1 … 2³¹−1), absent or empty for none; 400 otherwise."""
    text = (raw or "").strip()
    if not text:
        return None
    if not (text.isascii() and text.isdigit()) or len(text) > 10 or not 0 < int(text) <= 2**31 - 1:
        abort(400, description=_("The contact to continue after is not valid."))
    return int(text)


@bp.route("/next")
@roles_required(*NEXT_ROLES)
def next_contact():
    """The next contact the user can call now (care.services.worklist.next_callable_contact):
    303 to its contact page, the filter kept in the URL; none left: 303 back to the list
    with the message "No more callable contacts right now". htmx gets HX-Redirect."""
    try:
        f = _parse_filter(request.args)
    except wl.WorklistError:
        abort(400, description=_("The worklist filter is not valid: use the filter form."))
    after = _customer_id(request.args.get("after"))
    found = wl.next_callable_contact(db.session, f, user=current_user, now=request_now(), after=after)
    args = f.query_args()
    if found is not None:
        target = url_for("contact.index", customer_id=found, **args)
    else:
        flash(_("No more callable contacts right now."), "info")
        target = url_for("worklist.index", **args)
    if is_htmx():
        return "", 204, {"HX-Redirect": target}
    return redirect(target, code=303)


def _task_ids(values: list[str]) -> list[int]:
    """``task_id`` fields: one id each, or several comma-separated (a whole contact line)."""
    ids: list[int] = []
    for value in values:
        for part in value.split(","):
            part = part.strip()
            if not part:
                continue
            if not (part.isascii() and part.isdigit()) or len(part) > 10 or int(part) > 2**31 - 1:
                abort(400, description=_("A task id is not a number."))
            ids.append(int(part))
    if len(ids) > wl.MAX_REASSIGN:
        abort(
            400,
            description=_("At most %(max)d tasks can be reassigned at once.", max=wl.MAX_REASSIGN),
        )
    return ids


def _result_messages(result: wl.ReassignResult) -> list[tuple[str, str]]:
    """(category, message) lines that say what happened to each part of the request."""
    who = result.assignee.label
    lines: list[tuple[str, str]] = []
    if result.reassigned:
        lines.append(
            (
                "success",
                ngettext(
                    "%(num)d task reassigned to %(user)s.",
                    "%(num)d tasks reassigned to %(user)s.",
                    len(result.reassigned),
                    user=who,
                ),
            )
        )
    if result.unchanged:
        lines.append(
            (
                "info",
                ngettext(
                    "%(num)d task already belonged to %(user)s.",
                    "%(num)d tasks already belonged to %(user)s.",
                    len(result.unchanged),
                    user=who,
                ),
            )
        )
    if result.closed:
        lines.append(
            (
                "error",
                ngettext(
                    "%(num)d task is closed and was not reassigned: %(ids)s.",
                    "%(num)d tasks are closed and were not reassigned: %(ids)s.",
                    len(result.closed),
                    ids=", ".join(f"#{i}" for i in result.closed),
                ),
            )
        )
    if result.missing:
        lines.append(
            (
                "error",
                ngettext(
                    "%(num)d task does not exist: %(ids)s.",
                    "%(num)d tasks do not exist: %(ids)s.",
                    len(result.missing),
                    ids=", ".join(f"#{i}" for i in result.missing),
                ),
            )
        )
    return lines


def _reassign_error_text(exc: wl.ReassignError) -> str:
    """A ReassignError in the user's language (its English templates, marked here)."""
    p = exc.params
    known = {
        "Your role does not allow reassigning tasks.": lambda: _(
            "Your role does not allow reassigning tasks."
        ),
        "Choose at least one task to reassign.": lambda: _("Choose at least one task to reassign."),
        "At most %(max)d tasks can be reassigned at once.": lambda: _(
            "At most %(max)d tasks can be reassigned at once.", **p
        ),
        "There is no user with the id %(id)d.": lambda: _("There is no user with the id %(id)d.", **p),
        "%(user)s is inactive and cannot take tasks.": lambda: _(
            "%(user)s is inactive and cannot take tasks.", **p
        ),
        wl.NOT_AN_OWNER: lambda: _(
            "%(user)s is not a care specialist, insurance specialist or sales consultant"
            " and cannot take tasks.",
            **p,
        ),
    }
    show = known.get(exc.template)
    return show() if show else str(exc)


@bp.route("/reassign", methods=["POST"])
@roles_required(*REASSIGN_ROLES)
def reassign():
    """Reassign tasks: ``task_id`` (repeated, or comma-separated), ``assignee_id``.

    From the worklist (its filter in the query string): 303 back to the list with a flash,
    or for htmx the refreshed list fragment. With ``next`` (a single-task form on another
    page): 303 to ``next``, or for htmx the ``_reassign.html`` form fragment. Both add the
    HX-Trigger event ``tasks-changed``. Invalid input: 422 (400 for ids that are not ids).
    """
    next_raw = request.form.get("next")
    single = next_raw is not None
    next_url = _safe_next(next_raw) if next_raw and "\\" not in next_raw else None
    if single and next_url is None:
        abort(400, description=_("The address to return to is not valid."))
    f, after = _read_filter(request.args)
    ids = _task_ids(request.form.getlist("task_id"))
    raw_assignee = (request.form.get("assignee_id") or "").strip()
    error = None
    result = None
    if not raw_assignee:
        error = _("Choose who gets the tasks.")
    elif not (raw_assignee.isascii() and raw_assignee.isdigit()) or len(raw_assignee) > 10:
        abort(400, description=_("The chosen user is not valid."))
    else:
        try:
            result = wl.reassign(
                db.session,
                ids,
                int(raw_assignee),
                user=current_user,
                now=request_now(),
                ip=request.remote_addr,
            )
        except wl.ReassignError as exc:  # refused before anything was moved
            error = _reassign_error_text(exc)

    if error is not None:
        if single:
            if is_htmx():
                return render(
                    "worklist/_reassign.html",
                    "worklist/_reassign.html",
                    reassign_task_ids=ids,
                    reassign_next=next_url,
                    reassign_error=error,
                    reassign_messages=[],
                    targets=wl.task_owners(db.session),
                ), 422
            flash(error, "error")
            return redirect(next_url, code=303)
        context = _worklist_context(f, after, reassign_error=error)
        return render("worklist/index.html", "worklist/_contacts.html", **context), 422

    messages = _result_messages(result)
    if not result.reassigned and not result.unchanged:
        status_code = 422  # nothing could be reassigned: every task was closed or unknown
    else:
        status_code = 200
    if is_htmx():
        trigger = tasks_changed_header(
            source="reassign", reassigned=len(result.reassigned), refreshed="" if single else "worklist"
        )
        if single:
            body = render(
                "worklist/_reassign.html",
                "worklist/_reassign.html",
                reassign_task_ids=ids,
                reassign_next=next_url,
                reassign_error=None,
                reassign_messages=messages,
                reassign_current=result.assignee.id,
                targets=wl.task_owners(db.session),
            )
        else:
            body = render(
                "worklist/index.html",
                "worklist/_contacts.html",
                **_worklist_context(f, after, reassign_messages=messages),
            )
        return body, status_code, trigger if result.reassigned else {}
    for category, message in messages:
        flash(message, category)
    target = next_url or url_for("worklist.index", **f.query_args(), **({"after": after.encode()} if after else {}))
    return redirect(target, code=303)

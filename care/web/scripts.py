"""Scripts (话术): the list, one task type's script and its editor, old versions with their
diff, a preview on a real customer, and outcomes per version.

Reading is open to the roles that call or supervise calls; only the care manager saves a
new version (domain.md §1). The preview shows a customer's data, so it is audited as a
customer view (care.services.scripts.preview).
"""

from __future__ import annotations

from datetime import timedelta

from flask import Blueprint, abort, flash, redirect, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from sqlalchemy.exc import IntegrityError
from wtforms import HiddenField, StringField, TextAreaField

from care.domain import scripts as dom
from care.domain.roles import Role
from care.domain.task_rules import TaskType
from care.extensions import db
from care.models.types import utcnow
from care.services import ServiceError
from care.services import scripts as svc
from care.web.access import roles_required, user_can
from care.web.htmx import render
from care.web.labels import SCRIPT_FIELD_GROUPS, outcome_label, task_type_label

bp = Blueprint("scripts", __name__, url_prefix="/scripts")

READERS = (Role.CARE_MANAGER, Role.GENERAL_MANAGER, Role.SPECIALIST, Role.INSURANCE, Role.CONSULTANT)
EDITORS = (Role.CARE_MANAGER,)
LIVE_PREVIEW_AUDIT_WINDOW = timedelta(minutes=10)
MAX_VERSION_DIGITS = 9

# The English descriptions of the merge fields (care/domain/scripts.py marks them with
# N_, so the extractor sees them there); translated where shown.


class ScriptForm(FlaskForm):
    title = StringField(_l("Title"))
    body = TextAreaField(_l("Script"))
    note = StringField(_l("What changed"))
    base_version = HiddenField()
    customer = StringField(_l("Preview on customer (customer no. or id)"))


# --- helpers ---------------------------------------------------------------------------


def _task_type(value: str) -> TaskType:
    try:
        return TaskType(value)
    except ValueError:
        abort(404, description=_("There is no task type “%(value)s”.", value=value[:40]))


def _label(tt: TaskType) -> str:
    return task_type_label(tt.value)


def _outcome_labels(tt: TaskType, codes: list[str]) -> dict[str, str]:
    """Outcome codes in the user's language (the code itself when unknown)."""
    return {code: outcome_label(tt.value, code) for code in codes}


def _version_arg(raw: str | None) -> int | None:
    """?version=N: None when absent or empty; 400 when not a whole number."""
    raw = (raw or "").strip()
    if not raw:
        return None
    if not (raw.isascii() and raw.isdigit()) or len(raw) > MAX_VERSION_DIGITS or int(raw) < 1:
        abort(400, description=_("The version must be a whole number from 1 on."))
    return int(raw)


def _problem_text(p: dom.TemplateProblem) -> str:
    return _("Line %(line)s, column %(column)s: %(problem)s", line=p.line, column=p.column, problem=_(p.message, **p.params))


def _utf16(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def _error_text(exc: ServiceError) -> str:
    return _(exc.template, **exc.params) if exc.template else str(exc)


def _fields_reference() -> list[dict]:
    return [
        {
            "key": group,
            "name": str(SCRIPT_FIELD_GROUPS[group]),
            "fields": [f for f in dom.FIELDS if f.group == group],
        }
        for group in dom.GROUPS
    ]


def _script_context(tt: TaskType, form: ScriptForm | None = None, **extra) -> dict:
    current = svc.current_version(db.session, tt)
    can_edit = user_can("scripts.save")
    if form is None and can_edit:
        form = ScriptForm(
            data={
                "title": current.title if current else dom.DEFAULT_SCRIPTS[tt][0],
                "body": current.body if current else "",
                "base_version": str(current.version if current else 0),
            }
        )
    body = form.body.data if form is not None else (current.body if current else "")
    sample = svc.preview(db.session, tt, body=body or "", customer=None, user=current_user, now=utcnow())
    context = {
        "tt": tt,
        "label": _label(tt),
        "current": current,
        "versions": svc.versions(db.session, tt),
        "form": form,
        "can_edit": can_edit,
        "groups": _fields_reference(),
        "current_pieces": dom.parse(current.body).pieces if current else (),
        "preview": sample,
        "problems": [],
        "errors": {},
        "top_error": None,
    }
    context.update(extra)
    return context


# --- pages -----------------------------------------------------------------------------


@bp.route("/")
@roles_required(*READERS)
def index():
    rows = svc.overview(db.session)
    labels = {row.task_type: _label(row.task_type) for row in rows}
    return render("scripts/index.html", "scripts/_list.html", rows=rows, labels=labels)


@bp.route("/<task_type>", methods=["GET"])
@roles_required(*READERS)
def script(task_type: str):
    tt = _task_type(task_type)
    return render("scripts/script.html", "scripts/_script.html", **_script_context(tt))


@bp.route("/<task_type>", methods=["POST"])
@roles_required(*EDITORS)
def save(task_type: str):
    tt = _task_type(task_type)
    form = ScriptForm()
    if not form.validate_on_submit():  # only the CSRF token can fail here
        abort(400)
    base_raw = (form.base_version.data or "").strip()
    base = int(base_raw) if base_raw.isascii() and base_raw.isdigit() and len(base_raw) <= MAX_VERSION_DIGITS else None
    try:
        sv = svc.save_version(
            db.session,
            tt,
            title=form.title.data,
            body=form.body.data,
            note=form.note.data,
            user=current_user,
            now=utcnow(),
            base_version=base,
            ip=request.remote_addr,
        )
        db.session.flush()  # two saves of the same version number meet here (IntegrityError)
    except svc.ScriptInvalid as exc:  # the refusals below come before any write
        form.body.data = dom.normalize_body(form.body.data or "")  # positions refer to this text
        body = form.body.data
        problems = [
            # the browser counts UTF-16 code units, Python code points
            {"text": _problem_text(p), "offset": _utf16(body[: p.offset]), "length": _utf16(body[p.offset : p.offset + p.length])}
            for p in exc.problems
        ]
        return _invalid(tt, form, problems=problems, top_error=_error_text(exc))
    except svc.VersionConflict as exc:
        # The next save compares with the version now current.
        form.base_version.data = str(exc.current.version)
        return _invalid(tt, form, top_error=_error_text(exc), conflict=exc.current, status=409)
    except ServiceError as exc:
        return _invalid(tt, form, errors={exc.field or "body": _error_text(exc)}, top_error=_error_text(exc))
    except IntegrityError:  # two saves of the same version number at the same moment
        db.session.rollback()  # the failed flush leaves the session unusable until rolled back
        return _invalid(
            tt, form, top_error=_("Someone saved this script at the same moment; save again."), status=409
        )
    flash(_("Version %(version)s of “%(title)s” saved.", version=sv.version, title=sv.title), "success")
    return redirect(url_for("scripts.script", task_type=tt.value), code=303)


def _invalid(tt: TaskType, form: ScriptForm, status: int = 422, **extra):
    return render("scripts/script.html", "scripts/_script.html", **_script_context(tt, form, **extra)), status


@bp.route("/<task_type>/versions/<id:version>")
@roles_required(*READERS)
def version(task_type: str, version: int):
    tt = _task_type(task_type)
    sv = svc.get_version(db.session, tt, version)
    if sv is None:
        abort(404, description=_("%(script)s has no version %(version)s.", script=_label(tt), version=version))
    previous = svc.previous_version(db.session, sv)
    current = svc.current_version(db.session, tt)
    diff = dom.diff_lines(previous.body, sv.body) if previous else []
    return render(
        "scripts/version.html",
        "scripts/_version.html",
        tt=tt,
        label=_label(tt),
        sv=sv,
        previous=previous,
        current=current,
        diff=diff,
        title_changed=previous is not None and previous.title != sv.title,
        pieces=dom.parse(sv.body).pieces,
    )


def _preview_page(tt: TaskType, *, body: str, sv, customer_ref: str, status: int = 200, live: bool = False):
    customer = None
    error = None
    if customer_ref:
        customer = svc.find_customer(db.session, customer_ref)
        if customer is None:
            error = _("There is no customer with the number or id “%(ref)s”.", ref=customer_ref[:40])
            status = 404
    result = svc.preview(
        db.session,
        tt,
        body=body,
        customer=customer,
        version=sv,
        user=current_user,
        now=utcnow(),
        ip=request.remote_addr,
        audit_once_within=LIVE_PREVIEW_AUDIT_WINDOW if live else None,
    )
    problems = [_problem_text(p) for p in dom.validate(body)] if live else []
    return (
        render(
            "scripts/preview.html",
            "scripts/_preview.html",
            tt=tt,
            label=_label(tt),
            preview=result,
            sv=sv,
            versions=svc.versions(db.session, tt),
            customer_ref=customer_ref,
            error=error,
            preview_problems=problems,
            live=live,
        ),
        status,
    )


@bp.route("/<task_type>/preview", methods=["GET"])
@roles_required(*READERS)
def preview(task_type: str):
    """?customer=<customer no. or id>&version=<n>: the script on a real customer's data
    (sample values when no customer is given)."""
    tt = _task_type(task_type)
    number = _version_arg(request.args.get("version"))
    sv = svc.get_version(db.session, tt, number) if number else svc.current_version(db.session, tt)
    if sv is None:
        if number:
            abort(404, description=_("%(script)s has no version %(version)s.", script=_label(tt), version=number))
        abort(404, description=_("%(script)s has no script yet.", script=_label(tt)))
    ref = (request.args.get("customer") or "").strip()[: svc.MAX_CUSTOMER_REF + 1]
    return _preview_page(tt, body=sv.body, sv=sv, customer_ref=ref)


@bp.route("/<task_type>/preview", methods=["POST"])
@roles_required(*EDITORS)
def preview_live(task_type: str):
    """The editor's text, unsaved, rendered (htmx: the preview panel beside the editor)."""
    tt = _task_type(task_type)
    form = ScriptForm()
    if not form.validate_on_submit():
        abort(400)
    body = dom.normalize_body(form.body.data or "")
    if len(body) > dom.MAX_BODY:
        abort(413, description=_("The script may have at most %(max)s characters.", max=dom.MAX_BODY))
    ref = (form.customer.data or "").strip()[: svc.MAX_CUSTOMER_REF + 1]
    return _preview_page(tt, body=body, sv=None, customer_ref=ref, live=True)


@bp.route("/<task_type>/stats")
@roles_required(*READERS)
def stats(task_type: str):
    tt = _task_type(task_type)
    stats = svc.outcome_stats(db.session, tt)
    return render(
        "scripts/stats.html",
        "scripts/_stats.html",
        tt=tt,
        label=_label(tt),
        stats=stats,
        outcome_labels=_outcome_labels(tt, stats.outcomes),
    )

"""DMS import page: upload a CSV/XLSX export, follow its progress, see and download rejects,
and map the staff names of the files that are no user (care/services/staff_names.py).

GET  /imports/                      imports.index       upload form, unknown staff names, past runs
POST /imports/                      imports.upload      import a file (303 to its run)
GET  /imports/<run_id>              imports.run         a run: counts, what happened, rejects, warnings
GET  /imports/<run_id>/rejects.csv  imports.rejects_csv the rejected rows, to correct and import again
POST /imports/staff-names           imports.map_name    map a staff name to a user, once

The mapping form posts `name`, `user_id` and `run` (the run page it was sent from, or
empty for the import page). htmx: the staff-names section is swapped (422/409 with the
reason). Without htmx: 303 back with a flash, or the page again with the reason.

The page and `care import` call the same service (care/services/imports.py), so a file
gives the same result from either. With `CARE_IMPORT_IN_BACKGROUND` the upload is kept
under instance/uploads/ and imported by a thread (`care.services.imports.start_worker`:
its own session, committing per chunk) started once the request has committed the
queued run, while the run page polls its progress; otherwise (tests) the import runs
inside the request.

A crash (kill -9) can leave a run "running" and its upload behind: the first request
after a start (:func:`_after_a_start`), the import list and `care sweep` mark such runs
interrupted, and the first request deletes the uploads no live run can still be reading.
"""

from __future__ import annotations

import logging
import re
import uuid
from datetime import timedelta
from functools import cache
from pathlib import Path

from flask import Blueprint, Response, abort, current_app, flash, redirect, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileAllowed, FileField, FileRequired
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import sessionmaker
from wtforms import BooleanField, SelectField

try:  # WTForms ≥ 3.3 deprecates (value, label) tuples
    from wtforms import SelectChoice as _choice
except ImportError:  # pragma: no cover - older WTForms

    def _choice(value, label):
        return (value, label)


from care.domain.dms import KINDS as KIND_SPECS
from care.domain.roles import IMPORTERS
from care.extensions import db
from care.models import ImportRun
from care.models.types import MAX_INTEGER, utcnow
from care.services import imports as import_service
from care.services import staff_names
from care.services.imports import FILE_MESSAGES, KINDS, REJECTS_KEPT, ImportFileError
from care.web.access import current_actor, roles_required
from care.web.htmx import is_htmx, render
from care.web.labels import IMPORT_KINDS, role_label
from care.web.paging import Pager, page_number, paginate
from care.web.unit_of_work import WEBHOOK_PREFIX, after_commit, keep_on_error

bp = Blueprint("imports", __name__, url_prefix="/imports")

REJECTS_PER_PAGE = 50
WARNINGS_SHOWN = 100  # warnings listed on a run's page (all are counted)
_STARTED = "care_imports_checked"  # app.extensions: the first request did its check

log = logging.getLogger("care.imports")


def _stale_after() -> timedelta:
    return timedelta(minutes=current_app.config["CARE_IMPORT_STALE_MINUTES"])


def _uploads() -> Path:
    return Path(current_app.instance_path) / "uploads"


@bp.before_app_request
def _after_a_start() -> None:
    """Once per process, at its first request (committed with it): the runs a crash cut
    off are marked interrupted and the uploads they left are deleted. Cheap: one query
    when nothing is left over. Not on a webhook (which commits its own work)."""
    app = current_app._get_current_object()
    if app.extensions.get(_STARTED) or request.path.startswith(WEBHOOK_PREFIX):
        return
    app.extensions[_STARTED] = True
    now = utcnow()
    try:
        import_service.interrupt_stale_runs(db.session, now=now, stale_after=_stale_after())
        import_service.delete_orphan_uploads(db.session, _uploads(), now=now, stale_after=_stale_after())
    except SQLAlchemyError as exc:  # no schema yet, database away: the request answers for itself
        db.session.rollback()
        log.warning("import start-up check skipped (%s)", type(exc).__name__)


class UploadForm(FlaskForm):
    kind = SelectField(_l("Kind of file"), choices=[_choice(k, IMPORT_KINDS[k]) for k in KINDS])
    file = FileField(
        _l("File (.csv or .xlsx)"),
        validators=[
            FileRequired(_l("Choose a file to import.")),
            FileAllowed(["csv", "xlsx"], _l("Only .csv and .xlsx files can be imported.")),
        ],
    )
    strict = BooleanField(_l("Strict: import nothing when any row is invalid"))


# --- messages ------------------------------------------------------------------------------


def translated(template: str, params: dict | None) -> str:
    """An English message id with its parameters, in the user's language."""
    return _(template, **params) if params else _(template)


@cache
def _file_patterns() -> tuple[tuple[re.Pattern, str], ...]:
    out = []
    for template in FILE_MESSAGES:
        parts = re.split(r"%\((\w+)\)s", template)
        regex = "".join(
            re.escape(part) if i % 2 == 0 else f"(?P<{part}>.*)" for i, part in enumerate(parts)
        )
        out.append((re.compile(f"^{regex}$", re.S), template))
    return tuple(out)


def run_error(run: ImportRun) -> str | None:
    """The stored (English) reason a run failed, translated when it is one of ours."""
    if not run.error:
        return None
    for pattern, template in _file_patterns():
        m = pattern.match(run.error)
        if m:
            return translated(template, m.groupdict())
    return run.error


def reject_message(entry: dict) -> str:
    if entry.get("template"):
        return translated(entry["template"], entry.get("params"))
    return entry.get("error", "")


def warning_message(entry: dict) -> str:
    if entry.get("template"):
        return translated(entry["template"], entry.get("params"))
    return entry.get("warning", "")


# --- staff names ---------------------------------------------------------------------------


def _staff_names(run: ImportRun | None = None, *, done: str | None = None, failed: dict | None = None) -> dict:
    """The staff-names section: on the import page every name stored without a user; on a
    run's page the names its warnings reported, mapped or not. Each entry: the name, its
    rows still without a user per kind, its mapping, the users to choose from (those of
    the fitting role first)."""
    if run is None:
        names = None
        pending = staff_names.unknown_names(db.session)
        mapped = {}
        order = [u.name for u in pending]
    else:
        order = import_service.warned_names(run)
        names = order
        pending = staff_names.unknown_names(db.session, names)
        mapped = {m.name: m for m in staff_names.mappings(db.session, names)}
    by_name = {u.name: u for u in pending}
    users = staff_names.mapping_choices(db.session) if pending or names else []
    entries = []
    for name in order:
        unknown = by_name.get(name)
        roles = unknown.roles if unknown else frozenset()
        fitting, others = staff_names.users_with_roles(users, roles)
        entries.append(
            {
                "name": name,
                "rows": unknown.rows if unknown else {},
                "mapping": mapped.get(name),
                "fitting": fitting,
                "fitting_label": " / ".join(sorted(role_label(r) for r in roles)),
                "others": others,
            }
        )
    return {
        "staff_names": entries,
        "staff_run": run,
        "staff_done": done,
        "staff_failed": failed,
        "mapped_names": staff_names.mappings(db.session) if run is None else [],
    }


def _run_context(run: ImportRun, **staff) -> dict:
    rejects = run.rejects or []
    pager = Pager.of(len(rejects), page_number(), REJECTS_PER_PAGE, clamp=True)
    warnings = run.warnings or []
    polling = run.status in ("queued", "running")
    return {
        "run": run,
        "polling": polling,
        "rejects": pager.slice(rejects),
        "pager": pager,
        "capped": run.rejected > 0 and len(rejects) >= REJECTS_KEPT,
        "kept": REJECTS_KEPT,
        "run_error": run_error(run),
        "reject_message": reject_message,
        "warnings": warnings[:WARNINGS_SHOWN],
        "warnings_more": max(len(warnings) - WARNINGS_SHOWN, 0),
        "warning_message": warning_message,
        # the staff names are shown once the run is over (not looked up at every poll)
        **(_staff_names(run, **staff) if not polling else {"staff_names": []}),
    }


# --- pages ---------------------------------------------------------------------------------


def _index(form: UploadForm, status: int = 200):
    import_service.interrupt_stale_runs(db.session, now=utcnow(), stale_after=_stale_after())
    runs = paginate(
        import_service.runs_statement()
    )
    return (
        render(
            "imports/index.html",
            "imports/_runs.html",
            form=form,
            runs=runs,
            kinds=KIND_SPECS,
            **_staff_names(),
        ),
        status,
    )


@bp.get("/")
@roles_required(*IMPORTERS)
def index():
    return _index(UploadForm())


@bp.post("/")
@roles_required(*IMPORTERS)
def upload():
    form = UploadForm()
    if not form.validate_on_submit():
        return _index(form, 422)
    storage = form.file.data
    filename = _client_filename(storage.filename)
    saved = _save(storage, Path(filename).suffix.lower())
    kind, strict = form.kind.data, bool(form.strict.data)
    options = {
        "filename": filename,
        "strict": strict,
        "actor": current_actor(),
    }
    handed_over = False  # the background worker deletes the upload when it is done
    try:
        if current_app.config["CARE_IMPORT_IN_BACKGROUND"]:
            run = import_service.queue_run(db.session, kind, saved, now=utcnow(), **options)
            run_id, sessions = run.id, sessionmaker(bind=db.engine)
            # the worker reads the run: it starts once the request has committed it
            after_commit(
                lambda: import_service.start_worker(sessions, run_id, kind, saved, **options),
                otherwise=lambda: saved.unlink(missing_ok=True),
            )
            handed_over = True
            return redirect(url_for(".run", run_id=run_id), code=303)
        run = import_service.run_import(db.session, kind, saved, now=utcnow(), **options)
    except ImportFileError as exc:
        if exc.run is None:  # refused by the early check: recorded as a failed run all the same
            import_service.record_refusal(db.session, kind, exc, now=utcnow(), **options)
        keep_on_error()  # the 422 below: the failed run and its audit entry are a record
        form.file.errors.append(translated(exc.template, exc.params))
        return _index(form, 422)
    finally:
        if not handed_over:
            saved.unlink(missing_ok=True)
    if run.status == "done" and run.rejected and run.rejected >= run.total_rows:
        flash(_("No row was imported: every row was rejected."), "error")
    elif run.status == "done" and run.rejected:
        flash(_("The file was imported except %(count)s rejected row(s).", count=run.rejected), "info")
    elif run.status == "done" and run.warned:
        flash(_("The file was imported, with warnings about %(count)s row(s).", count=run.warned), "info")
    elif run.status == "done":
        flash(_("The file was imported."), "success")
    return redirect(url_for(".run", run_id=run.id), code=303)


@bp.get("/<id:run_id>")
@roles_required(*IMPORTERS)
def run(run_id: int):
    run = db.get_or_404(ImportRun, run_id)
    import_service.mark_interrupted(db.session, run, now=utcnow(), stale_after=_stale_after())
    return render("imports/run.html", "imports/_run.html", **_run_context(run))


@bp.get("/<id:run_id>/rejects.csv")
@roles_required(*IMPORTERS)
def rejects_csv(run_id: int):
    run = db.get_or_404(ImportRun, run_id)
    text = import_service.export_rejects(
        db.session,
        run,
        row_header=_("Row in the file"),
        problems_header=_("Problems"),
        message=reject_message,
        actor=current_actor(),
        now=utcnow(),
    )
    return Response(
        text.encode("utf-8"),
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="import-{run.id}-rejects.csv"'},
    )


@bp.post("/staff-names")
@roles_required(*IMPORTERS)
def map_name():
    run = _origin_run()
    name = request.form.get("name", "")
    user_id = _user_id(request.form.get("user_id"))
    try:
        result = staff_names.map_name(db.session, name, user_id, actor=current_actor(), now=utcnow())
    except staff_names.MappingError as exc:
        failed = {"name": staff_names.clean_name(name), "message": translated(exc.template, exc.params)}
        return _staff_answer(run, failed=failed), exc.status
    done = _mapped_message(result)
    if is_htmx():
        return _staff_answer(run, done=done)
    flash(done, "success")
    target = url_for(".run", run_id=run.id) if run is not None else url_for(".index")
    return redirect(target, code=303)


def _staff_answer(run: ImportRun | None, **staff):
    """The staff-names section (htmx), or the whole page it was sent from."""
    if is_htmx():
        return render("imports/_staff_names.html", "imports/_staff_names.html", **_staff_names(run, **staff))
    if run is not None:
        return render("imports/run.html", "imports/_run.html", **_run_context(run, **staff))
    import_service.interrupt_stale_runs(db.session, now=utcnow(), stale_after=_stale_after())
    return render(
        "imports/index.html",
        "imports/_runs.html",
        form=UploadForm(formdata=None),
        runs=paginate(import_service.runs_statement()),
        kinds=KIND_SPECS,
        **_staff_names(**staff),
    )


def _mapped_message(result: staff_names.MappingResult) -> str:
    rows = sum(result.rows.values())
    return _(
        "“%(name)s” is mapped to %(user)s: %(rows)s imported row(s) and %(tasks)s open post-delivery call(s) now have this user.",
        name=result.mapping.name,
        user=result.mapping.user.label,
        rows=rows,
        tasks=len(result.tasks),
    )


def _origin_run() -> ImportRun | None:
    """The run whose page sent the form (field `run`), or None for the import page."""
    raw = (request.form.get("run") or "").strip()
    if not raw:
        return None
    if not (raw.isascii() and raw.isdigit()) or not 0 < int(raw) <= MAX_INTEGER:
        abort(404)
    return db.get_or_404(ImportRun, int(raw))


def _user_id(raw: str | None) -> int | None:
    raw = (raw or "").strip()
    if raw.isascii() and raw.isdigit() and 0 < int(raw) <= MAX_INTEGER:
        return int(raw)
    return None


# --- helpers -------------------------------------------------------------------------------


def _client_filename(name: str | None) -> str:
    """The file's own name as the user knows it (Chinese kept), without any path."""
    base = re.split(r"[\\/]", name or "")[-1].strip()
    base = re.sub(r"[\x00-\x1f\x7f]", "", base)
    return base[-255:] or "upload"


def _save(storage, ext: str) -> Path:
    folder = _uploads()
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{uuid.uuid4().hex}{ext}"
    storage.save(path)
    return path

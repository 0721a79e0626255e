"""DMS import page: upload a CSV/XLSX export, follow its progress, see and download rejects.

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

from flask import Blueprint, Response, current_app, flash, redirect, request, url_for
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
from care.models.types import utcnow
from care.services import imports as import_service
from care.services.imports import FILE_MESSAGES, KINDS, REJECTS_KEPT, ImportFileError
from care.web.access import current_actor, roles_required
from care.web.htmx import render
from care.web.labels import IMPORT_KINDS
from care.web.paging import Pager, page_number, paginate
from care.web.unit_of_work import WEBHOOK_PREFIX, after_commit, keep_on_error

bp = Blueprint("imports", __name__, url_prefix="/imports")

REJECTS_PER_PAGE = 50
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
    if run.status == "done" and run.rejected:
        flash(_("The file was imported except %(count)s rejected row(s).", count=run.rejected), "info")
    elif run.status == "done":
        flash(_("The file was imported."), "success")
    return redirect(url_for(".run", run_id=run.id), code=303)


@bp.get("/<id:run_id>")
@roles_required(*IMPORTERS)
def run(run_id: int):
    run = db.get_or_404(ImportRun, run_id)
    import_service.mark_interrupted(db.session, run, now=utcnow(), stale_after=_stale_after())
    rejects = run.rejects or []
    pager = Pager.of(len(rejects), page_number(), REJECTS_PER_PAGE, clamp=True)
    return render(
        "imports/run.html",
        "imports/_run.html",
        run=run,
        polling=run.status in ("queued", "running"),
        rejects=pager.slice(rejects),
        pager=pager,
        capped=run.rejected > 0 and len(rejects) >= REJECTS_KEPT,
        kept=REJECTS_KEPT,
        run_error=run_error(run),
        reject_message=reject_message,
    )


@bp.get("/<id:run_id>/rejects.csv")
@roles_required(*IMPORTERS)
def rejects_csv(run_id: int):
    run = db.get_or_404(ImportRun, run_id)
    text = import_service.export_rejects(
        db.session,
        run,
        headers=[_("Row"), _("Column"), _("Problem")],
        message=reject_message,
        actor=current_actor(),
        now=utcnow(),
    )
    return Response(
        text.encode("utf-8"),
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="import-{run.id}-rejects.csv"'},
    )


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

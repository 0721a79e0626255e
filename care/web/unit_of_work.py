"""One commit per request: the unit of work of every page and form (architecture.md).

Services add and flush; views never commit. When the view (or an error handler) has
answered, :func:`finish` ends the request's transaction in this one place:

- an answer below 400 commits. A commit that fails turns the answer into a 500 error
  page ("nothing was saved"), and the session cookie goes back as the browser sent it:
  no log-in, language choice or "saved" message outlives the lost work;
- an answer of 400 or more rolls back. An exception rolls back too: the error handlers
  turn it into such an answer (and :func:`discard` the work), and an exception that no
  handler answers is rolled back when the request is torn down;
- a request that wrote nothing sends no COMMIT: its read transaction is rolled back.

The hook is ``after_request``: it runs after the view *and* after the error handlers,
before anything is sent, and may replace the answer (``teardown_request`` runs after the
answer is gone, too late to report a failed commit). A streamed body would run after
the commit: no view streams, and a write left uncommitted at teardown is logged.

The deliberate exceptions, each with its reason where it happens:

- :func:`keep_on_error`: a refusal that is itself a record — the failure count and audit
  row of a refused log-in, the failed run of a refused import file, a call attempt the
  provider would not place (502), the audit row of a customer page shown again with a
  form's errors (422) — is committed although the answer is an error;
- the call start commits its attempt *before* ringing (care/web/calls.py): the provider's
  callbacks name the attempt, which must exist by then;
- the webhooks (``/webhooks/``) store their event with their own statement and commit
  (care/services/call_event_store.py ``ingest``); this unit of work leaves them alone;
- threads outside a request (the import worker's progress, the scheduler, the applier)
  commit their own sessions.

:func:`after_commit` runs work that needs the committed rows (the import worker reads
the run this request created) only once the commit has succeeded.

The CLI follows the same rule, one commit per command (care/cli.py ``transaction``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from flask import Flask, current_app, g, request, session
from sqlalchemy import event

from care.extensions import db

log = logging.getLogger("care.web")

WEBHOOK_PREFIX = "/webhooks/"
_WROTE = "care_wrote"  # Connection.info: this transaction sent a statement that writes
_READS = ("SELECT", "PRAGMA")  # statements that start so write nothing
_ERROR_RESPONSE = "care_error_response"


def init_app(app: Flask, *, error_response: Callable[[int, str], object]) -> None:
    """Register the hooks; call after every other ``after_request`` hook is registered, so
    that this one runs first and the others (headers) apply to its error page too.
    ``error_response(status, message)``: the app's error page, for a failed commit."""
    app.extensions[_ERROR_RESPONSE] = error_response
    with app.app_context():
        _watch_writes(db.engine)
    app.after_request(finish)
    app.teardown_request(_teardown)


def keep_on_error() -> None:
    """Commit this request's writes although its answer is an error (>= 400).

    Only for a refusal that is itself a record (see the module docstring), and only when
    everything written so far belongs to that record. An exception after this call still
    rolls everything back.
    """
    g.care_keep_on_error = True


def after_commit(callback: Callable[[], None], *, otherwise: Callable[[], None] | None = None) -> None:
    """Run ``callback`` once the request's commit has succeeded (``otherwise`` if the work is
    rolled back or the commit fails instead)."""
    g.setdefault("care_after_commit", []).append((callback, otherwise))


def discard() -> None:
    """Roll back the request's work now (the error handlers: an exception ends it)."""
    g.care_keep_on_error = False
    if not request.path.startswith(WEBHOOK_PREFIX):
        db.session.rollback()


def commit_failed() -> bool:
    """True when this request's commit failed (its session cookie is then not saved)."""
    return bool(g.get("care_commit_failed"))


def finish(response):
    """The ``after_request`` hook: commit below 400, roll back otherwise (see above)."""
    if request.path.startswith(WEBHOOK_PREFIX):  # their own write, their own commit
        return response
    keep = g.pop("care_keep_on_error", False)
    callbacks = g.pop("care_after_commit", [])
    if response.status_code >= 400 and not keep:
        db.session.rollback()
        _run(callbacks, committed=False)
        return response
    if not _has_writes():
        db.session.rollback()  # end the read transaction: nothing to commit
        _run(callbacks, committed=True)
        return response
    try:
        db.session.commit()
    except Exception as exc:  # noqa: BLE001 - any failure: nothing was saved, say so
        db.session.rollback()
        # The type and place only: the message may carry customer data.
        log.error("commit failed (%s) at %s %s", type(exc).__name__, request.method, request.path)
        _run(callbacks, committed=False)
        return _failed_commit_response()
    _run(callbacks, committed=True)
    return response


def _run(callbacks: list, *, committed: bool) -> None:
    for callback, otherwise in callbacks:
        if committed:
            callback()
        elif otherwise is not None:
            otherwise()


def _failed_commit_response():
    from flask_babel import gettext as _

    g.care_commit_failed = True
    session.pop("_flashes", None)  # no "saved" message for work that was not saved
    session.pop("_remember", None)  # Flask-Login sets no remember cookie either
    return current_app.make_response(
        current_app.extensions[_ERROR_RESPONSE](500, _("Something went wrong on our side. Nothing was saved; please try again."))
    )


def _teardown(exc) -> None:
    if request.path.startswith(WEBHOOK_PREFIX):
        return
    if exc is None and _has_writes():  # written after the commit (a streamed body?)
        log.error("writes after the commit were rolled back at %s %s", request.method, request.path)
    db.session.rollback()


def _has_writes() -> bool:
    """Whether the request's session has anything to commit: objects not flushed yet, or a
    statement that writes sent in its transaction (an INSERT … by the ORM or by a
    service's bulk statement alike)."""
    s = db.session()
    if s.new or s.deleted or s.dirty:
        return True
    if not s.in_transaction():
        return False
    return bool(s.connection().info.get(_WROTE))


def _watch_writes(engine) -> None:
    """Mark the connection of a transaction that sent a statement other than a read."""
    if getattr(engine, "_care_watched", False):
        return
    engine._care_watched = True

    @event.listens_for(engine, "begin")
    def _begin(conn):
        conn.info.pop(_WROTE, None)

    @event.listens_for(engine, "before_cursor_execute")
    def _statement(conn, cursor, statement, parameters, context, executemany):
        if not conn.info.get(_WROTE) and not statement.lstrip().upper().startswith(_READS):
            conn.info[_WROTE] = True

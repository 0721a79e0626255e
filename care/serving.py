"""Whether this process serves requests: the threads of care/scheduler.py and
care/applier.py start only there (not in tests, not in a `flask care …` command)."""

from __future__ import annotations

import os

import click
from flask import Flask


def serving(app: Flask) -> bool:
    """True when a WSGI server imported the app (no click context) or this is ``flask
    run``'s serving process; False in tests and in every other CLI command."""
    if app.testing:
        return False
    ctx = click.get_current_context(silent=True)
    if ctx is None:
        return True  # a WSGI server (gunicorn …) imported the app
    if ctx.command.name != "run":
        return False  # `flask care …`, `flask shell` …: not serving
    reload = ctx.params.get("reload")
    if reload is None:
        from flask.helpers import get_debug_flag

        reload = get_debug_flag()
    # With the reloader, the first process only watches files; its child serves.
    return not reload or os.environ.get("WERKZEUG_RUN_MAIN") == "true"

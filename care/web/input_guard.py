"""A request hook: query and form text that no database column can hold is a 400.

PostgreSQL refuses a NUL character in any text value (``DataError``), so a ``%00`` in a
search box or a form field was a 500 there (and stored on SQLite). No page or webhook
has a use for it: such a request is refused before any view reads it (issue 9).
"""

from __future__ import annotations

from flask import abort, request
from flask_babel import gettext as _


def refuse_unstorable_input() -> None:
    for values in (request.args, request.form):
        for key, items in values.lists():
            if "\x00" in key or any("\x00" in item for item in items):
                abort(400, description=_("The request contains a NUL character, which cannot be stored."))

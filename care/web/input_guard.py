"""A request hook for text that no database column can hold: NUL.

PostgreSQL refuses a NUL character in any text value (``DataError``), so a ``%00`` in a
filter or a form field was a 500 there (and stored as typed on SQLite). No page or
webhook has a use for it (issue 9):

- in the query string (filters, searches: read-only) it is dropped, as the customer
  search already did, so an odd search stays no error;
- in a form body (a write) the request is refused with 400 before any view reads it.
"""

from __future__ import annotations

from flask import abort, request
from flask_babel import gettext as _
from werkzeug.datastructures import ImmutableMultiDict

NUL = "\x00"


def refuse_unstorable_input() -> None:
    args = request.args
    if any(NUL in key or any(NUL in item for item in items) for key, items in args.lists()):
        request.args = ImmutableMultiDict(
            [(key.replace(NUL, ""), item.replace(NUL, "")) for key, items in args.lists() for item in items]
        )
    if request.method in ("GET", "HEAD", "OPTIONS"):
        return
    for key, items in request.form.lists():
        if NUL in key or any(NUL in item for item in items):
            abort(400, description=_("The request contains a NUL character, which cannot be stored."))

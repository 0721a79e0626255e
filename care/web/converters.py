"""URL converters of the app, registered by care/web/__init__.py before the blueprints.

`<id:name>` is an object id: a whole number from 1 to the largest INTEGER of the database
(2³¹−1). Anything else, an oversized id too, does not match the route, so the answer is a
plain 404 and no query ever sees a number the column cannot hold.
"""

from __future__ import annotations

from werkzeug.routing import IntegerConverter

from care.models.types import MAX_INTEGER


class IdConverter(IntegerConverter):
    def __init__(self, url_map) -> None:
        super().__init__(url_map, min=1, max=MAX_INTEGER)


CONVERTERS = {"id": IdConverter}

"""One pager for the numbered lists: the `?page=` argument, the page of a query or of a
list of known length, and (templates/macros.html `pager`) the links between pages.

- `page_number()` reads `?page=`: missing or empty is 1; anything but a whole number from
  1 on is a 400; more than MAX_PAGE_DIGITS digits (far past any list, and past what an SQL
  OFFSET takes) is a 404.
- `paginate(statement)` is that page of a query, CARE_PAGE_SIZE rows, as Flask-SQLAlchemy's
  `Pagination` (a page past the end is empty, not an error).
- `Pager` is the same shape for a list whose length is known without a query (an import's
  rejects kept in memory, the outbox counted by its service).

The worklist and the audit log page by key (a cursor, "older than"), not by number: their
cursors live with their queries (care/services/worklist.py, care/web/admin.py).
"""

from __future__ import annotations

from dataclasses import dataclass

from flask import abort, current_app, request
from flask_babel import gettext as _

from care.extensions import db

MAX_PAGE_DIGITS = 7


def page_number() -> int:
    """The page the request asks for (`?page=`, default 1)."""
    raw = (request.args.get("page") or "1").strip() or "1"
    if not (raw.isascii() and raw.isdigit()) or int(raw) < 1:
        abort(400, description=_("The page number must be a whole number from 1 on."))
    if len(raw) > MAX_PAGE_DIGITS:
        abort(404, description=_("Page %(page)s does not exist.", page=raw))
    return int(raw)


def page_size() -> int:
    return int(current_app.config["CARE_PAGE_SIZE"])


def paginate(statement, page: int | None = None):
    """The requested page of `statement` (Flask-SQLAlchemy's Pagination)."""
    return db.paginate(
        statement, page=page if page is not None else page_number(), per_page=page_size(), error_out=False
    )


@dataclass(frozen=True)
class Pager:
    """A page of a list of `total` items: what the `pager` macro shows, with the same
    names as Flask-SQLAlchemy's Pagination."""

    page: int
    per_page: int
    total: int

    @classmethod
    def of(cls, total: int, page: int, per_page: int, *, clamp: bool = False) -> Pager:
        """`clamp`: a page past the end shows the last one (else it is empty)."""
        pager = cls(max(page, 1), per_page, total)
        return cls(min(pager.page, pager.pages), per_page, total) if clamp else pager

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))

    @property
    def start(self) -> int:
        """The index of the page's first item."""
        return (self.page - 1) * self.per_page

    @property
    def has_prev(self) -> bool:
        return self.page > 1

    @property
    def has_next(self) -> bool:
        return self.page < self.pages

    @property
    def prev_num(self) -> int | None:
        return self.page - 1 if self.has_prev else None

    @property
    def next_num(self) -> int | None:
        return self.page + 1 if self.has_next else None

    def slice(self, items: list) -> list:
        return items[self.start : self.start + self.per_page]

"""Use cases: `fn(session, …, *, actor, now)`. They add and flush; the caller commits."""

from __future__ import annotations

from typing import Any


class ServiceError(Exception):
    """A use case refused: the message is safe to show to the user.

    `template` is an English message id (marked with `care.domain.N_`) with `%(name)s`
    placeholders filled from `params`, so that pages can show it translated while the CLI
    prints `str(exc)`; `field` optionally names the form field at fault.
    """

    def __init__(self, template: str = "", *, field: str | None = None, **params: Any):
        self.template = template
        self.params = params
        self.field = field
        super().__init__(template % params if params else template)

"""Use cases: `fn(session, …, *, actor, now)`. They add and flush; the caller commits.

Who acts is named two ways, each with one meaning: ``user: User`` where the use case
checks what that user may do (calls, outcomes, the worklist …), and ``actor: Actor`` where
it only records who acted (the audit trail, an import or generation run).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar


@dataclass(frozen=True, slots=True)
class Actor:
    """Who acted, as the audit trail records it: a name (a user name, or one of the
    non-person actors below), the user's id when a person acted, and the address they
    came from when they acted over the web."""

    name: str
    user_id: int | None = None
    ip: str | None = None

    CLI: ClassVar[Actor]
    SCHEDULER: ClassVar[Actor]
    SYSTEM: ClassVar[Actor]

    @classmethod
    def of(cls, user: Any, ip: str | None = None) -> Actor:
        """The person ``user`` (a User), optionally at the address ``ip``."""
        return cls(user.username, user.id, ip)

    def at(self, ip: str | None) -> Actor:
        """The same actor at the address ``ip``."""
        return Actor(self.name, self.user_id, ip)


# The non-person actors; their names are stored (audit_log.actor, generation_run.actor,
# import_run.actor), so they do not change.
Actor.CLI = Actor("cli")
Actor.SCHEDULER = Actor("scheduler")
Actor.SYSTEM = Actor("system")


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

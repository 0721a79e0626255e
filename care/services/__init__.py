"""Use cases: `fn(session, …, *, actor, now)`. They add and flush; the caller commits."""


class ServiceError(Exception):
    """A use case refused: the message is safe to show to the user."""

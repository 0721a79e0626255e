"""Pure business rules of spec/domain.md: standard library only, `now`/`today` passed in."""


class DomainError(Exception):
    """A rule refused something; the message is safe to show to the user."""

"""Pure business rules of spec/domain.md: standard library only, `now`/`today` passed in."""




def N_(message: str) -> str:
    """Mark a message for translation where it is shown (the domain may not import Babel).

    Babel's extractor knows `N_` by default, so `N_("… %(value)s …")` lands in the
    catalogue; the web layer translates the template with its params (see
    care/web/i18n.py `translated`).
    """
    return message


class DomainError(Exception):
    """A rule refused something; the message is safe to show to the user."""

"""E-mail addresses: checked and normalised with `email_validator` (syntax only, no DNS).

A full check costs ~0.1 ms, most of it the domain (IDNA, label and special-use rules),
which is most of a 100,000-row import. The domains of a file repeat (qq.com, 163.com …),
so a plain address takes a fast path with the library's own answer: its local part
checked here against the library's ASCII dot-atom rule (which the library accepts as it
is), its domain checked by the library once and remembered. Anything else (quotes, a
display name, non-ASCII, an IDNA domain, a role name the library lowercases, a long
address) goes through the library whole.
"""

from __future__ import annotations

import re
from functools import lru_cache

from email_validator import EmailNotValidError, validate_email
from email_validator.rfc_constants import CASE_INSENSITIVE_MAILBOX_NAMES

MAX_LENGTH = 254  # the library's limit on the whole address

# ASCII letters, digits and . _ % + - only: the local part a dot-atom (no leading,
# trailing or doubled dot), the domain labels as the library then checks them
_PLAIN = re.compile(r"([A-Za-z0-9_%+-]+(?:\.[A-Za-z0-9_%+-]+)*)@([A-Za-z0-9.-]+)")
_ROLE_NAMES = frozenset(CASE_INSENSITIVE_MAILBOX_NAMES)


class EmailError(ValueError):
    pass


def normalize_email(text: str) -> str:
    """`A.B@Example.COM` → `A.B@example.com`; EmailError for an address that is not valid."""
    m = _PLAIN.fullmatch(text)
    if m is not None and len(text) <= MAX_LENGTH and m.group(1).lower() not in _ROLE_NAMES:
        domain = _plain_domain(m.group(2))
        if domain is None:
            raise EmailError(f"{text!r} is not a valid e-mail address")
        if domain.isascii():
            return f"{m.group(1)}@{domain}"
    try:
        return validate_email(text, check_deliverability=False).normalized
    except EmailNotValidError:
        raise EmailError(f"{text!r} is not a valid e-mail address") from None


@lru_cache(maxsize=4096)
def _plain_domain(domain: str) -> str | None:
    """The library's normalised form of a domain, or None when it refuses it (the local
    part `a` is valid and the shortest: it cannot make a domain fail or pass)."""
    try:
        return validate_email(f"a@{domain}", check_deliverability=False).domain
    except EmailNotValidError:
        return None

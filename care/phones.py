"""Phone numbers: parsed once with `phonenumbers` (default region CN), stored as E.164.

`phonenumbers` is Google's libphonenumber metadata: it knows which Chinese mobile and
landline ranges exist, which a regular expression would get wrong as ranges are added.
It also does the rest: the `00` international prefix of the default region, separators
(spaces, dashes, dots, slashes, parentheses) and each country's national format.
"""

from __future__ import annotations

import re

import phonenumbers
from phonenumbers import NumberParseException, PhoneNumberFormat

DEFAULT_REGION = "CN"
HOME_COUNTRY_CODE = phonenumbers.country_code_for_region(DEFAULT_REGION)


class PhoneError(ValueError):
    pass


def normalize_phone(text: str | None, region: str = DEFAULT_REGION) -> str | None:
    """`138 0013 8000`, `+86 138-0013-8000`, `0086 13800138000` → `+8613800138000`.

    Empty input gives None; a number that cannot be a real number raises PhoneError.
    """
    if text is None:
        return None
    raw = str(text).strip()
    if raw.endswith(".0") and raw[:-2].isdigit():  # a number cell read from Excel
        raw = raw[:-2]
    if not raw:
        return None
    try:
        # "·" (the middle dot some write between groups) is not one of libphonenumber's
        # separators; everything else it reads itself.
        number = phonenumbers.parse(raw.replace("·", " "), region)
    except NumberParseException:
        raise PhoneError(f"{raw!r} is not a phone number") from None
    if not phonenumbers.is_valid_number(number):
        raise PhoneError(f"{raw!r} is not a valid phone number")
    return phonenumbers.format_number(number, PhoneNumberFormat.E164)


def search_digits(text: str) -> str | None:
    """For search: the E.164 form when the input is a whole number, else its digits."""
    try:
        full = normalize_phone(text)
    except PhoneError:
        full = None
    if full:
        return full
    digits = re.sub(r"\D", "", text or "")
    return digits or None


def display_phone(e164: str | None) -> str:
    """`+8613800138000` → `138 0013 8000`: the national format for Chinese numbers
    (`0755 1234 5678` for a landline), the international one otherwise."""
    if not e164:
        return ""
    try:
        number = phonenumbers.parse(e164, None)
    except NumberParseException:
        return e164
    home = number.country_code == HOME_COUNTRY_CODE
    return phonenumbers.format_number(number, PhoneNumberFormat.NATIONAL if home else PhoneNumberFormat.INTERNATIONAL)

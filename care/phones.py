"""Phone numbers: parsed once with `phonenumbers` (default region CN), stored as E.164.

`phonenumbers` is Google's libphonenumber metadata: it knows which Chinese mobile and
landline ranges exist, which a regular expression would get wrong as ranges are added.
It also does the rest: the `00` international prefix of the default region, separators
(spaces, dashes, dots, slashes, parentheses) and each country's national format.

Most numbers a DMS export holds are mainland mobiles written plainly (`13800138000`,
`+86 138-0013-8000`); a full parse costs ~0.1 ms, which is most of a 100,000-row import.
Such a number takes a fast path with the same answer: libphonenumber's result for it is
`+86` and its eleven digits exactly when its own CN mobile pattern matches them. Anything
else (a landline, a foreign or unassigned number, other characters) is parsed in full.
"""

from __future__ import annotations

import re

import phonenumbers
from phonenumbers import NumberParseException, PhoneNumberFormat

DEFAULT_REGION = "CN"
HOME_COUNTRY_CODE = phonenumbers.country_code_for_region(DEFAULT_REGION)

# A mainland mobile, once spaces and dashes are removed: 11 digits from 13–19, with an
# optional +86 / 86 before it (86 and 11 digits is too long for a national number, so
# libphonenumber always reads the 86 as the country code).
_MAINLAND_MOBILE = re.compile(r"(?:\+?86)?(1[3-9][0-9]{9})")
_SEPARATORS = str.maketrans("", "", " -")
# libphonenumber's own pattern of the ranges assigned to mobiles (its metadata, so the
# fast path follows the library when ranges are added)
_CN_MOBILE_RANGES = re.compile(phonenumbers.PhoneMetadata.metadata_for_region("CN").mobile.national_number_pattern)


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
    if region == DEFAULT_REGION:
        fast = _mainland_mobile(raw)
        if fast is not None:
            return fast
    try:
        # "·" (the middle dot some write between groups) is not one of libphonenumber's
        # separators; everything else it reads itself.
        number = phonenumbers.parse(raw.replace("·", " "), region)
    except NumberParseException:
        raise PhoneError(f"{raw!r} is not a phone number") from None
    if not phonenumbers.is_valid_number(number):
        raise PhoneError(f"{raw!r} is not a valid phone number")
    return phonenumbers.format_number(number, PhoneNumberFormat.E164)


def _mainland_mobile(raw: str) -> str | None:
    """`+86 138-0013-8000` → `+8613800138000` when it is a mobile of an assigned range,
    else None (the caller parses it in full: None says nothing about validity)."""
    m = _MAINLAND_MOBILE.fullmatch(raw.translate(_SEPARATORS))
    if m is None or not _CN_MOBILE_RANGES.fullmatch(m.group(1)):
        return None
    return "+86" + m.group(1)


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

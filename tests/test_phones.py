"""care/phones.py: libphonenumber does the parsing and the formatting."""

from __future__ import annotations

import pytest

from care.phones import PhoneError, display_phone, normalize_phone, search_digits


@pytest.mark.parametrize(
    "text",
    [
        "138 0013 8000", "+86 138-0013-8000", "0086 13800138000", "00 86 138 0013 8000",
        "13800138000", "13800138000.0", "138·0013·8000", "138.0013.8000", "(0086)13800138000",
    ],
)  # fmt: skip
def test_spellings_of_one_mobile_number_give_its_e164_form(text):
    assert normalize_phone(text) == "+8613800138000"


@pytest.mark.parametrize(
    ("text", "e164"),
    [
        ("028-8765 4321", "+862887654321"),  # a landline with its trunk prefix
        ("0755-12345678", "+8675512345678"),
        ("00852 9123 4567", "+85291234567"),  # 00: China's international prefix
        ("+1 415 555 2671", "+14155552671"),
    ],
)
def test_landlines_and_foreign_numbers(text, e164):
    assert normalize_phone(text) == e164


@pytest.mark.parametrize("text", [None, "", "   "])
def test_nothing_gives_none(text):
    assert normalize_phone(text) is None


@pytest.mark.parametrize("text", ["abc", "12", "1380013800", "95555"])
def test_what_cannot_be_a_number_is_refused(text):
    with pytest.raises(PhoneError):
        normalize_phone(text)


@pytest.mark.parametrize(
    ("e164", "shown"),
    [
        ("+8613800138000", "138 0013 8000"),
        ("+862812345678", "028 1234 5678"),
        # Was "755 1234 5678" (a hand-written 3-4-4 for every 11-digit number): a
        # landline is dialled with its trunk prefix, as libphonenumber writes it.
        ("+8675512345678", "0755 1234 5678"),
        ("+85291234567", "+852 9123 4567"),
        ("+14155552671", "+1 415-555-2671"),
        ("", ""),
        (None, ""),
        ("not a number", "not a number"),
    ],
)
def test_display(e164, shown):
    assert display_phone(e164) == shown


def test_search_digits():
    assert search_digits("0086 138 0013 8000") == "+8613800138000"
    assert search_digits("138-0") == "1380"
    assert search_digits("abc") is None

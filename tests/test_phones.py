"""care/phones.py: libphonenumber does the parsing and the formatting."""

from __future__ import annotations

import pytest

from care import phones
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


# --- the fast path for plain mainland mobiles (issue 14) ------------------------------------


def _outcome(text):
    try:
        return normalize_phone(text)
    except PhoneError:
        return "invalid"


def _outcomes(texts, monkeypatch):
    """Each text's outcome with the fast path, and with libphonenumber alone."""
    fast = [_outcome(t) for t in texts]
    with monkeypatch.context() as m:
        m.setattr(phones, "_mainland_mobile", lambda raw: None)
        full = [_outcome(t) for t in texts]
    return fast, full


FAST_PATH = [
    "13800138000", "+8613800138000", "8613800138000", "+86 138 0013 8000", "86-138-0013-8000",
    "138-0013-8000", " 138 0013 8000 ", "13800138000.0", "+86-13800138000", "1 3 8 0 0 1 3 8 0 0 0",
    "19912345678", "19212345678", "16212345678", "14512345678", "17400012345", "16100012345",
]  # fmt: skip
FULL_PARSE = [
    # landlines, foreign numbers, other spellings of mobiles
    "028-8888-1234", "(028)88881234", "+86 10 1234 5678", "0755-12345678", "+1 650 253 0000", "+852 6123 4567",
    "0086 13800138000", "00 86 138 0013 8000", "138·0013·8000", "138.0013.8000", "(+86)13800138000",
    "+86 (138) 0013-8000", "１３８００１３８０００", "+86 0138 0013 8000", "tel:13800138000",
    # not valid: unassigned ranges, wrong lengths, junk
    "14000000000", "15412345678", "17912345678", "11012345678", "10013800138", "1380013800",
    "138001380001", "+861380013800", "86 1380013800", "12345", "10086", "13800138000x", "+13800138000",
    "abc", "+86", "-",
]  # fmt: skip


def test_plain_mainland_mobiles_take_the_fast_path_and_the_rest_do_not():
    assert all(phones._mainland_mobile(t.strip().removesuffix(".0")) for t in FAST_PATH)
    assert not any(phones._mainland_mobile(t.strip()) for t in FULL_PARSE)


def test_the_fast_path_gives_libphonenumbers_own_answers(monkeypatch):
    texts = FAST_PATH + FULL_PARSE
    fast, full = _outcomes(texts, monkeypatch)
    assert dict(zip(texts, fast, strict=True)) == dict(zip(texts, full, strict=True))
    assert "invalid" in full and full.count("+8613800138000") >= 5  # the table has both kinds


def test_the_fast_path_agrees_on_every_mobile_range(monkeypatch):
    """Every four-digit start from 1300 to 1999, in the spellings the fast path takes
    (assigned ranges are valid, unassigned ones invalid, as libphonenumber says)."""
    texts = []
    for start in range(1300, 2000):
        number = f"{start}{start * 7919 % 10_000_000:07d}"
        texts += [number, f"+86 {number[:3]} {number[3:7]} {number[7:]}", f"86{number}", f"{number[:3]}-{number[3:]}"]
    fast, full = _outcomes(texts, monkeypatch)
    differ = [(t, a, b) for t, a, b in zip(texts, fast, full, strict=True) if a != b]
    assert differ == []
    assert 0 < full.count("invalid") < len(texts)

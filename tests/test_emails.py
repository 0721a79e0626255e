"""care/emails.py: e-mail addresses checked by email_validator, plain ones through a fast
path that must give the library's own answers (issue 14)."""

from __future__ import annotations

import random

import pytest
from email_validator import EmailNotValidError, validate_email

from care import emails
from care.emails import EmailError, normalize_email


def library(text: str) -> str:
    try:
        return validate_email(text, check_deliverability=False).normalized
    except EmailNotValidError:
        return "invalid"


def ours(text: str) -> str:
    try:
        return normalize_email(text)
    except EmailError:
        return "invalid"


TABLE = [
    # plain (the fast path)
    "a@example.com", "A.B@Example.COM", "user+tag@sub.example.org", "c1@qq.com", "x_y-z%1@163.com", "a@123.com",
    "a@b.c", "a@example.invalid", "a@test", "a@example.local", "a@localhost", "a@example", "a@-example.com",
    "a@example..com", "a@example.com.", "a@exa_mple.com", "x" * 65 + "@example.com", "a@" + "b" * 64 + ".com",
    "a" * 64 + "@" + "b" * 60 + ".com", "a@" + ("b" * 63 + ".") * 3 + "com", "a@" + ("b" * 63 + ".") * 4 + "com",
    # the library alone
    "Postmaster@example.com", "INFO@Example.com", "x..y@example.com", ".x@example.com", "x.@example.com",
    '"a"@example.com', '"a b"@example.com', "Name <a@example.com>", "a b@example.com", "a@[127.0.0.1]",
    "张@example.com", "a@例子.公司", "a@xn--fsqu00a.xn--55qx5d", "a@b@example.com", "@example.com", "a@", "",
    "o'brien@example.com", "a!#$&*/=?^`{|}~@example.com",
]  # fmt: skip


@pytest.mark.parametrize("text", TABLE)
def test_the_same_answer_as_email_validator(text):
    assert ours(text) == library(text)


def test_the_table_has_both_paths_and_both_answers():
    plain = [t for t in TABLE if emails._PLAIN.fullmatch(t)]
    assert len(plain) >= 15 and len(plain) < len(TABLE)
    answers = [library(t) for t in plain]
    assert "invalid" in answers and any(a != "invalid" for a in answers)


def test_random_addresses_agree():
    """Addresses made of the characters around the fast path's edges."""
    rng = random.Random(14)
    domains = ["example.com", "Example.COM", "qq.com", "a.b", "localhost", "x.invalid", "a-.com", "a..com",
               "123.com", "1.2.3.4", "exa_mple.com", "xn--fsqu00a.xn--55qx5d", "例子.公司", "b" * 70 + ".com"]  # fmt: skip
    texts = []
    for _ in range(3000):
        alphabet = "abXY09._%+-" if rng.random() < 0.8 else "aZ0._%+-@!#'\" 张<>"
        local = "".join(rng.choice(alphabet) for _ in range(rng.choice([1, 3, 12, 64, 65])))
        texts.append(f"{local}@{rng.choice(domains)}")
    assert [ours(t) for t in texts] == [library(t) for t in texts]

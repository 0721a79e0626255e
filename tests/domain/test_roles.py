"""Roles: parsing and phone masking (domain.md §9)."""

from __future__ import annotations

import pytest

from care.domain.roles import CALLING_ROLES, Role, mask_phone, parse_role, sees_full_phone


@pytest.mark.parametrize(
    "e164, masked",
    [
        ("+8613800138000", "+86 138****8000"),
        ("+8613912345678", "+86 139****5678"),
        ("+862887654321", "+86 028****4321"),  # a Chengdu landline reads like a mobile
        ("+8675512345678", "+86 075****5678"),  # Shenzhen: 0755 1234 5678
        ("+4930123456", "+******3456"),
        ("1234", "****"),
        ("+123", "***"),
    ],
)
def test_mask_phone(e164, masked):
    assert mask_phone(e164) == masked


@pytest.mark.parametrize("empty", [None, ""])
def test_mask_phone_empty(empty):
    assert mask_phone(empty) == empty


def test_masked_number_keeps_only_the_edges():
    masked = mask_phone("+8613800138000")
    assert "0013" not in masked.replace(" ", "")


def test_who_sees_full_numbers():
    assert sees_full_phone({Role.SPECIALIST})
    assert sees_full_phone({Role.FRONT_DESK, Role.CONSULTANT})
    assert not sees_full_phone({Role.FRONT_DESK, Role.GENERAL_MANAGER, Role.ADMIN})
    assert not sees_full_phone(set())
    assert Role.ADMIN not in CALLING_ROLES


def test_parse_role():
    assert parse_role(" Care_Manager ") is Role.CARE_MANAGER
    with pytest.raises(ValueError, match="unknown role"):
        parse_role("boss")


def test_role_values_are_the_cli_contract():
    assert {r.value for r in Role} == {
        "specialist", "insurance", "care_manager", "consultant",
        "sales_manager", "front_desk", "general_manager", "admin",
    }  # fmt: skip

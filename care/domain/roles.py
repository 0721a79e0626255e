"""The roles of interfaces.md (`create-user --role`) and what each may see."""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    SPECIALIST = "specialist"
    INSURANCE = "insurance"
    CARE_MANAGER = "care_manager"
    CONSULTANT = "consultant"
    SALES_MANAGER = "sales_manager"
    FRONT_DESK = "front_desk"
    GENERAL_MANAGER = "general_manager"
    ADMIN = "admin"


ALL_ROLES: frozenset[Role] = frozenset(Role)

# Roles that place calls to customers (domain.md §1, §4, §7 step 6) see full numbers;
# every other role sees them masked (§9).
CALLING_ROLES: frozenset[Role] = frozenset(
    {Role.SPECIALIST, Role.INSURANCE, Role.CARE_MANAGER, Role.CONSULTANT}
)

# Who may look customers up at all.
CUSTOMER_READERS: frozenset[Role] = frozenset(
    {
        Role.SPECIALIST,
        Role.INSURANCE,
        Role.CARE_MANAGER,
        Role.CONSULTANT,
        Role.SALES_MANAGER,
        Role.FRONT_DESK,
        Role.GENERAL_MANAGER,
    }
)

# Who may load DMS exports.
IMPORTERS: frozenset[Role] = frozenset({Role.ADMIN, Role.CARE_MANAGER})

MANAGERS: frozenset[Role] = frozenset(
    {Role.CARE_MANAGER, Role.SALES_MANAGER, Role.GENERAL_MANAGER}
)


def parse_role(value: str) -> Role:
    try:
        return Role(value.strip().lower())
    except ValueError:
        allowed = ", ".join(r.value for r in Role)
        raise ValueError(f"unknown role {value!r}; roles: {allowed}") from None


def sees_full_phone(roles: set[Role] | frozenset[Role]) -> bool:
    return bool(set(roles) & CALLING_ROLES)


def mask_phone(e164: str | None) -> str | None:
    """+8613800138000 -> +86 138****8000: the country code, the first 3 and the last 4
    digits of the national number as people write it. A Chinese landline keeps its trunk
    zero, so it reads like a mobile (+862887654321 -> +86 028****4321), not +********4321."""
    if not e164:
        return e164
    if e164.startswith("+86") and len(e164) >= 11:
        national = e164[3:]
        if not national.startswith(("1", "0")):  # a landline: written with its trunk zero (028 …)
            national = "0" + national
        return f"+86 {national[:3]}****{national[-4:]}"
    digits = e164.lstrip("+")
    if len(digits) <= 4:
        return "*" * len(digits)
    keep = 4
    return ("+" if e164.startswith("+") else "") + "*" * (len(digits) - keep) + digits[-keep:]

"""Vehicle identification numbers: ISO 3779 with the GB 16735 / FMVSS 115 check digit."""

from __future__ import annotations

import re

_VALUES = {
    **{str(d): d for d in range(10)},
    "A": 1, "B": 2, "C": 3, "D": 4, "E": 5, "F": 6, "G": 7, "H": 8,
    "J": 1, "K": 2, "L": 3, "M": 4, "N": 5, "P": 7, "R": 9,
    "S": 2, "T": 3, "U": 4, "V": 5, "W": 6, "X": 7, "Y": 8, "Z": 9,
}  # fmt: skip
_WEIGHTS = (8, 7, 6, 5, 4, 3, 2, 10, 0, 9, 8, 7, 6, 5, 4, 3, 2)
_SHAPE = re.compile(r"^[A-HJ-NPR-Z0-9]{17}$")


class VinError(ValueError):
    pass


def normalize_vin(text: str) -> str:
    return re.sub(r"[\s\-]", "", text or "").upper()


def check_digit(vin: str) -> str:
    """The character position 9 must hold for the other 16."""
    total = sum(_VALUES[c] * w for c, w in zip(vin, _WEIGHTS, strict=True))
    rem = total % 11
    return "X" if rem == 10 else str(rem)


def validate_vin(text: str) -> str:
    """The normalized VIN, or VinError saying what is wrong with it."""
    vin = normalize_vin(text)
    if not vin:
        raise VinError("VIN is empty")
    if len(vin) != 17:
        raise VinError(f"VIN must have 17 characters, not {len(vin)}")
    bad = sorted({c for c in vin if c in "IOQ"})
    if bad:
        raise VinError(f"VIN may not contain {', '.join(bad)} (letters I, O and Q are not used)")
    if not _SHAPE.match(vin):
        raise VinError("VIN may contain only letters and digits")
    expected = check_digit(vin)
    if vin[8] != expected:
        raise VinError(f"VIN check digit (position 9) is {vin[8]}, expected {expected}")
    return vin


def with_check_digit(vin16_or_17: str) -> str:
    """Put the right check digit in position 9 (for demo data and tests)."""
    vin = normalize_vin(vin16_or_17)
    if len(vin) != 17:
        raise VinError("need 17 characters")
    return vin[:8] + check_digit(vin) + vin[9:]

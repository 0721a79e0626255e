"""VINs: ISO 3779 shape and the check digit in position 9."""

from __future__ import annotations

import pytest

from care.domain.vin import VinError, check_digit, normalize_vin, validate_vin, with_check_digit


@pytest.mark.parametrize("vin", ["1M8GDM9AXKP042788", "11111111111111111", "1HGCM82633A004352", "LSVAB2180E2000001"])
def test_known_good_vins(vin):
    if vin.startswith("LSV"):
        vin = with_check_digit(vin)
    assert validate_vin(vin) == vin


def test_check_digit_x():
    assert check_digit("1M8GDM9AXKP042788") == "X"


def test_lower_case_and_spacing_are_normalized():
    assert validate_vin(" 1m8gdm9axkp042788 ") == "1M8GDM9AXKP042788"
    assert validate_vin("1M8-GDM9AX KP042788") == "1M8GDM9AXKP042788"
    assert normalize_vin(None) == ""


def test_wrong_check_digit():
    with pytest.raises(VinError, match=r"check digit .* is 5, expected X"):
        validate_vin("1M8GDM9A5KP042788")


@pytest.mark.parametrize("letter", ["I", "O", "Q"])
def test_letters_i_o_q_are_refused(letter):
    vin = "1M8GDM9AXKP04278" + letter
    with pytest.raises(VinError, match=f"may not contain {letter}"):
        validate_vin(vin)


@pytest.mark.parametrize("vin, n", [("1M8GDM9AXKP04278", 16), ("1M8GDM9AXKP0427888", 18), ("ABC", 3)])
def test_wrong_length(vin, n):
    with pytest.raises(VinError, match=f"17 characters, not {n}"):
        validate_vin(vin)


def test_empty_and_symbols():
    with pytest.raises(VinError, match="empty"):
        validate_vin("  ")
    with pytest.raises(VinError, match="only letters and digits"):
        validate_vin("1M8GDM9AXKP04278*")


def test_with_check_digit_makes_valid_vins():
    vin = with_check_digit("LSVAB2180E2000099")
    assert validate_vin(vin) == vin
    with pytest.raises(VinError):
        with_check_digit("SHORT")

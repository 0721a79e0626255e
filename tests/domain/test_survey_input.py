"""Survey answers as they come in (care.domain.survey_input): typed, keyed, simulated."""

from __future__ import annotations

import random
from collections import Counter

import pytest

from care.domain import survey_input as si


@pytest.mark.parametrize(("value", "score"), [("1", 1), ("7", 7), (" 4 ", 4), ("none", None), ("NONE", None), (5, 5)])
def test_typed_scores(value, score):
    assert si.parse_typed(value, 1, 7) == score


@pytest.mark.parametrize(
    ("value", "words"),
    [("0", "outside the scale"), ("8", "outside the scale"), ("", "Choose a score"), (None, "Choose a score"),
     ("七", "is not a score"), ("6.5", "is not a score"), ("-1", "is not a score"), ("1e3", "is not a score"),
     ("99999", "is not a score")],
)  # fmt: skip
def test_typed_refusals_say_why(value, words):
    with pytest.raises(si.ScoreInvalid) as exc:
        si.parse_typed(value, 1, 7)
    assert words in str(exc.value)


def test_typed_zero_to_ten():
    assert si.parse_typed("0", 0, 10) == 0 and si.parse_typed("10", 0, 10) == 10
    with pytest.raises(si.ScoreInvalid):
        si.parse_typed("11", 0, 10)


@pytest.mark.parametrize(
    ("digits", "score"),
    [("5", 5), ("7", 7), ("1", 1), ("0", None), ("8", None), ("*", None), ("#", None), ("", None), (None, None),
     ("5#", 5), ("12", None), ("x", None), (True, None), (3, 3), ("５", None)],
)  # fmt: skip
def test_ivr_keys_never_an_error(digits, score):
    assert si.key_score(digits, 1, 7) == score


def test_ivr_keys_on_ten_point_scales():
    assert si.key_score("10", 0, 10) == 10 and si.key_score("10#", 1, 10) == 10 and si.key_score("0", 0, 10) == 0
    assert si.ivr_digits(7) == 1 and si.ivr_digits(5) == 1 and si.ivr_digits(10) == 2


def test_score_mix():
    weights = si.parse_score_mix("7=3, 6=1, none=1, *=0")
    assert weights == {"7": 3, "6": 1, "none": 1, "*": 0}
    rng = random.Random(3)
    draws = Counter(si.draw_key(weights, rng) for _ in range(500))
    assert set(draws) == {"7", "6", None} and draws["7"] > draws["6"]
    assert si.parse_score_mix(None) == si.parse_score_mix(si.DEFAULT_SCORE_MIX)


@pytest.mark.parametrize("text", ["7", "11=1", "seven=1", "7=-1", "7=0", "7=x", ",".join(["7=1"] * 21)])
def test_score_mix_refusals(text):
    with pytest.raises(ValueError, match="CARE_SIM_SURVEY_MIX"):
        si.parse_score_mix(text)


def test_finish_outcome():
    assert si.finish_outcome([]) == si.FinishOutcome("reached_satisfied", None)
    assert si.finish_outcome([], "  很满意 ") == si.FinishOutcome("reached_satisfied", "很满意")
    got = si.finish_outcome([("车辆清洁", 3), ("一次修好", 2)], "客户要回电")
    assert got.code == "reached_issue" and got.note == "车辆清洁 (3); 一次修好 (2) — 客户要回电"
    assert len(si.finish_outcome([("x" * 300, 1)] * 10, "y" * 2000).note) == si.MAX_NOTE

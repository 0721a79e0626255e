"""Survey arithmetic (domain.md §6, R18, R19) against hand-computed examples."""

from __future__ import annotations

import math

import pytest

from care.domain import surveys as dom
from care.domain.surveys import FactorSpec, ItemSpec, Scale, ScoredItem, SurveyError, TemplateSpec

S7 = Scale(1, 7)


def item(code, weight, score, factor="f"):
    return ScoredItem(code, factor, weight, score)


# --- response index ------------------------------------------------------------------------


def test_response_index_is_the_weighted_mean_mapped_to_0_100():
    # 100 · (4.25·(7−1)/6 + 0.89·(4−1)/6) / (4.25 + 0.89) = 100 · (4.25 + 0.445)/5.14
    items = [item("a", 4.25, 7), item("b", 0.89, 4)]
    assert dom.response_index(items, S7) == pytest.approx(100 * 4.695 / 5.14)  # 91.342…
    assert dom.response_index(items, S7) == pytest.approx(91.3424, abs=1e-4)


def test_unanswered_items_leave_the_sum_and_weights_are_renormalised():
    # Item c unanswered: only a and b count; the same as without c at all.
    with_gap = [item("a", 10, 1), item("b", 30, 7), item("c", 60, None)]
    # 100 · (10·0 + 30·1)/40 = 75
    assert dom.response_index(with_gap, S7) == pytest.approx(75.0)
    # and not 100·30/100 = 30 (what counting the gap as 0 weight-share would give)
    assert dom.response_index(with_gap, S7) != pytest.approx(30.0)


def test_a_response_with_no_answered_item_has_no_index_not_zero():
    assert dom.response_index([item("a", 10, None), item("b", 5, None)], S7) is None
    # the overall item alone (weight 0) gives no index either
    assert dom.response_index([item("a", 10, None), item("overall", 0, 7, None)], S7) is None
    # whereas all bottom scores is a real 0
    assert dom.response_index([item("a", 10, 1)], S7) == 0.0


def test_index_on_other_scales():
    # 1–5: score 4 is (4−1)/4 = 75; 0–10: 8 is 80; 1–10: 10 is 100, 1 is 0
    assert dom.response_index([item("a", 1, 4)], Scale(1, 5)) == pytest.approx(75.0)
    assert dom.response_index([item("a", 1, 8)], Scale(0, 10)) == pytest.approx(80.0)
    assert dom.response_index([item("a", 2, 10), item("b", 2, 1)], Scale(1, 10)) == pytest.approx(50.0)


def test_a_changed_template_version_changes_the_weights_the_same_scores_get():
    scores = {"a": 7, "b": 1}
    v1 = [item(c, w, scores[c]) for c, w in (("a", 50), ("b", 50))]
    v2 = [item(c, w, scores[c]) for c, w in (("a", 80), ("b", 20))]
    assert dom.response_index(v1, S7) == pytest.approx(50.0)
    assert dom.response_index(v2, S7) == pytest.approx(80.0)


def test_factor_indexes():
    items = [
        item("a", 3, 7, "f1"),
        item("b", 1, 1, "f1"),  # f1: 100·(3·1 + 1·0)/4 = 75
        item("c", 5, None, "f2"),  # f2: nothing answered → None
        item("overall", 0, 6, None),
    ]
    assert dom.factor_indexes(items, S7) == {"f1": pytest.approx(75.0), "f2": None}


# --- month index and its CI ------------------------------------------------------------------


def test_month_index_mean_n_and_t_interval():
    # 60, 70, 80: mean 70, s = 10, n = 3, t(0.975, 2) = 4.3027 → half = 4.3027·10/√3 = 24.841
    m = dom.month_index([60, 70, None, 80])
    assert m.index == pytest.approx(70.0)
    assert m.responses == 3
    low, high = m.ci95
    assert low == pytest.approx(70 - 24.8417, abs=1e-3)
    assert high == pytest.approx(70 + 24.8417, abs=1e-3)


def test_month_index_ci_is_null_below_two_and_clipped_to_the_scale():
    assert dom.month_index([]) == dom.MonthIndex(None, 0, None)
    assert dom.month_index([None]).index is None
    assert dom.month_index([88.0]) == dom.MonthIndex(88.0, 1, None)
    low, high = dom.month_index([100, 60]).ci95  # mean 80, half = 12.706·28.28/1.414 = 254
    assert (low, high) == (0.0, 100.0)
    assert dom.month_index([75, 75, 75]).ci95 == (75.0, 75.0)


@pytest.mark.parametrize(
    ("df", "expected"),
    [(1, 12.7062), (2, 4.3027), (10, 2.2281), (30, 2.0423), (31, 2.0395), (40, 2.0211), (60, 2.0003), (120, 1.9799), (1000, 1.9623)],
)
def test_t_quantile(df, expected):
    assert dom.t_quantile_975(df) == pytest.approx(expected, abs=2e-4)


def test_t_quantile_is_decreasing_towards_z():
    values = [dom.t_quantile_975(df) for df in range(1, 400)]
    assert all(a > b for a, b in zip(values, values[1:], strict=False))
    assert values[-1] > 1.959964
    with pytest.raises(ValueError):
        dom.t_quantile_975(0)


# --- top box, NPS, low items --------------------------------------------------------------


def test_top_box_counts_the_scale_top_among_answered():
    assert dom.top_box([7, 7, 6, None, 1], S7) == (2, 4)
    assert dom.top_box([5, 4], Scale(1, 5)) == (1, 2)
    assert dom.top_box([None], S7) == (0, 0)


def test_nps_promoters_minus_detractors():
    # promoters 9, 10, 10; passives 7, 8; detractors 0, 6 → (3 − 2)/7 = 14.29
    result = dom.nps([9, 10, 10, 7, 8, 0, 6, None])
    assert (result.promoters, result.passives, result.detractors) == (3, 2, 2)
    assert result.score == pytest.approx(100 / 7)
    assert dom.nps([]).score is None
    assert dom.nps([0, 1]).score == -100.0
    with pytest.raises(ValueError):
        dom.nps([11])


def test_low_items_at_or_below_the_threshold_mapped_to_the_scale():
    answers = [item("a", 1, 4), item("b", 1, 5), item("c", 1, None), item("overall", 0, 3, None)]
    assert dom.low_items(answers, 4, S7) == ["a", "overall"]
    # 4 on 1–7 is the middle: 3 on 1–5, 5 on 0–10, 5 (5.5 rounded down) on 1–10
    assert dom.low_items([item("a", 1, 3), item("b", 1, 4)], 4, Scale(1, 5)) == ["a"]
    assert dom.low_items([item("a", 1, 5), item("b", 1, 6)], 4, Scale(0, 10)) == ["a"]
    assert dom.low_items([item("a", 1, 5), item("b", 1, 6)], 4, Scale(1, 10)) == ["a"]
    assert dom.low_items([item("a", 1, 7)], 7, S7) == ["a"]  # threshold at the top: all low


# --- scale and specs ----------------------------------------------------------------------


def test_scale_refuses_out_of_range_scores_and_bad_scales():
    S7.check(1)
    S7.check(None)
    for bad in (0, 8, -1, True):
        with pytest.raises(SurveyError, match="outside the scale"):
            S7.check(bad, item="greeted")
    for low, high in ((2, 7), (1, 11), (5, 5), (-1, 3)):
        with pytest.raises(SurveyError):
            Scale(low, high)


def spec(**changes):
    base = dict(
        code="t",
        name_zh="测试",
        name_en="Test",
        factors=(
            FactorSpec("f1", "因子一", "F1", 40.0, (ItemSpec("a", "甲", "A", 25.0), ItemSpec("b", "乙", "B", 15.0))),
            FactorSpec("f2", "因子二", "F2", 60.0, (ItemSpec("c", "丙", "C", 60.0),)),
        ),
        overall=ItemSpec("overall", "总体", "Overall", 0.0),
    )
    base.update(changes)
    return TemplateSpec(**base)


def test_a_valid_spec_passes():
    dom.validate_spec(spec())


def test_item_weights_off_by_more_than_the_tolerance_say_by_how_much():
    factors = (
        FactorSpec("f1", "因子一", "F1", 40.0, (ItemSpec("a", "甲", "A", 25.0), ItemSpec("b", "乙", "B", 14.5))),
        FactorSpec("f2", "因子二", "F2", 60.0, (ItemSpec("c", "丙", "C", 60.0),)),
    )
    with pytest.raises(SurveyError) as err:
        dom.validate_spec(spec(factors=factors))
    assert str(err.value) == "The items of “f1” add up to 39.5 %, 0.5 % less than the factor's 40 %"


def test_factor_weights_must_add_up_to_100():
    factors = (
        FactorSpec("f1", "因子一", "F1", 40.0, (ItemSpec("a", "甲", "A", 40.0),)),
        FactorSpec("f2", "因子二", "F2", 61.25, (ItemSpec("c", "丙", "C", 61.25),)),
    )
    with pytest.raises(SurveyError, match=r"add up to 101.25 %, 1.25 % more than 100 %"):
        dom.validate_spec(spec(factors=factors))


def test_two_decimal_rounding_is_within_the_tolerance():
    thirds = tuple(ItemSpec(c, c, c, 33.33) for c in ("a", "b", "c"))
    dom.validate_spec(spec(factors=(FactorSpec("f1", "一", "F1", 100.0, thirds),)))


def test_codes_must_be_valid_and_unique():
    dup_item = (
        FactorSpec("f1", "一", "F1", 50.0, (ItemSpec("a", "甲", "A", 50.0),)),
        FactorSpec("f2", "二", "F2", 50.0, (ItemSpec("a", "乙", "B", 50.0),)),
    )
    with pytest.raises(SurveyError, match="item code “a” is used twice"):
        dom.validate_spec(spec(factors=dup_item))
    dup_factor = (
        FactorSpec("f1", "一", "F1", 50.0, (ItemSpec("a", "甲", "A", 50.0),)),
        FactorSpec("f1", "二", "F2", 50.0, (ItemSpec("b", "乙", "B", 50.0),)),
    )
    with pytest.raises(SurveyError, match="factor code “f1” is used twice"):
        dom.validate_spec(spec(factors=dup_factor))
    with pytest.raises(SurveyError, match="not a valid code"):
        dom.validate_spec(spec(overall=ItemSpec("Over all", "总体", "Overall", 0.0)))
    with pytest.raises(SurveyError, match="item code “a” is used twice"):
        dom.validate_spec(spec(overall=ItemSpec("a", "总体", "Overall", 0.0)))
    with pytest.raises(SurveyError, match="must have weight 0"):
        dom.validate_spec(spec(overall=ItemSpec("overall", "总体", "Overall", 5.0)))


def test_equal_weights_add_up_exactly():
    assert dom.equal_weights(22.5, 4) == [5.62, 5.62, 5.62, 5.64]
    assert dom.equal_weights(18.84, 3) == [6.28, 6.28, 6.28]
    for total, n in ((19.17, 3), (15.4, 3), (10.2, 1), (11.5, 3), (100, 7)):
        parts = dom.equal_weights(total, n)
        assert len(parts) == n
        assert math.isclose(sum(parts), total, abs_tol=1e-9)

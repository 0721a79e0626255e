"""Best time to call (care.domain.besttime): the estimate on crafted histories."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from care.domain.attempts import SlotOccurrence
from care.domain.besttime import DeskRates, Tally, best_occurrence, estimate, score, smoothed

SLOTS = ("morning", "afternoon", "evening")
MONDAY, SATURDAY = 0, 5
# The desk reaches 40 % in the morning, 50 % in the afternoon and 60 % in the evening,
# every weekday, except Saturday mornings (80 %).
DESK = DeskRates.of(
    [(slot, day, answered, 100) for day in range(7) for slot, answered in (("morning", 40), ("afternoon", 50), ("evening", 60))
     if not (slot == "morning" and day == SATURDAY)]
    + [("morning", SATURDAY, 80, 100)]
)  # fmt: skip


def est(own, weekday=MONDAY, strength=6, min_attempts=3, desk=DESK):
    return estimate(own, desk, SLOTS, weekday=weekday, strength=strength, min_attempts=min_attempts)


def test_no_history_gives_the_desk_wide_best():
    bt = est({})
    assert bt.best.slot == "evening" and bt.habit is None and bt.total == Tally(0, 0)
    assert bt.of("evening").rate == pytest.approx(bt.of("evening").prior)
    assert est({}, weekday=SATURDAY).best.slot == "morning"  # the weekday counts


def test_an_empty_desk_is_neutral_and_the_tie_goes_to_the_first_slot():
    bt = est({}, desk=DeskRates())
    assert [e.rate for e in bt.estimates] == [0.5, 0.5, 0.5]
    assert bt.best.slot == "morning"


def test_one_attempt_decides_nothing():
    bt = est({"morning": Tally(1, 1)})
    assert bt.best.slot == "evening"  # one answered morning call does not beat the desk's evening
    prior = bt.of("morning").prior
    assert prior == pytest.approx(0.4, abs=0.01)  # the desk's Monday morning (smoothed a little)
    assert bt.of("morning").rate == pytest.approx((1 + 6 * prior) / 7)
    assert bt.habit is None
    bt = est({"evening": Tally(0, 1)})
    assert bt.best.slot == "evening" and bt.of("evening").rate > 0.45  # nor one unanswered call


def test_a_strong_habit_wins_and_is_said_with_its_evidence():
    bt = est({"morning": Tally(0, 3), "afternoon": Tally(1, 2), "evening": Tally(4, 5)})
    assert bt.best.slot == "evening" and bt.habit is not None
    assert (bt.habit.slot, bt.habit.own) == ("evening", Tally(4, 5))
    assert bt.total == Tally(5, 10)
    habit_morning = est({"morning": Tally(5, 5), "evening": Tally(0, 4)})
    assert habit_morning.best.slot == "morning" and habit_morning.habit.own == Tally(5, 5)


def test_a_habit_needs_enough_calls_and_answers():
    assert est({"morning": Tally(2, 2)}, strength=1).best.slot == "morning"
    assert est({"morning": Tally(2, 2)}, strength=1).habit is None  # 2 < min_attempts
    assert est({"morning": Tally(2, 2)}, strength=1, min_attempts=2).habit is not None
    # the best slot but answered less than half: no "usually answers"
    poor = est({"morning": Tally(0, 6), "afternoon": Tally(0, 6), "evening": Tally(2, 6)})
    assert poor.best.slot == "evening" and poor.habit is None


def test_strength_is_how_many_calls_the_desk_counts_as():
    own = {"morning": Tally(3, 3)}
    assert est(own, strength=100).best.slot == "evening"  # the desk's evening all but decides
    assert est(own, strength=0).best.slot == "morning"  # only the customer's calls
    assert smoothed(Tally(0, 0), 0.3, 0) == 0.3


def test_integer_score_matches_the_rate():
    for tally in (Tally(0, 0), Tally(1, 1), Tally(4, 5), Tally(0, 9)):
        for prior in (0.0, 0.37, 0.6, 1.0):
            assert abs(score(tally, prior, 4) - smoothed(tally, prior, 4) * 1000) <= 1
    assert score(Tally(4, 5), 0.6, 0) == 800 and score(Tally(0, 0), 0.6, 0) == 600


def test_bad_tallies_and_settings_are_refused():
    with pytest.raises(ValueError):
        Tally(3, 2)
    with pytest.raises(ValueError):
        est({}, min_attempts=0)


def _occ(name, day):
    start = datetime(day.year, day.month, day.day, {"morning": 1, "afternoon": 6, "evening": 10}[name], tzinfo=UTC)
    return SlotOccurrence(name, day, start, start)


def test_the_best_open_slot_left():
    today, saturday = date(2026, 7, 13), date(2026, 7, 18)  # a Monday, a Saturday
    left = [_occ("morning", today), _occ("afternoon", today)]  # the evening is used
    occ, rate = best_occurrence(left, {}, DESK, strength=4)
    assert occ.name == "afternoon" and rate == pytest.approx(0.5, abs=0.001)
    occ, _ = best_occurrence([*left, _occ("evening", today)], {"evening": Tally(0, 6)}, DESK, strength=4)
    assert occ.name == "afternoon"  # never answers in the evening
    occ, _ = best_occurrence([_occ("afternoon", saturday), _occ("morning", saturday)], {}, DESK, strength=4)
    assert occ.name == "morning"  # Saturday mornings
    assert best_occurrence([], {}, DESK, strength=4) is None

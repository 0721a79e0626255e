"""R21, pure: 60 % per stratum rounded up, at least one each, reproducible from the seed,
top-ups that bring each stratum to the size of one draw over all its calls."""

from __future__ import annotations

import random
from datetime import date

import pytest

from care.domain import sampling as s
from care.domain.roles import Role


@pytest.mark.parametrize(
    "calls, rate, size",
    [
        (0, 0.6, 0),  # no calls, nothing to draw
        (1, 0.6, 1),  # 0.6 rounded up
        (2, 0.6, 2),  # 1.2 → 2
        (3, 0.6, 2),  # 1.8 → 2
        (4, 0.6, 3),  # 2.4 → 3
        (5, 0.6, 3),  # exactly 3: not 4 (the rate is read as the decimal 0.6, not a float)
        (10, 0.6, 6),
        (11, 0.6, 7),  # 6.6 → 7
        (10, 0.7, 7),  # 0.7 × 10 is 7.000000000000001 in floats: still 7
        (100, 0.29, 29),  # 0.29 × 100 is 28.999999999999996 in floats: still 29
        (3, 0.0, 1),  # at least one per specialist with calls
        (3, 1.0, 3),
        (7, 0.01, 1),
    ],
)
def test_sample_size_is_the_rate_rounded_up_at_least_one(calls, rate, size):
    assert s.sample_size(calls, rate) == size


def test_a_rate_outside_0_to_1_is_refused():
    with pytest.raises(ValueError):
        s.sample_size(3, 1.5)
    with pytest.raises(ValueError):
        s.sample_size(3, -0.1)


STRATA = {7: list(range(100, 105)), 3: [11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21], 9: [500]}


def test_each_stratum_gets_its_own_rounded_up_share():
    drawn = s.draw(STRATA, 0.6, seed=12345)
    assert {k: len(v) for k, v in drawn.items()} == {3: 7, 7: 3, 9: 1}
    for key, ids in drawn.items():
        assert set(ids) <= set(STRATA[key])  # a stratum's sample is its own calls
        assert list(ids) == sorted(set(ids))  # ascending, no call twice


def test_the_same_seed_gives_the_same_sample_whatever_the_order_given():
    one = s.draw(STRATA, 0.6, seed=4242)
    shuffled = {k: list(reversed(v)) for k, v in reversed(list(STRATA.items()))}
    assert s.draw(shuffled, 0.6, seed=4242) == one
    assert s.draw(STRATA, 0.6, seed=4242) == one


def test_the_draw_is_fixed_by_random_random_alone():
    """The documented procedure, written out: one Random(seed); strata by key, calls by id,
    one random() per call; the smallest k numbers. (random() is the part of `random` whose
    sequence Python guarantees across versions.)"""
    rng = random.Random(77)
    expected = {}
    for key in sorted(STRATA):
        ranked = sorted((rng.random(), call) for call in sorted(STRATA[key]))
        k = s.sample_size(len(STRATA[key]), 0.6)
        expected[key] = tuple(sorted(call for _r, call in ranked[:k]))
    assert s.draw(STRATA, 0.6, seed=77) == expected


def test_other_seeds_give_other_samples():
    samples = {s.draw({1: list(range(40))}, 0.6, seed=seed)[1] for seed in range(20)}
    assert len(samples) == 20


def test_every_call_can_be_drawn():
    """Not a fixed pick: over many seeds every call of a stratum turns up."""
    seen = set()
    for seed in range(200):
        seen.update(s.draw({1: list(range(10))}, 0.3, seed=seed)[1])
    assert seen == set(range(10))


def test_a_bad_seed_is_refused():
    for bad in (-1, s.MAX_SEED + 1, 1.5, "7", True):
        with pytest.raises(ValueError):
            s.draw(STRATA, 0.6, seed=bad)


@pytest.mark.parametrize(
    "prior_calls, prior_sampled, new, size",
    [
        (0, 0, 5, 3),  # a first draw: its own share
        (5, 3, 1, 1),  # 6 calls → 4: one more
        (6, 4, 1, 1),  # 7 calls → 5: one more
        (7, 5, 1, 0),  # 8 calls → 5: none (the new call is drawn from, not sampled)
        (10, 6, 10, 6),  # 20 → 12
        (0, 0, 1, 1),  # a specialist's first call comes after the draw: at least one
        (3, 3, 2, 0),  # sampled more than asked (rate changed): never fewer, nothing new
        (2, 2, 1, 0),  # 3 calls → 2: none
    ],
)
def test_a_top_up_brings_the_stratum_to_its_share_of_all_calls(prior_calls, prior_sampled, new, size):
    assert s.top_up_size(prior_calls, prior_sampled, new, 0.6) == size


def test_a_month_drawn_in_several_goes_samples_as_many_as_one_draw():
    calls = list(range(1, 24))
    sampled, drawn_from, seed = 0, 0, 1
    for batch in (calls[:5], calls[5:6], calls[6:7], calls[7:15], calls[15:]):
        got = s.draw({1: batch}, 0.6, seed=seed, prior={1: (drawn_from, sampled)})[1]
        assert set(got) <= set(batch)
        sampled += len(got)
        drawn_from += len(batch)
        seed += 1
        assert sampled == s.sample_size(drawn_from, 0.6)


def test_a_top_up_draw_is_reproducible_too():
    prior = {3: (11, 7), 7: (5, 3)}
    new = {3: [30, 31], 7: [40], 8: [50, 51, 52]}
    one = s.draw(new, 0.6, seed=99, prior=prior)
    assert one == s.draw(new, 0.6, seed=99, prior=prior)
    assert {k: len(v) for k, v in one.items()} == {3: 1, 7: 1, 8: 2}


def test_progress_and_what_is_short():
    done = s.StratumProgress(calls=5, undrawn=0, sampled=3, verified=3, rate=0.6, target=1.0)
    assert (done.required, done.short, done.finished, done.progress) == (3, 0, True, 1.0)
    half = s.StratumProgress(calls=5, undrawn=0, sampled=3, verified=1, rate=0.6, target=1.0)
    assert (half.short, half.finished) == (2, False)
    # calls made after the draw count: the month now asks for ceil(0.6 × 7) = 5
    late = s.StratumProgress(calls=7, undrawn=2, sampled=3, verified=3, rate=0.6, target=1.0)
    assert (late.required, late.short) == (5, 2)
    assert late.progress == pytest.approx(3 / 5)
    # a lower completion target: 80 % of 5 is 4
    lenient = s.StratumProgress(calls=5, undrawn=0, sampled=5, verified=4, rate=1.0, target=0.8)
    assert lenient.finished
    nothing = s.StratumProgress(calls=0, undrawn=0, sampled=0, verified=0, rate=0.6, target=1.0)
    assert nothing.progress is None and nothing.finished


def test_who_may_draw_judge_and_see():
    assert s.may_draw({Role.CARE_MANAGER}) and s.may_judge({"care_manager"})
    for role in set(Role) - {Role.CARE_MANAGER}:
        assert not s.may_draw({role}) and not s.may_judge({role})
    for role in (Role.CARE_MANAGER, Role.GENERAL_MANAGER, Role.SALES_MANAGER):
        assert s.scope(1, {role}) == s.EVERYONE
        assert s.may_see_stratum(1, {role}, 2)
    assert s.scope(5, {Role.INSURANCE}) == 5
    assert s.may_see_stratum(5, {Role.INSURANCE}, 5) and not s.may_see_stratum(5, {Role.INSURANCE}, 6)
    for role in (Role.SPECIALIST, Role.CONSULTANT, Role.FRONT_DESK, Role.ADMIN):
        assert s.scope(5, {role}) is None and not s.may_see_stratum(5, {role}, 5)
    # several roles: the widest wins
    assert s.scope(5, {Role.INSURANCE, Role.GENERAL_MANAGER}) == s.EVERYONE


@pytest.mark.parametrize("text, first", [("2026-10", date(2026, 10, 1)), (" 2026-1 ", date(2026, 1, 1)), ("2099-12", date(2099, 12, 1))])
def test_months_are_read(text, first):
    assert s.parse_month(text) == first


@pytest.mark.parametrize("text", ["", None, "2026", "2026-13", "2026-00", "26-10", "2026/10", "2026-10-01", "１２３４-10", "1999-12", "2100-01", "x" * 500])
def test_bad_months_are_refused(text):
    with pytest.raises(s.MonthInvalid):
        s.parse_month(text)


def test_month_arithmetic():
    assert s.next_month(date(2026, 12, 1)) == date(2027, 1, 1)
    assert s.previous_month(date(2026, 1, 1)) == date(2025, 12, 1)
    assert s.previous_month(date(2026, 3, 1)) == date(2026, 2, 1)
    assert s.month_text(date(2026, 3, 1)) == "2026-03"

"""The simulator's slot habits (care/telephony/sim.py): deterministic per customer and
seed, and deciding the outcomes the mix leaves to the customer."""

from __future__ import annotations

import random
from collections import Counter
from types import SimpleNamespace

from care.telephony import sim


def test_habits_are_deterministic_and_varied():
    assert [sim.habit_of(n, 42) for n in range(50)] == [sim.habit_of(n, 42) for n in range(50)]
    spread = Counter(sim.habit_of(n, 42) for n in range(3000))
    assert set(spread) == {"morning", "afternoon", "evening", None}
    assert 0.2 < spread[None] / 3000 < 0.4  # three in ten without a preference
    assert [sim.habit_of(n, 42) for n in range(50)] != [sim.habit_of(n, 7) for n in range(50)]


def test_slot_habit_chances():
    fav = next(n for n in range(100) if sim.habit_of(n, 1) == "evening")
    flat = next(n for n in range(100) if sim.habit_of(n, 1) is None)
    assert sim.slot_habit(fav, "evening", 1) == sim.HABIT_FAVOURITE
    assert sim.slot_habit(fav, "morning", 1) == sim.HABIT_OTHER
    assert sim.slot_habit(flat, "evening", 1) == sim.slot_habit(fav, "lunch", 1) == sim.HABIT_FLAT


def test_pick_follows_the_habit_for_customer_side_outcomes():
    fav = next(n for n in range(100) if sim.habit_of(n, 3) == "morning")
    p = sim.SimProvider(secret="s", mix="answered=50,no_answer=50", delay=0, thread=False, rng=random.Random(5), habits="3")
    morning = Counter(p.pick(SimpleNamespace(customer_id=fav, slot="morning")) for _ in range(2000))
    evening = Counter(p.pick(SimpleNamespace(customer_id=fav, slot="evening")) for _ in range(2000))
    assert abs(morning["answered"] / 2000 - sim.HABIT_FAVOURITE) < 0.04
    assert abs(evening["answered"] / 2000 - sim.HABIT_OTHER) < 0.04
    failing = sim.SimProvider(secret="s", mix="failed=1", delay=0, thread=False, habits="3")
    assert failing.pick(SimpleNamespace(customer_id=fav, slot="morning")) == "failed"  # our side: no habit
    plain = sim.SimProvider(secret="s", mix="busy=1", delay=0, thread=False)
    assert plain.pick(SimpleNamespace(customer_id=fav, slot="morning")) == "busy"  # habits off


def test_habits_setting():
    assert sim.parse_habits("42") == "42"
    assert sim.parse_habits("off") is None and sim.parse_habits("") is None and sim.parse_habits(None) is None

"""Benchmark (not a test): does the best-time suggestion reach more customers at the
first attempt? A simulated month replayed twice, without and with it.

    .venv/bin/python bench/besttime_replay.py
    .venv/bin/python bench/besttime_replay.py --customers 3000 --tasks 200 --seed 7 --strength 6

The customers are the simulator's (care.telephony.sim.slot_habit: seven in ten prefer a
slot, answering there 85 % of the time and elsewhere 20 %; the others 50 % anywhere),
drawn with ``--seed``. Before the month, three months of history: each customer got 0–6
calls in slots chosen at random (as a desk calls without the suggestion). Then 30 work
days; each day ``--tasks`` customers (drawn at random) need a call, and each gets a
first attempt in one of the day's three slots, each slot taking at most its share of the
day's calls (by its length: morning 3 h, afternoon 3.5 h, evening 2 h, with 20 % to
spare):

- **without**: the list is worked in its order, each call in a random slot with room
  left (the desk's habit today);
- **with**: each call goes to the slot with room left that the estimate of
  care.domain.besttime (the desk's rates per slot and weekday and the customer's own
  history, smoothed with ``--strength``) says is most likely to reach them — the
  contact card's "best open slot left"; the customers most sure of their best slot are
  placed first.

Whether a call is answered is one random number per task shared by both replays (the same
customer on the same day answers the same calls), so the difference is the slot alone.
Each replay learns from its own calls as the month goes on. Printed: each replay's
first-attempt reach rate (answered first attempts ÷ first attempts) and the difference.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from collections import defaultdict
from datetime import date, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from care.domain.besttime import DeskRates, Tally, smoothed  # noqa: E402
from care.telephony.sim import HABIT_SLOTS, slot_habit  # noqa: E402

SLOT_HOURS = {"morning": 3.0, "afternoon": 3.5, "evening": 2.0}
START = date(2026, 6, 1)  # a Monday


class History:
    """Tallies per customer and slot, and the desk's per slot and weekday."""

    def __init__(self) -> None:
        self.own: dict[int, dict[str, Tally]] = defaultdict(dict)
        self.desk: dict[tuple[str, int], Tally] = defaultdict(Tally)

    def add(self, customer: int, slot: str, day: date, answered: bool) -> None:
        t = Tally(int(answered), 1)
        self.own[customer][slot] = self.own[customer].get(slot, Tally()) + t
        self.desk[(slot, day.weekday())] = self.desk[(slot, day.weekday())] + t

    def copy(self) -> History:
        other = History()
        other.own = defaultdict(dict, {c: dict(s) for c, s in self.own.items()})
        other.desk = defaultdict(Tally, self.desk)
        return other


def capacities(tasks: int) -> dict[str, int]:
    total = sum(SLOT_HOURS.values())
    return {s: int(tasks * 1.2 * h / total) + 1 for s, h in SLOT_HOURS.items()}


def warm_up(customers: int, seed: int, rng: random.Random) -> History:
    history = History()
    for customer in range(customers):
        for _ in range(rng.randint(0, 6)):
            day = START - timedelta(days=rng.randint(1, 90))
            slot = rng.choice(HABIT_SLOTS)
            history.add(customer, slot, day, rng.random() < slot_habit(customer, slot, seed))
    return history


def replay(history: History, plan: list[list[tuple[int, float]]], seed: int, strength: int, *, suggest: bool, rng: random.Random) -> tuple[int, int]:
    reached = calls = 0
    for n, day_tasks in enumerate(plan):
        day = START + timedelta(days=n)
        room = capacities(len(day_tasks))
        desk = DeskRates(dict(history.desk))
        placed: list[tuple[int, float, str]] = []
        if suggest:
            scored = []
            for customer, u in day_tasks:
                own = history.own.get(customer, {})
                rates = {s: smoothed(own.get(s, Tally()), desk.rate(s, day.weekday(), strength), strength) for s in HABIT_SLOTS}
                ranked = sorted(HABIT_SLOTS, key=lambda s: -rates[s])
                scored.append((rates[ranked[0]] - rates[ranked[1]], customer, u, ranked))
            for _margin, customer, u, ranked in sorted(scored, key=lambda x: -x[0]):
                slot = next(s for s in ranked if room[s] > 0)
                room[slot] -= 1
                placed.append((customer, u, slot))
        else:
            for customer, u in day_tasks:
                slot = rng.choice([s for s in HABIT_SLOTS if room[s] > 0])
                room[slot] -= 1
                placed.append((customer, u, slot))
        for customer, u, slot in placed:
            answered = u < slot_habit(customer, slot, seed)
            history.add(customer, slot, day, answered)
            reached += answered
            calls += 1
    return reached, calls


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--customers", type=int, default=2000)
    parser.add_argument("--tasks", type=int, default=150, help="first calls per day")
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--strength", type=int, default=6, help="best_time_prior_strength")
    parser.add_argument("--json", type=Path, help="also write the result as a row of bench/run_all.py's table")
    args = parser.parse_args()

    rng = random.Random(f"besttime-replay/{args.seed}")  # noqa: S311 - a simulation
    history = warm_up(args.customers, args.seed, rng)
    plan = [
        [(rng.randrange(args.customers), rng.random()) for _ in range(args.tasks)]
        for _ in range(args.days)
    ]
    results = {}
    for suggest in (False, True):
        reached, calls = replay(history.copy(), plan, args.seed, args.strength, suggest=suggest,
                                rng=random.Random(f"besttime-slots/{args.seed}"))  # noqa: S311
        results[suggest] = reached / calls
        label = "with the suggestion   " if suggest else "without the suggestion"
        print(f"{label}: first-attempt reach rate {reached / calls:6.1%} ({reached} of {calls} first calls)")
    print(f"difference: {100 * (results[True] - results[False]):+.1f} percentage points "
          f"({args.customers} customers, {args.tasks} first calls a day for {args.days} days, seed {args.seed}, strength {args.strength})")
    if args.json:
        args.json.write_text(json.dumps([{
            "path": "best time to call: first-call reach rate", "db": "-", "figure": round(100 * results[True], 1),
            "unit": "%", "ceiling": round(100 * results[False], 1), "ratio": round(results[True] / results[False], 2),
            "p99_ms": None, "target": "above the reach without the suggestion", "met": results[True] > results[False],
        }], indent=2))  # fmt: skip


if __name__ == "__main__":
    main()

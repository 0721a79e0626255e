"""Benchmark (not a test): the daily care-task generator on a synthetic dealership.

    .venv/bin/python bench/generate_bench.py                       # SQLite and PostgreSQL
    .venv/bin/python bench/generate_bench.py --db sqlite --sizes 12000
    .venv/bin/python bench/generate_bench.py --profile             # cProfile the big run

For each size (vehicles; customers = vehicles / 1.2, visits = 5 × vehicles unless given)
it builds the dealership of bench/dealership.py into a fresh database – a SQLite file in
a temporary directory, or a schema of its own on PostgreSQL (dropped afterwards) – and
times `generate`, in this order on the same database:

- ``first``: the first run ever on ``--today`` (an empty task table: every open window
  creates a task, about 0.67 per vehicle);
- ``again``: the same day again (idempotent: nothing created, all ``already_exists``);
- ``next day``: the following day (the steady state of a daily run);
- ``1st of month``: the 1st of the next month (every vehicle lapsed this month gets its
  R9 recall, last month's open ones are superseded).

Each line gives the wall time (generate + commit) and the CPU time of this process (on
SQLite all of the work; on PostgreSQL the server's share is not in it): the machine may
be busy with other work, and the CPU time shows what the generator itself costs.

Targets (issue 14), 100k vehicles: the first run and the 1st of a month ≤ 3 s, the next
day ≤ 1.5 s, growing linearly with the fleet (the 100k rows' ``ratio`` is
t(100k) / (10 × t(10k)) when 10,000 is among the sizes: 1.0 is linear).

``--profile`` cProfiles the largest size's runs (``--profile-runs`` picks which) and
prints the top functions by cumulative and by own time; ``--json FILE`` writes the rows
in the benchmarks' common format.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import pstats
import sys
import tempfile
import time
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import sqlalchemy as sa  # noqa: E402
from sqlalchemy.orm import Session  # noqa: E402

import care.models  # noqa: E402, F401 - every table
from bench.dealership import build  # noqa: E402
from care.domain.dates import add_months, first_of_month  # noqa: E402
from care.extensions import db  # noqa: E402
from care.services import Actor  # noqa: E402
from care.services.generator import generate  # noqa: E402

PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def sqlite_engine(tmp: Path) -> tuple[sa.Engine, callable]:
    engine = sa.create_engine(f"sqlite:///{tmp / 'bench.sqlite'}")

    @sa.event.listens_for(engine, "connect")
    def _pragmas(conn, _record):  # as care/__init__.py sets them
        cur = conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.close()

    return engine, engine.dispose


def pg_engine(url: str) -> tuple[sa.Engine, callable]:
    schema = f"care_bench_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    admin = sa.create_engine(url)
    with admin.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    engine = sa.create_engine(url, connect_args={"options": f"-csearch_path={schema} -c jit=off"})  # as the app (CARE_PG_JIT)

    def drop():
        engine.dispose()
        with admin.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()

    return engine, drop


# (label, path of the JSON row, target in seconds at 100k vehicles)
RUNS = (
    ("first", "generate first run", 3.0),
    ("again", "generate same day again", None),
    ("next day", "generate next day", 1.5),
    ("1st of month", "generate 1st of month (R9)", 3.0),
)
TARGET_SIZE = 100_000


def run_days(today: date) -> dict[str, date]:
    """The day each run generates."""
    return {
        "first": today,
        "again": today,
        "next day": today + timedelta(days=1),
        "1st of month": add_months(first_of_month(today), 1),
    }


def timed_run(engine, day: date, profile: cProfile.Profile | None = None):
    with Session(engine) as session:
        start, cpu = time.perf_counter(), time.process_time()
        if profile:
            profile.enable()
        run = generate(session, day, actor=Actor("bench"), now=datetime.now(UTC))
        session.commit()
        if profile:
            profile.disable()
        total, cpu = time.perf_counter() - start, time.process_time() - cpu
        return run.created_total, sum(sum(r.values()) for r in (run.skipped or {}).values()), total, cpu


def bench(kind: str, vehicles: int, args) -> list[tuple]:
    tmp = Path(tempfile.mkdtemp())
    engine, cleanup = sqlite_engine(tmp) if kind == "sqlite" else pg_engine(args.pg_url)
    results = []
    try:
        db.metadata.create_all(engine)
        start = time.perf_counter()
        with Session(engine) as session:
            counts = build(session, vehicles=vehicles, today=args.today, seed=args.seed)
            session.commit()
        if kind == "postgresql":
            with engine.begin() as conn:
                conn.execute(sa.text("ANALYZE"))
        print(f"\n{kind}: built {counts} in {time.perf_counter() - start:.1f} s", flush=True)
        days = run_days(args.today)
        for label, _, _ in RUNS:
            profiled = args.profile and vehicles == max(args.sizes) and label in args.profile_runs
            profile = cProfile.Profile() if profiled else None
            created, skipped, total, cpu = timed_run(engine, days[label], profile)
            results.append((kind, vehicles, label, created, skipped, total, cpu))
            print(f"  {label:12} {days[label]}  created {created:7d}  skipped {skipped:7d}  "
                  f"{total:6.2f} s (this process's CPU {cpu:6.2f} s)", flush=True)  # fmt: skip
            if profile:
                print(f"--- profile: {kind}, {vehicles:,} vehicles, {label}")
                stats = pstats.Stats(profile)
                stats.sort_stats("cumulative").print_stats(args.profile_lines)
                stats.sort_stats("tottime").print_stats(args.profile_lines)
    finally:
        cleanup()
    return results


def json_rows(results: list[tuple]) -> list[dict]:
    """The common row format; targets are for 100k vehicles, other sizes are context."""
    seconds = {(kind, vehicles, label): total for kind, vehicles, label, *_, total, _ in results}
    rows = []
    for kind, vehicles, label, _, _, total, _ in results:
        path, target = next((path, target) for name, path, target in RUNS if name == label)
        if target is None:
            continue
        small = seconds.get((kind, 10_000, label))
        ratio = None
        if vehicles == TARGET_SIZE and small:
            ratio = round(total / (10 * small), 2)  # 1.0: linear from 10k to 100k
        ceiling = target if vehicles == TARGET_SIZE else target * vehicles / TARGET_SIZE
        rows.append(
            {
                "path": f"{path}, {vehicles // 1000}k vehicles",
                "db": kind,
                "figure": round(total, 3),
                "unit": "s",
                "ceiling": None,
                "ratio": ratio,
                "p99_ms": None,
                "target": f"≤ {ceiling:g} s" + (" (linear from 10k: ratio ≈ 1)" if ratio is not None else ""),
                "met": total <= ceiling,
            }
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", choices=("sqlite", "postgresql", "both"), default="both")
    parser.add_argument("--sizes", default="10000,100000", help="vehicle counts, comma-separated")
    parser.add_argument("--today", type=date.fromisoformat, default=date(2026, 3, 10))
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--pg-url", default=os.environ.get("CARE_BENCH_PG_URL", PG_URL))
    parser.add_argument("--profile", action="store_true", help="cProfile the largest size's runs")
    parser.add_argument(
        "--profile-runs",
        default="first,next day,1st of month",
        help="which runs --profile profiles (comma-separated labels)",
    )
    parser.add_argument("--profile-lines", type=int, default=25)
    parser.add_argument("--json", type=Path, help="also write the rows (common format) here")
    args = parser.parse_args()
    args.sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    args.profile_runs = {s.strip() for s in args.profile_runs.split(",")}
    kinds = ("sqlite", "postgresql") if args.db == "both" else (args.db,)
    results = []
    for kind in kinds:
        for size in args.sizes:
            results.extend(bench(kind, size, args))
    print("\n| database | vehicles | run | created | skipped | seconds (with commit) | Python CPU seconds |")
    print("|---|---:|---|---:|---:|---:|---:|")
    for kind, vehicles, label, created, skipped, total, cpu in results:
        print(f"| {kind} | {vehicles:,} | {label} | {created:,} | {skipped:,} | {total:.2f} | {cpu:.2f} |")
    if args.json:
        args.json.write_text(json.dumps(json_rows(results), indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()

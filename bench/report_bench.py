"""Benchmark (not a test): the monthly report on 24 months of history, 1,000,000 call attempts.

    .venv/bin/python bench/report_bench.py                    # SQLite and PostgreSQL
    .venv/bin/python bench/report_bench.py --db sqlite --attempts 200000 --no-wrk

For each database it builds, in a fresh SQLite file or a schema of its own on PostgreSQL
(dropped afterwards):

- the synthetic dealership of bench/dealership.py (customers, vehicles, visits, policies,
  deliveries, users);
- 24 months of care tasks with their outcomes and ``--attempts`` call attempts (about
  2.5 attempts per task: 70 % of tasks got the full three, R13), each attempt linked to
  its task in ``call_attempt_tasks`` as the app links them.

Then it times, in the same run and on the same data:

- ``report``: the whole monthly report of a month in the middle of the history
  (``care.services.kpis.monthly_kpis``, everything ``care report --month`` computes),
  the median of ``--repeat`` runs, each in a fresh session;
- ``group by``: one indexed ``GROUP BY`` over that month's attempts (per specialist and
  outcome, the ``ix_call_attempts_started_at`` index), the same repeats — the floor any
  report over the month's calls has to stand on.

Target (issue 12): report ≤ 5 × group by. Without ``--no-wrk`` (and with ``wrk`` on the
PATH) it also starts the app under gunicorn (2 sync workers) against the data, logs in
as the care manager, and runs ``wrk -c16`` against the KPI drill-down page and the
manager's home page, printing requests/s and p99.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from datetime import time as dtime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import sqlalchemy as sa  # noqa: E402
from sqlalchemy.orm import Session  # noqa: E402

import care.models  # noqa: E402, F401 - every table
from bench.dealership import CHUNK, PASSWORD, SLOT_HOURS, TYPES, build  # noqa: E402
from bench.generate_bench import PG_URL, pg_engine  # noqa: E402
from care.domain.outcomes import outcomes_for  # noqa: E402
from care.extensions import db  # noqa: E402
from care.models import CallAttempt, CallAttemptTask, CareTask, TaskOutcome, User, UserRole, Vehicle  # noqa: E402
from care.services.kpis import monthly_kpis  # noqa: E402

MANAGER = "care_manager1"


def _months(last: date, n: int) -> list[date]:
    out, y, m = [], last.year, last.month
    for _ in range(n):
        out.append(date(y, m, 1))
        y, m = (y, m - 1) if m > 1 else (y - 1, 12)
    return out[::-1]


def add_history(session: Session, *, attempts: int, months: list[date], seed: int) -> dict[str, int]:
    """Tasks, outcomes, attempts and links over ``months``; returns row counts."""
    rng = random.Random(seed)
    vehicles = session.execute(sa.select(Vehicle.id, Vehicle.customer_id)).all()
    by_role: dict[str, list[int]] = {}
    for uid, role in session.execute(sa.select(UserRole.user_id, UserRole.role)):
        by_role.setdefault(role, []).append(uid)
    kinds = [t for t, share in TYPES for _ in range(share)]
    closing = {t: [o.code for o in outcomes_for(t) if o.closes_task] or ["done"] for t, _ in TYPES}
    n_tasks = round(attempts / 2.5)
    per_month = n_tasks // len(months)
    tasks, outs, atts, links = [], [], [], []
    task_id = attempt_id = outcome_id = 0
    counts = {"care_tasks": 0, "task_outcomes": 0, "call_attempts": 0, "call_attempt_tasks": 0}

    def flush(final: bool = False) -> None:
        if not final and len(atts) < CHUNK:
            return
        for model, rows, key in ((CareTask, tasks, "care_tasks"), (TaskOutcome, outs, "task_outcomes"),
                                 (CallAttempt, atts, "call_attempts"), (CallAttemptTask, links, "call_attempt_tasks")):  # fmt: skip
            if rows:  # parents first
                session.execute(sa.insert(model), rows)
                counts[key] += len(rows)
                rows.clear()

    for month in months:
        days = ((month.replace(day=28) + timedelta(days=4)).replace(day=1) - month).days
        for _ in range(per_month):
            task_id += 1
            kind = rng.choice(kinds)
            vehicle_id, customer_id = rng.choice(vehicles)
            opens = month + timedelta(days=rng.randrange(days))
            assignee = rng.choice(by_role["insurance" if kind == "insurance_renewal" else "specialist"])
            n = rng.choices((1, 2, 3), weights=(20, 10, 70))[0]
            reached = rng.random() < (0.85 if n < 3 else 0.35)
            status = "done" if reached else rng.choice(("failed", "failed", "expired"))
            start = datetime.combine(opens, dtime(0), UTC)
            when = start
            for k in range(n):
                attempt_id += 1
                when = start + timedelta(days=k, hours=rng.choice(SLOT_HOURS), minutes=rng.randrange(60))
                answered = reached and k == n - 1
                atts.append({
                    "id": attempt_id, "task_id": task_id, "customer_id": customer_id, "user_id": assignee,
                    "provider": "sim", "provider_call_id": f"B{attempt_id}", "to_number": f"+86138{customer_id:08d}",
                    "status": "completed" if answered else "no-answer", "rank": 3, "sequence": 3, "events_folded": 3,
                    "ended_as": "completed" if answered else "no-answer", "answered": answered,
                    "outcome": "completed" if answered else "no-answer", "counted": True,
                    "slot": ("morning", "afternoon", "evening")[k % 3], "slot_date": (opens + timedelta(days=k)),
                    "started_at": when, "answered_at": when + timedelta(seconds=8) if answered else None,
                    "ended_at": when + timedelta(seconds=rng.randrange(20, 400)), "duration_s": rng.randrange(20, 400) if answered else 0,
                    "finalized_at": when + timedelta(minutes=1), "updated_at": when,
                })  # fmt: skip
                links.append({"attempt_id": attempt_id, "task_id": task_id})
            closed = when + timedelta(minutes=5)
            tasks.append({
                "id": task_id, "type": kind, "status": status, "cycle_key": f"bench:{task_id}",
                "customer_id": customer_id, "vehicle_id": vehicle_id, "opens_on": opens,
                "due_at": start + timedelta(days=rng.randrange(3, 15), hours=10), "owner_rule": "round_robin",
                "assignee_id": assignee, "channel": "call", "reason_id": "bench", "outcome": None,
                "closed_at": closed, "closed_by_id": assignee, "created_at": start, "updated_at": closed,
            })  # fmt: skip
            if reached:
                outcome_id += 1
                code = rng.choice(closing[kind])
                tasks[-1]["outcome"] = code
                outs.append({"id": outcome_id, "task_id": task_id, "outcome": code, "closes_task": True,
                             "source": "manual", "recorded_by_id": assignee, "recorded_at": closed})  # fmt: skip
            flush()
    flush(final=True)
    return counts


def median_time(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def time_report(engine, month: date, repeat: int) -> float:
    now = datetime.now(UTC)

    def run():
        with Session(engine) as session:
            monthly_kpis(session, month, now=now)

    run()  # warm the caches (the settings, the statement cache) once
    return median_time(run, repeat)


def time_group_by(engine, month: date, repeat: int) -> tuple[float, int]:
    start = datetime.combine(month, dtime(0), UTC) - timedelta(hours=8)
    end = datetime.combine((month.replace(day=28) + timedelta(days=4)).replace(day=1), dtime(0), UTC) - timedelta(hours=8)
    att = CallAttempt.__table__
    stmt = (
        sa.select(att.c.user_id, att.c.outcome, sa.func.count())
        .where(att.c.started_at >= start, att.c.started_at < end)
        .group_by(att.c.user_id, att.c.outcome)
    )
    rows: list = []

    def run():
        nonlocal rows
        with Session(engine) as session:
            rows = session.execute(stmt).all()

    run()
    return median_time(run, repeat), sum(r[2] for r in rows)


# --------------------------------------------------------------------------- wrk


def wrk_pages(kind: str, url: str, schema: str | None, month: date, args) -> list[dict]:
    from bench.webhook_bench import _ms, free_port, start_gunicorn, stop, write_instance

    if not shutil.which("wrk"):
        print("  (wrk is not on the PATH: no page figures)")
        return []
    import requests

    tmp = Path(tempfile.mkdtemp())
    port = free_port()
    write_instance(tmp / "instance", url, schema, f"http://127.0.0.1:{port}")
    with (tmp / "instance" / "config.py").open("a") as fh:
        fh.write("CARE_HTTPS = False\n")  # plain http on 127.0.0.1: the session cookie must come back
    env = {**os.environ, "BENCH_INSTANCE": str(tmp / "instance")}
    proc = start_gunicorn("bench.webhook_wsgi:app", port, env, 2, tmp / "gunicorn.log")
    results = []
    try:
        base = f"http://127.0.0.1:{port}"
        s = requests.Session()
        page = s.get(f"{base}/auth/login", timeout=30).text
        token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page).group(1)
        r = s.post(f"{base}/auth/login", data={"csrf_token": token, "username": MANAGER, "password": PASSWORD},
                   allow_redirects=False, timeout=30)  # fmt: skip
        if r.status_code not in (302, 303):
            raise RuntimeError(f"log-in answered {r.status_code}")
        cookie = "; ".join(f"{c.name}={c.value}" for c in s.cookies)
        ym = month.strftime("%Y-%m")
        for label, path in (("KPI drill-down", f"/kpis/first_service_return_rate?month={ym}"),
                            ("manager's home", "/")):  # fmt: skip
            status = s.get(f"{base}{path}", timeout=60, allow_redirects=True)
            if status.status_code != 200:
                print(f"  {label}: {path} answered {status.status_code}; skipped")
                continue
            cmd = ["wrk", "-t2", "-c16", f"-d{args.duration}s", "--latency", "--timeout", "10s",
                   "-H", f"Cookie: {cookie}", f"{base}{status.url[len(base):]}"]  # fmt: skip
            out = subprocess.run(cmd, capture_output=True, text=True, timeout=args.duration + 120).stdout
            rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
            p99 = _ms(re.search(r"^\s+99%\s+(\S+)", out, re.M).group(1))
            non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
            results.append({"db": kind, "page": label, "rps": rps, "p99": p99, "non2xx": int(non2xx.group(1)) if non2xx else 0})
            print(f"  {label:15} {rps:7.1f} req/s  p99 {p99:7.1f} ms  non-2xx {results[-1]['non2xx']}", flush=True)
    finally:
        stop(proc)
        shutil.rmtree(tmp, ignore_errors=True)
    return results


# --------------------------------------------------------------------------- main


def _engine(kind: str, args, tmp: Path) -> tuple[sa.Engine, callable, str, str | None, bool]:
    """(engine, cleanup, url, schema, already built). With ``--keep DIR`` the SQLite file and
    the PostgreSQL schema ``care_report_bench`` stay for the next run, which reuses them."""
    if kind == "sqlite":
        path = Path(args.keep) / "report_bench.sqlite" if args.keep else tmp / "bench.sqlite"
        built = path.exists()
        engine = sa.create_engine(f"sqlite:///{path}")
        sa.event.listen(engine, "connect", _sqlite_pragmas)
        cleanup = engine.dispose if args.keep else (lambda: (engine.dispose(), path.unlink(missing_ok=True)))
        return engine, cleanup, f"sqlite:///{path}", None, built
    if not args.keep:
        engine, cleanup = pg_engine(args.pg_url)
        with engine.connect() as conn:
            schema = conn.execute(sa.text("SELECT current_schema()")).scalar_one()
        return engine, cleanup, args.pg_url, schema, False
    schema = "care_report_bench"
    with sa.create_engine(args.pg_url).begin() as conn:
        built = conn.execute(sa.text("SELECT 1 FROM pg_namespace WHERE nspname = :s"), {"s": schema}).first() is not None
        conn.execute(sa.text(f'CREATE SCHEMA IF NOT EXISTS "{schema}"'))
    engine = sa.create_engine(args.pg_url, connect_args={"options": f"-csearch_path={schema} -c jit=off"})  # as the app (CARE_PG_JIT)
    return engine, engine.dispose, args.pg_url, schema, built


def _sqlite_pragmas(conn, _record):  # as care/__init__.py sets them
    cur = conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.close()


def profile_report(engine, month: date) -> None:
    """cProfile one report and list its statements by time (``--profile``)."""
    import cProfile
    import pstats

    statements: list[tuple[float, str]] = []

    def before(conn, cursor, statement, parameters, context, executemany):
        conn.info["bench_t0"] = time.perf_counter()

    def after(conn, cursor, statement, parameters, context, executemany):
        statements.append((time.perf_counter() - conn.info["bench_t0"], " ".join(statement.split())[:160]))

    sa.event.listen(engine, "before_cursor_execute", before)
    sa.event.listen(engine, "after_cursor_execute", after)
    prof = cProfile.Profile()
    with Session(engine) as session:
        prof.enable()
        monthly_kpis(session, month, now=datetime.now(UTC))
        prof.disable()
    sa.event.remove(engine, "before_cursor_execute", before)
    sa.event.remove(engine, "after_cursor_execute", after)
    print(f"  {len(statements)} statements, {sum(t for t, _ in statements) * 1000:.0f} ms in the database:")
    for took, text in sorted(statements, reverse=True)[:25]:
        print(f"    {took * 1000:7.1f} ms  {text}")
    pstats.Stats(prof).sort_stats("cumulative").print_stats(25)


def bench_db(kind: str, args) -> tuple[dict, list[dict]]:
    tmp = Path(tempfile.mkdtemp())
    engine, cleanup, url, schema, built = _engine(kind, args, tmp)
    try:
        months = _months(args.last_month, 24)
        if not built:
            db.metadata.create_all(engine)
            start = time.perf_counter()
            with Session(engine) as session:
                counts = build(session, vehicles=args.vehicles, today=args.last_month + timedelta(days=40), seed=args.seed)
                counts.update(add_history(session, attempts=args.attempts, months=months, seed=args.seed))
                manager = session.scalar(sa.select(User).where(User.username == MANAGER))
                manager.set_password(PASSWORD)
                session.commit()
            with engine.begin() as conn:
                conn.execute(sa.text("ANALYZE"))
            print(f"\n{kind}: built {counts} in {time.perf_counter() - start:.0f} s", flush=True)
        else:
            with Session(engine) as session:
                counts = {"call_attempts": session.scalar(sa.select(sa.func.count()).select_from(CallAttempt))}
            print(f"\n{kind}: reusing the data set kept in {args.keep} ({counts['call_attempts']:,} attempts)", flush=True)
        month = months[len(months) // 2]
        if args.profile:
            profile_report(engine, month)
        report = time_report(engine, month, args.repeat)
        group_by, month_attempts = time_group_by(engine, month, args.repeat)
        row = {"db": kind, "month": month.strftime("%Y-%m"), "attempts": counts["call_attempts"],
               "month_attempts": month_attempts, "report": report, "group_by": group_by}  # fmt: skip
        print(f"  report {month:%Y-%m}: {report * 1000:8.1f} ms   group by over its {month_attempts} attempts: "
              f"{group_by * 1000:7.1f} ms   ratio {report / group_by:5.1f}", flush=True)  # fmt: skip
        pages = [] if args.no_wrk else wrk_pages(kind, url, schema, month, args)
        return row, pages
    finally:
        engine.dispose()
        cleanup()
        shutil.rmtree(tmp, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", choices=("sqlite", "postgresql", "both"), default="both")
    parser.add_argument("--attempts", type=int, default=1_000_000)
    parser.add_argument("--vehicles", type=int, default=60_000)
    parser.add_argument("--last-month", type=date.fromisoformat, default=date(2026, 11, 1))
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--duration", type=int, default=10, help="seconds of wrk per page")
    parser.add_argument("--no-wrk", action="store_true")
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--pg-url", default=os.environ.get("CARE_BENCH_PG_URL", PG_URL))
    parser.add_argument("--keep", metavar="DIR", help="keep the data set (SQLite file in DIR, PostgreSQL schema "
                        "care_report_bench) and reuse it when it is there")
    parser.add_argument("--profile", action="store_true", help="cProfile one report and list its statements")
    parser.add_argument("--json", type=Path, help="also write the rows of bench/run_all.py's table here")
    args = parser.parse_args()
    kinds = ("sqlite", "postgresql") if args.db == "both" else (args.db,)
    rows, pages = [], []
    for kind in kinds:
        row, page_rows = bench_db(kind, args)
        rows.append(row)
        pages.extend(page_rows)
    print("\n| database | month | attempts (all / month) | report | group by | ratio | target ≤ 5 | met |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        ratio = r["report"] / r["group_by"]
        print(f"| {r['db']} | {r['month']} | {r['attempts']:,} / {r['month_attempts']:,} | {r['report'] * 1000:.0f} ms | "
              f"{r['group_by'] * 1000:.1f} ms | {ratio:.1f} | 5 | {'yes' if ratio <= 5 else 'no'} |")  # fmt: skip
    if pages:
        print("\n| database | page | req/s | p99 |")
        print("|---|---|---|---|")
        for p in pages:
            print(f"| {p['db']} | {p['page']} | {p['rps']:.1f} | {p['p99']:.0f} ms |")
    if args.json:
        table = [{
            "path": f"monthly report vs one GROUP BY ({r['attempts']:,} attempts)", "db": r["db"],
            "figure": round(r["report"] * 1000, 1), "unit": "ms", "ceiling": round(r["group_by"] * 1000, 1),
            "ratio": round(r["report"] / r["group_by"], 2), "p99_ms": None, "target": "report ≤ 5 × group by",
            "met": r["report"] / r["group_by"] <= 5,
        } for r in rows]  # fmt: skip
        table += [{
            "path": p["page"], "db": p["db"], "figure": p["rps"], "unit": "req/s", "ceiling": None, "ratio": None,
            "p99_ms": p["p99"], "target": "measured (no target)", "met": p["non2xx"] == 0,
        } for p in pages]  # fmt: skip
        args.json.write_text(json.dumps(table, indent=2))


if __name__ == "__main__":
    main()

"""Benchmark (not a test): the worklist, the contact page and the customer search under wrk.

    .venv/bin/python bench/pages_bench.py                       # SQLite and PostgreSQL
    .venv/bin/python bench/pages_bench.py --db sqlite --duration 5
    .venv/bin/python bench/pages_bench.py --db sqlite --profile 300 --no-wrk
    .venv/bin/python bench/pages_bench.py --only search     # the customer searches alone

For each database it builds once (bench/pages_data.py: 100,000 customers, ~200,000 care
tasks, 1,000,000 call attempts, today's work for the specialists) — SQLite in a file cached
under ``--cache`` (default /tmp/care_pages_bench, keyed by the sizes, the seed and the
day), PostgreSQL in a schema of its own (dropped at the end unless ``--keep-pg``, which
also reuses it on the next run) — migrates it to the head (so a cached copy gets the new
migrations), then:

1. starts the app under gunicorn (2 sync workers, bench/webhook_wsgi.py's ``create_app``
   with a benchmark instance folder), logs in through the login form as ``specialist1``
   and ``care_manager1`` and keeps their session cookies (GETs need no CSRF token);
2. runs ``wrk -t2 -c16 -d10s --latency`` on the specialist's worklist (50 lines a page),
   the manager's worklist, the contact page of the three-reason customer and the
   customer search (a phone tail, a plate fragment, a name fragment);
3. starts the ceiling, bench/pages_ref_app.py (a minimal Flask app: one keyset query for
   the same 50 worklist lines, the contact page's rows by primary key, each through a
   minimal template), and runs wrk on it the same way;
4. prints path, database, req/s, ceiling, ratio, p99, target and met.

Targets (issue 14): worklist and contact page ≥ 0.5 × their ceiling and p99 ≤ 60 ms; the
search p99 ≤ 50 ms. ``--profile N`` runs N requests of each page through the app's test
client in this process under cProfile (and counts their SQL statements) before wrk.
Everything runs on one machine with wrk and the database: the figures are relative.
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import io
import json
import os
import pstats
import re
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import sqlalchemy as sa  # noqa: E402

from bench.dealership import PASSWORD  # noqa: E402
from bench.pages_data import DATA_VERSION, LOGINS, THREE_REASON, build_pages_data  # noqa: E402
from bench.webhook_bench import _ms, free_port, start_gunicorn, stop, write_instance  # noqa: E402

PG_URL = "postgresql://postgres@127.0.0.1:5432/test"
PAGE_SIZE = 50
# A phone's last digits (10 customers), a plate fragment (10 plates) and a fragment from
# inside a name (客户4242, 客户42420 … 42429): "contains", read from care/models/search.py's terms.
SEARCHES = (("search phone tail", "1380"), ("search plate fragment", "A0424"), ("search name fragment", "户4242"))


def pages(manager_id: int | None = None) -> list[dict]:
    """What is measured: label, login, app path, ceiling path (None: no ceiling), target."""
    rows = [
        {"label": "worklist (specialist)", "login": "specialist1", "path": "/tasks/", "ref": "/ref/worklist?user=specialist1",
         "p99": 60, "ratio": 0.5},
        {"label": "worklist (manager)", "login": "care_manager1", "path": "/tasks/", "ref": "/ref/worklist?user=",
         "p99": 60, "ratio": 0.5},
        {"label": "contact page (3 reasons)", "login": "specialist1", "path": f"/tasks/contact/{THREE_REASON}",
         "ref": f"/ref/contact/{THREE_REASON}", "p99": 60, "ratio": 0.5},
    ]  # fmt: skip
    for label, q in SEARCHES:
        # percent-encoded: wrk refuses a URL with raw UTF-8 in it (and measured nothing)
        rows.append({"label": label, "login": "specialist1", "path": f"/customers/?q={quote(q)}", "ref": None, "p99": 50,
                     "ratio": None})  # fmt: skip
    return rows


# ------------------------------------------------------------------------- data


def make_app(instance: Path):
    from care import create_app

    return create_app({"INSTANCE_PATH": str(instance)})


def prepare(app, args, fresh: bool) -> None:
    """Migrate (a cached copy gets the new migrations) and, when ``fresh``, fill."""
    from care.cli import upgrade_schema
    from care.extensions import db
    from care.models import User, search
    from care.models.types import utcnow
    from care.services.message_templates import ensure_default_templates
    from care.services.scripts import ensure_default_scripts

    with app.app_context():
        upgrade_schema()
        if fresh:
            t0 = time.perf_counter()
            ensure_default_scripts(db.session, now=utcnow())
            ensure_default_templates(db.session, now=utcnow())
            counts = build_pages_data(
                db.session, now=datetime.now(UTC), customers=args.customers, tasks=args.tasks,
                attempts=args.attempts, seed=args.seed,
            )  # fmt: skip
            for user in db.session.scalars(sa.select(User).where(User.username.in_(LOGINS))):
                user.set_password(PASSWORD)
            db.session.commit()
        # the search index (SQLite) of the rows loaded: here, not in the first search measured
        search.sync(db.session.connection())
        db.session.commit()
        if fresh:
            if db.engine.dialect.name == "postgresql":
                for table in ("customers", "vehicles", "care_tasks", "call_attempts", "task_outcomes", "users"):
                    db.session.execute(sa.text(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))"))
                db.session.commit()
            print(f"  built {counts} in {time.perf_counter() - t0:.0f} s", flush=True)
        db.session.execute(sa.text("ANALYZE"))
        db.session.commit()
        db.session.remove()
        db.engine.dispose()


def sqlite_target(args, tmp: Path):
    args.cache.mkdir(parents=True, exist_ok=True)
    day = datetime.now(UTC).date().isoformat()
    path = args.cache / f"pages_v{DATA_VERSION}_{args.customers}_{args.tasks}_{args.attempts}_{args.seed}_{day}.sqlite"
    fresh = not path.exists()
    if fresh:  # build beside it, move into place when complete
        building = path.with_suffix(".building")
        for leftover in args.cache.glob(building.name + "*"):
            leftover.unlink()
        return f"sqlite:///{building}", None, fresh, lambda: _finish_sqlite(building, path), path
    return f"sqlite:///{path}", None, fresh, lambda: None, path


def _finish_sqlite(building: Path, path: Path) -> None:
    import sqlite3

    with sqlite3.connect(building) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    building.rename(path)


def pg_target(args):
    day = datetime.now(UTC).date().strftime("%Y%m%d")
    schema = f"care_pages_bench_v{DATA_VERSION}_{day}" if args.keep_pg else f"care_pages_bench_{os.getpid()}"
    admin = sa.create_engine(args.pg_url.replace("postgresql://", "postgresql+psycopg://", 1))
    with admin.begin() as conn:
        exists = conn.execute(sa.text("SELECT 1 FROM information_schema.tables WHERE table_schema = :s AND table_name = 'bench_built'"),
                              {"s": schema}).first() is not None  # fmt: skip
        if not exists:
            conn.execute(sa.text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
            conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))

    def built():
        with admin.begin() as conn:
            conn.execute(sa.text(f'CREATE TABLE IF NOT EXISTS "{schema}".bench_built (at TIMESTAMPTZ)'))

    def drop():
        if not args.keep_pg:
            with admin.begin() as conn:
                conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()

    return args.pg_url, schema, not exists, built, drop


# ------------------------------------------------------------------------- running


def log_in(base: str, username: str) -> str:
    """The session cookie of ``username``, logged in through the login form."""
    import requests

    s = requests.Session()
    page = s.get(f"{base}/auth/login", timeout=60).text
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page).group(1)
    r = s.post(f"{base}/auth/login", data={"csrf_token": token, "username": username, "password": PASSWORD},
               allow_redirects=False, timeout=60)  # fmt: skip
    if r.status_code not in (302, 303):
        raise RuntimeError(f"log-in of {username} answered {r.status_code}")
    return "; ".join(f"{c.name}={c.value}" for c in s.cookies)


def check(url: str, cookie: str | None, warm: int = 6) -> tuple[int, int]:
    """The page's status and size; ``warm`` GETs first, so that each worker has read what it
    keeps between requests (the settings, the desk's best-time rates) before wrk starts."""
    import requests

    for _ in range(warm + 1):
        r = requests.get(url, headers={"Cookie": cookie} if cookie else {}, timeout=120, allow_redirects=False)
    return r.status_code, len(r.content)


def run_wrk(url: str, cookie: str | None, args) -> dict:
    cmd = ["wrk", "-t2", "-c16", f"-d{args.duration}s", "--latency", "--timeout", "10s"]
    if cookie:
        cmd += ["-H", f"Cookie: {cookie}"]
    out = subprocess.run(cmd + [url], capture_output=True, text=True, timeout=args.duration + 120).stdout
    m = re.search(r"Requests/sec:\s+([\d.]+)", out)
    p99 = re.search(r"^\s+99%\s+(\S+)", out, re.M)
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {"rps": float(m.group(1)) if m else 0.0, "p99": _ms(p99.group(1)) if p99 else float("nan"),
            "non2xx": int(non2xx.group(1)) if non2xx else 0, "raw": out}  # fmt: skip


@contextlib.contextmanager
def serving(module: str, env: dict, log: Path):
    port = free_port()
    proc = start_gunicorn(module, port, env, 2, log, timeout=60)  # a worker loads a large data set
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        stop(proc)


# ------------------------------------------------------------------------- profile


def profile_pages(instance: Path, count: int) -> str:
    """cProfile ``count`` GETs of each page through the test client, and the statements
    each GET runs (a before_cursor_execute listener)."""
    import logging

    from care.extensions import db

    app = make_app(instance)
    app.config["WTF_CSRF_ENABLED"] = False  # the test client posts the log-in form without its token
    out = io.StringIO()
    root = logging.getLogger()
    saved = root.handlers[:]
    root.handlers.clear()  # as under gunicorn (the migrations' logging config added one)
    try:
        for page in pages():
            client = app.test_client()
            r = client.post("/auth/login", data={"username": page["login"], "password": PASSWORD})
            if r.status_code not in (302, 303):
                out.write(f"{page['label']}: log-in answered {r.status_code}\n")
                continue
            statements: list[str] = []
            with app.app_context():
                engine = db.engine
            listener = lambda *a, seen=statements: seen.append(a[2])  # noqa: E731
            sa.event.listen(engine, "before_cursor_execute", listener)
            resp = client.get(page["path"])
            sa.event.remove(engine, "before_cursor_execute", listener)
            prof = cProfile.Profile()
            t0, c0 = time.perf_counter(), time.process_time()
            prof.enable()
            for _ in range(count):
                client.get(page["path"])
            prof.disable()
            wall, cpu = time.perf_counter() - t0, time.process_time() - c0
            out.write(f"\n=== {page['label']} {page['path']}: status {resp.status_code}, {len(resp.data)} bytes, "
                      f"{len(statements)} statements; {count} GETs: {1000 * wall / count:.2f} ms each "
                      f"({1000 * cpu / count:.2f} ms CPU)\n")  # fmt: skip
            stats = pstats.Stats(prof, stream=out)
            stats.sort_stats("cumulative").print_stats(30)
            stats.sort_stats("tottime").print_stats(15)
    finally:
        root.handlers[:] = saved
    return out.getvalue()


# ------------------------------------------------------------------------- main


def bench_db(kind: str, args, tmp: Path) -> list[dict]:
    t0 = time.perf_counter()
    if kind == "sqlite":
        url, schema, fresh, done, where = sqlite_target(args, tmp)
        cleanup = lambda: None  # noqa: E731 - the file is the cache
        ref_env = {}
    else:
        url, schema, fresh, done, cleanup = pg_target(args)
        where = f"schema {schema}"
        ref_env = {"BENCH_REF_PG": url, "BENCH_REF_SCHEMA": schema}
    rows: list[dict] = []
    try:
        instance = tmp / kind / "instance"
        write_instance(instance, url, schema, "http://127.0.0.1")
        with (instance / "config.py").open("a") as fh:
            fh.write(f"CARE_PAGE_SIZE = {PAGE_SIZE}\nCARE_HTTPS = False\n")
        print(f"[{kind}] {'building' if fresh else 'reusing'} {where}", flush=True)
        prepare(make_app(instance), args, fresh)
        done()
        if kind == "sqlite":  # the file moved into place when complete
            write_instance(instance, f"sqlite:///{where}", None, "http://127.0.0.1")
            with (instance / "config.py").open("a") as fh:
                fh.write(f"CARE_PAGE_SIZE = {PAGE_SIZE}\nCARE_HTTPS = False\n")
            ref_env = {"BENCH_REF_SQLITE": str(where)}
        print(f"[{kind}] ready in {time.perf_counter() - t0:.0f} s", flush=True)
        if args.profile:
            print(profile_pages(instance, args.profile), flush=True)
        if args.no_wrk:
            return rows
        env = {k: v for k, v in os.environ.items() if not k.startswith(("CARE_", "BENCH_REF_"))}
        env.update({"BENCH_INSTANCE": str(instance), "PYTHONPATH": str(ROOT), "BENCH_PAGE_SIZE": str(PAGE_SIZE), **ref_env})
        results: dict[str, dict] = {}
        chosen = [page for page in pages() if not args.only or args.only in page["label"]]
        with serving("bench.webhook_wsgi:app", env, tmp / kind / "app.log") as base:
            cookies = {name: log_in(base, name) for name in LOGINS}
            for page in chosen:
                code, size = check(base + page["path"], cookies[page["login"]])
                if code != 200:
                    raise RuntimeError(f"{page['path']} answered {code}")
                results[page["label"]] = run_wrk(base + page["path"], cookies[page["login"]], args)
                r = results[page["label"]]
                print(f"[{kind}] app     {page['label']:26} {r['rps']:7.1f} req/s  p99 {r['p99']:6.1f} ms  "
                      f"non-2xx {r['non2xx']}  ({size} bytes)", flush=True)  # fmt: skip
        ceilings: dict[str, dict] = {}
        with serving("bench.pages_ref_app:app", env, tmp / kind / "ref.log") as base:
            for page in chosen:
                if not page["ref"]:
                    continue
                code, size = check(base + page["ref"], None)
                if code != 200:
                    raise RuntimeError(f"{page['ref']} answered {code}")
                ceilings[page["label"]] = c = run_wrk(base + page["ref"], None, args)
                print(f"[{kind}] ceiling {page['label']:26} {c['rps']:7.1f} req/s  p99 {c['p99']:6.1f} ms  "
                      f"({size} bytes)", flush=True)  # fmt: skip
        for page in chosen:
            r, c = results[page["label"]], ceilings.get(page["label"])
            ratio = r["rps"] / c["rps"] if c and c["rps"] else None
            met = r["p99"] <= page["p99"] and r["non2xx"] == 0 and (page["ratio"] is None or (ratio or 0) >= page["ratio"])
            target = f"p99 ≤ {page['p99']} ms" + (f", ≥ {page['ratio']} × ceiling" if page["ratio"] else "")
            rows.append({"path": f"{page['label']}: GET {page['path']}", "db": kind, "figure": r["rps"], "unit": "req/s",
                         "ceiling": c["rps"] if c else None, "ratio": round(ratio, 3) if ratio else None,
                         "p99_ms": r["p99"], "target": target, "met": bool(met)})  # fmt: skip
    finally:
        cleanup()
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", nargs="+", default=["sqlite", "postgresql"], choices=["sqlite", "postgresql"])
    parser.add_argument("--pg-url", default=os.environ.get("BENCH_PG_URL", PG_URL))
    parser.add_argument("--keep-pg", action="store_true", help="keep the PostgreSQL schema (and reuse it next time)")
    parser.add_argument("--cache", type=Path, default=Path(tempfile.gettempdir()) / "care_pages_bench")
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--tasks", type=int, default=200_000)
    parser.add_argument("--attempts", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=5)
    parser.add_argument("--duration", type=int, default=10)
    parser.add_argument("--profile", type=int, default=0, metavar="N", help="cProfile N GETs of each page in-process")
    parser.add_argument("--no-wrk", action="store_true", help="build (and profile) only")
    parser.add_argument("--only", metavar="TEXT", help="measure only the pages whose label contains TEXT (e.g. search)")
    parser.add_argument("--json", type=Path, help="write the rows here (the common format)")
    args = parser.parse_args()
    if not args.no_wrk and not shutil.which("wrk"):
        sys.exit("wrk is not installed")
    tmp = Path(tempfile.mkdtemp(prefix="pages_bench_"))
    rows: list[dict] = []
    try:
        for kind in args.db:
            rows += bench_db(kind, args, tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    if rows:
        print(f"\nwrk -t2 -c16 -d{args.duration}s, gunicorn 2 sync workers\n")
        print(f"{'path':58} {'db':10} {'req/s':>8} {'ceiling':>8} {'ratio':>6} {'p99':>8}  {'target':34} met")
        for r in rows:
            ceiling = f"{r['ceiling']:8.1f}" if r["ceiling"] else f"{'-':>8}"
            ratio = f"{r['ratio']:6.2f}" if r["ratio"] else f"{'-':>6}"
            print(f"{r['path'][:58]:58} {r['db']:10} {r['figure']:8.1f} {ceiling} {ratio} {r['p99_ms']:6.1f}ms  "
                  f"{r['target']:34} {'yes' if r['met'] else 'no'}")  # fmt: skip
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()

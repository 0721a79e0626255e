"""Benchmark (not a test): the Twilio status webhook under wrk, against a minimal ceiling.

    .venv/bin/python bench/webhook_bench.py                      # SQLite and PostgreSQL
    .venv/bin/python bench/webhook_bench.py --db sqlite --duration 10
    .venv/bin/python bench/webhook_bench.py --profile 300        # + cProfile 300 requests

For each database – a SQLite file (WAL) in a temporary directory, or a fresh schema on
PostgreSQL (``options=-csearch_path=<schema>`` in the engine's connect args, dropped
afterwards) – it:

1. creates the schema like ``care init-db`` (migrations, default scripts/templates) and
   bulk-inserts customers, tasks and Twilio call attempts (one per task);
2. prepares signed ``POST /webhooks/twilio/status?attempt=<id>`` callbacks (the
   ``twilio`` package's ``RequestValidator.compute_signature`` over
   ``CARE_PUBLIC_BASE_URL`` + path + query): a *unique* set (four events per attempt,
   initiated → ringing → in-progress → completed, attempts interleaved) and a *dup30*
   set on other attempts where 30 % of the requests repeat a recent event (a provider
   retry: the app answers 204 without applying it again);
3. starts gunicorn (2 sync workers, 127.0.0.1, a free port) on bench/webhook_wsgi.py
   (``create_app`` reading a temporary ``instance/config.py``), checks one extra signed
   request answers 204, runs ``wrk -t2 -c16 -d15s --latency -s <generated lua>``, waits
   for the applier threads to apply what was stored (the backlog and its drain time are
   reported), stops gunicorn, and checks the database (events stored, attempts applied);
4. does the same against bench/webhook_ref_app.py (form parse + one raw INSERT);
5. prints requests/s, p50/p99 latency, non-2xx and socket errors, and app/ceiling.

Target (the issue): the app at ≥ 0.6 × the ceiling's requests/s and p99 ≤ 20 ms at 16
connections. Note that gunicorn's sync workers close the connection after each response,
so every request includes a TCP connect, for both apps alike.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import os
import pstats
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import sqlalchemy as sa  # noqa: E402
from twilio.request_validator import RequestValidator  # noqa: E402

from bench.wrk_lua import raw_post, write_lua  # noqa: E402

TOKEN = "bench-twilio-auth-token-0123456789"
ACCOUNT = "AC" + "0" * 32
PATH = "/webhooks/twilio/status"
STAGES = ("initiated", "ringing", "in-progress", "completed")
PYTHON = ROOT / ".venv" / "bin" / "python"
GUNICORN = ROOT / ".venv" / "bin" / "gunicorn"


# ------------------------------------------------------------------------- setup


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def write_instance(instance: Path, db_url: str, schema: str | None, base_url: str) -> None:
    instance.mkdir(parents=True, exist_ok=True)
    options = {"connect_args": {"options": f"-csearch_path={schema}"}} if schema else {}
    (instance / "config.py").write_text(
        f"SQLALCHEMY_DATABASE_URI = {db_url!r}\n"
        f"SQLALCHEMY_ENGINE_OPTIONS = {options!r}\n"
        "SECRET_KEY = 'bench'\n"
        "CARE_WEBHOOK_SECRET = 'bench'\n"
        "CARE_TELEPHONY = 'sim'\n"
        "CARE_SIM_THREAD = False\n"
        f"CARE_TWILIO_AUTH_TOKEN = {TOKEN!r}\n"
        f"CARE_PUBLIC_BASE_URL = {base_url!r}\n"
    )


def make_app(instance: Path):
    from care import create_app

    return create_app({"INSTANCE_PATH": str(instance)})


def build_schema_and_data(app, attempts: int) -> None:
    """`care init-db`, then customers / tasks / attempts by Core bulk inserts."""
    from care.cli import upgrade_schema
    from care.extensions import db
    from care.models import CallAttempt, CareTask, Customer
    from care.models.types import utcnow
    from care.services.message_templates import ensure_default_templates
    from care.services.scripts import ensure_default_scripts

    with app.app_context():
        upgrade_schema()
        ensure_default_scripts(db.session, now=utcnow())
        ensure_default_templates(db.session, now=utcnow())
        db.session.commit()
        now = datetime.now(UTC)
        due = now + timedelta(days=10)
        customers = [
            {"id": i, "customer_no": f"B{i:07d}", "name": f"客户{i}", "mobile": f"+86138{i:08d}", "city": "成都"}
            for i in range(1, attempts + 1)
        ]
        tasks = [
            {
                "id": i, "type": "first_service", "status": "open", "cycle_key": f"bench:{i}", "customer_id": i,
                "opens_on": (due - timedelta(days=30)).date(), "due_at": due, "owner_rule": "round_robin",
                "channel": "call", "reason_id": "first_service.reason",
                "reason_params": {"delivered": "2026-09-15", "due": "2026-12-15"},
            }
            for i in range(1, attempts + 1)
        ]  # fmt: skip
        rows = [
            {
                "id": i, "task_id": i, "customer_id": i, "provider": "twilio", "provider_call_id": call_sid(i),
                "to_number": f"+86138{i:08d}", "caller_id": "+862800000000", "status": "requested",
                "started_at": now,
            }
            for i in range(1, attempts + 1)
        ]  # fmt: skip
        for model, data in ((Customer, customers), (CareTask, tasks), (CallAttempt, rows)):
            for start in range(0, len(data), 5000):
                db.session.execute(sa.insert(model), data[start : start + 5000])
        db.session.commit()
        if db.engine.dialect.name == "postgresql":
            for table in ("customers", "care_tasks", "call_attempts"):
                db.session.execute(sa.text(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), {attempts})"))
            db.session.commit()
        db.engine.dispose()


def call_sid(attempt_id: int) -> str:
    return "CA" + uuid.UUID(int=attempt_id).hex


# ---------------------------------------------------------------------- requests


def event_params(attempt_id: int, stage: int, when: datetime) -> dict[str, str]:
    status = STAGES[stage]
    params = {
        "AccountSid": ACCOUNT,
        "ApiVersion": "2010-04-01",
        "CallSid": call_sid(attempt_id),
        "CallStatus": status,
        "Called": f"+86138{attempt_id:08d}",
        "Caller": "+862800000000",
        "CallbackSource": "call-progress-events",
        "Direction": "outbound-api",
        "From": "+862800000000",
        "To": f"+86138{attempt_id:08d}",
        "SequenceNumber": str(stage),
        "Timestamp": format_datetime(when + timedelta(seconds=5 * stage), usegmt=True),
    }
    if status == "completed":
        params["CallDuration"] = str(30 + attempt_id % 240)
    return params


def signed_request(validator: RequestValidator, base: str, host: str, attempt_id: int, params: dict) -> str:
    path = f"{PATH}?attempt={attempt_id}"
    body = urlencode(params)
    signature = validator.compute_signature(base + path, params)
    headers = {"Content-Type": "application/x-www-form-urlencoded", "X-Twilio-Signature": signature}
    return raw_post(host, path, body, headers)


def event_order(first: int, count: int, window: int = 64) -> list[tuple[int, int]]:
    """(attempt, stage) pairs: an attempt's events in order, ~`window` attempts apart."""
    pairs = [(first + a, s) for a in range(count) for s in range(len(STAGES))]
    pairs.sort(key=lambda p: ((p[0] - first) + p[1] * window, p[1]))
    return pairs


def prepare(port: int, attempts_unique: int, attempts_dup: int, dup_share: float, seed: int, attempts_profile: int = 0):
    """Returns (unique requests, dup requests, one preflight request, info incl. the profile requests)."""
    host = f"127.0.0.1:{port}"
    base = f"http://{host}"
    validator = RequestValidator(TOKEN)
    rng = random.Random(seed)
    when = datetime(2026, 11, 23, 6, 0, tzinfo=UTC)

    unique = [signed_request(validator, base, host, a, event_params(a, s, when)) for a, s in event_order(1, attempts_unique)]

    fresh = [
        signed_request(validator, base, host, a, event_params(a, s, when))
        for a, s in event_order(attempts_unique + 1, attempts_dup)
    ]
    total = int(len(fresh) / (1 - dup_share))
    dup: list[str] = []
    next_fresh = 0
    while len(dup) < total and next_fresh < len(fresh):
        if dup and rng.random() < dup_share:
            recent = dup[max(0, len(dup) - 200) :]
            dup.append(rng.choice(recent))
        else:
            dup.append(fresh[next_fresh])
            next_fresh += 1
    first_profile = attempts_unique + attempts_dup + 1
    profile = [
        signed_request(validator, base, host, a, event_params(a, s, when))
        for a, s in event_order(first_profile, attempts_profile)
    ]
    pre_id = first_profile + attempts_profile  # an attempt that does not exist: stored unmatched
    pre_params = event_params(pre_id, 0, when)
    pre_params["CallSid"] = "CA" + "f" * 32
    preflight = (f"{PATH}?attempt={pre_id}", pre_params, validator.compute_signature(f"{base}{PATH}?attempt={pre_id}", pre_params))
    return unique, dup, preflight, {"dup_fresh": next_fresh, "dup_total": len(dup), "profile": profile}


# ------------------------------------------------------------------------ running


def start_gunicorn(
    module: str, port: int, env: dict, workers: int, log: Path, *, timeout: float = 30
) -> subprocess.Popen:
    cmd = [str(GUNICORN), "-w", str(workers), "-k", "sync", "-b", f"127.0.0.1:{port}", "--chdir", str(ROOT), module]
    proc = subprocess.Popen(cmd, env=env, stdout=log.open("ab"), stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"gunicorn exited ({proc.returncode}); see {log}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                break
        except OSError:
            time.sleep(0.2)
    else:
        stop(proc)
        raise RuntimeError(f"gunicorn did not start in {timeout:.0f} s")
    return proc


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)  # the arbiter stops its workers
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=5)


def preflight(port: int, request: tuple[str, dict, str], signed: bool) -> int:
    """Send one request; the status code (retries for 10 s while the workers boot)."""
    path, params, signature = request
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    if signed:
        headers["X-Twilio-Signature"] = signature
    data = urlencode(params).encode()
    deadline = time.monotonic() + 10
    while True:
        try:
            req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=data, headers=headers, method="POST")
            with urllib.request.urlopen(req, timeout=10) as resp:
                return resp.status
        except urllib.error.HTTPError as exc:
            return exc.code
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def _ms(value: str) -> float:
    m = re.fullmatch(r"([\d.]+)(us|ms|s|m)", value)
    number, unit = float(m.group(1)), m.group(2)
    return number * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}[unit]


def run_wrk(port: int, lua: Path, args) -> dict:
    cmd = ["wrk", f"-t{args.threads}", f"-c{args.connections}", f"-d{args.duration}s", "--latency", "--timeout", "10s",
           "-s", str(lua), f"http://127.0.0.1:{port}{PATH}"]  # fmt: skip
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=args.duration + 120).stdout
    result = {"raw": out}
    m = re.search(r"Requests/sec:\s+([\d.]+)", out)
    result["rps"] = float(m.group(1)) if m else 0.0
    for pct in ("50", "99"):
        m = re.search(rf"^\s+{pct}%\s+(\S+)", out, re.M)
        result[f"p{pct}"] = _ms(m.group(1)) if m else float("nan")
    m = re.search(r"(\d+) requests in", out)
    result["requests"] = int(m.group(1)) if m else 0
    for key in ("sent", "wrapped", "non2xx"):
        m = re.search(rf"BENCH {key} (\d+)", out)
        result[key] = int(m.group(1)) if m else -1
    m = re.search(r"BENCH socket (\d+) (\d+) (\d+) (\d+)", out)
    result["socket"] = tuple(int(x) for x in m.groups()) if m else None
    return result


# ---------------------------------------------------------------------- databases


def sqlite_target(tmp: Path):
    path = tmp / "care.sqlite"
    return f"sqlite:///{path}", None, {"BENCH_REF_SQLITE": str(tmp / "ref.sqlite")}, lambda: None


def pg_target(url: str):
    schema = f"care_webhook_bench_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    admin = sa.create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
    with admin.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))

    def drop():
        with admin.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()

    return url, schema, {"BENCH_REF_PG": url, "BENCH_REF_SCHEMA": schema}, drop


def count_app(app) -> dict:
    from care.extensions import db

    with app.app_context():
        q = lambda sql: db.session.execute(sa.text(sql)).scalar()  # noqa: E731
        counts = {
            "events": q("SELECT count(*) FROM call_events"),
            "unapplied": q("SELECT count(*) FROM call_events WHERE applied_at IS NULL AND attempt_id IS NOT NULL"),
            "attempts_touched": q("SELECT count(*) FROM call_attempts WHERE status <> 'requested'"),
            "attempts_terminal": q("SELECT count(*) FROM call_attempts WHERE outcome IS NOT NULL"),
        }
        db.session.remove()
        db.engine.dispose()
    return counts


def drain(app, timeout: float) -> tuple[int, float]:
    """Events stored but not yet applied when wrk stopped, and the seconds until none are."""
    from care.extensions import db

    sql = sa.text("SELECT count(*) FROM call_events WHERE applied_at IS NULL AND attempt_id IS NOT NULL")
    t0 = time.perf_counter()
    with app.app_context():
        try:
            backlog = left = db.session.execute(sql).scalar()
            while left and time.perf_counter() - t0 < timeout:
                db.session.rollback()
                time.sleep(0.05)
                left = db.session.execute(sql).scalar()
        finally:
            db.session.remove()
    return backlog, (time.perf_counter() - t0) if backlog else 0.0


def count_ref(env: dict) -> int:
    if env.get("BENCH_REF_SQLITE"):
        import sqlite3

        with sqlite3.connect(env["BENCH_REF_SQLITE"]) as conn:
            return conn.execute("SELECT count(*) FROM ref_events").fetchone()[0]
    import psycopg

    with psycopg.connect(env["BENCH_REF_PG"], options=f"-csearch_path={env['BENCH_REF_SCHEMA']}") as conn:
        return conn.execute("SELECT count(*) FROM ref_events").fetchone()[0]


def profile_requests(instance: Path, requests: list[str], count: int) -> str:
    """cProfile `count` requests of the unique set through the app in this process."""
    app = make_app(instance)
    client = app.test_client()
    parsed = []
    for raw in requests[:count]:
        head, body = raw.split("\r\n\r\n", 1)
        lines = head.split("\r\n")
        path = lines[0].split(" ")[1]
        headers = dict(line.split(": ", 1) for line in lines[1:])
        headers.pop("Content-Length", None)
        parsed.append((path, headers, body))
    # the signature was computed for http://127.0.0.1:<port>, CARE_PUBLIC_BASE_URL as well
    codes: dict[int, int] = {}
    # as under gunicorn: no root handler (the migrations' logging config added one here)
    import logging

    root = logging.getLogger()
    saved = root.handlers[:]
    root.handlers.clear()
    prof = cProfile.Profile()
    t0 = time.perf_counter()
    prof.enable()
    for path, headers, body in parsed:
        resp = client.post(path, data=body, headers=headers)
        codes[resp.status_code] = codes.get(resp.status_code, 0) + 1
    prof.disable()
    elapsed = time.perf_counter() - t0
    root.handlers[:] = saved
    out = io.StringIO()
    out.write(f"{len(parsed)} requests in {elapsed:.2f} s ({1000 * elapsed / max(1, len(parsed)):.2f} ms each), codes {codes}\n")
    stats = pstats.Stats(prof, stream=out)
    stats.sort_stats("cumulative").print_stats(45)
    stats.sort_stats("tottime").print_stats(25)
    return out.getvalue()


def bench_db(kind: str, args, tmp: Path) -> list[dict]:
    db_tmp = tmp / kind
    db_tmp.mkdir()
    url, schema, ref_env, cleanup = sqlite_target(db_tmp) if kind == "sqlite" else pg_target(args.pg_url)
    results = []
    try:
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        instance = db_tmp / "instance"
        write_instance(instance, url, schema, base)
        with (instance / "config.py").open("a") as fh:  # --config KEY=VALUE (Python literals)
            for item in args.config:
                key, _, value = item.partition("=")
                fh.write(f"{key.strip()} = {value.strip()}\n")
        t0 = time.perf_counter()
        app = make_app(instance)
        profile_attempts = (args.profile + 3) // 4
        build_schema_and_data(app, args.attempts + args.dup_attempts + profile_attempts)
        print(f"[{kind}] schema + {args.attempts + args.dup_attempts} attempts in {time.perf_counter() - t0:.1f} s", flush=True)
        t0 = time.perf_counter()
        unique, dup, pre, info = prepare(port, args.attempts, args.dup_attempts, args.dup_share, args.seed, profile_attempts)
        luas = {}
        for name, reqs in (("unique", unique), ("dup30", dup)):
            luas[name] = db_tmp / f"{name}.lua"
            write_lua(luas[name], reqs, args.threads)
        print(
            f"[{kind}] {len(unique)} unique + {len(dup)} dup30 requests ({info['dup_fresh']} fresh) signed "
            f"and written in {time.perf_counter() - t0:.1f} s",
            flush=True,
        )

        env = {k: v for k, v in os.environ.items() if not k.startswith("CARE_")}
        env.update({"BENCH_INSTANCE": str(instance), "PYTHONPATH": str(ROOT)})
        if args.no_apply:
            env["BENCH_NO_APPLY"] = "1"
        if args.app_log:
            env["BENCH_APP_LOG"] = str(args.app_log.resolve())
        log = db_tmp / "gunicorn.log"
        for key in ("BENCH_REF_SQLITE", "BENCH_REF_PG", "BENCH_REF_SCHEMA"):
            os.environ.pop(key, None)
            env.pop(key, None)
        env.update(ref_env)
        os.environ.update(ref_env)
        from bench import webhook_ref_app

        webhook_ref_app.create_table()

        for target, module in (("app", "bench.webhook_wsgi:app"), ("ceiling", "bench.webhook_ref_app:app")):
            for name in ("unique", "dup30"):
                proc = start_gunicorn(module, port, env, args.workers, log)
                try:
                    code = preflight(port, pre, signed=True)
                    bad = preflight(port, pre[:2] + ("bad",), signed=True) if target == "app" else None
                    if target == "app" and code != 204:
                        raise RuntimeError(f"preflight answered {code}, not 204 (signature URL?); see {log}")
                    r = run_wrk(port, luas[name], args)
                    if target == "app" and not args.no_apply:  # the applier threads finish the backlog before gunicorn stops
                        r["backlog"], r["drain_s"] = drain(app, args.drain_timeout)
                finally:
                    stop(proc)
                r.update(db=kind, target=target, set=name, preflight=code, bad_signature=bad)
                if target == "app":
                    r["db_counts"] = count_app(app)
                else:
                    r["db_counts"] = {"ref_rows": count_ref(ref_env)}
                results.append(r)
                print(
                    f"[{kind}] {target:7} {name:6} {r['rps']:8.1f} req/s  p50 {r['p50']:6.2f} ms  p99 {r['p99']:6.2f} ms  "
                    f"requests {r['requests']}  non-2xx {r['non2xx']}  socket {r['socket']}  wrapped {r['wrapped']}  "
                    + (f"backlog {r['backlog']} drained in {r['drain_s']:.1f} s  " if "backlog" in r else "")
                    + f"preflight {code}{'' if bad is None else f' (bad sig {bad})'}  {r['db_counts']}",
                    flush=True,
                )
                if args.verbose:
                    print(r["raw"])
        if args.profile:
            # fresh events on attempts of their own (never sent by wrk)
            print(f"[{kind}] profiling {args.profile} requests in-process (cProfile)")
            print(profile_requests(instance, info["profile"], args.profile))
    finally:
        cleanup()
    return results


def report(results: list[dict], args) -> None:
    print()
    print(f"wrk -t{args.threads} -c{args.connections} -d{args.duration}s, gunicorn {args.workers} sync workers")
    header = f"{'db':8} {'set':7} {'app req/s':>10} {'ceil req/s':>10} {'ratio':>6} {'app p99':>8} {'ceil p99':>8} {'app p50':>8} {'ceil p50':>8} {'app non2xx':>10} {'ceil non2xx':>11}"
    print(header)
    print("-" * len(header))
    by = {(r["db"], r["target"], r["set"]): r for r in results}
    for kind in args.db:
        for name in ("unique", "dup30"):
            a, c = by.get((kind, "app", name)), by.get((kind, "ceiling", name))
            if not a or not c:
                continue
            ratio = a["rps"] / c["rps"] if c["rps"] else float("nan")
            print(
                f"{kind:8} {name:7} {a['rps']:10.1f} {c['rps']:10.1f} {ratio:6.2f} {a['p99']:7.2f}ms {c['p99']:7.2f}ms "
                f"{a['p50']:7.2f}ms {c['p50']:7.2f}ms {a['non2xx']:10d} {c['non2xx']:11d}"
            )
    print("target: ratio >= 0.60 and app p99 <= 20 ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", nargs="+", default=["sqlite", "postgresql"], choices=["sqlite", "postgresql"])
    parser.add_argument("--pg-url", default=os.environ.get("BENCH_PG_URL", "postgresql://postgres@127.0.0.1:5432/test"))
    parser.add_argument("--attempts", type=int, default=16000, help="attempts of the unique set (4 events each; enough not to wrap in 15 s)")
    parser.add_argument("--dup-attempts", type=int, default=11000, help="attempts of the dup30 set (4 fresh events each)")
    parser.add_argument("--dup-share", type=float, default=0.30)
    parser.add_argument("--duration", type=int, default=15)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--profile", type=int, default=0, metavar="N", help="cProfile N requests in-process afterwards")
    parser.add_argument("--config", action="append", default=[], metavar="KEY=VALUE",
                        help="extra line for the app's instance/config.py, e.g. CARE_APPLY_MAX_DELAY=2")
    parser.add_argument("--app-log", type=Path, metavar="FILE", help="the app's log lines (DEBUG) go here")
    parser.add_argument("--no-apply", action="store_true", help="diagnosis: store and answer, apply nothing")
    parser.add_argument("--drain-timeout", type=float, default=120.0, help="seconds to wait for the applier backlog")
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument("-v", "--verbose", action="store_true", help="print wrk's output")
    args = parser.parse_args()
    if not shutil.which("wrk"):
        sys.exit("wrk is not installed")
    tmp = Path(tempfile.mkdtemp(prefix="webhook_bench_"))
    results: list[dict] = []
    try:
        for kind in args.db:
            results += bench_db(kind, args, tmp)
    finally:
        report(results, args)
        if args.json:
            args.json.write_text(json.dumps([{k: v for k, v in r.items() if k != "raw"} for r in results], indent=2, default=str))
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()

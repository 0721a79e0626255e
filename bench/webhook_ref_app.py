"""The ceiling for bench/webhook_bench.py: the least a Flask app can do per Twilio callback.

    gunicorn -w 2 -b 127.0.0.1:PORT bench.webhook_ref_app:app

Parses the same form body (``request.form``) as care/web/webhooks.py and does one raw
``INSERT … ON CONFLICT (event_id) DO NOTHING`` into ``ref_events``, then commits: no
signature check, no ORM, no attempt lookup, no fold. One DB-API connection per worker
process (opened lazily, after gunicorn forks).

Environment: ``BENCH_REF_SQLITE`` (a file path; WAL, synchronous=NORMAL, busy timeout
15 s, as the app's own pragmas) or ``BENCH_REF_PG`` (a libpq URL) and optionally
``BENCH_REF_SCHEMA`` (the search_path). ``create_table()`` makes the table.
"""

from __future__ import annotations

import json
import os

from flask import Flask, request

app = Flask(__name__)

_conn = None

DDL_SQLITE = (
    "CREATE TABLE IF NOT EXISTS ref_events (id INTEGER PRIMARY KEY, event_id VARCHAR(120) NOT NULL UNIQUE,"
    " attempt_ref VARCHAR(40), call_sid VARCHAR(80), status VARCHAR(40), sequence INTEGER, payload TEXT)"
)
DDL_PG = (
    "CREATE TABLE IF NOT EXISTS ref_events (id BIGSERIAL PRIMARY KEY, event_id VARCHAR(120) NOT NULL UNIQUE,"
    " attempt_ref VARCHAR(40), call_sid VARCHAR(80), status VARCHAR(40), sequence INTEGER, payload JSON)"
)


def _connect():
    if os.environ.get("BENCH_REF_SQLITE"):
        import sqlite3

        conn = sqlite3.connect(os.environ["BENCH_REF_SQLITE"], timeout=15)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute("PRAGMA busy_timeout=15000")
        return conn, "?"
    import psycopg

    schema = os.environ.get("BENCH_REF_SCHEMA")
    options = f"-csearch_path={schema}" if schema else ""
    return psycopg.connect(os.environ["BENCH_REF_PG"], options=options), "%s"


def connection():
    global _conn
    if _conn is None:
        _conn = _connect()
    return _conn


def create_table() -> None:
    conn, _ = _connect()
    conn.execute(DDL_SQLITE if os.environ.get("BENCH_REF_SQLITE") else DDL_PG)
    conn.commit()
    conn.close()


@app.post("/webhooks/twilio/status")
def status():
    form = request.form
    if not form:
        return {"error": "empty body"}, 400
    params = {name: form.get(name, "") for name in form}
    sid, raw = params.get("CallSid") or "", (params.get("CallStatus") or "").lower()
    seq = params.get("SequenceNumber") or ""
    event_id = f"twilio:{sid}:{raw}:{seq}"
    conn, p = connection()
    try:
        conn.execute(
            f"INSERT INTO ref_events (event_id, attempt_ref, call_sid, status, sequence, payload)"
            f" VALUES ({p}, {p}, {p}, {p}, {p}, {p}) ON CONFLICT (event_id) DO NOTHING",
            (event_id, request.args.get("attempt"), sid, raw, int(seq) if seq.isdigit() else None, json.dumps(params)),
        )
        conn.commit()
    except Exception:
        conn.rollback()
        return {"error": "not stored"}, 503
    return "", 204

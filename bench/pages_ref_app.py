"""The ceiling for bench/pages_bench.py: the least a Flask app can do for the same lines.

    gunicorn -w 2 -b 127.0.0.1:PORT bench.pages_ref_app:app

- ``GET /ref/worklist?user=specialist1`` (``user=`` empty: everyone's, as a manager): one
  keyset query for the first 50 contacts of the worklist — the user's open and blocked
  tasks opened by today, grouped by customer (earliest deadline, the tasks' types and
  ids), ordered by (earliest deadline, customer id) — through a minimal template (the
  customer's name and number, the types, the deadline, a link per line);
- ``GET /ref/contact/<customer_id>``: the contact page's rows by primary key (the
  customer, their open tasks, their vehicles) through a minimal template.

No log-in, no session, no ORM, no labels, no call state: one DB-API connection per worker
process (opened lazily, after gunicorn forks). Environment: ``BENCH_REF_SQLITE`` (a file
path) or ``BENCH_REF_PG`` (a libpq URL) with ``BENCH_REF_SCHEMA`` (the search_path).
"""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta

from flask import Flask, abort, render_template_string, request

app = Flask(__name__)
PAGE = int(os.environ.get("BENCH_PAGE_SIZE", "50"))
_conn = None

WORKLIST = """<!doctype html><title>Worklist</title><table>
{% for r in rows %}<tr><td><a href="/tasks/contact/{{ r[0] }}">{{ r[2] }}</a> {{ r[3] or '' }}</td>
<td>{{ r[4] }}</td><td>{{ r[1] }}</td></tr>
{% endfor %}</table>{% if rows|length == page %}<a href="?after={{ rows[-1][1] }}|{{ rows[-1][0] }}">next</a>{% endif %}"""

CONTACT = """<!doctype html><title>{{ c[1] }}</title><h1>{{ c[1] }}</h1><p>{{ c[2] }} {{ c[3] or '' }}</p>
<ul>{% for t in tasks %}<li>#{{ t[0] }} {{ t[1] }} {{ t[2] }} {{ t[3] }}</li>{% endfor %}</ul>
<ul>{% for v in vehicles %}<li>{{ v[0] }} {{ v[1] }} {{ v[2] }}</li>{% endfor %}</ul>"""


def connection():
    global _conn
    if _conn is None:
        if os.environ.get("BENCH_REF_SQLITE"):
            import sqlite3

            conn = sqlite3.connect(os.environ["BENCH_REF_SQLITE"], timeout=15)
            conn.execute("PRAGMA journal_mode=WAL")
            _conn = conn, "?"
        else:
            import psycopg

            schema = os.environ.get("BENCH_REF_SCHEMA")
            # jit off, as the app's own connections (CARE_PG_JIT): the same planner on both sides
            options = (f"-csearch_path={schema} " if schema else "") + "-c jit=off"
            conn = psycopg.connect(os.environ["BENCH_REF_PG"], options=options)
            conn.autocommit = True
            _conn = conn, "%s"
    return _conn


def rows(sql: str, params: tuple) -> list:
    conn, _ = connection()
    return conn.execute(sql, params).fetchall()


@app.get("/ref/worklist")
def worklist():
    conn, p = connection()
    sqlite = p == "?"
    today = (datetime.now(UTC) + timedelta(hours=8)).date()
    user = request.args.get("user") or None
    owner = f"AND t.assignee_id = (SELECT id FROM users WHERE username = {p})" if user else ""
    types = "group_concat(t.type || ' #' || t.id, ', ')" if sqlite else "string_agg(t.type || ' #' || t.id, ', ')"
    sql = (
        f"SELECT t.customer_id, min(t.due_at) AS first_due, c.name, c.mobile, {types}"
        " FROM care_tasks t JOIN customers c ON c.id = t.customer_id"
        f" WHERE t.status IN ('open', 'blocked') AND t.opens_on <= {p} {owner}"
        f" GROUP BY t.customer_id, c.name, c.mobile ORDER BY first_due, t.customer_id LIMIT {PAGE}"
    )
    params = (today.isoformat() if sqlite else today, user) if user else (today.isoformat() if sqlite else today,)
    return render_template_string(WORKLIST, rows=rows(sql, params), page=PAGE)


@app.get("/ref/contact/<int:customer_id>")
def contact(customer_id: int):
    _, p = connection()
    found = rows(f"SELECT id, name, mobile, city FROM customers WHERE id = {p}", (customer_id,))
    if not found:
        abort(404)
    tasks = rows(
        f"SELECT id, type, reason_id, due_at FROM care_tasks WHERE customer_id = {p} AND status IN ('open', 'blocked')"
        " ORDER BY due_at, id",
        (customer_id,),
    )
    vehicles = rows(f"SELECT plate, vin, model FROM vehicles WHERE customer_id = {p} ORDER BY id", (customer_id,))
    return render_template_string(CONTACT, c=found[0], tasks=tasks, vehicles=vehicles)

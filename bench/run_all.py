"""Every benchmark of bench/, then one table (`make bench`).

    .venv/bin/python bench/run_all.py                      # all of them, SQLite and PostgreSQL
    .venv/bin/python bench/run_all.py --only import pages  # some of them
    .venv/bin/python bench/run_all.py --table results/     # print the table of JSON files kept before

Each benchmark runs as its own process with ``--json FILE`` and writes a list of rows:
``{"path", "db", "figure", "unit", "ceiling", "ratio", "p99_ms", "target", "met"}``. The
table lists them all: path, database, figure, ceiling, ratio, p99, target, met. The JSON
files stay in ``--out`` (default ``bench/results/``, git-ignored) so that a table can be
printed again without running anything.

The figures are those of this machine at the moment of the run: run it on a quiet
machine (nothing else busy), as the targets were set on one.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable

# name → (script, its own arguments); the databases are passed as DB_FLAG says
BENCHES = {
    "import": ("import_100k.py", []),
    "generate": ("generate_bench.py", []),
    "webhook": ("webhook_bench.py", []),
    "pages": ("pages_bench.py", ["--keep-pg"]),
    "report": ("report_bench.py", ["--keep", "/tmp/care_report_bench"]),
    "besttime": ("besttime_replay.py", []),
}
DB_FLAG = {  # how each script is told which databases to run on
    "import": lambda dbs: ["--db", *dbs],
    "generate": lambda dbs: ["--db", dbs[0] if len(dbs) == 1 else "both"],
    "webhook": lambda dbs: ["--db", *dbs],
    "pages": lambda dbs: ["--db", *dbs],
    "report": lambda dbs: ["--db", dbs[0] if len(dbs) == 1 else "both"],
    "besttime": lambda dbs: [],
}


def webhook_rows(results: list[dict]) -> list[dict]:
    """webhook_bench.py writes its own result records (app and ceiling per set)."""
    by = {(r["db"], r["target"], r["set"]): r for r in results}
    rows = []
    for (db, target, name), app in sorted(by.items()):
        ceiling = by.get((db, "ceiling", name))
        if target != "app" or not ceiling:
            continue
        ratio = app["rps"] / ceiling["rps"] if ceiling["rps"] else None
        rows.append({
            "path": f"webhook POST /webhooks/twilio/status ({name})", "db": db, "figure": app["rps"],
            "unit": "req/s", "ceiling": ceiling["rps"], "ratio": ratio, "p99_ms": app["p99"],
            "target": "≥ 0.6 × ceiling, p99 ≤ 20 ms", "met": bool(ratio and ratio >= 0.6 and app["p99"] <= 20),
        })  # fmt: skip
    return rows


def run(name: str, dbs: list[str], out: Path, extra: list[str]) -> list[dict]:
    script, args = BENCHES[name]
    target = out / f"{name}.json"
    target.unlink(missing_ok=True)
    cmd = [PYTHON, str(ROOT / "bench" / script), *args, *DB_FLAG[name](dbs), "--json", str(target), *extra]
    print(f"\n=== {name}: {' '.join(cmd[1:])}", flush=True)
    start = time.perf_counter()
    done = subprocess.run(cmd, cwd=ROOT)
    print(f"=== {name}: exit {done.returncode} after {time.perf_counter() - start:.0f} s", flush=True)
    return load(name, target)


def load(name: str, path: Path) -> list[dict]:
    if not path.exists():
        return [{"path": f"{name}: no result (the benchmark failed; see its output)", "db": "-", "figure": None,
                 "unit": "", "ceiling": None, "ratio": None, "p99_ms": None, "target": "-", "met": False}]  # fmt: skip
    rows = json.loads(path.read_text())
    return webhook_rows(rows) if name == "webhook" else rows


def _num(value, digits: int = 1) -> str:
    if value is None:
        return "—"
    return f"{value:,.{digits}f}" if isinstance(value, float) else f"{value:,}"


def table(rows: list[dict]) -> str:
    lines = [
        "| path | database | figure | ceiling | ratio | p99 | target | met |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        unit = f" {r['unit']}" if r.get("unit") and r.get("figure") is not None else ""
        lines.append(
            f"| {r['path']} | {r['db']} | {_num(r['figure'])}{unit} | {_num(r['ceiling'])} | {_num(r['ratio'], 2)} | "
            f"{_num(r['p99_ms'])}{' ms' if r.get('p99_ms') is not None else ''} | {r['target']} | "
            f"{'yes' if r['met'] else '**no**'} |"
        )
    met = sum(1 for r in rows if r["met"])
    lines.append(f"\n{met} of {len(rows)} rows met.")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", nargs="+", choices=list(BENCHES), help="these benchmarks only")
    parser.add_argument("--db", nargs="+", default=["sqlite", "postgresql"], choices=["sqlite", "postgresql"])
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results", help="where the JSON files go")
    parser.add_argument("--table", action="store_true", help="print the table of the JSON files in --out; run nothing")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    names = args.only or list(BENCHES)
    if args.table:
        rows = [row for name in names for row in load(name, args.out / f"{name}.json")]
    else:
        rows = [row for name in names for row in run(name, args.db, args.out, [])]
    print("\n" + table(rows))


if __name__ == "__main__":
    main()

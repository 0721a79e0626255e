"""The DMS customer import at scale (issue 14): 100,000 rows through `run_import`.

    .venv/bin/python bench/import_100k.py [--db sqlite postgresql] [--rows 100000]
                                          [--profile] [--memory] [--json FILE]

Writes two CSVs with Chinese headers into a temporary directory (the second with every
mobile number changed) and, for each database (a SQLite file, or a schema of its own on
PostgreSQL, dropped afterwards), imports the first (all new), the first again (all
unchanged) and the second (all updated). Each run is a fresh process (as a server's
worker or `care import` would be), so that its peak memory is its own: it prints the
wall and CPU time of `run_import` and its commit, the peak RSS of the process, and how
much the import raised it over the process's size before the import (the app, the
libraries: not the import's doing). Targets: ≤ 5 s a run on SQLite, ≤ 8 s on PostgreSQL,
memory flat in the file's size.

`--memory` also imports a file of half as many rows (new, into a fresh database) and
prints both peaks side by side: with the rows streamed in batches they are about equal.
`--profile` runs each import under cProfile and prints where its time went. `--json FILE`
writes one row per run in the benchmarks' common format.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
TARGETS = {"sqlite": 5.0, "postgresql": 8.0}
RUNS = (("new", "first"), ("unchanged", "first"), ("all updated", "second"))


def write_csv(path: Path, rows: int, prefix: str) -> None:
    with path.open("w", encoding="utf-8-sig", newline="") as fh:
        fh.write("客户编号,姓名,手机,邮箱,生日,城市,客户类别,拒绝电话\n")
        for i in range(rows):
            fh.write(f"C{i:07d},客户{i},{prefix}{i:08d},c{i}@example.com,1980-01-{i % 28 + 1:02d},成都,保有,N\n")


def make_app(url: str, schema: str | None, instance: Path):
    from care import create_app

    config = {"INSTANCE_PATH": str(instance), "SECRET_KEY": "bench", "CARE_WEBHOOK_SECRET": "bench",
              "SQLALCHEMY_DATABASE_URI": url}  # fmt: skip
    if schema:
        config["SQLALCHEMY_ENGINE_OPTIONS"] = {"connect_args": {"options": f"-csearch_path={schema}"}}
    return create_app(config)


def rss_mb() -> float:
    """The process's resident size now (Linux)."""
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


# --- one import, in a process of its own ---------------------------------------------------


def worker(args) -> None:
    from datetime import UTC, datetime

    from care.extensions import db
    from care.services import Actor
    from care.services.imports import run_import

    app = make_app(args.url, args.schema, Path(args.instance))
    path = Path(args.file)
    with app.app_context():
        db.session.execute(db.text("SELECT 1"))  # connect before measuring
        db.session.commit()
        if args.tracemalloc:
            import tracemalloc

            tracemalloc.start()
        profile = None
        if args.profile:
            import cProfile

            profile = cProfile.Profile()
        before = rss_mb()
        wall, cpu = time.perf_counter(), time.process_time()
        if profile:
            profile.enable()
        run = run_import(db.session, "customers", path, filename=path.name, actor=Actor("bench"), now=datetime.now(UTC))
        db.session.commit()
        if profile:
            profile.disable()
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        result = {
            "seconds": wall, "cpu": cpu, "rss_before_mb": before, "peak_rss_mb": peak,
            "counts": [run.created, run.updated, run.unchanged, run.rejected],
        }  # fmt: skip
        if args.tracemalloc:
            result["traced_peak_mb"] = tracemalloc.get_traced_memory()[1] / 2**20
    if profile:
        import pstats

        pstats.Stats(profile, stream=sys.stderr).sort_stats("cumulative").print_stats(25)
        pstats.Stats(profile, stream=sys.stderr).sort_stats("tottime").print_stats(12)
    print("RESULT " + json.dumps(result))


def one_run(url: str, schema: str | None, instance: Path, path: Path, *, profile=False, tracemalloc=False) -> dict:
    command = [sys.executable, __file__, "--worker", "--url", url, "--instance", str(instance), "--file", str(path)]
    command += ["--schema", schema] if schema else []
    command += ["--profile"] if profile else []
    command += ["--tracemalloc"] if tracemalloc else []
    done = subprocess.run(command, capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
    if profile:
        print(done.stderr)
    if done.returncode != 0:
        raise SystemExit(f"the import failed:\n{done.stderr[-3000:]}")
    line = next(x for x in done.stdout.splitlines() if x.startswith("RESULT "))
    return json.loads(line[len("RESULT ") :])


# --- a database for the runs -----------------------------------------------------------------


class Database:
    """A fresh SQLite file, or a schema of its own on PostgreSQL, with the app's tables."""

    def __init__(self, kind: str, tmp: Path, pg_url: str):
        self.kind, self.instance = kind, tmp
        if kind == "sqlite":
            self.url, self.schema = f"sqlite:///{tmp / f'bench-{uuid.uuid4().hex[:6]}.sqlite'}", None
        else:
            import sqlalchemy as sa

            self.url, self.schema = pg_url, f"care_bench_import_{os.getpid()}_{uuid.uuid4().hex[:6]}"
            self.admin = sa.create_engine(pg_url)
            with self.admin.begin() as conn:
                conn.execute(sa.text(f'CREATE SCHEMA "{self.schema}"'))
        from care.extensions import db

        app = make_app(self.url, self.schema, tmp)
        with app.app_context():
            db.create_all()
            db.engine.dispose()

    def drop(self) -> None:
        if self.schema:
            import sqlalchemy as sa

            with self.admin.begin() as conn:
                conn.execute(sa.text(f'DROP SCHEMA "{self.schema}" CASCADE'))
            self.admin.dispose()


def bench(kind: str, files: dict[str, Path], tmp: Path, args) -> list[dict]:
    database = Database(kind, tmp, args.pg_url)
    results = []
    try:
        for label, which in RUNS:
            result = one_run(database.url, database.schema, tmp, files[which], profile=args.profile)
            results.append({"label": label, **result})
            print(
                f"{kind:10} {label:11} {args.rows} rows in {result['seconds']:5.2f} s (CPU {result['cpu']:5.2f} s): "
                f"created/updated/unchanged/rejected {result['counts']}; peak RSS {result['peak_rss_mb']:.0f} MB, "
                f"+{result['peak_rss_mb'] - result['rss_before_mb']:.0f} MB over the process before the import",
                flush=True,
            )
    finally:
        database.drop()
    return results


def memory(kind: str, files: dict[str, Path], tmp: Path, args) -> None:
    """The peak of a new import of half the rows and of all of them, each in a fresh database."""
    for path, rows in ((files["half"], args.rows // 2), (files["first"], args.rows)):
        database = Database(kind, tmp, args.pg_url)
        try:
            plain = one_run(database.url, database.schema, tmp, path)
        finally:
            database.drop()
        database = Database(kind, tmp, args.pg_url)
        try:
            traced = one_run(database.url, database.schema, tmp, path, tracemalloc=True)
        finally:
            database.drop()
        print(
            f"{kind:10} memory    {rows:7} rows new: peak RSS {plain['peak_rss_mb']:.0f} MB "
            f"(+{plain['peak_rss_mb'] - plain['rss_before_mb']:.0f} MB over the process before the import), "
            f"tracemalloc peak during the import {traced['traced_peak_mb']:.1f} MB",
            flush=True,
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("rows_positional", nargs="?", type=int, help=argparse.SUPPRESS)  # the old `import_100k.py ROWS`
    parser.add_argument("--db", nargs="+", choices=("sqlite", "postgresql"), default=["sqlite", "postgresql"])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--pg-url", default=os.environ.get("CARE_BENCH_PG_URL", PG_URL))
    parser.add_argument("--profile", action="store_true", help="cProfile each import and print the top functions")
    parser.add_argument("--memory", action="store_true", help="also compare the peaks of rows/2 and rows new rows")
    parser.add_argument("--json", type=Path, help="write the rows of the common benchmark format here")
    # the worker process
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--schema", help=argparse.SUPPRESS)
    parser.add_argument("--instance", help=argparse.SUPPRESS)
    parser.add_argument("--file", help=argparse.SUPPRESS)
    parser.add_argument("--tracemalloc", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args)
        return
    if args.rows_positional:
        args.rows = args.rows_positional

    tmp = Path(tempfile.mkdtemp(prefix="import_bench_"))
    files = {"first": tmp / "customers.csv", "second": tmp / "customers_changed.csv", "half": tmp / "customers_half.csv"}
    write_csv(files["first"], args.rows, "138")
    write_csv(files["second"], args.rows, "139")
    if args.memory:
        write_csv(files["half"], args.rows // 2, "138")
    rows = []
    for kind in args.db:
        for result in bench(kind, files, tmp, args):
            target = TARGETS[kind]
            rows.append({
                "path": f"import {args.rows // 1000}k customers ({result['label']})", "db": kind,
                "figure": round(result["seconds"], 2), "unit": "s", "ceiling": None, "ratio": None, "p99_ms": None,
                "target": f"≤ {target:g} s", "met": result["seconds"] <= target,
            })  # fmt: skip
        if args.memory:
            memory(kind, files, tmp, args)
    if args.json:
        args.json.write_text(json.dumps(rows, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()

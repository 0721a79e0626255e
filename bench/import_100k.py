"""Quick check (not a test): 100,000 customer rows through `run_import` on SQLite.

    .venv/bin/python bench/import_100k.py [ROWS]

Writes a CSV with Chinese headers into a temporary directory, imports it into a fresh
SQLite database, then imports it again (all unchanged) and once more with every phone
number changed (all updated), printing the time of each run.
"""

from __future__ import annotations

import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from care import create_app  # noqa: E402
from care.extensions import db  # noqa: E402
from care.services import Actor  # noqa: E402
from care.services.imports import run_import  # noqa: E402


def write_csv(path: Path, rows: int, prefix: str) -> None:
    with path.open("w", encoding="utf-8-sig", newline="") as fh:
        fh.write("客户编号,姓名,手机,邮箱,生日,城市,客户类别,拒绝电话\n")
        for i in range(rows):
            fh.write(f"C{i:07d},客户{i},{prefix}{i:08d},c{i}@example.com,1980-01-{i % 28 + 1:02d},成都,保有,N\n")


def main() -> None:
    rows = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    tmp = Path(tempfile.mkdtemp())
    app = create_app(
        {"INSTANCE_PATH": str(tmp), "SECRET_KEY": "bench", "CARE_WEBHOOK_SECRET": "bench",
         "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp / 'bench.sqlite'}"}
    )  # fmt: skip
    first, second = tmp / "customers.csv", tmp / "customers2.csv"
    write_csv(first, rows, "138")
    write_csv(second, rows, "139")
    with app.app_context():
        db.create_all()
        for label, path in (("new", first), ("again", first), ("changed", second)):
            start = time.perf_counter()
            run = run_import(db.session, "customers", path, filename=path.name, actor=Actor("bench"), now=datetime.now(UTC))
            db.session.commit()
            took = time.perf_counter() - start
            print(
                f"{label:8} {rows} rows in {took:5.1f} s: {run.created} created, {run.updated} updated, "
                f"{run.unchanged} unchanged, {run.rejected} rejected"
            )


if __name__ == "__main__":
    main()

"""care/services/backup.py: back up while the app runs, restore into an empty database and
compare every table row by row; refusals (non-empty target, foreign or damaged files).

On PostgreSQL the restore goes into a second, fresh schema (tests.test_schema.fresh_database),
so the archive's schema is renamed on the way; --force restores into the app's own schema.
"""

from __future__ import annotations

import re
import shutil
import sqlite3
import threading
from datetime import date

import pytest
import sqlalchemy as sa

from care.demo import load_demo
from care.extensions import db
from care.models import User
from care.models.search import is_search_object
from care.models.types import utcnow
from care.services import Actor
from care.services.backup import BackupError, backup, restore
from tests.conftest import PG_URL
from tests.test_schema import fresh_app

# On PostgreSQL these need pg_dump, pg_restore and psql (`make test` installs them when
# missing and allowed: scripts/ensure-pg-client.sh).
pytestmark = pytest.mark.skipif(
    bool(PG_URL) and not all(shutil.which(tool) for tool in ("pg_dump", "pg_restore", "psql")),
    reason="the PostgreSQL client tools are not installed (make pg-client)",
)


def every_row(engine) -> dict[str, list[tuple]]:
    """Every row of every table of the app, in primary-key order."""
    rows = {}
    with engine.connect() as conn:
        for table in db.metadata.sorted_tables:
            order = list(table.primary_key.columns) or list(table.columns)
            rows[table.name] = [tuple(r) for r in conn.execute(sa.select(table).order_by(*order))]
    return rows


def table_names(engine) -> set[str]:
    """The app's tables (SQLite: without the search index's FTS5 tables)."""
    return {name for name in sa.inspect(engine).get_table_names() if not is_search_object(name)}


@pytest.fixture
def populated(app_ctx):
    """The demo dealership (every kind of row) in the app's database."""
    load_demo(db.session, customers=12, seed=7, today=date(2026, 3, 16), actor=Actor("test"), now=utcnow())
    db.session.commit()
    return app_ctx


@pytest.fixture
def target_dir(tmp_path):
    path = tmp_path / "target"
    path.mkdir()
    return path


def test_backup_then_restore_into_an_empty_database_gives_every_row_back(
    populated, tmp_path, target_dir
):
    before = every_row(db.engine)
    assert sum(map(len, before.values())) > 200 and len([t for t in before.values() if t]) >= 10
    file = tmp_path / "care.backup"
    summary = backup(db.engine, file)
    assert file.stat().st_size == summary.bytes > 0
    assert file.stat().st_mode & 0o077 == 0  # personal data: readable by its owner only
    assert summary.tables == len(table_names(db.engine))
    assert summary.rows == sum(map(len, before.values()))

    with fresh_app(target_dir) as target, target.app_context():
        assert table_names(db.engine) == set()
        restored = restore(db.engine, file)
        assert (restored.tables, restored.rows) == (summary.tables, summary.rows)
        assert every_row(db.engine) == before
        if PG_URL:  # the archive's schema was renamed to the target's
            assert restored.schema != summary.schema


def test_a_non_empty_database_is_refused_and_left_alone(populated, tmp_path):
    file = tmp_path / "care.backup"
    backup(db.engine, file)
    before = every_row(db.engine)
    with pytest.raises(BackupError, match=r"not empty .*--force to replace everything"):
        restore(db.engine, file)
    assert every_row(db.engine) == before


def test_force_replaces_everything(populated, tmp_path):
    file = tmp_path / "care.backup"
    backup(db.engine, file)
    before = every_row(db.engine)
    db.session.add(User(username="after.backup", display_name="x", password_hash="x"))
    db.session.execute(sa.text("DELETE FROM audit_log"))
    db.session.execute(sa.text("CREATE TABLE stray (id integer)"))
    db.session.commit()
    db.session.remove()

    summary = restore(db.engine, file, force=True)
    assert every_row(db.engine) == before
    assert "stray" not in table_names(db.engine)
    assert summary.rows == sum(map(len, before.values()))


def test_the_backup_of_a_migrated_database_keeps_its_revision(tmp_path, target_dir):
    source_dir = tmp_path / "source"
    source_dir.mkdir()
    with fresh_app(source_dir) as source:
        assert source.test_cli_runner().invoke(args=["care", "init-db"]).exit_code == 0
        with source.app_context():
            head = db.session.scalar(sa.text("SELECT version_num FROM alembic_version"))
            db.session.execute(sa.text("UPDATE alembic_version SET version_num = '0003'"))
            db.session.commit()
            summary = backup(db.engine, tmp_path / "old.backup")
            db.session.execute(sa.text("UPDATE alembic_version SET version_num = 'f00f'"))
            db.session.commit()
            backup(db.engine, tmp_path / "future.backup")
    assert summary.revision == "0003" and head != "0003"
    with fresh_app(target_dir) as target, target.app_context():
        with pytest.raises(
            BackupError, match="revision f00f, which this version of Care Desk does not know"
        ):
            restore(db.engine, tmp_path / "future.backup")
        restored = restore(db.engine, tmp_path / "old.backup")
        assert restored.revision == "0003"
        assert f"older than this app's {head}: run `care init-db`" in restored.note
        assert db.session.scalar(sa.text("SELECT version_num FROM alembic_version")) == "0003"


# --- files that are not a backup of this app --------------------------------------------


def _other_sqlite(path):
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE notes (id integer, text varchar)")
    conn.execute("INSERT INTO notes VALUES (1, 'hello')")
    conn.commit()
    conn.close()


@pytest.mark.parametrize(
    ("content", "error"),
    [
        (b"name,mobile\n\xe7\x8e\x8b,13912345678\n", "not a Care Desk backup (neither"),
        (b"PGDMP\x01\x0e\x00garbage" * 10, None),  # pg_dump's magic, then nothing sensible
        (b"SQLite format 3\x00" + b"\x00" * 200, None),  # SQLite's magic on a torn file
    ],
)
def test_foreign_and_damaged_files_are_refused(app_ctx, tmp_path, content, error):
    file = tmp_path / "not-a-backup"
    file.write_bytes(content)
    before = every_row(db.engine)
    with pytest.raises(BackupError) as refused:
        restore(db.engine, file, force=True)
    message = str(refused.value)
    assert "\n" not in message and message.startswith(str(file))
    if error:
        assert error in message
    assert every_row(db.engine) == before


def test_a_sqlite_file_of_another_app_is_refused(app_ctx, tmp_path):
    file = tmp_path / "other.sqlite"
    _other_sqlite(file)
    with pytest.raises(BackupError, match="not a Care Desk backup|is a SQLite database file, but"):
        restore(db.engine, file, force=True)


def test_a_truncated_backup_is_refused_and_changes_nothing(populated, tmp_path):
    file = tmp_path / "care.backup"
    backup(db.engine, file)
    data = file.read_bytes()
    file.write_bytes(data[: len(data) // 2])
    before = every_row(db.engine)
    with pytest.raises(BackupError):
        restore(db.engine, file, force=True)
    assert every_row(db.engine) == before


def test_the_wrong_kind_of_file_for_the_database_is_refused(app_ctx, tmp_path):
    if PG_URL:
        file = tmp_path / "care.sqlite"
        _other_sqlite(file)
        expected = "is a SQLite database file, but this app's database is PostgreSQL"
    else:
        file = tmp_path / "care.dump"
        file.write_bytes(b"PGDMP\x01\x0e\x00" + b"\x00" * 100)
        expected = "is a PostgreSQL (pg_dump) archive, but this app's database is SQLite"
    with pytest.raises(BackupError, match=re.escape(expected)):
        restore(db.engine, file)


def test_missing_file_and_unwritable_path(app_ctx, tmp_path):
    with pytest.raises(BackupError, match="no such file"):
        restore(db.engine, tmp_path / "missing.backup")
    with pytest.raises(BackupError, match="no such directory"):
        backup(db.engine, tmp_path / "nowhere" / "care.backup")
    with pytest.raises(BackupError, match="is a directory"):
        backup(db.engine, tmp_path)
    assert list(tmp_path.glob(".*.partial")) == []


@pytest.mark.skipif(bool(PG_URL), reason="SQLite: the app's own file")
def test_the_live_database_file_is_not_a_backup_target(app_ctx):
    with pytest.raises(BackupError, match="the app's database itself"):
        backup(db.engine, db.engine.url.database)


# --- consistency while the app writes (SQLite) ------------------------------------------


@pytest.mark.skipif(bool(PG_URL), reason="SQLite's online backup API (pg_dump takes a snapshot)")
def test_a_backup_while_another_connection_writes_is_consistent(populated, tmp_path):
    """A writer commits two audit rows per transaction: every copy holds an even number."""
    db.session.remove()
    path = db.engine.url.database
    start = sqlite3.connect(path).execute("SELECT count(*) FROM audit_log").fetchone()[0]
    stop = threading.Event()
    written = []

    def write():
        conn = sqlite3.connect(path, timeout=15)
        n = 0
        while not stop.is_set():
            with conn:
                for _ in range(2):
                    conn.execute(
                        "INSERT INTO audit_log (at, actor, action) VALUES ('2026-03-16 00:00:00.000000', 'w', 'pair')"
                    )
            n += 1
        written.append(n)
        conn.close()

    writer = threading.Thread(target=write)
    writer.start()
    try:
        copies = []
        for i in range(5):
            file = tmp_path / f"copy{i}.sqlite"
            backup(db.engine, file)
            copies.append(file)
    finally:
        stop.set()
        writer.join()
    assert written[0] > 0
    counts = []
    for file in copies:
        conn = sqlite3.connect(file)
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert (
            conn.execute("PRAGMA journal_mode").fetchone()[0] == "delete"
        )  # one self-contained file
        counts.append(
            conn.execute("SELECT count(*) FROM audit_log WHERE action = 'pair'").fetchone()[0]
        )
        conn.close()
    assert all(c % 2 == 0 for c in counts), counts
    assert start >= 0 and counts == sorted(counts)


# --- the PostgreSQL client tools ---------------------------------------------------------


def test_a_missing_or_older_pg_dump_is_a_one_line_reason(tmp_path, monkeypatch):
    from care.services.backup import _tool

    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(
        BackupError, match=r"^pg_dump not found on PATH: install .*postgresql-client"
    ):
        _tool("pg_dump", 15)
    fake = tmp_path / "pg_dump"
    fake.write_text("#!/bin/sh\necho 'pg_dump (PostgreSQL) 13.4'\n")
    fake.chmod(0o755)
    with pytest.raises(
        BackupError,
        match=r"^pg_dump 13 is older than the server \(15\): install postgresql-client-15$",
    ):
        _tool("pg_dump", 15)
    assert _tool("pg_dump", 13) == str(fake)

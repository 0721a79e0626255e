"""`care backup PATH` / `care restore PATH [--force] [--json]` (interfaces.md): one line on
success (tables, rows, bytes), one line and exit 1 on refusal; the password never shows."""

from __future__ import annotations

import json
import shutil
import subprocess

import pytest
import sqlalchemy as sa

from care.extensions import db
from care.services import backup as backup_service
from tests.conftest import PG_URL, _pg_url
from tests.test_schema import fresh_app

# On PostgreSQL these need pg_dump, pg_restore and psql (`make test` installs them when
# missing and allowed: scripts/ensure-pg-client.sh).
pytestmark = pytest.mark.skipif(
    bool(PG_URL) and not all(shutil.which(tool) for tool in ("pg_dump", "pg_restore", "psql")),
    reason="the PostgreSQL client tools are not installed (make pg-client)",
)


def _run(runner, *args):
    return runner.invoke(args=["care", *args], catch_exceptions=False)


def _one_line(text: str) -> str:
    lines = [line for line in text.splitlines() if line.strip()]
    assert len(lines) == 1, text
    return lines[0]


def test_backup_and_restore_from_the_command_line(tmp_path):
    source_dir, target_dir = tmp_path / "source", tmp_path / "target"
    source_dir.mkdir()
    target_dir.mkdir()
    file = tmp_path / "care.backup"
    with fresh_app(source_dir) as source:
        runner = source.test_cli_runner()
        assert _run(runner, "init-db").exit_code == 0
        _run(runner, "create-user", "li.na", "--role", "specialist", "--password", "long-enough-1")
        made = _run(runner, "backup", str(file))
        assert made.exit_code == 0, made.output
        line = _one_line(made.stdout)
        assert line.startswith(f"backed up to {file}")
        assert " tables, " in line and " rows, " in line and f"{file.stat().st_size} bytes" in line
        as_json = json.loads(_run(runner, "backup", str(file), "--json").stdout)
        assert as_json["bytes"] == file.stat().st_size and as_json["tables"] > 10

        again = _run(runner, "restore", str(file))  # into itself: not empty
        assert again.exit_code == 1 and again.stdout == ""
        assert "not empty" in _one_line(again.stderr) and "--force" in again.stderr

    with fresh_app(target_dir) as target:
        runner = target.test_cli_runner()
        done = _run(runner, "restore", str(file), "--json")
        assert done.exit_code == 0, done.output
        summary = json.loads(done.stdout)
        assert (summary["tables"], summary["rows"]) == (as_json["tables"], as_json["rows"])
        assert summary["note"] is None  # at the app's own revision: nothing to upgrade
        with target.app_context():
            assert db.session.scalar(sa.text("SELECT username FROM users")) == "li.na"
        forced = _run(runner, "restore", str(file), "--force")
        assert forced.exit_code == 0, forced.output
        assert _one_line(forced.stdout).startswith(f"restored from {file}")


def test_refusals_are_one_line(app, runner, tmp_path):
    junk = tmp_path / "junk.bin"
    junk.write_bytes(b"\x00\x01not a backup")
    cases = [
        (("restore", str(tmp_path / "missing")), "no such file"),
        (("restore", str(junk), "--force"), "not a Care Desk backup"),
        (("backup", str(tmp_path / "no" / "such" / "dir.backup")), "no such directory"),
    ]
    for args, reason in cases:
        result = _run(runner, *args)
        assert result.exit_code == 1, (args, result.output)
        assert reason in _one_line(result.stderr) and result.stdout == ""


def test_restore_help_says_what_force_does(runner):
    assert "replaces EVERYTHING" in _run(runner, "restore", "--help").stdout


@pytest.mark.skipif(not PG_URL, reason="PostgreSQL: pg_dump gets the password")
def test_the_password_goes_through_the_environment_only(tmp_path, pg_schema, monkeypatch):
    """A password in the URL reaches pg_dump as PGPASSWORD, never in its arguments."""
    url = sa.engine.make_url(_pg_url(PG_URL)).set(password="s3cret-pw")
    engine = sa.create_engine(url, connect_args={"options": f"-csearch_path={pg_schema}"})
    seen = []
    real_run = subprocess.run

    def spy(args, **kw):
        seen.append((args, kw.get("env")))
        return real_run(args, **kw)

    monkeypatch.setattr(backup_service.subprocess, "run", spy)
    try:
        try:
            backup_service.backup(engine, tmp_path / "care.backup")
        except backup_service.BackupError as exc:  # a server that checks passwords says no
            assert "s3cret-pw" not in str(exc)
    finally:
        engine.dispose()
    dumps = [
        (args, env) for args, env in seen if args[0].endswith("pg_dump") and "--version" not in args
    ]
    assert dumps
    for args, env in dumps:
        assert not any("s3cret-pw" in a for a in args)
        assert env["PGPASSWORD"] == "s3cret-pw"

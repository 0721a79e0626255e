"""The core commands of interfaces.md: init-db, create-user, settings."""

from __future__ import annotations

import json

from sqlalchemy import func, select

from care.domain.roles import Role
from care.domain.settings import SETTINGS
from care.extensions import db
from care.models import AuditLog, Setting, User
from tests.test_schema import fresh_app
from tests.web.test_unit_of_work import counting_commits


def _run(runner, *args):
    return runner.invoke(args=["care", *args], catch_exceptions=False)


def _one_line(text: str) -> str:
    lines = [line for line in text.splitlines() if line.strip()]
    assert len(lines) == 1, text
    return lines[0]


# --- init-db ---------------------------------------------------------------------------


def test_init_db_creates_the_schema_and_is_safe_to_run_again(tmp_path):
    with fresh_app(tmp_path) as app:
        runner = app.test_cli_runner()
        first = _run(runner, "init-db")
        assert first.exit_code == 0, first.output
        assert "database at revision" in first.stdout
        with app.app_context():
            db.session.add(User(username="kept", display_name="kept", password_hash="x"))
            db.session.commit()
        second = _run(runner, "init-db")
        assert second.exit_code == 0, second.output
        assert second.stdout == first.stdout
        with app.app_context():
            assert db.session.scalar(select(User.username)) == "kept"  # nothing was dropped


# --- create-user -----------------------------------------------------------------------


def test_create_user(app, runner):
    result = _run(
        runner, "create-user", "li.na", "--role", "specialist", "--role", "INSURANCE",
        "--password", "long-enough-1", "--extension", "8001", "--display-name", "李娜",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == "created user li.na (insurance, specialist)"
    with app.app_context():
        user = db.session.scalar(select(User).where(User.username == "li.na"))
        assert user.roles == {Role.SPECIALIST, Role.INSURANCE}
        assert user.extension == "8001" and user.display_name == "李娜" and user.check_password("long-enough-1")
        entry = db.session.scalar(select(AuditLog).where(AuditLog.action == "user.create"))
        assert entry.actor == "cli"


def test_create_user_duplicate_is_refused_with_one_line(app, runner):
    assert _run(runner, "create-user", "li.na", "--role", "admin", "--password", "long-enough-1").exit_code == 0
    result = _run(runner, "create-user", "LI.NA", "--role", "admin", "--password", "long-enough-1")
    assert result.exit_code == 1
    assert _one_line(result.stderr) == "Error: user “LI.NA” exists already"
    assert result.stdout == ""


def test_create_user_bad_role_is_refused(app, runner):
    result = _run(runner, "create-user", "wang", "--role", "specialist", "--role", "emperor", "--password", "long-enough-1")
    assert result.exit_code == 1
    line = _one_line(result.stderr)
    assert line.startswith("Error: unknown role “emperor”") and "general_manager" in line
    with app.app_context():
        assert db.session.scalar(select(User)) is None


def test_create_user_needs_a_role_and_a_decent_password(app, runner):
    result = runner.invoke(args=["care", "create-user", "wang", "--password", "long-enough-1"])
    assert result.exit_code == 2 and "--role" in result.output  # click's usage error
    result = _run(runner, "create-user", "wang", "--role", "admin", "--password", "short")
    assert result.exit_code == 1 and "at least 10 characters" in _one_line(result.stderr)
    result = _run(runner, "create-user", "w", "--role", "admin", "--password", "long-enough-1")
    assert result.exit_code == 1 and "user name" in _one_line(result.stderr)


# --- settings --------------------------------------------------------------------------


def test_settings_lists_all(runner):
    result = _run(runner, "settings")
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert len(lines) == len(SETTINGS)
    assert any(line.startswith("attempts_max ") and line.rstrip().endswith(" 3") for line in lines)


def test_settings_show_one(runner):
    result = _run(runner, "settings", "workday_start")
    assert result.exit_code == 0
    assert result.stdout.split() == ["workday_start", "08:30"]


def test_settings_set_one(app, runner):
    result = _run(runner, "settings", "workday_start", "8:00")
    assert result.exit_code == 0, result.output
    assert result.stdout.split()[:2] == ["workday_start", "08:00"] and "(default 08:30)" in result.stdout
    with app.app_context():
        assert db.session.get(Setting, "workday_start").value == "08:00"
        entry = db.session.scalar(select(AuditLog).where(AuditLog.action == "settings.update"))
        assert entry.actor == "cli" and entry.detail == {"workday_start": {"old": "08:30", "new": "08:00"}}


def test_settings_set_invalid_exits_1_with_a_reason(app, runner):
    result = _run(runner, "settings", "attempts_max", "lots")
    assert result.exit_code == 1
    assert _one_line(result.stderr) == "Error: attempts_max: “lots” is not a whole number"
    result = _run(runner, "settings", "first_service_open_months", "3")
    assert result.exit_code == 1
    assert "first_service_open_months must be below first_service_deadline_months" in _one_line(result.stderr)
    with app.app_context():
        assert db.session.scalar(select(Setting)) is None


def test_settings_unknown_key(runner):
    result = _run(runner, "settings", "no_such_key")
    assert result.exit_code == 1
    assert _one_line(result.stderr) == "Error: unknown setting “no_such_key”"
    assert _run(runner, "settings", "no_such_key", "1").exit_code == 1


def test_settings_json(runner):
    result = _run(runner, "settings", "--json")
    assert result.exit_code == 0
    document = json.loads(result.stdout)
    assert set(document) == {s.key for s in SETTINGS}
    assert document["dealer_city"] == "成都" and document["attempts_max"] == "3"

    one = json.loads(_run(runner, "settings", "call_slots", "--json").stdout)
    assert one["key"] == "call_slots" and one["value"] == one["default"] and one["updated_by"] is None

    result = _run(runner, "settings", "insurance_sample_rate", "65%", "--json")
    assert result.exit_code == 0
    one = json.loads(result.stdout)
    assert one["value"] == "0.65" and one["updated_by"] == "cli"


# --- one commit per command (care/cli.py one_transaction) ---------------------------------------------------------


def test_a_cli_command_commits_once(app, runner):
    with counting_commits(app) as commits:
        result = runner.invoke(args=["care", "settings", "dealer_city", "成都"])
    assert result.exit_code == 0, result.output
    assert commits == ["COMMIT"]


def test_a_cli_command_that_fails_rolls_back_with_one_line(app, runner, monkeypatch):
    """The task listing writes its audit row, then the output fails: nothing stays."""
    import care.cli as cli

    def broken(document):
        raise ValueError("王小明 13912345678\nsecond line")  # what a database error may quote

    monkeypatch.setattr(cli, "emit_json", broken)
    with counting_commits(app) as commits:
        result = runner.invoke(args=["care", "tasks", "--json"])
    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr.strip().splitlines() == ["Error: nothing was saved (ValueError)"]  # no data
    assert commits == []
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(AuditLog)) == 0


def test_every_command_runs_as_one_unit_of_work(app):
    """A command added without @one_transaction would neither commit once nor turn
    fail() into one line on stderr (fail raises since the unit of work)."""
    commands = app.cli.commands["care"].commands
    unwrapped = sorted(name for name, cmd in commands.items() if not hasattr(cmd.callback, "__wrapped__"))
    assert unwrapped == []

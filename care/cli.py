"""`flask --app app care …`: the command line of interfaces.md.

Every command exits 0 on success and non-zero with a one-line reason on failure; with
`--json` it prints exactly one JSON document on stdout. Each command commits once.
"""

from __future__ import annotations

import json
import sys

import click
from flask import Flask
from flask.cli import AppGroup

from care.extensions import db
from care.models.types import utcnow
from care.services import ServiceError

care = AppGroup("care", help="Care Desk commands.")


def init_app(app: Flask) -> None:
    app.cli.add_command(care)


def emit_json(document) -> None:
    click.echo(json.dumps(document, ensure_ascii=False, indent=2, default=str))


def fail(message: str, code: int = 1):
    """One line on stderr and a non-zero exit."""
    db.session.rollback()
    click.echo(f"Error: {message}", err=True)
    sys.exit(code)


@care.command("init-db")
def init_db():
    """Create or upgrade the schema (safe to run again)."""
    from care.services.schema import upgrade_schema

    revision = upgrade_schema()
    click.echo(f"database at revision {revision}")


@care.command("create-user")
@click.argument("name")
@click.option("--role", "roles", multiple=True, required=True, help="specialist, insurance, care_manager, consultant, sales_manager, front_desk, general_manager, admin")
@click.option("--password", required=True)
@click.option("--extension", default=None, help="the user's phone extension")
@click.option("--display-name", default=None)
def create_user(name, roles, password, extension, display_name):
    """Add a user with one or more roles."""
    from care.services.users import create_user as create

    try:
        user = create(
            db.session,
            name,
            roles=list(roles),
            password=password,
            extension=extension,
            display_name=display_name,
            actor="cli",
            now=utcnow(),
        )
    except (ServiceError, ValueError) as exc:
        fail(str(exc))
    db.session.commit()
    click.echo(f"created user {user.username} ({', '.join(sorted(r.value for r in user.roles))})")


@care.command("settings")
@click.argument("key", required=False)
@click.argument("value", required=False)
@click.option("--json", "as_json", is_flag=True, help="print JSON")
def settings_cmd(key, value, as_json):
    """Show all settings, show one, or set one (e.g. `dealer_city 成都`)."""
    from care.domain.settings import SettingError, definition
    from care.services.settings import describe, set_settings

    if key is not None:
        try:
            definition(key)
        except SettingError as exc:
            fail(str(exc))
    if value is not None:
        try:
            set_settings(db.session, {key: value}, actor="cli", user_id=None, now=utcnow())
        except SettingError as exc:
            fail(f"{key}: {exc}")
        db.session.commit()
    rows = describe(db.session)
    if key is not None:
        rows = [r for r in rows if r["key"] == key]
    if as_json:
        if key is not None:
            emit_json(rows[0])
        else:
            emit_json({r["key"]: r["value"] for r in rows})
        return
    width = max(len(r["key"]) for r in rows)
    for r in rows:
        mark = "" if r["value"] == r["default"] else f"   (default {r['default']})"
        click.echo(f"{r['key']:<{width}}  {r['value']}{mark}")

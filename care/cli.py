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


@care.command("demo")
@click.option("--customers", default=300, show_default=True, type=click.IntRange(1, 100_000), help="how many customers")
@click.option("--seed", default=42, show_default=True, type=int, help="the same seed gives the same data")
@click.option("--today", type=click.DateTime(formats=["%Y-%m-%d"]), default=None, help="date the data are anchored on (default: today at the dealer)")
def demo(customers, seed, today):
    """Load a realistic demo dealership (idempotent for the same seed and size)."""
    from care.services.demo import load_demo
    from care.services.schema import has_schema

    if not has_schema():
        fail("no database schema: run `care init-db` first")
    try:
        result = load_demo(
            db.session,
            customers=customers,
            seed=seed,
            today=today.date() if today else None,
            actor="cli",
            now=utcnow(),
        )
    except ServiceError as exc:
        fail(str(exc))
    what = f"seed {result.seed}, {result.customers} customers, dated {result.today.isoformat()}"
    if result.already_loaded:
        click.echo(f"demo data already loaded ({what}): nothing changed")
    else:
        db.session.commit()
        counts = ", ".join(f"{n} {name}" for name, n in result.counts.items())
        click.echo(f"loaded the demo dealership ({what}): {counts}")
    click.echo(f"demo logins (password {result.password}):")
    width = max(len(u.username) for u in result.logins)
    for u in result.logins:
        click.echo(f"  {u.username:<{width}}  {', '.join(u.roles):<16} {u.display_name}")


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


@care.command("import")
@click.argument("kind")
@click.argument("path")
@click.option("--json", "as_json", is_flag=True, help="print the result as JSON")
@click.option("--strict", is_flag=True, help="import nothing when any row is invalid")
def import_cmd(kind, path, as_json, strict):
    """Load a DMS export: KIND is customers, vehicles, visits, policies or deliveries."""
    from pathlib import Path

    from care.services.imports import EXTENSIONS, KINDS, ImportFileError, public_reject, run_import

    if kind not in KINDS:
        fail(f"unknown kind {kind!r}; kinds: {', '.join(KINDS)}")
    file = Path(path)
    if file.suffix.lower() not in EXTENSIONS:
        fail(f"{path}: unsupported file type; use .csv or .xlsx")
    if not file.is_file():
        fail(f"{path}: no such file")
    try:
        run = run_import(
            db.session, kind, file, filename=file.name, strict=strict, actor="cli", now=utcnow()
        )
    except ImportFileError as exc:
        db.session.commit()  # keep the failed run and its audit entry
        fail(f"{file.name}: {exc}")
    except OSError as exc:
        fail(f"{path}: cannot read the file ({exc.strerror or type(exc).__name__})")
    rejects = run.all_rejects
    db.session.commit()
    if as_json:
        emit_json(
            {
                "created": run.created,
                "updated": run.updated,
                "unchanged": run.unchanged,
                "rejected": [public_reject(r) for r in rejects],
            }
        )
    else:
        click.echo(
            f"{kind} from {file.name}: {run.created} created, {run.updated} updated, "
            f"{run.unchanged} unchanged, {run.rejected} row(s) rejected (import run {run.id})"
        )
        if strict and run.rejected:
            click.echo("nothing was imported (--strict)")
        shown = 20
        for r in rejects[:shown]:
            click.echo(f"  row {r['row']}, {r['column']}: {r['error']}")
        if len(rejects) > shown:
            click.echo(f"  … and {len(rejects) - shown} more problem(s); --json lists them all")
    if rejects:
        sys.exit(1)

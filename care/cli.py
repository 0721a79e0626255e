"""`flask --app app care …`: the command line of interfaces.md.

Every command exits 0 on success and non-zero with a one-line reason on failure; with
`--json` it prints exactly one JSON document on stdout.

One commit per command (architecture.md), as the web's unit of work does per request:
each command is wrapped by :func:`one_transaction`, which commits once when the command
returns and rolls back on :func:`fail` or any error, printing one line. What a command
prints reaches stdout only after its commit, so it never reports work that was not
saved. `care outbox` is a worker: it commits each message's claim before sending it
and its result after (care/messaging/outbox.py), so a worker killed mid-round resends
at most the message in flight.
"""

from __future__ import annotations

import contextlib
import functools
import io
import json
import sys
from collections.abc import Callable, Iterator
from typing import NoReturn

import click
from flask import Flask
from flask.cli import AppGroup

from care.extensions import db
from care.models.types import utcnow
from care.services import Actor, ServiceError

care = AppGroup("care", help="Care Desk commands.")


def init_app(app: Flask) -> None:
    app.cli.add_command(care)


def emit_json(document) -> None:
    click.echo(json.dumps(document, ensure_ascii=False, indent=2, default=str))


def print_table(header: tuple[str, ...], table: list[tuple[str, ...]]) -> None:
    """Rows as aligned columns under their header."""
    widths = [max(len(h), *(len(line[i]) for line in table)) for i, h in enumerate(header)]
    click.echo("  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)).rstrip())
    for line in table:
        click.echo("  ".join(v.ljust(w) for v, w in zip(line, widths, strict=True)).rstrip())


def upgrade_schema() -> str:
    """`alembic upgrade head` with the app's migrations (Flask-Migrate); returns the
    revision the database is at."""
    from flask import current_app
    from flask_migrate import upgrade

    from care.services.schema import current_revision

    upgrade(directory=current_app.extensions["migrate"].directory)
    return current_revision()



class CommandFailed(Exception):
    """Raised by :func:`fail`; :func:`one_transaction` ends the command with it."""

    def __init__(self, message: str, code: int = 1, *, keep: bool = False):
        super().__init__(message)
        self.message, self.code, self.keep = message, code, keep


def fail(message: str, code: int = 1, *, keep: bool = False) -> NoReturn:
    """Stop the command: its work is rolled back, one line on stderr, a non-zero exit.

    ``keep``: the failure is itself a record (a refused import file's failed run and its
    audit entry): its writes are committed all the same.
    """
    raise CommandFailed(message, code, keep=keep)


@contextlib.contextmanager
def transaction() -> Iterator[None]:
    """Commit what the block did, or roll it back if it raised."""
    try:
        yield
    except BaseException:
        db.session.rollback()
        raise
    try:
        db.session.commit()
    except BaseException:
        db.session.rollback()
        raise


def _one_line(exc: BaseException) -> str:
    """The error's type only: a message can quote customer data (a database error quotes
    the value it refused; domain.md §9), and the expected failures say more through fail()."""
    return type(exc).__name__


def one_transaction(command: Callable[..., int | None]) -> Callable[..., None]:
    """One commit per command: commit when ``command`` returns (its return value, if any,
    is the exit code: work done, but a non-zero exit, e.g. an import with rejects), roll
    back on :func:`fail` (unless ``keep``) or on any error, with one line on stderr."""

    @functools.wraps(command)
    def run(*args, **kwargs) -> None:
        out = io.StringIO()
        try:
            with transaction(), contextlib.redirect_stdout(out):
                try:
                    code = command(*args, **kwargs)
                except CommandFailed as failed:
                    if not failed.keep:
                        raise
                    code = failed  # committed below all the same
        except CommandFailed as failed:
            click.echo(f"Error: {failed.message}", err=True)
            sys.exit(failed.code)
        except (click.exceptions.ClickException, click.exceptions.Exit, click.Abort, SystemExit, KeyboardInterrupt):
            raise
        except Exception as exc:  # noqa: BLE001 - rolled back (transaction); one line, not a traceback
            click.echo(f"Error: nothing was saved ({_one_line(exc)})", err=True)
            sys.exit(1)
        if isinstance(code, CommandFailed):
            click.echo(f"Error: {code.message}", err=True)
            sys.exit(code.code)
        click.echo(out.getvalue(), nl=False)
        if code:
            sys.exit(code)

    return run


@care.command("init-db")
@one_transaction
def init_db():
    """Create or upgrade the schema (safe to run again)."""
    from care.services.message_templates import ensure_default_templates
    from care.services.scripts import ensure_default_scripts
    from care.services.surveys import ensure_seeded as ensure_survey_templates

    revision = upgrade_schema()
    ensure_default_scripts(db.session, now=utcnow())  # version 1 where a task type has none
    ensure_default_templates(db.session, now=utcnow())  # fallback SMS/e-mail texts
    ensure_survey_templates(db.session, now=utcnow())  # the seeded SSI/CSI, where missing
    click.echo(f"database at revision {revision}")


@care.command("create-user")
@click.argument("name")
@click.option("--role", "roles", multiple=True, required=True, help="specialist, insurance, care_manager, consultant, sales_manager, front_desk, general_manager, admin")
@click.option("--password", required=True)
@click.option("--extension", default=None, help="the user's phone extension")
@click.option("--display-name", default=None)
@click.option("--email", default=None, help="where the app's notices go (an overdue complaint step)")
@one_transaction
def create_user(name, roles, password, extension, display_name, email):
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
            email=email,
            actor=Actor.CLI,
            now=utcnow(),
        )
    except (ServiceError, ValueError) as exc:
        fail(str(exc))
    click.echo(f"created user {user.username} ({', '.join(sorted(r.value for r in user.roles))})")


@care.command("demo")
@click.option("--customers", default=300, show_default=True, type=click.IntRange(1, 100_000), help="how many customers")
@click.option("--seed", default=42, show_default=True, type=int, help="the same seed gives the same data")
@click.option("--today", type=click.DateTime(formats=["%Y-%m-%d"]), default=None, help="date the data are anchored on (default: today at the dealer)")
@one_transaction
def demo(customers, seed, today):
    """Load a realistic demo dealership (idempotent for the same seed and size)."""
    from care.demo import load_demo
    from care.services.schema import has_schema

    if not has_schema():
        fail("no database schema: run `care init-db` first")
    try:
        result = load_demo(
            db.session,
            customers=customers,
            seed=seed,
            today=today.date() if today else None,
            actor=Actor.CLI,
            now=utcnow(),
        )
    except ServiceError as exc:
        fail(str(exc))
    what = f"seed {result.seed}, {result.customers} customers, dated {result.today.isoformat()}"
    if result.already_loaded:
        click.echo(f"demo data already loaded ({what}): nothing changed")
    else:
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
@one_transaction
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
            set_settings(db.session, {key: value}, actor=Actor.CLI, now=utcnow())
        except SettingError as exc:
            fail(f"{key}: {exc}")
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
@one_transaction
def import_cmd(kind, path, as_json, strict):
    """Load a DMS export: KIND is customers, vehicles, visits, policies or deliveries."""
    from pathlib import Path

    from care.services.imports import (
        EXTENSIONS,
        KINDS,
        ImportFileError,
        public_reject,
        public_warning,
        run_import,
    )

    if kind not in KINDS:
        fail(f"unknown kind {kind!r}; kinds: {', '.join(KINDS)}")
    file = Path(path)
    if file.suffix.lower() not in EXTENSIONS:
        fail(f"{path}: unsupported file type; use .csv or .xlsx")
    if not file.is_file():
        fail(f"{path}: no such file")
    try:
        run = run_import(
            db.session, kind, file, filename=file.name, strict=strict, actor=Actor.CLI, now=utcnow()
        )
    except ImportFileError as exc:
        fail(f"{file.name}: {exc}", keep=True)  # the failed run and its audit entry stay
    except OSError as exc:
        fail(f"{path}: cannot read the file ({exc.strerror or type(exc).__name__})")
    rejects, warnings = run.all_rejects, run.all_warnings
    if as_json:
        emit_json(
            {
                "created": run.created,
                "updated": run.updated,
                "unchanged": run.unchanged,
                "rejected": [public_reject(r) for r in rejects],
                "warnings": [public_warning(w) for w in warnings],
            }
        )
    else:
        click.echo(
            f"{kind} from {file.name}: {run.created} created, {run.updated} updated, "
            f"{run.unchanged} unchanged, {run.rejected} row(s) rejected, "
            f"{run.warned} row(s) with warnings (import run {run.id})"
        )
        if strict and run.rejected:
            click.echo("nothing was imported (--strict)")
        shown = 20
        for r in rejects[:shown]:
            click.echo(f"  row {r['row']}, {r['column']}: {r['error']}")
        if len(rejects) > shown:
            click.echo(f"  … and {len(rejects) - shown} more problem(s); --json lists them all")
        for w in warnings[:shown]:
            click.echo(f"  row {w['row']}, {w['column']} (warning): {w['warning']}")
        if len(warnings) > shown:
            click.echo(f"  … and {len(warnings) - shown} more warning(s); --json lists them all")
    return 1 if rejects else 0  # committed all the same: the valid rows are imported; warnings keep 0


# --- care tasks: the generator and the task list (care/services/generator.py) ----------------


def _parse_day(text: str | None, option: str = "--date"):
    """A YYYY-MM-DD option value, or a one-line failure."""
    from datetime import date

    if text is None:
        return None
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        fail(f"{option}: {text!r} is not a date (YYYY-MM-DD)")


@care.command("generate")
@click.option("--date", "day", default=None, metavar="YYYY-MM-DD", help="the generation day (default: today at the dealer, after catching up missed days)")
@click.option("--json", "as_json", is_flag=True, help="print the result as JSON")
@one_transaction
def generate_cmd(day, as_json):
    """Generate the day's care tasks (idempotent: a second run creates nothing new)."""
    from care.services.generator import generate, generate_due, local_now_date, run_summary
    from care.services.schema import has_schema
    from care.services.settings import load_settings

    wanted = _parse_day(day)
    if not has_schema():
        fail("no database schema: run `care init-db` first")
    now = utcnow()
    if wanted is not None:
        runs = [generate(db.session, wanted, actor=Actor.CLI, now=now)]
    else:  # today at the dealer, after the days missed since the last run
        today = local_now_date(now, load_settings(db.session))
        runs = generate_due(db.session, today, actor=Actor.CLI, now=now, again=True)
    main, earlier = runs[-1], runs[:-1]
    if as_json:
        document = run_summary(main)
        document["caught_up"] = [run_summary(r) for r in earlier]
        emit_json(document)
        return
    for run in earlier:
        click.echo(f"caught up {run.for_date.isoformat()}: {run.created_total} task(s) created (run {run.id})")
    created = ", ".join(f"{n} {kind}" for kind, n in (main.created or {}).items()) or "nothing new"
    click.echo(f"{main.for_date.isoformat()}: {main.created_total} task(s) created ({created}) in {main.duration_ms} ms (run {main.id})")
    for kind, reasons in (main.skipped or {}).items():
        click.echo(f"  skipped {kind}: " + ", ".join(f"{r} {n}" for r, n in reasons.items()))


@care.command("tasks")
@click.option("--date", "day", default=None, metavar="YYYY-MM-DD", help="only tasks whose window (opens on … deadline) contains this day")
@click.option("--type", "task_type", default=None, help="first_service, maintenance, warranty_expiry, inspection, insurance_renewal, birthday, delivery_call, delivery_survey, lapsed_recall, service_callback, appointment")
@click.option("--status", default=None, help="open, blocked, done, failed, canceled")
@click.option("--json", "as_json", is_flag=True, help="print a JSON list")
@one_transaction
def tasks_cmd(day, task_type, status, as_json):
    """List care tasks (due times in the dealer's time zone)."""
    from care.domain.task_rules import TaskType
    from care.models import TaskStatus
    from care.services.schema import has_schema
    from care.services.tasks import export_tasks

    wanted = _parse_day(day)
    types = [t.value for t in TaskType]
    statuses = [s.value for s in TaskStatus]
    if task_type is not None and task_type not in types:
        fail(f"--type: unknown task type {task_type!r}; types: {', '.join(types)}")
    if status is not None and status not in statuses:
        fail(f"--status: unknown status {status!r}; statuses: {', '.join(statuses)}")
    if not has_schema():
        fail("no database schema: run `care init-db` first")
    rows = export_tasks(db.session, day=wanted, task_type=task_type, status=status, actor=Actor.CLI, now=utcnow())
    if as_json:
        emit_json(rows)
        return
    if not rows:
        click.echo("no tasks")
        return
    header = ("id", "type", "status", "customer", "vin", "opens", "due", "assignee")
    table = [
        (str(r["id"]), r["type"], r["status"], r["customer_no"], r["vin"] or "-", r["opens_on"],
         r["due_at"][:16].replace("T", " "), r["assignee"] or "-")
        for r in rows
    ]  # fmt: skip
    print_table(header, table)
    click.echo(f"{len(rows)} task(s)")


# --- care sample-insurance: the R21 insurance QA sample (care/services/sampling.py) ---------


@care.command("sample-insurance")
@click.option("--month", required=True, metavar="YYYY-MM", help="the month whose insurance-renewal calls are sampled")
@click.option("--seed", default=None, metavar="S", help="the draw's seed, 0 to 2147483647 (default: chosen and recorded)")
@click.option("--top-up", "top_up", is_flag=True, help="draw from the calls made after the month's last draw")
@click.option("--json", "as_json", is_flag=True, help="print the sample as JSON")
@one_transaction
def sample_insurance_cmd(month, seed, top_up, as_json):
    """Draw the month's R21 sample of insurance-renewal calls, or show it when it is drawn
    already (drawing again shows the same sample); --top-up draws from later calls."""
    from care.domain.sampling import MAX_SEED
    from care.services import sampling as svc
    from care.services.schema import has_schema
    from care.services.settings import load_settings

    try:
        first = svc.parse_month(month)
    except svc.SampleRefused as exc:
        fail(f"--month: {exc}")
    wanted = None
    if seed is not None:
        text = seed.strip()
        if not (text.isascii() and text.isdigit()) or int(text) > MAX_SEED:
            fail(f"--seed: {seed!r} is not a whole number from 0 to {MAX_SEED}")
        wanted = int(text)
    if not has_schema():
        fail("no database schema: run `care init-db` first")
    settings = load_settings(db.session)
    now = utcnow()
    draws = svc.draws_of(db.session, first)
    try:
        if top_up or not draws:
            svc.draw_sample(
                db.session, first, top_up=top_up, seed=wanted, user=None, actor=Actor.CLI, now=now, settings=settings
            )
        elif wanted is not None and wanted != draws[0].seed:
            fail(
                f"the sample of {month.strip()} was drawn on {draws[0].drawn_at.isoformat(timespec='minutes')} "
                f"with seed {draws[0].seed}; a drawn sample is not drawn again with another seed"
            )
    except svc.SampleRefused as exc:
        if exc.code != "no_calls":  # a month without calls: nothing to draw, an empty sample
            fail(str(exc))
    document = svc.sample_document(db.session, first, settings=settings)
    if as_json:
        emit_json(document)
        return
    if not document["draws"]:
        click.echo(f"{document['month']}: no insurance-renewal call reached a customer; nothing to sample")
        return
    from datetime import datetime

    from care.domain.dates import to_local

    for d in document["draws"]:
        at = to_local(datetime.fromisoformat(d["drawn_at"]), settings.timezone).strftime("%Y-%m-%d %H:%M")
        what = "sample" if d["number"] == 1 else f"top-up {d['number'] - 1}"
        click.echo(
            f"{document['month']} {what}: drawn {at} by {d['drawn_by']} (seed {d['seed']}, rate {d['rate']:g}): "
            f"{len(d['sampled'])} of {d['calls']} call(s)"
        )
    width = max(len(str(s["specialist"])) for s in document["strata"])
    for s in document["strata"]:
        line = f"  {s['specialist']!s:<{width}}  {len(s['sampled'])} of {s['calls']} call(s) sampled, {s['verified']} verified"
        if s["new_calls"]:
            line += f", {s['new_calls']} new"
        click.echo(line)
    if document["new_calls"]:
        click.echo(
            f"{document['new_calls']} call(s) made after the last draw are not in the sample: "
            f"`care sample-insurance --month {document['month']} --top-up` draws from them"
        )


# --- care survey-templates: the survey templates in force (care/services/surveys.py) ------


@care.command("survey-templates")
@click.option("--json", "as_json", is_flag=True, help="print the templates as JSON")
@one_transaction
def survey_templates_cmd(as_json):
    """The survey templates in force (SSI, CSI …): factors and items with code, text,
    weight and scale."""
    from care.services import surveys as svc
    from care.services.schema import has_schema

    if not has_schema():
        fail("no database schema: run `care init-db` first")
    documents = [svc.template_json(v) for v in svc.templates_in_force(db.session)]
    if as_json:
        emit_json(documents)
        return
    for doc in documents:
        low, high = doc["scale"]
        click.echo(f"{doc['code']}  {doc['name']}  v{doc['version']}  scale {low}–{high}  overall item: {doc['overall_item']}")
        for factor in doc["factors"]:
            click.echo(f"  {factor['code']:<22} {factor['weight']:>6.2f} %  {factor['name']}")
            for item in factor["items"]:
                click.echo(f"    {item['code']:<24} {item['weight']:>6.2f} %  {item['text']}")


# --- care sweep: close call attempts whose final event never came (telephony.md pitfall 4) ---


@care.command("sweep")
@click.option("--timeout", "timeout_minutes", default=None, type=click.IntRange(1, 10_080), help="minutes (default: the attempt_timeout_minutes setting)")
@click.option("--json", "as_json", is_flag=True, help="print the counts as JSON")
@one_transaction
def sweep_cmd(timeout_minutes, as_json):
    """Close call attempts stuck without a final event; close the tasks whose calling is
    over (failed or expired) and queue their fallback messages (a birthday greeting's the
    same morning). Catches up missed runs; a second run changes nothing."""
    from care.services.schema import has_schema
    from care.services.sweep import sweep

    if not has_schema():
        fail("no database schema: run `care init-db` first")
    counts = sweep(db.session, utcnow(), timeout_minutes=timeout_minutes)
    if as_json:
        emit_json(counts)
        return
    click.echo(", ".join(f"{name}: {value}" for name, value in counts.items() if not isinstance(value, dict)))
    deadlines = counts.get("fallbacks") or {}
    if deadlines:  # the deadline sweep, in words (the JSON keys are the contract)
        click.echo(
            "tasks: {failed} failed, {expired} expired ({violations} R15 violation(s)); fallback messages:"
            " {queued} queued ({birthday_fallbacks} birthday), {skipped} skipped".format_map(
                {k: deadlines.get(k, 0) for k in ("failed", "expired", "violations", "queued", "birthday_fallbacks", "skipped")}
            )
        )


@care.command("outbox")
@click.option("--once", is_flag=True, help="send what is due once and exit (default: keep running)")
@click.option("--interval", default=5.0, show_default=True, type=click.FloatRange(0.5, 3600), help="seconds between rounds")
@click.option("--limit", default=100, show_default=True, type=click.IntRange(1, 10_000), help="messages per round")
@click.option("--json", "as_json", is_flag=True, help="print the counts as JSON (with --once)")
def outbox_cmd(once, interval, limit, as_json):
    """Send the queued SMS and e-mails that are due (each claim and each result commits)."""
    import time as _time

    from flask import current_app

    from care.messaging.adapters import adapters_from_config
    from care.messaging.outbox import send_due
    from care.services.campaigns import release_due
    from care.services.settings import load_settings

    try:
        adapter_for = adapters_from_config(current_app.config)
    except ValueError as exc:
        click.echo(f"Error: {exc}", err=True)
        sys.exit(1)

    def one_round() -> dict:
        # A worker: each claim and each result commits (send_due's `commit`), so that a
        # kill mid-round repeats at most the message in flight; an error rolls back the
        # message in hand only (its claim, committed, lapses after the lease).
        with transaction():
            settings = load_settings(db.session)
            release_due(db.session, now=utcnow(), settings=settings)  # campaigns due (R11)
            db.session.commit()
            return send_due(
                db.session, settings=settings, now=utcnow(), adapter_for=adapter_for,
                limit=limit, commit=db.session.commit, clock=utcnow,
            )

    if once:
        counts = one_round()
        if as_json:
            emit_json(counts)
        else:
            click.echo(", ".join(f"{n} {name}" for name, n in counts.items()))
        return
    click.echo(f"outbox worker: a round every {interval:g} s; Ctrl-C to stop")
    try:
        while True:
            counts = one_round()
            if any(counts.values()):
                click.echo(", ".join(f"{n} {name}" for name, n in counts.items()))
            # a full round may have left more due: go again at once
            if sum(counts.values()) < limit:
                _time.sleep(interval)
    except KeyboardInterrupt:  # what was sent is recorded; the message in hand rolled back
        click.echo("outbox worker stopped")


# --- care backup / care restore: a consistent copy of the whole database and back ---------


def _backup_line(verb: str, summary) -> str:
    where = f" (schema {summary.schema})" if summary.schema else ""
    return (
        f"{verb} {summary.path}{where}: {summary.tables} tables, {summary.rows} rows, "
        f"{summary.bytes} bytes, schema revision {summary.revision}"
    )


@care.command("backup")
@click.argument("path")
@click.option("--json", "as_json", is_flag=True, help="print the summary as JSON")
@one_transaction  # for its one-line failure; the copy itself runs outside any session
def backup_cmd(path, as_json):
    """Write a consistent copy of the database to PATH while the app runs (SQLite: a
    database file; PostgreSQL: a pg_dump custom-format archive of the app's schema).
    The file holds personal data: keep it as safe as the database."""
    from care.services.backup import BackupError, backup

    db.session.remove()  # the copy is taken outside any session (care/services/backup.py)
    try:
        summary = backup(db.engine, path)
    except BackupError as exc:
        fail(str(exc))
    if as_json:
        emit_json(summary.as_dict())
        return
    click.echo(_backup_line("backed up to", summary))


@care.command("restore")
@click.argument("path")
@click.option("--force", is_flag=True, help="restore into a database that is not empty: replaces EVERYTHING in it (every table of the app's schema) by the backup")
@click.option("--json", "as_json", is_flag=True, help="print the summary as JSON")
@one_transaction  # for its one-line failure; the restore runs outside any session
def restore_cmd(path, force, as_json):
    """Load the backup at PATH into the app's database, which must be empty (no tables)
    unless --force. Stop the app first; run `care init-db` afterwards when the output says
    the backup's schema is older than the app's."""
    from care.services.backup import BackupError, restore

    db.session.remove()
    try:
        summary = restore(db.engine, path, force=force)
    except BackupError as exc:
        fail(str(exc))
    if as_json:
        emit_json(summary.as_dict())
        return
    click.echo(_backup_line("restored from", summary) + (f"; {summary.note}" if summary.note else ""))


# --- care complaints: the 24-hour loop of R20 (care/services/complaints.py) ----------------


@care.command("complaints")
@click.option("--status", default=None, type=click.Choice(["open", "overdue", "closed"]), help="only open, overdue or closed complaints")
@click.option("--json", "as_json", is_flag=True, help="print a JSON list (interfaces.md)")
@one_transaction
def complaints_cmd(status, as_json):
    """Complaints with their current step, its owner and deadline (times in UTC)."""
    from care.services import complaints as complaint_service
    from care.services.schema import has_schema

    if not has_schema():
        fail("no database schema: run `care init-db` first")
    rows = complaint_service.export(db.session, status=status, now=utcnow())
    if as_json:
        emit_json(rows)
        return
    if not rows:
        click.echo("no complaints")
        return
    header = ("id", "customer", "source", "opened", "step", "owner", "due", "closed", "reopened")
    table = [
        (str(r["id"]), r["customer_no"], r["source"], r["opened_at"][:16].replace("T", " "),
         f"{r['step']} {r['step_name']}", r["owner"] or "-", (r["step_due_at"] or "-")[:16].replace("T", " "),
         (r["closed_at"] or "-")[:16].replace("T", " "), str(r["reopened"]))
        for r in rows
    ]  # fmt: skip
    print_table(header, table)
    click.echo(f"{len(rows)} complaint(s)")


# --- care report: the monthly KPIs of R22 (care/services/kpis.py) ---------------------------


def _percent(result) -> str:
    value = result.value
    return "—" if value is None else f"{value * 100:.1f}% ({result.numerator}/{result.denominator})"


def _month_option(text: str):
    """``--month YYYY-MM`` of a monthly command (report, violations) as its first day, in a
    database that has its schema; else the command fails saying why."""
    from care.domain.kpis import MonthInvalid, parse_month
    from care.services.schema import has_schema

    try:
        first = parse_month(text)
    except MonthInvalid as exc:
        fail(f"--month: {exc}")
    if not has_schema():
        fail("no database schema: run `care init-db` first")
    return first


def _generate_monthly_report(first, kpis, now) -> None:
    """A finished month's report (R22 workflow) is generated with these very figures when
    it does not exist yet (care/services/monthly_report.py); the output does not change."""
    from care.services import Actor, monthly_report
    from care.services.settings import load_settings

    settings = load_settings(db.session)
    if monthly_report.finished(first, now, settings):
        monthly_report.generate(db.session, first, actor=Actor.CLI, now=now, settings=settings, kpis=kpis)


@care.command("report")
@click.option("--month", required=True, metavar="YYYY-MM", help="the month (the dealer's calendar)")
@click.option("--json", "as_json", is_flag=True, help="print the KPIs as one JSON document (interfaces.md)")
@one_transaction
def report_cmd(month, as_json):
    """The monthly KPIs of R22 for MONTH: return rates, appointment and churn rates,
    reminder rates per task type, R13 compliance, birthdays, greetings; a rate whose
    denominator is 0 is null (— in the text)."""
    from care.domain.kpis import report_document
    from care.services.kpis import monthly_kpis

    first = _month_option(month)
    now = utcnow()
    kpis = monthly_kpis(db.session, first, now=now)
    _generate_monthly_report(first, kpis, now)
    if as_json:
        emit_json(report_document(kpis))
        return
    span = kpis.span
    click.echo(f"KPIs of {span.key}" + (f" so far (until {span.cutoff.isoformat()})" if span.in_progress else ""))
    lines = [
        ("first-service return rate", kpis.first_service.rate),
        ("maintenance return rate", kpis.maintenance.rate),
        ("appointment rate", kpis.appointment_rate),
        (f"churn rate (on {kpis.churn.as_of.isoformat()})", kpis.churn.rate),
        ("first-service reminder rate", kpis.first_service_reminder_rate),
        ("R13 compliance", kpis.attempt_compliance),
        ("birthday greetings on time", kpis.birthday_on_time_rate),
        ("complaints closed in time", kpis.complaints_closed_in_24h_rate),
    ]
    width = max(len(name) for name, _ in lines)
    for name, result in lines:
        flag = "  BELOW THE VIOLATION FLOOR" if result.violates else ""
        click.echo(f"  {name:<{width}}  {_percent(result)}{flag}")
    click.echo(f"  {'greetings sent':<{width}}  {kpis.greetings_sent}")
    click.echo("  reminder rate by task type:")
    for task_type, result in kpis.reminder_rate.items():
        if result.denominator:
            click.echo(f"    {task_type:<{width - 2}}  {_percent(result)}")
    click.echo("  lapsed vehicles by group: " + ", ".join(f"{g} {n}" for g, n in kpis.churn.lapsed_by_group.items()))


# --- care violations: the R23 violations of a month (care/services/violations.py) --------------


@care.command("violations")
@click.option("--month", required=True, metavar="YYYY-MM", help="the month (the dealer's calendar)")
@click.option("--json", "as_json", is_flag=True, help="print a JSON list (interfaces.md)")
@one_transaction
def violations_cmd(month, as_json):
    """The R23 violations the data show for MONTH, with evidence and amount: derived from
    the data first (open ones updated, decided ones kept), then listed."""
    from care.services import violations as svc

    first = _month_option(month)
    now = utcnow()
    result = svc.derive(db.session, first, now=now)
    svc.record_derivation(db.session, result, actor=Actor.CLI, now=now)
    document = svc.document(db.session, first)
    if as_json:
        emit_json(document)
        return
    if not document:
        click.echo(f"{result.month}: no violation")
        return
    click.echo(f"{result.month}: {len(document)} violation(s)")
    for v in document:
        evidence = ", ".join(f"{e['kind']} {e['id']}" for e in v["evidence"][:5])
        more = f" (+{len(v['evidence']) - 5})" if len(v["evidence"]) > 5 else ""
        click.echo(f"  {v['rule']:<34} {v['person'] or '(department)':<16} {v['amount']:>6} CNY  {v['status']:<9} {evidence}{more}")
# --- care register: the day's appointment register (R17, care/services/register.py) ------------


@care.command("register")
@click.option("--date", "day", required=True, metavar="YYYY-MM-DD", help="the register's day (the dealer's calendar)")
@click.option("--json", "as_json", is_flag=True, help="print the register as one JSON document (interfaces.md)")
@one_transaction
def register_cmd(day, as_json):
    """That day's appointment register (R17): the appointments of both copies, the
    differences between them, and whether and when the day was submitted."""
    from care.services.register import register_document
    from care.services.schema import has_schema

    the_day = _parse_day(day)
    if not has_schema():
        fail("no database schema: run `care init-db` first")
    document = register_document(db.session, the_day, now=utcnow())
    if as_json:
        emit_json(document)
        return
    submitted = (
        f"submitted {document['submitted_at']} by {document['submitted_by']}"
        + (" (late)" if document["late"] else "")
        + (", changed since" if document["changed_after_submission"] else "")
        if document["submitted_at"]
        else "not submitted" + (" (overdue)" if document["overdue"] else f" (due {document['due_at']})")
    )
    click.echo(f"register of {document['date']}: {len(document['appointments'])} appointment(s), {submitted}")
    for a in document["appointments"]:
        click.echo(f"  {a['time']}  {a['vin'] or '-':<17}  {a['kind']:<13} {a['status'] or '-':<11} {a['source']}")
    for d in document["differences"]:
        click.echo(f"  difference: {d['kind']} {d['vin']} care={d['care']} front_desk={d['front_desk']}")

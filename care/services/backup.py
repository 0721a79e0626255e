"""`care backup PATH` / `care restore PATH`: a consistent copy of the whole database and back.

SQLite: the online backup API (``sqlite3.Connection.backup``) — a page-by-page copy taken
under one read lock, so it is consistent while the app keeps writing (WAL readers do not
block writers). The copy is written next to PATH, switched to the rollback journal (one
self-contained file) and renamed over PATH. Restore runs the backup API the other way,
into the app's database file, once the app's pool is disposed.

PostgreSQL: ``pg_dump -Fc`` (custom format) of exactly the app's schema — the
connection's ``current_schema()`` — taken in a snapshot exported by our own repeatable-read
transaction, so that the counts we print are those of the file. Restore turns the archive
into SQL with ``pg_restore``, renames the schema on the way when the target schema is
another one (the SQL outside the COPY data only), and runs it with ``psql`` in a single
transaction: a failed restore changes nothing. The password goes to the tools through
PGPASSWORD, never on a command line, and is never printed.

Flush/commit rules: unlike the other services these functions take the *engine*, not a
session, and manage their own connections. A backup must see the database as committed,
outside any session's transaction (the SQLite copy is taken on a raw DB-API connection;
pg_dump is a process of its own); a restore replaces the database underneath every
session, so the pool is disposed before and after and nothing goes through the ORM.
Nothing here is left for a caller to commit.

Every refusal is a :class:`BackupError` whose message is one line that is safe to print
(no row data: errors from the PostgreSQL tools are cut to their ERROR line).
"""

from __future__ import annotations

import os
import re
import shutil
import sqlite3
import subprocess
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from care.models.search import is_search_object

SQLITE_MAGIC = b"SQLite format 3\x00"
PGDUMP_MAGIC = b"PGDMP"
# A backup of this app has at least these tables (alembic_version only when migrated).
SIGNATURE_TABLES = {"users", "settings", "customers", "audit_log"}
MIGRATIONS = Path(__file__).resolve().parent.parent.parent / "migrations"


class BackupError(Exception):
    """A backup or restore refused or failed; the message is one printable line."""


@dataclass
class Summary:
    path: str
    kind: str  # "sqlite" or "postgresql"
    tables: int
    rows: int
    bytes: int
    revision: str  # the schema revision in the file ("none": not recorded)
    schema: str | None = None  # PostgreSQL: the schema written or restored into
    note: str | None = None  # restore: what to do next (e.g. run care init-db)

    def as_dict(self) -> dict:
        return asdict(self)


# --- what a file is ---------------------------------------------------------------------


def file_kind(path: Path) -> str:
    """Return "sqlite", "postgresql" or "unknown" by the file's first bytes."""
    with open(path, "rb") as f:
        head = f.read(len(SQLITE_MAGIC))
    if head == SQLITE_MAGIC:
        return "sqlite"
    if head.startswith(PGDUMP_MAGIC):
        return "postgresql"
    return "unknown"


def _readable_backup(path: str | os.PathLike) -> Path:
    source = Path(path)
    if not source.exists():
        raise BackupError(f"{source}: no such file")
    if not source.is_file():
        raise BackupError(f"{source}: not a file")
    try:
        kind_ok = os.access(source, os.R_OK) and source.stat().st_size > 0
    except OSError as exc:
        raise BackupError(f"{source}: {exc.strerror}") from None
    if not kind_ok:
        raise BackupError(f"{source}: empty or unreadable file")
    return source


def _writable_target(path: str | os.PathLike) -> Path:
    target = Path(path)
    if target.is_dir():
        raise BackupError(f"{target}: is a directory")
    parent = target.parent if str(target.parent) else Path(".")
    if not parent.is_dir():
        raise BackupError(f"{parent}: no such directory")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise BackupError(f"{parent}: not writable")
    if target.exists() and not os.access(target, os.W_OK):
        raise BackupError(f"{target}: not writable")
    return target


def _partial(target: Path) -> Path:
    fd, name = tempfile.mkstemp(
        prefix=f".{target.name}.", suffix=".partial", dir=target.parent or "."
    )
    os.close(fd)
    return Path(name)


def _known_revision(revision: str) -> str | None:
    """None when the migrations know `revision`; else why not (a newer app's file)."""
    if revision == "none":
        return None
    from alembic.script import ScriptDirectory
    from alembic.util import CommandError

    script = ScriptDirectory(str(MIGRATIONS))
    try:
        if script.get_revision(revision) is not None:
            return None
    except CommandError:
        pass
    return f"the backup is at schema revision {revision}, which this version of Care Desk does not know (made by a newer version?)"


def _restore_note(revision: str) -> str | None:
    from alembic.script import ScriptDirectory

    head = ScriptDirectory(str(MIGRATIONS)).get_current_head()
    if revision == "none":
        return "the backup records no schema revision: run `care init-db` if the app reports a missing table"
    if revision != head:
        return f"schema revision {revision} is older than this app's {head}: run `care init-db` to upgrade it"
    return None


# --- entry points -----------------------------------------------------------------------


def backup(engine: Engine, path: str | os.PathLike) -> Summary:
    """Write a consistent copy of the app's database to `path` (replacing a file there)."""
    target = _writable_target(path)
    if engine.dialect.name == "sqlite":
        return _sqlite_backup(engine, target)
    if engine.dialect.name == "postgresql":
        return _pg_backup(engine, target)
    raise BackupError(f"backups of {engine.dialect.name} databases are not supported")


def restore(engine: Engine, path: str | os.PathLike, *, force: bool = False) -> Summary:
    """Load the backup at `path` into the app's (empty) database.

    A database that has any table is refused unless `force`, which replaces everything in
    it (every table, view and sequence of the app's schema) by the backup's content.
    """
    source = _readable_backup(path)
    kind = file_kind(source)
    dialect = engine.dialect.name
    if kind == "unknown":
        raise BackupError(
            f"{source}: not a Care Desk backup (neither a SQLite database nor a pg_dump archive)"
        )
    if dialect not in ("sqlite", "postgresql"):
        raise BackupError(f"restoring into {dialect} databases is not supported")
    if kind != dialect:
        made = "a SQLite database file" if kind == "sqlite" else "a PostgreSQL (pg_dump) archive"
        raise BackupError(
            f"{source}: is {made}, but this app's database is {'SQLite' if dialect == 'sqlite' else 'PostgreSQL'}"
        )
    engine.dispose()
    try:
        if dialect == "sqlite":
            return _sqlite_restore(engine, source, force=force)
        return _pg_restore(engine, source, force=force)
    finally:
        engine.dispose()


# --- SQLite -----------------------------------------------------------------------------


def _sqlite_tables(conn: sqlite3.Connection) -> list[str]:
    """The app's tables (not the search index's FTS5 tables: their rows are no records)."""
    return [
        name
        for (name,) in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name"
        )
        if not is_search_object(name)
    ]


def _sqlite_counts(conn: sqlite3.Connection) -> tuple[int, int]:
    tables = _sqlite_tables(conn)
    rows = sum(conn.execute(f'SELECT count(*) FROM "{t}"').fetchone()[0] for t in tables)  # noqa: S608 - names from sqlite_master
    return len(tables), rows


def _sqlite_revision(conn: sqlite3.Connection) -> str:
    if "alembic_version" not in _sqlite_tables(conn):
        return "none"
    row = conn.execute("SELECT version_num FROM alembic_version").fetchone()
    return row[0] if row else "none"


def _sqlite_database_file(engine: Engine) -> Path:
    name = engine.url.database
    if not name or name == ":memory:" or name.startswith("file:"):
        raise BackupError("the app's SQLite database is not a file")
    return Path(name).resolve()


def _sqlite_backup(engine: Engine, target: Path) -> Summary:
    database = _sqlite_database_file(engine)
    if target.resolve() == database or target.resolve() in {
        Path(f"{database}-wal"),
        Path(f"{database}-shm"),
    }:
        raise BackupError(f"{target}: is the app's database itself")
    partial = _partial(target)
    try:
        with engine.connect() as conn:
            # below the ORM: the raw DB-API connection, outside any transaction of ours
            conn.rollback()
            source = conn.connection.dbapi_connection
            dest = sqlite3.connect(partial)
            try:
                source.backup(dest)  # all pages in one step: one read lock, one snapshot
                dest.execute("PRAGMA journal_mode=DELETE")  # one self-contained file
                check = dest.execute("PRAGMA integrity_check").fetchone()[0]
                if check != "ok":
                    raise BackupError(f"the copy failed its integrity check: {check}")
                tables, rows = _sqlite_counts(dest)
                revision = _sqlite_revision(dest)
            finally:
                dest.close()
        os.replace(partial, target)
    except OSError as exc:
        raise BackupError(f"{target}: {exc.strerror or exc}") from None
    except sqlite3.Error as exc:
        raise BackupError(f"the SQLite backup failed: {exc}") from None
    finally:
        partial.unlink(missing_ok=True)
    return Summary(str(target), "sqlite", tables, rows, target.stat().st_size, revision)


def _open_sqlite_backup(source: Path) -> sqlite3.Connection:
    try:
        conn = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
        check = conn.execute("PRAGMA quick_check").fetchone()[0]
        tables = set(_sqlite_tables(conn))
    except sqlite3.Error as exc:
        raise BackupError(f"{source}: not a readable SQLite database ({exc})") from None
    if check != "ok":
        conn.close()
        raise BackupError(f"{source}: damaged SQLite database ({check})")
    missing = SIGNATURE_TABLES - tables
    if missing:
        conn.close()
        raise BackupError(
            f"{source}: not a Care Desk backup (no {', '.join(sorted(missing))} table)"
        )
    return conn


def _sqlite_restore(engine: Engine, source: Path, *, force: bool) -> Summary:
    database = _sqlite_database_file(engine)
    if source.resolve() == database:
        raise BackupError(f"{source}: is the app's database itself")
    backup_conn = _open_sqlite_backup(source)
    try:
        revision = _sqlite_revision(backup_conn)
        unknown = _known_revision(revision)
        if unknown:
            raise BackupError(unknown)
        if not database.parent.is_dir():
            raise BackupError(f"{database.parent}: no such directory")
        try:
            dest = sqlite3.connect(database, timeout=15)
        except sqlite3.Error as exc:
            raise BackupError(f"{database}: {exc}") from None
        try:
            present = _sqlite_tables(dest)
            if present and not force:
                _, rows = _sqlite_counts(dest)
                raise BackupError(
                    f"the database is not empty ({len(present)} tables, {rows} rows): "
                    "restore into an empty one, or add --force to replace everything in it"
                )
            backup_conn.backup(dest)  # replaces every page of the destination, atomically
            tables, rows = _sqlite_counts(dest)
        except sqlite3.Error as exc:
            raise BackupError(f"the SQLite restore failed: {exc}") from None
        finally:
            dest.close()
    finally:
        backup_conn.close()
    return Summary(
        str(source),
        "sqlite",
        tables,
        rows,
        source.stat().st_size,
        revision,
        note=_restore_note(revision),
    )


# --- PostgreSQL -------------------------------------------------------------------------

_TOOL_VERSION = re.compile(rb"\(PostgreSQL\) (\d+)")


def _tool(name: str, server_major: int | None = None) -> str:
    found = shutil.which(name)
    if not found:
        raise BackupError(
            f"{name} not found on PATH: install the PostgreSQL client tools (postgresql-client)"
        )
    if server_major is not None:
        out = subprocess.run([found, "--version"], capture_output=True, check=False).stdout  # noqa: S603 - a tool found on PATH, no shell
        match = _TOOL_VERSION.search(out)
        major = int(match.group(1)) if match else 0
        if major < server_major:
            raise BackupError(
                f"{name} {major or '?'} is older than the server ({server_major}): install postgresql-client-{server_major}"
            )
    return found


_CLIENT_PARAMETERS = {
    "host", "hostaddr", "port", "dbname", "user", "passfile", "options", "service",
    "application_name", "connect_timeout", "sslmode", "sslcert", "sslkey", "sslrootcert",
    "sslcrl", "target_session_attrs", "gssencmode", "krbsrvname", "keepalives",
}  # fmt: skip


def _pg_connection_info(engine: Engine) -> tuple[str, dict, int, str | None]:
    """(conninfo without password, environment with PGPASSWORD, server major, schema)."""
    with engine.connect() as conn:
        from psycopg.conninfo import make_conninfo

        info = conn.connection.dbapi_connection.info  # psycopg 3
        # the parameters the app connects with, those every client version knows (psycopg's
        # own libpq may be newer than pg_dump's and report options pg_dump refuses)
        given = {k: v for k, v in info.get_parameters().items() if k in _CLIENT_PARAMETERS}
        dsn, password = make_conninfo(**given), info.password
        server = int(conn.execute(sa.text("SHOW server_version_num")).scalar())
        schema = conn.execute(sa.text("SELECT current_schema()")).scalar()
        conn.rollback()
    env = dict(os.environ)
    env.pop("PGPASSWORD", None)
    if password:
        env["PGPASSWORD"] = password
    return dsn, env, server // 10000, schema


def _error_line(stderr: bytes) -> str:
    """The first ERROR/FATAL line of a tool's stderr (DETAIL lines may quote row data)."""
    lines = stderr.decode("utf-8", "replace").splitlines()
    for line in lines:
        if "ERROR:" in line or "FATAL:" in line or "error:" in line:
            return line.strip()[:300]
    return lines[0].strip()[:300] if lines else "no message"


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _pg_counts(conn, schema: str) -> tuple[int, int]:
    tables = (
        conn.execute(
            sa.text(
                "SELECT tablename FROM pg_catalog.pg_tables WHERE schemaname = :s ORDER BY tablename"
            ),
            {"s": schema},
        )
        .scalars()
        .all()
    )
    count = "SELECT count(*) FROM {}.{}"  # quoted names from the catalogue
    rows = sum(
        conn.execute(sa.text(count.format(_quote(schema), _quote(t)))).scalar() for t in tables
    )
    return len(tables), rows


def _pg_backup(engine: Engine, target: Path) -> Summary:
    dsn, env, server_major, schema = _pg_connection_info(engine)
    if not schema:
        raise BackupError(
            "the connection has no current schema (does the search_path schema exist?)"
        )
    pg_dump = _tool("pg_dump", server_major)
    partial = _partial(target)
    try:
        with engine.connect().execution_options(isolation_level="REPEATABLE READ") as conn:
            with conn.begin():
                snapshot = conn.execute(sa.text("SELECT pg_catalog.pg_export_snapshot()")).scalar()
                tables, rows = _pg_counts(conn, schema)
                revision = "none"
                if conn.execute(
                    sa.text(
                        "SELECT 1 FROM pg_catalog.pg_tables WHERE schemaname = :s AND tablename = 'alembic_version'"
                    ),
                    {"s": schema},
                ).first():
                    revision = (
                        conn.execute(
                            sa.text(f"SELECT version_num FROM {_quote(schema)}.alembic_version")  # noqa: S608
                        ).scalar()
                        or "none"
                    )
                done = subprocess.run(  # noqa: S603 - fixed arguments, no shell
                    [pg_dump, "--format=custom", f"--schema={_quote(schema)}", f"--snapshot={snapshot}",
                     f"--file={partial}", f"--dbname={dsn}"],
                    env=env, capture_output=True, check=False,
                )  # fmt: skip
        if done.returncode != 0:
            raise BackupError(f"pg_dump failed: {_error_line(done.stderr)}")
        os.replace(partial, target)
    except OSError as exc:
        raise BackupError(f"{target}: {exc.strerror or exc}") from None
    finally:
        partial.unlink(missing_ok=True)
    return Summary(
        str(target), "postgresql", tables, rows, target.stat().st_size, revision, schema=schema
    )


# pg_restore --list lines: "215; 1259 16390 TABLE care_x users postgres"
_TOC = re.compile(r"^(\d+); (\d+) (\d+) (.+)$")


def _archive_toc(pg_restore: str, source: Path) -> list[str]:
    done = subprocess.run([pg_restore, "--list", str(source)], capture_output=True, check=False)  # noqa: S603
    if done.returncode != 0:
        raise BackupError(f"{source}: not a readable pg_dump archive ({_error_line(done.stderr)})")
    return done.stdout.decode("utf-8", "replace").splitlines()


def _archive_schema(toc: list[str], source: Path) -> str:
    tables: dict[str, set[str]] = {}
    for line in toc:
        match = _TOC.match(line)
        if not match:
            continue
        words = match.group(4).split()
        if len(words) >= 3 and words[0] == "TABLE" and words[1] != "DATA":
            tables.setdefault(words[1], set()).add(words[2])
    if len(tables) != 1:
        raise BackupError(
            f"{source}: not a Care Desk backup (tables in {len(tables)} schemas, expected one)"
        )
    ((schema, names),) = tables.items()
    missing = SIGNATURE_TABLES - names
    if missing:
        raise BackupError(
            f"{source}: not a Care Desk backup (no {', '.join(sorted(missing))} table)"
        )
    return schema


def _archive_revision(pg_restore: str, source: Path, schema: str) -> str:
    done = subprocess.run(  # noqa: S603 - fixed arguments, no shell
        [pg_restore, "--data-only", f"--schema={schema}", "--table=alembic_version", "--file=-", str(source)],
        capture_output=True, check=False,
    )  # fmt: skip
    lines = done.stdout.decode("utf-8", "replace").splitlines()
    for i, line in enumerate(lines):
        if line.startswith("COPY ") and i + 1 < len(lines) and lines[i + 1] != "\\.":
            return lines[i + 1].strip()
    return "none"


def _pg_drop_everything(conn, schema: str) -> list[bytes]:
    """--force: statements dropping every table, view and sequence of `schema`."""
    q = _quote(schema)
    found = conn.execute(
        sa.text(
            "SELECT c.relname, c.relkind FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n "
            "ON n.oid = c.relnamespace WHERE n.nspname = :s AND c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f')"
        ),
        {"s": schema},
    ).all()
    kinds = {
        "r": "TABLE",
        "p": "TABLE",
        "v": "VIEW",
        "m": "MATERIALIZED VIEW",
        "S": "SEQUENCE",
        "f": "FOREIGN TABLE",
    }
    order = "vmrpfS"  # views first, sequences last (most go with their tables)
    found.sort(key=lambda r: order.index(r.relkind))
    return [
        f"DROP {kinds[k]} IF EXISTS {q}.{_quote(name)} CASCADE;\n".encode() for name, k in found
    ]


def _pg_restore(engine: Engine, source: Path, *, force: bool) -> Summary:
    dsn, env, server_major, schema = _pg_connection_info(engine)
    if not schema:
        raise BackupError(
            "the connection has no current schema: create the schema the app's search_path names first"
        )
    pg_restore = _tool("pg_restore")
    psql = _tool("psql")
    toc = _archive_toc(pg_restore, source)
    old_schema = _archive_schema(toc, source)
    revision = _archive_revision(pg_restore, source, old_schema)
    unknown = _known_revision(revision)
    if unknown:
        raise BackupError(unknown)
    with engine.connect() as conn:
        drops = _pg_drop_everything(conn, schema)
        if drops and not force:
            tables, rows = _pg_counts(conn, schema)
            raise BackupError(
                f"the database is not empty (schema {schema}: {tables} tables, {rows} rows): "
                "restore into an empty one, or add --force to replace everything in it"
            )
        conn.rollback()
    # the schema itself exists (the app connects to it): restore what is inside it
    keep = [
        line
        for line in toc
        if not re.search(r"\d+ \d+ (SCHEMA|COMMENT - SCHEMA|ACL - SCHEMA) ", line)
    ]
    with tempfile.TemporaryDirectory(prefix="care-restore-") as work:
        listing = Path(work) / "toc.list"
        listing.write_text("\n".join(keep) + "\n", encoding="utf-8")
        errors_restore = Path(work) / "pg_restore.err"
        errors_psql = Path(work) / "psql.err"
        options = ["--no-owner", "--no-privileges", f"--use-list={listing}", "--file=-"]
        if force:
            options[:0] = ["--clean", "--if-exists"]
        with open(errors_restore, "wb") as err_r, open(errors_psql, "wb") as err_p:
            reader = subprocess.Popen(  # noqa: S603 - fixed arguments, no shell
                [pg_restore, *options, str(source)], stdout=subprocess.PIPE, stderr=err_r
            )
            writer = subprocess.Popen(  # noqa: S603
                [psql, "--no-psqlrc", "--quiet", "--set=ON_ERROR_STOP=1", "--single-transaction",
                 f"--dbname={dsn}", "--file=-"],
                stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=err_p, env=env,
            )  # fmt: skip
            try:
                for line in drops if force else []:
                    writer.stdin.write(line)
                _copy_renaming(reader.stdout, writer.stdin, old_schema, schema)
            except BrokenPipeError:
                pass  # psql stopped at an error: its stderr says which
            finally:
                try:
                    writer.stdin.close()
                except BrokenPipeError:
                    pass
                reader.stdout.close()
            read_code, write_code = reader.wait(), writer.wait()
        if read_code != 0:
            raise BackupError(f"pg_restore failed: {_error_line(errors_restore.read_bytes())}")
        if write_code != 0:
            raise BackupError(
                f"restore failed, nothing was changed: {_error_line(errors_psql.read_bytes())}"
            )
    engine.dispose()
    with engine.connect() as conn:
        tables, rows = _pg_counts(conn, schema)
        conn.rollback()
    return Summary(
        str(source), "postgresql", tables, rows, source.stat().st_size, revision, schema=schema,
        note=_restore_note(revision),
    )  # fmt: skip


def _copy_renaming(reader, writer, old: str, new: str) -> None:
    """Copy pg_restore's SQL to psql, naming `new` where the archive names schema `old`.

    Only the SQL is rewritten, never the rows between ``COPY … FROM stdin;`` and ``\\.``.
    """
    if old == new:
        shutil.copyfileobj(reader, writer)
        return
    old_b = re.escape(old.encode())
    pattern = re.compile(
        rb'(?<![\w$."])'
        + old_b
        + rb"\.|"
        + rb'"'
        + re.escape(old.replace('"', '""').encode())
        + rb'"\.'
    )
    replacement = _quote(new).encode() + b"."
    in_data = False
    for line in reader:
        if in_data:
            writer.write(line)
            if line == b"\\.\n":
                in_data = False
            continue
        if line.startswith(b"COPY ") and line.rstrip().endswith(b"FROM stdin;"):
            in_data = True
        writer.write(pattern.sub(lambda _m: replacement, line))

"""The customer search's text indexes: substring lookups without reading every customer.

The search box matches *inside* names, customer numbers, plates and at the end of phone
numbers and VINs (care/services/customers.py), so an ordinary B-tree index cannot serve
it and every search used to read all customers and vehicles. Each database has its own
trigram index for that, and the database itself notes every change, so every way a row is
written (the import, the forms, a restore, a test's ORM insert) is seen:

- SQLite: FTS5 tables with the ``trigram`` tokenizer (SQLite ≥ 3.34) over the columns
  searched. Triggers on ``customers`` and ``vehicles`` put the id of every row written
  into ``search_queue``; `sync` indexes the queued rows again in one statement per table,
  before each search and at the end of an import (see `sync` for why not in the trigger).
  Phones and VINs are indexed with an end mark, so that a phone's last digits are looked
  up as a tail, not as a fragment.
  A search first asks them for candidate rows (``MATCH`` a phrase of at least three
  characters), then checks the candidates with the exact conditions.
- PostgreSQL: ``pg_trgm`` GIN indexes on the same columns; ``ILIKE``/``LIKE`` with a
  pattern of at least three characters use them directly. When the extension cannot be
  installed (a role without the right), the indexes are left out with a warning and the
  search is correct but reads every row.

They live outside the SQLAlchemy models (an FTS5 table and an operator class are not
something the models can say), so `create_all` (the tests) runs `install` after creating
the tables, migration 0012 runs it on existing databases, and `is_search_object` tells the
schema comparison to leave them alone.
"""

from __future__ import annotations

import logging
import sqlite3

import sqlalchemy as sa
from sqlalchemy.engine import Connection

log = logging.getLogger(__name__)

MIN_TERM = 3  # characters: a trigram index finds nothing shorter

TAIL_COLUMNS = ("mobile", "phone2", "vin")  # searched by their end
END = "$"  # marks the end of those values in the FTS5 index (SQLite)
# The columns searched, as SQLite's FTS5 tables hold them: FTS5 table → (table, columns).
# Digits are everywhere in phones and VINs; kept in tables of their own, their long lists
# of "000"-like trigrams are not read for a name.
FTS_TABLES = {
    "search_customer_names": ("customers", ("name", "customer_no")),
    "search_customer_phones": ("customers", ("mobile", "phone2")),
    "search_vehicle_plates": ("vehicles", ("plate",)),
    "search_vehicle_vins": ("vehicles", ("vin",)),
}
QUEUE = "search_queue"  # (source table, row id): the rows to index again (SQLite)
_PREFIXES = ("search_", "ix_search_")


def _searched(table: str) -> list[tuple[str, tuple[str, ...]]]:
    """(FTS5 table, columns) of each FTS5 table over `table`."""
    return [(fts, columns) for fts, (source, columns) in FTS_TABLES.items() if source == table]


_SOURCES = tuple(dict.fromkeys(source for source, _columns in FTS_TABLES.values()))  # customers, vehicles
# PostgreSQL: a GIN index per searched column: (index name, table, column)
_PG_INDEXES = tuple(
    (f"ix_search_{table}_{column}", table, column)
    for table in _SOURCES
    for _fts, columns in _searched(table)
    for column in columns
)


def fts_table(table: str, column: str) -> str:
    """The FTS5 table (SQLite) that indexes `table.column`."""
    return next(fts for fts, (t, columns) in FTS_TABLES.items() if t == table and column in columns)


def is_search_object(name: str | None) -> bool:
    """True for the tables, triggers and indexes made here (the FTS5 shadow tables too)."""
    return bool(name) and name.startswith(_PREFIXES)


def install(connection: Connection) -> None:
    """Create the search indexes on this connection's database and fill them."""
    if connection.dialect.name == "sqlite":
        _install_sqlite(connection)
    elif connection.dialect.name == "postgresql":
        _install_postgresql(connection)


def uninstall(connection: Connection) -> None:
    if connection.dialect.name == "sqlite":
        for table in _SOURCES:
            for suffix in ("ai", "ad", "au"):
                connection.exec_driver_sql(f"DROP TRIGGER IF EXISTS search_{table}_{suffix}")
        for fts in FTS_TABLES:
            connection.exec_driver_sql(f"DROP TABLE IF EXISTS {fts}")
        connection.exec_driver_sql(f"DROP TABLE IF EXISTS {QUEUE}")
    elif connection.dialect.name == "postgresql":
        for index, _table, _column in _PG_INDEXES:
            connection.exec_driver_sql(f"DROP INDEX IF EXISTS {index}")


def sync(connection: Connection) -> None:
    """Bring the SQLite FTS5 tables up to date with the rows changed since the last call
    (the queue the triggers fill). Nothing to do on PostgreSQL, whose indexes the database
    keeps itself.

    Called before each search and at the end of an import. An FTS5 table written row by
    row from a trigger writes a new segment to disk for every statement (it syncs at each
    savepoint): 100,000 imported customers cost 5 s that way, and 0.4 s as here, one
    INSERT … SELECT for all of them.
    """
    if connection.dialect.name != "sqlite":
        return
    if connection.exec_driver_sql(f"SELECT NOT EXISTS (SELECT 1 FROM {QUEUE})").scalar():
        return
    for table in _SOURCES:
        queued = f"SELECT row_id FROM {QUEUE} WHERE source = '{table}'"
        for fts, columns in _searched(table):
            values = ", ".join(_indexed(table, c) for c in columns)
            # rows only inserted since have nothing to take out (an import's new rows)
            connection.exec_driver_sql(f"DELETE FROM {fts} WHERE rowid IN ({queued} AND indexed)")
            connection.exec_driver_sql(
                f"INSERT INTO {fts}(rowid, {', '.join(columns)}) SELECT id, {values} FROM {table} WHERE id IN ({queued})"
            )
        connection.exec_driver_sql(f"DELETE FROM {QUEUE} WHERE source = '{table}'")


# --- SQLite: FTS5 trigram tables, brought up to date from a queue -------------------------


def _install_sqlite(connection: Connection) -> None:
    if sqlite3.sqlite_version_info < (3, 34):
        raise RuntimeError(
            f"SQLite {sqlite3.sqlite_version} has no FTS5 trigram tokenizer; the customer search needs SQLite 3.34 or later"
        )
    # indexed: the row may be in the FTS5 tables already (updated or deleted), so sync
    # takes it out first; a row only inserted is not there yet
    connection.exec_driver_sql(
        f"CREATE TABLE IF NOT EXISTS {QUEUE} (source TEXT NOT NULL, row_id INTEGER NOT NULL,"
        " indexed BOOLEAN NOT NULL, PRIMARY KEY (source, row_id)) WITHOUT ROWID"
    )
    for table in _SOURCES:
        columns = ", ".join(c for _fts, cols in _searched(table) for c in cols)
        inserted = f"INSERT OR IGNORE INTO {QUEUE} (source, row_id, indexed) VALUES ('{table}', new.id, 0);"
        changed = f"INSERT OR REPLACE INTO {QUEUE} (source, row_id, indexed) VALUES ('{table}', %s.id, 1);"
        for statement in (
            f"CREATE TRIGGER IF NOT EXISTS search_{table}_ai AFTER INSERT ON {table} BEGIN {inserted} END",
            f"CREATE TRIGGER IF NOT EXISTS search_{table}_ad AFTER DELETE ON {table} BEGIN {changed % 'old'} END",
            f"CREATE TRIGGER IF NOT EXISTS search_{table}_au AFTER UPDATE OF {columns} ON {table} BEGIN"
            f" {changed % 'old'} {changed % 'new'} END",
        ):
            connection.exec_driver_sql(statement)
    for fts, (_table, columns) in FTS_TABLES.items():
        # the table keeps its own copy of the (short) texts, so that a row can be deleted by id
        connection.exec_driver_sql(f"CREATE VIRTUAL TABLE IF NOT EXISTS {fts} USING fts5({', '.join(columns)}, tokenize='trigram')")
        connection.exec_driver_sql(f"DELETE FROM {fts}")  # (again:) the rows already there
    connection.exec_driver_sql(f"DELETE FROM {QUEUE}")
    for table in _SOURCES:
        connection.exec_driver_sql(f"INSERT INTO {QUEUE} (source, row_id, indexed) SELECT '{table}', id, 0 FROM {table}")
    sync(connection)


def _indexed(row: str, column: str) -> str:
    """What the FTS5 table indexes for `row.column`: the value, with END after the ones
    searched by their last characters (phones, VINs), so that "1380" + END is found only
    at the end of a number, not in every number that starts 1380."""
    value = f"{row}.{column}"
    return f"{value} || '{END}'" if column in TAIL_COLUMNS else value


# --- PostgreSQL: pg_trgm GIN indexes ------------------------------------------------------


def _trigram_opclass(connection: Connection) -> str | None:
    """`schema.gin_trgm_ops`, installing pg_trgm when it is missing; None when it cannot be."""
    found = connection.execute(
        sa.text(
            "SELECT n.nspname FROM pg_opclass c JOIN pg_namespace n ON n.oid = c.opcnamespace"
            " JOIN pg_am a ON a.oid = c.opcmethod WHERE c.opcname = 'gin_trgm_ops' AND a.amname = 'gin'"
        )
    ).scalar()
    if found is None:
        try:
            with connection.begin_nested():
                # one installer at a time (parallel test workers share the database)
                connection.execute(sa.text("SELECT pg_advisory_xact_lock(hashtext('care_pg_trgm'))"))
                connection.exec_driver_sql("CREATE EXTENSION IF NOT EXISTS pg_trgm SCHEMA public")
        except sa.exc.DBAPIError as exc:
            log.warning(
                "pg_trgm could not be installed (%s): the customer search works without its indexes, but reads "
                "every customer; a database owner can run CREATE EXTENSION pg_trgm and then `care init-db` again",
                type(exc.orig).__name__,
            )
            return None
        found = "public"
    return f"{found}.gin_trgm_ops"


def _install_postgresql(connection: Connection) -> None:
    opclass = _trigram_opclass(connection)
    if opclass is None:
        return
    for index, table, column in _PG_INDEXES:
        connection.exec_driver_sql(f"CREATE INDEX IF NOT EXISTS {index} ON {table} USING gin ({column} {opclass})")


def attach(metadata: sa.MetaData) -> None:
    """`create_all`/`drop_all` on this metadata also make/remove the search indexes."""
    sa.event.listen(metadata, "after_create", lambda _target, connection, **_kw: install(connection))
    sa.event.listen(metadata, "before_drop", lambda _target, connection, **_kw: uninstall(connection))

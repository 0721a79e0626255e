"""The database schema: where it stands. Upgrading it is Alembic's, through Flask-Migrate
(``care init-db`` in care/cli.py)."""

from __future__ import annotations

from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, text
from sqlalchemy.orm import Session

from care.extensions import db


def current_revision() -> str:
    """The Alembic revision the database is at ("none" before the first migration)."""
    with db.engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision() or "none"


def has_schema() -> bool:
    return inspect(db.engine).has_table("users")


def database_reachable(session: Session) -> bool:
    """One round trip; False for any database failure (the health check's question)."""
    try:
        session.execute(text("SELECT 1"))
    except Exception:  # noqa: BLE001 - any failure means unreachable; the request rolls back
        return False
    return True

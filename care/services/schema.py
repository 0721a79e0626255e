"""Schema creation and upgrades through the Alembic migrations."""

from __future__ import annotations

from flask import current_app
from flask_migrate import upgrade
from sqlalchemy import inspect

from care.extensions import db


def upgrade_schema() -> str:
    """`alembic upgrade head`; returns the revision the database is at."""
    upgrade(directory=current_app.extensions["migrate"].directory)
    return current_revision()


def current_revision() -> str:
    from alembic.runtime.migration import MigrationContext

    with db.engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision() or "none"


def has_schema() -> bool:
    return inspect(db.engine).has_table("users")

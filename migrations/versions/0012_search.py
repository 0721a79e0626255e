"""The customer search's trigram indexes: FTS5 tables (fed from a queue the triggers fill) on SQLite, pg_trgm GIN indexes on PostgreSQL (care/models/search.py)

Revision ID: 0012_search
Revises: 0011_link_index
Create Date: 2026-12-07 00:20:00
"""
from alembic import op

from care.models import search

revision = '0012_search'
down_revision = '0011_link_index'
branch_labels = None
depends_on = None


def upgrade():
    search.install(op.get_bind())


def downgrade():
    search.uninstall(op.get_bind())

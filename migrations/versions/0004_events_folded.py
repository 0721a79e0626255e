"""call attempts: events_folded (the background apply's version) and finalized_at;
call events: partial indexes for the pending and the unreconciled instead of two full ones

Revision ID: 0004_events_folded
Revises: 0003_calls
Create Date: 2026-11-23 16:10:00

Existing attempts start at 0: the next apply of each folds all its events again (the
fold is idempotent) and records the count. Attempts already terminal had their final
hook run when they ended: finalized_at = ended_at (or now), so none runs twice.
"""
from alembic import op
import sqlalchemy as sa

import care.models.types


revision = '0004_events_folded'
down_revision = '0003_calls'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('call_attempts', schema=None) as batch_op:
        batch_op.add_column(sa.Column('events_folded', sa.Integer(), server_default='0', nullable=False))
        batch_op.add_column(sa.Column('finalized_at', care.models.types.UTCDateTime(timezone=True), nullable=True))
    op.execute(
        "UPDATE call_attempts SET finalized_at = COALESCE(ended_at, updated_at) WHERE outcome IS NOT NULL"
    )
    with op.batch_alter_table('call_events', schema=None) as batch_op:
        batch_op.drop_index('ix_call_events_unmatched')
        batch_op.drop_index('ix_call_events_received_at')
        batch_op.create_index(
            'ix_call_events_pending', ['attempt_id'], unique=False,
            sqlite_where=sa.text('applied_at IS NULL'), postgresql_where=sa.text('applied_at IS NULL'),
        )
        batch_op.create_index(
            'ix_call_events_unreconciled', ['received_at'], unique=False,
            sqlite_where=sa.text('unmatched AND reconciled_at IS NULL'),
            postgresql_where=sa.text('unmatched AND reconciled_at IS NULL'),
        )


def downgrade():
    with op.batch_alter_table('call_events', schema=None) as batch_op:
        batch_op.drop_index('ix_call_events_unreconciled')
        batch_op.drop_index('ix_call_events_pending')
        batch_op.create_index('ix_call_events_received_at', ['received_at'], unique=False)
        batch_op.create_index('ix_call_events_unmatched', ['unmatched'], unique=False)
    with op.batch_alter_table('call_attempts', schema=None) as batch_op:
        batch_op.drop_column('finalized_at')
        batch_op.drop_column('events_folded')

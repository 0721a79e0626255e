"""log-in throttling of unknown names (login_throttle); users.session_version (ends sessions),
users.must_change_password (after an administrator's reset)

Revision ID: 0005_sessions_and_log_in
Revises: 0004_events_folded
Create Date: 2026-12-06 14:30:00
"""
from alembic import op
import sqlalchemy as sa

import care.models.types


revision = '0005_sessions_and_log_in'
down_revision = '0004_events_folded'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.add_column(sa.Column('session_version', sa.Integer(), server_default='0', nullable=False))
        batch_op.add_column(sa.Column('must_change_password', sa.Boolean(), server_default=sa.false(), nullable=False))
    op.create_table(
        'login_throttle',
        sa.Column('name_key', sa.String(length=64), nullable=False),
        sa.Column('failures', sa.Integer(), nullable=False),
        sa.Column('locked_until', care.models.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column('last_failure_at', care.models.types.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('name_key', name=op.f('pk_login_throttle')),
    )
    with op.batch_alter_table('login_throttle', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_login_throttle_last_failure_at'), ['last_failure_at'], unique=False)


def downgrade():
    with op.batch_alter_table('login_throttle', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_login_throttle_last_failure_at'))
    op.drop_table('login_throttle')
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_column('must_change_password')
        batch_op.drop_column('session_version')

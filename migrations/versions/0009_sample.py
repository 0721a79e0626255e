"""sample_draws, sample_calls: the insurance QA sample of R21 (issue 12 item 1)

Revision ID: 0009_sample
Revises: 0008_small
Create Date: 2026-12-07 10:00:00
"""
from alembic import op
import sqlalchemy as sa

import care.models.types


revision = '0009_sample'
down_revision = '0008_small'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'sample_draws',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('month', sa.String(length=7), nullable=False),
        sa.Column('number', sa.Integer(), nullable=False),
        sa.Column('seed', sa.Integer(), nullable=False),
        sa.Column('rate', sa.Float(), nullable=False),
        sa.Column('drawn_at', care.models.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column('drawn_by_id', sa.Integer(), nullable=True),
        sa.Column('actor', sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(['drawn_by_id'], ['users.id'], name=op.f('fk_sample_draws_drawn_by_id_users')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_sample_draws')),
        sa.UniqueConstraint('month', 'number', name=op.f('uq_sample_draws_month_number')),
    )
    op.create_table(
        'sample_calls',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('draw_id', sa.Integer(), nullable=False),
        sa.Column('attempt_id', sa.Integer(), nullable=False),
        sa.Column('specialist_id', sa.Integer(), nullable=False),
        sa.Column('sampled', sa.Boolean(), nullable=False),
        sa.Column('verdict', sa.String(length=16), nullable=True),
        sa.Column('note', sa.Text(), nullable=True),
        sa.Column('verified_at', care.models.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column('verified_by_id', sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(['attempt_id'], ['call_attempts.id'], name=op.f('fk_sample_calls_attempt_id_call_attempts')),
        sa.ForeignKeyConstraint(['draw_id'], ['sample_draws.id'], name=op.f('fk_sample_calls_draw_id_sample_draws')),
        sa.ForeignKeyConstraint(['specialist_id'], ['users.id'], name=op.f('fk_sample_calls_specialist_id_users')),
        sa.ForeignKeyConstraint(['verified_by_id'], ['users.id'], name=op.f('fk_sample_calls_verified_by_id_users')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_sample_calls')),
        sa.UniqueConstraint('attempt_id', name=op.f('uq_sample_calls_attempt_id')),
    )
    with op.batch_alter_table('sample_calls', schema=None) as batch_op:
        batch_op.create_index('ix_sample_calls_draw_sampled', ['draw_id', 'sampled'], unique=False)
        batch_op.create_index(batch_op.f('ix_sample_calls_specialist_id'), ['specialist_id'], unique=False)


def downgrade():
    with op.batch_alter_table('sample_calls', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_sample_calls_specialist_id'))
        batch_op.drop_index('ix_sample_calls_draw_sampled')
    op.drop_table('sample_calls')
    op.drop_table('sample_draws')

"""penalties, violations: R23 violations and penalties (issue 12 item 4)

Revision ID: 0010_violations
Revises: 0010_campaigns
Create Date: 2026-12-06 18:30:00
"""
from alembic import op
import sqlalchemy as sa

import care.models.types


revision = '0010_violations'
down_revision = '0010_campaigns'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'penalties',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('rule', sa.String(length=40), nullable=False),
        sa.Column('role', sa.String(length=20), nullable=False),
        sa.Column('per_item', sa.Boolean(), nullable=False),
        sa.Column('active', sa.Boolean(), nullable=False),
        sa.Column('updated_at', care.models.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column('updated_by_id', sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(['updated_by_id'], ['users.id'], name=op.f('fk_penalties_updated_by_id_users')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_penalties')),
        sa.UniqueConstraint('rule', 'role', name=op.f('uq_penalties_rule_role')),
    )
    op.create_table(
        'violations',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('month', sa.String(length=7), nullable=False),
        sa.Column('rule', sa.String(length=40), nullable=False),
        sa.Column('subject', sa.String(length=80), nullable=False),
        sa.Column('person_id', sa.Integer(), nullable=True),
        sa.Column('count', sa.Integer(), nullable=False),
        sa.Column('amount_min', sa.Integer(), nullable=False),
        sa.Column('amount_max', sa.Integer(), nullable=False),
        sa.Column('per_item', sa.Boolean(), nullable=False),
        sa.Column('amount', sa.Integer(), nullable=False),
        sa.Column('unit_amount', sa.Integer(), nullable=True),
        sa.Column('status', sa.String(length=12), nullable=False),
        sa.Column('evidence', sa.JSON(), nullable=False),
        sa.Column('detail', sa.JSON(), nullable=True),
        sa.Column('detected_at', care.models.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column('derived_at', care.models.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column('decided_at', care.models.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column('decided_by_id', sa.Integer(), nullable=True),
        sa.Column('reason', sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(['decided_by_id'], ['users.id'], name=op.f('fk_violations_decided_by_id_users')),
        sa.ForeignKeyConstraint(['person_id'], ['users.id'], name=op.f('fk_violations_person_id_users')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_violations')),
        sa.UniqueConstraint('month', 'rule', 'subject', name=op.f('uq_violations_month_rule_subject')),
    )
    with op.batch_alter_table('violations', schema=None) as batch_op:
        batch_op.create_index('ix_violations_month_person', ['month', 'person_id'], unique=False)


def downgrade():
    with op.batch_alter_table('violations', schema=None) as batch_op:
        batch_op.drop_index('ix_violations_month_person')
    op.drop_table('violations')
    op.drop_table('penalties')

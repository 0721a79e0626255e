"""monthly_reports, monthly_report_steps: the monthly report workflow of R22 (issue 12 item 5)

Revision ID: 0010_monthly_report
Revises: 0010_violations
Create Date: 2026-12-06 18:40:00
"""
from alembic import op
import sqlalchemy as sa

import care.models.types


revision = '0010_monthly_report'
down_revision = '0010_violations'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'monthly_reports',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('month', sa.String(length=7), nullable=False),
        sa.Column('status', sa.String(length=16), nullable=False),
        sa.Column('figures', sa.JSON(), nullable=False),
        sa.Column('people', sa.JSON(), nullable=False),
        sa.Column('generated_at', care.models.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column('analysis', sa.Text(), nullable=True),
        sa.Column('plan', sa.Text(), nullable=True),
        sa.Column('first_submitted_at', care.models.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column('submitted_at', care.models.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column('submitted_by_id', sa.Integer(), nullable=True),
        sa.Column('approved_at', care.models.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column('approved_by_id', sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(['approved_by_id'], ['users.id'], name=op.f('fk_monthly_reports_approved_by_id_users')),
        sa.ForeignKeyConstraint(['submitted_by_id'], ['users.id'], name=op.f('fk_monthly_reports_submitted_by_id_users')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_monthly_reports')),
        sa.UniqueConstraint('month', name=op.f('uq_monthly_reports_month')),
    )
    op.create_table(
        'monthly_report_steps',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('report_id', sa.Integer(), nullable=False),
        sa.Column('action', sa.String(length=16), nullable=False),
        sa.Column('at', care.models.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column('user_id', sa.Integer(), nullable=True),
        sa.Column('actor', sa.String(length=64), nullable=False),
        sa.Column('text', sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(['report_id'], ['monthly_reports.id'], name=op.f('fk_monthly_report_steps_report_id_monthly_reports')),
        sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_monthly_report_steps_user_id_users')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_monthly_report_steps')),
    )
    with op.batch_alter_table('monthly_report_steps', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_monthly_report_steps_report_id'), ['report_id'], unique=False)


def downgrade():
    with op.batch_alter_table('monthly_report_steps', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_monthly_report_steps_report_id'))
    op.drop_table('monthly_report_steps')
    op.drop_table('monthly_reports')

"""Indexes for the monthly report on a long history: the month's calls by start time, the month's tasks by deadline and by closing, the visits of a window of days

Revision ID: 0010_report_indexes
Revises: 0009_sample
Create Date: 2026-12-06 18:40:00
"""
from alembic import op


revision = '0010_report_indexes'
down_revision = '0009_sample'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('call_attempts', schema=None) as batch_op:
        batch_op.create_index('ix_call_attempts_started_at', ['started_at'], unique=False)
    with op.batch_alter_table('service_visits', schema=None) as batch_op:
        batch_op.create_index('ix_service_visits_date', ['date', 'vehicle_id', 'mileage'], unique=False)
    with op.batch_alter_table('care_tasks', schema=None) as batch_op:
        batch_op.create_index('ix_care_tasks_due_at', ['due_at'], unique=False)
        batch_op.create_index('ix_care_tasks_closed_at', ['closed_at'], unique=False)


def downgrade():
    with op.batch_alter_table('service_visits', schema=None) as batch_op:
        batch_op.drop_index('ix_service_visits_date')
    with op.batch_alter_table('care_tasks', schema=None) as batch_op:
        batch_op.drop_index('ix_care_tasks_closed_at')
        batch_op.drop_index('ix_care_tasks_due_at')
    with op.batch_alter_table('call_attempts', schema=None) as batch_op:
        batch_op.drop_index('ix_call_attempts_started_at')

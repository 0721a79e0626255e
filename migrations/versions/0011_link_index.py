"""A task's attempt links by (task_id, attempt_id): reading a task's attempts (R13 and the monthly report's attempt summary) no longer visits the link rows

Revision ID: 0011_link_index
Revises: 0010_register
Create Date: 2026-12-06 21:45:00
"""
from alembic import op


revision = '0011_link_index'
down_revision = '0010_register'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('call_attempt_tasks', schema=None) as batch_op:
        batch_op.create_index('ix_call_attempt_tasks_task_attempt', ['task_id', 'attempt_id'], unique=False)
        batch_op.drop_index('ix_call_attempt_tasks_task_id')


def downgrade():
    with op.batch_alter_table('call_attempt_tasks', schema=None) as batch_op:
        batch_op.create_index('ix_call_attempt_tasks_task_id', ['task_id'], unique=False)
        batch_op.drop_index('ix_call_attempt_tasks_task_attempt')

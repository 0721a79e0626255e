"""call_attempt_tasks: one call counts for every task of the contact (issue 10 item 1)

Revision ID: 0006_attempt_tasks
Revises: 0005_sessions_and_log_in
Create Date: 2026-12-06 15:40:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0006_attempt_tasks'
down_revision = '0005_sessions_and_log_in'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'call_attempt_tasks',
        sa.Column('attempt_id', sa.Integer(), nullable=False),
        sa.Column('task_id', sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(['attempt_id'], ['call_attempts.id'], name=op.f('fk_call_attempt_tasks_attempt_id_call_attempts')),
        sa.ForeignKeyConstraint(['task_id'], ['care_tasks.id'], name=op.f('fk_call_attempt_tasks_task_id_care_tasks')),
        sa.PrimaryKeyConstraint('attempt_id', 'task_id', name=op.f('pk_call_attempt_tasks')),
    )
    with op.batch_alter_table('call_attempt_tasks', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_call_attempt_tasks_task_id'), ['task_id'], unique=False)
    # Every existing attempt counted for its one task.
    op.execute('INSERT INTO call_attempt_tasks (attempt_id, task_id) SELECT id, task_id FROM call_attempts')


def downgrade():
    with op.batch_alter_table('call_attempt_tasks', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_call_attempt_tasks_task_id'))
    op.drop_table('call_attempt_tasks')

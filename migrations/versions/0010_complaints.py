"""complaints, complaint_steps, complaint_notices: the 24-hour complaint loop (R19, R20;
issue 11 item 6); complaint_calls (the call-backs of step 6: attempts that count for no task, so
call_attempts.task_id becomes nullable); users.email (overdue notices by e-mail)

Revision ID: 0010_complaints
Revises: 0010_surveys
Create Date: 2026-12-06 18:19:29.540909
"""
from alembic import op
import sqlalchemy as sa

import care.models.types


# revision identifiers, used by Alembic.
revision = '0010_complaints'
down_revision = '0010_surveys'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('complaints',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('customer_id', sa.Integer(), nullable=False),
    sa.Column('vehicle_id', sa.Integer(), nullable=True),
    sa.Column('source', sa.String(length=8), nullable=False),
    sa.Column('survey_response_id', sa.Integer(), nullable=True),
    sa.Column('low_items', sa.JSON(), nullable=True),
    sa.Column('description', sa.Text(), nullable=True),
    sa.Column('kind', sa.String(length=8), nullable=False),
    sa.Column('step', sa.Integer(), nullable=False),
    sa.Column('step_started_at', care.models.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('step_due_at', care.models.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('due_at', care.models.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('dispatched_at', care.models.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('opened_at', care.models.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('opened_by_id', sa.Integer(), nullable=True),
    sa.Column('closed_at', care.models.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('reopened', sa.Integer(), nullable=False),
    sa.Column('handler_id', sa.Integer(), nullable=True),
    sa.Column('handler_name', sa.String(length=120), nullable=True),
    sa.ForeignKeyConstraint(['customer_id'], ['customers.id'], name=op.f('fk_complaints_customer_id_customers')),
    sa.ForeignKeyConstraint(['handler_id'], ['users.id'], name=op.f('fk_complaints_handler_id_users')),
    sa.ForeignKeyConstraint(['opened_by_id'], ['users.id'], name=op.f('fk_complaints_opened_by_id_users')),
    sa.ForeignKeyConstraint(['survey_response_id'], ['survey_responses.id'], name=op.f('fk_complaints_survey_response_id_survey_responses')),
    sa.ForeignKeyConstraint(['vehicle_id'], ['vehicles.id'], name=op.f('fk_complaints_vehicle_id_vehicles')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_complaints')),
    sa.UniqueConstraint('survey_response_id', name=op.f('uq_complaints_survey_response_id'))
    )
    with op.batch_alter_table('complaints', schema=None) as batch_op:
        batch_op.create_index('ix_complaints_closed_step', ['closed_at', 'step'], unique=False)
        batch_op.create_index(batch_op.f('ix_complaints_customer_id'), ['customer_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_complaints_handler_id'), ['handler_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_complaints_opened_at'), ['opened_at'], unique=False)

    op.create_table('complaint_notices',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('complaint_id', sa.Integer(), nullable=False),
    sa.Column('round', sa.Integer(), nullable=False),
    sa.Column('step', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('due_at', care.models.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('created_at', care.models.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('message_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['complaint_id'], ['complaints.id'], name=op.f('fk_complaint_notices_complaint_id_complaints')),
    sa.ForeignKeyConstraint(['message_id'], ['outbox.id'], name=op.f('fk_complaint_notices_message_id_outbox')),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_complaint_notices_user_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_complaint_notices')),
    sa.UniqueConstraint('complaint_id', 'round', 'step', 'user_id', name=op.f('uq_complaint_notices_complaint_id_round_step_user_id'))
    )
    with op.batch_alter_table('complaint_notices', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_complaint_notices_complaint_id'), ['complaint_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_complaint_notices_user_id'), ['user_id'], unique=False)

    op.create_table('complaint_steps',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('complaint_id', sa.Integer(), nullable=False),
    sa.Column('step', sa.Integer(), nullable=False),
    sa.Column('round', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=True),
    sa.Column('actor', sa.String(length=64), nullable=False),
    sa.Column('taken_at', care.models.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('due_at', care.models.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('text', sa.Text(), nullable=True),
    sa.Column('outcome', sa.String(length=16), nullable=False),
    sa.Column('attempt_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['attempt_id'], ['call_attempts.id'], name=op.f('fk_complaint_steps_attempt_id_call_attempts')),
    sa.ForeignKeyConstraint(['complaint_id'], ['complaints.id'], name=op.f('fk_complaint_steps_complaint_id_complaints')),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_complaint_steps_user_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_complaint_steps'))
    )
    with op.batch_alter_table('complaint_steps', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_complaint_steps_complaint_id'), ['complaint_id'], unique=False)

    op.create_table('complaint_calls',
    sa.Column('attempt_id', sa.Integer(), nullable=False),
    sa.Column('complaint_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['attempt_id'], ['call_attempts.id'], name=op.f('fk_complaint_calls_attempt_id_call_attempts')),
    sa.ForeignKeyConstraint(['complaint_id'], ['complaints.id'], name=op.f('fk_complaint_calls_complaint_id_complaints')),
    sa.PrimaryKeyConstraint('attempt_id', name=op.f('pk_complaint_calls'))
    )
    with op.batch_alter_table('complaint_calls', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_complaint_calls_complaint_id'), ['complaint_id'], unique=False)

    # SQLite changes a column's nullability by copying the table; with foreign keys on,
    # dropping the old call_attempts that other rows refer to fails. The copy keeps every id.
    sqlite = op.get_bind().dialect.name == 'sqlite'
    if sqlite:
        op.execute('PRAGMA foreign_keys=OFF')
    with op.batch_alter_table('call_attempts', schema=None) as batch_op:
        batch_op.alter_column('task_id', existing_type=sa.INTEGER(), nullable=True)
    if sqlite:
        op.execute('PRAGMA foreign_keys=ON')

    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.add_column(sa.Column('email', sa.String(length=254), nullable=True))



def downgrade():
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_column('email')

    with op.batch_alter_table('complaint_steps', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_complaint_steps_complaint_id'))
    op.drop_table('complaint_steps')
    with op.batch_alter_table('complaint_notices', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_complaint_notices_user_id'))
        batch_op.drop_index(batch_op.f('ix_complaint_notices_complaint_id'))
    op.drop_table('complaint_notices')

    with op.batch_alter_table('complaint_calls', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_complaint_calls_complaint_id'))
    op.drop_table('complaint_calls')
    # The complaints' call-backs have no task: they go with the complaints.
    op.execute("DELETE FROM call_events WHERE attempt_id IN (SELECT id FROM call_attempts WHERE task_id IS NULL)")
    op.execute("DELETE FROM call_attempts WHERE task_id IS NULL")
    sqlite = op.get_bind().dialect.name == 'sqlite'
    if sqlite:
        op.execute('PRAGMA foreign_keys=OFF')
    with op.batch_alter_table('call_attempts', schema=None) as batch_op:
        batch_op.alter_column('task_id', existing_type=sa.INTEGER(), nullable=False)
    if sqlite:
        op.execute('PRAGMA foreign_keys=ON')

    with op.batch_alter_table('complaints', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_complaints_opened_at'))
        batch_op.drop_index(batch_op.f('ix_complaints_handler_id'))
        batch_op.drop_index(batch_op.f('ix_complaints_customer_id'))
        batch_op.drop_index('ix_complaints_closed_step')
    op.drop_table('complaints')

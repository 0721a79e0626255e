"""ivr_surveys: a reached customer handed to the automated survey (issue 11 item 3)

Revision ID: 0011_survey_phone
Revises: 0010_complaints
Create Date: 2026-12-06 19:00:00
"""
from alembic import op
import sqlalchemy as sa

import care.models.types


revision = '0011_survey_phone'
down_revision = '0010_complaints'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'ivr_surveys',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('attempt_id', sa.Integer(), nullable=False),
        sa.Column('response_id', sa.Integer(), nullable=False),
        sa.Column('task_id', sa.Integer(), nullable=False),
        sa.Column('items', sa.JSON(), nullable=False),
        sa.Column('status', sa.String(length=16), nullable=False),
        sa.Column('error', sa.String(length=300), nullable=True),
        sa.Column('late_answers', sa.Integer(), nullable=False),
        sa.Column('handed_by_id', sa.Integer(), nullable=False),
        sa.Column('handed_at', care.models.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column('finished_at', care.models.types.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(['attempt_id'], ['call_attempts.id'], name=op.f('fk_ivr_surveys_attempt_id_call_attempts')),
        sa.ForeignKeyConstraint(['handed_by_id'], ['users.id'], name=op.f('fk_ivr_surveys_handed_by_id_users')),
        sa.ForeignKeyConstraint(['response_id'], ['survey_responses.id'], name=op.f('fk_ivr_surveys_response_id_survey_responses')),
        sa.ForeignKeyConstraint(['task_id'], ['care_tasks.id'], name=op.f('fk_ivr_surveys_task_id_care_tasks')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_ivr_surveys')),
        sa.UniqueConstraint('attempt_id', name=op.f('uq_ivr_surveys_attempt_id')),
    )
    with op.batch_alter_table('ivr_surveys', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_ivr_surveys_response_id'), ['response_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_ivr_surveys_task_id'), ['task_id'], unique=False)


def downgrade():
    with op.batch_alter_table('ivr_surveys', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_ivr_surveys_task_id'))
        batch_op.drop_index(batch_op.f('ix_ivr_surveys_response_id'))
    op.drop_table('ivr_surveys')

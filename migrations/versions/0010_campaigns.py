"""campaigns, campaign_recipients, delivery_receipts; outbox delivery status (issue 13 items 4, 5)

Revision ID: 0010_campaigns
Revises: 0011_survey_phone
Create Date: 2026-12-06 18:45:00
"""
from alembic import op
import sqlalchemy as sa

import care.models.types


revision = '0010_campaigns'
down_revision = '0011_survey_phone'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'campaigns',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('name', sa.String(length=120), nullable=False),
        sa.Column('kind', sa.String(length=16), nullable=False),
        sa.Column('holiday', sa.String(length=24), nullable=True),
        sa.Column('holiday_date', sa.Date(), nullable=True),
        sa.Column('body', sa.Text(), nullable=False),
        sa.Column('filters', sa.JSON(), nullable=True),
        sa.Column('send_at', care.models.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column('status', sa.String(length=16), nullable=False),
        sa.Column('created_by_id', sa.Integer(), nullable=True),
        sa.Column('created_at', care.models.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column('updated_at', care.models.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column('scheduled_by_id', sa.Integer(), nullable=True),
        sa.Column('released_at', care.models.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column('finished_at', care.models.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column('cancelled_at', care.models.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column('cancelled_by_id', sa.Integer(), nullable=True),
        sa.Column('excluded', sa.JSON(), nullable=True),
        sa.ForeignKeyConstraint(['cancelled_by_id'], ['users.id'], name=op.f('fk_campaigns_cancelled_by_id_users')),
        sa.ForeignKeyConstraint(['created_by_id'], ['users.id'], name=op.f('fk_campaigns_created_by_id_users')),
        sa.ForeignKeyConstraint(['scheduled_by_id'], ['users.id'], name=op.f('fk_campaigns_scheduled_by_id_users')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_campaigns')),
    )
    with op.batch_alter_table('campaigns', schema=None) as batch_op:
        batch_op.create_index('ix_campaigns_status_send_at', ['status', 'send_at'], unique=False)
    op.create_table(
        'campaign_recipients',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('campaign_id', sa.Integer(), nullable=False),
        sa.Column('customer_id', sa.Integer(), nullable=False),
        sa.Column('message_id', sa.Integer(), nullable=True),
        sa.Column('created_at', care.models.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['campaign_id'], ['campaigns.id'], name=op.f('fk_campaign_recipients_campaign_id_campaigns')),
        sa.ForeignKeyConstraint(['customer_id'], ['customers.id'], name=op.f('fk_campaign_recipients_customer_id_customers')),
        sa.ForeignKeyConstraint(['message_id'], ['outbox.id'], name=op.f('fk_campaign_recipients_message_id_outbox')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_campaign_recipients')),
        sa.UniqueConstraint('campaign_id', 'customer_id', name=op.f('uq_campaign_recipients_campaign_id_customer_id')),
    )
    with op.batch_alter_table('campaign_recipients', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_campaign_recipients_customer_id'), ['customer_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_campaign_recipients_message_id'), ['message_id'], unique=False)
    op.create_table(
        'delivery_receipts',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('event_id', sa.String(length=120), nullable=False),
        sa.Column('message_id', sa.Integer(), nullable=True),
        sa.Column('message_ref', sa.String(length=120), nullable=True),
        sa.Column('provider', sa.String(length=16), nullable=False),
        sa.Column('status', sa.String(length=16), nullable=True),
        sa.Column('raw_status', sa.String(length=40), nullable=True),
        sa.Column('error_code', sa.String(length=40), nullable=True),
        sa.Column('occurred_at', care.models.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column('received_at', care.models.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column('payload', sa.JSON(), nullable=True),
        sa.Column('unmatched', sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(['message_id'], ['outbox.id'], name=op.f('fk_delivery_receipts_message_id_outbox')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_delivery_receipts')),
        sa.UniqueConstraint('event_id', name=op.f('uq_delivery_receipts_event_id')),
    )
    with op.batch_alter_table('delivery_receipts', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_delivery_receipts_message_id'), ['message_id'], unique=False)
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.add_column(sa.Column('delivery_status', sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column('delivery_error', sa.String(length=40), nullable=True))
        batch_op.add_column(sa.Column('delivery_updated_at', care.models.types.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('delivered_at', care.models.types.UTCDateTime(timezone=True), nullable=True))
        batch_op.create_index(batch_op.f('ix_outbox_provider_message_id'), ['provider_message_id'], unique=False)


def downgrade():
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_outbox_provider_message_id'))
        batch_op.drop_column('delivered_at')
        batch_op.drop_column('delivery_updated_at')
        batch_op.drop_column('delivery_error')
        batch_op.drop_column('delivery_status')
    with op.batch_alter_table('delivery_receipts', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_delivery_receipts_message_id'))
    op.drop_table('delivery_receipts')
    with op.batch_alter_table('campaign_recipients', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_campaign_recipients_message_id'))
        batch_op.drop_index(batch_op.f('ix_campaign_recipients_customer_id'))
    op.drop_table('campaign_recipients')
    with op.batch_alter_table('campaigns', schema=None) as batch_op:
        batch_op.drop_index('ix_campaigns_status_send_at')
    op.drop_table('campaigns')

"""the appointment register (R17, issue 13 items 2-3): appointment status history,
advisor, source, overbooking reason, arrival visit, rescheduling and no-show follow-up;
the front desk's copy of the register; the day's submission

Revision ID: 0010_register
Revises: 0010_monthly_report
Create Date: 2026-12-06 18:30:00
"""
from alembic import op
import sqlalchemy as sa

import care.models.types


revision = '0010_register'
down_revision = '0010_monthly_report'
branch_labels = None
depends_on = None

_ACTIVE = "status NOT IN ('cancelled', 'rescheduled')"


def upgrade():
    with op.batch_alter_table('appointments', schema=None) as batch_op:
        batch_op.drop_index('uq_appointments_vehicle_slot', sqlite_where=sa.text("status <> 'canceled'"),
                            postgresql_where=sa.text("status <> 'canceled'"))
        batch_op.add_column(sa.Column('advisor_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('advisor_name', sa.String(length=120), nullable=True))
        batch_op.add_column(sa.Column('source', sa.String(length=16), server_default='care', nullable=False))
        batch_op.add_column(sa.Column('overbook_reason', sa.String(length=500), nullable=True))
        batch_op.add_column(sa.Column('visit_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('rescheduled_to_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('follow_up_task_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('updated_at', care.models.types.UTCDateTime(timezone=True), nullable=True))
        batch_op.create_foreign_key(batch_op.f('fk_appointments_advisor_id_users'), 'users', ['advisor_id'], ['id'])
        batch_op.create_foreign_key(batch_op.f('fk_appointments_visit_id_service_visits'), 'service_visits', ['visit_id'], ['id'])
        batch_op.create_foreign_key(batch_op.f('fk_appointments_rescheduled_to_id_appointments'), 'appointments', ['rescheduled_to_id'], ['id'])
        batch_op.create_foreign_key(batch_op.f('fk_appointments_follow_up_task_id_care_tasks'), 'care_tasks', ['follow_up_task_id'], ['id'])
    # The register spells the status as R17 does ("cancelled").
    op.execute("UPDATE appointments SET status = 'cancelled' WHERE status = 'canceled'")
    with op.batch_alter_table('appointments', schema=None) as batch_op:
        batch_op.create_index('uq_appointments_vehicle_slot', ['vehicle_id', 'date', 'time'], unique=True,
                              sqlite_where=sa.text(_ACTIVE), postgresql_where=sa.text(_ACTIVE))

    op.create_table(
        'appointment_status_changes',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('appointment_id', sa.Integer(), nullable=False),
        sa.Column('from_status', sa.String(length=16), nullable=True),
        sa.Column('to_status', sa.String(length=16), nullable=False),
        sa.Column('reason', sa.Text(), nullable=True),
        sa.Column('changed_by_id', sa.Integer(), nullable=True),
        sa.Column('actor', sa.String(length=64), nullable=False),
        sa.Column('changed_at', care.models.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['appointment_id'], ['appointments.id'], name=op.f('fk_appointment_status_changes_appointment_id_appointments')),
        sa.ForeignKeyConstraint(['changed_by_id'], ['users.id'], name=op.f('fk_appointment_status_changes_changed_by_id_users')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_appointment_status_changes')),
    )
    with op.batch_alter_table('appointment_status_changes', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_appointment_status_changes_appointment_id'), ['appointment_id'], unique=False)

    op.create_table(
        'front_desk_appointments',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('appt_no', sa.String(length=40), nullable=False),
        sa.Column('vehicle_id', sa.Integer(), nullable=False),
        sa.Column('customer_id', sa.Integer(), nullable=True),
        sa.Column('date', sa.Date(), nullable=False),
        sa.Column('time', sa.Time(), nullable=False),
        sa.Column('service_kind', sa.String(length=16), nullable=False),
        sa.Column('advisor_id', sa.Integer(), nullable=True),
        sa.Column('advisor_name', sa.String(length=120), nullable=True),
        sa.Column('source', sa.String(length=16), nullable=False),
        sa.Column('created_by_id', sa.Integer(), nullable=True),
        sa.Column('created_at', care.models.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column('updated_at', care.models.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['advisor_id'], ['users.id'], name=op.f('fk_front_desk_appointments_advisor_id_users')),
        sa.ForeignKeyConstraint(['created_by_id'], ['users.id'], name=op.f('fk_front_desk_appointments_created_by_id_users')),
        sa.ForeignKeyConstraint(['customer_id'], ['customers.id'], name=op.f('fk_front_desk_appointments_customer_id_customers')),
        sa.ForeignKeyConstraint(['vehicle_id'], ['vehicles.id'], name=op.f('fk_front_desk_appointments_vehicle_id_vehicles')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_front_desk_appointments')),
        sa.UniqueConstraint('appt_no', name=op.f('uq_front_desk_appointments_appt_no')),
    )
    with op.batch_alter_table('front_desk_appointments', schema=None) as batch_op:
        batch_op.create_index('ix_front_desk_appointments_date', ['date', 'time'], unique=False)
        batch_op.create_index(batch_op.f('ix_front_desk_appointments_vehicle_id'), ['vehicle_id'], unique=False)

    op.create_table(
        'register_submissions',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('day', sa.Date(), nullable=False),
        sa.Column('submitted_at', care.models.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column('submitted_by_id', sa.Integer(), nullable=True),
        sa.Column('late', sa.Boolean(), nullable=False),
        sa.Column('last_submitted_at', care.models.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column('last_submitted_by_id', sa.Integer(), nullable=True),
        sa.Column('times', sa.Integer(), nullable=False),
        sa.Column('snapshot', sa.JSON(), nullable=True),
        sa.ForeignKeyConstraint(['last_submitted_by_id'], ['users.id'], name=op.f('fk_register_submissions_last_submitted_by_id_users')),
        sa.ForeignKeyConstraint(['submitted_by_id'], ['users.id'], name=op.f('fk_register_submissions_submitted_by_id_users')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_register_submissions')),
        sa.UniqueConstraint('day', name=op.f('uq_register_submissions_day')),
    )


def downgrade():
    op.drop_table('register_submissions')
    with op.batch_alter_table('front_desk_appointments', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_front_desk_appointments_vehicle_id'))
        batch_op.drop_index('ix_front_desk_appointments_date')
    op.drop_table('front_desk_appointments')
    with op.batch_alter_table('appointment_status_changes', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_appointment_status_changes_appointment_id'))
    op.drop_table('appointment_status_changes')
    with op.batch_alter_table('appointments', schema=None) as batch_op:
        batch_op.drop_index('uq_appointments_vehicle_slot', sqlite_where=sa.text(_ACTIVE), postgresql_where=sa.text(_ACTIVE))
    op.execute("UPDATE appointments SET status = 'canceled' WHERE status IN ('cancelled', 'rescheduled')")
    op.execute("UPDATE appointments SET status = 'booked' WHERE status NOT IN ('booked', 'canceled', 'arrived')")
    with op.batch_alter_table('appointments', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_appointments_follow_up_task_id_care_tasks'), type_='foreignkey')
        batch_op.drop_constraint(batch_op.f('fk_appointments_rescheduled_to_id_appointments'), type_='foreignkey')
        batch_op.drop_constraint(batch_op.f('fk_appointments_visit_id_service_visits'), type_='foreignkey')
        batch_op.drop_constraint(batch_op.f('fk_appointments_advisor_id_users'), type_='foreignkey')
        batch_op.drop_column('updated_at')
        batch_op.drop_column('follow_up_task_id')
        batch_op.drop_column('rescheduled_to_id')
        batch_op.drop_column('visit_id')
        batch_op.drop_column('overbook_reason')
        batch_op.drop_column('source')
        batch_op.drop_column('advisor_name')
        batch_op.drop_column('advisor_id')
        batch_op.create_index('uq_appointments_vehicle_slot', ['vehicle_id', 'date', 'time'], unique=True,
                              sqlite_where=sa.text("status <> 'canceled'"), postgresql_where=sa.text("status <> 'canceled'"))

"""appointments: one active booking per vehicle and moment (a partial unique index);
users.locked_at (when the last lock-out began, shown on the administrator's user page)

Active appointments that already book the same vehicle at the same date and time (the app
accepted them before this revision) are kept once: the later ones are canceled, with a
note saying so, so that the index can be built.

Revision ID: 0008_small
Revises: 0007_imports
Create Date: 2026-12-12 10:00:00
"""
from alembic import op
import sqlalchemy as sa

import care.models.types


revision = '0008_small'
down_revision = '0007_imports'
branch_labels = None
depends_on = None

ACTIVE = "status <> 'canceled'"
NOTE = "[0008] canceled: the vehicle was booked twice at this time; appointment #%d is kept."


def _cancel_duplicates():
    conn = op.get_bind()
    rows = conn.execute(sa.text(
        "SELECT id, vehicle_id, date, time, notes FROM appointments"
        f" WHERE vehicle_id IS NOT NULL AND {ACTIVE} ORDER BY vehicle_id, date, time, id"
    )).all()
    kept = {}
    for row in rows:
        key = (row.vehicle_id, row.date, row.time)
        if key not in kept:
            kept[key] = row.id
            continue
        note = NOTE % kept[key]
        conn.execute(
            sa.text("UPDATE appointments SET status = 'canceled', notes = :notes WHERE id = :id"),
            {"id": row.id, "notes": f"{row.notes}\n{note}" if row.notes else note},
        )


def upgrade():
    _cancel_duplicates()
    with op.batch_alter_table('appointments', schema=None) as batch_op:
        batch_op.create_index(
            'uq_appointments_vehicle_slot', ['vehicle_id', 'date', 'time'], unique=True,
            sqlite_where=sa.text(ACTIVE), postgresql_where=sa.text(ACTIVE),
        )
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.add_column(sa.Column('locked_at', care.models.types.UTCDateTime(timezone=True), nullable=True))


def downgrade():
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_column('locked_at')
    with op.batch_alter_table('appointments', schema=None) as batch_op:
        batch_op.drop_index('uq_appointments_vehicle_slot')

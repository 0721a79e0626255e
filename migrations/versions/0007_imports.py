"""staff names of DMS files kept as given (vehicles/deliveries.consultant_name,
insurance_policies.specialist_name) and mapped to users once (staff_name_mappings);
import runs keep their warnings, the file's headers and the rejected rows' cells

Revision ID: 0007_imports
Revises: 0006_attempt_tasks
Create Date: 2026-12-06 16:00:00
"""
from alembic import op
import sqlalchemy as sa

import care.models.types


revision = '0007_imports'
down_revision = '0006_attempt_tasks'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'staff_name_mappings',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('name', sa.String(length=120), nullable=False),
        sa.Column('user_id', sa.Integer(), nullable=False),
        sa.Column('created_at', care.models.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column('created_by', sa.String(length=64), nullable=False),
        sa.Column('created_by_id', sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(['created_by_id'], ['users.id'], name=op.f('fk_staff_name_mappings_created_by_id_users')),
        sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_staff_name_mappings_user_id_users')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_staff_name_mappings')),
        sa.UniqueConstraint('name', name=op.f('uq_staff_name_mappings_name')),
    )
    with op.batch_alter_table('staff_name_mappings', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_staff_name_mappings_user_id'), ['user_id'], unique=False)

    with op.batch_alter_table('vehicles', schema=None) as batch_op:
        batch_op.add_column(sa.Column('consultant_name', sa.String(length=120), nullable=True))
        batch_op.create_index(batch_op.f('ix_vehicles_consultant_name'), ['consultant_name'], unique=False)
    with op.batch_alter_table('deliveries', schema=None) as batch_op:
        batch_op.add_column(sa.Column('consultant_name', sa.String(length=120), nullable=True))
        batch_op.create_index(batch_op.f('ix_deliveries_consultant_name'), ['consultant_name'], unique=False)
    with op.batch_alter_table('insurance_policies', schema=None) as batch_op:
        batch_op.add_column(sa.Column('specialist_name', sa.String(length=120), nullable=True))
        batch_op.create_index(batch_op.f('ix_insurance_policies_specialist_name'), ['specialist_name'], unique=False)

    with op.batch_alter_table('import_runs', schema=None) as batch_op:
        batch_op.add_column(sa.Column('warned', sa.Integer(), server_default='0', nullable=False))
        batch_op.add_column(sa.Column('warnings', sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column('headers', sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column('reject_rows', sa.JSON(), nullable=True))


def downgrade():
    # SQLite drops a column by copying the table; with foreign keys on, dropping the old
    # import_runs (or vehicles …) that other rows refer to fails. The copy keeps every id.
    sqlite = op.get_bind().dialect.name == 'sqlite'
    if sqlite:
        op.execute('PRAGMA foreign_keys=OFF')
    with op.batch_alter_table('import_runs', schema=None) as batch_op:
        batch_op.drop_column('reject_rows')
        batch_op.drop_column('headers')
        batch_op.drop_column('warnings')
        batch_op.drop_column('warned')
    with op.batch_alter_table('insurance_policies', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_insurance_policies_specialist_name'))
        batch_op.drop_column('specialist_name')
    with op.batch_alter_table('deliveries', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_deliveries_consultant_name'))
        batch_op.drop_column('consultant_name')
    with op.batch_alter_table('vehicles', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_vehicles_consultant_name'))
        batch_op.drop_column('consultant_name')
    with op.batch_alter_table('staff_name_mappings', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_staff_name_mappings_user_id'))
    op.drop_table('staff_name_mappings')
    if sqlite:
        op.execute('PRAGMA foreign_keys=ON')

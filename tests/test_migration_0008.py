"""Migration 0008_small: the vehicle's double bookings that the app accepted before it
are kept once (the later ones canceled, with a note), so that the unique index builds."""

from __future__ import annotations

import sqlalchemy as sa
from flask_migrate import upgrade

from care.extensions import db
from tests.test_schema import fresh_app

T = "2026-11-01 08:00:00"


def test_0008_cancels_the_later_double_bookings(tmp_path):
    with fresh_app(tmp_path) as app, app.app_context():
        directory = app.extensions["migrate"].directory
        upgrade(directory=directory, revision="0007_imports")
        with db.engine.begin() as conn:
            conn.execute(sa.text(
                "INSERT INTO customers (id, customer_no, name, customer_class, no_call, no_sms, no_email,"
                " created_at, updated_at) VALUES (1, 'C1', 'x', 'existing', false, false, false, :t, :t)"
            ), {"t": T})
            conn.execute(sa.text(
                "INSERT INTO vehicles (id, vin, customer_id, created_at, updated_at)"
                " VALUES (1, 'LSVAA4180E2000001', 1, :t, :t)"
            ), {"t": T})
            rows = [  # id, time, status, notes
                (1, "09:00:00", "booked", None),
                (2, "09:00:00", "booked", "早上来"),  # the double booking
                (3, "09:00:00", "canceled", None),  # canceled: no clash
                (4, "10:00:00", "booked", None),
            ]
            for id_, at, status, notes in rows:
                conn.execute(sa.text(
                    "INSERT INTO appointments (id, customer_id, vehicle_id, date, time, service_kind, status, notes,"
                    " created_at) VALUES (:id, 1, 1, '2026-11-02', :at, 'maintenance', :status, :notes, :t)"
                ), {"id": id_, "at": at, "status": status, "notes": notes, "t": T})
        upgrade(directory=directory, revision="0008_small")
        got = db.session.execute(sa.text("SELECT id, status, notes FROM appointments ORDER BY id")).all()
        assert [(r.id, r.status) for r in got] == [(1, "booked"), (2, "canceled"), (3, "canceled"), (4, "booked")]
        # end the read first: on PostgreSQL its open transaction holds a lock on appointments
        # that the next migration's DROP INDEX would wait for (for ever: same process)
        db.session.remove()
        upgrade(directory=directory)  # 0010 spells the status as the register does
        got = db.session.execute(sa.text("SELECT id, status, notes FROM appointments ORDER BY id")).all()
        assert [(r.id, r.status) for r in got] == [(1, "booked"), (2, "cancelled"), (3, "cancelled"), (4, "booked")]
        assert got[1].notes.startswith("早上来\n[0008] canceled") and "#1 is kept" in got[1].notes
        assert got[0].notes is None and got[3].notes is None
        with db.engine.connect() as conn, conn.begin():  # the index now refuses a second one
            try:
                conn.execute(sa.text(
                    "INSERT INTO appointments (customer_id, vehicle_id, date, time, service_kind, status, created_at)"
                    " VALUES (1, 1, '2026-11-02', '10:00:00', 'maintenance', 'booked', :t)"
                ), {"t": T})
            except sa.exc.IntegrityError:
                pass
            else:
                raise AssertionError("the unique index let a double booking in")

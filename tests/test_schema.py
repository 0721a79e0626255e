"""The schema: migrations create exactly the models' tables; SQLite pragmas; /healthz.

`fresh_database` gives an empty database (a new SQLite file, or a schema of its own on
PostgreSQL when CARE_TEST_DATABASE_URL is set) for tests that must start from nothing.
"""

from __future__ import annotations

import os
import uuid
from contextlib import contextmanager

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from flask_migrate import upgrade

from care import create_app
from care.extensions import db
from care.models.search import is_search_object
from tests.conftest import PG_URL, _pg_url


@contextmanager
def fresh_database(tmp_path):
    """Yield the config of an empty database; drop it afterwards (PostgreSQL)."""
    if not PG_URL:
        yield {"SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'fresh.sqlite'}"}
        return
    name = f"care_fresh_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    engine = sa.create_engine(_pg_url(PG_URL))
    with engine.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{name}"'))
    try:
        yield {
            "SQLALCHEMY_DATABASE_URI": _pg_url(PG_URL),
            "SQLALCHEMY_ENGINE_OPTIONS": {"connect_args": {"options": f"-csearch_path={name}"}},
        }
    finally:
        with engine.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA "{name}" CASCADE'))
        engine.dispose()


@contextmanager
def fresh_app(tmp_path, **overrides):
    """An app on an empty database (no create_all: only what the migrations make)."""
    instance = tmp_path / "instance"
    instance.mkdir(exist_ok=True)
    with fresh_database(tmp_path) as database:
        app = create_app(
            {
                "TESTING": True,
                "INSTANCE_PATH": str(instance),
                "SECRET_KEY": "test-secret",
                "CARE_WEBHOOK_SECRET": "test-webhook-secret",
                **database,
                **overrides,
            }
        )
        try:
            yield app
        finally:
            with app.app_context():
                db.session.remove()
                db.engine.dispose()


def _differences(metadata) -> list:
    with db.engine.connect() as conn:
        context = MigrationContext.configure(
            conn,
            opts={
                "compare_type": True,
                "compare_server_default": False,
                # the search's trigram tables and indexes live outside the models
                "include_name": lambda name, _type, _parents: not is_search_object(name),
            },
        )
        return compare_metadata(context, metadata)


def _head(app) -> str:
    config = app.extensions["migrate"].migrate.get_config(app.extensions["migrate"].directory)
    return ScriptDirectory.from_config(config).get_current_head()


def test_migrations_create_exactly_the_models(tmp_path):
    with fresh_app(tmp_path) as app, app.app_context():
        upgrade(directory=app.extensions["migrate"].directory)
        diff = _differences(db.metadata)
        assert diff == [], (
            "the models and the migrations differ; add a migration "
            "(`flask --app app db migrate -m …`, then review it):\n" + "\n".join(map(str, diff))
        )
        with db.engine.connect() as conn:
            assert MigrationContext.configure(conn).get_current_revision() == _head(app)


def test_the_comparison_notices_a_model_change(tmp_path):
    """Guard against a vacuous pass: a column the migrations lack is reported."""
    with fresh_app(tmp_path) as app, app.app_context():
        upgrade(directory=app.extensions["migrate"].directory)
        changed = sa.MetaData(naming_convention=db.metadata.naming_convention)
        for table in db.metadata.sorted_tables:
            table.to_metadata(changed)
        changed.tables["users"].append_column(sa.Column("nickname", sa.String(30)))
        diff = _differences(changed)
        assert any(d[0] == "add_column" and d[3].name == "nickname" for d in diff), diff


def test_downgrade_and_upgrade_again(tmp_path):
    from flask_migrate import downgrade

    with fresh_app(tmp_path) as app, app.app_context():
        directory = app.extensions["migrate"].directory
        upgrade(directory=directory)
        downgrade(directory=directory, revision="base")
        assert not sa.inspect(db.engine).has_table("users")
        upgrade(directory=directory)
        assert sa.inspect(db.engine).has_table("users")


def test_0004_marks_attempts_that_ended_before_it_as_finalized(tmp_path):
    """Their final hook ran when they ended: the applier must not run it again."""
    with fresh_app(tmp_path) as app, app.app_context():
        directory = app.extensions["migrate"].directory
        upgrade(directory=directory, revision="0003_calls")
        with db.engine.begin() as conn:
            conn.execute(sa.text(
                "INSERT INTO customers (id, customer_no, name, customer_class, no_call, no_sms, no_email,"
                " created_at, updated_at) VALUES (1, 'C1', 'x', 'retail', false, false, false, :t, :t)"
            ), {"t": "2026-11-01 08:00:00"})
            conn.execute(sa.text(
                "INSERT INTO care_tasks (id, type, status, cycle_key, customer_id, opens_on, due_at, owner_rule,"
                " channel, reason_id, created_at, updated_at) VALUES (1, 'first_service', 'open', 'k', 1,"
                " '2026-11-01', :t, 'round_robin', 'call', 'r', :t, :t)"
            ), {"t": "2026-11-01 08:00:00"})
            for attempt_id, outcome, ended in ((1, "busy", "2026-11-01 09:00:00"), (2, None, None)):
                conn.execute(sa.text(
                    "INSERT INTO call_attempts (id, task_id, customer_id, provider, to_number, status, rank,"
                    " sequence, answered, outcome, counted, started_at, ended_at, updated_at)"
                    " VALUES (:id, 1, 1, 'sim', '+8613800000000', 'x', 0, -1, false, :outcome, true, :t, :ended, :t)"
                ), {"id": attempt_id, "outcome": outcome, "ended": ended, "t": "2026-11-01 08:30:00"})
        upgrade(directory=directory)
        rows = db.session.execute(sa.text(
            "SELECT id, finalized_at IS NOT NULL, events_folded FROM call_attempts ORDER BY id"
        )).all()
        assert [tuple(r) for r in rows] == [(1, True, 0), (2, False, 0)]


@pytest.mark.skipif(bool(PG_URL), reason="SQLite pragmas")
def test_sqlite_connections_use_wal_foreign_keys_and_a_busy_timeout(app_ctx):
    with db.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar().lower() == "wal"
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() >= 1000


@pytest.mark.skipif(bool(PG_URL), reason="SQLite pragmas")
def test_sqlite_foreign_keys_are_enforced(app_ctx):
    from care.models import Vehicle

    db.session.add(Vehicle(vin="11111111111111111", customer_id=424242))
    with pytest.raises(sa.exc.IntegrityError):
        db.session.flush()
    db.session.rollback()


def test_healthz_ok(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.get_json()["status"] == "ok"


@pytest.mark.parametrize(
    "url",
    [
        "sqlite:////nonexistent-care-dir/deeper/care.sqlite",
        "postgresql+psycopg://postgres@127.0.0.1:1/care?connect_timeout=2",
    ],
)
def test_healthz_unavailable_without_a_database(tmp_path, url):
    app = create_app(
        {
            "TESTING": True,
            "INSTANCE_PATH": str(tmp_path / "instance"),
            "SECRET_KEY": "x",
            "CARE_WEBHOOK_SECRET": "y",
            "SQLALCHEMY_DATABASE_URI": url,
        }
    )
    response = app.test_client().get("/healthz")
    assert response.status_code == 503
    assert response.get_json()["status"] != "ok"
    with app.app_context():
        db.engine.dispose()


def test_postgresql_connections_run_without_jit_and_keep_their_own_options(app_ctx):
    """CARE_PG_JIT off (the default): each connection is opened with jit=off, after the
    options the deployment gives (here the test schema's search_path); on SQLite nothing."""
    from care.config import load

    class Fake:
        instance_path = "/nonexistent"
        debug = False

        def __init__(self, uri, options):
            from flask import Config

            self.config = Config("/nonexistent")
            self.overrides = {"SQLALCHEMY_DATABASE_URI": uri, "SECRET_KEY": "x", "CARE_WEBHOOK_SECRET": "x",
                              "SQLALCHEMY_ENGINE_OPTIONS": options}  # fmt: skip

    pg = Fake("postgresql://u@h/db", {"connect_args": {"options": "-csearch_path=s1"}})
    load(pg, pg.overrides)
    assert pg.config["SQLALCHEMY_ENGINE_OPTIONS"]["connect_args"]["options"] == "-csearch_path=s1 -c jit=off"
    assert pg.overrides["SQLALCHEMY_ENGINE_OPTIONS"]["connect_args"]["options"] == "-csearch_path=s1"  # not mutated
    own = Fake("postgresql://u@h/db", {"connect_args": {"options": "-c jit=on"}})
    load(own, own.overrides)
    assert own.config["SQLALCHEMY_ENGINE_OPTIONS"]["connect_args"]["options"] == "-c jit=on"
    lite = Fake("sqlite:///x.db", {})
    load(lite, lite.overrides)
    assert "options" not in lite.config["SQLALCHEMY_ENGINE_OPTIONS"].get("connect_args", {})
    from care.extensions import db

    if db.engine.dialect.name == "postgresql":  # the suite's own connections
        with db.engine.connect() as conn:
            assert conn.exec_driver_sql("SHOW jit").scalar() == "off"

"""Fixtures: one app per worker, an empty database per test, a client, a CLI runner, log-ins.

The contract (what tests may rely on; other conftests and test modules build on it):

``app``
    The Flask app of this pytest(-xdist) worker, built once (``make_app``) on a database
    whose schema is created once. Every test gets it with empty tables, id sequences
    starting at 1, the configuration as ``make_app`` made it and no per-test extension
    (``care_applier``, ``care_ingest_engine`` …). A test may change ``app.config[...]``,
    start the background applier, hand work to threads: ``_WorkerApp.reset`` undoes it
    after the test (see there). Commit freely: isolation does not rely on an outer
    transaction, because the webhooks write through an engine of their own and the
    applier and import threads through sessions of their own.
``app_ctx``
    An app context of ``app`` for the test's duration (its own ``flask.g``).
``session``
    ``db.session`` inside ``app_ctx``; rolled back after the test.
``client`` / ``runner``
    A new test client (no cookies) / CLI runner of ``app`` per test.
``login_as``
    ``login_as("specialist")`` or ``login_as("front_desk", "admin", username=…)``: makes
    the user, logs ``client`` in, returns the user.
``worker_app``
    The session-scoped holder of that app (``worker_app.app``) for module-scoped data
    (tests/web/test_access_matrix.py): such a fixture calls ``worker_app.reset()`` when
    its module is done, and its tests must not request ``app`` (which empties the
    database after each test).
``make_app(tmp_path, pg_schema, **overrides)``
    A separate app of its own for a test that needs configuration that must be set
    before ``create_app`` (few: grep make_app). On SQLite it gets a new file under
    ``tmp_path``; on PostgreSQL it shares the worker's schema, so it must empty it
    afterwards with ``empty_tables(app)`` (and ``dispose_extra_engines(app)``).

How each test starts from an empty database, cheaply: after each test the rows of
every table are deleted, children first, and the ids start again at 1; the pool's
connections are kept from test to test.

- SQLite (default): a file per worker; the DELETEs run in one transaction (SQLite
  numbers a row max(id) + 1, so an empty table starts at 1 again). The worker's
  connections also set ``PRAGMA synchronous=OFF``: no fsync for a test database.
- PostgreSQL (``CARE_TEST_DATABASE_URL``): one schema per worker, created here and
  dropped at the end, so parallel or concurrent runs never see each other's rows. One
  round trip: ``care_test_reset()``, a plpgsql function made with the schema, deletes
  and restarts the id sequences.

Measured per test (2 cores under load): building an app and creating the tables
~800 ms on SQLite before; copying a template file over the database ~9 ms (the
dispose checkpoints the WAL, and every test reconnects); the DELETEs ~4 ms. On
PostgreSQL a TRUNCATE of the 23 tables ~490 ms (~670 ms with the pool disposed, as
before); ``care_test_reset()`` ~40 ms.
"""

from __future__ import annotations

import os
import threading
import uuid
from pathlib import Path

import pytest
import sqlalchemy as sa

from care import create_app
from care.extensions import db
from tests import factories

PG_URL = os.environ.get("CARE_TEST_DATABASE_URL")
PASSWORD = factories.PASSWORD
INGEST_ENGINE_KEY = "care_ingest_engine"  # the webhooks' own pool, when one was made
APPLIER_KEY = "care_applier"  # the background applier of care/applier.py
RESET_FUNCTION = "care_test_reset"


def _pg_url(url: str) -> str:
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


@pytest.fixture(autouse=True, scope="session")
def _cheap_password_hashing():
    """scrypt (the production default) costs ~50 ms a hash; tests need no such strength."""
    import care.models.user as user_module

    real = user_module.generate_password_hash
    user_module.generate_password_hash = lambda pw: real(pw, method="pbkdf2:sha256:1000")
    yield
    user_module.generate_password_hash = real


@pytest.fixture(scope="session")
def pg_schema():
    if not PG_URL:
        yield None
        return
    name = f"care_test_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    engine = sa.create_engine(_pg_url(PG_URL))
    with engine.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{name}"'))
    yield name
    with engine.begin() as conn:
        conn.execute(sa.text(f'DROP SCHEMA "{name}" CASCADE'))
    engine.dispose()


_pg_tables_created: set[str] = set()


def db_config(tmp_path, pg_schema) -> dict:
    if pg_schema:
        return {
            "SQLALCHEMY_DATABASE_URI": _pg_url(PG_URL),
            "SQLALCHEMY_ENGINE_OPTIONS": {
                "connect_args": {"options": f"-csearch_path={pg_schema}"},
                "pool_pre_ping": True,
            },
        }
    return {"SQLALCHEMY_DATABASE_URI": f"sqlite:///{Path(tmp_path) / 'care.sqlite'}"}


def make_app(tmp_path, pg_schema, **overrides):
    instance = Path(tmp_path) / "instance"
    instance.mkdir(exist_ok=True)
    config = {
        "TESTING": True,
        "INSTANCE_PATH": str(instance),
        "SECRET_KEY": "test-secret",
        "CARE_WEBHOOK_SECRET": "test-webhook-secret",
        "WTF_CSRF_ENABLED": False,
        "CARE_IMPORT_IN_BACKGROUND": False,
        "CARE_BEST_TIME_CACHE_SECONDS": 0,  # each test's calls count at once
        "CARE_WEBHOOK_APPLY": "inline",  # background: tests/test_applier.py
        "SERVER_NAME": None,
        # Assertions read English; tests of the Chinese pages send Accept-Language.
        "BABEL_DEFAULT_LOCALE": "en",
        **db_config(tmp_path, pg_schema),
        **overrides,
    }
    app = create_app(config)
    with app.app_context():
        if pg_schema is None or pg_schema not in _pg_tables_created:
            db.create_all()
            if pg_schema:
                _create_reset_function()
                _pg_tables_created.add(pg_schema)
    return app


def dispose_extra_engines(app) -> None:
    """The webhooks' own pool (care.web.webhooks.ingest_engine), when one was made (on SQLite
    it is the app's own engine)."""
    engine = app.extensions.pop(INGEST_ENGINE_KEY, None)
    with app.app_context():
        if engine is not None and engine is not db.engine:
            engine.dispose()


def empty_tables(app) -> None:
    """PostgreSQL: delete every row and restart the ids (one round trip), close the pool."""
    with app.app_context():
        db.session.remove()
        _pg_reset(db.engine)
        db.engine.dispose()


# ----------------------------------------------------------------- PostgreSQL reset


def _create_reset_function() -> None:
    """``care_test_reset()`` in the current schema: DELETE from every table, children
    first, and restart each id sequence. The statements are written out once here
    (no catalogue look-ups per call)."""
    body = []
    for table in reversed(db.metadata.sorted_tables):
        body.append(f'DELETE FROM "{table.name}";')
        column = table.autoincrement_column
        if column is not None:
            body.append(
                f"PERFORM setval(pg_get_serial_sequence('\"{table.name}\"', '{column.name}'), 1, false);"
            )
    statements = "\n    ".join(body)
    with db.engine.begin() as conn:
        conn.execute(
            sa.text(
                f"CREATE OR REPLACE FUNCTION {RESET_FUNCTION}() RETURNS void LANGUAGE plpgsql AS $$\n"
                f"BEGIN\n    {statements}\nEND $$"
            )
        )


def _pg_reset(engine) -> None:
    with engine.begin() as conn:
        conn.execute(sa.text(f"SELECT {RESET_FUNCTION}()"))


# ------------------------------------------------------------------ the worker's app


class _WorkerApp:
    """The worker's app and what it takes to give the next test a clean one."""

    def __init__(self, base: Path, pg_schema: str | None):
        self.pg_schema = pg_schema
        self.app = make_app(base, pg_schema)
        self.config = dict(self.app.config)
        self.extensions = set(self.app.extensions)
        if not pg_schema:
            with self.app.app_context():
                sa.event.listen(db.engine, "connect", _sqlite_without_fsync)
                db.engine.dispose()  # the connection made by create_all had no such pragma

    def reset(self) -> None:
        """After a test: stop its threads, undo its configuration, empty the database."""
        app = self.app
        applier = app.extensions.pop(APPLIER_KEY, None)
        if applier is not None:
            applier.stop()
        _join_test_threads()
        with app.app_context():
            db.session.remove()
        dispose_extra_engines(app)
        for key in set(app.extensions) - self.extensions:
            app.extensions.pop(key)
        app.config.clear()
        app.config.update(self.config)
        with app.app_context():
            if self.pg_schema:
                _pg_reset(db.engine)
            else:
                with db.engine.begin() as conn:
                    for table in reversed(db.metadata.sorted_tables):
                        conn.execute(table.delete())

    def close(self) -> None:
        with self.app.app_context():
            db.session.remove()
            dispose_extra_engines(self.app)
            db.engine.dispose()


def _sqlite_without_fsync(dbapi_conn, _record) -> None:
    """After the app's own pragmas (care._configure_engine): a test database need not
    survive a power cut."""
    cursor = dbapi_conn.cursor()
    cursor.execute("PRAGMA synchronous=OFF")
    cursor.close()


# Threads a test may leave behind that write to the database: the simulated provider's
# callbacks (care/telephony/sim.py) and background imports (care/web/imports.py).
_TEST_THREAD_PREFIXES = ("sim-call-", "import-")


def _join_test_threads(timeout: float = 10.0) -> None:
    for thread in threading.enumerate():
        if thread.name.startswith(_TEST_THREAD_PREFIXES) and thread is not threading.current_thread():
            thread.join(timeout)


@pytest.fixture(scope="session")
def worker_app(tmp_path_factory, pg_schema):
    """The worker's app (built once); tests use ``app``, which cleans up after them."""
    worker = _WorkerApp(tmp_path_factory.mktemp("worker"), pg_schema)
    yield worker
    worker.close()


@pytest.fixture
def app(worker_app):
    yield worker_app.app
    worker_app.reset()


@pytest.fixture
def app_ctx(app):
    with app.app_context():
        yield app


@pytest.fixture
def session(app_ctx):
    """The Flask-SQLAlchemy session inside an app context (for service tests)."""
    yield db.session
    db.session.rollback()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


@pytest.fixture
def login_as(app, client):
    """login_as("specialist") or login_as("front_desk", "admin", username=…) → the user."""

    def login(*roles: str, username: str | None = None, **kw):
        with app.app_context():
            user = factories.make_user(db.session, *(roles or ("specialist",)), username=username, **kw)
            db.session.commit()
            name = user.username
            user_id = user.id
        response = client.post(
            "/auth/login", data={"username": name, "password": PASSWORD}, follow_redirects=False
        )
        assert response.status_code == 303, response.get_data(as_text=True)[:500]
        with app.app_context():
            return db.session.get(factories.User, user_id)

    return login

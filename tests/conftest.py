"""Fixtures: an app on a fresh database per test, a client, a CLI runner, log-in helpers.

SQLite (default): a new file under tmp_path per test. PostgreSQL (when
CARE_TEST_DATABASE_URL is set): one schema per test run (and per xdist worker), created
here and dropped at the end, so parallel or concurrent runs never see each other's rows;
tables are emptied after each test.
"""

from __future__ import annotations

import os
import uuid

import pytest
import sqlalchemy as sa

from care import create_app
from care.extensions import db
from tests import factories

PG_URL = os.environ.get("CARE_TEST_DATABASE_URL")
PASSWORD = factories.PASSWORD


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
    return {"SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'care.sqlite'}"}


def make_app(tmp_path, pg_schema, **overrides):
    instance = tmp_path / "instance"
    instance.mkdir(exist_ok=True)
    config = {
        "TESTING": True,
        "INSTANCE_PATH": str(instance),
        "SECRET_KEY": "test-secret",
        "CARE_WEBHOOK_SECRET": "test-webhook-secret",
        "WTF_CSRF_ENABLED": False,
        "CARE_IMPORT_IN_BACKGROUND": False,
        "CARE_WEBHOOK_APPLY": "inline",  # background: tests/web/test_applier.py
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
                _pg_tables_created.add(pg_schema)
    return app


def dispose_extra_engines(app) -> None:
    """The webhooks' own pool (care.web.webhooks.ingest_engine), when one was made."""
    engine = app.extensions.pop("care_ingest_engine", None)
    with app.app_context():
        if engine is not None and engine is not db.engine:  # on SQLite it is the app's own
            engine.dispose()


def empty_tables(app) -> None:
    with app.app_context():
        db.session.remove()
        names = ", ".join(f'"{t.name}"' for t in db.metadata.sorted_tables)
        with db.engine.begin() as conn:
            conn.execute(sa.text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
        db.engine.dispose()


@pytest.fixture
def app(tmp_path, pg_schema):
    app = make_app(tmp_path, pg_schema)
    yield app
    dispose_extra_engines(app)
    if pg_schema:
        empty_tables(app)
    else:
        with app.app_context():
            db.session.remove()
            db.engine.dispose()


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

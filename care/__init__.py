"""Care Desk: the customer-care desk of a car dealership."""

from __future__ import annotations

import logging
from pathlib import Path

from flask import Flask
from sqlalchemy import event
from sqlalchemy.engine import Engine

from care import config as care_config
from care.extensions import babel, csrf, db, login_manager, migrate

ROOT = Path(__file__).resolve().parent.parent


def create_app(config: dict | None = None) -> Flask:
    """The app factory: defaults, instance/config.py, CARE_* environment, then `config`."""
    app = Flask(
        __name__,
        instance_path=str((config or {}).get("INSTANCE_PATH") or ROOT / "instance"),
        instance_relative_config=True,
        template_folder=str(ROOT / "templates"),
        static_folder=str(ROOT / "static"),
    )
    care_config.load(app, config)
    logging.getLogger("care").setLevel(app.config["CARE_LOG_LEVEL"])
    if app.config["CARE_PROXIES"]:
        from werkzeug.middleware.proxy_fix import ProxyFix

        n = int(app.config["CARE_PROXIES"])
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=n, x_proto=n, x_host=n, x_prefix=n)

    db.init_app(app)
    migrate.init_app(app, db, directory=str(ROOT / "migrations"), render_as_batch=True)
    csrf.init_app(app)
    login_manager.init_app(app)

    from care.web import i18n

    babel.init_app(
        app,
        locale_selector=i18n.select_locale,
        timezone_selector=i18n.select_timezone,
        default_translation_directories=str(ROOT / "translations"),
    )

    with app.app_context():
        _configure_engine(db.engine)

    from care.telephony.providers import get_provider
    from care.telephony.sim import parse_mix

    get_provider(app)  # a misspelt CARE_TELEPHONY fails at start-up, not at the first call
    care_config.check_callback_base(app)  # a real provider without CARE_PUBLIC_BASE_URL too
    parse_mix(app.config.get("CARE_SIM_MIX"))
    from care.domain.survey_input import parse_score_mix

    parse_score_mix(app.config.get("CARE_SIM_SURVEY_MIX"))  # a bad survey mix fails at start-up too
    from care.applier import check_mode

    app.config["CARE_WEBHOOK_APPLY"] = check_mode(app)  # a misspelt mode fails at start-up too

    from care import web

    web.init_app(app)

    from care import cli

    cli.init_app(app)

    from care import scheduler

    scheduler.start(app)  # only when serving with CARE_SCHEDULER on (not tests, not CLI)
    from care import applier

    applier.start(app)  # when serving: apply at once the events a crash left unapplied
    return app


def _configure_engine(engine: Engine) -> None:
    """SQLite: WAL, a busy timeout and foreign keys on every connection."""
    if engine.dialect.name != "sqlite":
        return

    @event.listens_for(engine, "connect")
    def _sqlite_pragmas(dbapi_conn, _record):  # pragma: no cover - trivial
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA busy_timeout=15000")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.close()

"""Deployment configuration: defaults, then instance/config.py, then CARE_* environment.

Business rules are *not* here: they are settings in the database (care/domain/settings.py).
"""

from __future__ import annotations

import os
import secrets
from datetime import timedelta
from pathlib import Path

ENV_PREFIX = "CARE_"

# Environment variables of interfaces.md and the Flask config key each one sets.
ENV_KEYS = {
    "DATABASE_URL": "SQLALCHEMY_DATABASE_URI",
    "SECRET_KEY": "SECRET_KEY",
    "TELEPHONY": "CARE_TELEPHONY",
    "TWILIO_ACCOUNT_SID": "CARE_TWILIO_ACCOUNT_SID",
    "TWILIO_AUTH_TOKEN": "CARE_TWILIO_AUTH_TOKEN",
    "TWILIO_FROM": "CARE_TWILIO_FROM",
    "WEBHOOK_SECRET": "CARE_WEBHOOK_SECRET",
    "PUBLIC_BASE_URL": "CARE_PUBLIC_BASE_URL",
    "SMS": "CARE_SMS",
    "SMS_URL": "CARE_SMS_URL",
    "SMS_SIM_MIX": "CARE_SMS_SIM_MIX",
    "SMTP_URL": "CARE_SMTP_URL",
    "IMPORT_IN_BACKGROUND": "CARE_IMPORT_IN_BACKGROUND",
    "LOG_LEVEL": "CARE_LOG_LEVEL",
    "PROXIES": "CARE_PROXIES",
    "SCHEDULER": "CARE_SCHEDULER",
    "SIM_MIX": "CARE_SIM_MIX",
    "SIM_DELAY": "CARE_SIM_DELAY",
    "SIM_BASE_URL": "CARE_SIM_BASE_URL",
    "SIM_TALK": "CARE_SIM_TALK",
    "SIM_SURVEY_MIX": "CARE_SIM_SURVEY_MIX",
    "SIM_HABITS": "CARE_SIM_HABITS",
    "GENERIC_URL": "CARE_GENERIC_URL",
    "WEBHOOK_APPLY": "CARE_WEBHOOK_APPLY",
    "APPLY_IDLE_MS": "CARE_APPLY_IDLE_MS",
    "APPLY_MAX_DELAY": "CARE_APPLY_MAX_DELAY",
    "HTTPS": "CARE_HTTPS",
    "PG_JIT": "CARE_PG_JIT",
}


class Defaults:
    SQLALCHEMY_DATABASE_URI: str | None = None  # filled from instance_path
    SQLALCHEMY_ENGINE_OPTIONS: dict = {}
    SECRET_KEY: str | None = None
    WTF_CSRF_TIME_LIMIT = None  # the token lives as long as the session
    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SAMESITE = "Lax"
    REMEMBER_COOKIE_HTTPONLY = True
    REMEMBER_COOKIE_SAMESITE = "Lax"
    REMEMBER_COOKIE_DURATION = timedelta(days=14)  # Flask-Login's default is 365 days
    # Served over HTTPS: both cookies get `Secure`. None: on, except under `flask run
    # --debug` and in tests; `make run` (plain HTTP on 127.0.0.1) sets CARE_HTTPS=0.
    CARE_HTTPS: bool | None = None
    MAX_CONTENT_LENGTH = 64 * 1024 * 1024  # a 100k-row DMS export is ~15 MB
    BABEL_DEFAULT_LOCALE = "zh_CN"
    BABEL_DEFAULT_TIMEZONE = "Asia/Shanghai"
    CARE_LANGUAGES = ("zh_CN", "en")
    CARE_TELEPHONY = "sim"
    CARE_TWILIO_ACCOUNT_SID = None
    CARE_TWILIO_AUTH_TOKEN = None
    CARE_TWILIO_FROM = None
    CARE_WEBHOOK_SECRET: str | None = None
    # The base URL the provider calls back and fetches TwiML from. Required for the real
    # providers (check_callback_base): never the request's Host header, which the client
    # chooses (issue 9 item 21).
    CARE_PUBLIC_BASE_URL = None
    # The call simulator (care/telephony/sim.py): outcome weights, seconds between events,
    # its thread (None: on unless app.testing). The PBX bridge of CARE_TELEPHONY=generic.
    CARE_SIM_MIX = "answered=50,no_answer=25,busy=15,failed=5,canceled=5"
    CARE_SIM_DELAY = 1.0
    CARE_SIM_THREAD: bool | None = None
    # Seconds a simulated answered call stays connected before the customer hangs up
    # (None: 20, or CARE_SIM_DELAY when app.testing), so that there is time to hand the
    # customer to the automated survey; the simulated customers' keys in that survey
    # (care.domain.survey_input.parse_score_mix: "7=45,6=25,…,none=7").
    CARE_SIM_TALK: float | None = None
    CARE_SIM_SURVEY_MIX = "7=45,6=25,5=12,4=8,3=3,none=7"
    # Simulated customers' slot habits (issue 13, best time to call): the seed their habits
    # are drawn from (the demo's default seed, so the demo's call history shows the same
    # habits), or "off" for the plain mix.
    CARE_SIM_HABITS = "42"
    # Where the simulator posts its events when CARE_PUBLIC_BASE_URL is unset: None is the
    # address the serving process is bound to (care.web.calls.sim_callback_base).
    CARE_SIM_BASE_URL: str | None = None
    CARE_GENERIC_URL: str | None = None
    # Provider events are stored and answered first, then folded onto the attempt by a
    # thread of the serving process ("background") or in the request ("inline");
    # care/applier.py.
    CARE_WEBHOOK_APPLY = "background"
    CARE_APPLY_IDLE_MS = 20  # the thread waits for this quiet before applying
    CARE_APPLY_MAX_DELAY = 30  # seconds: under a burst, apply anyway once an id waited this long
    CARE_SMS = "log"
    CARE_SMS_URL = None  # CARE_SMS=http: the JSON endpoint
    CARE_SMS_SIM_MIX = None  # CARE_SMS=sim: receipt weights, default delivered=90,failed=5,undelivered=5
    CARE_SMTP_URL = None
    CARE_IMPORT_IN_BACKGROUND = True
    CARE_IMPORT_STALE_MINUTES = 10  # a background import silent this long was cut off
    CARE_LOG_LEVEL = "INFO"
    CARE_PAGE_SIZE = 25
    # The desk's best-time rates (a year of calls per slot and weekday) are read again at
    # most this often per process (care.services.besttime.DeskRatesCache); 0: every time.
    CARE_BEST_TIME_CACHE_SECONDS = 300
    # PostgreSQL's JIT compiles any statement its planner costs high; for the desk's pages
    # that is the worklist's and the report's joins, where compiling took 127 of a 180 ms
    # statement and saved nothing (bench/pages_bench.py). Off on the app's connections
    # unless this is set.
    CARE_PG_JIT = False
    CARE_PROXIES = 0  # reverse proxies in front of the app (X-Forwarded-* trusted from that many)
    # Run the daily care-task generation in a thread of the serving process (care/scheduler.py);
    # `CARE_SCHEDULER=1 flask --app app run` or gunicorn. Off: a cron line runs `care generate`.
    CARE_SCHEDULER = False


def _truthy(value: str) -> bool:
    return value.strip().lower() in {"1", "true", "yes", "on"}


def _read_or_create_secret(instance: Path, name: str) -> str:
    """A secret generated once and kept in instance/ (mode 0600)."""
    path = instance / name
    if path.exists():
        return path.read_text().strip()
    instance.mkdir(parents=True, exist_ok=True)
    value = secrets.token_hex(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(value)
    return value


def load(app, overrides: dict | None) -> None:
    """Fill app.config: defaults, instance/config.py, environment, then test overrides."""
    app.config.from_object(Defaults)
    app.config.from_pyfile("config.py", silent=True)
    for env, key in ENV_KEYS.items():
        value = os.environ.get(ENV_PREFIX + env)
        if value is None or value == "":
            continue
        if key in ("CARE_IMPORT_IN_BACKGROUND", "CARE_SCHEDULER", "CARE_HTTPS", "CARE_PG_JIT"):
            app.config[key] = _truthy(value)
        elif key == "CARE_PROXIES":
            app.config[key] = int(value)
        elif key in ("CARE_SIM_DELAY", "CARE_SIM_TALK", "CARE_APPLY_IDLE_MS", "CARE_APPLY_MAX_DELAY"):
            app.config[key] = float(value)
        else:
            app.config[key] = value
    if overrides:
        app.config.update(overrides)
    if app.config.get("CARE_HTTPS") is None:
        app.config["CARE_HTTPS"] = not (app.config.get("TESTING") or app.debug)
    app.config["SESSION_COOKIE_SECURE"] = app.config["REMEMBER_COOKIE_SECURE"] = bool(app.config["CARE_HTTPS"])

    instance = Path(app.instance_path)
    if not app.config.get("SQLALCHEMY_DATABASE_URI"):
        instance.mkdir(parents=True, exist_ok=True)
        app.config["SQLALCHEMY_DATABASE_URI"] = f"sqlite:///{instance / 'care.sqlite'}"
    if not app.config.get("SECRET_KEY"):
        app.config["SECRET_KEY"] = _read_or_create_secret(instance, "secret_key")
    if not app.config.get("CARE_WEBHOOK_SECRET"):
        app.config["CARE_WEBHOOK_SECRET"] = _read_or_create_secret(instance, "webhook_secret")

    uri = app.config["SQLALCHEMY_DATABASE_URI"]
    if uri.startswith("postgres://"):  # Heroku-style URLs
        uri = "postgresql+psycopg://" + uri[len("postgres://") :]
    elif uri.startswith("postgresql://"):
        uri = "postgresql+psycopg://" + uri[len("postgresql://") :]
    app.config["SQLALCHEMY_DATABASE_URI"] = uri
    engine_options = dict(app.config.get("SQLALCHEMY_ENGINE_OPTIONS") or {})
    if uri.startswith("sqlite"):
        engine_options.setdefault("connect_args", {}).setdefault("timeout", 15)
    else:
        engine_options.setdefault("pool_pre_ping", True)
        if not app.config.get("CARE_PG_JIT"):
            connect_args = dict(engine_options.get("connect_args") or {})
            options = connect_args.get("options", "")
            if "jit" not in options:  # a jit setting of the deployment's own stays
                connect_args["options"] = f"{options} -c jit=off".strip()
            engine_options["connect_args"] = connect_args
    app.config["SQLALCHEMY_ENGINE_OPTIONS"] = engine_options


REAL_PROVIDERS = ("twilio", "generic")


def check_callback_base(app) -> None:
    """At start-up: a real provider (twilio, generic) needs CARE_PUBLIC_BASE_URL, an
    absolute http(s) URL; without it the callback URLs would come from the request's Host
    header, which the client chooses. The simulator may do without (it posts to the
    server's own address). Raises ValueError."""
    from urllib.parse import urlsplit

    provider = (app.config.get("CARE_TELEPHONY") or "sim").strip().lower()
    for key in ("CARE_PUBLIC_BASE_URL", "CARE_SIM_BASE_URL"):
        value = (app.config.get(key) or "").strip()
        if value:
            parts = urlsplit(value)
            if parts.scheme not in ("http", "https") or not parts.netloc or parts.query or parts.fragment:
                raise ValueError(f"{key} must be an absolute http(s) URL such as https://care.example.com, not {value!r}")
    if provider in REAL_PROVIDERS and not (app.config.get("CARE_PUBLIC_BASE_URL") or "").strip():
        raise ValueError(
            f"CARE_TELEPHONY={provider} needs CARE_PUBLIC_BASE_URL: the URL the provider reaches "
            "this app at (its call events and TwiML); it is never taken from a request's Host header"
        )

"""Blueprints, error pages and the request hooks that every page shares."""

from __future__ import annotations

import logging

from flask import Flask, jsonify, render_template, request
from flask.sessions import SecureCookieSessionInterface
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException

from care.extensions import db, login_manager
from care.web import labels, unit_of_work
from care.web.access import check_access, user_can
from care.web.converters import CONVERTERS
from care.web.htmx import is_htmx
from care.web.input_guard import refuse_unstorable_input
from care.web.unit_of_work import WEBHOOK_PREFIX

log = logging.getLogger("care.web")


class SessionInterface(SecureCookieSessionInterface):
    """Flask's signed-cookie session, except for the providers' webhooks.

    A webhook is machine-to-machine: no cookie comes and none may go back, so it gets
    Flask's read-only null session instead of a signed cookie decoded and re-signed on
    every callback (which was a fifth of a callback's time).
    """

    def open_session(self, app, request):
        if request.path.startswith(WEBHOOK_PREFIX):
            return self.make_null_session(app)
        return super().open_session(app, request)

    def save_session(self, app, session, response):
        if unit_of_work.commit_failed():  # nothing was saved: the browser keeps its cookie
            return
        super().save_session(app, session, response)


BLUEPRINTS = (
    "care.web.auth",
    "care.web.main",
    "care.web.customers",
    "care.web.imports",
    "care.web.settings",
    "care.web.admin",
    "care.web.worklist",
    "care.web.contact",
    "care.web.appointments",
    "care.web.number_corrections",
    "care.web.scripts",
    "care.web.generation",
    "care.web.messages",
    "care.web.webhooks",
    "care.web.reconciliation",
    "care.web.calls",
    "care.web.expired",
    "care.web.kpis",
    "care.web.sampling",
    "care.web.dashboard",
    "care.web.survey_templates",
    "care.web.surveys",
    "care.web.complaints",
    "care.web.phone_survey",
    "care.web.ivr",
    "care.web.campaigns",
    "care.web.violations",
    "care.web.reports",
    "care.web.register",
)


def init_app(app: Flask) -> None:
    import importlib

    app.session_interface = SessionInterface()
    app.url_map.converters.update(CONVERTERS)  # before the blueprints' routes use them
    labels.register(app)

    for name in BLUEPRINTS:
        module = importlib.import_module(name)
        app.register_blueprint(module.bp)

    login_manager.login_view = "auth.login"
    login_manager.login_message = _l("Please log in to see this page.")
    login_manager.login_message_category = "info"

    @login_manager.user_loader
    def load_user(user_id: str):
        """``"<id>:<session version>"`` (User.get_id); a cookie of an earlier version (before
        a log-out, password change or deactivation) is refused."""
        from care.models import User

        user_key, _sep, version = (user_id or "").partition(":")
        try:
            user = db.session.get(User, int(user_key))
            if user is None or int(version) != (user.session_version or 0):
                return None
        except (TypeError, ValueError):
            return None
        return user

    @login_manager.unauthorized_handler
    def unauthorized():
        from flask import redirect, url_for

        if request.path.startswith("/webhooks/") or request.accept_mimetypes.best == "application/json":
            return jsonify(error="login required"), 401
        target = url_for("auth.login", next=request.full_path if request.method == "GET" else None)
        if is_htmx():  # an expired session inside a page: let htmx load the login page
            return "", 401, {"HX-Redirect": target}
        return redirect(target)

    app.before_request(check_access)
    from care.web.auth import require_own_password

    app.before_request(require_own_password)
    app.before_request(refuse_unstorable_input)

    @app.after_request
    def vary_on_htmx(response):
        if request.path.startswith(WEBHOOK_PREFIX):  # machine-to-machine: no page, no cache
            response.headers.setdefault("X-Content-Type-Options", "nosniff")
            return response
        response.vary.add("HX-Request")
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        return response

    @app.context_processor
    def inject():
        from flask_babel import get_locale

        locale = get_locale()
        return {
            "user_can": user_can,
            # "zh_CN"/"en" as configured (Babel expands zh_CN to zh_Hans_CN) and the
            # BCP 47 tag for <html lang>.
            "current_locale": "zh_CN" if locale and locale.language == "zh" else "en",
            "html_lang": "zh-CN" if locale and locale.language == "zh" else "en",
            "is_htmx": is_htmx(),
        }

    @app.errorhandler(CSRFError)
    def csrf_error(exc):
        unit_of_work.discard()
        return error_response(400, _("Your form expired or was sent from elsewhere. Reload the page and try again."))

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException):
        messages = {
            400: _("The request could not be understood."),
            401: _("Please log in."),
            403: _("Your role does not allow this page or action."),
            404: _("There is nothing at this address."),
            405: _("This address does not accept that kind of request."),
            413: _("The file is too large."),
            422: _("Some fields need correcting."),
            429: _("Too many requests; wait a moment and try again."),
        }
        # A view's own message (`abort(404, description=_("…"))`) says more than the default.
        own = exc.description if exc.description != type(exc).description else None
        unit_of_work.discard()
        return error_response(exc.code or 500, own or messages.get(exc.code, exc.description))

    @app.errorhandler(Exception)
    def unexpected(exc: Exception):
        if isinstance(exc, HTTPException):
            return http_error(exc)
        unit_of_work.discard()
        # The type and place only: the message may carry customer data.
        log.error("unhandled %s at %s %s", type(exc).__name__, request.method, request.path, exc_info=app.debug or app.testing)
        return error_response(500, _("Something went wrong on our side. Nothing was saved; please try again."))

    unit_of_work.init_app(app, error_response=error_response)  # last: its hook runs first


def error_response(code: int, message: str):
    """An error page (or fragment, or JSON for machines) with its status."""
    if request.path.startswith("/webhooks/") or (
        request.accept_mimetypes.best == "application/json" and not is_htmx()
    ):
        return jsonify(error=message), code
    template = "errors/_error.html" if is_htmx() else "errors/error.html"
    return render_template(template, code=code, message=message, user=current_user), code

"""Log-in, log-out and the change of one's own password."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from flask_babel import format_datetime
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_user, logout_user
from flask_wtf import FlaskForm
from wtforms import BooleanField, PasswordField, StringField
from wtforms.validators import DataRequired, EqualTo, Length

from care.extensions import db
from care.models.types import utcnow
from care.services import ServiceError
from care.services import users as user_service
from care.services.users import LoginRefused, authenticate, record_logout
from care.web.access import login_only, public
from care.web.htmx import is_htmx
from care.web.i18n import translated
from care.web.unit_of_work import keep_on_error

bp = Blueprint("auth", __name__, url_prefix="/auth")


class LoginForm(FlaskForm):
    username = StringField(_l("User name"), validators=[DataRequired(), Length(max=64)])
    password = PasswordField(_l("Password"), validators=[DataRequired(), Length(max=256)])
    remember = BooleanField(_l("Stay logged in on this computer"))


class PasswordForm(FlaskForm):
    current_password = PasswordField(
        _l("Current password"), validators=[DataRequired(), Length(max=256)],
        render_kw={"autocomplete": "current-password"},
    )  # fmt: skip
    password = PasswordField(
        _l("New password"), validators=[DataRequired(), Length(max=256)], render_kw={"autocomplete": "new-password"}
    )
    confirm = PasswordField(
        _l("New password again"),
        validators=[DataRequired(), EqualTo("password", message=_l("The two passwords differ."))],
        render_kw={"autocomplete": "new-password"},
    )


def _safe_next(target: str | None) -> str | None:
    """Only a path on this site (no scheme, no host, no '//' tricks)."""
    if not target:
        return None
    if "\\" in target or any(ord(c) < 32 for c in target):  # browsers read "/\\x" as "//x"
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return None
    return target


@bp.route("/login", methods=["GET", "POST"])
@public
def login():
    if current_user.is_authenticated:
        return redirect(url_for("main.home"))
    form = LoginForm()
    if form.validate_on_submit():
        now = utcnow()
        try:
            user = authenticate(
                db.session, form.username.data, form.password.data, now=now, ip=request.remote_addr
            )
        except LoginRefused as refused:
            keep_on_error()  # the refusal is a record: its failure count and audit entry stay
            if refused.reason == "locked":
                form.password.errors.append(
                    _(
                        "Too many failed attempts. Try again after %(time)s.",
                        time=format_datetime(refused.until, "short"),
                    )
                )
            elif refused.reason == "inactive":
                form.password.errors.append(_("This account is disabled."))
            else:
                form.password.errors.append(_("Wrong user name or password."))
            return render_template("auth/login.html", form=form), 422
        login_user(user, remember=form.remember.data)
        if user.must_change_password:
            return redirect(url_for("auth.password"), code=303)
        return redirect(_safe_next(request.args.get("next")) or url_for("main.home"), code=303)
    status = 422 if form.is_submitted() else 200
    return render_template("auth/login.html", form=form), status


@bp.route("/logout", methods=["POST"])
@login_only
def logout():
    record_logout(db.session, current_user, now=utcnow())
    logout_user()
    flash(_("You are logged out."), "info")
    return redirect(url_for("auth.login"), code=303)


@bp.route("/password", methods=["GET", "POST"])
@login_only
def password():
    """Change one's own password (every role); the only page, with log-out, open to a user
    whose password an administrator has reset (care/web/__init__.py ``require_own_password``)."""
    form = PasswordForm()
    if form.validate_on_submit():
        try:
            user_service.change_password(
                db.session, current_user, form.current_password.data, form.password.data,
                now=utcnow(), ip=request.remote_addr,
            )  # fmt: skip
        except ServiceError as exc:
            field = getattr(form, exc.field or "", None) or form.password
            field.errors = [*field.errors, translated(exc)]
        else:
            # every session ended with the change; this browser goes on under the new version
            remember = current_app.config.get("REMEMBER_COOKIE_NAME", "remember_token") in request.cookies
            login_user(current_user._get_current_object(), remember=remember)
            flash(_("Your password is changed. Other computers must log in again."), "success")
            return redirect(url_for("main.home"), code=303)
    status = 422 if form.is_submitted() else 200
    return render_template("auth/password.html", form=form, min_length=user_service.MIN_PASSWORD), status


# Endpoints open while a password change is due; everything else leads to the change page.
OPEN_WHILE_CHANGE_DUE = frozenset({"auth.password", "auth.logout", "auth.login", "static"})


def require_own_password():
    """before_request: after an administrator's reset the user must choose a password of
    their own before any other page."""
    if not current_user.is_authenticated or not current_user.must_change_password:
        return None
    if request.endpoint is None or request.endpoint in OPEN_WHILE_CHANGE_DUE:
        return None
    if request.path.startswith("/webhooks/"):
        return None
    target = url_for("auth.password")
    if is_htmx():
        return "", 401, {"HX-Redirect": target}
    return redirect(target)

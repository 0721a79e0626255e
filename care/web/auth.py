"""Log-in and log-out."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import format_datetime
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_user, logout_user
from flask_wtf import FlaskForm
from wtforms import BooleanField, PasswordField, StringField
from wtforms.validators import DataRequired, Length

from care.extensions import db
from care.models.types import utcnow
from care.services.users import LoginRefused, authenticate, record_logout
from care.web.access import login_only, public
from care.web.unit_of_work import keep_on_error

bp = Blueprint("auth", __name__, url_prefix="/auth")


class LoginForm(FlaskForm):
    username = StringField(_l("User name"), validators=[DataRequired(), Length(max=64)])
    password = PasswordField(_l("Password"), validators=[DataRequired(), Length(max=256)])
    remember = BooleanField(_l("Stay logged in on this computer"))


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

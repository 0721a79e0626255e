"""Administration: users and their roles, and the audit log."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import BooleanField, PasswordField, SelectField, SelectMultipleField, StringField
from wtforms.validators import DataRequired, EqualTo, Length, Optional, Regexp
from wtforms.widgets import CheckboxInput, ListWidget

try:  # WTForms ≥ 3.3 deprecates (value, label) tuples
    from wtforms import SelectChoice as _choice
except ImportError:  # pragma: no cover - older WTForms

    def _choice(value, label):
        return (value, label)

from care.domain.roles import Role
from care.extensions import db
from care.models import User
from care.models.types import utcnow
from care.services import ServiceError
from care.services import audit as audit_service
from care.services import users as user_service
from care.web import audit_view
from care.web.access import current_actor, roles_required
from care.web.htmx import render
from care.web.i18n import translated
from care.web.labels import ROLES
from care.web.paging import paginate

bp = Blueprint("admin", __name__, url_prefix="/admin")

LOCALE_CHOICES = [_choice("", _l("As the browser prefers")), _choice("zh_CN", "中文"), _choice("en", "English")]


@bp.context_processor
def _admin_context() -> dict:
    return {"min_password": user_service.MIN_PASSWORD}


# --- forms -----------------------------------------------------------------------------


class MultiCheckboxField(SelectMultipleField):
    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


def _role_choices():
    return [_choice(r.value, ROLES[r]) for r in Role]


_PASSWORD_LENGTH = Length(
    min=user_service.MIN_PASSWORD, max=256, message=_l("The password needs %(min)d to %(max)d characters.")
)
_EXTENSION = [
    Optional(),
    Length(max=20),
    Regexp(r"^[0-9*#+]+$", message=_l("Digits only (e.g. 8001).")),
]


class ProfileFields(FlaskForm):
    display_name = StringField(_l("Display name"), validators=[Optional(), Length(max=user_service.MAX_DISPLAY_NAME)])
    roles = MultiCheckboxField(
        _l("Roles"), choices=_role_choices, validators=[DataRequired(message=_l("Choose at least one role."))]
    )
    extension = StringField(_l("Phone extension"), validators=_EXTENSION)
    email = StringField(_l("E-mail"), validators=[Optional(), Length(max=254)])  # the service checks the form


class NewUserForm(ProfileFields):
    username = StringField(
        _l("User name"),
        validators=[
            DataRequired(),
            Regexp(r"^[A-Za-z0-9_.\-]{2,64}$", message=_l("2–64 letters, digits, “.”, “_” or “-”.")),
        ],
    )
    password = PasswordField(
        _l("Password"), validators=[DataRequired(), _PASSWORD_LENGTH]
    )
    confirm = PasswordField(
        _l("Password again"),
        validators=[DataRequired(), EqualTo("password", message=_l("The two passwords differ."))],
    )


class EditUserForm(ProfileFields):
    # The service checks the value (a missing field means "as the browser prefers").
    locale = SelectField(_l("Language"), choices=LOCALE_CHOICES, validate_choice=False)
    active = BooleanField(_l("Active (may log in)"))


class PasswordForm(FlaskForm):
    password = PasswordField(
        _l("New password"), validators=[DataRequired(), _PASSWORD_LENGTH]
    )
    confirm = PasswordField(
        _l("New password again"),
        validators=[DataRequired(), EqualTo("password", message=_l("The two passwords differ."))],
    )


class ActionForm(FlaskForm):
    """A button that posts (unlock): the CSRF token only."""


def _service_error(form: FlaskForm, exc: ServiceError) -> None:
    """Put a refused use case's message beside its field (or above the form)."""
    message = translated(exc)
    field = getattr(form, exc.field, None) if exc.field else None
    if field is not None:
        field.errors = [*field.errors, message]
    else:
        form.form_errors.append(message)




def _get_user(user_id: int) -> User:
    user = db.session.get(User, user_id)
    if user is None:
        abort(404)
    return user


# --- users -----------------------------------------------------------------------------


@bp.route("/users")
@roles_required(Role.ADMIN)
def users():
    q = request.args.get("q", "").strip()[:64]
    pagination = paginate(user_service.search_statement(q))
    return render(
        "admin/users.html",
        "admin/_users_table.html",
        pagination=pagination,
        q=q,
        now=utcnow(),
        args={"q": q} if q else {},
    )


@bp.route("/users/new", methods=["GET", "POST"])
@roles_required(Role.ADMIN)
def user_new():
    form = NewUserForm()
    if form.validate_on_submit():
        try:
            user = user_service.create_user(
                db.session,
                form.username.data,
                roles=form.roles.data,
                password=form.password.data,
                extension=form.extension.data,
                display_name=form.display_name.data,
                email=form.email.data,
                actor=current_actor(),
                now=utcnow(),
            )
        except ServiceError as exc:  # refused before writing anything
            _service_error(form, exc)
        else:
            flash(_("User %(name)s created.", name=user.username), "success")
            return redirect(url_for("admin.user", user_id=user.id), code=303)
    status = 422 if form.is_submitted() else 200
    return render("admin/user_new.html", "admin/_user_new_form.html", form=form), status


def _user_page(user: User, *, form=None, password_form=None, status=200):
    if form is None:
        form = EditUserForm(
            formdata=None,
            data={
                "display_name": user.display_name,
                "roles": sorted(r.value for r in user.roles),
                "extension": user.extension or "",
                "email": user.email or "",
                "locale": user.locale or "",
                "active": user.active,
            },
        )
    return (
        render(
            "admin/user.html",
            "admin/_user.html",
            user=user,
            form=form,
            password_form=password_form or PasswordForm(formdata=None),
            action_form=ActionForm(formdata=None),
            now=utcnow(),
            is_self=user.id == current_user.id,
        ),
        status,
    )


@bp.route("/users/<id:user_id>", methods=["GET", "POST"])
@roles_required(Role.ADMIN)
def user(user_id: int):
    user = _get_user(user_id)
    if request.method == "GET":
        return _user_page(user)
    form = EditUserForm()
    if form.validate():
        try:
            changes = user_service.update_user(
                db.session,
                user,
                display_name=form.display_name.data,
                roles=form.roles.data,
                extension=form.extension.data,
                locale=form.locale.data,
                active=form.active.data,
                email=form.email.data,
                actor=current_actor(),
                now=utcnow(),
            )
        except ServiceError as exc:  # refused before writing anything
            _service_error(form, exc)
        else:
            if changes:
                flash(_("Changes to %(name)s saved.", name=user.username), "success")
            else:
                flash(_("Nothing changed."), "info")
            return redirect(url_for("admin.user", user_id=user.id), code=303)
    return _user_page(user, form=form, status=422)


@bp.route("/users/<id:user_id>/password", methods=["POST"])
@roles_required(Role.ADMIN)
def user_password(user_id: int):
    user = _get_user(user_id)
    form = PasswordForm()
    if form.validate():
        try:
            user_service.reset_password(
                db.session, user, form.password.data, actor=current_actor(), now=utcnow()
            )
        except ServiceError as exc:  # refused before writing anything
            _service_error(form, exc)
        else:
            flash(_("New password set for %(name)s. Tell them in person or by phone.", name=user.username), "success")
            return redirect(url_for("admin.user", user_id=user.id), code=303)
    return _user_page(user, password_form=form, status=422)


@bp.route("/users/<id:user_id>/unlock", methods=["POST"])
@roles_required(Role.ADMIN)
def user_unlock(user_id: int):
    user = _get_user(user_id)
    was_locked = user_service.unlock(db.session, user, actor=current_actor(), now=utcnow())
    if was_locked:
        flash(_("%(name)s is unlocked and may log in again.", name=user.username), "success")
    else:
        flash(_("%(name)s was not locked.", name=user.username), "info")
    return redirect(url_for("admin.user", user_id=user.id), code=303)


# --- audit log -------------------------------------------------------------------------

AUDIT_PAGE = 50


@bp.route("/audit")
@roles_required(Role.ADMIN, Role.GENERAL_MANAGER)
def audit():
    """Newest first, keyset-paginated by id (`before=<id>`: the entries older than it).
    Each entry in words and names (care/web/audit_view.py); the filter offers the actions
    in words, a chosen one matching only itself, a group ("login.*") all of its kind."""
    action = request.args.get("action", "").strip()[:40]
    actor_name = request.args.get("user", "").strip()[:64]
    before_text = request.args.get("before", "").strip()
    before = None
    if before_text:
        if not before_text.isdigit() or len(before_text) > 18:
            abort(400)
        before = int(before_text)

    known_actions = audit_service.known_actions(db.session)
    entries = audit_service.entries(
        db.session,
        action=action,
        exact=audit_view.is_exact_action(action, known_actions),
        actor_name=actor_name,
        before=before,
        limit=AUDIT_PAGE + 1,
    )
    older = entries[AUDIT_PAGE - 1].id if len(entries) > AUDIT_PAGE else None
    entries = entries[:AUDIT_PAGE]
    filters = {k: v for k, v in (("action", action), ("user", actor_name)) if v}
    choices = audit_view.action_choices(known_actions)
    listed = {c.value for _group, group in choices for c in group}
    return render(
        "admin/audit.html",
        "admin/_audit_table.html",
        rows=audit_view.rows(entries, audit_service.named_objects(db.session, entries)),
        older=older,
        before=before,
        action=action,
        action_listed=action in listed,
        actor_name=actor_name,
        filters=filters,
        action_choices=choices,
    )

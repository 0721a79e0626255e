"""Server-side access control: every endpoint declares who may use it, or it is refused.

`@roles_required(Role.X, …)` or `@public` on a view; `check_access` (a before_request
hook) denies any endpoint that declares nothing, so a new route is closed until someone
decides who may open it (and the role × URL test lists it).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from flask import abort, current_app, request
from flask_login import current_user

from care.domain.roles import Role
from care.services import Actor

ACCESS_ATTR = "care_access"
PUBLIC = "public"
ANY_USER = "any_user"


def roles_required(*roles: Role) -> Callable:
    allowed = frozenset(Role(r) for r in roles)

    def mark(view):
        setattr(view, ACCESS_ATTR, allowed)
        return view

    return mark


def public(view):
    setattr(view, ACCESS_ATTR, PUBLIC)
    return view


def login_only(view):
    """Any signed-in user, whatever the role (their own profile, log-out)."""
    setattr(view, ACCESS_ATTR, ANY_USER)
    return view


def access_of(endpoint: str | None):
    if endpoint is None:
        return None
    if endpoint == "static":
        return PUBLIC
    view = current_app.view_functions.get(endpoint)
    return getattr(view, ACCESS_ATTR, None)


def check_access():
    """before_request: 401 → login page for anonymous users, 403 for a wrong role."""
    rule = access_of(request.endpoint)
    if request.endpoint is None:
        return None  # 404/405 handled by Flask
    if rule == PUBLIC:
        return None
    if not current_user.is_authenticated:
        from care.extensions import login_manager

        return login_manager.unauthorized()
    if rule == ANY_USER:
        return None
    if rule is None:
        abort(403)  # an endpoint nobody declared access for
    if not (current_user.roles & rule):
        abort(403)
    return None


def user_can(endpoint: str, user=None) -> bool:
    """For templates: show a link only to those who may follow it."""
    user = user or current_user
    rule = access_of(endpoint)
    if rule == PUBLIC:
        return True
    if not getattr(user, "is_authenticated", False):
        return False
    if rule == ANY_USER:
        return True
    return bool(rule) and bool(user.roles & rule)


def roles_of(values: Iterable[str]) -> frozenset[Role]:
    return frozenset(Role(v) for v in values)


def current_actor() -> Actor:
    """The signed-in user at the request's address, as the audit trail records who acted."""
    return Actor.of(current_user, request.remote_addr)

"""Users, roles and log-in with throttling."""

from __future__ import annotations

import re
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from care.domain.roles import Role, parse_role
from care.models import User
from care.services import ServiceError, audit
from care.services.settings import load_settings

USERNAME_RE = re.compile(r"^[A-Za-z0-9_.\-]{2,64}$")
MIN_PASSWORD = 8


def create_user(
    session: Session,
    username: str,
    *,
    roles: list[str],
    password: str,
    extension: str | None = None,
    display_name: str | None = None,
    actor: str,
    now: datetime,
) -> User:
    username = username.strip()
    if not USERNAME_RE.match(username):
        raise ServiceError(
            "user name: 2–64 letters, digits, '.', '_' or '-'"
        )
    if not roles:
        raise ServiceError("at least one --role is needed")
    parsed = [parse_role(r) for r in roles] if roles else []
    if len(password) < MIN_PASSWORD:
        raise ServiceError(f"password: at least {MIN_PASSWORD} characters")
    if find_user(session, username) is not None:
        raise ServiceError(f"user {username!r} exists already")
    if extension is not None and not re.fullmatch(r"[0-9*#+]{1,20}", extension.strip()):
        raise ServiceError("extension: digits only (e.g. 8001)")
    user = User(
        username=username,
        display_name=(display_name or "").strip() or username,
        extension=extension.strip() if extension else None,
        created_at=now,
    )
    user.set_password(password)
    user.set_roles(parsed)
    session.add(user)
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="user.create",
        object_type="user",
        object_id=user.id,
        detail={"roles": sorted(r.value for r in parsed)},
        now=now,
    )
    return user


def find_user(session: Session, name: str) -> User | None:
    """By user name (case-insensitive)."""
    return session.scalar(select(User).where(func.lower(User.username) == name.strip().lower()))


def find_user_by_name_or_display(session: Session, name: str) -> User | None:
    """A DMS file names a user by user name or display name; exactly one must match."""
    user = find_user(session, name)
    if user is not None:
        return user
    matches = session.scalars(select(User).where(User.display_name == name.strip())).all()
    return matches[0] if len(matches) == 1 else None


class LoginRefused(ServiceError):
    def __init__(self, reason: str, until: datetime | None = None):
        super().__init__(reason)
        self.reason = reason
        self.until = until


def authenticate(session: Session, username: str, password: str, *, now: datetime, ip: str | None) -> User:
    """Check a log-in; locks the account for a while after repeated failures.

    Raises LoginRefused("invalid" | "locked" | "inactive"). The same message is shown for
    an unknown user and a wrong password, so that names cannot be probed.
    """
    settings = load_settings(session)
    user = find_user(session, username)
    if user is None:
        audit.record(session, actor=username[:64] or "?", action="login.failed", detail={"reason": "unknown"}, now=now, ip=ip)
        raise LoginRefused("invalid")
    if user.locked_until is not None and user.locked_until > now:
        audit.record(session, actor=user.username, user_id=user.id, action="login.locked", now=now, ip=ip)
        raise LoginRefused("locked", user.locked_until)
    if not user.check_password(password):
        user.failed_logins += 1
        if user.failed_logins >= settings.login_max_failures:
            user.locked_until = now + timedelta(minutes=settings.login_lockout_minutes)
            user.failed_logins = 0
        audit.record(session, actor=user.username, user_id=user.id, action="login.failed", detail={"reason": "password"}, now=now, ip=ip)
        session.flush()
        if user.locked_until is not None and user.locked_until > now:
            raise LoginRefused("locked", user.locked_until)
        raise LoginRefused("invalid")
    if not user.active:
        raise LoginRefused("inactive")
    user.failed_logins = 0
    user.locked_until = None
    user.last_login_at = now
    audit.record(session, actor=user.username, user_id=user.id, action="login", now=now, ip=ip)
    session.flush()
    return user


def all_roles() -> list[Role]:
    return list(Role)

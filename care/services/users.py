"""Users, roles and log-in with throttling.

Every change is audited (action `user.*`, object `user:<id>`) under `actor`, who made it
(an administrator, or `Actor.CLI` for the command line).
"""

from __future__ import annotations

import gzip
import hashlib
import re
from datetime import datetime, timedelta
from pathlib import Path
from typing import NoReturn

from sqlalchemy import Select, and_, case, delete, func, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from care.domain import N_
from care.domain.roles import Role, parse_role
from care.models import User
from care.models.user import LoginThrottle, check_no_password
from care.services import Actor, ServiceError, audit
from care.services.settings import load_settings

USERNAME_RE = re.compile(r"^[A-Za-z0-9_.\-]{2,64}$")
EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")  # where overdue complaint notices go
EXTENSION_RE = re.compile(r"^[0-9*#+]{1,20}$")
MIN_PASSWORD = 10
MAX_PASSWORD = 256
COMMON_PASSWORDS = Path(__file__).with_name("common-passwords.txt.gz")
_COMMON: list[frozenset[str]] = []
MAX_DISPLAY_NAME = 120
LOCALES = ("zh_CN", "en")


def search_statement(q: str = "") -> Select:
    """Users whose name or display name contains ``q`` (any case) or whose extension is
    ``q``; all users when empty. Active ones first, then by user name."""
    query = select(User)
    if q:
        query = query.where(
            or_(
                func.lower(User.username).contains(q.lower(), autoescape=True),
                func.lower(User.display_name).contains(q.lower(), autoescape=True),
                User.extension == q,
            )
        )
    return query.order_by(User.active.desc(), func.lower(User.username))


def _roles(roles) -> list[Role]:
    parsed = []
    for r in roles or ():
        try:
            parsed.append(parse_role(str(r)))
        except ValueError:
            raise ServiceError(
                N_("unknown role “%(role)s”; roles: %(roles)s"),
                field="roles",
                role=str(r),
                roles=", ".join(x.value for x in Role),
            ) from None
    if not parsed:
        raise ServiceError(N_("choose at least one role"), field="roles")
    return sorted(set(parsed))


def _common_passwords() -> frozenset[str]:
    """The 20,000 most common passwords, lower-cased (Royce Williams' list, as shipped by
    Django: https://gist.github.com/roycewilliams/226886fd01572964e1431ac8afc999ce)."""
    if not _COMMON:
        with gzip.open(COMMON_PASSWORDS, "rt", encoding="utf-8") as fh:
            _COMMON.append(frozenset(line.strip() for line in fh if line.strip()))
    return _COMMON[0]


def _is_run(text: str) -> bool:
    """Each character one up (or one down) from the one before: 12345678, abcdefgh, 98765432."""
    steps = {ord(b) - ord(a) for a, b in zip(text, text[1:], strict=False)}
    return steps in ({1}, {-1})


def _check_password(password: str, *, username: str | None = None) -> None:
    """The rules of a new password: long enough, not one character or a short pattern
    repeated, not the user name, not a common password, not a run like 12345678."""
    password = password or ""
    if len(password) < MIN_PASSWORD:
        raise ServiceError(
            N_("the password needs at least %(count)s characters"), field="password", count=MIN_PASSWORD
        )
    if len(password) > MAX_PASSWORD:
        raise ServiceError(N_("the password may have at most %(count)s characters"), field="password", count=MAX_PASSWORD)
    lowered = password.lower()
    if any(len(password) % k == 0 and password == password[:k] * (len(password) // k) for k in (1, 2, 3)):
        raise ServiceError(N_("the password is one character repeated (or a few): too easy to guess"), field="password")
    name = (username or "").strip().lower()
    if name and name in lowered:
        raise ServiceError(N_("the password may not contain the user name"), field="password")
    if lowered in _common_passwords():
        raise ServiceError(N_("this password is too common: choose another"), field="password")
    if _is_run(lowered):
        raise ServiceError(N_("a run like 12345678 or abcdefgh is too easy to guess"), field="password")


def _extension(session: Session, extension: str | None, *, user_id: int | None) -> str | None:
    """Digits (and * # +) only, and not another user's: the provider rings it."""
    value = (extension or "").strip()
    if not value:
        return None
    if not EXTENSION_RE.match(value):
        raise ServiceError(N_("extension: digits only (e.g. 8001)"), field="extension")
    query = select(User).where(User.extension == value)
    if user_id is not None:
        query = query.where(User.id != user_id)
    other = session.scalar(query.limit(1))
    if other is not None:
        raise ServiceError(
            N_("extension %(extension)s belongs to %(user)s already"),
            field="extension",
            extension=value,
            user=other.username,
        )
    return value


def _display_name(text: str | None, fallback: str) -> str:
    value = (text or "").strip()
    if len(value) > MAX_DISPLAY_NAME:
        raise ServiceError(
            N_("the display name may have at most %(count)s characters"),
            field="display_name",
            count=MAX_DISPLAY_NAME,
        )
    return value or fallback


def create_user(
    session: Session,
    username: str,
    *,
    roles: list[str],
    password: str,
    extension: str | None = None,
    display_name: str | None = None,
    email: str | None = None,
    actor: Actor,
    now: datetime,
    password_rules: bool = True,
) -> User:
    """A new user. ``password_rules=False`` only for the demo, whose published password
    (demo1234) is below the rules."""
    username = (username or "").strip()
    if not USERNAME_RE.match(username):
        raise ServiceError(N_("user name: 2–64 letters, digits, “.”, “_” or “-”"), field="username")
    parsed = _roles(roles)
    if password_rules:
        _check_password(password, username=username)
    if find_user(session, username) is not None:
        raise ServiceError(N_("user “%(name)s” exists already"), field="username", name=username)
    email = _email(email)
    user = User(
        username=username,
        display_name=_display_name(display_name, username),
        extension=_extension(session, extension, user_id=None),
        email=email,
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
        detail={"username": user.username, "roles": [r.value for r in parsed]},
        now=now,
    )
    return user


def _email(value: str | None) -> str | None:
    """The user's own e-mail address (where the app's notices go), or None."""
    email = (value or "").strip() or None
    if email is not None and (len(email) > 254 or not EMAIL_RE.match(email)):
        raise ServiceError(N_("e-mail: “%(value)s” is not an e-mail address"), field="email", value=email[:80])
    return email


KEEP = object()  # update_user: leave the e-mail address as it is


def update_user(
    session: Session,
    user: User,
    *,
    display_name: str | None,
    roles: list[str],
    extension: str | None,
    locale: str | None,
    active: bool,
    email=KEEP,
    actor: Actor,
    now: datetime,
) -> dict[str, dict]:
    """Change a user's profile; returns {field: {"old", "new"}} of what changed.

    An administrator may not take the admin role from themselves nor deactivate
    themselves (they would lock themselves, and maybe everyone, out of this page).
    """
    parsed = _roles(roles)
    if locale not in (None, "", *LOCALES):
        raise ServiceError(N_("unknown language “%(locale)s”"), field="locale", locale=locale)
    if actor.user_id is not None and actor.user_id == user.id:
        if Role.ADMIN in user.roles and Role.ADMIN not in parsed:
            raise ServiceError(N_("you cannot remove your own administrator role"), field="roles")
        if user.active and not active:
            raise ServiceError(N_("you cannot deactivate your own account"), field="active")
    new = {
        "display_name": _display_name(display_name, user.username),
        "roles": [r.value for r in parsed],
        "extension": _extension(session, extension, user_id=user.id),
        "locale": locale or None,
        "active": bool(active),
        "email": user.email if email is KEEP else _email(email),
    }
    old = {
        "display_name": user.display_name,
        "roles": sorted(r.value for r in user.roles),
        "extension": user.extension,
        "locale": user.locale,
        "active": user.active,
        "email": user.email,
    }
    changes = {k: {"old": old[k], "new": v} for k, v in new.items() if old[k] != v}
    if not changes:
        return {}
    user.display_name = new["display_name"]
    user.set_roles(parsed)
    user.extension = new["extension"]
    user.locale = new["locale"]
    user.active = new["active"]
    user.email = new["email"]
    if not user.active:
        user.end_sessions()
    audit.record(
        session,
        actor=actor,
        action="user.update",
        object_type="user",
        object_id=user.id,
        detail=changes,
        now=now,
    )
    session.flush()
    return changes


def set_active(
    session: Session, user: User, active: bool, *, actor: Actor, now: datetime
) -> bool:
    """Activate or deactivate; returns whether anything changed. Not oneself."""
    if actor.user_id is not None and actor.user_id == user.id and not active:
        raise ServiceError(N_("you cannot deactivate your own account"), field="active")
    if user.active == bool(active):
        return False
    user.active = bool(active)
    if not active:
        user.end_sessions()
    audit.record(
        session,
        actor=actor,
        action="user.activate" if active else "user.deactivate",
        object_type="user",
        object_id=user.id,
        now=now,
    )
    session.flush()
    return True


def reset_password(
    session: Session, user: User, password: str, *, actor: Actor, now: datetime
) -> None:
    """Set a new password; also lifts a lock-out, so the user can log in with it at once.
    Every session of the user ends, and (unless they reset their own) the user must choose
    a password of their own at the next log-in: the administrator knows this one."""
    _check_password(password, username=user.username)
    user.set_password(password)
    user.end_sessions()
    user.must_change_password = actor.user_id is None or actor.user_id != user.id
    was_locked = user.locked_until is not None and user.locked_until > now
    user.failed_logins = 0
    user.locked_until = user.locked_at = None
    audit.record(
        session,
        actor=actor,
        action="user.password_reset",
        object_type="user",
        object_id=user.id,
        detail={"unlocked": True} if was_locked else None,
        now=now,
    )
    session.flush()


def change_password(
    session: Session, user: User, current: str, new: str, *, now: datetime, ip: str | None = None
) -> None:
    """A user changes their own password: the current one first. Every session of the user
    ends (the view logs the asking browser in again)."""
    if not user.check_password(current or ""):
        raise ServiceError(N_("the current password is wrong"), field="current_password")
    if new == current:
        raise ServiceError(N_("the new password must differ from the current one"), field="password")
    _check_password(new, username=user.username)
    user.set_password(new)
    user.end_sessions()
    user.must_change_password = False
    audit.record(
        session,
        actor=Actor.of(user, ip),
        action="user.password_change",
        object_type="user",
        object_id=user.id,
        now=now,
    )
    session.flush()


def unlock(
    session: Session, user: User, *, actor: Actor, now: datetime
) -> bool:
    """Lift a lock-out after failed log-ins; returns whether the user was locked."""
    was_locked = user.locked_until is not None and user.locked_until > now
    if not was_locked and not user.failed_logins and user.locked_until is None:
        return False
    user.locked_until = user.locked_at = None
    user.failed_logins = 0
    audit.record(
        session,
        actor=actor,
        action="user.unlock",
        object_type="user",
        object_id=user.id,
        now=now,
    )
    session.flush()
    return was_locked


def is_locked(user: User, now: datetime) -> bool:
    return user.locked_until is not None and user.locked_until > now


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


def record_logout(session: Session, user: User, *, now: datetime, ip: str | None = None) -> None:
    """The audit entry of a log-out; the user's sessions end (a copy of the cookie, and the
    sessions on other computers, no longer log in)."""
    user.end_sessions()
    audit.record(session, actor=Actor.of(user, ip), action="logout", now=now)
    session.flush()


def _refuse_unknown(session: Session, username: str, *, settings, now: datetime, ip: str | None) -> NoReturn:
    """A name that is no user is throttled like an account (table ``login_throttle``, keyed
    by a hash of the lower-cased name), so that after the same tries the answer is the same
    "locked" for every name: the lock-out does not tell which accounts exist. A password
    hash is checked too, so that the answer takes about as long."""
    check_no_password(username)
    key = hashlib.sha256(username.strip().lower().encode()).hexdigest()
    table = LoginThrottle.__table__
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    tries = session.execute(
        insert(table)
        .values(name_key=key, failures=1, last_failure_at=now)
        .on_conflict_do_update(
            index_elements=[table.c.name_key],
            set_={"failures": table.c.failures + 1, "last_failure_at": now},
            where=and_(
                or_(table.c.locked_until.is_(None), table.c.locked_until <= now),
                table.c.failures < settings.login_max_failures,
            ),
        )
        .returning(table.c.failures)
    ).scalar_one_or_none()
    lockout = timedelta(minutes=settings.login_lockout_minutes)
    # forget names not tried for a day after their lock-out
    session.execute(delete(table).where(table.c.last_failure_at < now - lockout - timedelta(days=1)))
    actor = Actor(username[:64] or "?", ip=ip)
    if tries is None:
        until = session.scalar(select(table.c.locked_until).where(table.c.name_key == key))
        if until is None or until <= now:
            until = now + lockout
        audit.record(session, actor=actor, action="login.locked", detail={"reason": "unknown"}, now=now)
        raise LoginRefused("locked", until)
    audit.record(session, actor=actor, action="login.failed", detail={"reason": "unknown"}, now=now)
    if tries >= settings.login_max_failures:
        until = now + lockout
        session.execute(update(table).where(table.c.name_key == key).values(locked_until=until, failures=0))
        raise LoginRefused("locked", until)
    raise LoginRefused("invalid")


def authenticate(session: Session, username: str, password: str, *, now: datetime, ip: str | None) -> User:
    """Check a log-in; locks the account for a while after repeated failures.

    Raises LoginRefused("invalid" | "locked" | "inactive"). The same message is shown for
    an unknown user and a wrong password, so that names cannot be probed.

    Each password check first claims one try with a single ``UPDATE … SET failed_logins =
    failed_logins + 1 WHERE not locked AND failed_logins < limit RETURNING``: concurrent
    log-ins cannot all read the same count, so at most ``login_max_failures`` passwords
    are checked before the lock (the row stays locked by the statement until the
    request's commit, which also orders the tries of one account). A right password
    gives its try back.

    The lock keeps the count (and stamps ``locked_at``), so that the administrator's user
    page shows how many tries failed and when the lock began; the first try after the
    lock-out has run out starts the count again at 1 (the same UPDATE clears the lock).
    """
    settings = load_settings(session)
    user = find_user(session, username)
    if user is None:
        _refuse_unknown(session, username, settings=settings, now=now, ip=ip)
    users = User.__table__
    lock_over = users.c.locked_until.is_not(None)  # with the WHERE below: a lock-out that has run out
    tries = session.execute(
        update(users)
        .where(
            users.c.id == user.id,
            or_(users.c.locked_until.is_(None), users.c.locked_until <= now),
            or_(users.c.failed_logins < settings.login_max_failures, lock_over),
        )
        .values(
            failed_logins=case((lock_over, 1), else_=users.c.failed_logins + 1),
            locked_until=None,
            locked_at=None,
        )
        .returning(users.c.failed_logins)
    ).scalar_one_or_none()
    session.expire(user, ["failed_logins", "locked_until", "locked_at"])
    if tries is None:  # locked, or the last tries are being checked right now
        until = user.locked_until
        if until is None or until <= now:
            until = now + timedelta(minutes=settings.login_lockout_minutes)
        audit.record(session, actor=Actor.of(user, ip), action="login.locked", now=now)
        raise LoginRefused("locked", until)
    if not user.check_password(password):
        locked = tries >= settings.login_max_failures
        if locked:
            until = now + timedelta(minutes=settings.login_lockout_minutes)
            # The count stays (the user page shows it) until the next try after the lock-out.
            session.execute(update(users).where(users.c.id == user.id).values(locked_until=until, locked_at=now))
            session.expire(user, ["locked_until", "locked_at"])
        audit.record(session, actor=Actor.of(user, ip), action="login.failed", detail={"reason": "password"}, now=now)
        session.flush()
        if locked:
            raise LoginRefused("locked", until)
        raise LoginRefused("invalid")
    if not user.active:
        session.execute(update(users).where(users.c.id == user.id).values(failed_logins=users.c.failed_logins - 1))
        session.expire(user, ["failed_logins"])
        audit.record(session, actor=Actor.of(user, ip), action="login.failed", detail={"reason": "inactive"}, now=now)
        raise LoginRefused("inactive")
    user.failed_logins = 0
    user.locked_until = user.locked_at = None
    user.last_login_at = now
    audit.record(session, actor=Actor.of(user, ip), action="login", now=now)
    session.flush()
    return user


def all_roles() -> list[Role]:
    return list(Role)

"""Rule parameters: stored overrides over the defaults of care/domain/settings.py."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from care.domain.settings import SETTINGS, SettingError, Settings, check_consistency, definition
from care.models import Setting
from care.services import Actor, audit

# session.info: how many times set_settings ran in this session, so that a cache of the
# settings (care.web.request_settings) knows to read them again.
SETTINGS_VERSION = "care_settings_version"


def load_settings(session: Session) -> Settings:
    texts = {row.key: row.value for row in session.scalars(select(Setting))}
    return Settings.from_texts(texts)


def stored_texts(session: Session) -> dict[str, Setting]:
    return {row.key: row for row in session.scalars(select(Setting))}


def set_settings(
    session: Session,
    changes: dict[str, str],
    *,
    actor: Actor,
    now: datetime,
) -> dict[str, tuple[str, str]]:
    """Validate and store several settings at once; returns {key: (old, new)} changed.

    Raises SettingError with `key` set on the exception for the first bad value; nothing is
    stored when any value (or the combination) is invalid.
    """
    current = load_settings(session).as_dict()
    rows = stored_texts(session)
    canonical: dict[str, str] = {}
    for key, text in changes.items():
        sdef = definition(key)
        try:
            value = sdef.parse(text)
        except SettingError as exc:
            exc.key = key
            raise
        current[key] = value
        canonical[key] = sdef.kind.fmt(value)
    try:
        check_consistency(current)
    except SettingError as exc:
        exc.key = None
        raise
    changed: dict[str, tuple[str, str]] = {}
    for key, text in canonical.items():
        sdef = definition(key)
        old_row = rows.get(key)
        old = old_row.value if old_row else sdef.kind.fmt(sdef.default_value)
        if old == text:
            continue
        if old_row is None:
            session.add(Setting(key=key, value=text, updated_by=actor.name, updated_at=now))
        else:
            old_row.value, old_row.updated_by, old_row.updated_at = text, actor.name, now
        changed[key] = (old, text)
    if changed:
        audit.record(
            session,
            actor=actor,
            action="settings.update",
            object_type="settings",
            detail={k: {"old": o, "new": n} for k, (o, n) in changed.items()},
            now=now,
        )
    session.flush()
    session.info[SETTINGS_VERSION] = session.info.get(SETTINGS_VERSION, 0) + 1
    return changed


def describe(session: Session) -> list[dict]:
    """Every setting with its value, default and who changed it last (for page and CLI)."""
    values = load_settings(session)
    rows = stored_texts(session)
    out = []
    for sdef in SETTINGS:
        row = rows.get(sdef.key)
        out.append(
            {
                "key": sdef.key,
                "value": sdef.kind.fmt(values[sdef.key]),
                "default": sdef.kind.fmt(sdef.default_value),
                "kind": sdef.kind.name,
                "group": sdef.group,
                "label": sdef.label,
                "rule": sdef.rule,
                "unit": sdef.unit,
                "updated_by": row.updated_by if row else None,
                "updated_at": row.updated_at.isoformat() if row else None,
            }
        )
    return out

"""Stored settings: canonical storage, all-or-nothing updates, audit, fallbacks."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from care.domain.settings import SETTINGS, SettingError
from care.models import AuditLog, Setting
from care.services import Actor
from care.services.settings import describe, load_settings, set_settings

NOW = datetime(2026, 5, 4, 2, 0, tzinfo=UTC)


def _set(session, changes, actor="alice", user_id=None):
    return set_settings(session, changes, actor=Actor(actor, user_id), now=NOW)


def test_defaults_without_rows(session):
    s = load_settings(session)
    assert s.attempts_max == 3 and s.dealer_city == "成都"
    assert session.scalars(select(Setting)).all() == []


def test_set_stores_canonical_text_and_audits(session):
    changed = _set(session, {"workday_start": "8:00", "insurance_sample_rate": "70%", "dealer_city": "重庆"})
    assert changed == {
        "workday_start": ("08:30", "08:00"),
        "insurance_sample_rate": ("0.6", "0.7"),
        "dealer_city": ("成都", "重庆"),
    }
    rows = {r.key: r for r in session.scalars(select(Setting))}
    assert rows["workday_start"].value == "08:00"
    assert rows["insurance_sample_rate"].value == "0.7"
    assert rows["dealer_city"].updated_by == "alice" and rows["dealer_city"].updated_at == NOW
    entry = session.scalars(select(AuditLog).where(AuditLog.action == "settings.update")).one()
    assert entry.actor == "alice"
    assert entry.detail["workday_start"] == {"old": "08:30", "new": "08:00"}
    assert load_settings(session).insurance_sample_rate == pytest.approx(0.7)


def test_unchanged_values_store_and_audit_nothing(session):
    assert _set(session, {"workday_start": "08:30", "attempts_max": "3"}) == {}
    assert session.scalars(select(Setting)).all() == []
    assert session.scalars(select(AuditLog)).all() == []


def test_a_bad_value_stores_nothing_and_names_its_key(session):
    with pytest.raises(SettingError) as info:
        _set(session, {"dealer_city": "重庆", "attempts_max": "lots"})
    assert info.value.key == "attempts_max"
    assert session.scalars(select(Setting)).all() == []


def test_a_consistency_error_stores_nothing(session):
    with pytest.raises(SettingError) as info:
        _set(session, {"dealer_city": "重庆", "first_service_open_months": "3"})
    assert info.value.key is None
    assert info.value.keys == ("first_service_open_months", "first_service_deadline_months")
    assert session.scalars(select(Setting)).all() == []


def test_consistency_is_checked_against_stored_values(session):
    _set(session, {"first_service_deadline_months": "6"})
    _set(session, {"first_service_open_months": "5"})  # fine: below the stored 6
    with pytest.raises(SettingError):
        _set(session, {"first_service_deadline_months": "5"})


def test_unknown_key_is_refused(session):
    with pytest.raises(SettingError, match="unknown setting"):
        _set(session, {"nope": "1"})


def test_setting_back_to_default_updates_the_row(session):
    _set(session, {"attempts_max": "4"})
    assert _set(session, {"attempts_max": "3"}, actor="bob") == {"attempts_max": ("4", "3")}
    row = session.get(Setting, "attempts_max")
    assert row.value == "3" and row.updated_by == "bob"


def test_garbage_in_the_database_falls_back_to_the_default(session):
    session.add(Setting(key="attempts_max", value="many", updated_at=NOW))
    session.add(Setting(key="retired_key", value="x", updated_at=NOW))
    session.flush()
    assert load_settings(session).attempts_max == 3
    # and it can be repaired
    assert _set(session, {"attempts_max": "3"}) == {"attempts_max": ("many", "3")}


def test_describe_lists_every_setting_with_its_history(session):
    _set(session, {"dealer_city": "重庆"}, actor="carol")
    rows = {r["key"]: r for r in describe(session)}
    assert set(rows) == {s.key for s in SETTINGS}
    assert rows["dealer_city"]["value"] == "重庆" and rows["dealer_city"]["default"] == "成都"
    assert rows["dealer_city"]["updated_by"] == "carol"
    assert datetime.fromisoformat(rows["dealer_city"]["updated_at"]) == NOW
    assert rows["attempts_max"]["updated_by"] is None and rows["attempts_max"]["kind"] == "int"

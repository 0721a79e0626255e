"""Who acted (care.services.Actor) and the audit entry that records it."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from care.services import Actor, audit
from tests import factories

NOW = datetime(2026, 5, 4, 2, 0, tzinfo=UTC)


def test_the_non_person_actors_keep_their_stored_names():
    # audit_log.actor, generation_run.actor and import_run.actor hold these names
    assert (Actor.CLI.name, Actor.SCHEDULER.name, Actor.SYSTEM.name) == ("cli", "scheduler", "system")
    assert Actor.CLI.user_id is None and Actor.CLI.ip is None


def test_an_actor_is_a_value():
    assert Actor("cli") == Actor.CLI and hash(Actor("cli")) == hash(Actor.CLI)
    assert Actor.SYSTEM.at("10.0.0.1") == Actor("system", None, "10.0.0.1")
    with pytest.raises(AttributeError):
        Actor.CLI.name = "other"  # type: ignore[misc]


def test_record_writes_the_name_the_user_id_and_the_address(session):
    user = factories.make_user(session, "admin", username="root")
    actor = Actor.of(user, ip="10.1.2.3")
    assert actor == Actor("root", user.id, "10.1.2.3")
    entry = audit.record(session, actor=actor, action="probe", object_type="user", object_id=user.id, now=NOW)
    session.flush()
    assert (entry.actor, entry.user_id, entry.ip, entry.object_id) == ("root", user.id, "10.1.2.3", str(user.id))
    cli = audit.record(session, actor=Actor.CLI, action="probe", now=NOW)
    assert (cli.actor, cli.user_id, cli.ip) == ("cli", None, None)


def test_entries_filter_one_action_a_group_or_a_prefix(session):
    """Issue 10: the page's filter chooses one action (exact), a group ("login.*") or, typed
    by hand, a prefix with its sub-actions."""
    for action in ("login", "login.failed", "login.locked", "logout", "user.create"):
        audit.record(session, actor=Actor("x"), action=action, now=NOW)
    session.flush()

    def actions(**kw):
        return sorted(e.action for e in audit.entries(session, limit=50, **kw))

    assert actions(action="login", exact=True) == ["login"]
    assert actions(action="login") == ["login", "login.failed", "login.locked"]
    assert actions(action="login.*") == ["login", "login.failed", "login.locked"]
    assert actions(action="login.*", exact=True) == ["login", "login.failed", "login.locked"]
    assert actions(action="user") == ["user.create"]
    assert actions(action="log") == []  # a prefix ends at a dot


def test_named_objects_skips_what_is_not_an_id(session):
    user = factories.make_user(session, "admin")
    entries = [
        audit.record(session, actor=Actor("x"), action="user.update", object_type="user", object_id=user.id, now=NOW),
        audit.record(session, actor=Actor("x"), action="user.update", object_type="user", object_id="9" * 12, now=NOW),
        audit.record(session, actor=Actor("x"), action="script.save", object_type="script", object_id="birthday", now=NOW),
        audit.record(session, actor=Actor("x"), action="task.reassign", object_type="care_task", object_id=77,
                     detail={"from": None, "to": "x"}, now=NOW),
    ]
    session.flush()
    found = audit.named_objects(session, entries)
    assert set(found.users) == {user.id} and found.tasks == {} and found.customers == {}

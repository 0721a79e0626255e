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

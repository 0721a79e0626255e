"""The script of a contact's call (care.services.scripts.contact_script, merge_contexts):
the same merge values as one task at a time, read in a fixed number of queries."""

from __future__ import annotations

from datetime import UTC, date, datetime

from sqlalchemy import event

from care.extensions import db
from care.models.types import utcnow
from care.services import scripts as svc
from tests.factories import (
    make_customer,
    make_delivery,
    make_policy,
    make_task,
    make_user,
    make_vehicle,
    make_visit,
)

NOW = datetime(2026, 5, 11, 2, 0, tzinfo=UTC)


def world(session, n_vehicles=2):
    me = make_user(session, "specialist", display_name="客服 小张")
    c = make_customer(session, name="王伟")
    vehicles = [make_vehicle(session, c, consultant_id=make_user(session, "consultant").id) for _ in range(n_vehicles)]
    visits = [make_visit(session, v, date=date(2026, 3, 1)) for v in vehicles]
    policy = make_policy(session, vehicles[0], insurer="平安")
    delivery = make_delivery(session, vehicles[1])
    tasks = [
        make_task(session, c, assignee=me, vehicle_id=vehicles[0].id, type="first_service"),
        make_task(session, c, assignee=me, vehicle_id=vehicles[0].id, type="insurance_renewal", policy_id=policy.id),
        make_task(session, c, assignee=me, vehicle_id=vehicles[1].id, type="service_callback", visit_id=visits[1].id),
        make_task(session, c, assignee=me, vehicle_id=vehicles[1].id, type="delivery_call", delivery_id=delivery.id),
        make_task(session, c, assignee=me, type="birthday"),  # no vehicle: the customer's first
    ]
    return me, tasks


def test_merge_contexts_are_merge_context_of_each_task(session):
    me, tasks = world(session)
    together = svc.merge_contexts(session, tasks, user=me, now=NOW)
    for task in tasks:
        assert together[task.id] == svc.merge_context(session, task, user=me, now=NOW), task.type


def test_contact_script_assembles_and_renders_each_part_for_its_task(session):
    me, tasks = world(session)
    first, insurance = tasks[0], tasks[1]
    svc.save_version(session, "first_service", title="首保", body="【问候】{salutation}，您好！我是{specialist_name}。\n"
                     "【首保】{plate}首保截止{due_date}。\n【结束语】再见。", note=None, user=None, now=utcnow())  # fmt: skip
    svc.save_version(session, "insurance_renewal", title="续保", body="【问候】保险问候\n【续保】{insurer}的保单到期{policy_expiry}。"
                     "\n【结束语】保险再见", note=None, user=None, now=utcnow())  # fmt: skip
    script = svc.contact_script(session, [first, insurance, tasks[2]], user=me, now=NOW)
    assert script.greeting == "【问候】王伟车主，您好！我是客服 小张。"
    assert script.closing == "【结束语】再见。"
    parts = {p.task.id: p for p in script.parts}
    assert parts[first.id].text.startswith("【首保】") and "截止" in parts[first.id].text
    assert parts[insurance.id].text.startswith("【续保】平安的保单到期")
    assert parts[tasks[2].id].version is None and parts[tasks[2].id].text == ""
    assert script.version_for(insurance.id) == svc.current_version(session, "insurance_renewal")
    assert svc.contact_script(session, [], user=me, now=NOW).parts == []


def test_contact_script_reads_a_fixed_number_of_queries(session):
    """Two tasks or five (of two vehicles, one with a delivery): the same statements."""
    counts = []
    for n in (2, 5):
        me, tasks = world(session)
        session.flush()
        session.expire_all()
        tasks = [session.get(type(t), t.id) for t in (tasks[3], *tasks[:3], tasks[4])][:n]
        for t in tasks:  # what the contact page has loaded before: the task rows, their vehicles
            _ = (t.customer.vehicles, t.vehicle, t.assignee)
        seen: list[str] = []

        def listen(conn, cursor, statement, *args, seen=seen):
            seen.append(statement)

        event.listen(db.engine, "before_cursor_execute", listen)
        try:
            svc.contact_script(session, tasks, user=me, now=NOW)
        finally:
            event.remove(db.engine, "before_cursor_execute", listen)
        counts.append(len(seen))
    assert counts[0] == counts[1], counts

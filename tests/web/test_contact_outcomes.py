"""The contact's outcome panel (care/web/contact.py outcomes): a row per task, every row
posted at once in one transaction, each with its own script version; the assembled
script; a constant number of statements whatever the number of tasks (issue 10 item 1)."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import event, select

from care.extensions import db
from care.models import Appointment, AuditLog, CareTask, Customer, TaskOutcome
from care.models.types import utcnow
from care.services import scripts as script_service
from tests.factories import (
    make_attempt,
    make_customer,
    make_policy,
    make_task,
    make_user,
    make_vehicle,
    make_visit,
)

HX = {"HX-Request": "true", "Accept-Language": "en"}
EN = {"Accept-Language": "en"}
MORNING = datetime(2026, 5, 11, 2, 0, tzinfo=UTC)  # 10:00 Shanghai
KINDS = ("first_service", "inspection", "warranty_expiry")


@pytest.fixture
def world(app, login_as):
    """A specialist; a customer with three open tasks of theirs; scripts for two types."""
    app.config["CARE_NOW"] = MORNING.isoformat()
    me = login_as("specialist", username="spec", display_name="客服 小张")
    with app.app_context():
        s = db.session
        c = make_customer(s, name="韩梅梅", mobile="+8613800138000")
        v = make_vehicle(s, c, plate="川A20002", model="迈腾")
        tasks = [make_task(s, c, assignee=me, vehicle_id=v.id, type=kind) for kind in KINDS]
        versions = {}
        for kind, body in [
            ("first_service", "【问候】{salutation}，您好！\n【首保】{plate}该做首保了。\n【结束语】首保再见。"),
            ("inspection", "【问候】年检问候。\n【年检】{plate}年检快到期了。\n【结束语】年检再见。"),
        ]:
            script_service.save_version(s, kind, title=f"{kind}话术", body=body, note=None, user=None, now=utcnow())
            script_service.save_version(s, kind, title=f"{kind}话术", body=body + "\n（v2）", note=None, user=None,
                                        now=utcnow())  # fmt: skip
            versions[kind] = script_service.current_version(s, kind).id
        s.commit()
        return {"me": me.id, "customer": c.id, "vehicle": v.id, "tasks": [t.id for t in tasks], "versions": versions}


def url(world) -> str:
    return f"/tasks/contact/{world['customer']}/outcomes"


def row(task_id: int, **fields) -> dict:
    return {f"t{task_id}-{k}": v for k, v in fields.items()}


def outcomes(app) -> list[TaskOutcome]:
    with app.app_context():
        return list(db.session.scalars(select(TaskOutcome).order_by(TaskOutcome.id)))


def statuses(app, ids) -> list[str]:
    with app.app_context():
        return [db.session.get(CareTask, i).status for i in ids]


def test_one_script_greets_once_and_closes_once(client, world):
    html = client.get(f"/tasks/contact/{world['customer']}", headers=EN).get_data(as_text=True)
    assert html.count("【问候】") == 1 and "韩梅梅车主，您好！" in html and "年检问候" not in html
    assert html.count("【结束语】") == 1 and "首保再见" in html and "年检再见" not in html
    assert "川A20002该做首保了" in html and "川A20002年检快到期了" in html
    assert html.index("该做首保了") < html.index("年检快到期了")  # the most urgent first
    assert html.count("version 2") == 2
    assert "No script for this task type yet." in html  # the warranty task has none
    first, inspection, warranty = world["tasks"]
    assert f'name="t{first}-script_version_id" value="{world["versions"]["first_service"]}"' in html
    assert f'name="t{inspection}-script_version_id" value="{world["versions"]["inspection"]}"' in html
    assert f'name="t{warranty}-script_version_id" value=""' in html


def test_the_script_greets_from_a_task_the_call_counts_for(app, client, world):
    """The most urgent task's window closed (a birthday of last month, say): the call does
    not count for it, so its greeting and closing are not the call's."""
    first = world["tasks"][0]
    with app.app_context():
        s = db.session
        make_attempt(s, s.get(CareTask, first), user_id=world["me"], status="busy", outcome="busy", rank=4,
                     slot="morning", started_at=MORNING - timedelta(days=4))  # fmt: skip
        s.commit()
    html = client.get(f"/tasks/contact/{world['customer']}", headers=EN).get_data(as_text=True)
    assert "年检问候" in html and "韩梅梅车主，您好！" not in html
    assert "年检再见" in html and "首保再见" not in html
    assert html.index("年检快到期了") < html.index("该做首保了")  # what the call is for first
    part = html[html.index(f'id="script-{first}"') :]
    assert "not called now" in part[: part.index("</h3>")]


def test_all_rows_are_recorded_at_once_each_with_its_script_version(app, client, world):
    first, inspection, warranty = world["tasks"]
    r = client.post(url(world), headers=HX, data={
        **row(first, outcome="will_come", script_version_id=world["versions"]["first_service"]),
        **row(inspection, outcome="declined", **{"declined-reason": "刚做过"},
              script_version_id=world["versions"]["inspection"]),
        **row(warranty, outcome="serviced_elsewhere", **{"serviced_elsewhere-shop": "路边店",
              "serviced_elsewhere-location": "高新区", "serviced_elsewhere-price": "300"}, script_version_id=""),
    })  # fmt: skip
    assert r.status_code == 200, r.get_data(as_text=True)[:800]
    # the event tells the panel that fired it not to reload over its own "Recorded: …"
    assert json.loads(r.headers["HX-Trigger"])["tasks-changed"]["outcomes"] is True
    assert "tasks-changed[!(detail &amp;&amp; detail.outcomes)" in r.get_data(as_text=True)
    rows = {o.task_id: o for o in outcomes(app)}
    assert rows[first].outcome == "will_come" and rows[first].script_version_id == world["versions"]["first_service"]
    assert rows[inspection].script_version_id == world["versions"]["inspection"]
    assert rows[warranty].script_version_id is None and rows[warranty].detail["shop"] == "路边店"
    assert statuses(app, world["tasks"]) == ["done", "done", "done"]
    html = r.get_data(as_text=True)
    assert html.lstrip().startswith('<section id="contact-outcomes"')
    assert "Recorded: First service: Will come; Annual inspection: Declined; Warranty expiry: Checked elsewhere." in html
    assert 'class="contact-done"' in html and "Back to the worklist" in html  # and the next contact, when there
    assert 'id="outcomes-form"' not in html


def test_rows_without_an_outcome_are_left_alone(app, client, world):
    first, inspection, warranty = world["tasks"]
    r = client.post(url(world), headers=HX, data={
        **row(first, outcome="declined", **{"declined-reason": "不需要"}), **row(inspection, outcome=""),
        **row(warranty, outcome="", note="还没谈到"),
    })  # fmt: skip
    assert r.status_code == 200
    assert [o.task_id for o in outcomes(app)] == [first]
    assert statuses(app, world["tasks"]) == ["done", "open", "open"]
    html = r.get_data(as_text=True)
    assert f'name="t{first}-outcome"' not in html and f'name="t{inspection}-outcome"' in html
    assert "Back to the worklist" not in html


def test_no_outcome_chosen_is_422(client, world):
    r = client.post(url(world), headers=HX, data=row(world["tasks"][0], outcome=""))
    assert r.status_code == 422 and "Choose an outcome for at least one task." in r.get_data(as_text=True)


def test_one_invalid_row_records_nothing_and_keeps_every_row_s_input(app, client, world):
    first, inspection, warranty = world["tasks"]
    r = client.post(url(world), headers=HX, data={
        **row(first, outcome="declined", **{"declined-reason": "太远了"}, note="第一行的备注"),
        **row(inspection, outcome="serviced_elsewhere", **{"serviced_elsewhere-location": "武侯区"}),
        **row(warranty, outcome="will_come"),
    })  # fmt: skip
    assert r.status_code == 422
    assert outcomes(app) == [] and statuses(app, world["tasks"]) == ["open", "open", "open"]
    html = r.get_data(as_text=True)
    assert "Nothing was recorded: 1 row needs your attention" in html
    assert re.search(rf'name="t{first}-outcome" value="declined" checked', html)  # the valid row kept
    assert 'value="太远了"' in html and "第一行的备注" in html
    assert re.search(rf'name="t{warranty}-outcome" value="will_come" checked', html)
    bad = html[html.index(f'id="orow-{inspection}"') : html.index(f'id="orow-{warranty}"')]
    assert "has-error" in html[html.index(f'id="orow-{inspection}"') - 60 : html.index(f'id="orow-{inspection}"')]
    assert 'value="武侯区"' in bad and "Fill in this field." in bad
    assert html.count("Fill in this field.") == 2  # shop and price of that row only


def test_a_plain_post_goes_back_to_the_contact_and_a_plain_422_shows_the_page(app, client, world):
    first, inspection, _w = world["tasks"]
    r = client.post(url(world), headers=EN, data=row(first, outcome="declined", **{"declined-reason": "忙"}))
    assert r.status_code == 303 and r.headers["Location"].endswith(f"/tasks/contact/{world['customer']}")
    assert "Recorded: First service: Declined." in client.get(r.headers["Location"], headers=EN).get_data(as_text=True)
    r = client.post(url(world), headers=EN, data=row(inspection, outcome="serviced_elsewhere"))
    assert r.status_code == 422
    html = r.get_data(as_text=True)
    assert "<html" in html and "Fill in this field." in html
    with app.app_context():  # the page shown again is a view of the customer: audited
        views = db.session.scalars(select(AuditLog).where(AuditLog.action == "customer.view")).all()
        assert len(views) == 2  # the page after the 303, the page with the errors


def test_a_row_closed_meanwhile_is_409_and_shown_closed(app, client, world):
    first, inspection, _w = world["tasks"]
    with app.app_context():
        t = db.session.get(CareTask, first)
        t.status, t.outcome = "done", "declined"
        db.session.commit()
    r = client.post(url(world), headers=HX, data={
        **row(first, outcome="will_come"), **row(inspection, outcome="declined", **{"declined-reason": "忙"}),
    })  # fmt: skip
    assert r.status_code == 409
    html = r.get_data(as_text=True)
    assert "closed already" in html and f'id="orow-{first}"' in html
    assert re.search(rf'name="t{inspection}-outcome" value="declined" checked', html)
    assert outcomes(app) == []


def test_a_colleague_s_row_is_read_only_and_refused(app, client, world):
    with app.app_context():
        s = db.session
        other = make_user(s, "specialist", display_name="Colleague Li")
        theirs = make_task(s, s.get(Customer, world["customer"]), assignee=other, type="maintenance").id
        s.commit()
    html = client.get(f"/tasks/contact/{world['customer']}", headers=EN).get_data(as_text=True)
    assert f'id="orow-{theirs}"' in html and f'name="t{theirs}-outcome"' not in html
    assert html.index(f'id="orow-{world["tasks"][-1]}"') < html.index(f'id="orow-{theirs}"')  # own rows first
    r = client.post(url(world), headers=HX, data={
        **row(world["tasks"][0], outcome="declined", **{"declined-reason": "忙"}),
        **row(theirs, outcome="declined", **{"declined-reason": "忙"}),
    })  # fmt: skip
    assert r.status_code == 403 and outcomes(app) == []
    assert "assigned to someone else" in r.get_data(as_text=True)


def test_a_task_of_another_customer_is_refused(app, client, world):
    with app.app_context():
        stranger = make_task(db.session, make_customer(db.session), assignee_id=world["me"]).id
        db.session.commit()
    r = client.post(url(world), headers=HX, data=row(stranger, outcome="declined"))
    assert r.status_code == 422 and "is not one of this customer" in r.get_data(as_text=True)
    assert outcomes(app) == []


def test_will_come_books_from_its_row(app, client, world):
    first = world["tasks"][0]
    day = (MORNING + timedelta(days=3)).date().isoformat()
    r = client.post(url(world), headers=HX, data=row(
        first, outcome="will_come", appointment_date=day, appointment_time="10:00", appointment_kind="first_service",
        appointment_vehicle=str(world["vehicle"]), appointment_notes="带保养手册",
    ))  # fmt: skip
    if r.status_code == 422:  # the booking checks the real date: book on a day after today
        day = (datetime.now(UTC) + timedelta(days=3)).date().isoformat()
        r = client.post(url(world), headers=HX, data=row(
            first, outcome="will_come", appointment_date=day, appointment_time="10:00",
            appointment_kind="first_service", appointment_vehicle=str(world["vehicle"]),
        ))  # fmt: skip
    assert r.status_code == 200, r.get_data(as_text=True)[:600]
    with app.app_context():
        a = db.session.scalar(select(Appointment))
        assert a.task_id == first and a.date.isoformat() == day
    assert outcomes(app)[0].detail == {"appointment_id": a.id}


def test_the_panel_fragment(client, world):
    r = client.get(url(world), headers=HX)
    html = r.get_data(as_text=True)
    assert r.status_code == 200 and html.lstrip().startswith('<section id="contact-outcomes"') and "<html" not in html
    assert "!document.querySelector('#contact-outcomes [data-skip]:not(:checked)')" in html  # reloads only while nothing is chosen
    r = client.get(url(world), headers=EN)
    assert r.status_code == 302 and r.headers["Location"].endswith(f"/tasks/contact/{world['customer']}")
    assert client.get("/tasks/contact/999999/outcomes", headers=HX).status_code == 404
    assert client.post("/tasks/contact/999999/outcomes", headers=HX).status_code == 404


def test_once_every_row_has_its_outcome_the_next_contact_is_offered(app, client, world):
    data = {}
    for task_id in world["tasks"]:
        data.update(row(task_id, outcome="declined", **{"declined-reason": "不需要"}))
    html = client.post(url(world) + "?type=first_service", headers=HX, data=data).get_data(as_text=True)
    assert 'class="contact-done"' in html and "data-next-contact" in html
    assert f'href="/tasks/next?type=first_service&amp;after={world["customer"]}"' in html  # the list's filter kept
    assert "Back to the worklist" in html


def test_not_reached_leaves_the_task_open_and_offers_the_next_contact_all_the_same(app, client, world):
    """No answer: the outcome is recorded, the task waits for its next slot, and the
    specialist moves on to the next contact (issue 10 item 3)."""
    data = {}
    for task_id in world["tasks"]:
        data.update(row(task_id, outcome="not_reached"))
    html = client.post(url(world), headers=HX, data=data).get_data(as_text=True)
    assert statuses(app, world["tasks"]) == ["open"] * 3
    assert 'class="contact-done"' not in html and "data-next-contact" in html
    assert 'id="outcomes-form"' in html  # the rows stay, for a later slot


def test_before_anything_is_recorded_no_next_contact_is_offered(client, world):
    html = client.get(url(world), headers=HX).get_data(as_text=True)
    assert "data-next-contact" not in html


# --- a constant number of statements --------------------------------------------------


def count_statements(app, client, customer_id) -> int:
    with app.app_context():
        engine = db.engine
    seen: list[str] = []

    def listen(conn, cursor, statement, *args):
        seen.append(statement)

    event.listen(engine, "before_cursor_execute", listen)
    try:
        r = client.get(f"/tasks/contact/{customer_id}", headers=EN)
    finally:
        event.remove(engine, "before_cursor_execute", listen)
    assert r.status_code == 200
    import os
    if os.environ.get("SHOW_STATEMENTS"):
        print("\n".join(x.split("\n")[0][:150] for x in seen))
    return len(seen)


def test_the_contact_page_runs_the_same_statements_for_one_reason_or_three(app, client, world, login_as):
    """The page's statements do not grow with the tasks: scripts, merge values, attempts,
    appointments and plans are read once for all of them."""
    with app.app_context():
        s = db.session
        spec_id = world["me"]
        counts = {}
        customers = {}
        for n in (1, 3):
            c = make_customer(s, name=f"客户{n}")
            v1 = make_vehicle(s, c, consultant_id=make_user(s, "consultant").id)
            v2 = make_vehicle(s, c)
            for v in (v1, v2):
                make_visit(s, v)
                make_policy(s, v)
            for i, kind in enumerate(("first_service", "inspection", "insurance_renewal")[:n]):
                task = make_task(s, c, assignee_id=spec_id, vehicle_id=(v1, v2)[i % 2].id, type=kind)
                make_attempt(s, task, user_id=spec_id, status="busy", outcome="busy", rank=4, started_at=MORNING - timedelta(days=1))
            customers[n] = c.id
        s.commit()
    for n, cid in customers.items():
        count_statements(app, client, cid)  # warm the caches (settings, templates)
        counts[n] = count_statements(app, client, cid)
    assert counts[1] == counts[3], counts

"""Role × URL × owner: the object routes tried by the object's owner, by another user of
the same role, by another calling role and by the managers, each expecting one exact
status (issue 9, items 1-3; the rules are care/domain/access.py).

tests/web/test_access_matrix.py decides who may open a route at all (by role); this
module decides, for the object the route names, who may see or act on it:

- a task (call, outcome, booking from it): its assignee, anyone while it is unassigned,
  a care manager; a closed task is refused to all (409; calling answers 422 CLOSED);
- a call's panel and recording: its caller, its task's assignee, a manager;
- a customer's number: a care manager, or a caller whose blocked task waits for it.

Refusals are 403 (existence is not hidden: the role check answers 403 for the same URLs
to other roles). The data and log-ins are made once per module; every request leaves
the others' answers unchanged (empty forms; refusals write nothing).
"""

from __future__ import annotations

from datetime import date, time

import pytest
from flask import url_for

from care.extensions import db
from care.models import Appointment
from care.models.types import utcnow
from care.services import surveys
from tests import factories

# Who asks. The owner is a specialist; "peer" another specialist; "consultant" another
# calling role; the managers.
OWNER, PEER, CONSULTANT = "owner", "peer", "consultant"
CARE_MANAGER, GENERAL_MANAGER, SALES_MANAGER = "care_manager", "general_manager", "sales_manager"
WHO = {
    OWNER: "specialist",
    PEER: "specialist",
    CONSULTANT: "consultant",
    CARE_MANAGER: "care_manager",
    GENERAL_MANAGER: "general_manager",
    SALES_MANAGER: "sales_manager",
}
ROLE_REFUSED = 403  # the role may not open the route at all (test_access_matrix.py)
RECORDING = "https://recordings.example/rec-1.mp3"


def answers(owner, peer, consultant, care_manager, general_manager=ROLE_REFUSED, sales_manager=ROLE_REFUSED):
    return {
        OWNER: owner, PEER: peer, CONSULTANT: consultant, CARE_MANAGER: care_manager,
        GENERAL_MANAGER: general_manager, SALES_MANAGER: sales_manager,
    }  # fmt: skip


# name: (method, endpoint, url arguments, htmx?, answers). `{task}` … come from the data:
#   task     an open task of the owner (customer "customer", who has a vehicle)
#   done     a finished task of the owner (same customer)
#   free     an open, unassigned task (same customer)
#   attempt  the owner's finished, recorded call on `task`
#   blocked  the owner's blocked task of `queued`, a customer in the correction queue
#            (no number)
#   queued_free  a customer in the queue whose blocked task is unassigned
#   customer the customer of task/done/free (not in the queue)
CASES: dict[str, tuple] = {
    # 3. the live panel of a call (and its recording)
    "panel": ("GET", "calls.panel", {"attempt_id": "{attempt}"}, True, answers(200, 403, 403, 200)),
    "panel (plain)": ("GET", "calls.panel", {"attempt_id": "{attempt}"}, False, answers(302, 403, 403, 302)),
    # click-to-call (htmx answers the refusal's own status): the blocked task has no
    # number (422 for those who may call it), a closed task is 422 CLOSED for all
    "call blocked task": ("POST", "calls.start", {"task_id": "{blocked}"}, True, answers(422, 403, 403, 422)),
    "call blocked task (plain)": ("POST", "calls.start", {"task_id": "{blocked}"}, False,
                                  answers(303, 403, 403, 303)),
    "call done task": ("POST", "calls.start", {"task_id": "{done}"}, True, answers(422, 422, 422, 422)),
    # one call for the contact: the owner's blocked task (no number) is the only open one
    "call contact": ("POST", "calls.contact_start", {"customer_id": "{queued}"}, True, answers(422, 403, 403, 422)),
    "call contact (plain)": ("POST", "calls.contact_start", {"customer_id": "{queued}"}, False,
                             answers(303, 403, 403, 303)),
    "manual call": ("POST", "calls.contact_manual", {"customer_id": "{queued}"}, False, answers(303, 403, 403, 303)),
    # the contact's call area, read by every caller (the owner's call in it: test_recording_shown_to)
    "contact call area": ("GET", "calls.contact_panel", {"customer_id": "{customer}"}, True, answers(200, 200, 200, 200)),
    # outcomes (the empty form: 422 for those who may record)
    "outcome": ("POST", "contact.outcome", {"task_id": "{task}"}, False, answers(422, 403, 403, 422)),
    "outcome done task": ("POST", "contact.outcome", {"task_id": "{done}"}, False, answers(409, 409, 409, 409)),
    "outcome free task": ("POST", "contact.outcome", {"task_id": "{free}"}, False, answers(422, 422, 422, 422)),
    # the contact's outcomes at once (the empty form): only a contact with a task one may record on
    "contact outcomes": ("POST", "contact.outcomes", {"customer_id": "{queued}"}, False, answers(422, 403, 403, 422)),
    "contact outcomes panel": ("GET", "contact.outcomes", {"customer_id": "{customer}"}, True,
                               answers(200, 200, 200, 200)),
    # 2. booking from a task (GET the form, POST the empty form: 422 for those who may)
    "book form": ("GET", "appointments.new", {"task": "{task}"}, False, answers(200, 403, 403, 200)),
    "book": ("POST", "appointments.new", {"task": "{task}"}, False, answers(422, 403, 403, 422)),
    "book form done task": ("GET", "appointments.new", {"task": "{done}"}, False, answers(409, 409, 409, 409)),
    "book done task": ("POST", "appointments.new", {"task": "{done}"}, False, answers(409, 409, 409, 409)),
    "book free task": ("POST", "appointments.new", {"task": "{free}"}, False, answers(422, 422, 422, 422)),
    "book for customer": ("POST", "appointments.new", {"customer": "{customer}"}, False, answers(422, 422, 422, 422)),
    # 1. number corrections (the empty form: 422 for those who may correct)
    "correct queued": ("POST", "number_corrections.correct", {"customer_id": "{queued}"}, False,
                       answers(422, 403, 403, 422)),
    "correct queued, unassigned": ("POST", "number_corrections.correct", {"customer_id": "{queued_free}"}, False,
                                   answers(422, 422, 422, 422)),
    "correct not queued": ("POST", "number_corrections.correct", {"customer_id": "{customer}"}, False,
                           answers(403, 403, 403, 422)),
    # the questionnaire of an R8 task (issue 11; empty forms: 422 for those who may take
    # it, 409 the hand-over without a live call); its panel is read by every caller
    "survey answer": ("POST", "phone_survey.answer", {"task_id": "{survey}"}, True, answers(422, 403, 403, 422)),
    "survey answer (plain)": ("POST", "phone_survey.answer", {"task_id": "{survey}"}, False,
                              answers(422, 403, 403, 422)),
    "survey answer done task": ("POST", "phone_survey.answer", {"task_id": "{survey_done}"}, True,
                                answers(409, 409, 409, 409)),
    "survey answer free task": ("POST", "phone_survey.answer", {"task_id": "{survey_free}"}, True,
                                answers(422, 422, 422, 422)),
    "survey r7": ("POST", "phone_survey.r7", {"task_id": "{survey}"}, True, answers(422, 403, 403, 422)),
    "survey finish": ("POST", "phone_survey.finish", {"task_id": "{survey}"}, True, answers(422, 403, 403, 422)),
    "survey to ivr": ("POST", "phone_survey.ivr", {"task_id": "{survey}"}, True, answers(409, 403, 403, 409)),
    "survey panel": ("GET", "phone_survey.panel", {"task_id": "{survey}"}, True, answers(200, 200, 200, 200)),
    # pages read by role (their recordings by ownership: test_recording_shown_to below)
    "task page": ("GET", "contact.task", {"task_id": "{task}", "last_call": 1}, False,
                  answers(200, 200, 200, 200, 200, 200)),
    "contact page": ("GET", "contact.index", {"customer_id": "{customer}"}, False, answers(200, 200, 200, 200)),
    # survey responses (issue 11): one taken by the owner (a specialist), one that
    # evaluates the consultant; the managers read all
    "survey taken": ("GET", "surveys.response", {"response_id": "{survey_taken}"}, False,
                     answers(200, 403, 403, 200, 200, 200)),
    "survey evaluating": ("GET", "surveys.response", {"response_id": "{survey_staff}"}, False,
                          answers(403, 403, 200, 200, 200, 200)),
    # 4. complaints: the desk and the managers see all; a consultant only one dispatched to them
    "complaint dispatched to the consultant": ("GET", "complaints.detail", {"complaint_id": "{dispatched}"}, False,
                                               answers(200, 200, 200, 200, 200, 200)),
    "complaint of another": ("GET", "complaints.detail", {"complaint_id": "{undispatched}"}, False,
                             answers(200, 200, 403, 200, 200, 200)),
    # a violation (R23) of the owner: the managers and the owner see it, the care and general
    # managers decide (the empty form: 422), nobody else
    "violation page": ("GET", "violations.detail", {"violation_id": "{violation}"}, False,
                       answers(200, 403, 403, 200, 200, 200)),
    "decide violation": ("POST", "violations.decide", {"violation_id": "{violation}"}, False,
                         answers(403, 403, 403, 422, 422, 403)),
    # the register (R17): an appointment (booked by the owner from their task) is changed
    # or moved by its owner or a care manager (the empty form: 422, no status chosen)
    "appointment status": ("POST", "register.status", {"appointment_id": "{appointment}"}, False,
                           answers(422, 403, 403, 422)),
    "appointment reschedule form": ("GET", "register.reschedule", {"appointment_id": "{appointment}"}, False,
                                    answers(200, 403, 403, 200)),
}  # fmt: skip

# Who hears the owner's recording on the pages that show the call (the general and sales
# managers may by the rule, but the task page shows calls only to calling roles).
HEARS = {OWNER, CARE_MANAGER}


class Ownership:
    def __init__(self, app):
        self.app = app
        with app.app_context():
            users = {who: factories.make_user(db.session, role, username=f"own_{who}") for who, role in WHO.items()}
            owner = users[OWNER]
            customer = factories.make_customer(db.session)
            vehicle = factories.make_vehicle(db.session, customer)
            task = factories.make_task(db.session, customer, vehicle_id=vehicle.id, assignee=owner)
            done = factories.make_task(
                db.session, customer, vehicle_id=vehicle.id, assignee=owner, status="done", outcome="will_come"
            )
            free = factories.make_task(db.session, customer, vehicle_id=vehicle.id)
            now = utcnow()
            attempt = factories.make_attempt(
                db.session, task, user_id=owner.id, status="completed", outcome="completed",
                duration_s=60, recording_url=RECORDING, started_at=now, ended_at=now,
            )  # fmt: skip
            survey = factories.make_task(db.session, customer, vehicle_id=vehicle.id, assignee=owner, type="delivery_survey")
            survey_done = factories.make_task(
                db.session, customer, vehicle_id=vehicle.id, assignee=owner, type="delivery_survey", status="done",
            )  # fmt: skip
            survey_free = factories.make_task(db.session, customer, vehicle_id=vehicle.id, type="service_callback")
            queued = factories.make_customer(db.session, mobile=None)
            blocked = factories.make_task(db.session, queued, assignee=owner, status="blocked")
            queued_free = factories.make_customer(db.session, mobile=None)
            factories.make_task(db.session, queued_free, status="blocked")
            taken = surveys.start_or_resume(
                db.session, template_code="csi", customer=customer, channel="phone", user=owner, now=now
            )
            evaluating = surveys.start_or_resume(
                db.session, template_code="ssi", customer=customer, staff=users[CONSULTANT], channel="paper",
                user=None, now=now,
            )  # fmt: skip
            dispatched = factories.make_complaint(db.session, customer, step=5, handler_id=users[CONSULTANT].id)
            undispatched = factories.make_complaint(db.session, customer)
            violation = factories.make_violation(db.session, owner, task=task)
            appointment = Appointment(
                customer_id=customer.id, vehicle_id=vehicle.id, task_id=task.id, date=date(2030, 1, 7), time=time(9, 0),
                service_kind="maintenance", status="booked", created_by_id=owner.id, created_at=now,
            )  # fmt: skip
            db.session.add(appointment)
            db.session.commit()
            self.seeded = {
                "dispatched": dispatched.id, "undispatched": undispatched.id, "violation": violation.id,
                "task": task.id, "done": done.id, "free": free.id, "attempt": attempt.id,
                "blocked": blocked.id, "queued": queued.id, "queued_free": queued_free.id, "customer": customer.id,
                "survey_taken": taken.id, "survey_staff": evaluating.id,
                "survey": survey.id, "survey_done": survey_done.id, "survey_free": survey_free.id,
                "appointment": appointment.id,
            }  # fmt: skip
        self.clients = {}
        for who in WHO:
            client = app.test_client()
            response = client.post("/auth/login", data={"username": f"own_{who}", "password": factories.PASSWORD})
            assert response.status_code == 303
            self.clients[who] = client

    def url(self, endpoint: str, args: dict) -> str:
        values = {k: (self.seeded[v[1:-1]] if isinstance(v, str) and v.startswith("{") else v) for k, v in args.items()}
        with self.app.test_request_context():
            return url_for(endpoint, **values)

    def ask(self, case: str, who: str):
        method, endpoint, args, htmx, _answers = CASES[case]
        headers = {"HX-Request": "true"} if htmx else {}
        return self.clients[who].open(self.url(endpoint, args), method=method, data={}, headers=headers)


@pytest.fixture(scope="module")
def ownership(worker_app):
    try:
        yield Ownership(worker_app.app)
    finally:
        worker_app.reset()


@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize("who", sorted(WHO))
def test_who_gets_the_expected_answer(ownership, case, who):
    response = ownership.ask(case, who)
    want = CASES[case][4][who]
    assert response.status_code == want, f"{case} as {who}: {response.status_code}, expected {want}"


@pytest.mark.parametrize("case", ["panel", "task page", "contact page", "contact call area"])
@pytest.mark.parametrize("who", sorted(WHO))
def test_recording_shown_to(ownership, case, who):
    """The recording link only for those who may see the call, wherever the call shows."""
    response = ownership.ask(case, who)
    if response.status_code != 200:
        assert CASES[case][4][who] != 200
        return
    assert (RECORDING in response.get_data(as_text=True)) == (who in HEARS), f"{case} as {who}"


def test_nothing_was_written(ownership):
    """The refusals (and the empty forms) changed nothing: no appointment (but the seeded
    one, still booked), no correction."""
    from sqlalchemy import func, select

    from care.models import Appointment, PhoneCorrection

    for case in CASES:
        for who in WHO:
            ownership.ask(case, who)
    with ownership.app.app_context():
        assert db.session.scalars(select(Appointment.status)).all() == ["booked"]
        assert db.session.scalar(select(func.count()).select_from(PhoneCorrection)) == 0

"""Role × URL: every route of the app is listed here with who may use it and the answer.

A new route fails `test_every_route_is_listed` until it is added to ACCESS, and then
every role and an anonymous visitor are tried against it, each expecting one exact
status: refused roles 403, allowed roles the route's own answer (200 for a page, 303
after a POST, 422 for the empty form this test sends …), anonymous visitors a 302 to the
log-in page (or, for a public route, its answer). A page that leaks to a role fails: it
answers 200 where 403 is expected.

The data and the log-ins are made once per module (and per xdist worker) on the
worker's app: one client per role, logged in once. The requests must therefore leave
the answers of the others unchanged whatever their order (the empty forms change
nothing; the writes that succeed — generate, unlock, reset a setting, start a call —
can be repeated with the same answer).
"""

from __future__ import annotations

from datetime import date

import pytest
from flask import url_for

from care.domain.roles import Role
from care.extensions import db
from care.models import GenerationRun, ImportRun
from care.models.types import utcnow
from care.services import scripts as script_service
from care.services import surveys as survey_service
from tests import factories

R = Role
ALL = frozenset(Role)
PUBLIC = "public"
ANY_USER = "any_user"
READERS = frozenset(
    {R.SPECIALIST, R.INSURANCE, R.CARE_MANAGER, R.CONSULTANT, R.SALES_MANAGER, R.FRONT_DESK, R.GENERAL_MANAGER}
)
IMPORTERS = frozenset({R.ADMIN, R.CARE_MANAGER})
CALLERS = frozenset({R.SPECIALIST, R.INSURANCE, R.CARE_MANAGER, R.CONSULTANT})
SCRIPT_READERS = frozenset({R.CARE_MANAGER, R.GENERAL_MANAGER, R.SPECIALIST, R.INSURANCE, R.CONSULTANT})
ANONYMOUS = "anonymous"
MANAGER_ROLES = frozenset({R.CARE_MANAGER, R.SALES_MANAGER, R.GENERAL_MANAGER})
SURVEY_TEMPLATE_READERS = MANAGER_ROLES | {R.ADMIN}
STEP_TAKERS = frozenset({R.SPECIALIST, R.CARE_MANAGER, R.GENERAL_MANAGER, R.SALES_MANAGER})
COMPLAINT_READERS = STEP_TAKERS | {R.CONSULTANT}

# The answer of an allowed role: a status, or {role or ANONYMOUS: status, "*": the rest}.
OK, FOUND, SEE_OTHER, BAD, NOT_FOUND, INVALID = 200, 302, 303, 400, 404, 422

# endpoint: (who, method, url-arguments, answer). `{customer}`, `{run}` … are filled
# from `seeded`; the request sends an empty form.
ACCESS: dict[str, tuple] = {
    "auth.login": (PUBLIC, "GET", {}, {"anonymous": 200, "*": 302}),
    "auth.logout": (ANY_USER, "POST", {}, SEE_OTHER),
    "auth.password": (ANY_USER, "POST", {}, INVALID),
    "main.home": (ANY_USER, "GET", {}, FOUND),
    "main.language": (PUBLIC, "POST", {}, SEE_OTHER),
    "main.healthz": (PUBLIC, "GET", {}, OK),
    "customers.index": (READERS, "GET", {}, OK),
    "customers.detail": (READERS, "GET", {"customer_id": "{customer}"}, OK),
    "customers.export": (frozenset({R.CARE_MANAGER, R.GENERAL_MANAGER}), "GET", {}, OK),
    "imports.index": (IMPORTERS, "GET", {}, OK),
    "imports.upload": (IMPORTERS, "POST", {}, INVALID),
    "imports.run": (IMPORTERS, "GET", {"run_id": "{run}"}, OK),
    "imports.rejects_csv": (IMPORTERS, "GET", {"run_id": "{run}"}, OK),
    # mapping a staff name of DMS files to a user (the empty form names no name)
    "imports.map_name": (IMPORTERS, "POST", {}, INVALID),
    "settings.index": (frozenset({R.ADMIN}), "GET", {}, OK),
    "settings.reset": (frozenset({R.ADMIN}), "POST", {"key": "dealer_name"}, SEE_OTHER),
    "admin.users": (frozenset({R.ADMIN}), "GET", {}, OK),
    "admin.user_new": (frozenset({R.ADMIN}), "GET", {}, OK),
    "admin.user": (frozenset({R.ADMIN}), "GET", {"user_id": "{user}"}, OK),
    "admin.user_password": (frozenset({R.ADMIN}), "POST", {"user_id": "{user}"}, INVALID),
    "admin.user_unlock": (frozenset({R.ADMIN}), "POST", {"user_id": "{user}"}, SEE_OTHER),
    "admin.audit": (frozenset({R.ADMIN, R.GENERAL_MANAGER}), "GET", {}, OK),
    # scripts (话术): read by those who call or supervise calls, written by the care manager
    "scripts.index": (SCRIPT_READERS, "GET", {}, OK),
    "scripts.script": (SCRIPT_READERS, "GET", {"task_type": "first_service"}, OK),
    "scripts.save": (frozenset({R.CARE_MANAGER}), "POST", {"task_type": "first_service"}, INVALID),
    "scripts.version": (SCRIPT_READERS, "GET", {"task_type": "first_service", "version": 1}, OK),
    "scripts.preview": (SCRIPT_READERS, "GET", {"task_type": "first_service"}, OK),
    "scripts.preview_live": (frozenset({R.CARE_MANAGER}), "POST", {"task_type": "first_service"}, OK),
    "scripts.stats": (SCRIPT_READERS, "GET", {"task_type": "first_service"}, OK),
    "generation.index": (frozenset({R.CARE_MANAGER, R.GENERAL_MANAGER, R.ADMIN}), "GET", {}, OK),
    "generation.run": (frozenset({R.CARE_MANAGER, R.GENERAL_MANAGER, R.ADMIN}), "GET", {"run_id": "{generation}"}, OK),
    "generation.generate_now": (frozenset({R.CARE_MANAGER, R.ADMIN}), "POST", {}, SEE_OTHER),
    "worklist.index": (
        frozenset({R.SPECIALIST, R.INSURANCE, R.CONSULTANT, R.CARE_MANAGER, R.SALES_MANAGER, R.GENERAL_MANAGER}),
        "GET",
        {},
        OK,
    ),
    "worklist.reassign": (frozenset({R.CARE_MANAGER, R.GENERAL_MANAGER}), "POST", {}, INVALID),
    # the next callable contact (issue 10 item 3): 303 to a contact page or back to the list
    "worklist.next_contact": (CALLERS, "GET", {}, SEE_OTHER),
    # the contact page, outcomes, appointments, number corrections (those who call customers)
    "contact.index": (CALLERS, "GET", {"customer_id": "{customer}"}, OK),
    "contact.task": (CALLERS | {R.SALES_MANAGER, R.GENERAL_MANAGER}, "GET", {"task_id": "{task}"}, OK),
    "contact.outcome": (CALLERS, "POST", {"task_id": "{task}"}, INVALID),
    # the contact's outcomes, every row at once (the empty form: no outcome chosen)
    "contact.outcomes": (CALLERS, "POST", {"customer_id": "{customer}"}, INVALID),
    "appointments.index": (CALLERS | {R.FRONT_DESK, R.SALES_MANAGER, R.GENERAL_MANAGER}, "GET", {}, OK),
    "appointments.new": (CALLERS, "GET", {"customer": "{customer}"}, OK),
    "number_corrections.index": (CALLERS, "GET", {}, OK),
    # ownership (the customer is not in the queue: only a care manager may correct it) is
    # tried owner × other × manager in tests/web/test_ownership_matrix.py
    "number_corrections.correct": (
        CALLERS, "POST", {"customer_id": "{customer}"}, {R.CARE_MANAGER.value: INVALID, "*": 403}
    ),
    # fallback messages (R14/R15): templates read by script readers, edited by the care manager
    "messages.templates": (SCRIPT_READERS, "GET", {}, OK),
    "messages.template": (SCRIPT_READERS, "GET", {"task_type": "first_service", "channel": "sms"}, OK),
    "messages.template_save": (frozenset({R.CARE_MANAGER}), "POST", {"task_type": "first_service", "channel": "sms"}, INVALID),
    "messages.outbox": (frozenset({R.CARE_MANAGER, R.ADMIN}), "GET", {}, OK),
    "messages.violations": (frozenset({R.CARE_MANAGER, R.GENERAL_MANAGER}), "GET", {}, OK),
    # expired tasks (issue 10 item 4): the managers
    "expired.index": (frozenset({R.CARE_MANAGER, R.SALES_MANAGER, R.GENERAL_MANAGER}), "GET", {}, OK),
    # click-to-call (care/web/calls.py); the TwiML is public but Twilio-signed (403 first);
    # the panel outside htmx sends the browser to the contact page
    "calls.start": (CALLERS, "POST", {"task_id": "{task}"}, SEE_OTHER),
    # nobody's call (no caller, no assignee): a manager's to follow only
    "calls.panel": (CALLERS, "GET", {"attempt_id": "{attempt}"}, {R.CARE_MANAGER.value: FOUND, "*": 403}),
    "calls.twiml": (PUBLIC, "POST", {"attempt_id": 999999}, 403),
    # one call for the contact (its task is unassigned: any caller may): placed or refused,
    # the plain answer goes back to the contact page; its call area is an htmx fragment
    "calls.contact_start": (CALLERS, "POST", {"customer_id": "{customer}"}, SEE_OTHER),
    "calls.contact_panel": (CALLERS, "GET", {"customer_id": "{customer}"}, FOUND),
    # a call made outside the app (the empty form: no result chosen, back with the reason)
    "calls.contact_manual": (CALLERS, "POST", {"customer_id": "{customer}"}, SEE_OTHER),
    # provider webhooks: authenticated by signature (an empty body is a 400)
    "webhooks.twilio_status": (PUBLIC, "POST", {}, BAD),
    "webhooks.twilio_dial": (PUBLIC, "POST", {}, BAD),
    "webhooks.twilio_gather": (PUBLIC, "POST", {}, BAD),
    "webhooks.events": (PUBLIC, "POST", {}, BAD),
    "webhooks.twilio_sms_status": (PUBLIC, "POST", {}, BAD),
    # greeting campaigns (R11): the care manager writes, the general manager reads; no such
    # campaign for the ones that name one (the empty propose form names no holiday: 400)
    "campaigns.index": (frozenset({R.CARE_MANAGER, R.GENERAL_MANAGER}), "GET", {}, OK),
    "campaigns.detail": (frozenset({R.CARE_MANAGER, R.GENERAL_MANAGER}), "GET", {"campaign_id": 999999}, NOT_FOUND),
    "campaigns.new": (frozenset({R.CARE_MANAGER}), "GET", {}, OK),
    "campaigns.create": (frozenset({R.CARE_MANAGER}), "POST", {}, INVALID),
    "campaigns.audience": (frozenset({R.CARE_MANAGER}), "POST", {}, OK),
    "campaigns.propose": (frozenset({R.CARE_MANAGER}), "POST", {}, BAD),
    "campaigns.update": (frozenset({R.CARE_MANAGER}), "POST", {"campaign_id": 999999}, NOT_FOUND),
    "campaigns.schedule": (frozenset({R.CARE_MANAGER}), "POST", {"campaign_id": 999999}, NOT_FOUND),
    "campaigns.cancel": (frozenset({R.CARE_MANAGER}), "POST", {"campaign_id": 999999}, NOT_FOUND),
    # the monthly KPIs (R22) and their drill-downs; scorecards: own for a specialist, all for managers
    "kpis.index": (frozenset({R.CARE_MANAGER, R.GENERAL_MANAGER}), "GET", {}, OK),
    "kpis.drill": (frozenset({R.CARE_MANAGER, R.GENERAL_MANAGER}), "GET", {"key": "reminder_rate"}, OK),
    "kpis.scorecards": (
        frozenset({R.CARE_MANAGER, R.GENERAL_MANAGER, R.SALES_MANAGER, R.SPECIALIST, R.INSURANCE, R.CONSULTANT}),
        "GET",
        {},
        OK,
    ),
    # the insurance QA sample (R21): the managers and the insurance specialists (their own
    # calls: tests/web/test_sampling.py) read it, the care manager draws and judges; an
    # empty draw form names no month (400), no such sampled call (404)
    "sampling.index": (frozenset({R.CARE_MANAGER, R.GENERAL_MANAGER, R.SALES_MANAGER, R.INSURANCE}), "GET", {}, OK),
    "sampling.draw": (frozenset({R.CARE_MANAGER}), "POST", {}, BAD),
    "sampling.verdict": (frozenset({R.CARE_MANAGER}), "POST", {"call_id": 999999}, NOT_FOUND),
    # surveys (issue 11): templates read by the managers and the administrator, edited by
    # the care manager and the administrator (the empty form: CSRF refused, 422); results
    # and exports for the managers; responses also for consultants and specialists (their
    # own: tests/web/test_ownership_matrix.py)
    "survey_templates.index": (SURVEY_TEMPLATE_READERS, "GET", {}, OK),
    "survey_templates.show": (SURVEY_TEMPLATE_READERS, "GET", {"code": "ssi"}, OK),
    "survey_templates.edit": (frozenset({R.CARE_MANAGER, R.ADMIN}), "GET", {"code": "ssi"}, OK),
    "survey_templates.save": (frozenset({R.CARE_MANAGER, R.ADMIN}), "POST", {"code": "ssi"}, INVALID),
    "surveys.results": (MANAGER_ROLES, "GET", {}, OK),
    "surveys.responses": (MANAGER_ROLES | {R.CONSULTANT, R.SPECIALIST}, "GET", {}, OK),
    "surveys.response": (
        MANAGER_ROLES | {R.CONSULTANT, R.SPECIALIST}, "GET", {"response_id": "{survey_response}"},
        {R.CONSULTANT.value: 403, R.SPECIALIST.value: 403, "*": OK},
    ),
    "surveys.export": (MANAGER_ROLES, "GET", {"fmt": "csv", "template": "ssi"}, OK),
    # complaints (R19, R20): read by those who take a step and the managers (a consultant:
    # only those dispatched to them, so not the seeded one); a step is posted by a step
    # taker (the empty form names no step: 422); the call-back of step 6 by the care
    # manager (the seeded complaint waits at step 2: refused, back to the page); a
    # complaint is opened by hand by a care specialist
    "complaints.index": (COMPLAINT_READERS, "GET", {}, OK),
    "complaints.mine": (STEP_TAKERS, "GET", {}, OK),
    "complaints.detail": (COMPLAINT_READERS, "GET", {"complaint_id": "{complaint}"}, {R.CONSULTANT.value: 403, "*": OK}),
    "complaints.step": (STEP_TAKERS, "POST", {"complaint_id": "{complaint}"}, INVALID),
    "complaints.call": (frozenset({R.CARE_MANAGER}), "POST", {"complaint_id": "{complaint}"}, SEE_OTHER),
    "complaints.new": (frozenset({R.SPECIALIST}), "GET", {"customer_id": "{customer}"}, OK),
    # the questionnaire beside the call (R8/R10, issue 11): those who call; no such task
    # here (404; real tasks and their owners: tests/web/test_ownership_matrix.py); the
    # IVR's TwiML is public but Twilio-signed (403 first, like calls.twiml)
    "phone_survey.panel": (CALLERS, "GET", {"task_id": 999999}, NOT_FOUND),
    "phone_survey.answer": (CALLERS, "POST", {"task_id": 999999}, NOT_FOUND),
    "phone_survey.r7": (CALLERS, "POST", {"task_id": 999999}, NOT_FOUND),
    "phone_survey.finish": (CALLERS, "POST", {"task_id": 999999}, NOT_FOUND),
    "phone_survey.ivr": (CALLERS, "POST", {"task_id": 999999}, NOT_FOUND),
    "ivr.survey_twiml": (PUBLIC, "POST", {"attempt_id": 999999}, 403),
    # violations (R23): every staff role opens the list (their own: test_ownership_matrix.py),
    # no such violation (404); the care and general managers decide and derive (an empty
    # derive form names no month: 400); the care manager and the administrator edit penalties
    "violations.index": (READERS, "GET", {}, OK),
    "violations.detail": (READERS, "GET", {"violation_id": 999999}, NOT_FOUND),
    "violations.decide": (frozenset({R.CARE_MANAGER, R.GENERAL_MANAGER}), "POST", {"violation_id": 999999}, NOT_FOUND),
    "violations.derive": (frozenset({R.CARE_MANAGER, R.GENERAL_MANAGER}), "POST", {}, BAD),
    "violations.penalties": (frozenset({R.CARE_MANAGER, R.ADMIN}), "GET", {}, OK),
    # the monthly report (R22): the care and general managers read; the care manager
    # generates and writes, the general manager approves or returns. 2026-01 never gets a
    # report here (its steps: 404); 2100-12 is not over (generate: 422)
    "reports.index": (frozenset({R.CARE_MANAGER, R.GENERAL_MANAGER}), "GET", {}, OK),
    "reports.detail": (frozenset({R.CARE_MANAGER, R.GENERAL_MANAGER}), "GET", {"month_key": "2100-12"}, OK),
    "reports.export_xlsx": (frozenset({R.CARE_MANAGER, R.GENERAL_MANAGER}), "GET", {"month_key": "2100-12"}, OK),
    "reports.export_csv": (frozenset({R.CARE_MANAGER, R.GENERAL_MANAGER}), "GET", {"month_key": "2100-12"}, OK),
    "reports.generate": (frozenset({R.CARE_MANAGER}), "POST", {"month_key": "2100-12"}, INVALID),
    "reports.regenerate": (frozenset({R.CARE_MANAGER}), "POST", {"month_key": "2026-01"}, NOT_FOUND),
    "reports.save": (frozenset({R.CARE_MANAGER}), "POST", {"month_key": "2026-01"}, NOT_FOUND),
    "reports.submit": (frozenset({R.CARE_MANAGER}), "POST", {"month_key": "2026-01"}, NOT_FOUND),
    "reports.return_": (frozenset({R.GENERAL_MANAGER}), "POST", {"month_key": "2026-01"}, NOT_FOUND),
    "reports.approve": (frozenset({R.GENERAL_MANAGER}), "POST", {"month_key": "2026-01"}, NOT_FOUND),
    # the appointment register (R17): read by all who deal with appointments; the care
    # department submits (the empty form submits today's register: repeatable, 303); an
    # appointment's status changes and moves need one (none here: 404); the front desk
    # keeps its copy (the empty line: 422)
    "register.index": (CALLERS | {R.FRONT_DESK, R.SALES_MANAGER, R.GENERAL_MANAGER}, "GET", {}, OK),
    "register.slots": (CALLERS | {R.FRONT_DESK, R.SALES_MANAGER, R.GENERAL_MANAGER}, "GET", {}, OK),
    "register.export": (CALLERS | {R.FRONT_DESK, R.SALES_MANAGER, R.GENERAL_MANAGER}, "GET", {}, OK),
    "register.submit": (frozenset({R.SPECIALIST, R.INSURANCE, R.CARE_MANAGER}), "POST", {}, SEE_OTHER),
    "register.status": (CALLERS | {R.FRONT_DESK}, "POST", {"appointment_id": 999999}, NOT_FOUND),
    "register.reschedule": (CALLERS, "GET", {"appointment_id": 999999}, NOT_FOUND),
    "register.desk_add": (frozenset({R.FRONT_DESK, R.CARE_MANAGER}), "POST", {}, INVALID),
    "register.desk_delete": (frozenset({R.FRONT_DESK, R.CARE_MANAGER}), "POST", {"line_id": 999999}, NOT_FOUND),
    "reconciliation.index": (frozenset({R.CARE_MANAGER, R.ADMIN}), "GET", {}, OK),
    # the managers' dashboard (issue 12 item 7): where the care and general managers land
    "dashboard.index": (frozenset({R.CARE_MANAGER, R.GENERAL_MANAGER}), "GET", {}, OK),
    # no such event (a real one would be matched or dismissed by the first role that tries)
    "reconciliation.match": (frozenset({R.CARE_MANAGER, R.ADMIN}), "POST", {"event_id": 999999}, NOT_FOUND),
    "reconciliation.dismiss": (frozenset({R.CARE_MANAGER, R.ADMIN}), "POST", {"event_id": 999999}, NOT_FOUND),
}


def expected(endpoint: str, who_asks: str) -> int:
    """The one status `who_asks` (a role's value or ANONYMOUS) must get from `endpoint`."""
    who, _method, _args, answer = ACCESS[endpoint]
    if who_asks == ANONYMOUS and who != PUBLIC:
        return FOUND  # to the log-in page
    if who not in (PUBLIC, ANY_USER) and Role(who_asks) not in who:
        return 403
    if isinstance(answer, dict):
        return answer.get(who_asks, answer["*"])
    return answer


class Matrix:
    """The module's data and one logged-in client per role (plus an anonymous one)."""

    def __init__(self, app):
        self.app = app
        with app.app_context():
            customer = factories.make_customer(db.session)
            vehicle = factories.make_vehicle(db.session, customer)
            user = factories.make_user(db.session, "specialist", username="target")
            task = factories.make_task(db.session, customer, vehicle_id=vehicle.id)
            run = ImportRun(kind="customers", filename="seed.csv", actor="cli", status="done", rejects=[])
            generation = GenerationRun(for_date=date(2026, 1, 5), actor="cli")
            db.session.add_all([run, generation])
            attempt = factories.make_attempt(db.session)  # of a task of its own
            complaint = factories.make_complaint(db.session, customer)
            script_service.save_version(
                db.session, "first_service", title="首保提醒", body="您好", note=None, user=None, now=utcnow()
            )
            for role in Role:
                factories.make_user(db.session, role.value, username=f"as_{role.value}")
            survey = survey_service.start_or_resume(
                db.session, template_code="ssi", customer=customer, channel="phone", user=None, now=utcnow()
            )  # nobody's: only the managers may open it
            db.session.commit()
            self.seeded = {
                "customer": customer.id, "vehicle": vehicle.id, "user": user.id, "run": run.id,
                "task": task.id, "generation": generation.id, "attempt": attempt.id,
                "survey_response": survey.id, "complaint": complaint.id,
            }  # fmt: skip
        self.clients = {ANONYMOUS: app.test_client()}
        for role in Role:
            self.clients[role.value] = app.test_client()
            self.log_in(role.value)

    def log_in(self, role: str) -> None:
        response = self.clients[role].post(
            "/auth/login", data={"username": f"as_{role}", "password": factories.PASSWORD}
        )
        assert response.status_code == 303, response.get_data(as_text=True)[:500]

    def url(self, endpoint: str) -> str:
        args = ACCESS[endpoint][2]
        values = {
            k: (self.seeded[v[1:-1]] if isinstance(v, str) and v.startswith("{") else v) for k, v in args.items()
        }
        with self.app.test_request_context():
            return url_for(endpoint, **values)

    def ask(self, endpoint: str, who_asks: str):
        method = ACCESS[endpoint][1]
        response = self.clients[who_asks].open(self.url(endpoint), method=method, data={})
        if endpoint == "auth.logout" and who_asks != ANONYMOUS:
            self.log_in(who_asks)  # for the next test of this role
        return response


@pytest.fixture(scope="module")
def matrix(worker_app):
    """Built once per module on the worker's app; the database is emptied afterwards."""
    try:
        yield Matrix(worker_app.app)
    finally:
        worker_app.reset()


def test_every_route_is_listed(worker_app):
    endpoints = {rule.endpoint for rule in worker_app.app.url_map.iter_rules() if rule.endpoint != "static"}
    missing = sorted(endpoints - ACCESS.keys())
    assert not missing, f"routes without an access rule in this test: {missing}"
    stale = sorted(ACCESS.keys() - endpoints)
    assert not stale, f"listed here but no longer routes: {stale}"


@pytest.mark.parametrize("endpoint", sorted(ACCESS))
@pytest.mark.parametrize("role", sorted(r.value for r in Role))
def test_role_gets_the_expected_answer(matrix, endpoint, role):
    response = matrix.ask(endpoint, role)
    want = expected(endpoint, role)
    assert response.status_code == want, f"{endpoint} as {role}: {response.status_code}, expected {want}"


@pytest.mark.parametrize("endpoint", sorted(ACCESS))
def test_anonymous(matrix, endpoint):
    response = matrix.ask(endpoint, ANONYMOUS)
    want = expected(endpoint, ANONYMOUS)
    assert response.status_code == want, f"{endpoint} anonymously: {response.status_code}, expected {want}"
    if ACCESS[endpoint][0] != PUBLIC:
        assert response.headers["Location"].startswith("/auth/login")


@pytest.mark.parametrize(
    "role, target",
    [
        (R.ADMIN, "/settings/"),
        (R.FRONT_DESK, "/customers/"),
        (R.SPECIALIST, "/tasks/"),
        (R.SALES_MANAGER, "/tasks/"),
        (R.GENERAL_MANAGER, "/dashboard/"),
        (R.CARE_MANAGER, "/dashboard/"),
    ],
)
def test_home_sends_each_role_to_its_page(matrix, role, target):
    assert matrix.ask("main.home", role.value).headers["Location"] == target

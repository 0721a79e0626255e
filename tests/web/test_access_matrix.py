"""Role × URL: every route of the app is listed here with who may use it.

A new route fails `test_every_route_is_listed` until it is added to ACCESS, and then
every role is tried against it: refused roles get 403, allowed roles never get 403
(nor a 500), anonymous users are sent to the log-in page.
"""

from __future__ import annotations

import pytest

from care.domain.roles import Role
from care.extensions import db
from care.models import ImportRun
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

# endpoint: (who, method, url-arguments). `{customer}`, `{run}` … are filled from `seeded`.
ACCESS: dict[str, tuple] = {
    "auth.login": (PUBLIC, "GET", {}),
    "auth.logout": (ANY_USER, "POST", {}),
    "main.home": (ANY_USER, "GET", {}),
    "main.language": (PUBLIC, "POST", {}),
    "main.healthz": (PUBLIC, "GET", {}),
    "customers.index": (READERS, "GET", {}),
    "customers.detail": (READERS, "GET", {"customer_id": "{customer}"}),
    "customers.export": (frozenset({R.CARE_MANAGER, R.GENERAL_MANAGER}), "GET", {}),
    "imports.index": (IMPORTERS, "GET", {}),
    "imports.upload": (IMPORTERS, "POST", {}),
    "imports.run": (IMPORTERS, "GET", {"run_id": "{run}"}),
    "imports.rejects_csv": (IMPORTERS, "GET", {"run_id": "{run}"}),
    "settings.index": (frozenset({R.ADMIN}), "GET", {}),
    "settings.reset": (frozenset({R.ADMIN}), "POST", {"key": "dealer_name"}),
    "admin.users": (frozenset({R.ADMIN}), "GET", {}),
    "admin.user_new": (frozenset({R.ADMIN}), "GET", {}),
    "admin.user": (frozenset({R.ADMIN}), "GET", {"user_id": "{user}"}),
    "admin.user_password": (frozenset({R.ADMIN}), "POST", {"user_id": "{user}"}),
    "admin.user_unlock": (frozenset({R.ADMIN}), "POST", {"user_id": "{user}"}),
    "admin.audit": (frozenset({R.ADMIN, R.GENERAL_MANAGER}), "GET", {}),
    # scripts (话术): read by those who call or supervise calls, written by the care manager
    "scripts.index": (SCRIPT_READERS, "GET", {}),
    "scripts.script": (SCRIPT_READERS, "GET", {"task_type": "first_service"}),
    "scripts.save": (frozenset({R.CARE_MANAGER}), "POST", {"task_type": "first_service"}),
    "scripts.version": (SCRIPT_READERS, "GET", {"task_type": "first_service", "version": 1}),
    "scripts.preview": (SCRIPT_READERS, "GET", {"task_type": "first_service"}),
    "scripts.preview_live": (frozenset({R.CARE_MANAGER}), "POST", {"task_type": "first_service"}),
    "scripts.stats": (SCRIPT_READERS, "GET", {"task_type": "first_service"}),
    "generation.index": (frozenset({R.CARE_MANAGER, R.GENERAL_MANAGER, R.ADMIN}), "GET", {}),
    "generation.run": (frozenset({R.CARE_MANAGER, R.GENERAL_MANAGER, R.ADMIN}), "GET", {"run_id": 1}),
    "generation.generate_now": (frozenset({R.CARE_MANAGER, R.ADMIN}), "POST", {}),
    "tasks.worklist": (
        frozenset({R.SPECIALIST, R.INSURANCE, R.CONSULTANT, R.CARE_MANAGER, R.SALES_MANAGER, R.GENERAL_MANAGER}),
        "GET",
        {},
    ),
    "tasks.reassign": (frozenset({R.CARE_MANAGER, R.GENERAL_MANAGER}), "POST", {}),
    # the contact page, outcomes, appointments, number corrections (those who call customers)
    "tasks.contact": (CALLERS, "GET", {"customer_id": "{customer}"}),
    "tasks.detail": (CALLERS | {R.SALES_MANAGER, R.GENERAL_MANAGER}, "GET", {"task_id": "{task}"}),
    "tasks.outcome": (CALLERS, "POST", {"task_id": "{task}"}),
    "appointments.index": (CALLERS | {R.FRONT_DESK, R.SALES_MANAGER, R.GENERAL_MANAGER}, "GET", {}),
    "appointments.new": (CALLERS, "GET", {"customer": "{customer}"}),
    "numbers.index": (CALLERS, "GET", {}),
    "numbers.correct": (CALLERS, "POST", {"customer_id": "{customer}"}),
    # fallback messages (R14/R15): templates read by script readers, edited by the care manager
    "messages.templates": (SCRIPT_READERS, "GET", {}),
    "messages.template": (SCRIPT_READERS, "GET", {"task_type": "first_service", "channel": "sms"}),
    "messages.template_save": (frozenset({R.CARE_MANAGER}), "POST", {"task_type": "first_service", "channel": "sms"}),
    "messages.outbox": (frozenset({R.CARE_MANAGER, R.ADMIN}), "GET", {}),
    "messages.violations": (frozenset({R.CARE_MANAGER, R.GENERAL_MANAGER}), "GET", {}),
    # click-to-call (care/web/calls.py); the TwiML is public but Twilio-signed (404 first)
    "calls.start": (CALLERS, "POST", {"task_id": "{task}"}),
    "calls.panel": (CALLERS, "GET", {"attempt_id": 999999}),
    "calls.twiml": (PUBLIC, "POST", {"attempt_id": 999999}),
    # provider webhooks: authenticated by signature (an empty body is a 400)
    "webhooks.twilio_status": (PUBLIC, "POST", {}),
    "webhooks.twilio_dial": (PUBLIC, "POST", {}),
    "webhooks.twilio_gather": (PUBLIC, "POST", {}),
    "webhooks.events": (PUBLIC, "POST", {}),
    "reconciliation.index": (frozenset({R.CARE_MANAGER, R.ADMIN}), "GET", {}),
    "reconciliation.match": (frozenset({R.CARE_MANAGER, R.ADMIN}), "POST", {"event_id": 1}),
    "reconciliation.dismiss": (frozenset({R.CARE_MANAGER, R.ADMIN}), "POST", {"event_id": 1}),
}


@pytest.fixture
def seeded(app):
    """Objects that URL arguments refer to."""
    with app.app_context():
        customer = factories.make_customer(db.session)
        vehicle = factories.make_vehicle(db.session, customer)
        user = factories.make_user(db.session, "specialist", username="target")
        task = factories.make_task(db.session, customer, vehicle_id=vehicle.id)
        db.session.commit()
        run = ImportRun(kind="customers", filename="seed.csv", actor="cli", status="done", rejects=[])
        db.session.add(run)
        db.session.commit()
        return {"customer": customer.id, "vehicle": vehicle.id, "user": user.id, "run": run.id, "task": task.id}


def _url(app, endpoint, args, seeded):
    values = {k: (seeded[v[1:-1]] if isinstance(v, str) and v.startswith("{") else v) for k, v in args.items()}
    with app.test_request_context():
        from flask import url_for

        return url_for(endpoint, **values)


def test_every_route_is_listed(app):
    endpoints = {rule.endpoint for rule in app.url_map.iter_rules() if rule.endpoint != "static"}
    missing = sorted(endpoints - ACCESS.keys())
    assert not missing, f"routes without an access rule in this test: {missing}"
    stale = sorted(ACCESS.keys() - endpoints)
    assert not stale, f"listed here but no longer routes: {stale}"


@pytest.mark.parametrize("endpoint", sorted(ACCESS))
@pytest.mark.parametrize("role", sorted(Role, key=lambda r: r.value))
def test_role_can_or_cannot(app, client, login_as, seeded, endpoint, role):
    who, method, args = ACCESS[endpoint]
    login_as(role.value)
    url = _url(app, endpoint, args, seeded)
    response = client.open(url, method=method, data={})
    allowed = who in (PUBLIC, ANY_USER) or role in who
    assert response.status_code != 500, f"{endpoint} as {role}: 500"
    if allowed:
        assert response.status_code != 403, f"{role} should reach {endpoint}"
    else:
        assert response.status_code == 403, f"{role} must not reach {endpoint} (got {response.status_code})"


@pytest.mark.parametrize("endpoint", sorted(ACCESS))
def test_anonymous(app, client, seeded, endpoint):
    who, method, args = ACCESS[endpoint]
    response = client.open(_url(app, endpoint, args, seeded), method=method, data={})
    assert response.status_code != 500
    if who == PUBLIC:
        assert response.status_code not in (401, 403)
    else:
        assert response.status_code in (302, 401), f"{endpoint}: {response.status_code}"
        if response.status_code == 302:
            assert "/auth/login" in response.headers["Location"]

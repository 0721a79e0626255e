"""Object ids in URLs: one converter (`<id:…>`, care/web/converters.py) on every route.

An id the INTEGER column cannot hold never reaches a view (nor the database): a plain 404.
"""

from __future__ import annotations

import re

import pytest
from werkzeug.routing import IntegerConverter

from care.web.converters import IdConverter

HUGE = "99999999999999999999"
ID_ROUTES = (
    ("GET", "/customers/{id}"),
    ("POST", "/number-corrections/{id}"),
    ("GET", "/tasks/contact/{id}"),
    ("POST", "/tasks/contact/{id}/outcomes"),
    ("POST", "/calls/contact/{id}"),
    ("GET", "/calls/contact/{id}/panel"),
    ("POST", "/calls/contact/{id}/manual"),
    ("GET", "/tasks/{id}"),
    ("POST", "/tasks/{id}/outcome"),
    ("POST", "/calls/start/{id}"),
    ("GET", "/calls/{id}/panel"),
    ("POST", "/calls/twiml/{id}"),
    ("GET", "/tasks/{id}/survey"),
    ("POST", "/tasks/{id}/survey/answer"),
    ("POST", "/tasks/{id}/survey/r7"),
    ("POST", "/tasks/{id}/survey/finish"),
    ("POST", "/tasks/{id}/survey/ivr"),
    ("POST", "/calls/twiml/{id}/survey"),
    ("POST", "/reconciliation/{id}/match"),
    ("POST", "/reconciliation/{id}/dismiss"),
    ("POST", "/sampling/calls/{id}/verdict"),
    ("GET", "/violations/{id}"),
    ("POST", "/violations/{id}/decide"),
    ("GET", "/complaints/{id}"),
    ("POST", "/complaints/{id}/step"),
    ("POST", "/complaints/{id}/call"),
    ("GET", "/complaints/new/{id}"),
    ("GET", "/scripts/first_service/versions/{id}"),
    ("GET", "/generation/{id}"),
    ("GET", "/imports/{id}"),
    ("GET", "/imports/{id}/rejects.csv"),
    ("GET", "/admin/users/{id}"),
    ("POST", "/admin/users/{id}/password"),
    ("POST", "/admin/users/{id}/unlock"),
    ("GET", "/campaigns/{id}"),
    ("POST", "/campaigns/{id}/schedule"),
    ("POST", "/campaigns/{id}/cancel"),
    ("GET", "/surveys/responses/{id}"),
    ("POST", "/register/appointments/{id}/status"),
    ("GET", "/register/appointments/{id}/reschedule"),
    ("POST", "/register/front-desk/{id}/delete"),
)


def _id_rules(app):
    return [
        rule for rule in app.url_map.iter_rules() if any(isinstance(c, IdConverter) for c in rule._converters.values())
    ]


def test_every_route_with_an_id_uses_the_id_converter(app):
    for rule in app.url_map.iter_rules():
        for name, converter in rule._converters.items():
            if isinstance(converter, IntegerConverter):
                assert isinstance(converter, IdConverter), f"{rule.rule}: <{name}> must be <id:{name}>"
    listed = {re.sub(r"<id:\w+>", "{id}", rule.rule).replace("<task_type>", "first_service") for rule in _id_rules(app)}
    assert listed == {path for _method, path in ID_ROUTES}, "ID_ROUTES is out of date"


@pytest.mark.parametrize("value", [HUGE, "2147483648", "0", "-1"])
def test_an_id_beyond_integer_is_a_plain_404(client, login_as, value):
    # every role at once: each route would be open to this user if the id were acceptable
    login_as("admin", "care_manager", "specialist", "insurance", "general_manager")
    answers = {
        path: client.open(path.format(id=value), method=method, headers={"Accept-Language": "en"}).status_code
        for method, path in ID_ROUTES
    }
    assert answers == dict.fromkeys(answers, 404)


def test_the_largest_integer_is_still_an_id(app):
    with app.test_request_context("/"):
        from flask import url_for

        assert url_for("customers.detail", customer_id=2147483647) == "/customers/2147483647"
    adapter = app.url_map.bind("localhost")
    assert adapter.match("/customers/2147483647") == ("customers.detail", {"customer_id": 2147483647})

"""care/web/labels.py is the one home of the display labels: every value has one."""

from __future__ import annotations

import ast
from pathlib import Path

from care.domain import register as register_rules
from care.domain import scripts as script_rules
from care.domain.dms import _VISIT_KINDS as DMS_VISIT_KINDS
from care.domain.roles import Role
from care.messaging import outbox
from care.models.customer import CustomerClass
from care.models.service import VisitKind
from care.services import number_corrections as number_service
from care.services.generator import SKIP_REASONS
from care.services.imports import KINDS as IMPORT_KINDS
from care.web import labels

ROOT = Path(__file__).resolve().parents[2]


def test_every_vocabulary_value_has_a_label():
    assert set(labels.ROLES) == set(Role)
    assert set(labels.VISIT_KINDS) == {k.value for k in VisitKind} == set(DMS_VISIT_KINDS.values())
    assert set(labels.CUSTOMER_CLASSES) == {c.value for c in CustomerClass}
    assert set(labels.APPOINTMENT_STATUSES) == set(register_rules.STATUSES)
    assert set(labels.REGISTER_DIFFERENCES) == set(register_rules.DIFFERENCE_KINDS)
    assert set(labels.OUTBOX_STATUSES) == set(outbox.STATUSES)
    assert set(labels.IMPORT_KINDS) == set(IMPORT_KINDS)
    assert set(labels.NUMBER_PROBLEMS) == {
        number_service.NO_NUMBER, number_service.INVALID, number_service.REPORTED
    }
    assert set(SKIP_REASONS) <= set(labels.GENERATION_SKIP_REASONS)
    assert set(labels.SCRIPT_FIELD_GROUPS) == set(script_rules.GROUPS)


def test_an_unknown_value_shows_as_itself(app):
    with app.test_request_context("/", headers={"Accept-Language": "en"}):
        assert labels.visit_kind_label("maintenance") == "Regular maintenance"
        assert labels.visit_kind_label("hovercraft") == "hovercraft"
        assert labels.call_status_label(None) == ""
        assert labels.role_label("nobody") == "nobody"
        assert labels.outcome_label("maintenance", "no_such_outcome") == "no_such_outcome"


def test_labels_are_translated(app):
    with app.test_request_context("/", headers={"Accept-Language": "zh-CN"}):
        assert labels.visit_kind_label("maintenance") == "定保"
        assert labels.task_type_label("maintenance") != "Maintenance"


def test_no_label_table_outside_the_labels_module():
    """No web module or template keeps a label dictionary of its own."""
    offenders = []
    for path in sorted((ROOT / "care/web").glob("*.py")):
        if path.name == "labels.py":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Dict) and sum(
                isinstance(v, ast.Call) and getattr(v.func, "id", None) == "_l" for v in node.values
            ) >= 2:
                offenders.append(f"{path.name}:{node.lineno}")
    assert not offenders, f"label tables belong in care/web/labels.py: {offenders}"


def test_templates_call_only_registered_label_functions(app):
    """Every `…_label(` a template calls is a global of every page."""
    import re

    called = set()
    for path in (ROOT / "templates").rglob("*.html"):
        called |= set(re.findall(r"\b(\w+_label)\(", path.read_text(encoding="utf-8")))
    assert called <= set(app.jinja_env.globals), called - set(app.jinja_env.globals)

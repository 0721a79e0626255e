"""Fallback messages (care.services.message_templates): the dealer's name is the setting."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from care.domain import scripts as dom
from care.services import Actor
from care.services import message_templates as svc
from care.services.settings import set_settings
from tests import factories

NOW = datetime(2026, 3, 16, 2, 0, tzinfo=UTC)


@pytest.mark.parametrize(("task_type", "channel"), [k for k in svc.KINDS if k[0] != "appointment_reminder"])
def test_every_default_signs_with_the_dealer_name_setting(session, task_type, channel):
    set_settings(session, {"dealer_name": "成都锦泰一汽-大众4S店"}, actor=Actor("t"), now=NOW)
    customer = factories.make_customer(session, name="王伟", email="wang@example.cn", birthday=date(1985, 3, 16))
    vehicle = factories.make_vehicle(
        session, customer, plate="川A12345", warranty_end=date(2026, 4, 1), inspection_due=date(2026, 4, 1)
    )
    factories.make_visit(session, vehicle, date=date(2025, 9, 20), kind="maintenance", mileage=3000)
    factories.make_policy(session, vehicle, insurer="中国人保", expiry=date(2026, 5, 20))
    task = factories.make_task(session, customer, type=task_type, vehicle_id=vehicle.id, now=NOW)
    subject, body = svc.render_for_task(session, task, channel, now=NOW)
    default = svc.DEFAULTS[(task_type, channel)]
    assert "dealer_name" in dom.parse(default.body).fields
    assert body.startswith("【成都锦泰一汽-大众4S店】") or "成都锦泰一汽-大众4S店" in body
    assert "Care Desk" not in body and "【经销商名称】" not in body
    assert "【" not in body.replace("【成都锦泰一汽-大众4S店】", ""), body  # every field filled
    if subject is not None:
        assert "成都锦泰一汽-大众4S店" in subject

"""Survey templates (seeded SSI/CSI, versions) and responses (start, answer, finish)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from care.domain import surveys as dom
from care.domain.surveys import SurveyError
from care.models import SurveyAnswer, SurveyResponse, SurveyTemplate, SurveyTemplateVersion
from care.services import ServiceError
from care.services import surveys as svc
from tests import factories

NOW = datetime(2026, 3, 16, 2, 0, tzinfo=UTC)


def test_seeding_creates_ssi_and_csi_once_with_the_spec_weights(session):
    assert svc.ensure_seeded(session, now=NOW) == ["ssi", "csi"]
    assert svc.ensure_seeded(session, now=NOW) == []
    assert session.scalar(select(func.count()).select_from(SurveyTemplate)) == 2

    ssi = svc.current_version(session, "ssi")
    assert (ssi.version, ssi.scale_min, ssi.scale_max, ssi.overall_item_code) == (1, 1, 7, "overall")
    weights = {f.code: f.weight for f in ssi.factors}
    assert weights == {
        "sales_initiation": 20.49,
        "salesperson": 18.84,
        "dealer_facility": 19.17,
        "deal_process": 19.00,
        "delivery": 22.50,
    }
    initiation = next(f for f in ssi.factors if f.code == "sales_initiation")
    assert [i.weight for i in initiation.items] == [4.25, 0.89, 1.16, 1.52, 1.95, 2.19, 4.51, 1.96, 1.10, 0.96]
    salesperson = next(f for f in ssi.factors if f.code == "salesperson")
    assert [i.text_zh for i in salesperson.items][0] == "销售人员专注只和您一个人交谈"

    csi = svc.current_version(session, "csi")
    assert {f.code: f.weight for f in csi.factors} == {
        "service_initiation": 10.2,
        "service_advisor": 11.5,
        "service_facility": 12.1,
        "service_quality": 14.7,
        "vehicle_pickup": 15.4,
        "convenience": 15.8,
        "problem_experience": 20.3,
    }
    # every callback question of seed 002 is an item
    assert len([i for i in csi.items if i.factor is not None]) == 15
    for version in (ssi, csi):
        dom.validate_spec(svc.spec_of(version))  # stored weights still add up
        overall = next(i for i in version.items if i.code == version.overall_item_code)
        assert overall.factor is None and overall.weight == 0


def test_templates_json_shape(session):
    docs = [svc.template_json(v) for v in svc.templates_in_force(session)]
    assert [d["code"] for d in docs] == ["ssi", "csi"]
    ssi = docs[0]
    assert set(ssi) >= {"code", "name", "version", "scale", "overall_item", "factors"}
    assert ssi["scale"] == [1, 7]
    assert set(ssi["factors"][0]) >= {"code", "name", "weight", "items"}
    assert set(ssi["factors"][0]["items"][0]) >= {"code", "text", "weight"}
    assert sum(f["weight"] for f in ssi["factors"]) == pytest.approx(100)


def test_editing_makes_a_new_version_and_responses_keep_theirs(session):
    customer = factories.make_customer(session)
    r1 = svc.start_or_resume(session, template_code="ssi", customer=customer, channel="phone", user=None, now=NOW)
    spec = svc.spec_of(svc.current_version(session, "ssi"))
    f0 = spec.factors[0]
    bad_items = (dom.ItemSpec(f0.items[0].code, "甲", "A", 5.0),) + f0.items[1:]
    bad = dom.TemplateSpec(spec.code, spec.name_zh, spec.name_en, (dom.FactorSpec(f0.code, f0.name_zh, f0.name_en, f0.weight, bad_items),) + spec.factors[1:], spec.overall, spec.scale)
    with pytest.raises(SurveyError, match="0.75 % more than the factor's 20.49 %"):
        svc.save_template(session, "ssi", bad, user=None, note=None, now=NOW)
    with pytest.raises(ServiceError, match="Nothing changed"):
        svc.save_template(session, "ssi", spec, user=None, note=None, now=NOW)

    renamed = dom.TemplateSpec(spec.code, "销售满意度", spec.name_en, spec.factors, spec.overall, spec.scale)
    v2 = svc.save_template(session, "ssi", renamed, user=None, note="改名", now=NOW)
    assert v2.version == 2
    assert svc.current_version(session, "ssi").id == v2.id
    session.refresh(r1)
    assert r1.version.version == 1
    assert session.scalar(select(func.count()).select_from(SurveyTemplateVersion)) == 3


def test_answers_index_and_finish(session):
    customer = factories.make_customer(session)
    r = svc.start_or_resume(session, template_code="csi", customer=customer, channel="phone", user=None, now=NOW)
    assert r.status == "in_progress"
    assert svc.save_answer(session, r, "greeted_promptly", 7, source="phone", now=NOW).stored
    svc.save_answer(session, r, "checked_together", 4, source="phone", now=NOW)
    svc.save_answer(session, r, "repairs_explained", None, unanswered=True, source="phone", now=NOW)
    svc.save_answer(session, r, "overall", 6, source="phone", now=NOW)
    with pytest.raises(SurveyError, match="outside the scale 1–7"):
        svc.save_answer(session, r, "detailed_quote", 8, source="phone", now=NOW)
    with pytest.raises(SurveyError, match="no item “nope”"):
        svc.save_answer(session, r, "nope", 3, source="phone", now=NOW)
    # changing one's mind overwrites while in progress
    svc.save_answer(session, r, "checked_together", 1, source="phone", now=NOW)

    svc.finish(session, r, user=None, now=NOW + timedelta(minutes=5))
    # greeted 10.2 @ 7 → 1; checked 11.5/3 = 3.83 @ 1 → 0: 100 · 10.2/(10.2 + 3.83)
    assert r.index == pytest.approx(100 * 10.2 / (10.2 + 3.83))
    assert r.status == "completed" and r.completed_at == NOW + timedelta(minutes=5)

    late = svc.save_answer(session, r, "greeted_promptly", 1, source="ivr", now=NOW + timedelta(minutes=6))
    assert (late.stored, late.reason) == (False, "completed")
    answer = session.scalars(select(SurveyAnswer).where(SurveyAnswer.response_id == r.id, SurveyAnswer.score == 7)).one()
    assert answer.source == "phone"


def test_all_unanswered_response_has_no_index(session):
    customer = factories.make_customer(session)
    r = svc.start_or_resume(session, template_code="ssi", customer=customer, channel="phone", user=None, now=NOW)
    svc.save_answer(session, r, "greeted_at_once", None, unanswered=True, source="phone", now=NOW)
    svc.save_answer(session, r, "overall", 7, source="phone", now=NOW)
    svc.finish(session, r, user=None, now=NOW)
    assert r.index is None


def test_start_or_resume_returns_the_tasks_response(session):
    consultant = factories.make_user(session, "consultant", display_name="王顾问")
    vehicle = factories.make_vehicle(session)
    delivery = factories.make_delivery(session, vehicle, consultant_id=consultant.id, consultant_name="王顾问")
    task = factories.make_task(session, vehicle.customer, type="delivery_survey", vehicle_id=vehicle.id, delivery_id=delivery.id)
    r1 = svc.start_or_resume(session, template_code="ssi", customer=vehicle.customer, task=task, channel="phone", user=None, now=NOW)
    assert (r1.staff_id, r1.staff_name, r1.vehicle_id) == (consultant.id, "王顾问", vehicle.id)
    r2 = svc.start_or_resume(session, template_code="ssi", customer=vehicle.customer, task=task, channel="phone", user=None, now=NOW + timedelta(hours=1))
    assert r2.id == r1.id
    assert session.scalar(select(func.count()).select_from(SurveyResponse)) == 1
    with pytest.raises(ServiceError, match="no survey template “xyz”"):
        svc.start_or_resume(session, template_code="xyz", customer=vehicle.customer, channel="phone", user=None, now=NOW)

"""`care survey-templates [--json]` (interfaces.md)."""

from __future__ import annotations

import json

import pytest


def _run(runner, *args):
    return runner.invoke(args=["care", *args], catch_exceptions=False)


def test_survey_templates_json_is_the_contract(runner):
    result = _run(runner, "survey-templates", "--json")
    assert result.exit_code == 0, result.output
    docs = json.loads(result.stdout)
    assert [d["code"] for d in docs] == ["ssi", "csi"]
    for doc in docs:
        assert {"code", "name", "version", "scale", "overall_item", "factors"} <= set(doc)
        assert doc["scale"] == [1, 7] and doc["overall_item"] == "overall"
        assert sum(f["weight"] for f in doc["factors"]) == pytest.approx(100)
        for factor in doc["factors"]:
            assert {"code", "name", "weight", "items"} <= set(factor)
            assert sum(i["weight"] for i in factor["items"]) == pytest.approx(factor["weight"])
            for item in factor["items"]:
                assert {"code", "text", "weight"} <= set(item)
    initiation = docs[0]["factors"][0]
    assert initiation["code"] == "sales_initiation" and initiation["weight"] == 20.49
    assert [i["weight"] for i in initiation["items"]][:2] == [4.25, 0.89]


def test_survey_templates_text(runner):
    result = _run(runner, "survey-templates")
    assert result.exit_code == 0, result.output
    assert "ssi" in result.output and "greeted_at_once" in result.output and "20.49 %" in result.output


@pytest.fixture
def march(app):
    """王: two SSI responses in March (overall 7 and 5 → 1 of 2 very satisfied), 李: none;
    one CSI response."""
    from datetime import UTC, datetime

    from care.extensions import db
    from care.services import surveys as svc
    from tests import factories as f

    taken = datetime(2026, 3, 10, 2, 0, tzinfo=UTC)
    with app.app_context():
        s = db.session
        wang = f.make_user(s, "consultant", username="wang")
        f.make_user(s, "consultant", username="li")
        for score, overall in ((7, 7), (4, 5)):
            r = svc.start_or_resume(s, template_code="ssi", customer=f.make_customer(s), staff=wang, channel="paper", user=None, now=taken)
            for item in r.version.items:
                svc.save_answer(s, r, item.code, overall if item.factor is None else score, source="import", now=taken)
            svc.finish(s, r, user=None, now=taken)
        r = svc.start_or_resume(s, template_code="csi", customer=f.make_customer(s), channel="phone", user=None, now=taken)
        svc.save_answer(s, r, "greeted_promptly", 7, source="phone", now=taken)
        svc.finish(s, r, user=None, now=taken)
        s.commit()
        return wang.id


def test_report_carries_the_survey_figures(runner, march):
    import time_machine

    with time_machine.travel("2026-04-10T02:00:00Z", tick=False):
        result = _run(runner, "report", "--month", "2026-03", "--json")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    ssi = doc["ssi_index"]
    # indexes 100 and 50: mean 75, n 2, t(1) = 12.706 → 75 ± 12.706·35.36/√2 → clipped
    assert ssi["index"] == pytest.approx(75.0) and ssi["responses"] == 2
    assert ssi["ci95"] == [0.0, 100.0]
    assert set(ssi["by_factor"]) == {"sales_initiation", "salesperson", "dealer_facility", "deal_process", "delivery"}
    assert ssi["by_factor"]["delivery"] == {"index": pytest.approx(75.0), "responses": 2}
    csi = doc["csi_index"]
    assert csi["index"] == pytest.approx(100.0) and csi["responses"] == 1 and csi["ci95"] is None
    assert csi["by_factor"]["service_initiation"] == {"index": 100.0, "responses": 1}
    assert csi["by_factor"]["service_quality"] == {"index": None, "responses": 0}
    assert doc["very_satisfied"] == {
        "wang": {"rate": 0.5, "numerator": 1, "denominator": 2},
        "li": {"rate": None, "numerator": 0, "denominator": 0},
    }


def test_find_violations_names_consultants_below_target(app, march):
    from datetime import UTC, date, datetime

    from care.extensions import db
    from care.services.settings import load_settings
    from care.services.survey_results import find_violations

    with app.app_context():
        settings = load_settings(db.session)
        found = find_violations(db.session, date(2026, 3, 1), settings, now=datetime(2026, 4, 2, tzinfo=UTC))
        assert len(found) == 1
        v = found[0]
        assert v["rule"] == "ssi_below_target" and v["person_id"] == march and v["count"] == 1
        assert len(v["evidence"]) == 2 and all(kind == "survey_response" for kind, _id in v["evidence"])
        assert (v["detail"]["very_satisfied"], v["detail"]["answered"]) == (1, 2)
        assert find_violations(db.session, date(2026, 2, 1), settings, now=datetime(2026, 4, 2, tzinfo=UTC)) == []

"""Survey pages: the template editor (versions, refused weights), the results page, the
responses behind a figure (own ones for consultants), a response, the export."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from care.extensions import db
from care.models import AuditLog, SurveyTemplateVersion
from care.services import surveys as svc
from tests import factories

# 10 March 2026, 10:00 in Shanghai: in the month the pages are asked for.
TAKEN = datetime(2026, 3, 10, 2, 0, tzinfo=UTC)


def form_of(version) -> dict[str, str]:
    """The editor's fields for a stored version, as the page would post them."""
    data = {
        "name_zh": version.template.name_zh,
        "name_en": version.template.name_en,
        "scale": f"{version.scale_min}-{version.scale_max}",
        "o-code": version.overall_item_code,
        "o-zh": "总体满意度",
        "o-en": "Overall",
        "note": "",
    }
    for fi, f in enumerate(version.factors):
        data.update({f"f-{fi}-code": f.code, f"f-{fi}-zh": f.name_zh, f"f-{fi}-en": f.name_en, f"f-{fi}-weight": str(f.weight)})
        for ii, i in enumerate(f.items):
            data.update(
                {f"i-{fi}-{ii}-code": i.code, f"i-{fi}-{ii}-zh": i.text_zh, f"i-{fi}-{ii}-en": i.text_en, f"i-{fi}-{ii}-weight": str(i.weight)}
            )
    return data


def test_the_editor_refuses_bad_weights_and_saves_a_new_version(app, client, login_as):
    login_as("care_manager")
    page = client.get("/surveys/templates/ssi/edit")
    assert page.status_code == 200
    body = page.get_data(as_text=True)
    assert 'value="4.25"' in body and "greeted_at_once" in body
    with app.app_context():
        customer = factories.make_customer(db.session)
        old = svc.start_or_resume(db.session, template_code="ssi", customer=customer, channel="paper", user=None, now=TAKEN)
        data = form_of(svc.current_version(db.session, "ssi"))
        db.session.commit()
        old_id = old.id

    bad = dict(data, **{"i-0-0-weight": "5"})  # 4.25 → 5: sales initiation 0.75 over
    refused = client.post("/surveys/templates/ssi/edit", data=bad)
    assert refused.status_code == 422
    text = refused.get_data(as_text=True)
    assert "0.75" in text and "20.49" in text
    assert 'value="5"' in text  # the input is kept

    doubled = dict(data, **{"i-0-1-code": "greeted_at_once"})
    assert "greeted_at_once" in client.post("/surveys/templates/ssi/edit", data=doubled).get_data(as_text=True)
    nan = dict(data, **{"f-1-weight": "abc"})
    assert client.post("/surveys/templates/ssi/edit", data=nan).status_code == 422

    # move weight between two items of a factor and add an item to another: a new version
    good = dict(data, **{"i-0-0-weight": "4.00", "i-0-1-weight": "1.14", "note": "调整权重"})
    good.update({"i-1-3-code": "sp_knowledge", "i-1-3-zh": "销售人员专业知识丰富", "i-1-3-en": "Knowledgeable", "i-1-3-weight": "0"})
    saved = client.post("/surveys/templates/ssi/edit", data=good)
    assert saved.status_code == 303, saved.get_data(as_text=True)[:2000]
    with app.app_context():
        v2 = svc.current_version(db.session, "ssi")
        assert v2.version == 2 and v2.note == "调整权重"
        assert [i.weight for i in v2.factors[0].items][:2] == [4.0, 1.14]
        assert "sp_knowledge" in [i.code for i in v2.factors[1].items]
        assert db.session.get(type(old), old_id).version.version == 1  # the response keeps v1
        assert db.session.scalar(select(func.count()).select_from(SurveyTemplateVersion)) == 3
    show = client.get("/surveys/templates/ssi?version=1").get_data(as_text=True)
    assert "4.25" in show


def test_readers_see_templates_but_no_editor(client, login_as):
    login_as("general_manager")
    assert client.get("/surveys/templates/").status_code == 200
    body = client.get("/surveys/templates/csi").get_data(as_text=True)
    assert "greeted_promptly" in body and "/surveys/templates/csi/edit" not in body
    assert client.get("/surveys/templates/nope").status_code == 404


def answer_all(session, response, score, overall):
    for item in response.version.items:
        svc.save_answer(session, response, item.code, overall if item.factor is None else score, source="import", now=TAKEN)
    svc.finish(session, response, user=None, now=TAKEN)


@pytest.fixture
def march(app):
    """Two SSI responses for consultant 王 (index 100 and 50; one very satisfied), one
    for 李 (all 7), a CSI response, and one SSI in February."""
    with app.app_context():
        s = db.session
        wang = factories.make_user(s, "consultant", username="wang", display_name="王顾问")
        li = factories.make_user(s, "consultant", username="li", display_name="李顾问")
        for staff, score, overall, when in ((wang, 7, 7, TAKEN), (wang, 4, 5, TAKEN), (li, 7, 7, TAKEN),
                                            (wang, 1, 1, TAKEN - timedelta(days=30))):  # fmt: skip
            r = svc.start_or_resume(s, template_code="ssi", customer=factories.make_customer(s), staff=staff,
                                    channel="paper", user=None, now=when)  # fmt: skip
            answer_all(s, r, score, overall)
        r = svc.start_or_resume(s, template_code="csi", customer=factories.make_customer(s), staff="张师傅",
                                channel="phone", user=None, now=TAKEN)  # fmt: skip
        answer_all(s, r, 6, 6)
        s.commit()
        return {"wang": wang.id, "li": li.id}


def test_results_page_shows_the_month_by_factor_person_and_very_satisfied(client, login_as, march):
    login_as("care_manager")
    page = client.get("/surveys/?month=2026-03")
    assert page.status_code == 200
    body = page.get_data(as_text=True)
    # SSI: (100 + 50 + 100)/3 = 83.3; CSI: (6−1)/6 = 83.3 too; 王: 1 of 2 very satisfied
    assert 'id="ssi-index">83.3<' in body
    assert 'id="csi-index">83.3<' in body
    assert "王顾问" in body and "50.0%" in body and "张师傅" in body
    assert f"staff={march['wang']}" in body
    assert "<svg" in body  # the trend chart


def test_responses_behind_a_figure_and_own_only_for_a_consultant(app, client, login_as, march):
    login_as("sales_manager")
    body = client.get(f"/surveys/responses?template=ssi&month=2026-03&staff={march['wang']}").get_data(as_text=True)
    assert body.count("/surveys/responses/") == 2
    top = client.get(f"/surveys/responses?template=ssi&month=2026-03&staff={march['wang']}&top=1").get_data(as_text=True)
    assert top.count("/surveys/responses/") == 1
    assert client.get("/surveys/responses?month=2026-13").status_code == 400
    assert client.get("/surveys/responses?channel=fax").status_code == 400

    client.post("/auth/logout")
    client.post("/auth/login", data={"username": "li", "password": factories.PASSWORD})
    mine = client.get("/surveys/responses?template=ssi").get_data(as_text=True)
    assert mine.count("/surveys/responses/") == 1  # 李's own, not 王's
    assert client.get("/surveys/").status_code == 403


def test_a_response_page_shows_each_answer(app, client, login_as, march):
    login_as("care_manager")
    with app.app_context():
        rid = db.session.scalar(select(func.min(svc.SurveyResponse.id)).where(svc.SurveyResponse.index == 50.0))
    body = client.get(f"/surveys/responses/{rid}").get_data(as_text=True)
    assert 'id="response-index">50.0<' in body
    assert "score-low" in body  # 4 ≤ the threshold
    assert client.get("/surveys/responses/999999").status_code == 404


def test_export_csv_in_the_import_columns_and_audited(app, client, login_as, march):
    login_as("care_manager")
    response = client.get("/surveys/export.csv?template=ssi&month=2026-03")
    assert response.status_code == 200
    rows = list(csv.reader(io.StringIO(response.get_data(as_text=True).lstrip("\ufeff"))))
    assert rows[0][:7] == ["customer_no", "vin", "template", "taken_at", "staff", "channel", "index"]
    assert "greeted_at_once" in rows[0] and rows[0][-1] == "overall"
    assert len(rows) == 4
    xlsx = client.get("/surveys/export.xlsx?template=csi&month=2026-03")
    assert xlsx.status_code == 200 and xlsx.data[:2] == b"PK"
    assert client.get("/surveys/export.pdf?template=ssi").status_code == 404
    assert client.get("/surveys/export.csv").status_code == 400
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(AuditLog).where(AuditLog.action == "survey.export")) == 2


def test_the_import_page_takes_survey_responses_and_translates_a_refused_file(app, client, login_as):
    import io

    login_as("care_manager", locale="zh_CN")
    with app.app_context():
        factories.make_customer(db.session, customer_no="P001")
        db.session.commit()
    good = "customer_no,template,taken_at,greeted_at_once,overall\nP001,ssi,2026-03-05,6,9\nP001,ssi,2026-03-06,7,7\n"
    response = client.post(
        "/imports/", data={"kind": "survey_responses", "file": (io.BytesIO(good.encode()), "ssi.csv")},
        content_type="multipart/form-data",
    )  # fmt: skip
    assert response.status_code == 303
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert 'data-count="created">1<' in page and 'data-count="rejected">1<' in page
    assert "超出量表范围" in page  # the out-of-scale 9, in Chinese
    bad = "customer_no,template,taken_at,greeted_at_onse\nP001,ssi,2026-03-05,6\n"
    refused = client.post(
        "/imports/", data={"kind": "survey_responses", "file": (io.BytesIO(bad.encode()), "bad.csv")},
        content_type="multipart/form-data",
    )  # fmt: skip
    text = refused.get_data(as_text=True) if refused.status_code != 303 else client.get(refused.headers["Location"]).get_data(as_text=True)
    assert "无法识别的列" in text and "greeted_at_onse" in text

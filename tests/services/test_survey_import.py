"""`care import survey_responses` (interfaces.md): item columns by code or text, blank is
unanswered, out-of-scale rejects the row, unknown columns refuse the file, the key
customer + template + taken_at updates on re-import, staff names warn."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import openpyxl
import pytest
from sqlalchemy import func, select

from care.extensions import db
from care.models import StaffNameMapping, SurveyAnswer, SurveyResponse
from care.services import Actor, staff_names
from care.services.imports import ImportFileError, run_import
from tests import factories

NOW = datetime(2026, 4, 2, 2, 0, tzinfo=UTC)


def load(session, path, *, strict=False):
    path = Path(path)
    return run_import(session, "survey_responses", path, filename=path.name, strict=strict, actor=Actor("tester"), now=NOW)


def write_csv(tmp_path, lines, name="ssi.csv"):
    path = tmp_path / name
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.fixture
def people(session):
    wang = factories.make_user(session, "consultant", username="wang", display_name="王顾问")
    c1 = factories.make_customer(session, customer_no="K001")
    c2 = factories.make_customer(session, customer_no="K002")
    v2 = factories.make_vehicle(session, c2)
    session.flush()
    return {"wang": wang, "c1": c1, "c2": c2, "v2": v2}


def responses(session):
    return session.scalars(select(SurveyResponse).order_by(SurveyResponse.id)).all()


def test_import_by_code_and_text_blank_is_unanswered(session, tmp_path, people):
    v2 = people["v2"].vin
    path = write_csv(tmp_path, [
        "客户编号,vin,问卷,调查日期,被评价人,渠道,greeted_at_once,销售人员主动上前与您交谈,overall",
        "K001,,ssi,2026-03-05,wang,纸质,7,,7",
        f",{v2},SSI,2026/03/06 15:30,王顾问,oem,1,4,5",
    ])  # fmt: skip
    run = load(session, path)
    assert (run.status, run.created, run.rejected, run.warned) == ("done", 2, 0, 0), run.all_rejects
    first, second = responses(session)
    assert first.status == "completed" and first.channel == "paper" and first.staff_id == people["wang"].id
    assert first.index == pytest.approx(100.0)  # only greeted_at_once answered (7)
    unanswered = session.scalar(
        select(func.count()).select_from(SurveyAnswer).where(SurveyAnswer.response_id == first.id, SurveyAnswer.unanswered)
    )
    assert unanswered == 1  # the blank 销售人员主动上前… cell
    assert second.customer_id == people["c2"].id and second.vehicle_id == people["v2"].id and second.channel == "oem"
    # greeted 4.25 @ 1 → 0, approached 0.89 @ 4 → .5: 100 · 0.445/5.14
    assert second.index == pytest.approx(100 * 0.445 / 5.14)
    assert second.taken_at == datetime(2026, 3, 6, 7, 30, tzinfo=UTC)
    assert first.taken_at == datetime(2026, 3, 4, 16, 0, tzinfo=UTC)  # 5 March, midnight in Shanghai
    assert first.import_run_id == run.id


def test_reimport_updates_and_never_doubles(session, tmp_path, people):
    lines = ["customer_no,template,taken_at,greeted_at_once,overall", "K001,ssi,2026-03-05,7,7"]
    load(session, write_csv(tmp_path, lines))
    again = load(session, write_csv(tmp_path, lines, "again.csv"))
    assert (again.created, again.updated, again.unchanged) == (0, 0, 1)
    changed = load(session, write_csv(tmp_path, [lines[0], "K001,ssi,2026-03-05,4,7"], "changed.csv"))
    assert (changed.created, changed.updated) == (0, 1)
    (r,) = responses(session)
    assert r.index == pytest.approx(50.0)


def test_rejects_with_row_column_and_reason(session, tmp_path, people):
    path = write_csv(tmp_path, [
        "customer_no,template,taken_at,channel,greeted_at_once,overall",
        "K001,ssi,2026-03-05,paper,9,7",        # row 2: out of scale
        "K404,ssi,2026-03-05,paper,7,7",        # row 3: no such customer
        "K002,xyz,2026-03-05,paper,7,7",        # row 4: no such template
        "K002,ssi,2026-03-05,fax,7,7",          # row 5: no such channel
        "K002,ssi,yesterday,paper,7,7",         # row 6: no date
        "K002,ssi,2026-03-07,paper,seven,7",    # row 7: not a number
        "K002,ssi,2026-03-08,paper,7,7",        # row 8: fine
        "K002,ssi,2026-03-08,paper,6,6",        # row 9: same key as row 8
    ])  # fmt: skip
    run = load(session, path)
    got = {(r["row"], r["column"]) for r in run.all_rejects}
    assert got == {(2, "greeted_at_once"), (3, "customer_no"), (4, "template"), (5, "channel"), (6, "taken_at"),
                   (7, "greeted_at_once"), (9, "taken_at")}  # fmt: skip
    out_of_scale = next(r for r in run.all_rejects if r["row"] == 2)
    assert "outside the scale 1–7" in out_of_scale["error"]
    assert run.created == 1 and run.rejected == 7
    strict = load(session, write_csv(tmp_path, ["customer_no,template,taken_at,overall", "K001,ssi,2026-03-01,8"], "s.csv"), strict=True)
    assert strict.status == "failed" and len(responses(session)) == 1


def test_an_unknown_item_column_refuses_the_file(session, tmp_path, people):
    path = write_csv(tmp_path, ["customer_no,template,taken_at,greeted_at_onse,overall", "K001,ssi,2026-03-05,7,7"])
    with pytest.raises(ImportFileError, match="greeted_at_onse"):
        load(session, path)
    assert responses(session) == []
    # a file without customer_no and vin
    with pytest.raises(ImportFileError, match="customer_no"):
        load(session, write_csv(tmp_path, ["template,taken_at,overall", "ssi,2026-03-05,7"], "n.csv"))


def test_another_templates_item_with_a_score_rejects_the_row(session, tmp_path, people):
    path = write_csv(tmp_path, [
        "customer_no,template,taken_at,greeted_at_once,greeted_promptly,overall",
        "K001,ssi,2026-03-05,7,,7",   # csi's item blank: fine
        "K002,csi,2026-03-05,,6,6",   # ssi's item blank: fine
        "K002,ssi,2026-03-06,7,6,7",  # csi's item scored on an ssi row
    ])  # fmt: skip
    run = load(session, path)
    assert run.created == 2
    assert [(r["row"], r["column"]) for r in run.all_rejects] == [(4, "greeted_promptly")]


def test_unknown_staff_warns_and_a_mapping_reaches_the_stored_responses(session, tmp_path, people):
    path = write_csv(tmp_path, ["customer_no,template,taken_at,staff,overall", "K001,ssi,2026-03-05,小王,7"])
    run = load(session, path)
    assert run.created == 1 and run.warned == 1
    assert run.all_warnings[0]["column"] == "staff"
    (r,) = responses(session)
    assert (r.staff_id, r.staff_name) == (None, "小王")
    assert "小王" in [n.name for n in staff_names.unknown_names(session)]
    staff_names.map_name(session, "小王", people["wang"].id, actor=Actor("tester"), now=NOW)
    session.refresh(r)
    assert r.staff_id == people["wang"].id
    assert session.scalar(select(func.count()).select_from(StaffNameMapping)) == 1


def test_xlsx_and_the_cli_json(app, runner, tmp_path):
    with app.app_context():
        factories.make_customer(db.session, customer_no="X001")
        db.session.commit()
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(["customer_no", "template", "taken_at", "overall", "接待人员是否及时迎接您,并且面带微笑"])
    sheet.append(["X001", "csi", datetime(2026, 3, 9, 10, 0), 7, 3])
    sheet.append(["X001", "csi", datetime(2026, 3, 10, 10, 0), 0, 3])
    path = tmp_path / "csi.xlsx"
    book.save(path)
    result = runner.invoke(args=["care", "import", "survey_responses", str(path), "--json"])
    doc = json.loads(result.stdout)
    assert result.exit_code == 1
    assert doc["created"] == 1 and doc["rejected"] == [{"row": 3, "column": "overall", "error": doc["rejected"][0]["error"]}]

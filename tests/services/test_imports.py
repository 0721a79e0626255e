"""The DMS import (care/services/imports.py) and `care import` (interfaces.md)."""

from __future__ import annotations

import csv
import io
import json
import threading
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import openpyxl
import pytest
from sqlalchemy import event, func, select

from care.domain.dms import UNKNOWN_STAFF
from care.extensions import db
from care.models import (
    AuditLog,
    CareTask,
    Customer,
    Delivery,
    ImportRun,
    InsurancePolicy,
    OwnershipChange,
    ServiceVisit,
    StaffNameMapping,
    Vehicle,
)
from care.services import Actor, imports, staff_names
from care.services.generator import generate
from care.services.imports import ImportFileError, run_import
from tests import factories
from tests.factories import vin_for

DATA = Path(__file__).resolve().parent.parent / "data" / "dms"
NOW = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)
V = [None] + [vin_for(n, wmi="LFV") for n in range(1, 10)]  # as in tests/data/dms/make_samples.py


def load(session, kind, path, *, strict=False, now=NOW, filename=None, **kw):
    path = Path(path)
    return run_import(
        session, kind, path, filename=filename or path.name, strict=strict, actor=Actor("tester"), now=now, **kw
    )


def write_csv(tmp_path, name, lines, encoding="utf-8"):
    path = tmp_path / name
    path.write_bytes(("\n".join(lines) + "\n").encode(encoding))
    return path


def customer(session, no):
    return session.scalar(select(Customer).where(Customer.customer_no == no))


def vehicle(session, vin):
    return session.scalar(select(Vehicle).where(Vehicle.vin == vin))


def problems(run):
    return [(r["row"], r["column"]) for r in run.all_rejects]


@pytest.fixture
def staff(session):
    sales = factories.make_user(session, "consultant", username="sales1", display_name="销售一")
    ins = factories.make_user(session, "insurance", username="ins1", display_name="保险一")
    session.commit()
    return {"sales": sales.id, "ins": ins.id}


@pytest.fixture
def base(session, staff):
    """Customers C001–C004 and vehicles V1, V5 from the sample files."""
    load(session, "customers", DATA / "customers_gb18030.csv")
    load(session, "vehicles", DATA / "vehicles.csv")
    session.commit()
    return staff


# --- encodings, headers, formats ---------------------------------------------------------------


def test_gb18030_csv_with_chinese_headers(session):
    raw = (DATA / "customers_gb18030.csv").read_bytes()
    with pytest.raises(UnicodeDecodeError):
        raw.decode("utf-8")  # really GB18030, not UTF-8

    run = load(session, "customers", DATA / "customers_gb18030.csv")

    assert (run.status, run.total_rows, run.created, run.updated, run.unchanged, run.rejected) == ("done", 4, 4, 0, 0, 0)
    c1 = customer(session, "C001")
    assert c1.name == "张伟"
    assert c1.mobile == "+8613800138000"
    assert c1.phone2 == "+862888881234"
    assert c1.email == "zhangwei@example.com"
    assert c1.birthday == date(1985, 3, 12)
    assert c1.birthday_lunar == "02-15"
    assert (c1.city, c1.address, c1.customer_class) == ("成都", "高新区天府大道100号", "vip")
    assert (c1.no_call, c1.no_sms, c1.no_email) == (False, False, False)
    c2, c3, c4 = customer(session, "C002"), customer(session, "C003"), customer(session, "C004")
    assert c2.birthday == date(1990, 7, 1) and c2.customer_class == "existing"
    assert c3.birthday == date(1978, 11, 5) and c3.birthday_lunar == "08-03" and c3.customer_class == "potential"
    assert c4.customer_class == "key"
    assert (c2.no_call, c3.no_sms, c4.no_email, c4.no_call) == (True, True, True, False)


def test_utf8_bom_csv_english_headers_in_odd_case_with_bad_rows(session):
    run = load(session, "customers", DATA / "customers_utf8_bom.csv")

    assert (run.created, run.rejected) == (2, 3)
    assert problems(run) == [
        (3, "mobile"),
        (4, "email"),
        (4, "birthday"),
        (4, "birthday_lunar"),
        (4, "no_call"),
        (5, "customer_no"),
    ]
    dup = run.all_rejects[-1]["error"]
    assert "Duplicate customer_no" in dup and "“C101”" in dup and "row 2" in dup
    assert run.all_rejects[0]["error"] == "“12345” is not a valid phone number"
    alice = customer(session, "C101")
    assert alice.name == "Alice Chen"  # the later duplicate did not overwrite the first
    assert (alice.no_call, alice.no_sms, alice.no_email) == (True, False, False)
    assert alice.birthday == date(1980, 1, 31)
    dan = customer(session, "C105")
    assert (dan.no_call, dan.no_sms, dan.no_email, dan.customer_class) == (True, False, True, "key")
    assert customer(session, "C102") is None and customer(session, "C103") is None


def test_plain_utf8_csv_and_unknown_columns(session, tmp_path):
    path = write_csv(tmp_path, "c.csv", ["customer_no,name,city,favourite colour", "C1,王五,重庆,blue"])
    run = load(session, "customers", path)
    assert run.created == 1
    assert customer(session, "C1").city == "重庆"


def test_tab_separated_utf16_text_from_excel(session, tmp_path):
    path = tmp_path / "c.csv"
    path.write_bytes("客户编号\t姓名\r\nC1\t赵六\r\n".encode("utf-16"))
    assert load(session, "customers", path).created == 1
    assert customer(session, "C1").name == "赵六"


def test_the_four_phone_spellings_give_one_e164_number(session, tmp_path):
    path = write_csv(
        tmp_path,
        "phones.csv",
        [
            "customer_no,name,mobile",
            "P1,甲,138 0013 8000",
            "P2,乙,+86 138-0013-8000",
            "P3,丙,0086 13800138000",
            "P4,丁,13800138000",
        ],
    )
    run = load(session, "customers", path)
    assert run.created == 4
    assert set(session.scalars(select(Customer.mobile))) == {"+8613800138000"}


def test_bad_phone_rejects_its_row_and_names_the_column(session, tmp_path):
    path = write_csv(
        tmp_path, "c.csv", ["customer_no,name,mobile,phone2", "C1,甲,13800138000,1380013800", "C2,乙,13800138001,"]
    )
    run = load(session, "customers", path)
    assert run.all_rejects == [
        {
            "row": 2,
            "column": "phone2",
            "error": "“1380013800” is not a valid phone number",
            "template": "“%(value)s” is not a valid phone number",
            "params": {"value": "1380013800"},
        }
    ]
    assert customer(session, "C1") is None  # not silently imported with a blank number
    assert customer(session, "C2").mobile == "+8613800138001"


def test_xlsx_with_excel_date_cells(session, base):
    run = load(session, "vehicles", DATA / "vehicles.xlsx")

    assert (run.created, run.rejected) == (2, 1)
    assert problems(run) == [(4, "customer_no")]
    v6 = vehicle(session, V[6])
    assert (v6.delivery_date, v6.warranty_end, v6.inspection_due) == (date(2025, 12, 1), date(2028, 12, 1), date(2027, 12, 1))
    assert v6.mileage == 15000 and v6.consultant_id == base["sales"]
    assert v6.customer_id == customer(session, "C004").id
    v7 = vehicle(session, V[7])
    assert (v7.delivery_date, v7.warranty_end, v7.mileage) == (date(2025, 12, 2), date(2028, 12, 2), 12000)


def test_xlsx_built_here_with_datetime_cells_for_deliveries(session, base, tmp_path):
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append([" VIN ", "Customer_No", "交车时间"])
    ws.append([V[1], "C001", datetime(2026, 1, 15, 10, 30)])
    ws.append([None, None, None])  # a blank row is skipped but keeps its number
    ws.append([V[5], "C003", datetime(2026, 1, 18)])
    ws.append([V[5].lower(), "C003", "2026-01-19 09:00"])
    path = tmp_path / "交车.xlsx"
    wb.save(path)

    run = load(session, "deliveries", path)

    assert (run.total_rows, run.created, run.rejected) == (3, 2, 1)
    assert problems(run) == [(5, "vin")]  # duplicate of row 4
    d1 = session.scalar(select(Delivery).where(Delivery.vehicle_id == vehicle(session, V[1]).id))
    assert d1.delivered_at == datetime(2026, 1, 15, 2, 30, tzinfo=UTC)


# --- references and keys -------------------------------------------------------------------


def test_vehicles_bad_vin_and_unknown_customer_rejected_unknown_consultant_kept(session, staff):
    load(session, "customers", DATA / "customers_gb18030.csv")
    run = load(session, "vehicles", DATA / "vehicles.csv")

    assert (run.created, run.rejected, run.warned) == (3, 2, 1)
    assert problems(run) == [(3, "vin"), (4, "customer_no")]
    errors = [r["error"] for r in run.all_rejects]
    assert "check digit (position 9)" in errors[0]
    assert errors[1] == "No customer with customer_no “C999” exists (import the customers first)"
    assert [imports.public_warning(w) for w in run.all_warnings] == [
        {"row": 5, "column": "consultant", "warning": UNKNOWN_STAFF % {"value": "Nobody"}}
    ]
    assert "“Nobody” is not a user" in run.all_warnings[0]["warning"]
    v1, v4, v5 = vehicle(session, V[1]), vehicle(session, V[4]), vehicle(session, V[5])
    assert v1.plate == "川A12345" and v1.warranty_km == 100000 and v1.consultant_id == staff["sales"]
    assert v1.consultant_name == "sales1"  # the name as the file gives it
    assert v5.plate == "川B55555" and v5.consultant_id == staff["sales"]  # matched by display name
    assert v5.delivery_date == date(2026, 1, 18)
    # the valid vehicle is kept although its consultant has no log-in
    assert (v4.plate, v4.customer_id, v4.consultant_id, v4.consultant_name) == (
        "川A44444", customer(session, "C002").id, None, "Nobody"
    )
    assert session.scalar(select(func.count()).select_from(Vehicle)) == 3


def test_an_ambiguous_display_name_is_not_guessed(session, staff, tmp_path):
    factories.make_user(session, "consultant", username="other", display_name="销售一")
    load(session, "customers", DATA / "customers_gb18030.csv")
    path = write_csv(tmp_path, "v.csv", ["vin,customer_no,consultant", f"{V[1]},C001,销售一"])
    run = load(session, "vehicles", path)
    assert (run.created, problems(run)) == (1, [])
    assert [(w["row"], w["column"]) for w in run.all_warnings] == [(2, "consultant")]
    v1 = vehicle(session, V[1])
    assert (v1.consultant_id, v1.consultant_name) == (None, "销售一")


def test_visits_kinds_amounts_and_a_row_with_three_problems(session, base):
    run = load(session, "visits", DATA / "visits_gb18030.csv")

    assert (run.created, run.rejected) == (6, 1)
    assert problems(run) == [(8, "mileage"), (8, "kind"), (8, "amount")]
    visits = {v.ro_no: v for v in session.scalars(select(ServiceVisit))}
    assert [visits[f"RO000{i}"].kind for i in range(1, 7)] == [
        "first_service", "maintenance", "repair", "warranty", "other", "repair",
    ]  # fmt: skip
    assert visits["RO0002"].amount == Decimal("1234.50")
    assert visits["RO0003"].amount == Decimal("880.00")
    assert visits["RO0003"].date == date(2026, 10, 2)
    assert visits["RO0001"].vehicle_id == vehicle(session, V[1]).id


def test_policies_with_specialist_and_unknown_vehicle(session, base):
    run = load(session, "policies", DATA / "policies.csv")
    assert (run.created, run.rejected) == (2, 1)
    assert problems(run) == [(4, "vin")]
    assert "No vehicle with VIN" in run.all_rejects[0]["error"]
    p1 = session.scalar(select(InsurancePolicy).where(InsurancePolicy.policy_no == "P0001"))
    assert (p1.insurer, p1.expiry, p1.specialist_id) == ("PICC", date(2027, 1, 14), base["ins"])
    p2 = session.scalar(select(InsurancePolicy).where(InsurancePolicy.policy_no == "P0002"))
    assert p2.expiry == date(2027, 1, 17) and p2.specialist_id is None


def test_deliveries_file_sets_the_run_and_utc_times(session, base):
    run = load(session, "deliveries", DATA / "deliveries.csv")
    session.commit()
    assert (run.created, run.rejected) == (2, 0)
    d5 = session.scalar(select(Delivery).where(Delivery.vehicle_id == vehicle(session, V[5]).id))
    assert d5.delivered_at == datetime(2026, 1, 18, 6, 5, tzinfo=UTC)
    assert d5.customer_id == customer(session, "C003").id
    assert d5.consultant_id == base["sales"]
    assert d5.import_run_id == run.id

    again = load(session, "deliveries", DATA / "deliveries.csv", now=NOW + timedelta(days=1))
    assert (again.created, again.updated, again.unchanged) == (0, 0, 2)
    session.refresh(d5)
    assert d5.import_run_id == run.id  # the file it first arrived in


def test_empty_deliveries_file_is_a_valid_run(session):
    run = load(session, "deliveries", DATA / "deliveries_empty.csv")
    session.commit()
    assert (run.status, run.total_rows, run.created, run.rejected, run.error) == ("done", 0, 0, 0, None)
    stored = session.scalar(select(ImportRun).where(ImportRun.kind == "deliveries"))
    assert stored.filename == "deliveries_empty.csv" and stored.status == "done"


# --- upsert -------------------------------------------------------------------------------------


def test_reimporting_the_same_files_changes_nothing(session, base):
    for kind, name in [("visits", "visits_gb18030.csv"), ("policies", "policies.csv"), ("deliveries", "deliveries.csv")]:
        load(session, kind, DATA / name)
    session.commit()
    later = NOW + timedelta(days=1)
    for kind, name, expected in [
        ("customers", "customers_gb18030.csv", 4),
        ("vehicles", "vehicles.csv", 3),
        ("visits", "visits_gb18030.csv", 6),
        ("policies", "policies.csv", 2),
        ("deliveries", "deliveries.csv", 2),
    ]:
        run = load(session, kind, DATA / name, now=later)
        assert (run.created, run.updated, run.unchanged) == (0, 0, expected), kind
    assert session.scalar(select(func.count()).select_from(OwnershipChange)) == 0
    assert customer(session, "C002").no_call_at == NOW  # consent stamps untouched


def test_a_changed_row_is_counted_as_updated_and_an_empty_cell_keeps_the_value(session, tmp_path):
    load(session, "customers", DATA / "customers_gb18030.csv")
    path = write_csv(
        tmp_path,
        "c2.csv",
        ["客户编号,姓名,城市,手机,邮箱", "C001,张伟,重庆,,", "C002,王芳,成都,13900138001,", "C003,李娜,绵阳,,"],
    )
    run = load(session, "customers", path, now=NOW + timedelta(hours=1))
    assert (run.created, run.updated, run.unchanged) == (0, 1, 2)
    c1 = customer(session, "C001")
    assert c1.city == "重庆"
    assert c1.mobile == "+8613800138000" and c1.email == "zhangwei@example.com"
    assert c1.updated_at == NOW + timedelta(hours=1)


def test_a_vehicle_changing_customer_records_the_ownership_change(session, base, tmp_path):
    path = write_csv(tmp_path, "owners.csv", ["vin,customer_no", f"{V[5]},C003", f"{V[1]},C002"])
    run = load(session, "vehicles", path)

    assert (run.updated, run.unchanged) == (1, 1)
    v1 = vehicle(session, V[1])
    assert v1.customer_id == customer(session, "C002").id
    assert v1.plate == "川A12345"  # columns not in the file are kept
    change = session.scalar(select(OwnershipChange))
    assert change.vehicle_id == v1.id
    assert change.old_customer_id == customer(session, "C001").id
    assert change.new_customer_id == customer(session, "C002").id
    assert change.source == "import:owners.csv row 3"
    assert change.changed_at == NOW


def test_consent_flags_record_who_and_when_only_on_change(session, tmp_path):
    t1, t2, t3 = NOW, NOW + timedelta(days=1), NOW + timedelta(days=2)
    first = write_csv(tmp_path, "a.csv", ["customer_no,name,no_call,no_sms,no_email", "C1,甲,Y,N,"])
    load(session, "customers", first, now=t1)
    c = customer(session, "C1")
    assert (c.no_call, c.no_call_by, c.no_call_at) == (True, "import:a.csv", t1)
    assert (c.no_sms, c.no_sms_by, c.no_sms_at) == (False, None, None)
    assert (c.no_email, c.no_email_by) == (False, None)

    same = write_csv(tmp_path, "b.csv", ["customer_no,name,no_call,no_sms,no_email", "C1,甲,是,否,"])
    assert load(session, "customers", same, now=t2).unchanged == 1
    c = customer(session, "C1")
    assert (c.no_call_by, c.no_call_at) == ("import:a.csv", t1)

    flip = write_csv(tmp_path, "c.csv", ["customer_no,name,no_call,no_sms,no_email", "C1,甲,N,true,"])
    assert load(session, "customers", flip, now=t3).updated == 1
    c = customer(session, "C1")
    assert (c.no_call, c.no_call_by, c.no_call_at) == (False, "import:c.csv", t3)
    assert (c.no_sms, c.no_sms_by, c.no_sms_at) == (True, "import:c.csv", t3)
    assert (c.no_email, c.no_email_by, c.no_email_at) == (False, None, None)


def test_strict_imports_nothing_when_a_row_is_invalid(session):
    run = load(session, "customers", DATA / "customers_utf8_bom.csv", strict=True)
    assert (run.status, run.created, run.updated, run.unchanged, run.rejected) == ("failed", 0, 0, 0, 3)
    assert run.error == "3 row(s) rejected: nothing was imported (strict mode)"
    assert session.scalar(select(func.count()).select_from(Customer)) == 0

    clean = load(session, "customers", DATA / "customers_gb18030.csv", strict=True)
    assert (clean.status, clean.created) == ("done", 4)


# --- whole-file refusals ---------------------------------------------------------------------


def test_missing_required_column_refuses_the_file_and_records_the_run(session, tmp_path):
    path = write_csv(tmp_path, "v.csv", ["车架号,车牌", f"{V[1]},川A1"])
    with pytest.raises(ImportFileError) as err:
        load(session, "vehicles", path)
    assert str(err.value) == "The vehicles file lacks the required column(s): customer_no (客户编号)"
    session.commit()
    run = session.scalar(select(ImportRun))
    assert (run.status, run.error, run.created) == ("failed", str(err.value), 0)
    assert session.scalar(select(func.count()).select_from(Vehicle)) == 0


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("empty.csv", b"", "The file is empty"),
        ("blank.csv", b"\r\n , ,\r\n\r\n", "The file has no header row"),
        ("bad.csv", b"customer_no,name\n\xff\xfe\xfd\x80\n", "neither UTF-8 nor GB18030"),
        ("bin.csv", b"customer_no,name\n\x00\x01\x02", "binary data"),
        ("book.csv", b"PK\x03\x04rest-of-a-zip", "give it the .xlsx extension"),
        ("old.csv", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 50, "old Excel .xls"),
        ("bad.xlsx", b"this is no workbook", "not a readable Excel (.xlsx) workbook"),
        ("customers.txt", b"customer_no,name\nC1,x\n", "Unsupported file type “.txt”"),
    ],
)
def test_unreadable_files_are_refused_with_a_reason(session, tmp_path, name, content, message):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(ImportFileError, match=message.replace("(", r"\(").replace(")", r"\)").replace(".", r"\.")):
        load(session, "customers", path)
    with pytest.raises(ImportFileError):
        imports.check_file("customers", path)
    assert session.scalar(select(func.count()).select_from(Customer)) == 0


ROWS_ZH = ["customer_no,name,city", "C001,王小明,成都", "C002,李娜,北京"]
ROWS_LATIN = ["customer_no,name,city", "C001,Renée Müller,Zürich"]


@pytest.mark.parametrize(
    ("lines", "encoding"),
    [(["customer_no,name,city", "C001,王小明,成都"], "shift_jis"), (ROWS_ZH[:2], "big5"), (ROWS_LATIN, "cp1252")],
)
def test_a_file_in_another_encoding_is_refused_and_changes_nothing(session, tmp_path, lines, encoding):
    load(session, "customers", write_csv(tmp_path, "good.csv", ["customer_no,name,city", "C001,王小明,成都"]))
    session.commit()
    path = write_csv(tmp_path, "other.csv", lines, encoding)
    with pytest.raises(ImportFileError, match="neither UTF-8 nor GB18030"):
        imports.check_file("customers", path)
    with pytest.raises(ImportFileError, match="neither UTF-8 nor GB18030"):
        load(session, "customers", path)
    session.commit()
    assert [(c.name, c.city) for c in session.scalars(select(Customer))] == [("王小明", "成都")]
    run = session.scalars(select(ImportRun).order_by(ImportRun.id.desc())).first()
    assert (run.status, run.created, run.updated) == ("failed", 0, 0)


@pytest.mark.parametrize(
    ("lines", "encoding"),
    [(ROWS_ZH, "gb18030"), (ROWS_ZH, "utf-8-sig"), (ROWS_LATIN, "utf-8"), (ROWS_LATIN, "gb18030"),
     (["customer_no,name,city", "C001,欧阳翀,䶮城"], "gb18030")],
)
def test_the_allowed_encodings_still_import(session, tmp_path, lines, encoding):
    run = load(session, "customers", write_csv(tmp_path, "c.csv", lines, encoding))
    assert run.status == "done" and run.created == len(lines) - 1
    assert customer(session, "C001").name == lines[1].split(",")[1]


def test_a_huge_cell_rejects_its_row_and_keeps_the_others(session, tmp_path):
    big = "x" * 1_000_000  # over csv.field_size_limit, in a column the import ignores
    path = write_csv(
        tmp_path,
        "c.csv",
        ["customer_no,name,notes", "C001,张伟,", "C002,王芳,ok", "", f"C003,李娜,{big}", "C004,赵六,fine"],
    )
    imports.check_file("customers", path)
    run = load(session, "customers", path)
    assert (run.status, run.total_rows, run.created, run.rejected) == ("done", 4, 3, 1)
    assert [imports.public_reject(r) for r in run.all_rejects] == [
        {"row": 5, "column": "", "error": "The row cannot be read: a cell has more than 131072 characters or broken quotes"}
    ]
    assert sorted(session.scalars(select(Customer.customer_no))) == ["C001", "C002", "C004"]


def test_a_huge_cell_in_the_header_refuses_the_file(session, tmp_path):
    path = write_csv(tmp_path, "c.csv", ["customer_no,name," + "x" * 200_000, "C001,张伟,"])
    with pytest.raises(ImportFileError, match=r"not a readable CSV table \(line 1\)"):
        load(session, "customers", path)


def _workbook(path, rows, pad_bytes=0):
    wb = openpyxl.Workbook(write_only=True)
    ws = wb.create_sheet()
    ws.append(["customer_no", "name"])
    for i in range(rows):
        ws.append([f"B{i:05d}", f"客户{i}"])
    wb.save(path)
    if pad_bytes:  # a part that packs to almost nothing: a decompression bomb in miniature
        import zipfile

        with zipfile.ZipFile(path, "a", zipfile.ZIP_DEFLATED) as archive:
            archive.writestr("xl/media/pad.bin", b"\0" * pad_bytes)
    return path


def test_the_caps_are_settings(session):
    assert imports.limits_of(session) == imports.Limits(rows=300_000, megabytes=200)


def test_a_file_over_the_row_cap_is_refused_while_streaming(session, tmp_path, monkeypatch):
    monkeypatch.setattr(imports, "limits_of", lambda _session: imports.Limits(rows=50, megabytes=200))
    path = _workbook(tmp_path / "many.xlsx", 51)
    with pytest.raises(ImportFileError, match="more than 50 data rows"):
        load(session, "customers", path)
    assert session.scalar(select(func.count()).select_from(Customer)) == 0
    assert load(session, "customers", _workbook(tmp_path / "ok.xlsx", 50)).created == 50
    # reading stops at the first row over the cap: never more than the cap in memory
    seen = []
    rows = imports._read_xlsx(_workbook(tmp_path / "big.xlsx", 500))
    monkeypatch.setattr(imports, "_read_xlsx", lambda _path: (seen.append(r) or r for r in rows))
    with pytest.raises(ImportFileError, match="more than 50 data rows"):
        imports.read_table(tmp_path / "big.xlsx", imports.Limits(rows=50))
    assert len(seen) == 52  # the header and 51 rows


def test_a_workbook_unpacking_over_the_size_cap_is_refused_before_reading(session, tmp_path, monkeypatch):
    monkeypatch.setattr(imports, "limits_of", lambda _session: imports.Limits(rows=1000, megabytes=1))
    bomb = _workbook(tmp_path / "bomb.xlsx", 3, pad_bytes=2_000_000)
    assert bomb.stat().st_size < 100_000
    with pytest.raises(ImportFileError, match="more than 1 MB of data"):
        imports.check_file("customers", bomb, imports.Limits(megabytes=1))
    with pytest.raises(ImportFileError, match="more than 1 MB of data"):
        load(session, "customers", bomb)
    big = write_csv(tmp_path, "big.csv", ["customer_no,name"] + [f"C{i:06d},{'x' * 40}" for i in range(30_000)])
    with pytest.raises(ImportFileError, match="more than 1 MB of data"):
        load(session, "customers", big)
    assert session.scalar(select(func.count()).select_from(Customer)) == 0


def test_unknown_kind_is_refused(session, tmp_path):
    path = write_csv(tmp_path, "c.csv", ["vin", V[1]])
    with pytest.raises(ImportFileError, match="Unknown kind “cars”"):
        load(session, "cars", path)


def test_check_file_accepts_a_good_file_without_importing(session):
    imports.check_file("customers", DATA / "customers_gb18030.csv")
    imports.check_file("vehicles", DATA / "vehicles.xlsx")
    with pytest.raises(ImportFileError, match="lacks the required column"):
        imports.check_file("visits", DATA / "customers_gb18030.csv")
    assert session.scalar(select(func.count()).select_from(Customer)) == 0


# --- bulk, progress, audit, caps -------------------------------------------------------------


def _many_customers(tmp_path, n):
    lines = ["customer_no,name,mobile,no_call"]
    lines += [f"M{i:05d},客户{i},+86 139{i:08d},{'Y' if i % 2 else 'N'}" for i in range(n)]
    return write_csv(tmp_path, "many.csv", lines)


def test_large_files_use_a_bounded_number_of_statements(app_ctx, session, tmp_path):
    path = _many_customers(tmp_path, 2500)
    statements = []

    def count(conn, cursor, statement, parameters, context, executemany):
        statements.append(statement)

    event.listen(db.engine, "before_cursor_execute", count)
    try:
        calls = []
        run = load(session, "customers", path, progress=lambda r: calls.append(r.processed_rows))
        first = len(statements)
        statements.clear()
        path2 = write_csv(
            tmp_path,
            "many2.csv",
            ["customer_no,name,mobile,no_call"] + [f"M{i:05d},客户{i},+86 138{i:08d},Y" for i in range(2500)],
        )
        run2 = load(session, "customers", path2)
        second = len(statements)
    finally:
        event.remove(db.engine, "before_cursor_execute", count)

    assert run.created == 2500 and run2.updated == 2500
    assert calls[-3:] == [1000, 2000, 2500]  # after each chunk
    assert first < 40, first  # not one statement per row
    assert second < 40, second
    assert session.scalar(select(func.count()).select_from(Customer).where(Customer.no_call_by == "import:many2.csv")) == 1250


def _import_in_threads(app, path, *, per_chunk: bool, n=2):
    barrier = threading.Barrier(n)
    runs, errors = [], []

    def work():
        with app.app_context():
            session = db.session
            try:
                barrier.wait(10)
                progress = (lambda _run: session.commit()) if per_chunk else None
                run = load(session, "customers", path, progress=progress)
                session.commit()
                runs.append((run.created, run.updated, run.unchanged, run.rejected))
            except Exception as exc:  # pragma: no cover - reported below
                errors.append(exc)
                session.rollback()
            finally:
                db.session.remove()

    threads = [threading.Thread(target=work) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    return runs, errors


@pytest.mark.parametrize("per_chunk", [False, True], ids=["one-transaction", "commit-per-chunk"])
def test_two_imports_of_the_same_file_at_once_both_succeed(app, tmp_path, monkeypatch, per_chunk):
    monkeypatch.setattr(imports, "CHUNK", 100)
    path = write_csv(
        tmp_path, "same.csv", ["customer_no,name,mobile"] + [f"S{i:04d},客户{i},138{i:08d}" for i in range(450)]
    )
    runs, errors = _import_in_threads(app, path, per_chunk=per_chunk)
    assert not errors, [type(e).__name__ for e in errors]
    assert len(runs) == 2
    assert sorted((created + updated + unchanged, rejected) for created, updated, unchanged, rejected in runs) == [
        (450, 0),
        (450, 0),
    ]
    assert sum(created for created, *_ in runs) == 450  # each row inserted once, no IntegrityError
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Customer)) == 450
        assert [r.status for r in db.session.scalars(select(ImportRun))] == ["done", "done"]


def test_a_database_error_names_its_type_not_the_row_data(session, tmp_path, monkeypatch):
    from sqlalchemy.exc import IntegrityError

    def refuse(self, rows):
        raise IntegrityError("INSERT …", {"name": "王小明", "mobile": "+8613912345678"}, Exception("Key (x)=(王小明)"))

    monkeypatch.setattr(imports._Import, "_write", refuse)
    path = write_csv(tmp_path, "c.csv", ["customer_no,name,mobile", "C1,王小明,13912345678"])
    with pytest.raises(imports.ImportStopped) as err:
        load(session, "customers", path)
    assert "王小明" not in str(err.value) and "139" not in str(err.value)
    assert err.value.__suppress_context__ and "Exception" in str(err.value)


def test_each_import_is_audited_without_row_data(session):
    run = load(session, "customers", DATA / "customers_utf8_bom.csv")
    entry = session.scalar(select(AuditLog).where(AuditLog.action == "import"))
    assert entry.object_type == "import_run" and entry.object_id == str(run.id)
    assert entry.detail == {
        "kind": "customers", "status": "done", "total": 5, "created": 2, "updated": 0, "unchanged": 0, "rejected": 3,
        "warned": 0,
    }  # fmt: skip
    assert "Alice" not in json.dumps(entry.detail)


def test_stored_rejects_are_capped_but_counted(session, tmp_path, monkeypatch):
    monkeypatch.setattr(imports, "REJECTS_KEPT", 3)
    lines = ["customer_no,name,mobile"] + [f"B{i},x,123" for i in range(5)]
    run = load(session, "customers", write_csv(tmp_path, "bad.csv", lines))
    assert run.rejected == 5
    assert len(run.rejects) == 3 and len(run.all_rejects) == 5


# --- the command line --------------------------------------------------------------------------


def test_cli_json_output_and_exit_code_with_rejects(runner, app):
    result = runner.invoke(args=["care", "import", "customers", str(DATA / "customers_utf8_bom.csv"), "--json"])
    assert result.exit_code == 1
    doc = json.loads(result.stdout)
    assert list(doc) == ["created", "updated", "unchanged", "rejected", "warnings"]
    assert (doc["created"], doc["updated"], doc["unchanged"]) == (2, 0, 0)
    assert all(set(r) == {"row", "column", "error"} for r in doc["rejected"])
    assert doc["rejected"][0] == {"row": 3, "column": "mobile", "error": "“12345” is not a valid phone number"}
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Customer)) == 2  # committed


def test_cli_json_clean_file_exits_0_and_reimport_is_unchanged(runner):
    args = ["care", "import", "customers", str(DATA / "customers_gb18030.csv"), "--json"]
    first = runner.invoke(args=args)
    assert first.exit_code == 0, first.output
    assert json.loads(first.stdout) == {"created": 4, "updated": 0, "unchanged": 0, "rejected": [], "warnings": []}
    again = runner.invoke(args=args)
    assert json.loads(again.stdout) == {"created": 0, "updated": 0, "unchanged": 4, "rejected": [], "warnings": []}


def test_cli_strict_imports_nothing(runner, app):
    result = runner.invoke(args=["care", "import", "customers", str(DATA / "customers_utf8_bom.csv"), "--json", "--strict"])
    assert result.exit_code == 1
    doc = json.loads(result.stdout)
    assert (doc["created"], len(doc["rejected"])) == (0, 6)
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Customer)) == 0
        assert db.session.scalar(select(ImportRun.status)) == "failed"


def test_cli_readable_summary(runner):
    result = runner.invoke(args=["care", "import", "customers", str(DATA / "customers_utf8_bom.csv")])
    assert result.exit_code == 1
    assert "2 created, 0 updated, 0 unchanged, 3 row(s) rejected" in result.stdout
    assert "row 3, mobile: “12345” is not a valid phone number" in result.stdout


def test_cli_empty_deliveries_file_exits_0(runner):
    result = runner.invoke(args=["care", "import", "deliveries", str(DATA / "deliveries_empty.csv"), "--json"])
    assert result.exit_code == 0
    assert json.loads(result.stdout) == {"created": 0, "updated": 0, "unchanged": 0, "rejected": [], "warnings": []}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["cars", str(DATA / "vehicles.csv")], "unknown kind 'cars'"),
        (["customers", "/nonexistent/file.csv"], "no such file"),
        (["customers", str(DATA / "make_samples.py")], "unsupported file type"),
        (["visits", str(DATA / "customers_gb18030.csv")], "lacks the required column(s): ro_no (工单号)"),
    ],
)
def test_cli_refusals_are_one_line_and_non_zero(runner, args, message):
    result = runner.invoke(args=["care", "import", *args, "--json"])
    assert result.exit_code != 0
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0]


# --- staff names that are no user (interfaces.md: kept, warned, mapped once) -----------------


def test_unknown_staff_in_deliveries_and_policies_are_warnings_too(session, base, tmp_path):
    deliveries = write_csv(
        tmp_path, "d.csv", ["vin,customer_no,consultant,delivered_at", f"{V[1]},C001,张伟,2026-01-15 10:30"]
    )
    policies = write_csv(tmp_path, "p.csv", ["policy_no,vin,expiry,specialist", f"P1,{V[1]},2027-01-14,老王"])
    d_run = load(session, "deliveries", deliveries)
    p_run = load(session, "policies", policies)

    assert (d_run.created, d_run.rejected, d_run.warned) == (1, 0, 1)
    assert (p_run.created, p_run.rejected, p_run.warned) == (1, 0, 1)
    assert [(w["row"], w["column"]) for w in p_run.all_warnings] == [(2, "specialist")]
    delivery = session.scalar(select(Delivery))
    policy = session.scalar(select(InsurancePolicy))
    assert (delivery.consultant_id, delivery.consultant_name) == (None, "张伟")
    assert (policy.specialist_id, policy.specialist_name) == (None, "老王")
    assert imports.warned_names(d_run) == ["张伟"]
    assert [(u.name, u.rows, u.columns) for u in staff_names.unknown_names(session)] == [
        ("Nobody", {"vehicles": 1}, {"consultant"}),  # from the vehicles file of `base`
        ("张伟", {"deliveries": 1}, {"consultant"}),
        ("老王", {"policies": 1}, {"specialist"}),
    ]


def test_a_staff_name_longer_than_a_user_name_can_be_is_a_reject(session, base, tmp_path):
    path = write_csv(tmp_path, "v.csv", ["vin,customer_no,consultant", f"{V[1]},C001,{'张' * 121}"])
    run = load(session, "vehicles", path)
    assert (run.rejected, problems(run), run.warned) == (1, [(2, "consultant")], 0)


def test_strict_mode_imports_rows_with_warnings(session, base, tmp_path):
    path = write_csv(tmp_path, "v.csv", ["vin,customer_no,consultant", f"{V[6]},C001,张伟"])
    run = load(session, "vehicles", path, strict=True)
    assert (run.status, run.created, run.warned) == ("done", 1, 1)


def _delivery_files(tmp_path):
    vehicles = write_csv(tmp_path, "v.csv", ["vin,customer_no,consultant", f"{V[1]},C001,张伟", f"{V[5]},C003,sales1"])
    deliveries = write_csv(
        tmp_path,
        "d.csv",
        ["vin,customer_no,consultant,delivered_at", f"{V[1]},C001,张伟,2026-01-15 10:30", f"{V[5]},C003,,2026-01-15 11:00"],
    )
    return vehicles, deliveries


def test_the_post_delivery_call_of_an_unmapped_consultant_waits_for_the_care_manager_until_mapped(
    session, staff, tmp_path
):
    factories.make_user(session, "specialist", username="spec1")  # who would get it, were it not a consultant's
    zhang = factories.make_user(session, "consultant", username="zhangwei", display_name="销售 张伟")
    load(session, "customers", DATA / "customers_gb18030.csv")
    vehicles, deliveries = _delivery_files(tmp_path)
    load(session, "vehicles", vehicles)
    load(session, "deliveries", deliveries)
    generate(session, date(2026, 1, 15), actor=Actor("tester"), now=datetime(2026, 1, 15, 6, 0, tzinfo=UTC))
    calls = {t.vehicle_id: t for t in session.scalars(select(CareTask).where(CareTask.type == "delivery_call"))}
    unmapped, known = calls[vehicle(session, V[1]).id], calls[vehicle(session, V[5]).id]
    # R7 of "张伟" (no user): in the care manager's queue (unassigned), not a specialist's
    assert unmapped.assignee_id is None and unmapped.reason_params["owner_fallback"] == "owner_unmapped"
    assert known.assignee_id == staff["sales"]  # the vehicle's consultant, the delivery naming none
    session.commit()

    manager = factories.make_user(session, "care_manager", username="boss")
    later = NOW + timedelta(hours=1)
    result = staff_names.map_name(session, " 张伟 ", zhang.id, actor=Actor.of(manager), now=later)

    assert (result.mapping.name, result.mapping.user_id, result.mapping.created_by_id) == ("张伟", zhang.id, manager.id)
    assert result.rows == {"vehicles": 1, "deliveries": 1, "policies": 0, "survey_responses": 0}
    assert result.tasks == [unmapped.id]
    task = session.get(CareTask, unmapped.id)
    assert task.assignee_id == zhang.id and "owner_fallback" not in task.reason_params
    assert vehicle(session, V[1]).consultant_id == zhang.id
    assert vehicle(session, V[1]).consultant_name == "张伟"  # still the name as given
    assert session.scalar(select(Delivery.consultant_id).where(Delivery.vehicle_id == vehicle(session, V[1]).id)) == zhang.id
    assert staff_names.unknown_names(session) == []
    entry = session.scalar(select(AuditLog).where(AuditLog.action == "map_staff_name"))
    assert (entry.user_id, entry.object_type, entry.object_id) == (manager.id, "staff_name_mapping", str(result.mapping.id))
    assert entry.detail == {
        "user_id": zhang.id, "vehicles": 1, "deliveries": 1, "policies": 0, "survey_responses": 0, "tasks": [task.id],
    }  # fmt: skip

    # later imports read the mapping: no warning, the user
    again = write_csv(tmp_path, "v2.csv", ["vin,customer_no,consultant", f"{V[6]},C002,张伟"])
    run = load(session, "vehicles", again, now=later)
    assert (run.created, run.warned, run.all_warnings) == (1, 0, [])
    assert (vehicle(session, V[6]).consultant_id, vehicle(session, V[6]).consultant_name) == (zhang.id, "张伟")


def test_a_name_is_mapped_once_and_only_to_an_active_user(session, staff):
    manager = factories.make_user(session, "care_manager", username="boss")
    gone = factories.make_user(session, "consultant", username="gone", active=False)
    actor = Actor.of(manager)
    with pytest.raises(staff_names.MappingError) as refused:
        staff_names.map_name(session, "张伟", gone.id, actor=actor, now=NOW)
    assert (refused.value.status, refused.value.field) == (422, "user_id")
    with pytest.raises(staff_names.MappingError) as refused:
        staff_names.map_name(session, "张伟", 999_999, actor=actor, now=NOW)
    assert refused.value.status == 422
    with pytest.raises(staff_names.MappingError) as refused:
        staff_names.map_name(session, "   ", staff["sales"], actor=actor, now=NOW)
    assert refused.value.field == "name"
    with pytest.raises(staff_names.MappingError):
        staff_names.map_name(session, "张" * 121, staff["sales"], actor=actor, now=NOW)

    staff_names.map_name(session, "张伟", staff["sales"], actor=actor, now=NOW)
    with pytest.raises(staff_names.MappingError) as refused:
        staff_names.map_name(session, "张伟", staff["ins"], actor=actor, now=NOW)
    assert refused.value.status == 409 and "already mapped to 销售一" in str(refused.value)
    assert session.scalar(select(func.count()).select_from(StaffNameMapping)) == 1


def test_a_post_delivery_call_already_handed_out_stays_where_it_is(session, staff, tmp_path):
    other = factories.make_user(session, "specialist", username="spec2")
    zhang = factories.make_user(session, "consultant", username="zhangwei")
    load(session, "customers", DATA / "customers_gb18030.csv")
    vehicles, deliveries = _delivery_files(tmp_path)
    load(session, "vehicles", vehicles)
    load(session, "deliveries", deliveries)
    generate(session, date(2026, 1, 15), actor=Actor("tester"), now=datetime(2026, 1, 15, 6, 0, tzinfo=UTC))
    task = session.scalar(
        select(CareTask).where(CareTask.type == "delivery_call", CareTask.vehicle_id == vehicle(session, V[1]).id)
    )
    task.assignee_id = other.id  # the care manager gave it to someone meanwhile
    session.flush()
    result = staff_names.map_name(session, "张伟", zhang.id, actor=Actor("boss"), now=NOW)
    assert result.tasks == []
    assert session.get(CareTask, task.id).assignee_id == other.id


def test_cli_warnings_only_exit_0_and_are_listed(runner, app):
    assert runner.invoke(args=["care", "import", "customers", str(DATA / "customers_gb18030.csv")]).exit_code == 0
    path = DATA / "deliveries.csv"
    result = runner.invoke(args=["care", "import", "deliveries", str(path), "--json"])
    assert result.exit_code == 1  # no vehicles yet: rejects
    result = runner.invoke(args=["care", "import", "vehicles", str(DATA / "vehicles.csv"), "--json"])
    doc = json.loads(result.stdout)
    assert result.exit_code == 1 and len(doc["rejected"]) == 2  # the bad VIN, the unknown customer
    assert doc["warnings"] == [
        {"row": 2, "column": "consultant", "warning": UNKNOWN_STAFF % {"value": "sales1"}},
        {"row": 5, "column": "consultant", "warning": UNKNOWN_STAFF % {"value": "Nobody"}},
        {"row": 6, "column": "consultant", "warning": UNKNOWN_STAFF % {"value": "销售一"}},
    ]
    # only warnings: exit 0
    result = runner.invoke(args=["care", "import", "deliveries", str(path), "--json"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["rejected"] == [] and [w["row"] for w in doc["warnings"]] == [2, 3]
    readable = runner.invoke(args=["care", "import", "deliveries", str(path)])
    assert readable.exit_code == 0
    assert "2 row(s) with warnings" in readable.stdout
    assert "row 2, consultant (warning): “sales1” is not a user" in readable.stdout


# --- the rejected rows, to correct and import again ------------------------------------------


def _export(session, run, now=NOW):
    return imports.export_rejects(
        session, run, row_header="Row in the file", problems_header="Problems",
        message=lambda entry: entry["error"], actor=Actor("tester"), now=now,
    )  # fmt: skip


def _rows(text):
    assert text.startswith("\ufeff")
    return list(csv.reader(io.StringIO(text[1:])))


def test_the_rejected_rows_file_has_the_rows_own_cells_and_imports_again_once_corrected(session, tmp_path):
    path = write_csv(
        tmp_path,
        "客户.csv",
        [
            "客户编号,姓名,手机,邮箱,备注",
            "C1,张三,+86 138 0013 8000,,ok",
            "C2,李四,12345,,\"a, b\"",
            'C3,=SUM(1),+86 139 0013 9000,not-an-email,-5',
            "C4,王五,13700137000,,",
        ],
    )
    run = load(session, "customers", path)
    assert (run.created, run.rejected) == (2, 2)
    assert run.headers == ["客户编号", "姓名", "手机", "邮箱", "备注"]
    assert run.reject_rows == [
        {"row": 3, "cells": ["C2", "李四", "12345", "", "a, b"]},
        {"row": 4, "cells": ["C3", "=SUM(1)", "+86 139 0013 9000", "not-an-email", "-5"]},
    ]

    rows = _rows(_export(session, run))
    assert rows == [
        ["Row in the file", "Problems", "客户编号", "姓名", "手机", "邮箱", "备注"],
        ["3", "手机: “12345” is not a valid phone number", "C2", "李四", "12345", "", "a, b"],
        # a spreadsheet must not run a cell as a formula: an apostrophe, which the import takes off
        ["4", "邮箱: “not-an-email” is not a valid e-mail address", "C3", "'=SUM(1)", "'+86 139 0013 9000",
         "not-an-email", "'-5"],
    ]  # fmt: skip
    entry = session.scalars(select(AuditLog).where(AuditLog.action == "export")).one()
    assert entry.detail == {"what": "rejects", "rows": 2}

    # the user corrects the two cells and imports the file as it is
    rows[1][4] = "13600136000"
    rows[2][5] = "c3@example.com"
    fixed = tmp_path / "fixed.csv"
    with fixed.open("w", encoding="utf-8-sig", newline="") as out:
        csv.writer(out).writerows(rows)
    again = load(session, "customers", fixed)
    assert (again.created, again.rejected, again.warned) == (2, 0, 0)
    c3 = customer(session, "C3")
    assert (c3.name, c3.mobile, c3.email) == ("=SUM(1)", "+8613900139000", "c3@example.com")
    assert customer(session, "C2").mobile == "+8613600136000"


def test_the_rejected_rows_of_a_workbook_keep_their_dates_and_numbers(session, base, tmp_path):
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["车架号", "客户编号", "交车日期", "里程", "销售顾问"])
    ws.append([V[8], "C404", datetime(2025, 12, 3), 15000, None])
    ws.append([V[9], "C001", datetime(2025, 12, 4), 12000.0, "sales1"])
    path = tmp_path / "车辆.xlsx"
    wb.save(path)
    run = load(session, "vehicles", path)
    assert (run.created, problems(run)) == (1, [(2, "customer_no")])

    rows = _rows(_export(session, run))
    assert rows == [
        ["Row in the file", "Problems", "车架号", "客户编号", "交车日期", "里程", "销售顾问"],
        ["2", "客户编号: No customer with customer_no “C404” exists (import the customers first)",
         V[8], "C404", "2025-12-03 00:00:00", "15000", ""],
    ]  # fmt: skip
    rows[1][3] = "C004"
    fixed = tmp_path / "fixed.csv"
    with fixed.open("w", encoding="utf-8", newline="") as out:
        csv.writer(out).writerows(rows)
    again = load(session, "vehicles", fixed)
    assert (again.created, again.rejected) == (1, 0)
    v8 = vehicle(session, V[8])
    assert (v8.delivery_date, v8.mileage, v8.customer_id) == (date(2025, 12, 3), 15000, customer(session, "C004").id)


def test_stored_rejected_rows_and_warnings_are_purged_with_the_rejects(session, base, tmp_path):
    run = load(session, "vehicles", DATA / "vehicles.csv")
    assert run.reject_rows and run.warnings
    run.finished_at = NOW - timedelta(days=8)
    session.flush()
    assert imports.purge_rejects(session, now=NOW) == 1
    session.refresh(run)
    assert (run.rejects, run.reject_rows, run.warnings) == ([], [], [])
    assert (run.rejected, run.warned) == (2, 1)  # the counts stay
    assert _rows(_export(session, run)) == [["Row in the file", "Problems", *run.headers]]

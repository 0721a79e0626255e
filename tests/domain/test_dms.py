"""DMS file rules (interfaces.md "Import files"): headers, cell formats, row parsing."""

from __future__ import annotations

import ast
import sys
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from care.domain import dms
from care.domain.dms import CellError, HeaderError, match_headers, parse_row
from care.domain.vin import with_check_digit

SHANGHAI = ZoneInfo("Asia/Shanghai")
VIN = with_check_digit("LFVAB218000000001")


def test_module_uses_only_the_standard_library():
    tree = ast.parse(Path(dms.__file__).read_text(encoding="utf-8"))
    roots = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            roots |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            if node.module.startswith("care.domain"):
                continue
            roots.add(node.module.split(".")[0])
    assert roots - {"__future__"} <= set(sys.stdlib_module_names), roots


# --- headers ---------------------------------------------------------------------------------


@pytest.mark.parametrize("header", ["VIN", "vin", " Vin ", "ＶＩＮ", "车架号", " 车架号\u3000", "\ufeffvin"])
def test_vin_header_matches_in_any_case_and_spacing(header):
    hm = match_headers("vehicles", [header, "客户编号"])
    assert hm.index == {"vin": 0, "customer_no": 1}


def test_headers_in_any_order_english_or_chinese_unknown_ignored():
    hm = match_headers("customers", ["备注", "NAME", " Customer_No ", "手机", "Customer No.", "no sms"])
    assert hm.index == {"name": 1, "customer_no": 2, "mobile": 3, "no_sms": 5}
    assert hm.ignored == ("备注", "Customer No.")


def test_missing_required_column_names_it_in_english_and_chinese():
    with pytest.raises(HeaderError) as err:
        match_headers("visits", ["工单号", "vin", "date"])
    assert str(err.value) == "The visits file lacks the required column(s): kind (类型)"
    assert err.value.params["columns"] == "kind (类型)"


def test_a_column_given_twice_refuses_the_file():
    with pytest.raises(HeaderError, match="appears more than once"):
        match_headers("customers", ["customer_no", "name", "手机", "Mobile"])


def test_unknown_kind():
    with pytest.raises(dms.DmsError, match="Unknown kind “cars”"):
        match_headers("cars", ["vin"])


def test_required_columns_per_kind():
    required = {k: [c.key for c in spec.required] for k, spec in dms.KINDS.items()}
    assert required == {
        "customers": ["customer_no", "name"],
        "vehicles": ["vin", "customer_no"],
        "visits": ["ro_no", "vin", "date", "kind"],
        "policies": ["policy_no", "vin", "expiry"],
        "deliveries": ["vin", "customer_no", "delivered_at"],
        "survey_responses": ["template", "taken_at"],  # customer_no or vin: checked by the import
        "appointments": ["appt_no", "vin", "date", "time", "kind"],
    }


# --- dates -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [
        "2026-01-05",
        "2026-1-5",
        "2026/01/05",
        "2026/1/5",
        "2026年1月5日",
        "2026 年 01 月 05 日",
        " 2026-01-05 ",
        "2026-01-05 00:00:00",  # Excel writes date cells like this into CSV
        datetime(2026, 1, 5, 0, 0),  # an Excel date cell read by openpyxl
        date(2026, 1, 5),
    ],
)
def test_date_formats(value):
    assert dms.parse_date(value) == date(2026, 1, 5)


@pytest.mark.parametrize("value", ["", None, "   "])
def test_empty_date_is_none(value):
    assert dms.parse_date(value) is None


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("2026-02-30", "“2026-02-30” is not a real calendar date"),
        ("2026年13月1日", "“2026年13月1日” is not a real calendar date"),
        ("05/01/2026", "“05/01/2026” is not a date (use YYYY-MM-DD, YYYY/MM/DD, YYYY年M月D日)"),
        ("20260105", "“20260105” is not a date (use YYYY-MM-DD, YYYY/MM/DD, YYYY年M月D日)"),
        ("2026-01/05", "“2026-01/05” is not a date (use YYYY-MM-DD, YYYY/MM/DD, YYYY年M月D日)"),
        ("0206-01-05", "“0206-01-05” is not a plausible date"),
        (45000, "“45000” is not a date (use YYYY-MM-DD, YYYY/MM/DD, YYYY年M月D日)"),
    ],
)
def test_bad_dates_say_why(value, message):
    with pytest.raises(CellError) as err:
        dms.parse_date(value)
    assert str(err.value) == message


@pytest.mark.parametrize(
    ("value", "utc"),
    [
        ("2026-01-15 10:30", datetime(2026, 1, 15, 2, 30, tzinfo=UTC)),
        ("2026/1/15 9:05:30", datetime(2026, 1, 15, 1, 5, 30, tzinfo=UTC)),
        ("2026年1月15日 10:30", datetime(2026, 1, 15, 2, 30, tzinfo=UTC)),
        ("2026年1月15日10时30分", datetime(2026, 1, 15, 2, 30, tzinfo=UTC)),
        ("2026-01-15T10:30:00+08:00", datetime(2026, 1, 15, 2, 30, tzinfo=UTC)),
        ("2026-01-15T02:30Z", datetime(2026, 1, 15, 2, 30, tzinfo=UTC)),
        ("2026-01-15 01:00", datetime(2026, 1, 14, 17, 0, tzinfo=UTC)),  # the day before in UTC
        (datetime(2026, 1, 15, 10, 30), datetime(2026, 1, 15, 2, 30, tzinfo=UTC)),  # Excel cell
        (datetime(2026, 1, 15, 10, 30, tzinfo=timezone(timedelta(hours=9))), datetime(2026, 1, 15, 1, 30, tzinfo=UTC)),
    ],
)
def test_delivery_datetimes_are_dealer_local_and_stored_utc(value, utc):
    result = dms.parse_datetime(value, SHANGHAI)
    assert result == utc
    assert result.tzinfo is UTC


def test_delivery_time_follows_the_time_zone_given():
    assert dms.parse_datetime("2026-07-01 10:00", ZoneInfo("Europe/Berlin")) == datetime(2026, 7, 1, 8, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("value", "fragment"),
    [
        ("2026-01-15", "has a date but no time of day"),
        (date(2026, 1, 15), "has a date but no time of day"),
        ("2026-01-15 25:00", "is not a real time of day"),
        ("15.01.2026 10:00", "is not a date and time"),
        ("yesterday", "is not a date and time"),
    ],
)
def test_bad_delivery_datetimes(value, fragment):
    with pytest.raises(CellError, match=fragment):
        dms.parse_datetime(value, SHANGHAI)


# --- flags, classes, kinds -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("Y", True), ("y", True), ("N", False), ("n", False),
        ("1", True), ("0", False), (1, True), (0, False), (1.0, True),
        ("是", True), ("否", False),
        ("true", True), ("TRUE", True), ("False", False), (True, True), (False, False),
        ("", None), (None, None),
    ],
)  # fmt: skip
def test_flags(value, expected):
    assert dms.parse_flag(value) is expected


def test_bad_flag_lists_the_spellings():
    with pytest.raises(CellError) as err:
        dms.parse_flag("maybe")
    assert str(err.value) == "“maybe” is not a yes/no flag (use Y/N, 1/0, 是/否 or true/false)"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("potential", "potential"), ("Existing", "existing"), ("VIP", "vip"), ("key", "key"),
        ("潜在", "potential"), ("保有", "existing"), ("vip", "vip"), ("大客户", "key"),
        ("潜在客户", "potential"), ("", None),
    ],
)  # fmt: skip
def test_customer_classes(value, expected):
    assert dms.parse_class(value) == expected


def test_bad_customer_class():
    with pytest.raises(CellError, match="“gold” is not a customer class"):
        dms.parse_class("gold")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("首保", "first_service"), ("定保", "maintenance"), ("维修", "repair"), ("索赔", "warranty"),
        ("其他", "other"), ("first_service", "first_service"), ("First Service", "first_service"),
        ("MAINTENANCE", "maintenance"), ("repair", "repair"), ("warranty", "warranty"), ("other", "other"),
    ],
)  # fmt: skip
def test_visit_kinds(value, expected):
    assert dms.parse_visit_kind(value) == expected


def test_bad_visit_kind():
    with pytest.raises(CellError, match="“tuning” is not a visit kind"):
        dms.parse_visit_kind("tuning")


@pytest.mark.parametrize(
    ("value", "expected"),
    [("02-15", "02-15"), ("2-5", "02-05"), ("12/30", "12-30"), ("8月3日", "08-03"), (datetime(2026, 3, 15), "03-15"), ("", None)],
)
def test_lunar_birthday(value, expected):
    assert dms.parse_lunar(value) == expected


@pytest.mark.parametrize("value", ["13-01", "02-31", "00-10", "0215", "二月十五"])
def test_bad_lunar_birthday(value):
    with pytest.raises(CellError, match="is not a lunar birthday"):
        dms.parse_lunar(value)


# --- numbers, text, VIN --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [("12345", 12345), ("12,345", 12345), ("12345.0", 12345), (12345, 12345), (12345.0, 12345), (" 0 ", 0), ("", None)],
)
def test_whole_numbers(value, expected):
    assert dms.parse_int(value) == expected


@pytest.mark.parametrize(
    ("value", "fragment"),
    [
        ("12.5", "not a whole number"),
        ("abc", "not a whole number"),
        ("-5", "may not be negative"),
        ("99999999999", "too large"),
        ("9" * 5000, "too large"),  # beyond Python's int-from-text limit: still a clean reject
    ],
)
def test_bad_whole_numbers(value, fragment):
    with pytest.raises(CellError, match=fragment):
        dms.parse_int(value)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("1234.5", Decimal("1234.50")), ("1,234.50", Decimal("1234.50")), ("¥880", Decimal("880.00")),
        ("300元", Decimal("300.00")), (300.5, Decimal("300.50")), (0, Decimal("0.00")), ("0.005", Decimal("0.01")),
    ],
)  # fmt: skip
def test_amounts(value, expected):
    assert dms.parse_amount(value) == expected


@pytest.mark.parametrize("value", ["-5", "abc", "1.2.3", "99999999999"])
def test_bad_amounts(value):
    with pytest.raises(CellError):
        dms.parse_amount(value)


def test_cell_text_undoes_excel_artifacts():
    assert dms.cell_text(13800138000.0) == "13800138000"
    assert dms.cell_text('="000123"') == "000123"
    assert dms.cell_text("  C001\u3000") == "C001"
    assert dms.cell_text(None) == ""


def test_text_too_long_is_rejected():
    with pytest.raises(CellError, match="The text has 41 characters; at most 40 are allowed"):
        dms.parse_text("X" * 41, 40)


def test_plate_normalized():
    assert dms.parse_plate("川a·12345") == "川A12345"
    assert dms.parse_plate(" 川A 12345 ") == "川A12345"


def test_vin_normalized():
    assert dms.parse_vin(VIN.lower()) == VIN
    assert dms.parse_vin(f" {VIN[:8]}-{VIN[8:]} ") == VIN


def test_vin_with_a_wrong_check_digit_says_what_is_expected():
    wrong = VIN[:8] + ("0" if VIN[8] != "0" else "1") + VIN[9:]
    with pytest.raises(CellError) as err:
        dms.parse_vin(wrong)
    assert f"the check digit (position 9) is {wrong[8]}, but the other characters give {VIN[8]}" in str(err.value)


@pytest.mark.parametrize(
    ("value", "fragment"),
    [
        ("LFVAB218000000", "has 14 characters; a VIN has 17"),
        ("LFVAB2180I0000001", "contains I (the letters I, O and Q are not used in VINs)"),
        ("LFVAB2180*0000001", "may contain only letters and digits"),
    ],
)
def test_vin_shape_errors(value, fragment):
    with pytest.raises(CellError, match=fragment.replace("(", r"\(").replace(")", r"\)")):
        dms.parse_vin(value)


# --- rows ------------------------------------------------------------------------------------


def test_parse_row_collects_every_problem_and_keeps_good_values():
    hm = match_headers("customers", ["customer_no", "name", "birthday", "no_call", "class", "city"])
    row = parse_row(hm, 7, ["C1", "", "2026-02-30", "maybe", "vip", " 成都 "], tz=SHANGHAI)
    assert not row.ok
    assert [(col, type(e).__name__) for col, e in row.errors] == [
        ("name", "CellError"),
        ("birthday", "CellError"),
        ("no_call", "CellError"),
    ]
    assert str(row.errors[0][1]) == "name (姓名) is required but empty"
    assert row.values == {"customer_no": "C1", "class": "vip", "city": "成都"}
    assert row.row == 7


def test_parse_row_short_row_means_empty_cells():
    hm = match_headers("customers", ["customer_no", "name", "city"])
    row = parse_row(hm, 2, ["C1", "张三"], tz=SHANGHAI)
    assert row.ok
    assert row.values == {"customer_no": "C1", "name": "张三", "city": None}


def test_messages_are_templates_with_params_for_translation():
    with pytest.raises(CellError) as err:
        dms.parse_flag("x")
    assert err.value.template.startswith("“%(value)s” is not a yes/no flag")
    assert err.value.params == {"value": "x"}


@pytest.mark.parametrize("kind", sorted(dms.KINDS))
def test_any_cell_content_is_parsed_or_rejected_never_raised(kind):
    """Whatever a DMS export holds, a row becomes values or problems: no exception escapes."""
    from hypothesis import given, settings
    from hypothesis import strategies as st

    spec = dms.KINDS[kind]
    hm = match_headers(kind, [c.key for c in spec.columns])
    cell = st.one_of(
        st.none(),
        st.text(max_size=30),
        st.integers(min_value=-(10**20), max_value=10**20),
        st.floats(allow_nan=True, allow_infinity=True),
        st.booleans(),
        st.datetimes(),
        st.dates(),
    )

    @settings(max_examples=150, deadline=None)
    @given(st.lists(cell, min_size=0, max_size=len(spec.columns) + 2))
    def check(cells):
        row = parse_row(hm, 2, cells, tz=SHANGHAI)
        assert all(isinstance(e, CellError) for _, e in row.errors)
        assert set(row.values).isdisjoint({k for k, _ in row.errors})

    check()


def test_plausible_chinese_tells_garbage_from_text():
    assert dms.plausible_chinese("王小明 / 成都") and dms.plausible_chinese("Renée Müller") and dms.plausible_chinese("")
    assert not dms.plausible_chinese("墹彫柧 / 惉搒")  # Shift-JIS 王小明 / 成都 read as GB18030
    assert not dms.plausible_chinese("Ren閑 M黮ler")  # Windows-1252
    assert not dms.plausible_chinese("\ue77b\ue616\ue80b")  # Big5: private-use characters


# --- staff columns and the rejected-rows file ---------------------------------------------------


def test_staff_columns_keep_the_name_as_given_and_have_a_length():
    staff = {(kind, c.key): (c.name_field, c.max_len) for kind, spec in dms.KINDS.items() for c in spec.columns if c.type == dms.USER_REF}
    assert staff == {
        ("vehicles", "consultant"): ("consultant_name", 120),
        ("policies", "specialist"): ("specialist_name", 120),
        ("deliveries", "consultant"): ("consultant_name", 120),
        ("survey_responses", "staff"): ("staff_name", 120),
        ("appointments", "advisor"): ("advisor_name", 120),
    }
    hm = match_headers("vehicles", ["vin", "customer_no", "销售顾问"])
    parsed = parse_row(hm, 2, [VIN, "C1", " 张  伟 "], tz=SHANGHAI)
    assert parsed.values["consultant"] == "张 伟" and parsed.ok and parsed.warnings == []
    parsed = parse_row(hm, 3, [VIN, "C1", "张" * 121], tz=SHANGHAI)
    assert [key for key, _ in parsed.errors] == ["consultant"]


@pytest.mark.parametrize("value", ["=SUM(1)", "+86 138 0013 8000", "-5", "@home", '="0012"'])
def test_a_cell_made_safe_for_spreadsheets_reads_back_as_it_was(value):
    safe = dms.spreadsheet_safe(value)
    assert safe == "'" + value  # a spreadsheet shows it as text, never runs it
    assert dms.cell_text(safe) == dms.cell_text(value)


def test_only_the_apostrophe_before_a_formula_sign_is_taken_off():
    assert dms.cell_text("'=x") == "=x"
    assert dms.cell_text("'abc") == "'abc"  # an apostrophe that is part of the text stays
    assert dms.cell_text("O'Brien") == "O'Brien"
    assert dms.spreadsheet_safe("plain") == "plain"


def test_raw_cells_keep_text_as_given_and_write_workbook_values_as_importable_text():
    assert dms.raw_cell(None) == ""
    assert dms.raw_cell(" C001 ") == " C001 "
    assert dms.raw_cell(15000) == "15000"
    assert dms.raw_cell(12000.0) == "12000"
    assert dms.raw_cell(datetime(2025, 12, 3)) == "2025-12-03 00:00:00"
    assert dms.parse_date(dms.raw_cell(datetime(2025, 12, 3))) == date(2025, 12, 3)
    assert dms.raw_cell(date(2025, 12, 3)) == "2025-12-03"
    assert len(dms.raw_cell("x" * 5000)) == dms.RAW_CELL_MAX


def test_the_rejects_table_puts_row_and_problems_first_then_the_files_own_columns():
    table = dms.rejects_table(
        ["客户编号", "手机", "备注"],
        [(3, ["C2", "12345", "a, b"]), (7, ["C7", "+86 1"])],
        {3: ["mobile: bad"], 7: ["mobile: bad", "name: empty"]},
        row_header="行号",
        problems_header="问题",
    )
    assert table == [
        ["行号", "问题", "客户编号", "手机", "备注"],
        ["3", "mobile: bad", "C2", "12345", "a, b"],
        ["7", "mobile: bad; name: empty", "C7", "'+86 1", ""],
    ]
    # the two added columns are no column of any kind: the import ignores them
    for kind in dms.KINDS:
        headers = ["行号", "问题", "Row in the file", "Problems"] + [c.key for c in dms.KINDS[kind].required]
        assert match_headers(kind, headers).ignored == ("行号", "问题", "Row in the file", "Problems")
    assert dms.rejects_table(None, [(3, [])], {3: ["x"]}, row_header="Row", problems_header="P") == [
        ["Row", "P"],
        ["3", "x"],
    ]


def test_parse_text_collapses_every_kind_of_whitespace():
    """parse_text skips its regular expression when a text has no double space and no
    unprintable character: every whitespace character but the space is unprintable."""
    import re
    import sys

    from care.domain.dms import parse_text

    spaces = [chr(c) for c in range(sys.maxunicode + 1) if re.fullmatch(r"\s", chr(c))]
    assert len(spaces) > 20
    for char in spaces:
        assert parse_text(f"a{char}b{char}{char}c") == "a b c", hex(ord(char))
    assert parse_text("a b  c") == "a b c" and parse_text("成都 高新区") == "成都 高新区"

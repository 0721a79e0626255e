"""Scripts (话术): the merge-field vocabulary, parsing with positions, rendering, defaults."""

from __future__ import annotations

import re
from datetime import date, datetime

from hypothesis import given
from hypothesis import strategies as st

from care.domain import scripts as s
from care.domain.lapsed import loss_reason_words
from care.domain.task_rules import TaskType


def problem_codes(body: str) -> list[str]:
    return [p.code for p in s.validate(body)]


# --- the vocabulary --------------------------------------------------------------------


def test_field_names_and_chinese_names_are_unique_and_do_not_collide():
    names = [f.name for f in s.FIELDS]
    zh = [f.zh for f in s.FIELDS]
    assert len(set(names)) == len(names)
    assert len(set(zh)) == len(zh)
    assert not set(names) & set(zh)
    assert {f.group for f in s.FIELDS} <= set(s.GROUPS)


def test_the_brief_s_fields_exist():
    wanted = {
        "customer_name", "salutation", "plate", "model", "vin_last6", "delivery_date", "due_date",
        "mileage", "warranty_end", "policy_expiry", "insurer", "dealer_name", "specialist_name",
        "specialist_extension", "today",
    }  # fmt: skip
    assert wanted <= set(s.BY_NAME)


def test_every_field_renders_its_value():
    body = " | ".join("{" + f.name + "}" for f in s.FIELDS)
    text = s.render(body, s.sample_context())
    assert "【" not in text
    parts = text.split(" | ")
    assert len(parts) == len(s.FIELDS)
    by_name = dict(zip((f.name for f in s.FIELDS), parts, strict=True))
    assert by_name["customer_name"] == "王伟"
    assert by_name["salutation"] == "王伟车主"
    assert by_name["plate"] == "川A12345"
    assert by_name["delivery_date"] == "2026年1月15日"
    assert by_name["mileage"] == "4,800"
    assert by_name["warranty_km"] == "100,000"
    assert by_name["dealer_name"] == "成都一汽-大众4S店"


def test_values_are_formatted_the_chinese_way():
    f = s.BY_NAME
    assert s.format_value(f["due_date"], date(2026, 3, 5)) == "2026年3月5日"
    assert s.format_value(f["today"], datetime(2026, 3, 5, 9, 7)) == "2026年3月5日 09:07"
    assert s.format_value(f["mileage"], 12345) == "12,345"
    assert s.format_value(f["mileage"], 12345.0) == "12,345"
    assert s.format_value(f["plate"], "  川A12345 ") == "川A12345"
    assert s.format_value(f["plate"], "   ") is None
    assert s.format_value(f["plate"], None) is None


def test_missing_values_render_as_visible_placeholders():
    body = "您好{customer_name}，车牌{plate}，里程{mileage}公里"
    assert s.render(body, {}) == "您好【客户姓名】，车牌【车牌】，里程【行驶里程】公里"
    assert s.render(body, {"customer_name": None, "plate": "", "mileage": 0}) == "您好【客户姓名】，车牌【车牌】，里程0公里"
    assert s.missing_fields(body + "{plate}", {"mileage": 5}) == ["customer_name", "plate"]


def test_render_pieces_mark_values_and_placeholders():
    pieces = s.render_pieces("车牌{plate}，车型{model}", {"plate": "川A1"})
    assert [(p.kind, p.text, p.field) for p in pieces] == [
        ("text", "车牌", None),
        ("value", "川A1", "plate"),
        ("text", "，车型", None),
        ("missing", "【车型】", "model"),
    ]


def test_chinese_field_names_and_spaces_are_accepted():
    parsed = s.parse("{车牌} { plate } {客户姓名}")
    assert parsed.ok
    assert parsed.fields == ("plate", "customer_name")
    assert s.render("{车牌}/{ plate }", {"plate": "川A1"}) == "川A1/川A1"


def test_doubled_braces_are_literal_braces():
    assert s.parse("{{plate}} }} {{").ok
    assert s.render("{{plate}} = {plate}", {"plate": "川A1"}) == "{plate} = 川A1"


def test_salutation_is_the_full_name_and_a_gender_neutral_honorific():
    assert s.salutation("王伟") == "王伟车主"
    assert s.salutation(" 欧阳娜娜 ") == "欧阳娜娜车主"
    assert s.salutation("王伟", honorific="先生/女士") == "王伟先生/女士"
    assert s.salutation("") is None and s.salutation(None) is None


def test_an_organization_is_addressed_by_its_name():
    assert s.salutation("四川鼎信汽车租赁有限公司") == "四川鼎信汽车租赁有限公司"
    assert s.salutation(" 成都华西建设集团 ") == "成都华西建设集团"
    assert s.render("{salutation}，您好！", {"salutation": s.salutation("成都蜀通物流有限公司")}) == "成都蜀通物流有限公司，您好！"
    assert not s.is_organization("王伟") and not s.is_organization("司马公")


# --- problems with positions -----------------------------------------------------------


def test_unknown_field_is_reported_with_its_position_and_a_hint():
    [problem] = s.validate("第一行\n您好{custmer_name}！")
    assert problem.code == "unknown_field"
    assert (problem.offset, problem.line, problem.column, problem.length) == (6, 2, 3, 14)
    assert problem.params == {"name": "custmer_name", "hint": "customer_name"}
    assert "line 2, column 3" in str(problem) and "customer_name" in str(problem)


def test_unknown_field_without_a_near_name():
    [problem] = s.validate("{xyzzy}")
    assert problem.code == "unknown_field" and "hint" not in problem.params


def test_unknown_chinese_field_suggests_the_nearest():
    [problem] = s.validate("{车牌号}")
    assert problem.code == "unknown_field" and problem.params["hint"] == "plate"


def test_unclosed_brace_at_the_end_and_before_a_line_break():
    [end] = s.validate("您好{plate")
    assert (end.code, end.offset, end.line, end.column) == ("unclosed_brace", 2, 1, 3)
    [nl] = s.validate("A{plate\n}")[:1]
    assert (nl.code, nl.offset) == ("unclosed_brace", 1)
    assert problem_codes("A{plate\n}") == ["unclosed_brace", "unmatched_brace"]


def test_unclosed_brace_followed_by_a_field_reports_one_problem_and_keeps_the_field():
    parsed = s.parse("{a {plate}")
    assert [p.code for p in parsed.problems] == ["unclosed_brace"]
    assert parsed.fields == ("plate",)


def test_unmatched_closing_brace():
    [problem] = s.validate("车牌plate}。")
    assert (problem.code, problem.offset, problem.column) == ("unmatched_brace", 7, 8)


def test_empty_and_malformed_fields():
    assert problem_codes("{}") == ["empty_field"]
    assert problem_codes("{ }") == ["empty_field"]
    assert problem_codes("{a b}") == ["bad_field"]
    assert problem_codes("{1st}") == ["bad_field"]


def test_full_width_braces_around_a_field_are_flagged():
    [problem] = s.validate("车牌｛plate｝")
    assert (problem.code, problem.offset, problem.params["name"]) == ("fullwidth_brace", 2, "plate")
    assert s.validate("｛随便写｝") == ()  # full-width braces around other text are text


def test_columns_count_characters_not_bytes():
    [problem] = s.validate("尊敬的客户{oops}")
    assert problem.column == 6


def test_problems_are_capped():
    parsed = s.parse("} " * (s.MAX_ERRORS + 7))
    assert len(parsed.problems) == s.MAX_ERRORS and parsed.more_problems == 7


@given(st.text(alphabet=st.sampled_from(list("{}｛｝ab车\n _")) | st.characters(), max_size=80))
def test_rendering_never_raises(body):
    s.render(body, s.sample_context())
    s.render(body, {})


@given(st.text(max_size=80).filter(lambda t: "{" not in t and "}" not in t and "｛" not in t))
def test_text_without_braces_renders_as_itself(body):
    assert s.render(body, {}) == body
    assert s.validate(body) == ()


def test_invalid_parts_render_as_written():
    assert s.render("{oops} {plate", {"plate": "x"}) == "{oops} {plate"


# --- bodies and versions ---------------------------------------------------------------


def test_normalize_body():
    assert s.normalize_body("\r\n\r\n第一行  \r\n第二行\t\r\n\r\n") == "第一行\n第二行"
    assert s.normalize_body("a\rb") == "a\nb"
    assert s.normalize_body("  缩进保留") == "  缩进保留"


def test_diff_lines_marks_added_and_removed_lines():
    old = "问候\n目的\n内容\n结束"
    new = "问候\n新的目的\n内容\n结束\n附言"
    diff = [(d.op, d.text) for d in s.diff_lines(old, new)]
    assert ("-", "目的") in diff and ("+", "新的目的") in diff and ("+", "附言") in diff
    assert (" ", "问候") in diff
    assert s.diff_lines("same", "same") == []


def test_diff_lines_skips_far_unchanged_lines():
    old = "\n".join(f"line {i}" for i in range(30))
    new = old.replace("line 1\n", "line one\n").replace("line 28", "line twenty-eight")
    diff = s.diff_lines(old, new, context=1)
    assert any(d.text == "…" for d in diff)
    assert len(diff) < 15


def test_tally_counts_by_version_and_outcome():
    rows = [(1, "booked", True, 3), (1, "unreachable", False, 1), (2, "booked", True, 2), (None, "declined", True, 1)]
    tallies = s.tally(rows)
    assert tallies[1].by_outcome == {"booked": 3, "unreachable": 1}
    assert tallies[1].total == 4 and tallies[1].closing == 3 and tallies[1].closing_share == 0.75
    assert tallies[2].closing_share == 1.0
    assert tallies[None].total == 1
    assert s.VersionTally(3).closing_share is None


# --- the default scripts -----------------------------------------------------------------


def test_every_task_type_has_a_valid_default_script():
    assert set(s.DEFAULT_SCRIPTS) == set(TaskType)
    for task_type, (title, body) in s.DEFAULT_SCRIPTS.items():
        parsed = s.parse(body)
        assert parsed.ok, (task_type, [str(p) for p in parsed.problems])
        assert 0 < len(title) <= s.MAX_TITLE
        assert {"salutation", "dealer_name", "specialist_name"} <= set(parsed.fields), task_type
        assert "【问候】" in body and "再见" in body, task_type


def test_first_service_default_covers_the_care_procedure():
    title, body = s.DEFAULT_SCRIPTS[TaskType.FIRST_SERVICE]
    assert title == "首保提醒话术"
    assert "行驶证" in body and "保养手册" in body  # what to bring
    assert {"due_date", "first_service_months", "service_interval_km", "model"} <= set(s.parse(body).fields)
    assert "预约" in body  # offers an appointment
    assert "哪家店" in body  # serviced elsewhere: the shop is recorded


def test_service_callback_default_asks_the_callback_questions():
    body = s.DEFAULT_SCRIPTS[TaskType.SERVICE_CALLBACK][1]
    assert "14. " in body and "详细的报价" in body and "干净整洁" in body


def test_the_lapsed_recall_reads_out_the_forms_loss_reasons():
    """One list: the script names the reasons through {loss_reasons}, never a copy of them."""
    body = s.DEFAULT_SCRIPTS[TaskType.LAPSED_RECALL][1]
    assert "loss_reasons" in s.parse(body).fields
    assert "距离较远" not in body  # no list of its own
    text = s.render(body, {**s.sample_context(), **s.fixed_values()})
    assert "（记录流失原因：" + loss_reason_words() + "）" in text


def test_every_default_reads_naturally_with_the_demo_s_values():
    """The introduction reads 我是<dealer>的<role><name> with plain names: no role word
    twice, no empty or placeholder parts, no doubled punctuation."""
    ctx = {**s.sample_context(), "dealer_name": "成都锦泰一汽-大众4S店", "specialist_name": "刘婷"}
    for task_type, (_title, body) in s.DEFAULT_SCRIPTS.items():
        text = s.render(body, ctx)
        assert not s.missing_fields(body, ctx), task_type
        assert re.search(r"我是成都锦泰一汽-大众4S店的(客服专员|保险专员|销售顾问)刘婷", text), task_type
        assert not re.search(r"[，。！？、]{2}", text), (task_type, re.findall(r".{6}[，。！？、]{2}.{6}", text))
        assert "请问您现在方便" in text or task_type is TaskType.BIRTHDAY, task_type


def test_the_loss_reasons_field_is_known_by_both_names():
    assert s.ALIASES["流失原因"].name == "loss_reasons"
    assert s.render("{流失原因}", s.fixed_values()) == loss_reason_words()

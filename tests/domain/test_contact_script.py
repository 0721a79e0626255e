"""One conversation for a contact: scripts cut at their section headings and assembled
(care/domain/scripts.py split_script, assemble)."""

from __future__ import annotations

import pytest

from care.domain import scripts as dom
from care.domain.task_rules import TaskType


def test_a_script_is_cut_at_its_greeting_and_closing_headings():
    body = "【问候】{salutation}，您好！\n（不方便：稍后再打。）\n\n【提醒目的】您的{plate}该保养了。\n\n【结束语】再见！\n（备注）"
    parts = dom.split_script(body)
    assert parts.greeting == "【问候】{salutation}，您好！\n（不方便：稍后再打。）"
    assert parts.own == "【提醒目的】您的{plate}该保养了。"
    assert parts.closing == "【结束语】再见！\n（备注）"


def test_text_before_the_first_heading_and_other_sections_are_the_task_s_own():
    body = "开场前的提示\n【问候】您好\n【一】甲\n【结束语】再见\n【补充】乙"
    parts = dom.split_script(body)
    assert parts.own == "开场前的提示\n\n【一】甲\n\n【补充】乙"
    assert (parts.greeting, parts.closing) == ("【问候】您好", "【结束语】再见")


def test_a_heading_counts_only_at_the_start_of_a_line():
    parts = dom.split_script("【问候】您好，【结束语】不在行首\n正文")
    assert parts.greeting == "【问候】您好，【结束语】不在行首\n正文" and parts.closing == ""


@pytest.mark.parametrize("greeting, closing", [("开场白", "结语"), ("问候", "结束语")])
def test_the_other_names_of_greeting_and_closing(greeting, closing):
    parts = dom.split_script(f"【{greeting}】您好\n【内容】正文\n【{closing}】再见")
    assert parts.greeting.endswith("您好") and parts.own == "【内容】正文" and parts.closing.endswith("再见")


def test_a_script_without_headings_is_all_its_own_part():
    assert dom.split_script("您好，我是客服。\n再见") == dom.ScriptParts("", "您好，我是客服。\n再见", "")


@pytest.mark.parametrize("task_type", list(TaskType))
def test_every_default_script_has_a_greeting_an_own_part_and_a_closing(task_type):
    parts = dom.split_script(dom.DEFAULT_SCRIPTS[task_type][1])
    assert parts.greeting.startswith("【问候】") and parts.closing.startswith("【结束语】") and parts.own
    assert "【问候】" not in parts.own and "【结束语】" not in parts.own


def test_assemble_greets_once_and_closes_once_from_the_lead():
    lead = "【问候】甲您好\n【甲】甲的事\n【结束语】甲再见"
    second = "【问候】乙您好\n【乙】乙的事\n【结束语】乙再见"
    a = dom.assemble([lead, None, second])
    assert (a.greeting, a.greeting_from, a.closing, a.closing_from) == ("【问候】甲您好", 0, "【结束语】甲再见", 0)
    assert a.own == ("【甲】甲的事", "", "【乙】乙的事")


def test_assemble_takes_the_first_greeting_and_closing_there_are():
    a = dom.assemble(["只有正文", "【问候】乙您好\n【乙】事", "【结束语】丙再见"])
    assert (a.greeting_from, a.closing_from) == (1, 2)
    assert a.own == ("只有正文", "【乙】事", "")
    empty = dom.assemble([None, None])
    assert (empty.greeting, empty.greeting_from, empty.closing_from, empty.own) == ("", None, None, ("", ""))


def test_parts_keep_their_merge_fields_whole():
    """Fields cannot span lines, so cutting at line starts never splits one."""
    body = dom.DEFAULT_SCRIPTS[TaskType.FIRST_SERVICE][1]
    parts = dom.split_script(body)
    for part in (parts.greeting, parts.own, parts.closing):
        assert dom.validate(part) == ()
    assert set(dom.parse(body).fields) == set(
        dom.parse(parts.greeting).fields + dom.parse(parts.own).fields + dom.parse(parts.closing).fields
    )

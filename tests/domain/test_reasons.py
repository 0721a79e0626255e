"""Rendering a task's reason from its message id and (JSON-stored) params."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

from care.domain.reasons import parse_param, render_reason
from care.domain.task_rules import REASON_MESSAGES, Reason


def test_english_default_with_iso_dates_from_json():
    text = render_reason("first_service.reason", {"delivered": "2026-09-15", "due": "2026-12-15"})
    assert text == "delivered 2026-09-15 → first service due by 2026-12-15"


def test_same_text_as_the_domain_reason_for_real_values():
    cn = timezone(timedelta(hours=8))
    params = {"delivered_at": datetime(2026, 9, 15, 10, 0, tzinfo=cn), "due_at": datetime(2026, 9, 16, 10, 0, tzinfo=cn)}
    stored = {k: v.isoformat() for k, v in params.items()}  # as the JSON column keeps them
    assert render_reason("delivery_call.reason", stored) == Reason("delivery_call.reason", params).render()
    assert render_reason("delivery_call.reason", stored) == "delivered 2026-09-15 10:00 → call by 2026-09-16 10:00"


def test_translated_template_and_formatters():
    text = render_reason(
        "warranty_expiry.reason",
        {"warranty_end": "2027-01-31"},
        {"warranty_expiry.reason": "保修于 {warranty_end} 到期"},
        fmt_date=lambda d: f"{d.year}年{d.month}月{d.day}日",
    )
    assert text == "保修于 2027年1月31日 到期"
    stamp = render_reason(
        "delivery_call.reason",
        {"delivered_at": "2026-09-15T02:00:00Z", "due_at": "2026-09-16T02:00:00+00:00"},
        {"delivery_call.reason": "{delivered_at} / {due_at}"},
        fmt_datetime=lambda dt: dt.astimezone(timezone(timedelta(hours=8))).strftime("%H:%M"),
    )
    assert stamp == "10:00 / 10:00"


def test_labels_replace_coded_values():
    text = render_reason(
        "lapsed_recall.reason",
        {"last_visit": "2026-01-02", "group": "local_in_warranty"},
        labels={"group": {"local_in_warranty": "本地·保内"}},
    )
    assert text == "no visit since 2026-01-02 (本地·保内)"


def test_incomplete_or_odd_data_never_raises():
    assert render_reason("first_service.reason", {"delivered": "2026-09-15"}) == (
        "delivered 2026-09-15 → first service due by ?"
    )
    assert render_reason("first_service.reason", {"delivered": None, "due": "soon"}) == (
        "delivered — → first service due by soon"
    )
    assert render_reason("first_service.reason", None).startswith("delivered ?")
    assert render_reason("first_service.reason", ["not", "a", "dict"]).startswith("delivered ?")
    assert render_reason("no.such.reason", {"a": 1}) == "no.such.reason"
    assert render_reason(None, {}) == ""
    # A broken translation falls back to the English template.
    for broken in ("{0}", "{due.year}", "{due", "{due:%Q%}x{delivered!z}"):
        text = render_reason("first_service.reason", {"delivered": "2026-09-15", "due": "2026-12-15"},
                             {"first_service.reason": broken})
        assert text == "delivered 2026-09-15 → first service due by 2026-12-15", broken
    # A format spec that does not fit the value: the value as it is.
    assert render_reason("delivery_call.reason", {"delivered_at": "yesterday", "due_at": 5}) == (
        "delivered yesterday → call by 5"
    )


def test_parse_param():
    assert parse_param("2026-02-28") == date(2026, 2, 28)
    assert parse_param("2026-02-30") == "2026-02-30"  # not a date: kept
    assert parse_param("2026-02-28T10:30:00+08:00").utcoffset() == timedelta(hours=8)
    assert parse_param("2026-02-28T02:30:00Z") == datetime(2026, 2, 28, 2, 30, tzinfo=UTC)
    assert parse_param("P0012345") == "P0012345" and parse_param(7) == 7


def test_every_reason_message_renders_from_its_own_params():
    # Each English message has placeholders only for fields the generator provides.
    for message_id, template in REASON_MESSAGES.items():
        assert render_reason(message_id, {}) != message_id, template

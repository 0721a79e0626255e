"""The monthly report as XLSX (one sheet per section, numbers as numbers, shares
formatted as percentages) and CSV (one table: section, then the section's columns).

A section is ``(name, headers, rows)``; a cell is text, a whole number, a :class:`Share`
(a rate: 0–1, or None when its denominator is 0) or None (no figure: an empty cell in
the sheet, "—" nowhere, so that the sheet can be summed and charted). Dates are written
as the pages show them (the dealer's time), as text.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Any

from flask_babel import gettext as _

from care.domain import kpis as kpi_rules
from care.web.labels import (
    kpi_label,
    kpi_reason_label,
    lapsed_group_label,
    report_actor_label,
    report_state_label,
    report_step_label,
    scorecard_group_label,
    show_datetime,
    task_type_label,
)

Section = tuple[str, list[str], list[list[Any]]]


@dataclass(frozen=True)
class Share:
    """A rate (0–1) or None: a number formatted 0.0% in the sheet."""

    value: float | None


@dataclass(frozen=True)
class Mean:
    value: float | None


def _who(user, fallback: str | None = None) -> str:
    return user.label if user is not None else report_actor_label(fallback)


def sections(view, report, roles) -> list[Section]:
    """The sections of the report page, in its order."""
    doc = view.doc
    rate_head = [_("Rate"), _("Numerator"), _("Denominator")]
    summary = [
        [_("Month"), kpi_rules.month_text(view.month)],
        [_("State"), report_state_label(report.status) if report else _("Not generated yet")],
        [_("Figures as of"), show_datetime(report.generated_at) if report else _("now (live)")],
        [_("Submitted"), f"{show_datetime(report.submitted_at)} {_who(report.submitted_by)}" if report and report.submitted_at else ""],
        [_("Approved"), f"{show_datetime(report.approved_at)} {_who(report.approved_by)}" if report and report.approved_at else ""],
    ]  # fmt: skip

    def row(label: str, r: kpi_rules.KpiResult, *extra) -> list[Any]:
        return [label, Share(r.value), r.numerator, r.denominator, *extra]

    figures = [row(kpi_label(key), r, Share(r.target) if r.target is not None else None) for key, r in view.figures()]
    reminders = [row(task_type_label(t), r) for t, r in view.reminder_rates()]
    churn = [row(lapsed_group_label(g), r) for g, r in view.churn_groups()]
    weeks, reasons, shops = [], [], []
    for key in ("first_service", "maintenance"):
        analysis = doc.get(f"{key}_analysis") or {}
        name = kpi_label(f"{key}_return_rate")
        for w in analysis.get("weeks", []):
            weeks.append([name, w.get("week"), w.get("from"), w.get("to"), Share(w.get("rate")), w.get("numerator"),
                          w.get("denominator")])  # fmt: skip
        for code, n in (analysis.get("not_returned") or {}).items():
            reasons.append([name, kpi_reason_label(code, key), n])
        for s in analysis.get("other_shops", []):
            shops.append([name, s.get("shop"), s.get("location"), s.get("vehicles"), s.get("average_price")])
    sample = view.sample()
    completion = sample.get("completion") or {}
    other = [
        [_("Greetings sent"), doc.get("greetings_sent")],
        [_("SSI (sales satisfaction)"), view.index("ssi_index").get("index")],
        [_("SSI responses"), view.index("ssi_index").get("responses")],
        [_("CSI (service satisfaction)"), view.index("csi_index").get("index")],
        [_("CSI responses"), view.index("csi_index").get("responses")],
        [_("Insurance calls"), sample.get("calls")],
        [_("Sampled"), sample.get("sampled")],
        [_("Verified"), sample.get("verified")],
        [_("Sample completion"), Share(completion.get("rate"))],
    ]
    people = []
    for role, rows in view.cards(frozenset(str(r) for r in roles)):
        for p, card in rows:
            c = card.counts
            people.append([
                scorecard_group_label(role), p.get("name"), c.tasks, c.customers, c.done,
                Share(card.reached_rate.value), Share(card.reached_customer_rate.value), Mean(card.attempts_per_task),
                Share(card.on_time_rate.value), Share(card.attempt_compliance.value),
            ])  # fmt: skip
    texts = [
        [_("Analysis of the month"), (report.analysis if report else None) or ""],
        [_("Improvement plan for next month"), (report.plan if report else None) or ""],
    ]
    history = [
        [show_datetime(s.at), _who(s.user, s.actor), report_step_label(s.action), s.text or ""]
        for s in (report.steps if report else [])
    ]
    return [
        (_("Summary"), [_("Item"), _("Value")], summary),
        (_("KPIs"), [_("Figure"), *rate_head, _("Target")], figures),
        (_("Reminder rates"), [_("Task type"), *rate_head], reminders),
        (_("Churn by group"), [_("Group"), _("Churn rate"), _("Lapsed"), _("Served in the period")], churn),
        (_("Weekly returns"), [_("Figure"), _("Week"), _("Week starts"), _("Week ends"), *rate_head], weeks),
        (_("Not returned"), [_("Figure"), _("Reason"), _("Count")], reasons),
        (_("Other shops"), [_("Figure"), _("Shop"), _("Location"), _("Vehicles"), _("Average price (CNY)")], shops),
        (_("Other figures"), [_("Item"), _("Value")], other),
        (_("People"), [_("Group"), _("Name"), _("Tasks"), _("Customers"), _("Done"), _("Reached, per task"),
                       _("Reached, per customer"), _("Attempts per task"), _("On time"), _("R13 compliance")], people),
        (_("Analysis and plan"), [_("Item"), _("Text")], texts),
        (_("History"), [_("When"), _("Who"), _("Step"), _("Text")], history),
    ]  # fmt: skip


def _sheet_name(name: str, used: set[str]) -> str:
    clean = "".join("_" if ch in "[]:*?/\\" else ch for ch in name)[:31] or "Sheet"
    candidate, k = clean, 2
    while candidate in used:
        candidate = f"{clean[:28]} {k}"
        k += 1
    used.add(candidate)
    return candidate


def xlsx(sections: list[Section]) -> bytes:
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Font

    book = Workbook()
    book.remove(book.active)
    used: set[str] = set()
    for name, headers, rows in sections:
        sheet = book.create_sheet(_sheet_name(name, used))
        sheet.append(headers)
        for cell in sheet[1]:
            cell.font = Font(bold=True)
        for values in rows:
            sheet.append([_plain(v) for v in values])
            for cell, v in zip(sheet[sheet.max_row], values, strict=False):
                if isinstance(v, Share):
                    cell.number_format = "0.0%"
                elif isinstance(v, Mean):
                    cell.number_format = "0.00"
                elif isinstance(v, str):
                    if v.startswith("="):
                        cell.data_type = "s"  # a text, never a formula
                    if "\n" in v:
                        cell.alignment = Alignment(wrap_text=True, vertical="top")
        for k, header in enumerate(headers):
            width = max([len(str(header))] + [min(60, len(str(_plain(r[k]) or ""))) for r in rows if k < len(r)])
            sheet.column_dimensions[sheet.cell(1, k + 1).column_letter].width = max(10, width * 1.6 + 2)
        sheet.freeze_panes = "A2"
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _plain(value: Any) -> Any:
    """A cell's value for a sheet or a CSV: a number stays a number, no figure is empty."""
    if isinstance(value, (Share, Mean)):
        return value.value
    return value


def csv_text(sections: list[Section], writer) -> None:
    """Every section as rows of one table: the section's name first, its header row, its
    rows; shares as decimals (0.875), no figure empty."""
    for name, headers, rows in sections:
        writer.writerow([_("Section"), *headers])
        for values in rows:
            writer.writerow([name, *("" if _plain(v) is None else _csv_value(_plain(v)) for v in values)])
        writer.writerow([])


def _csv_value(value: Any) -> Any:
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@"):
        return "'" + value  # a text that a spreadsheet would run as a formula
    return value

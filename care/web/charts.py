"""Charts as server-side SVG (issue 12 item 6): no JavaScript, nothing from a CDN.

Two kinds, each a pure function from data to a :class:`Chart` (the SVG markup and the
numbers behind it), embedded with the ``chart`` macro of ``templates/charts/_macros.html``:

- :func:`line_chart`: a trend over months (12 by default), one or several series of
  shares (0–1, shown as %) or indexes (0–100); ``None`` is a gap (the line breaks);
- :func:`bar_chart`: one value per person, horizontal bars, with a target line.

Readable in print and without colour: each series has its own marker shape and dash
pattern and is labelled at its end; a bar below its target is hatched and says so;
every value is written on the chart or in the table under it. Accessible: the SVG is
``role="img"`` named by its ``<title>`` and described by its ``<desc>``; the macro puts
the numbers in a table as well.

Values are formatted here ("87.5%", "—" for None); the labels (titles, names) arrive
translated from the caller. The output is escaped markup; callers never build SVG.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from xml.sax.saxutils import escape, quoteattr

from markupsafe import Markup

RATE, INDEX = "rate", "index"  # a share 0–1 (shown as %), or an index 0–100

# Colours with at least 4.5:1 contrast on white; the shapes and dashes carry the meaning.
COLOURS = ("#1f4e79", "#a14000", "#2e6b30", "#6a1b9a", "#9c1c1c", "#37474f")
DASHES = ("", "7 4", "2 3", "9 3 2 3", "4 4", "12 4")
MARKERS = ("circle", "square", "triangle", "diamond", "cross", "triangle_down")
TEXT = "#222"
_MONTH_RE = re.compile(r"^([0-9]{4})-([0-9]{2})$")
_ID_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_-]{0,63}$")  # used inside attributes
GRID = "#bbb"


@dataclass(frozen=True)
class Series:
    label: str
    values: Sequence[float | None]


@dataclass(frozen=True)
class Bar:
    label: str
    value: float | None
    note: str = ""  # e.g. "12/14": shown after the value


@dataclass(frozen=True)
class Chart:
    """A drawn chart: its markup and the same numbers as a table (``columns`` head the
    value columns, each row is a label and its formatted values)."""

    id: str
    title: str
    svg: Markup
    columns: tuple[str, ...]
    rows: tuple[tuple[str, tuple[str, ...]], ...] = field(default_factory=tuple)


def fmt(value: float | None, kind: str = RATE) -> str:
    """A value as the charts write it: 87.5% for a share, 82.3 for an index, — for None."""
    if value is None:
        return "—"
    return f"{value * 100:.1f}%" if kind == RATE else f"{value:.1f}"


def _scaled(value: float, kind: str) -> float:
    """The value on the 0–100 axis (clamped: a chart never draws outside its frame)."""
    v = value * 100 if kind == RATE else value
    return max(0.0, min(100.0, v))


def _finite(value: float | None) -> float | None:
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def _n(x: float) -> str:
    return f"{x:.1f}".rstrip("0").rstrip(".")


def _marker(shape: str, x: float, y: float, colour: str, r: float = 4.0) -> str:
    common = f'fill="{colour}" stroke="{colour}" stroke-width="1" class="chart-marker chart-marker-{shape}"'
    if shape == "circle":
        return f'<circle cx="{_n(x)}" cy="{_n(y)}" r="{_n(r)}" {common}/>'
    if shape == "square":
        return f'<rect x="{_n(x - r)}" y="{_n(y - r)}" width="{_n(2 * r)}" height="{_n(2 * r)}" {common}/>'
    if shape == "cross":
        return (
            f'<path d="M{_n(x - r)},{_n(y - r)}L{_n(x + r)},{_n(y + r)}M{_n(x - r)},{_n(y + r)}L{_n(x + r)},{_n(y - r)}" '
            f'fill="none" stroke="{colour}" stroke-width="2" class="chart-marker chart-marker-cross"/>'
        )
    if shape == "diamond":
        pts = [(x, y - r - 1), (x + r + 1, y), (x, y + r + 1), (x - r - 1, y)]
    elif shape == "triangle_down":
        pts = [(x - r, y - r), (x + r, y - r), (x, y + r)]
    else:  # triangle
        pts = [(x, y - r - 1), (x + r, y + r), (x - r, y + r)]
    return f'<polygon points="{" ".join(f"{_n(a)},{_n(b)}" for a, b in pts)}" {common}/>'


def _markup(parts: list[str]) -> Markup:
    """The SVG as markup: every text in it went through ``escape``/``quoteattr`` and every
    number was formatted here, so nothing a user typed is markup."""
    return Markup("".join(parts))  # noqa: S704 - built from escaped pieces only (above)


def _check_id(chart_id: str) -> str:
    if not _ID_RE.match(chart_id):
        raise ValueError(f"not a chart id: {chart_id!r}")
    return chart_id


def _head(chart_id: str, title: str, desc: str, width: int, height: int) -> list[str]:
    _check_id(chart_id)
    return [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" id={quoteattr(chart_id)} '
        f'viewBox="0 0 {width} {height}" width="{width}" height="{height}" role="img" '
        f'aria-labelledby="{chart_id}-title {chart_id}-desc" font-family="sans-serif" font-size="11">',
        f'<title id="{chart_id}-title">{escape(title)}</title>',
        f'<desc id="{chart_id}-desc">{escape(desc)}</desc>',
    ]


def line_chart(
    chart_id: str,
    title: str,
    labels: Sequence[str],
    series: Sequence[Series],
    *,
    kind: str = RATE,
    desc: str = "",
    target: float | None = None,
    target_label: str = "",
    width: int = 640,
    height: int = 240,
) -> Chart:
    """A trend: ``labels`` along the x axis (e.g. the 12 months ``2026-01`` …), each
    series' values in the same order (``None``: no figure that month, a gap). The y axis
    is 0–100 (% for shares). Each series: its own colour, dash and marker, its label at
    its last point; an optional dashed ``target`` line."""
    if kind not in (RATE, INDEX):
        raise ValueError(f"unknown chart kind {kind!r}")
    for s in series:
        if len(s.values) != len(labels):
            raise ValueError(f"series {s.label!r} has {len(s.values)} values for {len(labels)} labels")
    left, right, top, bottom = 44, 130, 12, 34
    plot_w, plot_h = width - left - right, height - top - bottom
    n = len(labels)

    def x_at(i: int) -> float:
        return left + (plot_w * (i + 0.5) / n if n else 0)

    def y_at(v: float) -> float:
        return top + plot_h * (1 - _scaled(v, kind) / 100)

    parts = _head(chart_id, title, desc or title, width, height)
    parts.append('<g class="chart-grid">')
    for tick in (0, 25, 50, 75, 100):
        y = top + plot_h * (1 - tick / 100)
        parts.append(f'<line x1="{left}" x2="{left + plot_w}" y1="{_n(y)}" y2="{_n(y)}" stroke="{GRID}" stroke-width="0.5"/>')
        text = f"{tick}%" if kind == RATE else str(tick)
        parts.append(f'<text x="{left - 4}" y="{_n(y + 4)}" text-anchor="end" fill="{TEXT}">{text}</text>')
    step = max(1, math.ceil(n / 12))
    for i, label in enumerate(labels):
        if i % step and i != n - 1:
            continue
        month = _MONTH_RE.match(label)
        if month:  # "2026-03": the month, and the year under the first and every January
            year, mm = month.groups()
            first = i == 0 or mm == "01"
            parts.append(
                f'<text x="{_n(x_at(i))}" y="{height - bottom + 14}" text-anchor="middle" fill="{TEXT}">{mm}</text>'
            )
            if first:
                parts.append(
                    f'<text x="{_n(x_at(i))}" y="{height - bottom + 27}" text-anchor="middle" fill="{TEXT}">{year}</text>'
                )
        else:
            parts.append(
                f'<text x="{_n(x_at(i))}" y="{height - bottom + 16}" text-anchor="middle" fill="{TEXT}">{escape(label)}</text>'
            )
    parts.append("</g>")
    t = _finite(target)
    if t is not None:
        y = y_at(t)
        parts.append(
            f'<g class="chart-target"><line x1="{left}" x2="{left + plot_w}" y1="{_n(y)}" y2="{_n(y)}" stroke="{TEXT}" '
            f'stroke-width="1" stroke-dasharray="3 3"/>'
            f'<text x="{left + plot_w + 4}" y="{_n(y + 4)}" fill="{TEXT}">{escape(target_label or fmt(t, kind))}</text></g>'
        )
    end_labels: list[tuple[float, str, str]] = []
    for k, s in enumerate(series):
        colour, dash, shape = COLOURS[k % len(COLOURS)], DASHES[k % len(DASHES)], MARKERS[k % len(MARKERS)]
        values = [_finite(v) for v in s.values]
        segments: list[list[tuple[float, float]]] = [[]]
        for i, v in enumerate(values):
            if v is None:
                if segments[-1]:
                    segments.append([])
                continue
            segments[-1].append((x_at(i), y_at(v)))
        parts.append(f'<g class="chart-series" data-series="{k}">')
        dash_attr = f' stroke-dasharray="{dash}"' if dash else ""
        for seg in segments:
            if len(seg) >= 2:
                d = "M" + "L".join(f"{_n(x)},{_n(y)}" for x, y in seg)
                parts.append(f'<path d="{d}" fill="none" stroke="{colour}" stroke-width="2"{dash_attr}/>')
        for i, v in enumerate(values):
            if v is not None:
                parts.append(_marker(shape, x_at(i), y_at(v), colour))
        parts.append("</g>")
        last = max((i for i, v in enumerate(values) if v is not None), default=None)
        if last is not None:
            end_labels.append((y_at(values[last]), f"{s.label} {fmt(values[last], kind)}", colour))
    # Direct labels at the right, pushed apart so that they never overlap.
    end_labels.sort()
    placed: list[float] = []
    for y, _text, _colour in end_labels:
        placed.append(max(y, placed[-1] + 12) if placed else y)
    overflow = (placed[-1] - (top + plot_h)) if placed else 0
    if overflow > 0:
        placed = [p - overflow for p in placed]
    for (_y, text, colour), y in zip(end_labels, placed, strict=True):
        parts.append(
            f'<text x="{left + plot_w + 6}" y="{_n(y + 4)}" fill="{colour}" class="chart-label">{escape(text)}</text>'
        )
    parts.append("</svg>")
    rows = tuple((s.label, tuple(fmt(_finite(v), kind) for v in s.values)) for s in series)
    return Chart(chart_id, title, _markup(parts), tuple(labels), rows)


def bar_chart(
    chart_id: str,
    title: str,
    bars: Sequence[Bar],
    *,
    kind: str = RATE,
    desc: str = "",
    target: float | None = None,
    target_label: str = "",
    below_label: str = "below target",
    value_label: str = "",
    width: int = 640,
) -> Chart:
    """One bar per person (in the order given), its value written at its end; a dashed
    vertical ``target`` line; a bar below the target hatched and marked ``below_label``.
    A person without a figure (None) gets "—" and no bar."""
    if kind not in (RATE, INDEX):
        raise ValueError(f"unknown chart kind {kind!r}")
    left, right, top, row_h = 150, 150, 22, 22
    plot_w = width - left - right
    height = top + row_h * max(1, len(bars)) + 22
    t = _finite(target)

    def x_at(v: float) -> float:
        return left + plot_w * _scaled(v, kind) / 100

    parts = _head(chart_id, title, desc or title, width, height)
    parts.append(
        f'<defs><pattern id="{chart_id}-hatch" width="6" height="6" patternUnits="userSpaceOnUse" '
        f'patternTransform="rotate(45)"><rect width="6" height="6" fill="#fff"/>'
        f'<line x1="0" y1="0" x2="0" y2="6" stroke="{COLOURS[1]}" stroke-width="3"/></pattern></defs>'
    )
    bottom_y = top + row_h * max(1, len(bars))
    parts.append('<g class="chart-grid">')
    for tick in (0, 50, 100):
        x = left + plot_w * tick / 100
        parts.append(f'<line x1="{_n(x)}" x2="{_n(x)}" y1="{top - 4}" y2="{bottom_y}" stroke="{GRID}" stroke-width="0.5"/>')
        text = f"{tick}%" if kind == RATE else str(tick)
        parts.append(f'<text x="{_n(x)}" y="{bottom_y + 14}" text-anchor="middle" fill="{TEXT}">{text}</text>')
    parts.append("</g>")
    for i, bar in enumerate(bars):
        v = _finite(bar.value)
        y = top + row_h * i
        label = bar.label if len(bar.label) <= 22 else bar.label[:21] + "…"
        parts.append(f'<g class="chart-bar" data-value="{"" if v is None else v}">')
        parts.append(f'<text x="{left - 6}" y="{y + 15}" text-anchor="end" fill="{TEXT}">{escape(label)}</text>')
        below = v is not None and t is not None and v < t - 1e-12
        if v is not None:
            w = max(1.0, x_at(v) - left)
            fill = f"url(#{chart_id}-hatch)" if below else COLOURS[0]
            stroke = COLOURS[1] if below else COLOURS[0]
            parts.append(
                f'<rect x="{left}" y="{y + 4}" width="{_n(w)}" height="{row_h - 8}" fill="{fill}" stroke="{stroke}" '
                f'class="{"chart-below" if below else "chart-ok"}"/>'
            )
        text = fmt(v, kind) + (f" {bar.note}" if bar.note else "") + (f" ({below_label})" if below else "")
        x_text = (x_at(v) if v is not None else left) + 6
        parts.append(f'<text x="{_n(x_text)}" y="{y + 15}" fill="{TEXT}">{escape(text)}</text>')
        parts.append("</g>")
    if t is not None:
        x = x_at(t)
        parts.append(
            f'<g class="chart-target"><line x1="{_n(x)}" x2="{_n(x)}" y1="{top - 6}" y2="{bottom_y}" stroke="{TEXT}" '
            f'stroke-width="1.5" stroke-dasharray="4 3"/>'
            f'<text x="{_n(x)}" y="{top - 9}" text-anchor="middle" fill="{TEXT}">{escape(target_label or fmt(t, kind))}</text></g>'
        )
    if not bars:
        parts.append(f'<text x="{left}" y="{top + 15}" fill="{TEXT}">—</text>')
    parts.append("</svg>")
    rows = tuple((b.label, (fmt(_finite(b.value), kind) + (f" {b.note}" if b.note else ""),)) for b in bars)
    return Chart(chart_id, title, _markup(parts), (value_label or title,), rows)

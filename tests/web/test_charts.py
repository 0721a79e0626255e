"""The SVG charts (care/web/charts.py): parsed as XML, what a reader needs is there."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from care.web import charts

NS = {"s": "http://www.w3.org/2000/svg"}


def parse(chart: charts.Chart) -> ET.Element:
    return ET.fromstring(str(chart.svg))


def texts(root: ET.Element) -> list[str]:
    return [t.text or "" for t in root.iter("{http://www.w3.org/2000/svg}text")]


MONTHS = [f"2026-{m:02d}" for m in range(1, 13)]


def test_line_chart_is_an_accessible_image_with_title_and_desc():
    c = charts.line_chart("trend-a", "Return <rates>", MONTHS, [charts.Series("A", [0.5] * 12)], desc="12 months")
    root = parse(c)
    assert root.get("role") == "img"
    assert root.get("aria-labelledby") == "trend-a-title trend-a-desc"
    assert root.find("s:title", NS).text == "Return <rates>"  # escaped in the markup, intact when read
    assert root.find("s:desc", NS).text == "12 months"
    assert root.find("s:title", NS).get("id") == "trend-a-title"


def test_line_chart_breaks_at_gaps_and_keeps_isolated_points():
    values = [0.5, 0.6, None, 0.7, None, None, 0.8, 0.9, 1.0, None, 0.4, None]
    root = parse(charts.line_chart("g", "t", MONTHS, [charts.Series("S", values)]))
    series = root.find("s:g[@class='chart-series']", NS)
    paths = series.findall("s:path", NS)
    # Segments of two or more points: [0.5, 0.6] and [0.8, 0.9, 1.0]; 0.7 and 0.4 alone.
    assert len(paths) == 2
    assert paths[0].get("d").count("L") == 1 and paths[1].get("d").count("L") == 2
    markers = [e for e in series if "chart-marker" in (e.get("class") or "")]
    assert len(markers) == 7  # one per value, none for the gaps


def test_line_chart_series_differ_without_colour_and_are_labelled_directly():
    series = [charts.Series(name, [0.1 * (k + 1)] * 12) for k, name in enumerate("ABC")]
    root = parse(charts.line_chart("m", "t", MONTHS, series))
    groups = root.findall("s:g[@class='chart-series']", NS)
    shapes = [next(e for e in g if "chart-marker" in (e.get("class") or "")).get("class") for g in groups]
    dashes = [g.find("s:path", NS).get("stroke-dasharray") for g in groups]
    assert len(set(shapes)) == 3
    assert len(set(dashes)) == 3
    labels = [t.text for t in root.findall("s:text[@class='chart-label']", NS)]
    assert labels == ["C 30.0%", "B 20.0%", "A 10.0%"]  # top to bottom, each with its last value


def test_direct_labels_of_equal_values_do_not_overlap():
    series = [charts.Series(name, [0.9] * 12) for name in "ABCD"]
    root = parse(charts.line_chart("o", "t", MONTHS, series))
    ys = sorted(float(t.get("y")) for t in root.findall("s:text[@class='chart-label']", NS))
    assert all(b - a >= 12 for a, b in zip(ys, ys[1:], strict=False))


def test_line_chart_scales_rates_and_indexes_onto_the_same_axis():
    rate = parse(charts.line_chart("r", "t", ["a"], [charts.Series("S", [0.8])]))
    index = parse(charts.line_chart("i", "t", ["a"], [charts.Series("S", [80.0])], kind=charts.INDEX))

    def marker_y(root):
        return root.find("s:g[@class='chart-series']/s:circle", NS).get("cy")

    assert marker_y(rate) == marker_y(index)
    assert "80%" not in texts(index) and "80.0" in " ".join(texts(index))
    assert "100%" in texts(rate) and "100" in texts(index)


def test_line_chart_clamps_values_outside_its_frame():
    root = parse(charts.line_chart("c", "t", ["a", "b"], [charts.Series("S", [1.5, -1])], height=240))
    ys = [float(c.get("cy")) for c in root.iter("{http://www.w3.org/2000/svg}circle")]
    assert min(ys) >= 12 and max(ys) <= 240 - 34


def test_line_chart_table_has_every_value_and_gaps_as_dashes():
    c = charts.line_chart("t", "t", ["a", "b"], [charts.Series("S", [0.25, None])])
    assert c.columns == ("a", "b")
    assert c.rows == (("S", ("25.0%", "—")),)


def test_line_chart_refuses_series_of_the_wrong_length_and_unknown_kinds():
    with pytest.raises(ValueError):
        charts.line_chart("x", "t", MONTHS, [charts.Series("S", [0.5])])
    with pytest.raises(ValueError):
        charts.line_chart("x", "t", MONTHS, [], kind="pie")


def test_line_chart_target_line_is_drawn_and_labelled():
    root = parse(charts.line_chart("tg", "t", MONTHS, [], target=0.95, target_label="min 95%"))
    target = root.find("s:g[@class='chart-target']", NS)
    assert target.find("s:line", NS).get("stroke-dasharray")
    assert target.find("s:text", NS).text == "min 95%"


def test_bar_chart_hatches_bars_below_target_and_writes_every_value():
    bars = [charts.Bar("张三", 0.98, "49/50"), charts.Bar("李四", 0.5, "5/10"), charts.Bar("王五", None)]
    c = charts.bar_chart("b", "R13", bars, target=0.95, below_label="below")
    root = parse(c)
    rows = root.findall("s:g[@class='chart-bar']", NS)
    assert len(rows) == 3
    assert rows[0].find("s:rect", NS).get("class") == "chart-ok"
    assert rows[1].find("s:rect", NS).get("class") == "chart-below"
    assert rows[1].find("s:rect", NS).get("fill") == "url(#b-hatch)"
    assert rows[2].find("s:rect", NS) is None  # no figure: no bar
    all_text = texts(root)
    assert "98.0% 49/50" in all_text and "50.0% 5/10 (below)" in all_text and "—" in all_text
    assert root.find("s:g[@class='chart-target']/s:text", NS).text == "95.0%"
    assert c.rows == (("张三", ("98.0% 49/50",)), ("李四", ("50.0% 5/10",)), ("王五", ("—",)))


def test_bar_lengths_are_proportional():
    root = parse(charts.bar_chart("p", "t", [charts.Bar("a", 1.0), charts.Bar("b", 0.25)]))
    widths = [float(r.get("width")) for r in root.iter("{http://www.w3.org/2000/svg}rect") if r.get("class")]
    assert widths[0] == pytest.approx(4 * widths[1], rel=0.01)


def test_bar_chart_without_people_is_still_a_valid_image():
    root = parse(charts.bar_chart("e", "empty", []))
    assert root.get("role") == "img" and "—" in texts(root)


def test_names_are_escaped():
    root = parse(charts.bar_chart("x", "t", [charts.Bar("<b>&", 0.5)]))
    assert "<b>&" in texts(root)


def test_chart_ids_must_be_plain():
    with pytest.raises(ValueError):
        charts.bar_chart('x" onload="alert(1)', "t", [])


def test_month_labels_are_short_with_the_year_under_the_first_and_january():
    labels = ["2025-11", "2025-12", "2026-01", "2026-02"]
    root = parse(charts.line_chart("y", "t", labels, [charts.Series("S", [0.1, 0.2, 0.3, 0.4])]))
    axis = [t for t in texts(root) if t.isdigit()]
    assert axis == ["11", "2025", "12", "01", "2026", "02"]

"""The self-contained HTML report: inline plotly.js, inline CSS, one file, works offline."""

from __future__ import annotations

import functools
import json
import os
from dataclasses import asdict
from importlib import resources
from pathlib import Path
from typing import Any

import jinja2
from markupsafe import Markup

from chip2grid.atomic import write_text_atomic
from chip2grid.jsonable import jsonable
from chip2grid.report.model import Chart, Report, Series

PALETTE = (
    "#1f77b4",
    "#ff7f0e",
    "#2ca02c",
    "#d62728",
    "#9467bd",
    "#8c564b",
    "#e377c2",
    "#7f7f7f",
    "#bcbd22",
    "#17becf",
)


def _trace(series: Series) -> dict[str, Any]:
    x = [jsonable(v) for v in series.x]
    y = [jsonable(v) for v in series.y]
    trace: dict[str, Any] = {"name": series.name, "x": x, "y": y}
    if series.kind in ("bar", "hbar"):
        trace["type"] = "bar"
        if series.kind == "hbar":
            trace["orientation"] = "h"
        if series.base is not None:
            trace["base"] = [jsonable(v) for v in series.base]
    else:
        trace["type"] = "scatter"
        trace["mode"] = "lines" if series.kind in ("line", "step") else series.kind
        if series.kind == "step":
            trace["line"] = {"shape": "hv"}
    if series.text:
        trace["hovertext"] = list(series.text)
    if series.color:
        trace["marker"] = {"color": series.color}
    if series.axis == "y2":
        trace["yaxis"] = "y2"
    return trace


def chart_to_plotly(chart: Chart) -> dict[str, Any]:
    """A plotly.js figure (``{"data": [...], "layout": {...}}``) of plain JSON values."""
    layout: dict[str, Any] = {
        "title": {"text": chart.title},
        "xaxis": {"title": {"text": chart.x_label}, "automargin": True},
        "yaxis": {"title": {"text": chart.y_label}, "automargin": True},
        "barmode": chart.barmode,
        "margin": {"l": 60, "r": 60, "t": 50, "b": 50},
        "legend": {"orientation": "h", "y": -0.2},
        "colorway": list(PALETTE),
        "height": 420,
    }
    if chart.x_log:
        layout["xaxis"]["type"] = "log"
    if chart.y_log:
        layout["yaxis"]["type"] = "log"
    if chart.y2_label or any(s.axis == "y2" for s in chart.series):
        layout["yaxis2"] = {
            "title": {"text": chart.y2_label},
            "overlaying": "y",
            "side": "right",
            "automargin": True,
        }
    return {"data": [_trace(s) for s in chart.series], "layout": layout}


def report_to_dict(report: Report) -> dict[str, Any]:
    """The report as JSON-ready data: charts as plotly figures, everything else as is."""
    return {
        "title": report.title,
        "scenario_name": report.scenario_name,
        "scenario_yaml": report.scenario_yaml,
        "calibration": report.calibration,
        "summary": [{**asdict(item), "value": jsonable(item.value)} for item in report.summary],
        "metrics": {k: jsonable(v) for k, v in report.metrics.items()},
        "sections": [asdict(s) for s in report.sections],
        "charts": [
            {
                "id": c.id,
                "section": c.section,
                "title": c.title,
                "note": c.note,
                "figure": chart_to_plotly(c),
            }
            for c in report.charts
        ],
        "tables": [asdict(t) for t in report.tables],
        "sources": [asdict(s) for s in report.sources],
        "notes": list(report.notes),
    }


@functools.cache
def plotly_js() -> str:
    """The plotly.js bundle of the installed plotly package (no network)."""
    from plotly.offline import get_plotlyjs

    return str(get_plotlyjs())


@functools.cache
def _environment() -> jinja2.Environment:
    folder = resources.files(__package__).joinpath("templates")
    return jinja2.Environment(
        loader=jinja2.FunctionLoader(lambda name: folder.joinpath(name).read_text("utf-8")),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def script_json(data: Any) -> Markup:
    """JSON safe to place inside a ``<script>`` element (no ``</`` can close it)."""
    text = json.dumps(data, allow_nan=False, separators=(",", ":"))
    return Markup(text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026"))


def render_html(report: Report) -> str:
    """The report as one HTML document (about 5 MB: plotly.js is inline)."""
    figures = {c.id: chart_to_plotly(c) for c in report.charts}
    template = _environment().get_template("report.html.j2")
    return template.render(
        report=report,
        figures=script_json(figures),
        plotly_js=Markup(plotly_js()),
        css=Markup(_environment().get_template("report.css").render()),
    )


def write_html_report(report: Report, path: str | os.PathLike[str]) -> Path:
    """Write the report to ``path`` through a temporary file (nothing half-written).

    Returns
    -------
    Path
        The file written.
    """
    target = Path(path)
    text = render_html(report)
    return write_text_atomic(target, text)

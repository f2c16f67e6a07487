"""Reports: self-contained HTML with interactive charts, static PNG/SVG through matplotlib.

>>> from chip2grid.scenario import evaluate, load_scenario
>>> from chip2grid.report import build_report, write_html_report
>>> report = build_report(evaluate(load_scenario("default"), simulate=False))  # doctest: +SKIP
>>> write_html_report(report, "/tmp/report.html")  # doctest: +SKIP
"""

from __future__ import annotations

from chip2grid.report.build import (
    SECTIONS,
    build_report,
    fmt_number,
    industry_rows,
    report_sources,
)
from chip2grid.report.html import (
    chart_to_plotly,
    plotly_js,
    render_html,
    report_to_dict,
    write_html_report,
)
from chip2grid.report.model import Chart, Report, Section, Series, Source, SummaryItem, Table
from chip2grid.report.static import write_static_charts

__all__ = [
    "SECTIONS",
    "Chart",
    "Report",
    "Section",
    "Series",
    "Source",
    "SummaryItem",
    "Table",
    "build_report",
    "chart_to_plotly",
    "fmt_number",
    "industry_rows",
    "plotly_js",
    "render_html",
    "report_sources",
    "report_to_dict",
    "write_html_report",
    "write_static_charts",
]

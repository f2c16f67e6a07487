"""The typed content of a report: charts as data series, tables as formatted cells.

One model feeds every renderer: the self-contained HTML (plotly.js), the static PNG/SVG files
(matplotlib) and the web dashboard's JSON. A renderer never computes anything; it draws what
:func:`chip2grid.report.build_report` put here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

SeriesKind = Literal["bar", "hbar", "line", "step", "markers", "lines+markers"]
BarMode = Literal["group", "stack", "overlay"]
Value = float | str


@dataclass(frozen=True, slots=True, kw_only=True)
class Series:
    """One trace of a chart.

    Attributes
    ----------
    name
        Legend entry.
    x, y
        Coordinates; strings are categories. For ``hbar`` the bar lengths are in ``x`` and the
        categories in ``y``.
    kind
        How to draw it: vertical ``bar``, horizontal ``hbar``, ``line``, ``step`` (held until the
        next point), ``markers`` or ``lines+markers``.
    base
        Where each bar starts (``hbar`` and ``bar``; tornado charts); None: at zero.
    text
        Hover text per point (or empty).
    color
        A CSS colour, or None for the default cycle.
    axis
        ``y`` or ``y2`` (the right-hand axis).
    """

    name: str
    x: tuple[Value, ...]
    y: tuple[Value, ...]
    kind: SeriesKind = "line"
    base: tuple[float, ...] | None = None
    text: tuple[str, ...] = ()
    color: str | None = None
    axis: Literal["y", "y2"] = "y"

    def __post_init__(self) -> None:
        if len(self.x) != len(self.y):
            raise ValueError(f"series {self.name!r}: {len(self.x)} x values, {len(self.y)} y")


@dataclass(frozen=True, slots=True, kw_only=True)
class Chart:
    """One figure: its series, axes and a sentence saying what it computes."""

    id: str
    section: str
    title: str
    x_label: str
    y_label: str
    series: tuple[Series, ...]
    note: str = ""
    y2_label: str = ""
    barmode: BarMode = "group"
    x_log: bool = False
    y_log: bool = False

    @property
    def num_points(self) -> int:
        """Points over all series."""
        return sum(len(s.x) for s in self.series)


@dataclass(frozen=True, slots=True, kw_only=True)
class Table:
    """A table of formatted cells; ``keys`` (optional) name each row for machine lookup."""

    id: str
    section: str
    title: str
    columns: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    keys: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class SummaryItem:
    """One headline number: its ``metrics()`` key, label, value, unit and formatted text."""

    key: str
    label: str
    value: float
    unit: str
    text: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Section:
    """A titled part of the report, with a paragraph saying what it shows."""

    id: str
    title: str
    intro: str
    available: bool = True
    """False when its inputs were not given (e.g. no simulation); it then says why."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Source:
    """Where one input came from."""

    kind: str
    id: str
    source: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Report:
    """Everything a report shows, computed once, drawn by any renderer."""

    title: str
    scenario_name: str
    scenario_yaml: str
    calibration: str
    summary: tuple[SummaryItem, ...]
    metrics: dict[str, float]
    sections: tuple[Section, ...]
    charts: tuple[Chart, ...]
    tables: tuple[Table, ...]
    sources: tuple[Source, ...]
    notes: tuple[str, ...] = field(default_factory=tuple)

    def charts_in(self, section: str) -> tuple[Chart, ...]:
        """The charts of one section, in order."""
        return tuple(c for c in self.charts if c.section == section)

    def tables_in(self, section: str) -> tuple[Table, ...]:
        """The tables of one section, in order."""
        return tuple(t for t in self.tables if t.section == section)

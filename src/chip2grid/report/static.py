"""Static PNG/SVG charts through matplotlib (Agg backend, no display, no browser)."""

from __future__ import annotations

import itertools
import os
from pathlib import Path
from typing import Any, Literal

from chip2grid.atomic import atomic_path
from chip2grid.errors import InvalidParameterError
from chip2grid.report.html import PALETTE
from chip2grid.report.model import Chart, Report, Series

FORMATS = ("png", "svg")


def _is_category(values: tuple[Any, ...]) -> bool:
    return any(isinstance(v, str) for v in values)


def _draw_series(
    ax: Any,
    chart: Chart,
    series: Series,
    index: int,
    stack: dict[Any, float],
    positions: dict[str, dict[Any, int]],
) -> Any:
    color = series.color or PALETTE[index % len(PALETTE)]
    x: list[Any] = list(series.x)
    y: list[Any] = list(series.y)
    if series.kind == "hbar":
        cats = positions.setdefault("y", {})
        ys = [cats.setdefault(v, len(cats)) for v in y]
        left = list(series.base) if series.base is not None else None
        artist = ax.barh(ys, x, left=left, color=color, label=series.name)
        ax.set_yticks(list(cats.values()), [str(k) for k in cats], fontsize=7)
        return artist
    if series.kind == "bar":
        if _is_category(series.x):
            cats = positions.setdefault("x", {})
            xs = [float(cats.setdefault(v, len(cats))) for v in x]
            ax.set_xticks(list(cats.values()), [str(k) for k in cats], fontsize=8)
        else:
            xs = [float(v) for v in x]
        width = 0.8 * (min(b - a for a, b in itertools.pairwise(xs)) if len(xs) > 1 else 1.0)
        if chart.barmode == "stack":
            bottom = [stack.get(v, 0.0) for v in xs]
            artist = ax.bar(xs, y, width=width, bottom=bottom, color=color, label=series.name)
            for v, h in zip(xs, y, strict=True):
                stack[v] = stack.get(v, 0.0) + float(h)
            return artist
        n = sum(1 for s in chart.series if s.kind == "bar" and s.axis == series.axis) or 1
        k = sum(1 for s in chart.series[:index] if s.kind == "bar" and s.axis == series.axis)
        if _is_category(series.x):
            shift, w = (k - (n - 1) / 2) * width / n, width / n
        else:
            shift, w = 0.0, width
        return ax.bar(
            [v + shift for v in xs],
            y,
            width=w,
            color=color,
            label=series.name,
            alpha=0.85 if n > 1 else 1.0,
        )
    if _is_category(series.x):
        cats = positions.setdefault("x", {})
        x = [cats.setdefault(v, len(cats)) for v in x]
        ax.set_xticks(list(cats.values()), [str(k) for k in cats], fontsize=8)
    if series.kind == "step":
        (artist,) = ax.step(x, y, where="post", color=color, label=series.name, linewidth=1)
    elif series.kind == "markers":
        artist = ax.scatter(x, y, color=color, label=series.name, s=18)
    elif series.kind == "lines+markers":
        (artist,) = ax.plot(x, y, marker="o", markersize=3, color=color, label=series.name)
    else:
        (artist,) = ax.plot(x, y, color=color, label=series.name)
    return artist


def draw_chart(chart: Chart, path: Path, fmt: Literal["png", "svg"]) -> None:
    """Draw one chart to ``path`` (written through a temporary file)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 4.5), layout="constrained")
    try:
        ax2 = ax.twinx() if any(s.axis == "y2" for s in chart.series) else None
        stack: dict[Any, float] = {}
        positions: dict[str, dict[Any, int]] = {}
        handles = []
        for i, series in enumerate(chart.series):
            target = ax2 if (series.axis == "y2" and ax2 is not None) else ax
            if not series.x:
                continue
            handles.append(_draw_series(target, chart, series, i, stack, positions))
        ax.set_title(chart.title, fontsize=11)
        ax.set_xlabel(chart.x_label)
        ax.set_ylabel(chart.y_label)
        if chart.y_log:
            ax.set_yscale("log")
        if chart.x_log:
            ax.set_xscale("log")
        if ax2 is not None:
            ax2.set_ylabel(chart.y2_label)
        if len(handles) > 1:
            ax.legend(handles=handles, fontsize=7, loc="best")
        ax.grid(True, alpha=0.3)
        with atomic_path(path) as tmp:
            fig.savefig(tmp, format=fmt, dpi=110)
    finally:
        plt.close(fig)


def write_static_charts(
    report: Report, folder: str | os.PathLike[str], fmt: str = "png"
) -> list[Path]:
    """Write every chart of ``report`` to ``folder/<chart id>.<fmt>``, one file per chart.

    Parameters
    ----------
    report
        What to draw.
    folder
        Created if missing.
    fmt
        ``png`` or ``svg``.

    Returns
    -------
    list of Path
        The files written, in the report's order.
    """
    if fmt not in FORMATS:
        raise InvalidParameterError("fmt", fmt, "png or svg")
    out = Path(folder)
    written = []
    for chart in report.charts:
        path = out / f"{chart.id}.{fmt}"
        draw_chart(chart, path, "png" if fmt == "png" else "svg")
        written.append(path)
    return written

"""Build a :class:`~chip2grid.report.model.Report` from a scenario result."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import yaml

from chip2grid.energy import get_energy_source
from chip2grid.facility import get_cooling, get_region
from chip2grid.industry import IndustryResult
from chip2grid.perf import calibration_for, get_engine
from chip2grid.report.charts import (
    COST_ITEMS,
    bottleneck_charts,
    cost_chart,
    cost_items_usd_per_mtok,
    distribution_charts,
    industry_charts,
    latency_curve,
    latency_curve_chart,
    num,
    pareto_chart,
    pareto_points,
    power_charts,
    scalar,
    timeline_charts,
    tornado_chart,
)
from chip2grid.report.model import Chart, Report, Section, Source, SummaryItem, Table
from chip2grid.scenario import ScenarioResult

SUMMARY_KEYS: tuple[tuple[str, str, str], ...] = (
    ("cost_usd_per_mtok_output", "cost per million output tokens, at the offered load", "USD"),
    ("cost_usd_per_mtok_output_at_capacity", "cost per million output tokens, at full load", "USD"),
    ("capacity_output_tokens_per_s", "capacity (output tokens per second)", "tokens/s"),
    ("output_tokens_per_s", "output tokens per second at the offered load", "tokens/s"),
    ("ttft_s_mean", "mean TTFT at the offered load (steady state)", "s"),
    ("tpot_s_mean", "mean TPOT at the offered load (steady state)", "s"),
    ("sim_ttft_s_p99", "TTFT p99 (simulated)", "s"),
    ("sim_tpot_s_p99", "TPOT p99 (simulated)", "s"),
    ("sim_goodput_requests_per_s", "goodput within the SLOs (simulated)", "requests/s"),
    ("facility_power_w", "facility power at full load", "W"),
    ("pue", "annual PUE at full load", ""),
    ("meter_energy_j_per_output_token", "energy per output token at the meter", "J"),
    ("g_co2_per_output_token", "carbon per output token", "g CO2"),
    ("l_water_per_output_token", "water per output token", "L"),
    ("capex_usd", "capital expenditure", "USD"),
    ("usd_per_accelerator_hour", "cost per accelerator-hour", "USD"),
)
"""Headline figures: ``metrics()`` key, label, unit (keys a result lacks are left out)."""

SECTIONS: tuple[tuple[str, str, str], ...] = (
    ("summary", "Summary", "The headline figures of the scenario, then every figure of merit."),
    ("cost", "Cost per token", "What one million output tokens cost, item by item."),
    (
        "latency",
        "Latency, throughput and the Pareto front",
        "How latency grows with load on the chosen layout, and which layouts and precisions "
        "trade cost against speed best.",
    ),
    (
        "distributions",
        "TTFT and TPOT distributions",
        "What individual users saw in the simulated trace.",
    ),
    (
        "timelines",
        "KV cache and batch timelines",
        "How full the KV cache and the running batch were over the simulated trace.",
    ),
    ("power", "Power and PUE", "What the servers and the building draw, month by month."),
    (
        "bottleneck",
        "Bottleneck map and cascade",
        "Which layer binds, the headroom of every other, and where the bottleneck moves next.",
    ),
    ("tornado", "Tornado chart", "Which inputs move the results most."),
    (
        "industry",
        "Industry time map",
        "Year by year: which layer caps AI deployment, and what it builds and costs.",
    ),
    ("sources", "Sources and inputs", "Where every number came from."),
)
"""Report sections: id, title, what it shows (in order)."""

_MISSING = {
    "distributions": "Not simulated: run with simulation on (chip2grid run --simulate).",
    "timelines": "Not simulated: run with simulation on (chip2grid run --simulate).",
    "bottleneck": "No bottleneck map was given to this report.",
    "tornado": "No sensitivities were given to this report (they come with the bottleneck map).",
    "industry": "No industry run was given to this report.",
}


def fmt_percent(value: float) -> str:
    """A share as a percentage to one decimal; ``-`` where the layer has no limit (NaN), as
    the command-line table shows it."""
    return "-" if math.isnan(value) else f"{value:.1%}"


def fmt_number(value: float) -> str:
    """Four significant figures, thousands separated; ``n/a`` for NaN."""
    if math.isnan(value):
        return "n/a"
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    a = abs(value)
    if a == 0:
        return "0"
    if a >= 1e4:
        return f"{value:,.0f}"
    if a < 1e-3:
        return f"{value:.3e}"
    return f"{value:.4g}"


def _summary(metrics: Mapping[str, float]) -> tuple[SummaryItem, ...]:
    return tuple(
        SummaryItem(
            key=key, label=label, value=metrics[key], unit=unit, text=fmt_number(metrics[key])
        )
        for key, label, unit in SUMMARY_KEYS
        if key in metrics
    )


def _metrics_table(metrics: Mapping[str, float]) -> Table:
    keys = tuple(sorted(metrics))
    return Table(
        id="metrics",
        section="summary",
        title="Every figure of merit (ScenarioResult.metrics())",
        columns=("metric", "value"),
        rows=tuple((k, fmt_number(metrics[k])) for k in keys),
        keys=keys,
    )


def _cost_table(result: ScenarioResult) -> Table:
    rows = []
    at_load = cost_items_usd_per_mtok(result.cost_at_load)
    at_cap = cost_items_usd_per_mtok(result.cost_at_capacity)
    b_load, b_cap = result.cost_at_load.breakdown, result.cost_at_capacity.breakdown
    for label, name in COST_ITEMS:
        rows.append(
            (
                label,
                fmt_number(scalar(getattr(b_cap, name))),
                fmt_number(at_load[label]),
                fmt_number(at_cap[label]),
            )
        )
    rows.append(
        (
            "total",
            fmt_number(scalar(b_cap.total_usd_per_year)),
            fmt_number(scalar(b_load.usd_per_mtok_output)),
            fmt_number(scalar(b_cap.usd_per_mtok_output)),
        )
    )
    return Table(
        id="cost_items",
        section="cost",
        title="Yearly cost items",
        columns=(
            "item",
            "USD per year (full load)",
            "USD per Mtok output (offered load)",
            "USD per Mtok output (full load)",
        ),
        rows=tuple(rows),
        keys=(*(name for _, name in COST_ITEMS), "total_usd_per_year"),
    )


def _pareto_table(points: Sequence[Any]) -> Table:
    ordered = sorted(points, key=lambda p: (p.dominated, p.usd_per_mtok_output))
    return Table(
        id="pareto_points",
        section="latency",
        title="Layouts and precisions at full load",
        columns=(
            "layout",
            "output tokens/s",
            "TPOT, ms",
            "USD per Mtok output",
            "front",
            "this scenario",
        ),
        rows=tuple(
            (
                p.label,
                fmt_number(p.output_tokens_per_s),
                fmt_number(p.tpot_s * 1e3),
                fmt_number(p.usd_per_mtok_output),
                "" if p.dominated else "yes",
                "yes" if p.chosen else "",
            )
            for p in ordered
        ),
    )


def _bottleneck_tables(bottleneck: Mapping[str, Any] | None) -> tuple[Table, ...]:
    if not bottleneck:
        return ()
    tables = []
    layers = list(bottleneck.get("layers", []))
    if layers:
        tables.append(
            Table(
                id="bottleneck_layers",
                section="bottleneck",
                title="Layers",
                columns=(
                    "layer",
                    "utilization",
                    "headroom",
                    "evidence",
                    "resolution timeline",
                    "key companies",
                ),
                rows=tuple(
                    (
                        str(layer.get("label") or layer.get("name")),
                        fmt_percent(num(layer.get("utilization_frac"))),
                        fmt_percent(num(layer.get("headroom_frac"))),
                        str(layer.get("evidence", "")),
                        str(layer.get("resolution_timeline", "")),
                        ", ".join(str(c) for c in layer.get("key_companies", [])),
                    )
                    for layer in layers
                ),
                keys=tuple(str(layer.get("name")) for layer in layers),
            )
        )
    cascade = list(bottleneck.get("cascade", []))
    if cascade:
        tables.append(
            Table(
                id="bottleneck_cascade_steps",
                section="bottleneck",
                title="Cascade",
                columns=(
                    "step",
                    "relaxed layer",
                    "action",
                    "binding after",
                    "output tokens/s before -> after",
                    "USD per Mtok before -> after",
                ),
                rows=tuple(
                    (
                        str(c["step"]),
                        str(c["relaxed_layer"]),
                        str(c["action"]),
                        str(c["binding_layer_after"]),
                        f"{fmt_number(num(c['output_tokens_per_s_before']))} -> "
                        f"{fmt_number(num(c['output_tokens_per_s_after']))}",
                        f"{fmt_number(num(c['cost_usd_per_mtok_before']))} -> "
                        f"{fmt_number(num(c['cost_usd_per_mtok_after']))}",
                    )
                    for c in cascade
                ),
            )
        )
    sens = list(bottleneck.get("sensitivities", []))
    if sens:
        tables.append(
            Table(
                id="sensitivities",
                section="tornado",
                title="Sensitivities",
                columns=("input", "metric", "elasticity", "low", "high"),
                rows=tuple(
                    (
                        str(s["input"]),
                        str(s["metric"]),
                        fmt_number(num(s["elasticity"])),
                        fmt_number(num(s["low"])),
                        fmt_number(num(s["high"])),
                    )
                    for s in sens
                ),
            )
        )
    return tuple(tables)


def _industry_table(years: Sequence[Mapping[str, Any]] | None) -> tuple[Table, ...]:
    if not years:
        return ()
    return (
        Table(
            id="industry_years",
            section="industry",
            title="Year by year",
            columns=(
                "year",
                "binding layer",
                "accelerators deployed",
                "power, GW",
                "USD per Mtok",
                "inference share",
            ),
            rows=tuple(
                (
                    str(int(y["year"])),
                    str(y["binding_layer"]),
                    fmt_number(float(y["accelerators_deployed"])),
                    fmt_number(float(y["power_gw"])),
                    fmt_number(float(y["cost_usd_per_mtok"])),
                    f"{float(y['inference_share_frac']):.1%}",
                )
                for y in years
            ),
        ),
    )


def report_sources(result: ScenarioResult) -> tuple[Source, ...]:
    """The catalog ``source`` of every entry the scenario used, and the run's own inputs."""
    s = result.scenario
    dep = result.deployment
    out = [
        Source(kind="accelerator", id=dep.accelerator.id, source=dep.accelerator.source),
        Source(kind="model", id=dep.model.id, source=dep.model.source),
        Source(kind="engine", id=dep.engine, source=get_engine(dep.engine).source),
        Source(kind="region", id=s.site.region, source=get_region(s.site.region).source),
        Source(kind="cooling", id=s.site.cooling, source=get_cooling(s.site.cooling).source),
        Source(
            kind="platform",
            id=result.cost_at_load.platform.id,
            source=result.cost_at_load.platform.source,
        ),
    ]
    supply = s.energy.supply
    for name in [supply] if isinstance(supply, str) else sorted(supply):
        out.append(Source(kind="energy source", id=name, source=get_energy_source(name).source))
    cal = calibration_for(dep.accelerator.family, dep.engine)
    out.append(
        Source(kind="calibration (hardware)", id=cal.hardware_key, source=cal.hardware.source)
    )
    out.append(Source(kind="calibration (engine)", id=cal.engine_key, source=cal.engine.source))
    out.append(Source(kind="finance", id=result.finance.id, source=result.finance.source))
    out.append(
        Source(kind="workload", id=s.workload.trace or "synthetic", source=result.trace_source)
    )
    return tuple(out)


def build_report(
    result: ScenarioResult,
    *,
    bottleneck: Mapping[str, Any] | None = None,
    industry_years: Sequence[Mapping[str, Any]] | None = None,
) -> Report:
    """Compute every chart and table of the report of ``result``.

    Parameters
    ----------
    result
        A scenario evaluation (:func:`chip2grid.scenario.evaluate`); simulated or not.
    bottleneck
        ``BottleneckMap.to_dict()`` (binding layer, layers, cascade, sensitivities), or None to
        leave the bottleneck and tornado sections out.
    industry_years
        Rows of an industry run (``year``, ``binding_layer``, ``accelerators_deployed``,
        ``power_gw``, ``cost_usd_per_mtok``, ``inference_share_frac``), or None.

    Notes
    -----
    Besides reading ``result``, this runs the steady-state model about 40 more times (the
    latency curve and the Pareto front over layouts and precisions): about a second.
    """
    metrics = result.metrics()
    curve = latency_curve(result)
    pareto = pareto_points(result)
    charts: list[Chart] = [cost_chart(result), latency_curve_chart(curve)]
    if pareto:
        charts.append(pareto_chart(pareto))
    charts += [
        *distribution_charts(result),
        *timeline_charts(result),
        *power_charts(result),
        *bottleneck_charts(bottleneck),
        *tornado_chart(bottleneck),
        *industry_charts(industry_years),
    ]
    tables = [
        _metrics_table(metrics),
        _cost_table(result),
        _pareto_table(pareto),
        *_bottleneck_tables(bottleneck),
        *_industry_table(industry_years),
    ]
    sim_summary = result.simulation_summary()
    if sim_summary is not None:
        tables.append(
            Table(
                id="simulation",
                section="distributions",
                title="Simulated trace",
                columns=("figure", "value"),
                rows=tuple((k, _cell(v)) for k, v in sim_summary.items()),
            )
        )
    with_content = {c.section for c in charts} | {t.section for t in tables} | {"sources"}
    sections = tuple(
        Section(
            id=sid,
            title=title,
            intro=intro if sid in with_content else _MISSING.get(sid, intro),
            available=sid in with_content,
        )
        for sid, title, intro in SECTIONS
    )
    scenario = result.scenario
    return Report(
        title=f"chip2grid report: {scenario.name}",
        scenario_name=scenario.name,
        scenario_yaml=yaml.safe_dump(scenario.to_dict(), sort_keys=False),
        calibration=result.capacity.calibration,
        summary=_summary(metrics),
        metrics=metrics,
        sections=sections,
        charts=tuple(charts),
        tables=tuple(tables),
        sources=report_sources(result),
        notes=tuple(result.capacity.notes),
    )


def _cell(value: object) -> str:
    if isinstance(value, float):
        return fmt_number(value)
    if isinstance(value, dict):
        return ", ".join(f"{k} {_cell(v)}" for k, v in value.items())
    return str(value)


INDUSTRY_FIELDS = (
    "year",
    "binding_layer",
    "accelerators_deployed",
    "power_gw",
    "cost_usd_per_mtok",
    "inference_share_frac",
)
"""What the industry time map reads from each year of an industry run."""


def industry_rows(result: IndustryResult) -> list[dict[str, Any]]:
    """The years of an industry run as the rows :func:`build_report` takes."""
    return [{name: getattr(year, name) for name in INDUSTRY_FIELDS} for year in result.records()]

"""Chart data of a report, computed from a scenario result with the public model API.

Every function returns typed :class:`~chip2grid.report.model.Chart` objects (or an empty
tuple when its input is missing) and computes nothing a lower layer does not already offer:
the latency curve and the Pareto front call :func:`chip2grid.perf.estimate` and
:func:`chip2grid.economics.deployment_cost`; monthly PUE calls :func:`chip2grid.facility.pue`.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from chip2grid.economics import DeploymentCost, deployment_cost, load_from_estimate
from chip2grid.errors import InfeasibleError, InvalidParameterError
from chip2grid.facility import get_cooling, monthly_temperatures_c, pue
from chip2grid.perf import Estimate, Load, estimate, parallel_layouts
from chip2grid.report.model import Chart, Series
from chip2grid.scenario import ScenarioResult, scenario_region

MAX_TIMELINE_POINTS = 2000
"""At most this many points per timeline chart (all replicas together)."""
MAX_TIMELINE_REPLICAS = 4
CURVE_LOAD_FRACS = (0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95)
"""Request rates of the latency-throughput curve, as fractions of capacity (1.0 is added as
the full-load steady state)."""
PARETO_PRECISIONS = ("bf16", "fp8", "fp4")
"""Weight precisions tried for the Pareto front, besides the scenario's own."""
HIST_BINS = 40
MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
COST_ITEMS = (
    ("servers", "servers_usd_per_year"),
    ("network", "network_usd_per_year"),
    ("facility", "facility_usd_per_year"),
    ("power infrastructure", "power_infrastructure_usd_per_year"),
    ("electricity", "electricity_usd_per_year"),
    ("maintenance", "maintenance_usd_per_year"),
    ("staff", "staff_usd_per_year"),
    ("insurance and tax", "insurance_tax_usd_per_year"),
    ("colocation", "colocation_usd_per_year"),
)
"""Yearly cost items of :class:`~chip2grid.economics.CostBreakdown`, as labelled in charts."""
BINDING_COLOR = "#d62728"
OTHER_COLOR = "#1f77b4"


def scalar(value: Any) -> float:
    """A float from a float or a 0-d/mean of a numpy array (Monte Carlo breakdowns)."""
    arr = np.asarray(value, dtype=float)
    return float(arr) if arr.ndim == 0 else float(np.mean(arr))


def num(value: Any) -> float:
    """A float from a number, or NaN from None or anything else (missing figures)."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    return math.nan


def _floats(values: Sequence[float] | NDArray[np.float64]) -> tuple[float, ...]:
    return tuple(float(v) for v in values)


def _place(result: ScenarioResult) -> dict[str, Any]:
    s = result.scenario
    return dict(
        region=s.site.region,
        cooling=s.site.cooling,
        supply=s.energy.supply,
        platform=s.site.platform,
        finance=result.finance,
        colocation=s.site.colocation,
    )


def cost_items_usd_per_mtok(cost: DeploymentCost) -> dict[str, float]:
    """Each yearly item's share of the output-token cost, USD per million output tokens.

    ``usd_per_mtok_output`` charges the decode share of the year's total to output tokens;
    scaling every item by ``usd_per_mtok_output / total_usd_per_year`` splits it exactly, so
    the stack adds up to ``usd_per_mtok_output``.
    """
    b = cost.breakdown
    total = scalar(b.total_usd_per_year)
    per_mtok = scalar(b.usd_per_mtok_output)
    scale = per_mtok / total if total > 0 and math.isfinite(per_mtok) else 0.0
    return {label: scalar(getattr(b, name)) * scale for label, name in COST_ITEMS}


def cost_chart(result: ScenarioResult) -> Chart:
    """Stacked bar: cost per million output tokens by yearly item, at load and at capacity."""
    at_load = cost_items_usd_per_mtok(result.cost_at_load)
    at_cap = cost_items_usd_per_mtok(result.cost_at_capacity)
    cats = ("at the offered load", "at full load")
    series = tuple(
        Series(name=label, x=cats, y=(at_load[label], at_cap[label]), kind="bar")
        for label, _ in COST_ITEMS
        if at_load[label] > 0 or at_cap[label] > 0
    )
    return Chart(
        id="cost_breakdown",
        section="cost",
        title="Cost per million output tokens by item",
        x_label="load",
        y_label="USD per million output tokens",
        series=series,
        barmode="stack",
        note="Each yearly item (capital annualized at the WACC, plus operating costs) times "
        "usd_per_mtok_output / total_usd_per_year; the stack equals usd_per_mtok_output.",
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class CurvePoint:
    """One point of the latency-throughput curve (steady state)."""

    load_frac: float
    output_tokens_per_s: float
    ttft_s: float
    tpot_s: float


def latency_curve(result: ScenarioResult) -> tuple[CurvePoint, ...]:
    """Steady state of the chosen deployment at 5 % to 100 % of its capacity request rate."""
    cap = result.capacity
    max_num_seqs = result.scenario.serving.max_num_seqs or 0
    points = []
    if cap.requests_per_s > 0:
        for frac in CURVE_LOAD_FRACS:
            load = Load(
                mode="request_rate",
                request_rate_per_s=frac * cap.requests_per_s,
                max_num_seqs=max_num_seqs,
            )
            try:
                est = estimate(result.deployment, result.workload, load)
            except (InfeasibleError, InvalidParameterError):
                continue
            points.append(
                CurvePoint(
                    load_frac=frac,
                    output_tokens_per_s=est.output_tokens_per_s,
                    ttft_s=est.ttft_s_mean,
                    tpot_s=est.tpot_s_mean,
                )
            )
    points.append(
        CurvePoint(
            load_frac=1.0,
            output_tokens_per_s=cap.output_tokens_per_s,
            ttft_s=cap.ttft_s_mean,
            tpot_s=cap.tpot_s_mean,
        )
    )
    return tuple(points)


def latency_curve_chart(points: Sequence[CurvePoint]) -> Chart:
    """Mean TTFT and TPOT against output throughput."""
    x = tuple(p.output_tokens_per_s for p in points)
    text = tuple(f"{p.load_frac:.0%} of capacity" for p in points)
    return Chart(
        id="latency_throughput",
        section="latency",
        title="Latency against throughput (steady state)",
        x_label="output tokens per second",
        y_label="mean TTFT, ms",
        y2_label="mean TPOT, ms",
        series=(
            Series(
                name="TTFT",
                x=x,
                y=tuple(p.ttft_s * 1e3 for p in points),
                kind="lines+markers",
                text=text,
            ),
            Series(
                name="TPOT",
                x=x,
                y=tuple(p.tpot_s * 1e3 for p in points),
                kind="lines+markers",
                text=text,
                axis="y2",
            ),
        ),
        y_log=True,
        note="chip2grid.perf.estimate of the chosen layout under Poisson arrivals at "
        + ", ".join(f"{f:.0%}" for f in CURVE_LOAD_FRACS)
        + " of the capacity request rate, and at full load (all requests queued).",
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class ParetoPoint:
    """One layout and precision at full load: its TPOT and cost."""

    label: str
    tp: int
    pp: int
    ep: int
    weight_precision: str
    output_tokens_per_s: float
    tpot_s: float
    usd_per_mtok_output: float
    chosen: bool
    dominated: bool = False


def pareto_points(result: ScenarioResult) -> tuple[ParetoPoint, ...]:
    """Every tp x pp x ep split and weight precision that fits, at full load, with cost.

    A point is dominated when another is at least as cheap and as fast (TPOT) and strictly
    better in one of the two.
    """
    dep = result.deployment
    max_num_seqs = result.scenario.serving.max_num_seqs or 0
    place = _place(result)
    precisions = dict.fromkeys((dep.weight_precision, *PARETO_PRECISIONS))
    raw: list[ParetoPoint] = []
    for precision in precisions:
        for tp, pp, ep in parallel_layouts(dep.model, dep.num_accelerators):
            try:
                trial = dep.replace(tp=tp, pp=pp, ep=ep, weight_precision=precision)
                est: Estimate = estimate(trial, result.workload, Load(max_num_seqs=max_num_seqs))
                cost = deployment_cost(trial, load_from_estimate(est), **place)
            except (InfeasibleError, InvalidParameterError):
                continue
            chosen = (tp, pp, ep, precision) == (dep.tp, dep.pp, dep.ep, dep.weight_precision)
            raw.append(
                ParetoPoint(
                    label=f"TP{tp} PP{pp} EP{ep} {precision}",
                    tp=tp,
                    pp=pp,
                    ep=ep,
                    weight_precision=precision,
                    output_tokens_per_s=est.output_tokens_per_s,
                    tpot_s=est.tpot_s_mean,
                    usd_per_mtok_output=scalar(cost.breakdown.usd_per_mtok_output),
                    chosen=chosen,
                )
            )
    out = []
    for p in raw:
        dominated = any(
            q.tpot_s <= p.tpot_s
            and q.usd_per_mtok_output <= p.usd_per_mtok_output
            and (q.tpot_s < p.tpot_s or q.usd_per_mtok_output < p.usd_per_mtok_output)
            for q in raw
        )
        out.append(dataclasses.replace(p, dominated=dominated))
    return tuple(out)


def pareto_chart(points: Sequence[ParetoPoint]) -> Chart:
    """Cost per million output tokens against TPOT; the non-dominated front as a line."""
    front = sorted((p for p in points if not p.dominated), key=lambda p: p.tpot_s)
    rest = [p for p in points if p.dominated]
    chosen = [p for p in points if p.chosen]
    series = [
        Series(
            name="dominated",
            x=tuple(p.tpot_s * 1e3 for p in rest),
            y=tuple(p.usd_per_mtok_output for p in rest),
            kind="markers",
            text=tuple(p.label for p in rest),
            color="#9e9e9e",
        ),
        Series(
            name="Pareto front",
            x=tuple(p.tpot_s * 1e3 for p in front),
            y=tuple(p.usd_per_mtok_output for p in front),
            kind="lines+markers",
            text=tuple(p.label for p in front),
            color=OTHER_COLOR,
        ),
    ]
    if chosen:
        series.append(
            Series(
                name="this scenario",
                x=(chosen[0].tpot_s * 1e3,),
                y=(chosen[0].usd_per_mtok_output,),
                kind="markers",
                text=(chosen[0].label,),
                color=BINDING_COLOR,
            )
        )
    return Chart(
        id="pareto",
        section="latency",
        title="Cost against TPOT over layouts and precisions (full load)",
        x_label="mean TPOT at full load, ms",
        y_label="USD per million output tokens",
        series=tuple(series),
        note="Every tp x pp x ep split of the accelerators (chip2grid.perf.parallel_layouts) "
        "at the scenario's and at "
        + ", ".join(PARETO_PRECISIONS)
        + " weights that fits, at full load, priced with chip2grid.economics.deployment_cost "
        "at the scenario's site; a point is on the front when no other is both cheaper and "
        "faster.",
    )


def _finite(values: NDArray[np.float64]) -> NDArray[np.float64]:
    return values[np.isfinite(values)]


def distribution_charts(result: ScenarioResult) -> tuple[Chart, ...]:
    """Histograms and CDFs of the simulated TTFT and TPOT (empty without a simulation)."""
    sim = result.simulation
    if sim is None:
        return ()
    charts = []
    slo = result.scenario.slo
    for key, label, values, target in (
        ("ttft", "TTFT", np.asarray(sim.ttft_s, dtype=float), slo.ttft_s),
        ("tpot", "TPOT", np.asarray(sim.tpot_s, dtype=float), slo.tpot_s),
    ):
        ms = _finite(values) * 1e3
        if ms.size == 0:
            continue
        counts, edges = np.histogram(ms, bins=HIST_BINS)
        centers = 0.5 * (edges[:-1] + edges[1:])
        qs = np.linspace(0.0, 1.0, 201)
        cdf_x = np.quantile(ms, qs)
        within = float(np.mean(ms <= target * 1e3))
        charts.append(
            Chart(
                id=f"{key}_distribution",
                section="distributions",
                title=f"{label} of the simulated requests",
                x_label=f"{label}, ms",
                y_label="requests",
                y2_label="cumulative fraction",
                series=(
                    Series(
                        name="histogram",
                        x=_floats(centers),
                        y=_floats(counts.astype(float)),
                        kind="bar",
                    ),
                    Series(name="CDF", x=_floats(cdf_x), y=_floats(qs), kind="line", axis="y2"),
                ),
                note=f"{ms.size:,} completed requests in {HIST_BINS} bins; the CDF is the "
                f"empirical quantile function. {within:.1%} are within the SLO "
                f"({label} <= {target * 1e3:g} ms).",
            )
        )
    return tuple(charts)


def downsample_max(
    x: NDArray[np.float64], y: NDArray[np.float64], max_points: int
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """At most ``max_points`` points: the first ``x`` and the largest ``y`` of equal buckets.

    Keeping each bucket's maximum preserves peaks (KV-cache pressure, batch size) that
    picking every n-th point would miss.
    """
    n = len(x)
    if n <= max_points:
        return x, y
    edges = np.linspace(0, n, max_points + 1).astype(np.int64)
    starts = edges[:-1]
    return x[starts], np.maximum.reduceat(y, starts)


def timeline_charts(result: ScenarioResult) -> tuple[Chart, ...]:
    """KV-cache use and running batch over simulated time, per replica (first four)."""
    sim = result.simulation
    if sim is None:
        return ()
    replicas = sim.replicas[:MAX_TIMELINE_REPLICAS]
    budget = max(MAX_TIMELINE_POINTS // max(len(replicas), 1), 2)
    capacity_tokens = float(sim.config.num_gpu_blocks * sim.config.block_size)
    kv_series, batch_series = [], []
    for i, rep in enumerate(replicas):
        tl = rep.timeline
        t = np.asarray(tl.start_s, dtype=float)
        if t.size == 0:
            continue
        kv = np.asarray(tl.kv_tokens, dtype=float) / capacity_tokens if capacity_tokens else t * 0
        batch = np.asarray(tl.decode_seqs, dtype=float) + np.asarray(tl.prefill_seqs, dtype=float)
        tx, kvy = downsample_max(t, kv, budget)
        bx, by = downsample_max(t, batch, budget)
        kv_series.append(Series(name=f"replica {i}", x=_floats(tx), y=_floats(kvy), kind="step"))
        batch_series.append(Series(name=f"replica {i}", x=_floats(bx), y=_floats(by), kind="step"))
    more = len(sim.replicas) - len(replicas)
    tail = f" The other {more} replicas are not drawn." if more > 0 else ""
    return (
        Chart(
            id="kv_cache_timeline",
            section="timelines",
            title="KV-cache use over time",
            x_label="simulated time, s",
            y_label="KV cache used (fraction of blocks)",
            series=tuple(kv_series),
            note=f"Stored KV tokens over the engine's {sim.config.num_gpu_blocks:,} blocks of "
            f"{sim.config.block_size} tokens per replica; the largest value of each of at most "
            f"{budget:,} buckets per replica.{tail}",
        ),
        Chart(
            id="batch_timeline",
            section="timelines",
            title="Running batch over time",
            x_label="simulated time, s",
            y_label="sequences in the step",
            series=tuple(batch_series),
            note="Decoding plus prefilling sequences of each engine step (or run of decode "
            f"steps); the largest of each of at most {budget:,} buckets per replica.{tail}",
        ),
    )


def power_charts(result: ScenarioResult) -> tuple[Chart, ...]:
    """IT against facility power at load and at capacity, and PUE by month at the site."""
    loads = (
        ("at the offered load", result.cost_at_load),
        ("at full load", result.cost_at_capacity),
    )
    cats = tuple(name for name, _ in loads)
    it = tuple(scalar(c.breakdown.it_power_w) / 1e3 for _, c in loads)
    fac = tuple(scalar(c.breakdown.facility_power_w) / 1e3 for _, c in loads)
    charts = [
        Chart(
            id="power",
            section="power",
            title="IT and facility power",
            x_label="load",
            y_label="mean power, kW",
            series=(
                Series(name="IT power", x=cats, y=it, kind="bar"),
                Series(name="facility power (IT x PUE)", x=cats, y=fac, kind="bar"),
            ),
            note="Mean IT power drawn (accelerators busy and idle, hosts, PSU losses, network) "
            "and the same times the annual PUE, from chip2grid.economics.CostBreakdown.",
        )
    ]
    site = result.scenario.site
    cooling, region = get_cooling(site.cooling), scenario_region(result.scenario)
    temps = monthly_temperatures_c(cooling, region)
    b = result.cost_at_capacity.breakdown
    critical = scalar(b.critical_it_power_w)
    series = []
    for name, cost in loads:
        frac = min(max(scalar(cost.breakdown.it_power_w) / critical, 0.0), 1.0) if critical else 1.0
        monthly = np.asarray(pue(cooling, frac, temps), dtype=float)
        series.append(
            Series(
                name=f"{name} (IT load {frac:.0%})",
                x=MONTHS,
                y=_floats(monthly),
                kind="lines+markers",
            )
        )
    charts.append(
        Chart(
            id="pue_by_month",
            section="power",
            title=f"PUE by month: {cooling.id} cooling in {region.id}",
            x_label="month",
            y_label="PUE",
            series=tuple(series),
            note="chip2grid.facility.pue at the region's monthly mean "
            + ("wet-bulb" if cooling.uses_wet_bulb else "dry-bulb")
            + " temperatures and the IT load as a fraction of provisioned critical IT power; "
            f"the annual PUE used for cost is {scalar(b.pue):.3f} at full load.",
        )
    )
    return tuple(charts)


def bottleneck_charts(bottleneck: Mapping[str, Any] | None) -> tuple[Chart, ...]:
    """Utilization per layer (binding layer highlighted) and the cascade's throughput."""
    if not bottleneck:
        return ()
    layers = list(bottleneck.get("layers", []))
    binding = str(bottleneck.get("binding_layer", ""))
    charts = []
    if layers:
        names = tuple(str(layer.get("label") or layer["name"]) for layer in layers)
        util = tuple(num(layer.get("utilization_frac")) for layer in layers)
        charts.append(
            Chart(
                id="bottleneck_map",
                section="bottleneck",
                title=f"Utilization per layer (binding: {binding})",
                x_label="utilization (fraction of the layer's limit)",
                y_label="layer",
                series=(
                    Series(
                        name="utilization",
                        x=util,
                        y=names,
                        kind="hbar",
                        text=tuple(str(layer.get("evidence", "")) for layer in layers),
                        color=None,
                    ),
                ),
                note="From chip2grid.bottleneck.bottleneck_map: each layer's use of its limit; the "
                "binding layer is the one at (or closest to) 1; headroom is 1 - utilization.",
            )
        )
    cascade = list(bottleneck.get("cascade", []))
    if cascade:
        steps = tuple(f"{c['step']}: {c['relaxed_layer']}" for c in cascade)
        charts.append(
            Chart(
                id="bottleneck_cascade",
                section="bottleneck",
                title="Bottleneck cascade: throughput as each binding layer is relaxed",
                x_label="step: relaxed layer",
                y_label="output tokens per second",
                y2_label="USD per million output tokens",
                series=(
                    Series(
                        name="throughput before",
                        x=steps,
                        y=tuple(num(c["output_tokens_per_s_before"]) for c in cascade),
                        kind="bar",
                    ),
                    Series(
                        name="throughput after",
                        x=steps,
                        y=tuple(num(c["output_tokens_per_s_after"]) for c in cascade),
                        kind="bar",
                        text=tuple(f"now binding: {c['binding_layer_after']}" for c in cascade),
                    ),
                    Series(
                        name="cost after",
                        x=steps,
                        y=tuple(num(c["cost_usd_per_mtok_after"]) for c in cascade),
                        kind="lines+markers",
                        axis="y2",
                    ),
                ),
                note="Each step relaxes the binding layer (the action in the table) and re-evaluates "
                "the deployment; the next binding layer is where the bottleneck moves.",
            )
        )
    return tuple(charts)


def tornado_chart(bottleneck: Mapping[str, Any] | None) -> tuple[Chart, ...]:
    """Low and high values of each metric as one input moves, sorted by swing."""
    sens = list((bottleneck or {}).get("sensitivities", []))
    if not sens:
        return ()
    sens.sort(key=lambda s: abs(num(s["high"]) - num(s["low"])))
    names = tuple(f"{s['input']} -> {s['metric']}" for s in sens)
    low = tuple(num(s["low"]) for s in sens)
    high = tuple(num(s["high"]) for s in sens)
    base = tuple(min(a, b) for a, b in zip(low, high, strict=True))
    width = tuple(abs(b - a) for a, b in zip(low, high, strict=True))
    text = tuple(
        f"low {a:.4g}, high {b:.4g}, elasticity {num(s['elasticity']):.3g}"
        for a, b, s in zip(low, high, sens, strict=True)
    )
    return (
        Chart(
            id="tornado",
            section="tornado",
            title="Tornado: the metric's range as each input moves",
            x_label="metric value",
            y_label="input -> metric",
            series=(
                Series(name="low to high", x=width, y=names, kind="hbar", base=base, text=text),
            ),
            note="Each bar spans the metric at the input's low and high values (others fixed), "
            "largest swing on top; elasticity = d ln(metric) / d ln(input).",
        ),
    )


def industry_charts(years: Sequence[Mapping[str, Any]] | None) -> tuple[Chart, ...]:
    """Binding layer by year, accelerators deployed and power, cost and inference share."""
    if not years:
        return ()
    x = tuple(float(y["year"]) for y in years)
    return (
        Chart(
            id="industry_binding",
            section="industry",
            title="Binding layer by year",
            x_label="year",
            y_label="binding layer",
            series=(
                Series(
                    name="binding layer",
                    x=x,
                    y=tuple(str(y["binding_layer"]) for y in years),
                    kind="markers",
                ),
            ),
            note="The supply layer (or demand) that caps deployment each year in the industry "
            "model (chip2grid industry).",
        ),
        Chart(
            id="industry_build",
            section="industry",
            title="Accelerators deployed and power drawn",
            x_label="year",
            y_label="accelerators deployed",
            y2_label="power, GW",
            series=(
                Series(
                    name="accelerators deployed",
                    x=x,
                    y=tuple(float(y["accelerators_deployed"]) for y in years),
                    kind="bar",
                ),
                Series(
                    name="power",
                    x=x,
                    y=tuple(float(y["power_gw"]) for y in years),
                    kind="lines+markers",
                    axis="y2",
                ),
            ),
        ),
        Chart(
            id="industry_cost",
            section="industry",
            title="Cost per million tokens and inference share",
            x_label="year",
            y_label="USD per million tokens",
            y2_label="inference share of compute",
            series=(
                Series(
                    name="cost per Mtok",
                    x=x,
                    y=tuple(float(y["cost_usd_per_mtok"]) for y in years),
                    kind="lines+markers",
                ),
                Series(
                    name="inference share",
                    x=x,
                    y=tuple(float(y["inference_share_frac"]) for y in years),
                    kind="lines+markers",
                    axis="y2",
                ),
            ),
            y_log=True,
        ),
    )

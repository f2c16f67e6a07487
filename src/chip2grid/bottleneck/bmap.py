"""The bottleneck map of one deployment: the use of every layer, the binding one, the
cascade of bottlenecks as each is relieved, and the sensitivities.

Notes
-----
A hard cap asked for more than it has (site power, capital budget, or racks and cooling that
cannot hold a node: utilization above 1) cuts the fleet and binds first, the most
over-asked one. Otherwise the binding layer is the one whose relaxation raises throughput
within the SLOs the most (each layer widened by ``probe_factor``, the cooling by one product
step); when no relaxation raises throughput, the one that lowers cost per token the most.

The cascade relieves the binding layer (by ``cascade_factor``, or with ``products=True`` by
the next real product: the next accelerator with more of the binding resource, the next
cooling type, more megawatts, a bigger budget), recomputes, and names the next binding layer.

Sensitivities are elasticities: ``(m(x * 1.1) - m(x * 0.9)) / (0.2 * m(x))`` for cost per
million tokens, throughput and tokens per MW.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from chip2grid.bottleneck.operate import (
    LAYERS,
    Context,
    OperatingPoint,
    Relaxation,
    context_of,
    next_cooling,
    operate,
)
from chip2grid.errors import InvalidParameterError
from chip2grid.facility import accelerators_with_platform
from chip2grid.hardware import get_accelerator, list_accelerators
from chip2grid.industry.layers import get_stack_layer
from chip2grid.jsonable import jsonable
from chip2grid.scenario import ScenarioResult, apply_overrides, evaluate, scenario_finance
from chip2grid.scenario.schema import Scenario

HARD_CAPS = ("site_power", "capital", "cooling", "rack_power")
"""Layers that cut the fleet when asked for more than they have (utilization above 1)."""

GAIN_TOLERANCE = 1e-4
"""Relative changes below this are numerical noise, not a bottleneck."""

HARDWARE_DIMENSIONS = {
    "compute": "compute",
    "hbm_bandwidth": "memory_bandwidth_bytes_per_s",
    "hbm_capacity": "memory_bytes",
    "scale_up": "scale_up_bandwidth_bytes_per_s",
    "scale_out": "scale_out_bandwidth_bytes_per_s",
}


@dataclass(frozen=True, slots=True, kw_only=True)
class LayerUse:
    """One layer of the deployment: how much of it is used and what relieving it would buy."""

    name: str
    label: str
    utilization_frac: float | None
    """None where the layer has no capacity set (no site cap, no budget) or no such measure."""
    headroom_frac: float | None
    evidence: str
    throughput_gain_frac: float
    """Relative throughput gain when this layer alone is relieved one probe step."""
    cost_gain_frac: float
    """Relative fall in cost per token when this layer alone is relieved one probe step."""
    analyst_layer: str
    resolution_timeline: str
    key_companies: tuple[str, ...]
    relief: str


@dataclass(frozen=True, slots=True, kw_only=True)
class CascadeStep:
    """One relief of the cascade and what binds after it."""

    step: int
    relaxed_layer: str
    action: str
    binding_layer_after: str
    output_tokens_per_s_before: float
    output_tokens_per_s_after: float
    cost_usd_per_mtok_before: float
    cost_usd_per_mtok_after: float
    output_tokens_per_s_per_mw_after: float


@dataclass(frozen=True, slots=True, kw_only=True)
class Sensitivity:
    """Elasticity of one metric to one input (change of the metric per change of the input)."""

    input: str
    metric: str
    elasticity: float
    low: float
    """The metric with the input at 90 %."""
    high: float
    """The metric with the input at 110 %."""
    base: float


@dataclass(frozen=True, slots=True, kw_only=True)
class BottleneckMap:
    """Which layer binds one deployment, the others' headroom, the cascade, the sensitivities."""

    scenario: str
    binding_layer: str
    binding_reason: str
    layers: tuple[LayerUse, ...]
    cascade: tuple[CascadeStep, ...]
    sensitivities: tuple[Sensitivity, ...]
    output_tokens_per_s: float
    cost_usd_per_mtok: float
    output_tokens_per_s_per_mw: float
    layout: str
    concurrency: float
    elapsed_s: float

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready data (infinities become None)."""
        data: dict[str, Any] = jsonable(self)
        return data


def _gain(new: float, old: float) -> float:
    if old <= 0:
        return math.inf if new > 0 else 0.0
    gain = new / old - 1.0
    return gain if abs(gain) > GAIN_TOLERANCE else 0.0


def _split(point: OperatingPoint) -> tuple[int, int, int] | None:
    if point.chip is None:
        return None
    d = point.chip.deployment
    return (d.tp, d.pp, d.ep)


def _probe(
    relax: Relaxation, layer: str, factor: float, point: OperatingPoint
) -> Relaxation | None:
    if layer == "cooling":
        nxt = next_cooling(relax.cooling or point.cooling.id, point.platform)
        return None if nxt is None else dataclasses.replace(relax, cooling=nxt)
    return relax.times(layer, factor)


def binding_layer(
    ctx: Context, relax: Relaxation, probe_factor: float = 1.25, split: Any = "auto"
) -> tuple[str, str, OperatingPoint, dict[str, tuple[float, float]]]:
    """The binding layer under ``relax``: the reason, the operating point and every gain."""
    base = operate(ctx, relax, None if split == "auto" else split)
    fixed = _split(base)
    gains: dict[str, tuple[float, float]] = {}
    for layer in LAYERS:
        trial = _probe(relax, layer, probe_factor, base)
        if trial is None:
            gains[layer] = (0.0, 0.0)
            continue
        point = operate(ctx, trial, fixed if layer != "hbm_capacity" else None)
        cost_gain = (
            base.cost_usd_per_mtok / point.cost_usd_per_mtok - 1.0
            if math.isfinite(point.cost_usd_per_mtok) and point.cost_usd_per_mtok > 0
            else 0.0
        )
        if not math.isfinite(base.cost_usd_per_mtok):
            cost_gain = math.inf if math.isfinite(point.cost_usd_per_mtok) else 0.0
        gains[layer] = (
            _gain(point.output_tokens_per_s, base.output_tokens_per_s),
            cost_gain if abs(cost_gain) > GAIN_TOLERANCE else 0.0,
        )
    best = max(LAYERS, key=lambda layer: gains[layer])
    over = {
        layer: use
        for layer in HARD_CAPS
        if (use := base.utilization_frac.get(layer)) is not None and use > 1.0
    }
    if over:
        best = max(over, key=lambda layer: over[layer])
        n_req = ctx.model_deployment.num_accelerators
        reason = (
            f"{best} is {over[best]:.0%} used: {base.evidence.get(best, '')}; the fleet is cut "
            f"to {base.num_accelerators} of {n_req} accelerators"
        )
    elif gains[best][0] > 0:
        reason = (
            f"relieving {best} by {probe_factor:g}x raises throughput within the SLOs by "
            f"{gains[best][0]:.1%}, more than any other layer"
        )
    elif gains[best][1] > 0:
        reason = (
            f"no relief raises throughput; relieving {best} lowers cost per token the most "
            f"({gains[best][1]:.1%})"
        )
    else:
        reason = "no single relief changes throughput or cost"
    return best, reason, base, gains


def next_accelerator(current: str, layer: str) -> str | None:
    """The next catalog accelerator (same vendor, not older, with a server platform) with
    more of the resource ``layer`` names: the smallest step up, cheapest on ties."""
    acc = get_accelerator(current)
    dim = HARDWARE_DIMENSIONS[layer]

    def amount(a: Any) -> float:
        if dim == "compute":
            return max(a.peak_flops_per_s.values())
        return float(getattr(a, dim))

    with_platform = set(accelerators_with_platform())
    here = amount(acc)
    candidates = []
    for other_id in list_accelerators():
        other = get_accelerator(other_id)
        if (
            other.vendor == acc.vendor
            and other.year >= acc.year
            and other.id in with_platform
            and amount(other) > here * 1.05
        ):
            candidates.append((amount(other), other.price_usd, other.id))
    return min(candidates)[2] if candidates else None


def _relieve(
    relax: Relaxation, layer: str, point: OperatingPoint, factor: float, products: bool
) -> tuple[Relaxation, str] | None:
    if layer == "cooling":
        nxt = next_cooling(relax.cooling or point.cooling.id, point.platform)
        if nxt is None:
            return None
        return dataclasses.replace(relax, cooling=nxt), f"{point.cooling.id} -> {nxt} cooling"
    if products and layer in HARDWARE_DIMENSIONS:
        current = relax.accelerator or point.accelerator.id
        nxt = next_accelerator(current, layer)
        if nxt is not None:
            return (
                dataclasses.replace(relax, accelerator=nxt),
                f"{current} -> {nxt} (more {layer.replace('_', ' ')})",
            )
    words = {
        "scheduler": "looser latency targets",
        "site_power": "more site power (MW)",
        "capital": "a bigger budget",
        "energy_supply": "cheaper electricity",
        "rack_power": "more power per rack",
    }
    return relax.times(layer, factor), f"{factor:g}x {words.get(layer, layer.replace('_', ' '))}"


def _layer_info(layer: str) -> tuple[str, str, str, tuple[str, ...], str]:
    info = get_stack_layer(layer)
    return info.name, info.analyst_layer, info.resolution_timeline, info.key_companies, info.relief


SENSITIVITY_INPUTS: tuple[str, ...] = (
    "compute",
    "hbm_bandwidth",
    "hbm_capacity",
    "scale_up",
    "scheduler",
    "energy_supply",
    "node_price",
    "finance.wacc_frac",
    "finance.accelerator_lifetime_years",
    "workload.input_tokens",
    "workload.output_tokens",
)


def _metric_triplet(point: OperatingPoint) -> dict[str, float]:
    return {
        "cost_usd_per_mtok": point.cost_usd_per_mtok,
        "output_tokens_per_s": point.output_tokens_per_s,
        "output_tokens_per_s_per_mw": point.output_tokens_per_s_per_mw,
    }


def _perturbed(
    ctx: Context, relax: Relaxation, name: str, scale: float, split: Any
) -> OperatingPoint:
    if name in LAYERS:
        # a factor of 0.9 on a layer is a 10 % cut (energy: a 10 % higher price is 1/1.1)
        factor = scale if name != "energy_supply" else 1.0 / (2.0 - scale)
        return operate(ctx, relax.times(name, factor), split)
    if name == "node_price":
        return operate(ctx, dataclasses.replace(relax, node_price_frac=scale), split)
    if name.startswith("workload."):
        field = name.split(".", 1)[1]
        value = getattr(ctx.workload, field) * scale
        new_ctx = dataclasses.replace(
            ctx, workload=dataclasses.replace(ctx.workload, **{field: value}), cache={}
        )
        return operate(new_ctx, relax, split)
    field = name.split(".", 1)[1]
    value = getattr(scenario_finance(ctx.scenario), field) * scale
    scenario = apply_overrides(ctx.scenario, {name: value})
    return operate(dataclasses.replace(ctx, scenario=scenario), relax, split)


def sensitivities(ctx: Context, relax: Relaxation, base: OperatingPoint) -> list[Sensitivity]:
    """Elasticities of cost per token, throughput and tokens per MW to each input (±10 %)."""
    split = _split(base)
    base_m = _metric_triplet(base)
    out: list[Sensitivity] = []
    for name in SENSITIVITY_INPUTS:
        low = _metric_triplet(_perturbed(ctx, relax, name, 0.9, split))
        high = _metric_triplet(_perturbed(ctx, relax, name, 1.1, split))
        for metric, value in base_m.items():
            finite = all(math.isfinite(v) for v in (low[metric], high[metric], value))
            elasticity = (high[metric] - low[metric]) / (0.2 * value) if finite and value else 0.0
            out.append(
                Sensitivity(
                    input=name,
                    metric=metric,
                    elasticity=elasticity,
                    low=low[metric],
                    high=high[metric],
                    base=value,
                )
            )
    return sorted(out, key=lambda s: (s.metric, -abs(s.elasticity)))


def bottleneck_map(
    source: ScenarioResult | Scenario,
    *,
    cascade_steps: int = 5,
    probe_factor: float = 1.25,
    cascade_factor: float = 2.0,
    products: bool = False,
    sensitivity: bool = True,
    relax: Mapping[str, float] | None = None,
) -> BottleneckMap:
    """The bottleneck map of a scenario (evaluated in steady state if not evaluated yet).

    ``relax`` starts from layers already widened (``{"site_power": 2.0}``); ``products``
    relieves hardware layers with the next real accelerator instead of a factor.
    """
    start = time.perf_counter()
    if cascade_steps < 0 or cascade_steps > 20:
        raise InvalidParameterError("cascade_steps", cascade_steps, "an integer in 0..20")
    for name, value in (("probe_factor", probe_factor), ("cascade_factor", cascade_factor)):
        if not value > 1.0:
            raise InvalidParameterError(name, value, "a factor > 1")
    result = source if isinstance(source, ScenarioResult) else evaluate(source, simulate=False)
    ctx = context_of(result)
    start_relax = Relaxation(factors=dict(relax or {}))
    binding, reason, base, gains = binding_layer(ctx, start_relax, probe_factor)
    layers = []
    for layer in LAYERS:
        label, analyst, timeline, companies, relief = _layer_info(layer)
        use = base.utilization_frac.get(layer)
        layers.append(
            LayerUse(
                name=layer,
                label=label,
                utilization_frac=use,
                headroom_frac=None if use is None else 1.0 - use,
                evidence=base.evidence.get(layer, ""),
                throughput_gain_frac=gains[layer][0],
                cost_gain_frac=gains[layer][1],
                analyst_layer=analyst,
                resolution_timeline=timeline,
                key_companies=companies,
                relief=relief,
            )
        )
    steps: list[CascadeStep] = []
    current, point, now = start_relax, base, binding
    for i in range(cascade_steps):
        relieved = _relieve(current, now, point, cascade_factor, products)
        if relieved is None:
            break
        nxt, action = relieved
        after_binding, _, after, _ = binding_layer(ctx, nxt, probe_factor)
        steps.append(
            CascadeStep(
                step=i + 1,
                relaxed_layer=now,
                action=action,
                binding_layer_after=after_binding,
                output_tokens_per_s_before=point.output_tokens_per_s,
                output_tokens_per_s_after=after.output_tokens_per_s,
                cost_usd_per_mtok_before=point.cost_usd_per_mtok,
                cost_usd_per_mtok_after=after.cost_usd_per_mtok,
                output_tokens_per_s_per_mw_after=after.output_tokens_per_s_per_mw,
            )
        )
        current, point, now = nxt, after, after_binding
    sens = sensitivities(ctx, start_relax, base) if sensitivity else []
    chip = base.chip
    return BottleneckMap(
        scenario=result.scenario.name,
        binding_layer=binding,
        binding_reason=reason,
        layers=tuple(layers),
        cascade=tuple(steps),
        sensitivities=tuple(sens),
        output_tokens_per_s=base.output_tokens_per_s,
        cost_usd_per_mtok=base.cost_usd_per_mtok,
        output_tokens_per_s_per_mw=base.output_tokens_per_s_per_mw,
        layout=chip.deployment.layout if chip else "",
        concurrency=chip.concurrency if chip else 0.0,
        elapsed_s=time.perf_counter() - start,
    )


__all__ = [
    "BottleneckMap",
    "CascadeStep",
    "LayerUse",
    "Sensitivity",
    "binding_layer",
    "bottleneck_map",
    "next_accelerator",
    "sensitivities",
]

"""The operating point of a deployment under relaxed layers: throughput within the SLOs,
capped by the site's power and the capital budget, and what it costs.

Notes
-----
For each layer of the stack a relaxation factor ``f`` widens its capacity: peak FLOP/s,
HBM bandwidth, HBM capacity, scale-up and scale-out bandwidth are multiplied by ``f`` on the
accelerator; the latency targets (``scheduler``) by ``f``; the rack power limit, the site's
power cap and the capital budget by ``f``; the electricity price is divided by ``f``
(``energy_supply``). Cooling relaxes by product: the next cooling type that removes more heat
per rack. ``f = inf`` makes a layer unlimited.

Throughput within the SLOs is the largest closed-loop concurrency whose steady-state mean
TTFT and TPOT meet the targets (bisection on the concurrency, the steady-state model of
:func:`chip2grid.perf.estimate`), at the split of the deployment that maximizes it. The
fleet then holds ``min(N, N_power, N_budget)`` accelerators, in whole replicas, where
``N_power = site cap / critical IT power per accelerator`` and
``N_budget = budget / capex per accelerator``.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from chip2grid.economics import CostBreakdown, cost_breakdown
from chip2grid.energy import EnergySupply, energy_supply, supply_price_usd_per_kwh
from chip2grid.errors import InfeasibleError, InvalidParameterError
from chip2grid.facility import (
    Cooling,
    Platform,
    Region,
    compatible_coolings,
    default_platform_for,
    get_cooling,
    get_platform,
    list_coolings,
    plan_racks,
)
from chip2grid.hardware import Accelerator, get_accelerator
from chip2grid.industry.layers import DEPLOYMENT_LAYER_IDS
from chip2grid.perf import (
    Deployment,
    Estimate,
    Load,
    Workload,
    concurrency_within_slo,
    estimate,
    parallel_layouts,
)
from chip2grid.scenario import Scenario, ScenarioResult, scenario_finance, scenario_region

LAYERS: tuple[str, ...] = DEPLOYMENT_LAYER_IDS
CHIP_LAYERS = ("compute", "hbm_bandwidth", "hbm_capacity", "scale_up", "scale_out", "scheduler")
UNLIMITED = 1e6
"""Factor that stands for an unlimited hardware resource (keeps the arithmetic finite)."""
COMM_OPS = ("tp_allreduce", "ep_alltoall", "pp_send")


@dataclass(frozen=True, slots=True, kw_only=True)
class Relaxation:
    """Factors by layer (1 = as is) and product upgrades (another accelerator or cooling)."""

    factors: Mapping[str, float] = dataclasses.field(default_factory=dict)
    accelerator: str | None = None
    cooling: str | None = None
    node_price_frac: float = 1.0
    """Multiplier on the server's price (a sensitivity input, not a layer)."""

    def __post_init__(self) -> None:
        for layer, factor in self.factors.items():
            if layer not in LAYERS:
                raise InvalidParameterError("layer", layer, f"one of {', '.join(LAYERS)}")
            if not factor > 0:
                raise InvalidParameterError(f"relaxation of {layer}", factor, "a factor > 0")

    def times(self, layer: str, factor: float) -> Relaxation:
        """This relaxation with ``layer`` widened by a further ``factor``."""
        factors = dict(self.factors)
        factors[layer] = factors.get(layer, 1.0) * factor
        return dataclasses.replace(self, factors=factors)

    def f(self, layer: str) -> float:
        return float(self.factors.get(layer, 1.0))

    def key(self) -> tuple[Any, ...]:
        chip = tuple(self.f(layer) for layer in CHIP_LAYERS)
        return (*chip, self.accelerator)


@dataclass(frozen=True, slots=True, kw_only=True)
class ChipPoint:
    """The serving side of an operating point (one deployment of N accelerators)."""

    deployment: Deployment
    estimate: Estimate
    concurrency: float
    limited_by: str
    """``slo`` (a latency target stopped the concurrency) or ``kv_cache`` (memory did)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class OperatingPoint:
    """Throughput, cost and the use of every layer under one relaxation."""

    relaxation: Relaxation
    chip: ChipPoint | None
    accelerator: Accelerator
    cooling: Cooling
    platform: Platform
    num_accelerators: int
    """Accelerators the site's power and the budget allow (whole replicas, at most N)."""
    output_tokens_per_s: float
    """Whole fleet, within the SLOs."""
    cost_usd_per_mtok: float
    """Blended cost per million tokens (input and output) at this throughput."""
    facility_power_w: float
    utilization_frac: Mapping[str, float | None]
    evidence: Mapping[str, str]
    breakdown: CostBreakdown | None

    @property
    def output_tokens_per_s_per_mw(self) -> float:
        mw = self.facility_power_w / 1e6
        return self.output_tokens_per_s / mw if mw > 0 else 0.0


@dataclass(frozen=True, slots=True, kw_only=True)
class Context:
    """What stays fixed while layers are relaxed."""

    scenario: Scenario
    workload: Workload
    model_deployment: Deployment
    """The scenario's deployment (its accelerator, precisions, engine; split chosen later)."""
    offered_requests_per_s: float
    cache: dict[tuple[Any, ...], ChipPoint | None] = dataclasses.field(
        default_factory=dict, compare=False, repr=False
    )


def context_of(result: ScenarioResult) -> Context:
    """The relaxation context of an evaluated scenario."""
    return Context(
        scenario=result.scenario,
        workload=result.workload,
        model_deployment=result.deployment,
        offered_requests_per_s=result.offered_requests_per_s,
    )


def relaxed_accelerator(base: Accelerator, relax: Relaxation) -> Accelerator:
    """``base`` (or the upgrade) with its compute, memory and links widened."""
    acc = get_accelerator(relax.accelerator) if relax.accelerator else base

    def scale(layer: str) -> float:
        return min(relax.f(layer), UNLIMITED)

    return dataclasses.replace(
        acc,
        peak_flops_per_s={k: v * scale("compute") for k, v in acc.peak_flops_per_s.items()},
        memory_bandwidth_bytes_per_s=acc.memory_bandwidth_bytes_per_s * scale("hbm_bandwidth"),
        memory_bytes=acc.memory_bytes * scale("hbm_capacity"),
        scale_up_bandwidth_bytes_per_s=acc.scale_up_bandwidth_bytes_per_s * scale("scale_up"),
        scale_out_bandwidth_bytes_per_s=acc.scale_out_bandwidth_bytes_per_s * scale("scale_out"),
    )


def slo_point(dep: Deployment, workload: Workload, ttft_s: float, tpot_s: float) -> ChipPoint:
    """The largest concurrency whose mean TTFT and TPOT meet the targets (2 % bisection)."""
    limit = concurrency_within_slo(dep, workload, ttft_s, tpot_s)
    return ChipPoint(
        deployment=dep,
        estimate=limit.estimate,
        concurrency=limit.concurrency,
        limited_by="kv_cache" if limit.limited_by == "max_users" else "slo",
    )


def _chip(ctx: Context, relax: Relaxation, split: tuple[int, int, int] | None) -> ChipPoint | None:
    slo = ctx.scenario.slo
    f = relax.f("scheduler")
    ttft_s, tpot_s = slo.ttft_s * f, slo.tpot_s * f
    acc = relaxed_accelerator(ctx.model_deployment.accelerator, relax)
    base = ctx.model_deployment.replace(accelerator=acc)
    d = ctx.scenario.deployment
    fixed = {
        name: (None if getattr(d, name) == "auto" else int(getattr(d, name)))
        for name in ("tp", "pp", "ep")
    }
    if split is not None:
        layouts = [split]
    else:
        layouts = [
            (tp, pp, ep)
            for tp, pp, ep in parallel_layouts(base.model, base.num_accelerators)
            if all(
                fixed[n] in (None, v) for n, v in zip(("tp", "pp", "ep"), (tp, pp, ep), strict=True)
            )
        ]
    if len(layouts) > 2:
        # rank the splits by their full-load throughput; bisect the best two only
        ranked = []
        for tp, pp, ep in layouts:
            try:
                full = estimate(base.replace(tp=tp, pp=pp, ep=ep), ctx.workload, Load())
            except (InfeasibleError, InvalidParameterError):
                continue
            ranked.append((-full.output_tokens_per_s, (tp, pp, ep)))
        layouts = [layout for _, layout in sorted(ranked)[:2]]
    best: ChipPoint | None = None
    for tp, pp, ep in layouts:
        try:
            point = slo_point(base.replace(tp=tp, pp=pp, ep=ep), ctx.workload, ttft_s, tpot_s)
        except (InfeasibleError, InvalidParameterError):
            continue
        if best is None or (
            point.concurrency > 0
            and point.estimate.output_tokens_per_s > best.estimate.output_tokens_per_s
        ):
            best = point
    return best


def chip_point(
    ctx: Context, relax: Relaxation, split: tuple[int, int, int] | None = None
) -> ChipPoint | None:
    """The serving operating point (cached in the context); ``split`` fixes the TP/PP/EP."""
    key = (relax.key(), split)
    if key not in ctx.cache:
        ctx.cache[key] = _chip(ctx, relax, split)
    return ctx.cache[key]


def next_cooling(cooling: str, platform: Platform | None = None) -> str | None:
    """The cooling type that removes the next-larger power per rack (among those the
    platform is built for, when given), if any."""
    here = get_cooling(cooling).max_rack_power_w
    allowed = list_coolings() if platform is None else compatible_coolings(platform)
    better = [c for c in allowed if get_cooling(c).max_rack_power_w > here]
    return min(better, key=lambda c: get_cooling(c).max_rack_power_w) if better else None


def operate(
    ctx: Context, relax: Relaxation, split: tuple[int, int, int] | None = None
) -> OperatingPoint:
    """Throughput within the SLOs, fleet size under the caps, cost and the use of each layer."""
    s = ctx.scenario
    chip = chip_point(ctx, relax, split)
    acc = relaxed_accelerator(ctx.model_deployment.accelerator, relax)
    platform = (
        get_platform(s.site.platform)
        if s.site.platform and relax.accelerator is None
        else default_platform_for(relax.accelerator or ctx.model_deployment.accelerator.id)
    )
    cooling = get_cooling(relax.cooling or s.site.cooling)
    util: dict[str, float | None] = {}
    evidence: dict[str, str] = {}
    n_req = ctx.model_deployment.num_accelerators

    # rack power and cooling: can one rack hold and shed the nodes?
    rack_cap = s.site.rack_power_cap_w * relax.f("rack_power") if s.site.rack_power_cap_w else None
    try:
        rack = plan_racks(platform, cooling, platform.node_max_power_w, rack_cap)
        rack_ok = True
        util["cooling"] = rack.rack_power_w / cooling.max_rack_power_w
        evidence["cooling"] = (
            f"{rack.nodes_per_rack} nodes x {rack.node_power_w / 1e3:.1f} kW = "
            f"{rack.rack_power_w / 1e3:.1f} kW per rack of the {cooling.max_rack_power_w / 1e3:.0f}"
            f" kW {cooling.id} removes"
        )
        if rack_cap:
            util["rack_power"] = rack.rack_power_w / rack_cap
            evidence["rack_power"] = (
                f"{rack.rack_power_w / 1e3:.1f} kW per rack of the {rack_cap / 1e3:.1f} kW limit"
                f" ({rack.nodes_per_rack} of {platform.nodes_per_rack} nodes fit)"
            )
        else:
            util["rack_power"] = None
            evidence["rack_power"] = "no rack power limit set (site.rack_power_cap_w)"
    except InvalidParameterError as exc:
        rack_ok = False
        node_kw = platform.node_max_power_w / 1e3
        util["cooling"] = platform.node_max_power_w / cooling.max_rack_power_w
        evidence["cooling"] = f"one {node_kw:.1f} kW node exceeds what {cooling.id} removes: {exc}"
        util["rack_power"] = platform.node_max_power_w / rack_cap if rack_cap else None
        evidence["rack_power"] = f"one {node_kw:.1f} kW node per rack: {exc}"

    if chip is None or chip.concurrency <= 0 or not rack_ok:
        reason = "no split fits in memory" if chip is None else "the SLOs cannot be met"
        if not rack_ok:
            reason = "the racks cannot hold one node"
        for layer in LAYERS:
            util.setdefault(layer, None)
            evidence.setdefault(layer, reason)
        return OperatingPoint(
            relaxation=relax,
            chip=chip,
            accelerator=acc,
            cooling=cooling,
            platform=platform,
            num_accelerators=0,
            output_tokens_per_s=0.0,
            cost_usd_per_mtok=math.inf,
            facility_power_w=0.0,
            utilization_frac=util,
            evidence=evidence,
            breakdown=None,
        )

    est = chip.estimate
    dep = chip.deployment
    util["compute"] = est.compute_util_frac
    evidence["compute"] = (
        f"{est.compute_util_frac:.0%} of peak {est.compute_precision} FLOP/s in use "
        f"(prefill {est.prefill.bound}-bound, decode {est.decode.bound}-bound)"
    )
    util["hbm_bandwidth"] = est.memory_bandwidth_util_frac
    evidence["hbm_bandwidth"] = (
        f"{est.memory_bandwidth_util_frac:.0%} of {acc.memory_bandwidth_bytes_per_s / 1e12:.2f} "
        "TB/s HBM bandwidth in use"
    )
    running = est.batch_size * dep.num_replicas
    util["hbm_capacity"] = running / max(est.max_concurrency, 1)
    evidence["hbm_capacity"] = (
        f"{running:,.0f} running sequences of the {est.max_concurrency:,d} the KV cache holds "
        f"({est.memory_gb.get('kv_cache', 0.0):.0f} GB KV per accelerator)"
    )
    comm_s = sum(est.decode.operators_s.get(op, 0.0) for op in COMM_OPS)
    comm_frac = comm_s / est.decode.step_s if est.decode.step_s > 0 else 0.0
    spans_nodes = dep.tp * dep.pp * dep.ep > acc.scale_up_domain_size
    util["scale_up"] = 0.0 if spans_nodes else comm_frac
    util["scale_out"] = comm_frac if spans_nodes else 0.0
    where = "scale-out network" if spans_nodes else "scale-up links"
    evidence["scale_up" if not spans_nodes else "scale_out"] = (
        f"collectives take {comm_frac:.0%} of a decode step on the {where} ({dep.layout})"
    )
    evidence.setdefault("scale_up", "the replica spans nodes: its collectives use scale-out")
    evidence.setdefault(
        "scale_out", f"each replica ({dep.layout}) fits in one scale-up domain: no traffic"
    )
    slo = s.slo
    f = relax.f("scheduler")
    ttft_use, tpot_use = est.ttft_s_mean / (slo.ttft_s * f), est.tpot_s_mean / (slo.tpot_s * f)
    util["scheduler"] = max(ttft_use, tpot_use)
    evidence["scheduler"] = (
        f"at {chip.concurrency:,.0f} users mean TTFT {est.ttft_s_mean * 1e3:.0f} ms of "
        f"{slo.ttft_s * f * 1e3:.0f} ms, TPOT {est.tpot_s_mean * 1e3:.1f} ms of "
        f"{slo.tpot_s * f * 1e3:.1f} ms"
        + ("; the KV cache stops more users first" if chip.limited_by == "kv_cache" else "")
    )

    supply: EnergySupply = energy_supply(s.energy.supply)
    region = scenario_region(s)
    finance = scenario_finance(s)
    per_acc_w = est.accelerator_power_w / dep.num_accelerators
    b = cost_breakdown(
        num_accelerators=n_req,
        platform=platform,
        supply=supply,
        finance=finance,
        accelerator_power_w=per_acc_w,
        output_tokens_per_s=est.output_tokens_per_s,
        input_tokens_per_s=est.input_tokens_per_s,
        region=region,
        cooling=cooling,
        idle_accelerator_power_w=acc.idle_power_w,
        electricity_price_usd_per_kwh=_price(supply, region) / relax.f("energy_supply"),
        node_price_usd=platform.node_price_usd * relax.node_price_frac,
        colocation=s.site.colocation,
    )
    crit_per_acc = float(np.asarray(b.critical_it_power_w)) / n_req
    capex_per_acc = float(np.asarray(b.capex_usd)) / n_req
    n_allowed = float(n_req)
    cap = s.site.power_cap_w
    if cap:
        n_power = cap * relax.f("site_power") / crit_per_acc
        util["site_power"] = n_req * crit_per_acc / (cap * relax.f("site_power"))
        evidence["site_power"] = (
            f"{n_req * crit_per_acc / 1e6:.3f} MW critical IT asked of "
            f"{cap * relax.f('site_power') / 1e6:.3f} MW"
        )
        n_allowed = min(n_allowed, n_power)
    else:
        util["site_power"] = None
        evidence["site_power"] = (
            f"{n_req * crit_per_acc / 1e6:.3f} MW critical IT; no site power cap set"
        )
    budget = s.budget.capex_usd
    if budget:
        util["capital"] = n_req * capex_per_acc / (budget * relax.f("capital"))
        evidence["capital"] = (
            f"capex ${n_req * capex_per_acc / 1e6:,.2f} M of a "
            f"${budget * relax.f('capital') / 1e6:,.2f} M budget"
        )
        n_allowed = min(n_allowed, budget * relax.f("capital") / capex_per_acc)
    else:
        util["capital"] = None
        evidence["capital"] = (
            f"capex ${n_req * capex_per_acc / 1e6:,.2f} M; no budget set (budget.capex_usd)"
        )
    elec = float(np.asarray(b.electricity_usd_per_year))
    total = float(np.asarray(b.total_usd_per_year))
    util["energy_supply"] = None
    evidence["energy_supply"] = (
        f"electricity ${elec:,.0f} per year, {elec / total:.0%} of the cost "
        f"(${float(np.asarray(b.electricity_price_usd_per_kwh)):.3f}/kWh, "
        f"{'+'.join(src.id for src in supply.sources)})"
        if total > 0
        else "no cost"
    )
    per_replica = dep.num_accelerators // dep.num_replicas
    replicas = min(int(n_allowed // per_replica), dep.num_replicas)
    tokens = est.output_tokens_per_s * replicas / dep.num_replicas
    cost = float(np.asarray(b.usd_per_mtok_blended))
    facility_w = float(np.asarray(b.facility_power_w)) * replicas / dep.num_replicas
    return OperatingPoint(
        relaxation=relax,
        chip=chip,
        accelerator=acc,
        cooling=cooling,
        platform=platform,
        num_accelerators=replicas * per_replica,
        output_tokens_per_s=tokens,
        cost_usd_per_mtok=cost if replicas > 0 else math.inf,
        facility_power_w=facility_w,
        utilization_frac=util,
        evidence=evidence,
        breakdown=b,
    )


def _price(supply: EnergySupply, region: Region) -> float:
    """The supply's electricity price in the region, USD/kWh (as the cost model prices it)."""
    return float(supply_price_usd_per_kwh(supply, region))

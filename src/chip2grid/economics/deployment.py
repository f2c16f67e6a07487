"""Cost of a deployment from what the performance core or the serving simulator measured.

Turns an :class:`~chip2grid.perf.Estimate` (steady state) or a
:class:`~chip2grid.serving.ServingResult` (simulated trace) into the inputs of
:func:`cost_breakdown`: busy share, power while busy, token rates while busy and the share of
busy time spent on prefill.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from chip2grid.economics.cost import CostBreakdown, cost_breakdown, embodied_inputs
from chip2grid.economics.finance import Finance, default_finance
from chip2grid.economics.market import MarketComparison, market_comparison
from chip2grid.economics.uncertainty import MonteCarloResult, monte_carlo
from chip2grid.energy import EnergySupply, energy_supply, supply_price_usd_per_kwh
from chip2grid.errors import InvalidParameterError
from chip2grid.facility import (
    Cooling,
    Platform,
    Region,
    default_cooling_for,
    default_platform_for,
    get_cooling,
    get_platform,
    get_region,
)
from chip2grid.perf import Deployment, Estimate, calibration_for, get_engine, rank_shape
from chip2grid.perf.attribution import prefill_time_share
from chip2grid.serving import ServingResult


@dataclass(frozen=True, slots=True, kw_only=True)
class ServiceLoad:
    """What the fleet does while it serves (inputs of the cost model)."""

    num_accelerators: int
    accelerator_power_w: float
    """Mean power of one accelerator while busy."""
    busy_frac: float
    output_tokens_per_s: float
    """Whole fleet, while busy."""
    input_tokens_per_s: float
    prefill_time_frac: float
    source: str


@dataclass(frozen=True, slots=True, kw_only=True)
class DeploymentCost:
    """A cost breakdown with the load it priced and the market to compare with."""

    load: ServiceLoad
    platform: Platform
    region: str
    cooling: str
    supply: str
    colocation: bool
    breakdown: CostBreakdown
    market: MarketComparison
    supply_spec: str | dict[str, float] = "grid"
    """The supply as given (an id or shares), to price it again."""
    region_spec: Region | None = None
    """The region as priced (with a site's own climate, if one was given), to price it again;
    ``None``: the catalog's ``region``."""
    finance: Finance = dataclasses.field(default_factory=default_finance)
    """The finance it was priced with."""


def load_from_estimate(est: Estimate) -> ServiceLoad:
    """A steady state keeps the engine busy. Its busy time is split between input and output
    tokens by their stand-alone costs (:func:`chip2grid.perf.attribution.prefill_time_share`):
    what a prefill-only engine spends on the prompts against what a decode-only engine at the
    running batch spends on the outputs."""
    return ServiceLoad(
        num_accelerators=est.num_accelerators,
        accelerator_power_w=est.accelerator_power_w / est.num_accelerators,
        busy_frac=1.0,
        output_tokens_per_s=est.output_tokens_per_s,
        input_tokens_per_s=est.input_tokens_per_s,
        prefill_time_frac=est.prefill_time_frac,
        source=f"steady-state estimate ({est.mode})",
    )


def load_from_simulation(result: ServingResult) -> ServiceLoad:
    """Busy share, power while busy and token rates while busy from a simulated trace.

    Busy time is split between input and output tokens by their stand-alone costs, as for a
    steady state (:func:`chip2grid.perf.attribution.prefill_time_share`), at the trace's mean
    prompt and output lengths and the mean decode batch of the simulated steps.
    """
    dep = result.deployment
    span = result.duration_s
    if span <= 0:
        raise InvalidParameterError("trace", "no completed request", "at least one request")
    busy_s = sum(r.busy_s for r in result.replicas)
    total_s = span * len(result.replicas)
    busy = min(max(busy_s / total_s, 1e-9), 1.0)
    idle_w = dep.accelerator.idle_power_w
    mean_w = result.accelerator_energy_j / span / dep.num_accelerators
    busy_w = max((mean_w - (1.0 - busy) * idle_w) / busy, idle_w)
    decode_seqs = np.concatenate([r.timeline.decode_seqs for r in result.replicas])
    decoding = decode_seqs[decode_seqs > 0]
    mean_batch = float(decoding.mean()) if decoding.size else 1.0
    done = max(result.num_requests - result.num_rejected, 1)
    engine = get_engine(dep.engine)
    shape = rank_shape(dep, calibration_for(dep.accelerator.family, engine.calibration))
    prefill = prefill_time_share(
        shape,
        result.input_tokens_done / done,
        result.output_tokens_done / done,
        mean_batch,
        float(result.config.max_num_batched_tokens),
    )
    return ServiceLoad(
        num_accelerators=dep.num_accelerators,
        accelerator_power_w=busy_w,
        busy_frac=busy,
        output_tokens_per_s=result.output_tokens_done / (busy * span),
        input_tokens_per_s=result.input_tokens_done / (busy * span),
        prefill_time_frac=prefill,
        source="serving simulation",
    )


def deployment_cost(
    deployment: Deployment,
    load: ServiceLoad,
    *,
    region: str | Region = "us-virginia",
    cooling: str | None = None,
    supply: str | dict[str, float] = "grid",
    platform: str | None = None,
    finance: Finance | None = None,
    colocation: bool = False,
) -> DeploymentCost:
    """Price ``load`` on ``deployment`` in a place, with an energy supply and finance.

    ``cooling`` None: direct liquid cooling where the platform takes it, else the platform's
    own first cooling type (air for an air-cooled server).

    ``region`` is a catalog id or a :class:`~chip2grid.facility.Region` (for instance one from
    :func:`~chip2grid.facility.with_climate` carrying a site's own hourly climate)."""
    plat = get_platform(platform) if platform else default_platform_for(deployment.accelerator.id)
    if plat.accelerator != deployment.accelerator.id:
        raise InvalidParameterError(
            "platform",
            plat.id,
            f"a platform built on {deployment.accelerator.id}",
            f"{plat.id} holds {plat.accelerator}",
        )
    reg = region if isinstance(region, Region) else get_region(region)
    cool = get_cooling(cooling or default_cooling_for(plat))
    mix: EnergySupply = energy_supply(supply)
    fin = finance or default_finance()
    breakdown = _price_load(load, plat, mix, reg, cool, fin, colocation)
    label = (
        supply if isinstance(supply, str) else ", ".join(f"{k} {v:.0%}" for k, v in supply.items())
    )
    return DeploymentCost(
        load=load,
        platform=plat,
        region=reg.id,
        cooling=cool.id,
        supply=label,
        colocation=colocation,
        breakdown=breakdown,
        market=market_comparison(deployment.model.id, deployment.accelerator.id),
        supply_spec=supply,
        finance=fin,
        region_spec=reg,
    )


DEFAULT_UNCERTAINTY: dict[str, dict[str, float | str]] = {
    "node_price_frac": {"dist": "triangular", "low": 0.8, "mode": 1.0, "high": 1.3},
    "electricity_price_frac": {"dist": "triangular", "low": 0.7, "mode": 1.0, "high": 1.5},
    "wacc_frac": {"dist": "triangular", "low": 0.07, "mode": 0.10, "high": 0.14},
    "accelerator_lifetime_years": {"dist": "triangular", "low": 3.0, "mode": 5.0, "high": 6.0},
}
"""Illustrative spreads (judgement, not measurements) used when the caller gives none: server
price -20 %/+30 % of the catalog's, electricity -30 %/+50 % of the region's, cost of capital
7-14 %, depreciation life 3-6 years. Pass your own to :func:`cost_uncertainty`."""

PRICE_MULTIPLIERS = ("node_price_frac", "electricity_price_frac")
EMBODIED_MULTIPLIERS = {
    "accelerator_embodied_frac": "accelerator_kg_co2e",
    "host_embodied_frac": "host_kg_co2e_per_node",
    "facility_embodied_frac": "facility_kg_co2e_per_w",
}
"""Multipliers on the embodied-carbon figures (``catalog/embodied.toml``) -> the
:func:`~chip2grid.economics.cost.cost_breakdown` argument each scales."""


def cost_uncertainty(
    cost: DeploymentCost,
    *,
    inputs: Mapping[str, object] | None = None,
    num_draws: int = 10_000,
    seed: int = 0,
) -> MonteCarloResult:
    """P10/P50/P90 of every figure of ``cost`` with uncertain prices and finance.

    ``inputs`` maps a name to a distribution spec (see :func:`parse_distribution`): the
    multipliers ``node_price_frac`` (on the platform's server price),
    ``electricity_price_frac`` (on the supply's price in the region),
    ``accelerator_embodied_frac``, ``host_embodied_frac`` and ``facility_embodied_frac`` (on
    the embodied carbon of an accelerator, a node's host and the building per W), or any
    numeric field of :class:`Finance`. The load, place, platform and finance are those
    ``cost`` priced.
    """
    specs = dict(DEFAULT_UNCERTAINTY if inputs is None else inputs)
    base = cost.finance
    finance_fields = {
        f.name
        for f in dataclasses.fields(Finance)
        if f.type in ("float", float) and f.name not in ("id", "source")
    }
    allowed = set(PRICE_MULTIPLIERS) | set(EMBODIED_MULTIPLIERS) | finance_fields
    for name in specs:
        if name not in allowed:
            raise InvalidParameterError(
                "uncertain input", name, f"one of {', '.join(sorted(allowed))}"
            )
    region = cost.region_spec or get_region(cost.region)
    cooling = get_cooling(cost.cooling)
    supply = energy_supply(cost.supply_spec)
    price = supply_price_usd_per_kwh(supply, region)
    embodied = dict(
        zip(
            EMBODIED_MULTIPLIERS.values(),
            embodied_inputs(cost.platform, None, None, None),
            strict=True,
        )
    )

    def priced(**draws: Any) -> CostBreakdown:
        node = cost.platform.node_price_usd * draws.pop("node_price_frac", 1.0)
        elec = price * draws.pop("electricity_price_frac", 1.0)
        carbon = {
            arg: np.asarray(embodied[arg]) * draws.pop(name)
            for name, arg in EMBODIED_MULTIPLIERS.items()
            if name in draws
        }
        finance = dataclasses.replace(base, **draws) if draws else base
        return _price_load(
            cost.load,
            cost.platform,
            supply,
            region,
            cooling,
            finance,
            cost.colocation,
            node_price_usd=node,
            electricity_price_usd_per_kwh=elec,
            **carbon,
        )

    return monte_carlo(priced, specs, num_draws, seed)  # type: ignore[arg-type]


def _price_load(
    load: ServiceLoad,
    platform: Platform,
    supply: EnergySupply,
    region: Region,
    cooling: Cooling,
    finance: Finance,
    colocation: bool,
    **overrides: Any,
) -> CostBreakdown:
    """:func:`cost_breakdown` of a service load (``overrides``: its price arguments)."""
    return cost_breakdown(
        num_accelerators=load.num_accelerators,
        platform=platform,
        supply=supply,
        finance=finance,
        accelerator_power_w=load.accelerator_power_w,
        output_tokens_per_s=load.output_tokens_per_s,
        input_tokens_per_s=load.input_tokens_per_s,
        region=region,
        cooling=cooling,
        busy_frac=load.busy_frac,
        prefill_time_frac=load.prefill_time_frac,
        colocation=colocation,
        **overrides,
    )

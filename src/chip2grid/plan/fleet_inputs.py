"""Inputs of the fleet planner: candidate sites, the serving capacity of one server at the SLOs,
and what one server costs and draws in each site.

Everything here is derived from the layers below (perf for capacity, economics for cost); the
planner in :mod:`chip2grid.plan.fleet` only combines these figures.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from chip2grid.catalog import build_entry, load_table, read_toml
from chip2grid.economics import Finance, deployment_cost, load_from_estimate
from chip2grid.errors import InfeasibleError, InvalidParameterError, UnknownEntryError
from chip2grid.facility import default_platform_for, get_cooling, get_region
from chip2grid.hardware import get_accelerator
from chip2grid.llm import get_model
from chip2grid.perf import (
    Deployment,
    Estimate,
    Load,
    Workload,
    concurrency_within_slo,
    estimate,
    parallel_layouts,
)

__all__ = [
    "FleetOffer",
    "FleetSite",
    "SloCapacity",
    "fleet_offers",
    "load_sites",
    "slo_capacity",
]


@dataclass(frozen=True, slots=True, kw_only=True)
class FleetSite:
    """A candidate site of a fleet plan.

    Attributes
    ----------
    id
        Name of the site.
    region, cooling
        Catalog ids (``chip2grid list regions``, ``chip2grid list cooling``).
    power_cap_w
        Grid power the site may draw: IT plus cooling and electrical losses (facility power).
    available_year
        First year the power is energized (the build-out date); nothing stands there before.
    supply
        Energy-source id (``chip2grid list energy-sources``).
    colocation
        Rent the hall instead of building it.
    """

    id: str
    region: str
    cooling: str
    power_cap_w: float
    available_year: int
    supply: str = "grid"
    colocation: bool = False
    source: str = "user input"
    estimate: bool = False
    notes: str = ""

    def __post_init__(self) -> None:
        if not (self.power_cap_w > 0 and math.isfinite(self.power_cap_w)):
            raise InvalidParameterError(
                f"sites.{self.id}.power_cap_w", self.power_cap_w, "a finite number > 0 (W)"
            )
        get_region(self.region)
        get_cooling(self.cooling)


def load_sites(path: Path | str | None = None) -> tuple[FleetSite, ...]:
    """Read candidate sites from a TOML file, one table per site (``None``: the built-in list).

    The built-in list is ``catalog/sites.toml``, an illustrative portfolio of five sites.
    Unknown keys, missing fields and unknown region or cooling ids are errors naming the site.
    """
    if path is None:
        table = dict(load_table("sites"))
        where = "sites"
    else:
        file = Path(path)
        table = read_toml(file)
        where = file.stem
    if not table:
        raise InvalidParameterError("sites", str(path), "a TOML file with at least one [site]")
    sites = []
    for site_id, entry in table.items():
        if not isinstance(entry, dict):
            raise InvalidParameterError(
                f"sites.{site_id}", entry, "a table with region, cooling, power_cap_w, ..."
            )
        sites.append(build_entry(FleetSite, site_id, entry, where))
    return tuple(sites)


@dataclass(frozen=True, slots=True, kw_only=True)
class SloCapacity:
    """What one server of an accelerator serves while meeting the latency SLOs.

    Attributes
    ----------
    accelerator, platform
        Catalog ids; ``num_accelerators`` is the platform's accelerators per node.
    concurrency
        Concurrent requests per server at which the SLOs are still met.
    output_tokens_per_s
        Output tokens per second of one server at that concurrency.
    estimate
        The steady-state estimate at that point (layout, TTFT, TPOT, power).
    """

    accelerator: str
    platform: str
    num_accelerators: int
    concurrency: float
    output_tokens_per_s: float
    ttft_s_mean: float
    tpot_s_mean: float
    estimate: Estimate


def slo_capacity(
    model: str,
    accelerator: str,
    workload: Workload,
    *,
    ttft_slo_s: float,
    tpot_slo_s: float,
    weight_precision: str = "fp8",
    kv_precision: str = "fp8",
    engine: str = "tensorrt-llm",
) -> SloCapacity:
    """Highest output rate of one server (one node of the accelerator's default platform) that
    keeps mean TTFT and mean TPOT within their SLOs.

    Raises
    ------
    InfeasibleError
        When no layout meets the SLOs even with one user, or the model does not fit.

    Notes
    -----
    For every ``TP x PP x EP`` split of the node, the closed-loop steady state of
    :func:`chip2grid.estimate` (``Load(mode="concurrency")``) is evaluated at a growing number
    of users ``c``; TTFT and TPOT rise with ``c``, so the largest ``c`` that meets both SLOs is
    found by bisection between 1 and the KV-limited batch at maximum load. The split with the
    highest output rate at its SLO limit is kept. Means, not tails: a P99 SLO needs the
    serving simulator.
    """
    for name, value in (("ttft_slo_s", ttft_slo_s), ("tpot_slo_s", tpot_slo_s)):
        if not value > 0:
            raise InvalidParameterError(name, value, "a time > 0 (s)")
    acc = get_accelerator(accelerator)
    platform = default_platform_for(acc.id)
    arch = get_model(model)
    n = platform.accelerators_per_node
    best: tuple[float, Estimate] | None = None
    reasons: list[str] = []
    for tp, pp, ep in parallel_layouts(arch, n):
        dep = Deployment(
            model=arch,
            accelerator=acc,
            num_accelerators=n,
            tp=tp,
            pp=pp,
            ep=ep,
            weight_precision=weight_precision,
            kv_precision=kv_precision,
            engine=engine,
        )
        try:
            full = estimate(dep, workload, Load(mode="max_load"))
            limit = concurrency_within_slo(
                dep,
                workload,
                ttft_slo_s,
                tpot_slo_s,
                max_users=max(float(full.batch_size * full.num_replicas), 1.0),
                rel_tol=1e-3,
                abs_tol=0.5,
            )
        except (InfeasibleError, InvalidParameterError) as exc:
            reasons.append(str(exc))
            continue
        if limit.limited_by == "one_user":
            low = limit.estimate
            reasons.append(
                f"{dep.layout}: one user already sees TTFT {low.ttft_s_mean:.3g} s, "
                f"TPOT {low.tpot_s_mean:.3g} s"
            )
            continue
        if best is None or limit.estimate.output_tokens_per_s > best[1].output_tokens_per_s:
            best = (limit.concurrency, limit.estimate)
    if best is None:
        raise InfeasibleError(
            f"{accelerator}: no split of one {platform.id} server ({n} x {acc.id}) serves "
            f"{arch.id} within TTFT {ttft_slo_s:g} s and TPOT {tpot_slo_s:g} s"
            + (f"; e.g. {reasons[-1]}" if reasons else "")
            + "; relax the SLOs or drop this accelerator"
        )
    users, est = best
    return SloCapacity(
        accelerator=acc.id,
        platform=platform.id,
        num_accelerators=n,
        concurrency=users,
        output_tokens_per_s=est.output_tokens_per_s,
        ttft_s_mean=est.ttft_s_mean,
        tpot_s_mean=est.tpot_s_mean,
        estimate=est,
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class FleetOffer:
    """One server of one accelerator in one site: what it serves, draws and costs.

    Attributes
    ----------
    output_tokens_per_s
        At the SLOs (:func:`slo_capacity`).
    facility_power_w
        Grid power provisioned for it: critical IT power (node budget plus its network) times
        the site's annual PUE.
    capex_usd
        Capital spent when it is bought (server, network, its share of facility and power
        infrastructure unless colocated).
    usd_per_year
        Total yearly cost while installed: capital annualized over its lifetimes at the WACC,
        electricity at the region's price and PUE, maintenance, staff, insurance or colocation
        rent (:func:`chip2grid.economics.deployment_cost`).
    """

    accelerator: str
    platform: str
    site: str
    num_accelerators: int
    output_tokens_per_s: float
    facility_power_w: float
    capex_usd: float
    usd_per_year: float


def fleet_offers(
    capacities: tuple[SloCapacity, ...],
    sites: tuple[FleetSite, ...],
    finance: Finance,
) -> tuple[tuple[FleetOffer, ...], tuple[str, ...]]:
    """Price one server of each capacity in each site; return the offers and notes on the
    pairs left out (a cooling that cannot take the platform)."""
    offers: list[FleetOffer] = []
    notes: list[str] = []
    for cap in capacities:
        est = cap.estimate
        dep = Deployment(
            model=get_model(est.model),
            accelerator=get_accelerator(est.accelerator),
            num_accelerators=est.num_accelerators,
            tp=est.tp,
            pp=est.pp,
            ep=est.ep,
            weight_precision=est.weight_precision,
            kv_precision=est.kv_precision,
            engine=est.engine,
        )
        service = load_from_estimate(est)
        for site in sites:
            try:
                cost = deployment_cost(
                    dep,
                    service,
                    region=site.region,
                    cooling=site.cooling,
                    supply=site.supply,
                    platform=cap.platform,
                    finance=finance,
                    colocation=site.colocation,
                )
            except InvalidParameterError as exc:
                notes.append(f"{cap.accelerator} not offered in {site.id}: {exc}")
                continue
            except UnknownEntryError:
                raise
            b = cost.breakdown
            num_nodes = float(np.asarray(b.num_nodes))
            offers.append(
                FleetOffer(
                    accelerator=cap.accelerator,
                    platform=cap.platform,
                    site=site.id,
                    num_accelerators=cap.num_accelerators,
                    output_tokens_per_s=cap.output_tokens_per_s,
                    facility_power_w=float(np.asarray(b.critical_it_power_w * b.pue)) / num_nodes,
                    capex_usd=float(np.asarray(b.capex_usd)) / num_nodes,
                    usd_per_year=float(np.asarray(b.total_usd_per_year)) / num_nodes,
                )
            )
    return tuple(offers), tuple(notes)

"""The yearly system-dynamics model: supply layers against training and inference demand.

Notes
-----
Year ``k`` (0 at the start year) runs in this order:

1. The cohort shipped ``lifetime`` years ago retires (the initial fleet is spread evenly over
   the ``lifetime`` years before the start).
2. Demand for new accelerators is the compute required minus the compute left after
   retirement, over the FLOP/s of this year's accelerator:
   ``D(k) = max(0, R_train(k) + R_inf(k) - F_existing(k)) / f(k)``, with
   ``R_train = C_train(k) / (year_s u_train)`` and ``R_inf = T(k) q(k) / (year_s u_inf)``
   (``T`` tokens demanded, ``q`` FLOP per token; demand growth slows by a fixed fraction a year).
3. Each supply layer ``L`` converts its capacity ``U_L(k)`` into accelerators:
   ``S_L(k) = U_L(k) / c_L(k)`` where ``c_L`` is the layer's units per accelerator (power adds
   the power freed by retirements; capital adds ``capex_to_revenue_ratio x revenue(k-1)``).
4. Deployed ``N(k) = min(D(k), min_L S_L(k))``; the binding layer is ``argmin_L S_L`` when that
   minimum is below demand, else ``"demand"``; the shortfall is ``D(k) - N(k)``.
5. Each layer plans for the demand it forecasts ``tau_L`` years ahead. The forecast is the
   *underlying* demand ``D_u``: the accelerators a fleet that had met every earlier year's
   demand would need (growth of the requirement plus replacements), extrapolated at its last
   growth: ``F(k) = D_u(k)(1 + g_u(k))^tau``. A layer whose projected capacity
   ``P_L(k + tau)`` (capacity grown organically plus orders in the pipeline) would run above the
   utilization threshold ``theta`` orders the difference, at most ``m_L U_L(k)``:
   ``order = clip(F_L c_L(k + tau) / theta - P_L(k + tau), 0, m_L U_L(k))`` with
   ``F_L = min(F(k), min_{M != L} reach_M(k + tau))``: no layer builds for accelerators the
   other layers could not supply by then (``reach_M``: M's projected capacity plus every order
   it could still place in time at its maximum expansion, plus freed power or revenue-funded
   capex). Capital subtracts ``capex_to_revenue_ratio x revenue(k)``. The order arrives in
   year ``k + max(tau_L, 1)``. So a layer invests when it is projected to bind, and the layers
   sized to the current bottleneck bind next when it is relieved ("bottlenecks migrate").
   Forecasting from the underlying demand, not from the shortfall the supply layers create,
   keeps cumulative deployment monotone in every layer's capacity: with the old rule (orders
   when ``N / S_L >= theta``, sized to this year's shortfall-inflated demand) a 10 % power cut
   in fast-power tipped power over the threshold a year early and raised deployment by 2032
   by 19 %.
6. ``U_L(k + 1) = U_L(k)(1 + g_L) + arrivals(k + 1)``.

The cascade of binding layers is not scripted: it follows from the layers' growth, maximum
expansion and lead times against a demand that rises with frontier scale, adoption and the
falling price per token (Jevons).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from chip2grid.industry.layers import DEMAND_LAYER_ID
from chip2grid.industry.scenario import IndustryScenario, SupplyLayer
from chip2grid.units import GIGA, KWH_J, MEGA, YEAR_S

__all__ = [
    "BindingSpan",
    "IndustryResult",
    "IndustryYear",
    "growth_level",
    "run_industry",
    "underlying_demand",
    "year_trends",
]

_FloatArray = NDArray[np.float64]
_MAX_OBSERVED_GROWTH = 2.0
"""Cap on the demand growth a layer extrapolates when it sizes an order (+200 %/year)."""


@dataclass(frozen=True, slots=True, kw_only=True, eq=False)
class YearTrends:
    """Exogenous per-year quantities of the accelerator shipped in year ``k`` (arrays over k)."""

    flop_per_s: _FloatArray
    capex_usd: _FloatArray
    power_w: _FloatArray
    liquid_cooled_frac: _FloatArray
    flop_per_token: _FloatArray
    cost_usd_per_mtok: _FloatArray


def year_trends(scenario: IndustryScenario, k: _FloatArray) -> YearTrends:
    """Hardware and cost trends at years ``k`` since the start (``k`` may be negative).

    ``cost_usd_per_mtok`` is the cost of a token on the year's new accelerator:
    ``(capex_all_in / lifetime + power pue hours usd_per_kwh) / tokens per year``, with
    ``tokens per year = f u_inf year_s / q``.
    """
    hw, dm, ec = scenario.hardware, scenario.demand, scenario.economics
    flop = hw.flop_per_s_per_accelerator * (1.0 + hw.flop_per_s_growth_per_year) ** k
    capex = (
        hw.capex_usd_per_accelerator
        * ((1.0 + hw.flop_per_s_growth_per_year) / (1.0 + hw.flop_per_s_per_usd_growth_per_year))
        ** k
    )
    power = (
        hw.power_w_per_accelerator
        * ((1.0 + hw.flop_per_s_growth_per_year) / (1.0 + hw.flop_per_s_per_w_growth_per_year)) ** k
    )
    liquid = np.clip(hw.liquid_cooled_frac + hw.liquid_cooled_frac_increase_per_year * k, 0.0, 1.0)
    q = (
        dm.flop_per_token
        * ((1.0 + dm.flop_per_token_growth_per_year) / (1.0 + dm.software_efficiency_gain_per_year))
        ** k
    )
    capex_all_in = capex + hw.facility_capex_usd_per_w * power
    energy_usd = power * hw.pue * YEAR_S / KWH_J * ec.electricity_usd_per_kwh
    tokens_per_year = flop * dm.inference_utilization_frac * YEAR_S / q
    cost = (capex_all_in / hw.lifetime_years + energy_usd) / tokens_per_year * MEGA
    return YearTrends(
        flop_per_s=flop,
        capex_usd=capex,
        power_w=power,
        liquid_cooled_frac=liquid,
        flop_per_token=q,
        cost_usd_per_mtok=cost,
    )


def growth_level(
    rate_per_year: float, slowdown_frac_per_year: float, num_years: int
) -> _FloatArray:
    """``prod_{i<k} (1 + g (1 - s)^i)`` for ``k = 0 .. num_years - 1``: growth that slows down."""
    rates = rate_per_year * (1.0 - slowdown_frac_per_year) ** np.arange(
        num_years - 1, dtype=np.float64
    )
    return np.concatenate(([1.0], np.cumprod(1.0 + rates)))


def underlying_demand(
    need_flop_per_s: _FloatArray,
    flop_per_s: _FloatArray,
    initial_cohorts: _FloatArray,
    initial_flop_per_s: _FloatArray,
) -> _FloatArray:
    """New accelerators demanded each year by a fleet that has met every earlier year's demand.

    ``D_u(k) = max(0, R(k) - F_u(k)) / f(k)``, where ``F_u`` is the FLOP/s left in that
    unconstrained fleet after the year's retirements. It depends on the compute requirement
    ``R`` and the hardware trend only, never on what the supply layers deliver: it is the
    demand forecast the layers invest for.

    Parameters
    ----------
    need_flop_per_s
        ``R(k)``, the FLOP/s required each year (training plus inference).
    flop_per_s
        ``f(k)``, FLOP/s of the accelerator shipped in year ``k``.
    initial_cohorts
        Accelerators shipped in each of the ``lifetime`` years before the start (oldest first).
    initial_flop_per_s
        FLOP/s per accelerator of those cohorts.
    """
    life = len(initial_cohorts)
    n = len(need_flop_per_s)
    cohort = np.concatenate((initial_cohorts, np.zeros(n)))
    cohort_flop = np.concatenate((initial_flop_per_s, flop_per_s))
    inst_flop = float(np.dot(initial_cohorts, initial_flop_per_s))
    out = np.zeros(n)
    for k in range(n):
        inst_flop -= cohort[k] * cohort_flop[k]
        d = max(0.0, float(need_flop_per_s[k]) - inst_flop) / float(flop_per_s[k])
        out[k] = d
        cohort[k + life] = d
        inst_flop += d * float(flop_per_s[k])
    return out


def _units_per_accelerator(
    layer: SupplyLayer, scenario: IndustryScenario, trends: YearTrends, k: _FloatArray
) -> _FloatArray:
    """``c_L(k)``: the layer's units needed per accelerator shipped in year ``k``."""
    hw = scenario.hardware
    if layer.id == "dc_power":
        return trends.power_w * hw.pue / GIGA  # GW per accelerator
    if layer.id == "cooling_supply":
        return trends.power_w * trends.liquid_cooled_frac / MEGA  # MW of liquid-cooled IT
    if layer.id == "capital_supply":
        return trends.capex_usd + hw.facility_capex_usd_per_w * trends.power_w
    assert layer.units_per_accelerator is not None  # checked by SupplyLayer
    return layer.units_per_accelerator * (1.0 + layer.units_per_accelerator_growth_per_year) ** k


def _projected(
    layer: SupplyLayer, k: int, horizon: int, units: float, pipeline: _FloatArray
) -> float:
    """The layer's capacity in year ``k + horizon`` from today's and the ordered capacity."""
    grow = 1.0 + layer.growth_rate_per_year
    arrivals = pipeline[k + 1 : k + horizon + 1]
    return units * grow**horizon + float(np.dot(arrivals, grow ** np.arange(horizon - 1, -1, -1)))


def _reach(
    layer: SupplyLayer,
    k: int,
    horizon: int,
    j: int,
    units: dict[str, float],
    pipeline: dict[str, _FloatArray],
    conv: dict[str, _FloatArray],
    revenue_usd: float,
    freed_gw: float,
    capex_to_revenue_ratio: float,
) -> float:
    """The most accelerators ``layer`` could supply in year ``k + horizon``.

    Its projected capacity plus every order it could still place in time (at its maximum
    expansion), plus the power freed by retirements (``dc_power``) or the capex revenue funds
    (``capital_supply``), over its units per accelerator of that year.
    """
    lid = layer.id
    extra_orders = max(0, horizon - max(layer.lead_time_years, 1) + 1)
    cap = (
        _projected(layer, k, horizon, units[lid], pipeline[lid])
        + extra_orders * layer.max_expansion_rate_per_year * units[lid]
    )
    if lid == "dc_power":
        cap += freed_gw
    elif lid == "capital_supply":
        cap += capex_to_revenue_ratio * revenue_usd
    return cap / float(conv[lid][j + horizon])


@dataclass(frozen=True, slots=True, kw_only=True)
class IndustryYear:
    """One year of an industry run."""

    year: int
    binding_layer: str
    accelerators_deployed: float
    installed_accelerators: float
    retired_accelerators: float
    demand_accelerators: float
    shortfall_accelerators: float
    power_gw: float
    energy_twh: float
    electricity_share_frac: float
    cost_usd_per_mtok: float
    price_usd_per_mtok: float
    inference_share_frac: float
    tokens_demanded: float
    tokens_served: float
    revenue_usd: float
    capex_usd: float


@dataclass(frozen=True, slots=True, kw_only=True)
class BindingSpan:
    """A run of years in which one layer binds."""

    layer: str
    first_year: int
    last_year: int


@dataclass(frozen=True, slots=True, kw_only=True, eq=False)
class IndustryResult:
    """The years of a run as numpy arrays (one value per year), and per-layer supply.

    ``installed_accelerators[k] = initial + cumsum(accelerators_deployed - retired_accelerators)``.
    """

    scenario: str
    years: NDArray[np.int64]
    binding_layer: tuple[str, ...]
    accelerators_deployed: _FloatArray
    installed_accelerators: _FloatArray
    retired_accelerators: _FloatArray
    demand_accelerators: _FloatArray
    shortfall_accelerators: _FloatArray
    supply_accelerators: dict[str, _FloatArray]
    capacity_units: dict[str, _FloatArray]
    installed_flop_per_s: _FloatArray
    power_gw: _FloatArray
    energy_twh: _FloatArray
    electricity_share_frac: _FloatArray
    cost_usd_per_mtok: _FloatArray
    price_usd_per_mtok: _FloatArray
    inference_share_frac: _FloatArray
    tokens_demanded: _FloatArray
    tokens_served: _FloatArray
    revenue_usd: _FloatArray
    capex_usd: _FloatArray
    initial_installed_accelerators: float

    def records(self) -> tuple[IndustryYear, ...]:
        """One :class:`IndustryYear` per year."""
        out = []
        for i, year in enumerate(self.years):
            out.append(
                IndustryYear(
                    year=int(year),
                    binding_layer=self.binding_layer[i],
                    accelerators_deployed=float(self.accelerators_deployed[i]),
                    installed_accelerators=float(self.installed_accelerators[i]),
                    retired_accelerators=float(self.retired_accelerators[i]),
                    demand_accelerators=float(self.demand_accelerators[i]),
                    shortfall_accelerators=float(self.shortfall_accelerators[i]),
                    power_gw=float(self.power_gw[i]),
                    energy_twh=float(self.energy_twh[i]),
                    electricity_share_frac=float(self.electricity_share_frac[i]),
                    cost_usd_per_mtok=float(self.cost_usd_per_mtok[i]),
                    price_usd_per_mtok=float(self.price_usd_per_mtok[i]),
                    inference_share_frac=float(self.inference_share_frac[i]),
                    tokens_demanded=float(self.tokens_demanded[i]),
                    tokens_served=float(self.tokens_served[i]),
                    revenue_usd=float(self.revenue_usd[i]),
                    capex_usd=float(self.capex_usd[i]),
                )
            )
        return tuple(out)

    def cascade(self) -> tuple[BindingSpan, ...]:
        """The binding layer's runs of years, in order (the bottleneck cascade)."""
        spans: list[BindingSpan] = []
        for i, layer in enumerate(self.binding_layer):
            year = int(self.years[i])
            if spans and spans[-1].layer == layer:
                spans[-1] = BindingSpan(
                    layer=layer, first_year=spans[-1].first_year, last_year=year
                )
            else:
                spans.append(BindingSpan(layer=layer, first_year=year, last_year=year))
        return tuple(spans)

    def first_transition_year(self) -> int | None:
        """The first year whose binding layer differs from the start year's, or ``None``."""
        spans = self.cascade()
        return spans[1].first_year if len(spans) > 1 else None


def run_industry(
    scenario: IndustryScenario, *, start_year: int | None = None, end_year: int | None = None
) -> IndustryResult:
    """Run the industry model over the scenario's years (or ``start_year..end_year``).

    Changing ``start_year`` moves the start: the scenario's start-year figures then apply to the
    new start year.

    Parameters
    ----------
    scenario
        The scenario (see :func:`chip2grid.industry.load_industry_scenario`).
    start_year, end_year
        Override the scenario's years.

    Returns
    -------
    IndustryResult
        Per-year arrays; :meth:`IndustryResult.cascade` gives the bottleneck cascade.
    """
    if start_year is not None or end_year is not None:
        scenario = dataclasses.replace(
            scenario,
            start_year=scenario.start_year if start_year is None else start_year,
            end_year=scenario.end_year if end_year is None else end_year,
        )
    hw, dm, ec, grid = scenario.hardware, scenario.demand, scenario.economics, scenario.grid
    n = scenario.end_year - scenario.start_year + 1
    layers = scenario.layers
    max_lead = max(max(layer.lead_time_years, 1) for layer in layers)
    life = hw.lifetime_years
    k_all = np.arange(-life, n + max_lead + 1, dtype=np.float64)  # index j = k + life
    trends = year_trends(scenario, k_all)
    conv = {layer.id: _units_per_accelerator(layer, scenario, trends, k_all) for layer in layers}
    ks = np.arange(n, dtype=np.float64)
    cur = slice(life, life + n)
    flop = trends.flop_per_s[cur]
    power_w = trends.power_w[cur]
    cost = trends.cost_usd_per_mtok[cur]
    price = cost * (1.0 + ec.price_markup_frac)
    q = trends.flop_per_token[cur]
    slow = dm.growth_slowdown_frac_per_year
    tokens_demanded = (
        dm.inference_tokens_per_year
        * growth_level(dm.inference_adoption_growth_per_year, slow, n)
        * (price / price[0]) ** (-dm.price_elasticity)
    )
    need_inf = tokens_demanded * q / (YEAR_S * dm.inference_utilization_frac)
    need_train = (
        dm.training_compute_flop_per_year
        * growth_level(dm.training_compute_growth_per_year, slow, n)
        / (YEAR_S * dm.training_utilization_frac)
    )
    need = need_inf + need_train
    inference_share = need_inf / need

    # cohorts: index j = k + life; the initial fleet spread over k = -life .. -1
    cohort = np.zeros(n + life)
    cohort[:life] = hw.initial_installed_accelerators / life

    # the demand forecast the layers invest for: underlying demand, extrapolated at its growth
    demand_u = underlying_demand(need, flop, cohort[:life], trends.flop_per_s[:life])
    growth_u = np.zeros(n)
    prev_u = demand_u[:-1]
    growth_u[1:] = np.where(
        prev_u > 0, np.clip(demand_u[1:] / np.where(prev_u > 0, prev_u, 1.0) - 1.0, 0.0, None), 0.0
    )
    growth_u = np.minimum(growth_u, _MAX_OBSERVED_GROWTH)
    installed = float(hw.initial_installed_accelerators)
    inst_flop = float(np.dot(cohort[:life], trends.flop_per_s[:life]))
    inst_w = float(np.dot(cohort[:life], trends.power_w[:life]))

    ids = [layer.id for layer in layers]
    units = {layer.id: float(layer.capacity) for layer in layers}
    pipeline = {layer.id: np.zeros(n + max_lead + 2) for layer in layers}
    unlimited = dict.fromkeys(ids, False)
    relax_k = {
        layer.id: (
            0 if layer.relax_from_year is None else layer.relax_from_year - scenario.start_year
        )
        for layer in layers
    }
    out_supply = {i: np.zeros(n) for i in ids}
    out_units = {i: np.zeros(n) for i in ids}
    deployed = np.zeros(n)
    retired = np.zeros(n)
    demand = np.zeros(n)
    installed_arr = np.zeros(n)
    inst_flop_arr = np.zeros(n)
    inst_w_arr = np.zeros(n)
    served = np.zeros(n)
    revenue = np.zeros(n)
    binding: list[str] = []
    revenue_prev = ec.initial_revenue_usd_per_year

    for k in range(n):
        j = k + life
        r = cohort[k]  # the cohort shipped at k - life retires now
        retired[k] = r
        installed -= r
        inst_flop -= r * trends.flop_per_s[k]
        freed_w = r * trends.power_w[k]
        inst_w -= freed_w
        d = max(0.0, need[k] - inst_flop) / flop[k]
        demand[k] = d

        best, best_id = math.inf, DEMAND_LAYER_ID
        supply_now: dict[str, float] = {}
        for layer in layers:
            lid = layer.id
            if k == relax_k[lid] and layer.capacity_factor != 1.0:
                if math.isinf(layer.capacity_factor):
                    unlimited[lid] = True
                else:
                    units[lid] *= layer.capacity_factor
            out_units[lid][k] = units[lid]
            if unlimited[lid]:
                s = math.inf
            elif lid == "dc_power":
                s = (units[lid] + freed_w * hw.pue / GIGA) / conv[lid][j]
            elif lid == "capital_supply":
                s = (units[lid] + ec.capex_to_revenue_ratio * revenue_prev) / conv[lid][j]
            else:
                s = units[lid] / conv[lid][j]
            supply_now[lid] = s
            out_supply[lid][k] = s
            if s < best:
                best, best_id = s, lid
        if best < d:
            n_new = best
            binding.append(best_id)
        else:
            n_new = d
            binding.append(DEMAND_LAYER_ID)
        deployed[k] = n_new
        cohort[j] = n_new
        installed += n_new
        inst_flop += n_new * flop[k]
        inst_w += n_new * power_w[k]
        installed_arr[k] = installed
        inst_flop_arr[k] = inst_flop
        inst_w_arr[k] = inst_w
        served_frac = min(1.0, inst_flop / need[k]) if need[k] > 0 else 1.0
        served[k] = tokens_demanded[k] * served_frac
        revenue[k] = served[k] * price[k] / MEGA

        # investment: a layer whose projected capacity falls short of the demand forecast
        # (at the threshold utilization) orders the gap, within its maximum expansion, but
        # never for accelerators the other layers could not supply by the time it arrives
        # power freed by the cohorts retiring in year k + h (shipped at k + h - life)
        freed_fc = {
            h: (
                float(cohort[k + h] * trends.power_w[k + h] * hw.pue / GIGA)
                if h <= life and k + h < n
                else 0.0
            )
            for h in range(1, max_lead + 1)
        }
        orders: dict[str, float] = {}
        for layer in layers:
            lid = layer.id
            if unlimited[lid] or layer.max_expansion_rate_per_year == 0.0:
                continue
            tau = max(layer.lead_time_years, 1)
            forecast = demand_u[k] * (1.0 + growth_u[k]) ** tau
            for other in layers:
                if other.id != lid and not unlimited[other.id]:
                    forecast = min(
                        forecast,
                        _reach(
                            other,
                            k,
                            tau,
                            j,
                            units,
                            pipeline,
                            conv,
                            revenue[k],
                            freed_fc[tau],
                            ec.capex_to_revenue_ratio,
                        ),
                    )
            target = forecast * conv[lid][j + tau] / scenario.utilization_threshold_frac
            if lid == "capital_supply":
                target -= ec.capex_to_revenue_ratio * revenue[k]
            projected = _projected(layer, k, tau, units[lid], pipeline[lid])
            orders[lid] = min(
                max(target - projected, 0.0), layer.max_expansion_rate_per_year * units[lid]
            )
        for lid, order in orders.items():
            pipeline[lid][k + max(scenario.layer(lid).lead_time_years, 1)] += order
        for layer in layers:
            lid = layer.id
            units[lid] = units[lid] * (1.0 + layer.growth_rate_per_year) + pipeline[lid][k + 1]
        revenue_prev = revenue[k]

    power_gw = inst_w_arr * hw.pue / GIGA
    energy_twh = power_gw * GIGA * YEAR_S * grid.load_factor_frac / (KWH_J * GIGA)
    national_twh = grid.electricity_twh_per_year * (1.0 + grid.electricity_growth_per_year) ** ks
    capex_all_in = trends.capex_usd[cur] + hw.facility_capex_usd_per_w * power_w
    return IndustryResult(
        scenario=scenario.name,
        years=np.arange(scenario.start_year, scenario.end_year + 1, dtype=np.int64),
        binding_layer=tuple(binding),
        accelerators_deployed=deployed,
        installed_accelerators=installed_arr,
        retired_accelerators=retired,
        demand_accelerators=demand,
        shortfall_accelerators=demand - deployed,
        supply_accelerators=out_supply,
        capacity_units=out_units,
        installed_flop_per_s=inst_flop_arr,
        power_gw=power_gw,
        energy_twh=energy_twh,
        electricity_share_frac=energy_twh * grid.region_share_of_fleet_frac / national_twh,
        cost_usd_per_mtok=cost,
        price_usd_per_mtok=price,
        inference_share_frac=inference_share,
        tokens_demanded=tokens_demanded,
        tokens_served=served,
        revenue_usd=revenue,
        capex_usd=deployed * capex_all_in,
        initial_installed_accelerators=float(hw.initial_installed_accelerators),
    )

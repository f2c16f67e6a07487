"""Fleet planning: how many servers of which accelerator, in which site and year, serve a demand
forecast at the lowest discounted cost under site power caps and build-out dates.

A mixed-integer program solved with HiGHS (:mod:`highspy`). The per-server figures come from
the layers below (:mod:`chip2grid.plan.fleet_inputs`): capacity at the SLOs from the
steady-state model, cost and power from :func:`chip2grid.economics.deployment_cost`.
"""

from __future__ import annotations

import math
import os
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass

import highspy
import numpy as np

from chip2grid.economics import Finance, default_finance
from chip2grid.errors import InfeasibleError, InvalidParameterError
from chip2grid.perf import Workload
from chip2grid.plan.fleet_inputs import (
    FleetOffer,
    FleetSite,
    SloCapacity,
    fleet_offers,
    load_sites,
    slo_capacity,
)
from chip2grid.units import MEGA, YEAR_S

__all__ = [
    "DemandForecast",
    "FleetConstraint",
    "FleetLine",
    "FleetOffer",
    "FleetPlan",
    "FleetSite",
    "FleetYear",
    "SitePower",
    "SloCapacity",
    "fleet_offers",
    "growing_demand",
    "load_sites",
    "plan_fleet",
    "plan_fleet_offers",
    "slo_capacity",
]


@dataclass(frozen=True, slots=True, kw_only=True)
class DemandForecast:
    """Mean output tokens per second to serve in each year, from ``start_year`` on."""

    start_year: int
    output_tokens_per_s: tuple[float, ...]

    def __post_init__(self) -> None:
        if not self.output_tokens_per_s:
            raise InvalidParameterError("demand", self.output_tokens_per_s, "at least one year")
        for i, value in enumerate(self.output_tokens_per_s):
            if not (value >= 0 and math.isfinite(value)):
                raise InvalidParameterError(
                    f"demand[{self.start_year + i}]", value, "output tokens/s >= 0"
                )

    @property
    def years(self) -> tuple[int, ...]:
        """The calendar years of the horizon."""
        return tuple(self.start_year + i for i in range(len(self.output_tokens_per_s)))


def growing_demand(
    start_output_tokens_per_s: float, growth_frac_per_year: float, num_years: int, start_year: int
) -> DemandForecast:
    """Demand ``D_t = D_0 (1 + g)^t`` for ``t = 0 .. num_years - 1``."""
    if num_years < 1:
        raise InvalidParameterError("years", num_years, "an integer >= 1")
    if not growth_frac_per_year > -1:
        raise InvalidParameterError("growth", growth_frac_per_year, "a fraction > -1 per year")
    return DemandForecast(
        start_year=start_year,
        output_tokens_per_s=tuple(
            start_output_tokens_per_s * (1.0 + growth_frac_per_year) ** t for t in range(num_years)
        ),
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class FleetLine:
    """A number of servers of one accelerator in one site in one year."""

    year: int
    site: str
    accelerator: str
    num_servers: int
    num_accelerators: int


@dataclass(frozen=True, slots=True, kw_only=True)
class SitePower:
    """Facility power provisioned in a site in a year, against its cap (0 before build-out)."""

    year: int
    site: str
    facility_power_w: float
    power_cap_w: float


@dataclass(frozen=True, slots=True, kw_only=True)
class FleetYear:
    """One year of the plan: demand, capacity installed and what the year costs."""

    year: int
    demand_output_tokens_per_s: float
    capacity_output_tokens_per_s: float
    capex_usd: float
    cost_usd: float
    """Yearly cost of the installed fleet (annualized capital plus operations)."""
    discounted_cost_usd: float


@dataclass(frozen=True, slots=True, kw_only=True)
class FleetConstraint:
    """One constraint of the program: its limit, its value in the plan and its shadow price.

    ``kind`` is ``demand`` (tokens/s, shadow price in discounted USD per token/s),
    ``power`` (W, USD per W) or ``budget`` (USD, USD per USD). ``slack`` is measured on the
    integer plan; ``shadow_price`` is the dual of the LP relaxation; ``binding`` is true when
    that dual is not zero (relaxing the constraint would lower the cost).
    """

    kind: str
    year: int
    site: str
    limit: float
    value: float
    slack: float
    shadow_price: float
    binding: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class FleetPlan:
    """The cheapest fleet found, with what it costs and which constraints bind.

    Attributes
    ----------
    purchases, installed
        Servers bought, and installed (bought within the last ``lifetime_years``), per year,
        site and accelerator (non-zero lines only).
    site_power
        Facility power per site per year against the cap.
    years
        Demand, capacity and cost per year.
    total_cost_usd
        Objective: the discounted sum of yearly costs (year 0 undiscounted).
    usd_per_mtok_output
        Levelized cost: discounted cost over discounted output tokens served (the demand).
    status
        HiGHS model status; ``mip_gap_frac`` the relative gap at the end.
    """

    purchases: tuple[FleetLine, ...]
    installed: tuple[FleetLine, ...]
    site_power: tuple[SitePower, ...]
    years: tuple[FleetYear, ...]
    constraints: tuple[FleetConstraint, ...]
    offers: tuple[FleetOffer, ...]
    total_cost_usd: float
    usd_per_mtok_output: float
    discount_rate_frac: float
    lifetime_years: int
    status: str
    solve_time_s: float
    mip_gap_frac: float
    num_variables: int
    num_constraints: int
    notes: tuple[str, ...] = ()

    @property
    def binding(self) -> tuple[FleetConstraint, ...]:
        """The constraints whose relaxation would lower the cost."""
        return tuple(c for c in self.constraints if c.binding)


@dataclass(frozen=True, slots=True)
class _Row:
    kind: str
    year: int
    site: str
    lower: float
    upper: float
    cols: list[int]
    coefs: list[float]


def _quiet_highs() -> highspy.Highs:
    """A HiGHS instance whose copyright banner (printed by the C++ library to file descriptor 1
    on the first construction in a process) does not reach stdout, where it would corrupt
    ``--json`` output."""
    sys.stdout.flush()
    saved = os.dup(1)
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 1)
            h = highspy.Highs()  # type: ignore[no-untyped-call]
    finally:
        os.dup2(saved, 1)
        os.close(saved)
    h.setOptionValue("output_flag", False)
    return h


def _solve(
    cost: np.ndarray,
    rows: list[_Row],
    *,
    integer: bool,
    time_limit_s: float,
    mip_rel_gap_frac: float,
) -> highspy.Highs:
    n = len(cost)
    h = _quiet_highs()
    h.setOptionValue("time_limit", float(time_limit_s))
    h.setOptionValue("mip_rel_gap", float(mip_rel_gap_frac))
    h.setOptionValue("threads", 1)
    lp = highspy.HighsLp()
    lp.num_col_ = n
    lp.num_row_ = len(rows)
    lp.col_cost_ = cost
    lp.col_lower_ = np.zeros(n)
    lp.col_upper_ = np.full(n, highspy.kHighsInf)
    lp.row_lower_ = np.array([r.lower for r in rows])
    lp.row_upper_ = np.array([r.upper for r in rows])
    starts = np.cumsum([0] + [len(r.cols) for r in rows])
    lp.a_matrix_.format_ = highspy.MatrixFormat.kRowwise
    lp.a_matrix_.num_col_ = n
    lp.a_matrix_.num_row_ = len(rows)
    lp.a_matrix_.start_ = starts.astype(np.int32)
    lp.a_matrix_.index_ = np.array([c for r in rows for c in r.cols], dtype=np.int32)
    lp.a_matrix_.value_ = np.array([v for r in rows for v in r.coefs], dtype=np.float64)
    if integer:
        lp.integrality_ = [highspy.HighsVarType.kInteger] * n
    h.passModel(lp)
    h.run()
    return h


def _power_shortfall(
    offers: Sequence[FleetOffer], sites: Sequence[FleetSite], demand: DemandForecast
) -> None:
    """Raise :class:`InfeasibleError` for the first year whose demand exceeds what all sites
    could serve if filled with their most power-efficient offer (the LP bound)."""
    best: dict[str, float] = {}
    for o in offers:
        best[o.site] = max(best.get(o.site, 0.0), o.output_tokens_per_s / o.facility_power_w)
    for year, need in zip(demand.years, demand.output_tokens_per_s, strict=True):
        most = sum(s.power_cap_w * best.get(s.id, 0.0) for s in sites if s.available_year <= year)
        if need > most:
            raise InfeasibleError(
                f"demand in {year} is {need:,.0f} output tokens/s but the sites powered by then "
                f"serve at most {most:,.0f} tokens/s at the SLOs: short by {need - most:,.0f} "
                f"tokens/s ({(need - most) / need:.0%}); add sites, raise power caps or bring "
                "build-out dates forward"
            )


def plan_fleet_offers(
    offers: Sequence[FleetOffer],
    sites: Sequence[FleetSite],
    demand: DemandForecast,
    *,
    discount_rate_frac: float,
    lifetime_years: int,
    budget_usd_per_year: float | None = None,
    time_limit_s: float = 60.0,
    mip_rel_gap_frac: float = 1e-4,
    notes: Sequence[str] = (),
) -> FleetPlan:
    """Solve the fleet MILP for given per-server offers (see :func:`plan_fleet`)."""
    if lifetime_years < 1:
        raise InvalidParameterError("lifetime_years", lifetime_years, "an integer >= 1")
    if not 0 <= discount_rate_frac < 1:
        raise InvalidParameterError(
            "discount_rate_frac", discount_rate_frac, "a fraction in [0, 1)"
        )
    if budget_usd_per_year is not None and not budget_usd_per_year >= 0:
        raise InvalidParameterError("budget_usd_per_year", budget_usd_per_year, "USD >= 0")
    if not time_limit_s > 0:
        raise InvalidParameterError("time_limit_s", time_limit_s, "seconds > 0")
    site_by_id = {s.id: s for s in sites}
    if len(site_by_id) != len(sites):
        raise InvalidParameterError("sites", [s.id for s in sites], "distinct site ids")
    if not offers:
        raise InfeasibleError("no accelerator can be placed in any site (see the notes)")
    for o in offers:
        if o.site not in site_by_id:
            raise InvalidParameterError("offer.site", o.site, ", ".join(site_by_id))
    _power_shortfall(offers, sites, demand)
    years = demand.years
    num_years = len(years)
    discount = (1.0 + discount_rate_frac) ** -np.arange(num_years, dtype=np.float64)

    # columns: x[k, t] servers of offer k bought in year t (only once the site is powered)
    cols: list[tuple[int, int]] = []
    for k, o in enumerate(offers):
        first = max(site_by_id[o.site].available_year - years[0], 0)
        cols.extend((k, t) for t in range(first, num_years))
    col_index = {kt: j for j, kt in enumerate(cols)}
    cost = np.empty(len(cols))
    for j, (k, t) in enumerate(cols):
        alive = discount[t : min(t + lifetime_years, num_years)]
        cost[j] = offers[k].usd_per_year * float(alive.sum())

    def alive_cols(k: int, t: int) -> list[int]:
        return [
            col_index[(k, tau)]
            for tau in range(max(t - lifetime_years + 1, 0), t + 1)
            if (k, tau) in col_index
        ]

    rows: list[_Row] = []
    for t, year in enumerate(years):
        idx: list[int] = []
        coef: list[float] = []
        for k, o in enumerate(offers):
            js = alive_cols(k, t)
            idx += js
            coef += [o.output_tokens_per_s] * len(js)
        rows.append(
            _Row("demand", year, "", demand.output_tokens_per_s[t], highspy.kHighsInf, idx, coef)
        )
    for s in sites:
        for t, year in enumerate(years):
            if year < s.available_year:
                continue
            idx, coef = [], []
            for k, o in enumerate(offers):
                if o.site == s.id:
                    js = alive_cols(k, t)
                    idx += js
                    coef += [o.facility_power_w] * len(js)
            if idx:
                rows.append(_Row("power", year, s.id, -highspy.kHighsInf, s.power_cap_w, idx, coef))
    if budget_usd_per_year is not None:
        for t, year in enumerate(years):
            idx = [col_index[(k, t)] for k in range(len(offers)) if (k, t) in col_index]
            coef = [offers[cols[j][0]].capex_usd for j in idx]
            rows.append(
                _Row("budget", year, "", -highspy.kHighsInf, budget_usd_per_year, idx, coef)
            )

    start = time.perf_counter()
    milp = _solve(
        cost, rows, integer=True, time_limit_s=time_limit_s, mip_rel_gap_frac=mip_rel_gap_frac
    )
    solve_time_s = time.perf_counter() - start
    model_status = milp.getModelStatus()
    status = milp.modelStatusToString(model_status)
    info = milp.getInfo()
    if info.primal_solution_status != highspy.SolutionStatus.kSolutionStatusFeasible:
        if model_status == highspy.HighsModelStatus.kTimeLimit:
            raise InfeasibleError(
                f"the solver found no integer fleet within its time limit of {time_limit_s:g} s;"
                " give it longer (--time-limit) or fewer accelerators, sites or years"
            )
        raise InfeasibleError(
            f"the fleet program has no integer solution ({status}) although every year's demand "
            "fits the sites' power: "
            + (
                f"the budget of {budget_usd_per_year:,.0f} USD per year is too small, or "
                if budget_usd_per_year is not None
                else ""
            )
            + "whole servers do not fit the remaining power; raise the budget or the caps"
        )
    x = np.rint(np.asarray(milp.getSolution().col_value)).astype(np.int64)
    lp = _solve(cost, rows, integer=False, time_limit_s=time_limit_s, mip_rel_gap_frac=0.0)
    row_dual = np.asarray(lp.getSolution().row_dual, dtype=np.float64)

    constraints: list[FleetConstraint] = []
    for i, r in enumerate(rows):
        value = float(np.dot(x[r.cols], r.coefs)) if r.cols else 0.0
        limit = r.lower if r.kind == "demand" else r.upper
        dual = float(row_dual[i]) if i < len(row_dual) else 0.0
        scale = max(abs(limit), 1.0)
        constraints.append(
            FleetConstraint(
                kind=r.kind,
                year=r.year,
                site=r.site,
                limit=limit,
                value=value,
                slack=abs(value - limit),
                shadow_price=abs(dual),
                binding=abs(dual) * scale > 1e-9 * max(float(np.abs(cost).max()), 1.0),
            )
        )

    purchases: list[FleetLine] = []
    installed: list[FleetLine] = []
    site_power: list[SitePower] = []
    yearly: list[FleetYear] = []
    bought = np.zeros((len(offers), num_years), dtype=np.int64)
    for j, (k, t) in enumerate(cols):
        bought[k, t] = x[j]
    inst = np.zeros_like(bought)
    for t in range(num_years):
        inst[:, t] = bought[:, max(t - lifetime_years + 1, 0) : t + 1].sum(axis=1)
    for t, year in enumerate(years):
        for k, o in enumerate(offers):
            for array, out in ((bought, purchases), (inst, installed)):
                if array[k, t]:
                    out.append(
                        FleetLine(
                            year=year,
                            site=o.site,
                            accelerator=o.accelerator,
                            num_servers=int(array[k, t]),
                            num_accelerators=int(array[k, t]) * o.num_accelerators,
                        )
                    )
        for s in sites:
            power = sum(
                inst[k, t] * o.facility_power_w for k, o in enumerate(offers) if o.site == s.id
            )
            site_power.append(
                SitePower(
                    year=year,
                    site=s.id,
                    facility_power_w=float(power),
                    power_cap_w=s.power_cap_w if year >= s.available_year else 0.0,
                )
            )
        year_cost = float(sum(inst[k, t] * o.usd_per_year for k, o in enumerate(offers)))
        yearly.append(
            FleetYear(
                year=year,
                demand_output_tokens_per_s=demand.output_tokens_per_s[t],
                capacity_output_tokens_per_s=float(
                    sum(inst[k, t] * o.output_tokens_per_s for k, o in enumerate(offers))
                ),
                capex_usd=float(sum(bought[k, t] * o.capex_usd for k, o in enumerate(offers))),
                cost_usd=year_cost,
                discounted_cost_usd=year_cost * float(discount[t]),
            )
        )
    total = float(sum(y.discounted_cost_usd for y in yearly))
    tokens = float(np.dot(discount, demand.output_tokens_per_s)) * YEAR_S
    return FleetPlan(
        purchases=tuple(purchases),
        installed=tuple(installed),
        site_power=tuple(site_power),
        years=tuple(yearly),
        constraints=tuple(constraints),
        offers=tuple(offers),
        total_cost_usd=total,
        usd_per_mtok_output=total / tokens * MEGA if tokens > 0 else float("nan"),
        discount_rate_frac=discount_rate_frac,
        lifetime_years=lifetime_years,
        status=status,
        solve_time_s=solve_time_s,
        mip_gap_frac=float(info.mip_gap) if math.isfinite(info.mip_gap) else 0.0,
        num_variables=len(cols),
        num_constraints=len(rows),
        notes=tuple(notes),
    )


def plan_fleet(
    model: str,
    workload: Workload,
    demand: DemandForecast,
    accelerators: Sequence[str],
    sites: Sequence[FleetSite] | None = None,
    *,
    ttft_slo_s: float = 2.0,
    tpot_slo_s: float = 0.1,
    finance: Finance | None = None,
    lifetime_years: int | None = None,
    budget_usd_per_year: float | None = None,
    weight_precision: str = "fp8",
    kv_precision: str = "fp8",
    engine: str = "tensorrt-llm",
    time_limit_s: float = 60.0,
) -> FleetPlan:
    """The cheapest fleet that serves ``demand`` under the SLOs, site power caps and build-out
    dates.

    Parameters
    ----------
    model, workload
        Catalog model id and mean request shape.
    demand
        Output tokens per second to serve in each year.
    accelerators
        Candidate catalog accelerator ids; each is bought as whole servers of its default
        platform. Accelerators that cannot meet the SLOs are dropped with a note.
    sites
        Candidate sites (default: :func:`load_sites`, the built-in list).
    ttft_slo_s, tpot_slo_s
        Mean time-to-first-token and time-per-output-token limits.
    finance
        Cost of capital (also the discount rate) and lifetimes; default the catalog's.
    lifetime_years
        Years a server stays installed; default the finance's accelerator lifetime, rounded.
    budget_usd_per_year
        Optional cap on capital spent on purchases in each year.

    Returns
    -------
    FleetPlan

    Raises
    ------
    InfeasibleError
        Naming the first year whose demand the powered sites cannot serve and by how much, or
        when the budget or whole servers make the program infeasible.

    Notes
    -----
    With :math:`x_{k,t} \\in \\mathbb{Z}_{\\ge 0}` servers of offer :math:`k` (an accelerator
    in a site) bought in year :math:`t`, installed base
    :math:`n_{k,t} = \\sum_{\\tau = t - L + 1}^{t} x_{k,\\tau}` (lifetime :math:`L`), capacity
    :math:`q_k`, facility power :math:`p_k`, yearly cost :math:`c_k` and discount factor
    :math:`\\delta_t = (1 + r)^{-t}`:

    .. math::

        \\min \\sum_t \\delta_t \\sum_k c_k n_{k,t} \\quad \\text{s.t.} \\quad
        \\sum_k q_k n_{k,t} \\ge D_t, \\quad
        \\sum_{k \\in s} p_k n_{k,t} \\le P_s [t \\ge t_s], \\quad
        \\sum_k \\mathrm{capex}_k x_{k,t} \\le B_t

    See docs/plan-and-sweep.md.
    """
    if not accelerators:
        raise InvalidParameterError("accelerators", accelerators, "at least one accelerator id")
    fin = finance or default_finance()
    site_list = tuple(sites) if sites is not None else load_sites()
    if not site_list:
        raise InvalidParameterError("sites", site_list, "at least one site")
    notes: list[str] = []
    capacities: list[SloCapacity] = []
    for acc in accelerators:
        try:
            capacities.append(
                slo_capacity(
                    model,
                    acc,
                    workload,
                    ttft_slo_s=ttft_slo_s,
                    tpot_slo_s=tpot_slo_s,
                    weight_precision=weight_precision,
                    kv_precision=kv_precision,
                    engine=engine,
                )
            )
        except InfeasibleError as exc:
            notes.append(str(exc))
    if not capacities:
        raise InfeasibleError("no candidate accelerator meets the SLOs: " + "; ".join(notes))
    offers, offer_notes = fleet_offers(tuple(capacities), site_list, fin)
    life = (
        lifetime_years
        if lifetime_years is not None
        else max(1, round(float(np.asarray(fin.accelerator_lifetime_years))))
    )
    return plan_fleet_offers(
        offers,
        site_list,
        demand,
        discount_rate_frac=float(np.asarray(fin.wacc_frac)),
        lifetime_years=life,
        budget_usd_per_year=budget_usd_per_year,
        time_limit_s=time_limit_s,
        notes=(*notes, *offer_notes),
    )

"""The fleet MILP on toy instances that can be solved by hand, and on the real model."""

from __future__ import annotations

import pytest

import chip2grid as c2g
from chip2grid.errors import InfeasibleError, InvalidParameterError
from chip2grid.plan.fleet import (
    DemandForecast,
    FleetOffer,
    FleetSite,
    growing_demand,
    load_sites,
    plan_fleet,
    plan_fleet_offers,
)


def offer(acc: str, site: str, *, tps: float, power_w: float, usd: float) -> FleetOffer:
    return FleetOffer(
        accelerator=acc,
        platform=f"{acc}-server",
        site=site,
        num_accelerators=8,
        output_tokens_per_s=tps,
        facility_power_w=power_w,
        capex_usd=3 * usd,
        usd_per_year=usd,
    )


def site(sid: str, cap_w: float, year: int) -> FleetSite:
    return FleetSite(
        id=sid, region="us-virginia", cooling="dlc", power_cap_w=cap_w, available_year=year
    )


def solve(offers: list[FleetOffer], sites: list[FleetSite], demand: list[float], **kw: object):
    return plan_fleet_offers(
        offers,
        sites,
        DemandForecast(start_year=2026, output_tokens_per_s=tuple(demand)),
        discount_rate_frac=kw.pop("rate", 0.0),  # type: ignore[arg-type]
        lifetime_years=kw.pop("life", 5),  # type: ignore[arg-type]
        **kw,  # type: ignore[arg-type]
    )


def test_toy_optimum_by_hand() -> None:
    # A: 100 tok/s for 10 $/yr (0.1 $ per tok/s); B: 250 tok/s for 20 $/yr (0.08 $ per tok/s).
    # Demand 500 in one year: 2 B = 40 $ beats 5 A = 50 $ and 1 B + 3 A = 50 $.
    # Demand 600: 2 B + 1 A = 50 $ < 3 B = 60 $ < 6 A = 60 $.
    offers = [
        offer("a", "s", tps=100, power_w=1, usd=10),
        offer("b", "s", tps=250, power_w=1, usd=20),
    ]
    plan = solve(offers, [site("s", 1e6, 2026)], [500])
    assert plan.total_cost_usd == pytest.approx(40)
    assert {(p.accelerator, p.num_servers) for p in plan.purchases} == {("b", 2)}
    plan = solve(offers, [site("s", 1e6, 2026)], [600])
    assert plan.total_cost_usd == pytest.approx(50)
    assert {(p.accelerator, p.num_servers) for p in plan.purchases} == {("a", 1), ("b", 2)}
    assert plan.status == "Optimal"


def test_power_cap_forces_the_efficient_server_and_binds() -> None:
    # B is cheaper per token but draws 10 W per server; the 20 W cap admits 2 B (500 tok/s),
    # the rest must come from A (1 W each): demand 800 -> 2 B + 3 A = 70 $.
    offers = [
        offer("a", "s", tps=100, power_w=1, usd=10),
        offer("b", "s", tps=250, power_w=10, usd=20),
    ]
    plan = solve(offers, [site("s", 23.0, 2026)], [800])
    assert plan.total_cost_usd == pytest.approx(70)
    power = plan.site_power[0]
    assert power.facility_power_w <= power.power_cap_w
    kinds = {c.kind for c in plan.binding}
    assert "power" in kinds and "demand" in kinds


def test_buildout_dates_respected_and_retirement_replaces() -> None:
    # site late opens in 2028 and is cheaper; nothing may stand there before.
    offers = [
        offer("a", "early", tps=100, power_w=1, usd=10),
        offer("a", "late", tps=100, power_w=1, usd=5),
    ]
    sites = [site("early", 1e6, 2026), site("late", 1e6, 2028)]
    plan = solve(offers, sites, [100, 100, 100, 100], life=2)
    for line in plan.installed:
        if line.site == "late":
            assert line.year >= 2028
    for p in plan.site_power:
        if p.year < 2028 and p.site == "late":
            assert p.power_cap_w == 0 and p.facility_power_w == 0
    # one server in early in 2026 (lives 2026-2027), one in late in 2028 (2028-2029)
    assert plan.total_cost_usd == pytest.approx(10 + 10 + 5 + 5)
    assert [(p.year, p.site) for p in plan.purchases] == [(2026, "early"), (2028, "late")]


def test_infeasible_names_year_and_shortfall() -> None:
    offers = [offer("a", "s", tps=100, power_w=10, usd=10)]
    sites = [site("s", 100.0, 2026), site("t", 100.0, 2028)]
    offers.append(offer("a", "t", tps=100, power_w=10, usd=10))
    # 2026: one site, 100 W / 10 W x 100 = 1,000 tok/s; demand 1,500 -> short by 500
    with pytest.raises(InfeasibleError, match=r"2026.*short by 500 tokens/s"):
        solve(offers, sites, [1500, 1500])
    # 2027 fits 1,000 but asks 1,200
    with pytest.raises(InfeasibleError, match=r"2027.*short by 200"):
        solve(offers, sites, [900, 1200, 1500])


def test_budget_limits_purchases() -> None:
    offers = [offer("a", "s", tps=100, power_w=1, usd=10)]  # capex 30 per server
    plan = solve(offers, [site("s", 1e6, 2026)], [200, 400], budget_usd_per_year=60.0)
    assert all(y.capex_usd <= 60.0 for y in plan.years)
    with pytest.raises(InfeasibleError, match="budget"):
        solve(offers, [site("s", 1e6, 2026)], [500], budget_usd_per_year=60.0)


@pytest.mark.parametrize("demands", [(300, 500, 700), (1000, 1100, 1300)])
def test_raising_demand_never_lowers_cost(demands: tuple[int, ...]) -> None:
    offers = [
        offer("a", "s", tps=100, power_w=1, usd=10),
        offer("b", "s", tps=250, power_w=4, usd=20),
    ]
    costs = [
        solve(offers, [site("s", 60.0, 2026)], [d, d * 1.2], rate=0.08).total_cost_usd
        for d in demands
    ]
    assert costs == sorted(costs)


def test_bad_inputs() -> None:
    offers = [offer("a", "s", tps=100, power_w=1, usd=10)]
    with pytest.raises(InvalidParameterError, match="lifetime_years"):
        solve(offers, [site("s", 1e6, 2026)], [1], life=0)
    # a zero time limit stopped the solver before any solution and blamed the budget or power
    with pytest.raises(InvalidParameterError, match="time_limit_s"):
        solve(offers, [site("s", 1e6, 2026)], [1], time_limit_s=0.0)
    with pytest.raises(InvalidParameterError, match="power_cap_w"):
        site("s", -1.0, 2026)
    with pytest.raises(InvalidParameterError, match="demand"):
        DemandForecast(start_year=2026, output_tokens_per_s=(-1.0,))


def test_builtin_sites_and_real_plan() -> None:
    sites = load_sites()
    assert len(sites) >= 3 and all(s.source for s in sites)
    plan = plan_fleet(
        "llama-3.3-70b",
        c2g.Workload(input_tokens=2048, output_tokens=256),
        growing_demand(1e5, 0.5, 3, 2026),
        ["h100-sxm", "b200"],
        sites,
    )
    assert plan.status == "Optimal"
    for y in plan.years:
        assert y.capacity_output_tokens_per_s >= y.demand_output_tokens_per_s
    for p in plan.site_power:
        assert p.facility_power_w <= p.power_cap_w + 1e-6
    assert plan.usd_per_mtok_output > 0
    # SLO capacity below the unconstrained maximum
    for o in plan.offers:
        top = c2g.best_layout(
            c2g.Deployment(
                model=c2g.get_model("llama-3.3-70b"),
                accelerator=c2g.get_accelerator(o.accelerator),
                num_accelerators=8,
                tp=1,
                pp=1,
                ep=1,
                weight_precision="fp8",
                kv_precision="fp8",
            ),
            c2g.Workload(input_tokens=2048, output_tokens=256),
        )
        assert o.output_tokens_per_s <= top.output_tokens_per_s * (1 + 1e-9)

"""Time the fleet MILP on a problem of about 2,400 integer variables.

4 accelerators x 40 sites x 15 years, minus site-years before build-out. Per-server figures
come from chip2grid's own capacity and cost models; the sites are synthetic (the 5 built-in
sites replicated over 8 regions with staggered build-out dates and caps) and demand grows
35 % a year so that power caps bind in later years.

Run: python benchmarks/bench_fleet.py
"""

from __future__ import annotations

import time

import chip2grid as c2g
from chip2grid.economics import default_finance
from chip2grid.plan.fleet import (
    FleetSite,
    fleet_offers,
    growing_demand,
    plan_fleet_offers,
    slo_capacity,
)

REGIONS = ["us-virginia", "us-texas", "us-oregon", "us-georgia", "us-arizona", "nordics",
           "ireland", "japan"]  # fmt: skip


def main() -> None:
    workload = c2g.Workload(input_tokens=2048, output_tokens=256)
    start = time.perf_counter()
    caps = tuple(
        slo_capacity("llama-3.3-70b", a, workload, ttft_slo_s=2.0, tpot_slo_s=0.1)
        for a in ("h100-sxm", "h200-sxm", "b200", "gb200")
    )
    sites = tuple(
        FleetSite(
            id=f"site-{i:02d}",
            region=REGIONS[i % len(REGIONS)],
            cooling="dlc",
            power_cap_w=(20 + 10 * (i % 5)) * 1e6,
            available_year=2026 + (i % 4),
        )
        for i in range(40)
    )
    offers, _ = fleet_offers(caps, sites, default_finance())
    inputs_s = time.perf_counter() - start
    demand = growing_demand(2e6, 0.35, 15, 2026)
    plan = plan_fleet_offers(
        offers, sites, demand, discount_rate_frac=0.08, lifetime_years=5, time_limit_s=120
    )
    print(
        f"fleet MILP: {plan.num_variables} integer variables, {plan.num_constraints} constraints;"
        f" inputs {inputs_s:.2f} s; solve {plan.solve_time_s:.2f} s ({plan.status}, gap "
        f"{plan.mip_gap_frac:.1e}); {len(plan.binding)} binding constraints; "
        f"{plan.usd_per_mtok_output:.3f} USD/Mtok"
    )


if __name__ == "__main__":
    main()

"""``chip2grid fleet``: the cheapest fleet that serves a growing demand under site power caps."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

import chip2grid as c2g
from chip2grid.cli.app import app, console
from chip2grid.errors import InvalidParameterError
from chip2grid.jsonable import jsonable
from chip2grid.plan.fleet import FleetPlan, growing_demand, load_sites, plan_fleet
from chip2grid.units import DAY_S


def print_plan(plan: FleetPlan) -> None:
    """Tables of the plan: per year, purchases, site power, binding constraints."""
    years = Table(
        "year", "demand (tok/s)", "capacity (tok/s)", "capex (MUSD)", "cost (MUSD/yr)",
        title="fleet plan", title_justify="left",
    )  # fmt: skip
    for y in plan.years:
        years.add_row(
            str(y.year),
            f"{y.demand_output_tokens_per_s:,.0f}",
            f"{y.capacity_output_tokens_per_s:,.0f}",
            f"{y.capex_usd / 1e6:,.1f}",
            f"{y.cost_usd / 1e6:,.1f}",
        )
    console.print(years)
    buys = Table("year", "site", "accelerator", "servers", "accelerators", title="purchases")
    for line in plan.purchases:
        buys.add_row(
            str(line.year), line.site, line.accelerator, str(line.num_servers),
            str(line.num_accelerators),
        )  # fmt: skip
    console.print(buys)
    power = Table("year", "site", "facility power (MW)", "cap (MW)", title="site power")
    for p in plan.site_power:
        if p.facility_power_w > 0:
            power.add_row(
                str(p.year), p.site, f"{p.facility_power_w / 1e6:.2f}", f"{p.power_cap_w / 1e6:.0f}"
            )
    console.print(power)
    binding = Table(
        "constraint", "year", "site", "slack", "shadow price", title="binding (LP duals)"
    )
    for c in plan.binding:
        binding.add_row(c.kind, str(c.year), c.site, f"{c.slack:,.4g}", f"{c.shadow_price:,.4g}")
    console.print(binding)
    console.print(
        f"total discounted cost {plan.total_cost_usd / 1e6:,.1f} MUSD, "
        f"{plan.usd_per_mtok_output:.3f} USD per Mtok output; {plan.status}, "
        f"{plan.num_variables} integer variables, {plan.num_constraints} constraints, "
        f"solved in {plan.solve_time_s:.2f} s"
    )
    for note in plan.notes:
        console.print(f"note: {note}")


@app.command("fleet")
def fleet_command(
    model: Annotated[str, typer.Option(help="catalog model id")] = "llama-3.3-70b",
    accelerators: Annotated[
        str, typer.Option(help="comma-separated candidate accelerator ids")
    ] = "h100-sxm,h200-sxm,b200,mi300x",
    input_tokens: Annotated[float, typer.Option(help="mean prompt tokens per request")] = 2048,
    output_tokens: Annotated[float, typer.Option(help="mean output tokens per request")] = 256,
    demand_tokens_per_s: Annotated[
        float | None, typer.Option(help="output tokens/s to serve in the first year")
    ] = None,
    demand_tokens_per_day: Annotated[
        float | None, typer.Option(help="or output tokens per day in the first year")
    ] = None,
    growth: Annotated[float, typer.Option(help="demand growth per year (0.5 = +50 %)")] = 0.5,
    years: Annotated[int, typer.Option(help="years in the horizon")] = 5,
    start_year: Annotated[int, typer.Option(help="first year")] = 2026,
    sites: Annotated[
        Path | None, typer.Option(help="TOML file of candidate sites (default: built-in list)")
    ] = None,
    ttft_slo: Annotated[float, typer.Option(help="mean TTFT limit, s")] = 2.0,
    tpot_slo: Annotated[float, typer.Option(help="mean TPOT limit, s")] = 0.1,
    lifetime_years: Annotated[
        int | None, typer.Option(help="server lifetime; default the finance catalog's")
    ] = None,
    budget_usd_per_year: Annotated[
        float | None, typer.Option(help="cap on capex spent per year")
    ] = None,
    time_limit: Annotated[float, typer.Option(help="solver time limit, s")] = 60.0,
    as_json: Annotated[bool, typer.Option("--json", help="print one JSON object")] = False,
) -> None:
    """The cheapest fleet (servers of which accelerator, where, when) serving a demand forecast
    under SLOs, site power caps and build-out dates: a MILP solved with HiGHS."""
    if (demand_tokens_per_s is None) == (demand_tokens_per_day is None):
        if demand_tokens_per_s is None and demand_tokens_per_day is None:
            demand_tokens_per_s = 200_000.0
        else:
            raise InvalidParameterError(
                "--demand-tokens-per-s", demand_tokens_per_s, "one of it or --demand-tokens-per-day"
            )
    start = (
        demand_tokens_per_s
        if demand_tokens_per_s is not None
        else float(demand_tokens_per_day or 0.0) / DAY_S
    )
    if not start > 0:
        raise InvalidParameterError("demand", start, "output tokens > 0")
    ids = [a.strip() for a in accelerators.split(",") if a.strip()]
    for acc in ids:
        c2g.get_accelerator(acc)
    plan = plan_fleet(
        model,
        c2g.Workload(input_tokens=input_tokens, output_tokens=output_tokens),
        growing_demand(start, growth, years, start_year),
        ids,
        load_sites(sites),
        ttft_slo_s=ttft_slo,
        tpot_slo_s=tpot_slo,
        lifetime_years=lifetime_years,
        budget_usd_per_year=budget_usd_per_year,
        time_limit_s=time_limit,
    )
    if as_json:
        data = jsonable(plan)
        data["binding"] = [jsonable(c) for c in plan.binding]
        print(json.dumps(data, indent=2))
        return
    print_plan(plan)

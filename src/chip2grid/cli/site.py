"""``chip2grid site``: a scenario's site year by year as its power is built out."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.table import Table

from chip2grid.cli.app import app, console
from chip2grid.jsonable import jsonable
from chip2grid.scenario import apply_overrides, evaluate, load_scenario, site_buildout


@app.command("site")
def site_command(
    scenario: Annotated[
        str, typer.Argument(help="a built-in scenario name or a YAML/TOML file")
    ] = "default",
    power_mw: Annotated[
        float | None,
        typer.Option(
            "--power-mw", help="critical IT power of the site in MW (overrides site.power_cap_w)"
        ),
    ] = None,
    accelerators: Annotated[
        int | None,
        typer.Option(
            "--accelerators",
            help="fleet sought; what the site cannot power is stranded (default: the scenario's)",
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print one JSON object")] = False,
) -> None:
    """How many accelerators the site powers in each build-out year, its tokens/s per MW, and
    the deployment's accelerators left stranded. Phases come from the scenario's
    site.buildout ([{year, power_w}, ...]); without phases, the whole site now."""
    s = load_scenario(scenario)
    if power_mw is not None:
        s = apply_overrides(s, {"site.power_cap_w": power_mw * 1e6})
    result = evaluate(s, simulate=False)
    rows = site_buildout(s, result.capacity, result.cost_at_capacity, accelerators)
    if as_json:
        print(
            json.dumps(
                jsonable(
                    {
                        "scenario": scenario,
                        "platform": result.cost_at_capacity.platform.id,
                        "region": s.site.region,
                        "cooling": s.site.cooling,
                        "years": rows,
                    }
                )
            )
        )
        return
    table = Table(
        "year",
        "critical IT MW",
        "racks",
        "floor m²",
        "accelerators powered",
        "facility MW",
        "output tok/s",
        "tok/s per MW",
        "stranded",
        title=(
            f"site of {scenario}: {result.cost_at_capacity.platform.id} in {s.site.region}, "
            f"{s.site.cooling} cooling"
        ),
        title_justify="left",
    )
    for row in rows:
        table.add_row(
            "now" if row.year is None else str(row.year),
            f"{row.critical_it_power_w / 1e6:,.2f}",
            f"{row.num_racks:,}",
            f"{row.floor_area_m2:,.0f}",
            f"{row.num_accelerators_powered:,}",
            f"{row.facility_power_w / 1e6:,.2f}",
            f"{row.output_tokens_per_s:,.0f}",
            f"{row.output_tokens_per_s_per_mw:,.0f}",
            f"{row.num_accelerators_stranded:,} of {row.num_accelerators_wanted:,}",
        )
    console.print(table)

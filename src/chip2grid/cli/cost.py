"""``chip2grid cost`` and ``chip2grid run``: from the chip to the meter and the invoice."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import typer
from rich.table import Table

import chip2grid as c2g
from chip2grid.cli.app import (
    _DEFAULT,
    DEFAULT_DEPLOYMENT,
    InputTokensCv,
    OutputTokensCv,
    _parse_split,
    app,
    best_deployment,
    console,
)
from chip2grid.economics import (
    DEFAULT_UNCERTAINTY,
    DeploymentCost,
    cost_uncertainty,
    deployment_cost,
    load_from_estimate,
    load_from_simulation,
)
from chip2grid.errors import InvalidParameterError
from chip2grid.jsonable import jsonable

DEFAULT_SITE: dict[str, str] = {
    "region": _DEFAULT.site.region,
    "energy": str(_DEFAULT.energy.supply),
}
"""Where the default scenario stands: Virginia on grid power."""


def parse_energy(text: str) -> str | dict[str, float]:
    """``grid`` or ``grid=0.6,ppa-solar=0.4``."""
    if "=" not in text:
        return text.strip()
    shares: dict[str, float] = {}
    for part in text.split(","):
        name, _, value = part.partition("=")
        try:
            shares[name.strip()] = float(value)
        except ValueError:
            raise InvalidParameterError(
                "--energy", text, "a source id, or id=share pairs such as grid=0.6,ppa-solar=0.4"
            ) from None
    return shares


def cost_to_dict(cost: DeploymentCost) -> dict[str, Any]:
    """The JSON object of a cost breakdown, with the load it priced and the market."""
    b = {k: float(np.asarray(v)) for k, v in dataclasses.asdict(cost.breakdown).items()}
    m = cost.market
    data: dict[str, Any] = jsonable(
        {
            "platform": cost.platform.id,
            "region": cost.region,
            "cooling": cost.cooling,
            "energy_supply": cost.supply,
            "colocation": cost.colocation,
            "load": dataclasses.asdict(cost.load),
            "breakdown": b,
            "market": {
                "min_rental_usd_per_accelerator_hour": m.min_usd_per_accelerator_hour,
                "min_api_usd_per_mtok_input": m.min_usd_per_mtok_input,
                "min_api_usd_per_mtok_output": m.min_usd_per_mtok_output,
                "num_rental_prices": len(m.rentals),
                "num_api_prices": len(m.apis),
            },
        }
    )
    return data


def print_cost(cost: DeploymentCost, title: str) -> None:
    b = cost.breakdown

    def f(name: str) -> float:
        return float(np.asarray(getattr(b, name)))

    table = Table("item", "capex (USD)", "USD per year", title=title, title_justify="left")
    for item in ("servers", "network", "facility", "power_infrastructure"):
        table.add_row(
            item.replace("_", " "),
            f"{f(item + '_capex_usd'):,.0f}",
            f"{f(item + '_usd_per_year'):,.0f}",
        )
    for item in ("electricity", "maintenance", "staff", "insurance_tax", "colocation"):
        value = f(item + "_usd_per_year")
        if value:
            table.add_row(item.replace("_", " "), "", f"{value:,.0f}")
    table.add_row(
        "total", f"{f('capex_usd'):,.0f}", f"{f('total_usd_per_year'):,.0f}", style="bold"
    )
    console.print(table)
    m = cost.market
    rows = [
        (
            "place",
            f"{cost.region}, {cost.cooling} cooling, {cost.supply}; platform {cost.platform.id}",
        ),
        (
            "load priced",
            f"{cost.load.source}: busy {cost.load.busy_frac:.0%}, "
            f"{cost.load.output_tokens_per_s:,.0f} output tok/s while busy",
        ),
        (
            "power",
            f"IT {f('it_power_w') / 1e3:,.1f} kW, facility {f('facility_power_w') / 1e3:,.1f} kW, PUE {f('pue'):.3f}",
        ),
        (
            "cost per accelerator-hour",
            f"${f('usd_per_accelerator_hour'):.2f}"
            + (
                f" (cheapest rental seen ${m.min_usd_per_accelerator_hour:.2f})"
                if m.min_usd_per_accelerator_hour
                else ""
            ),
        ),
        (
            "cost per Mtok output / input / cached",
            f"${f('usd_per_mtok_output'):.3f} / ${f('usd_per_mtok_input'):.3f} / ${f('usd_per_mtok_cached_input'):.3f}"
            + (
                f" (cheapest API ${m.min_usd_per_mtok_output:.2f} / ${m.min_usd_per_mtok_input:.2f})"
                if m.min_usd_per_mtok_output
                else ""
            ),
        ),
        (
            "energy per output token",
            f"{f('chip_energy_j_per_output_token'):.2f} J chip, {f('server_energy_j_per_output_token'):.2f} J server, {f('meter_energy_j_per_output_token'):.2f} J meter",
        ),
        (
            "carbon and water per 1k output tokens",
            f"{f('g_co2_per_output_token') * 1e3:.2f} g CO2e, {f('l_water_per_output_token') * 1e3:.4f} L",
        ),
        (
            "embodied carbon per 1k output tokens",
            f"{f('embodied_g_co2_per_output_token') * 1e3:.3f} g CO2e: "
            + ", ".join(
                f"{label} {f(item + '_embodied_g_co2_per_year') / f('embodied_g_co2_per_year'):.0%}"
                for label, item in (
                    ("accelerators", "accelerator"),
                    ("hosts", "host"),
                    ("building", "facility"),
                )
            )
            if f("embodied_g_co2_per_year") > 0
            else "0 (no embodied carbon given)",
        ),
        (
            "carbon per 1k output tokens with embodied",
            f"{f('g_co2_per_output_token_with_embodied') * 1e3:.2f} g CO2e "
            f"({f('embodied_carbon_frac'):.0%} embodied)",
        ),
    ]
    summary = Table(show_header=False)
    summary.add_column("quantity", style="bold")
    summary.add_column("value")
    for label, text in rows:
        summary.add_row(label, text)
    console.print(summary)


UNCERTAIN_OUTPUTS = (
    "usd_per_mtok_output",
    "usd_per_mtok_input",
    "usd_per_mtok_blended",
    "usd_per_accelerator_hour",
    "total_usd_per_year",
    "capex_usd",
    "embodied_g_co2_per_output_token",
    "g_co2_per_output_token_with_embodied",
)
DIST_KEYS = {
    "fixed": ("value",),
    "uniform": ("low", "high"),
    "triangular": ("low", "mode", "high"),
    "normal": ("mean", "std"),
    "lognormal": ("median", "sigma"),
}


def parse_uncertain(items: list[str]) -> dict[str, dict[str, object]]:
    """``name=dist:a:b[:c]`` options as distribution specs."""
    out: dict[str, dict[str, object]] = {}
    for item in items:
        name, sep, spec = item.partition("=")
        parts = spec.split(":")
        keys = DIST_KEYS.get(parts[0].strip().lower())
        if not sep or keys is None or len(parts) - 1 != len(keys):
            raise InvalidParameterError(
                "--uncertain",
                item,
                "name=dist:params with dist one of "
                + ", ".join(f"{k}:{':'.join(v)}" for k, v in DIST_KEYS.items()),
            )
        try:
            values = [float(p) for p in parts[1:]]
        except ValueError:
            raise InvalidParameterError("--uncertain", item, "numeric parameters") from None
        out[name.strip()] = {
            "dist": parts[0].strip().lower(),
            **dict(zip(keys, values, strict=True)),
        }
    return out


@app.command("cost")
def cost_command(
    model: Annotated[str, typer.Option(help="catalog model id")] = DEFAULT_DEPLOYMENT["model"],
    accelerator: Annotated[str, typer.Option(help="catalog accelerator id")] = DEFAULT_DEPLOYMENT[
        "accelerator"
    ],
    num_accelerators: Annotated[int, typer.Option(help="accelerators in the deployment")] = 8,
    tp: Annotated[str, typer.Option(help="tensor parallelism per replica, or auto")] = "auto",
    weight_precision: Annotated[str, typer.Option(help="bf16, fp8, int8, fp4, int4 ...")] = "fp8",
    kv_precision: Annotated[str, typer.Option(help="KV-cache precision, or auto")] = "fp8",
    engine: Annotated[str, typer.Option(help="serving engine profile")] = "tensorrt-llm",
    input_tokens: Annotated[float, typer.Option(help="mean prompt tokens (steady state)")] = 2048,
    output_tokens: Annotated[float, typer.Option(help="mean output tokens (steady state)")] = 256,
    input_tokens_cv: InputTokensCv = 0.0,
    output_tokens_cv: OutputTokensCv = 0.0,
    request_rate: Annotated[
        float | None, typer.Option(help="Poisson requests/s (steady state); default max load")
    ] = None,
    trace: Annotated[
        Path | None, typer.Option(help="price a simulated trace instead of the steady state")
    ] = None,
    region: Annotated[str, typer.Option(help="region id (chip2grid list regions)")] = DEFAULT_SITE[
        "region"
    ],
    cooling: Annotated[
        str | None,
        typer.Option(
            help="air-legacy, air, air-economized, rear-door, dlc, immersion; default: dlc "
            "where the platform takes it, else the platform's own (air-cooled servers: air)"
        ),
    ] = None,
    energy: Annotated[
        str, typer.Option(help="energy source id, or shares: grid=0.6,ppa-solar=0.4")
    ] = DEFAULT_SITE["energy"],
    platform: Annotated[
        str | None, typer.Option(help="server platform id; default the accelerator's")
    ] = None,
    colocation: Annotated[
        bool, typer.Option("--colocation", help="rent the hall instead of building it")
    ] = False,
    monte_carlo: Annotated[
        int,
        typer.Option(
            help="Monte Carlo draws over uncertain prices, finance and embodied carbon (0: off)"
        ),
    ] = 0,
    uncertain: Annotated[
        list[str] | None,
        typer.Option(
            help="an uncertain input: name=dist:a:b[:c], e.g. wacc_frac=triangular:0.07:0.1:0.14"
        ),
    ] = None,
    seed: Annotated[int, typer.Option(help="seed of the Monte Carlo draws")] = 0,
    as_json: Annotated[bool, typer.Option("--json", help="print one JSON object")] = False,
) -> None:
    """Cost per accelerator-hour and per million tokens, energy, carbon and water per token."""
    if num_accelerators < 1:
        raise InvalidParameterError("--num-accelerators", num_accelerators, "an integer >= 1")
    base: dict[str, Any] = dict(
        model=c2g.get_model(model),
        accelerator=c2g.get_accelerator(accelerator),
        num_accelerators=num_accelerators,
        weight_precision=weight_precision,
        kv_precision=kv_precision,
        engine=engine,
    )
    tp_n = _parse_split("tp", tp)
    supply = parse_energy(energy)
    if trace is not None:
        requests = c2g.load_trace(trace)
        workload = requests.workload()
    else:
        workload = c2g.Workload(
            input_tokens=input_tokens,
            output_tokens=output_tokens,
            input_tokens_cv=input_tokens_cv,
            output_tokens_cv=output_tokens_cv,
        )
    load = (
        c2g.Load(mode="request_rate", request_rate_per_s=request_rate)
        if request_rate is not None
        else c2g.Load(mode="max_load")
    )
    dep, est = best_deployment(base, workload, load, fix_tp=tp_n)
    if trace is not None:
        service = load_from_simulation(c2g.simulate(dep, requests))
    else:
        service = load_from_estimate(est)
    cost = deployment_cost(
        dep,
        service,
        region=region,
        cooling=cooling,
        supply=supply,
        platform=platform,
        colocation=colocation,
    )
    spread = None
    if monte_carlo < 0:
        raise InvalidParameterError("--monte-carlo", monte_carlo, "a number of draws >= 0")
    if monte_carlo or uncertain:
        specs = parse_uncertain(uncertain) if uncertain else DEFAULT_UNCERTAINTY
        result = cost_uncertainty(cost, inputs=specs, num_draws=monte_carlo or 10_000, seed=seed)
        spread = {
            name: dataclasses.asdict(result.summaries[name])
            for name in UNCERTAIN_OUTPUTS
            if name in result.summaries
        }
        spread_inputs = {name: str(dist) for name, dist in result.inputs.items()}
    if as_json:
        data = cost_to_dict(cost)
        if spread is not None:
            data["uncertainty"] = {
                "num_draws": monte_carlo or 10_000,
                "seed": seed,
                "inputs": spread_inputs,
                "outputs": jsonable(spread),
            }
        print(json.dumps(data, indent=2))
        return
    print_cost(cost, f"chip2grid cost: {dep.model.id} on {num_accelerators} x {dep.accelerator.id}")
    if spread is not None:
        table = Table(
            "figure",
            "P10",
            "P50",
            "P90",
            title=f"uncertainty ({monte_carlo or 10_000:,} draws): "
            + "; ".join(f"{k} ~ {v}" for k, v in spread_inputs.items()),
            title_justify="left",
        )
        for name, s in spread.items():
            table.add_row(name, f"{s['p10']:.4g}", f"{s['p50']:.4g}", f"{s['p90']:.4g}")
        console.print(table)

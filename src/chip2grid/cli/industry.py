"""``chip2grid industry``: the AI industry year by year, which layer binds and when it moves."""

from __future__ import annotations

import dataclasses
import itertools
import json
from typing import Annotated, Any

import typer
from rich.table import Table

from chip2grid.cli.app import app, console
from chip2grid.industry import (
    BindingThreshold,
    IndustryResult,
    IndustryScenario,
    IndustrySensitivity,
    binding_thresholds,
    industry_sensitivity,
    list_industry_scenarios,
    load_industry_scenario,
    run_industry,
)
from chip2grid.jsonable import jsonable


def _transitions(result: IndustryResult) -> list[dict[str, Any]]:
    spans = result.cascade()
    return [
        {"year": later.first_year, "from_layer": earlier.layer, "to_layer": later.layer}
        for earlier, later in itertools.pairwise(spans)
    ]


def industry_to_dict(
    result: IndustryResult, sensitivities: tuple[IndustrySensitivity, ...] = ()
) -> dict[str, Any]:
    """The JSON object of ``chip2grid industry --json``."""
    years = []
    for rec in result.records():
        years.append(
            {
                "year": rec.year,
                "binding_layer": rec.binding_layer,
                "accelerators_deployed": rec.accelerators_deployed,
                "installed_accelerators": rec.installed_accelerators,
                "retired_accelerators": rec.retired_accelerators,
                "demand_accelerators": rec.demand_accelerators,
                "shortfall_accelerators": rec.shortfall_accelerators,
                "power_gw": rec.power_gw,
                "energy_twh": rec.energy_twh,
                "electricity_share_frac": rec.electricity_share_frac,
                "cost_usd_per_mtok": rec.cost_usd_per_mtok,
                "price_usd_per_mtok": rec.price_usd_per_mtok,
                "inference_share_frac": rec.inference_share_frac,
                "tokens_demanded": rec.tokens_demanded,
                "tokens_served": rec.tokens_served,
                "revenue_usd": rec.revenue_usd,
                "capex_usd": rec.capex_usd,
                "supply_accelerators": {
                    layer: float(values[rec.year - int(result.years[0])])
                    for layer, values in result.supply_accelerators.items()
                },
            }
        )
    payload: dict[str, Any] = jsonable(
        {
            "scenario": result.scenario,
            "years": years,
            "cascade": [
                {"layer": s.layer, "first_year": s.first_year, "last_year": s.last_year}
                for s in result.cascade()
            ],
            "transitions": _transitions(result),
            "sensitivities": [
                {
                    "parameter": row.parameter,
                    "base_value": row.base_value,
                    "low_value": row.low_value,
                    "high_value": row.high_value,
                    "base_transition_year": row.base_transition_year,
                    "low_transition_year": row.low_transition_year,
                    "high_transition_year": row.high_transition_year,
                    "low_next_layer": row.low_next_layer,
                    "high_next_layer": row.high_next_layer,
                }
                for row in sensitivities
            ],
        }
    )
    return payload


def _millions(value: float) -> str:
    return f"{value / 1e6:,.1f}"


def _print_years(result: IndustryResult, region: str) -> None:
    table = Table(title=f"chip2grid industry: {result.scenario}", title_justify="left")
    table.add_column("year")
    table.add_column("binding", no_wrap=True)
    for name in ("new M", "installed M", "short M", "GW", f"{region} elec", "$/Mtok", "infer"):
        table.add_column(name, justify="right")
    for rec in result.records():
        table.add_row(
            str(rec.year),
            rec.binding_layer,
            _millions(rec.accelerators_deployed),
            _millions(rec.installed_accelerators),
            _millions(rec.shortfall_accelerators),
            f"{rec.power_gw:,.1f}",
            f"{rec.electricity_share_frac:.1%}",
            f"{rec.cost_usd_per_mtok:.3f}",
            f"{rec.inference_share_frac:.0%}",
        )
    console.print(table)
    console.print(
        "new/installed/short: accelerators deployed this year, installed, demanded but not "
        f"deployed (millions); GW: fleet power at the meter; {region} elec: share of "
        f"{region} electricity; infer: share of compute demanded for inference"
    )
    _print_cascade(result)


def _print_cascade(result: IndustryResult) -> None:
    parts = [
        f"{s.layer} {s.first_year}" + (f"-{s.last_year}" if s.last_year != s.first_year else "")
        for s in result.cascade()
    ]
    console.print("[bold]cascade:[/bold] " + " -> ".join(parts))


def _print_sensitivity(rows: tuple[IndustrySensitivity, ...], limit: int) -> None:
    if not rows:
        return
    base = rows[0].base_transition_year
    table = Table(
        "input",
        "low",
        "base",
        "high",
        "transition year (low / high)",
        "next layer (low / high)",
        title=f"first change of binding layer: {base if base is not None else 'none'} "
        f"(from {rows[0].base_first_layer}); inputs varied one at a time",
        title_justify="left",
    )

    def year(value: int | None) -> str:
        return "none" if value is None else str(value)

    for row in rows[:limit]:
        table.add_row(
            row.parameter,
            f"{row.low_value:.4g}",
            f"{row.base_value:.4g}",
            f"{row.high_value:.4g}",
            f"{year(row.low_transition_year)} / {year(row.high_transition_year)}",
            f"{row.low_next_layer or '-'} / {row.high_next_layer or '-'}",
        )
    console.print(table)
    moved = sum(
        1
        for r in rows
        if base not in (r.low_transition_year, r.high_transition_year)
        or r.low_transition_year != r.high_transition_year
    )
    console.print(f"{moved} of {len(rows)} inputs move the first transition")


def _thresholds_to_list(rows: tuple[BindingThreshold, ...]) -> list[dict[str, Any]]:
    return [
        {
            "parameter": r.parameter,
            "layer": r.layer,
            "base_value": r.base_value,
            "value": r.value,
            "change_frac": r.change_frac,
            "direction": r.direction,
            "first_year": r.first_year,
        }
        for r in rows
    ]


def _print_thresholds(rows: tuple[BindingThreshold, ...], layer: str, window: str) -> None:
    table = Table(
        "input",
        "base",
        "threshold",
        "change",
        "binds in",
        title=f"what makes {layer} first bind in {window} (one input at a time)",
        title_justify="left",
    )
    for r in rows[:15]:
        table.add_row(
            r.parameter,
            f"{r.base_value:.4g}",
            f"{'<=' if r.direction == 'below' else '>='} {r.value:.4g}",
            f"{r.change_frac:+.0%}",
            str(r.first_year),
        )
    console.print(table)


def _print_compare(results: list[IndustryResult]) -> None:
    table = Table("year", title="binding layer by scenario", title_justify="left")
    for result in results:
        table.add_column(result.scenario)
    for i, year in enumerate(results[0].years):
        cells = []
        for result in results:
            cells.append(
                f"{result.binding_layer[i]} ({_millions(result.accelerators_deployed[i])} M, "
                f"{result.power_gw[i]:,.0f} GW)"
            )
        table.add_row(str(int(year)), *cells)
    console.print(table)
    for result in results:
        console.print(f"[bold]{result.scenario}[/bold]: ", end="")
        _print_cascade(result)


@app.command("industry")
def industry_command(
    scenario: Annotated[
        str,
        typer.Argument(
            help="built-in scenario (baseline, analysts, fast-power) or a TOML/YAML file"
        ),
    ] = "baseline",
    start_year: Annotated[
        int | None, typer.Option(help="first year (default the scenario's)")
    ] = None,
    end_year: Annotated[int | None, typer.Option(help="last year (default the scenario's)")] = None,
    compare: Annotated[
        bool, typer.Option("--compare", help="run every built-in scenario side by side")
    ] = False,
    sensitivity: Annotated[
        bool,
        typer.Option(
            "--sensitivity", help="move each input +-10 % and report the first transition"
        ),
    ] = False,
    binds: Annotated[
        str | None,
        typer.Option(
            help="a supply layer: find the value of each input at which it first binds in "
            "--binds-from..--binds-by (slow: ~30 runs an input)"
        ),
    ] = None,
    binds_from: Annotated[int | None, typer.Option(help="first year of the window")] = None,
    binds_by: Annotated[
        int | None, typer.Option(help="last year of the window (default the end year)")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print one JSON object")] = False,
) -> None:
    """Which layer caps AI deployment each year (packaging, HBM, power, capital ...), and why."""
    names = list_industry_scenarios() if compare else [scenario]
    scenarios: list[IndustryScenario] = [load_industry_scenario(name) for name in names]
    results = [run_industry(s, start_year=start_year, end_year=end_year) for s in scenarios]
    rows: list[tuple[IndustrySensitivity, ...]] = []
    if sensitivity:
        for s, r in zip(scenarios, results, strict=True):
            span = dataclasses.replace(s, start_year=int(r.years[0]), end_year=int(r.years[-1]))
            rows.append(industry_sensitivity(span))
    thresholds: list[tuple[BindingThreshold, ...]] = []
    if binds is not None:
        for s, r in zip(scenarios, results, strict=True):
            span = dataclasses.replace(s, start_year=int(r.years[0]), end_year=int(r.years[-1]))
            by = span.end_year if binds_by is None else binds_by
            thresholds.append(binding_thresholds(span, binds, by_year=by, from_year=binds_from))
    if as_json:
        payloads = [industry_to_dict(r, rows[i] if rows else ()) for i, r in enumerate(results)]
        for payload, found in zip(payloads, thresholds, strict=False):
            payload["binding_thresholds"] = _thresholds_to_list(found)
        print(json.dumps(payloads if compare else payloads[0], indent=2, allow_nan=False))
        return
    if compare:
        _print_compare(results)
    else:
        _print_years(results[0], scenarios[0].grid.region)
    for i, table_rows in enumerate(rows):
        if compare:
            console.print(f"[bold]{results[i].scenario}[/bold]")
        _print_sensitivity(table_rows, limit=15 if not compare else 8)
    for i, found in enumerate(thresholds):
        if compare:
            console.print(f"[bold]{results[i].scenario}[/bold]")
        first = int(results[i].years[0]) if binds_from is None else binds_from
        last = int(results[i].years[-1]) if binds_by is None else binds_by
        _print_thresholds(found, str(binds), f"{first}-{last}")

"""``chip2grid run | init | schema | compare``: scenario files from end to end, with the HTML
report (and static charts) of a run."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from chip2grid.atomic import write_text_atomic
from chip2grid.bottleneck import bottleneck_map
from chip2grid.cli.app import _print_estimate, app, console, estimate_to_dict
from chip2grid.cli.cost import cost_to_dict, print_cost
from chip2grid.cli.simulate import _print_summary
from chip2grid.errors import InvalidParameterError
from chip2grid.industry import load_industry_scenario, run_industry
from chip2grid.jsonable import jsonable
from chip2grid.report import build_report, industry_rows, write_html_report, write_static_charts
from chip2grid.scenario import (
    Scenario,
    ScenarioResult,
    builtin_scenario_text,
    evaluate,
    list_scenarios,
    load_scenario,
    scenario_json_schema,
)
from chip2grid.scenario.compare import compare_metrics

ScenarioArg = Annotated[
    str,
    typer.Argument(help="a built-in scenario name (chip2grid init --list) or a YAML/TOML file"),
]


def result_to_dict(result: ScenarioResult) -> dict[str, Any]:
    """The JSON object of ``chip2grid run --json``."""
    out: dict[str, Any] = {
        "scenario": result.scenario.to_dict(),
        "extends": result.scenario.extends,
        "trace": result.trace_source,
        "metrics": jsonable(result.metrics()),
        "capacity": estimate_to_dict(result.capacity),
        "at_load": estimate_to_dict(result.at_load),
        "simulation": jsonable(result.simulation_summary()),
        "cost_at_load": cost_to_dict(result.cost_at_load),
        "cost_at_capacity": cost_to_dict(result.cost_at_capacity),
        "elapsed_s": result.elapsed_s,
    }
    return out


def print_result(result: ScenarioResult) -> None:
    """The human summary of one scenario run."""
    s = result.scenario
    d = result.deployment
    console.print(f"[bold]scenario {s.name}[/bold]: {s.description.strip()}")
    _print_estimate(
        result.capacity,
        f"1. capacity: steady state at full load (best split of {d.num_accelerators} x "
        f"{d.accelerator.id})",
    )
    console.print()
    summary = result.simulation_summary()
    if summary is not None:
        summary["trace"] = result.trace_source
        console.print(f"[bold]2. the load, simulated: {result.trace_source}[/bold]")
        _print_summary(summary)
    else:
        _print_estimate(result.at_load, f"2. the load in steady state: {result.trace_source}")
    console.print()
    place = f"{s.site.region}, {s.site.cooling} cooling, {s.energy.supply}"
    print_cost(result.cost_at_load, f"3. cost at the offered load ({place})")
    console.print()
    print_cost(result.cost_at_capacity, "4. cost at full load")


DEFAULT_REPORT = Path("chip2grid-report.html")
"""Where ``chip2grid run`` writes its HTML report unless told otherwise."""


def bottleneck_dict(result: ScenarioResult) -> dict[str, Any]:
    """The bottleneck map of ``result`` (5-step cascade, sensitivities) as plain data."""
    return bottleneck_map(result, cascade_steps=5).to_dict()


def industry_years(name: str) -> list[dict[str, Any]] | None:
    """The rows of the industry scenario ``name`` for the report's time map (None: skip)."""
    if name.lower() == "none":
        return None
    return industry_rows(run_industry(load_industry_scenario(name)))


def write_report(
    result: ScenarioResult,
    report_path: Path | None,
    charts: Path | None,
    charts_format: str,
    industry: str,
    with_bottleneck: bool = True,
) -> list[Path]:
    """Build the report of ``result`` and write the HTML file and static charts asked for."""
    if report_path is None and charts is None:
        return []
    report = build_report(
        result,
        bottleneck=bottleneck_dict(result) if with_bottleneck else None,
        industry_years=industry_years(industry),
    )
    written: list[Path] = []
    if report_path is not None:
        written.append(write_html_report(report, report_path))
    if charts is not None:
        written += write_static_charts(report, charts, charts_format)
    return written


@app.command("run")
def run_command(
    scenario: ScenarioArg = "default",
    simulate: Annotated[
        bool,
        typer.Option(
            "--simulate/--no-simulate",
            help="simulate the trace (default) or price the steady state at its mean rate",
        ),
    ] = True,
    as_json: Annotated[bool, typer.Option("--json", help="print one JSON object")] = False,
    output: Annotated[
        Path | None, typer.Option(help="also write the JSON result to this file")
    ] = None,
    report: Annotated[
        Path | None,
        typer.Option(
            help="write the self-contained HTML report here (default: chip2grid-report.html "
            "in the current folder; with --json only when given)"
        ),
    ] = None,
    no_report: Annotated[
        bool, typer.Option("--no-report", help="do not write the HTML report")
    ] = False,
    charts: Annotated[
        Path | None, typer.Option(help="also write every chart as a static file in this folder")
    ] = None,
    charts_format: Annotated[
        str, typer.Option("--charts-format", help="png or svg (with --charts)")
    ] = "png",
    industry: Annotated[
        str,
        typer.Option(
            help="industry scenario for the report's time map (chip2grid industry), or none"
        ),
    ] = "baseline",
    bottleneck: Annotated[
        bool,
        typer.Option(
            "--bottleneck/--no-bottleneck",
            help="put the bottleneck map, cascade and tornado in the report (a few seconds)",
        ),
    ] = True,
) -> None:
    """Run a scenario end to end (default: the built-in default scenario): capacity, the
    simulated trace, power and cost per token; then write the HTML report."""
    if charts_format not in ("png", "svg"):
        raise InvalidParameterError("--charts-format", charts_format, "png or svg")
    if no_report and report is not None:
        raise InvalidParameterError("--report", str(report), "no --report with --no-report")
    report_path = None if no_report else (report or (None if as_json else DEFAULT_REPORT))
    result = evaluate(load_scenario(scenario), simulate=simulate)
    data = result_to_dict(result)
    if output is not None:
        write_text_atomic(output, json.dumps(data, indent=2) + "\n")
    written = write_report(result, report_path, charts, charts_format, industry, bottleneck)
    if as_json:
        print(json.dumps(data, indent=2))
        return
    print_result(result)
    if output is not None:
        console.print(f"wrote {output}")
    if report_path is not None:
        console.print(f"wrote the report {report_path}")
    if charts is not None:
        console.print(f"wrote {len(written) - (report_path is not None)} charts in {charts}")


@app.command("init")
def init_command(
    path: Annotated[
        Path, typer.Argument(help="where to write the example scenario (.yaml)")
    ] = Path("scenario.yaml"),
    base: Annotated[str, typer.Option(help="built-in scenario to start from")] = "default",
    force: Annotated[bool, typer.Option("--force", help="overwrite an existing file")] = False,
    list_builtin: Annotated[
        bool, typer.Option("--list", help="list the built-in scenarios and stop")
    ] = False,
) -> None:
    """Write a commented example scenario to edit."""
    if list_builtin:
        for name in list_scenarios():
            console.print(f"{name}: {load_scenario(name).description.strip()}")
        return
    if path.suffix.lower() not in (".yaml", ".yml"):
        raise InvalidParameterError("path", str(path), "a .yaml or .yml file name")
    if path.exists() and not force:
        raise InvalidParameterError(
            "path", str(path), "a file that does not exist yet (or --force)"
        )
    text = builtin_scenario_text(base)
    write_text_atomic(path, text)
    console.print(f"wrote {path} (from the built-in scenario {base!r}); run: chip2grid run {path}")


@app.command("schema")
def schema_command() -> None:
    """Print the JSON Schema of scenario files."""
    print(json.dumps(scenario_json_schema(), indent=2))


def compare_scenarios(a: Scenario, b: Scenario, simulate: bool) -> dict[str, Any]:
    """Inputs that differ and every metric of both, with relative changes."""
    ma = evaluate(a, simulate=simulate).metrics()
    mb = evaluate(b, simulate=simulate).metrics()
    return compare_metrics(a, b, ma, mb)


@app.command("compare")
def compare_command(
    a: ScenarioArg,
    b: ScenarioArg,
    simulate: Annotated[
        bool, typer.Option("--simulate/--no-simulate", help="simulate both traces")
    ] = False,
    threshold: Annotated[
        float, typer.Option(help="highlight metrics that change by more than this fraction")
    ] = 0.01,
    as_json: Annotated[bool, typer.Option("--json", help="print one JSON object")] = False,
) -> None:
    """Two scenarios side by side: the inputs that differ and every figure, changes highlighted."""
    data = compare_scenarios(load_scenario(a), load_scenario(b), simulate)
    if as_json:
        print(json.dumps(jsonable(data), indent=2))
        return
    inputs = Table("input", data["a"], data["b"], title="inputs that differ", title_justify="left")
    for row in data["inputs"]:
        inputs.add_row(row["field"], str(row["a"]), str(row["b"]))
    console.print(inputs)
    table = Table("metric", data["a"], data["b"], "change", title="figures", title_justify="left")
    for row in data["metrics"]:
        change = row["change_frac"]
        big = change is not None and abs(change) > threshold
        table.add_row(
            row["metric"],
            f"{row['a']:.4g}",
            f"{row['b']:.4g}",
            f"{change:+.1%}" if change is not None else "",
            style="bold yellow" if big else None,
        )
    console.print(table)

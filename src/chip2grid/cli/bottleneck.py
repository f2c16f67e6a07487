"""``chip2grid bottleneck``: which layer binds a deployment, the cascade, the sensitivities."""

from __future__ import annotations

import json
import math
from typing import Annotated

import typer
from rich.table import Table

from chip2grid.bottleneck import BottleneckMap, bottleneck_map
from chip2grid.cli.app import app, console
from chip2grid.errors import InvalidParameterError
from chip2grid.scenario import load_scenario


def parse_relax(items: list[str]) -> dict[str, float]:
    """``layer=factor`` pairs (``site_power=2``)."""
    out: dict[str, float] = {}
    for item in items:
        layer, sep, value = item.partition("=")
        try:
            out[layer.strip()] = float(value) if sep else math.nan
        except ValueError:
            raise InvalidParameterError(
                "--relax", item, "layer=factor, e.g. site_power=2"
            ) from None
        if not sep:
            raise InvalidParameterError("--relax", item, "layer=factor, e.g. site_power=2")
    return out


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.0%}"


def print_map(bm: BottleneckMap) -> None:
    """The layer table, the cascade and the largest sensitivities."""
    console.print(
        f"[bold]bottleneck map of {bm.scenario}[/bold]: {bm.layout}, {bm.concurrency:,.0f} users "
        f"within the SLOs, {bm.output_tokens_per_s:,.0f} output tok/s, "
        f"${bm.cost_usd_per_mtok:.3f}/Mtok, {bm.output_tokens_per_s_per_mw:,.0f} tok/s per MW"
    )
    console.print(f"binding layer: [bold red]{bm.binding_layer}[/bold red] ({bm.binding_reason})")
    table = Table("layer", "analysts' layer", "used", "headroom", "relief gain", "evidence")
    for layer in bm.layers:
        style = "bold red" if layer.name == bm.binding_layer else None
        gain = f"{layer.throughput_gain_frac:+.1%} tok/s" if layer.throughput_gain_frac else ""
        if not gain and layer.cost_gain_frac:
            gain = f"{-layer.cost_gain_frac:+.1%} $/tok"
        table.add_row(
            layer.name,
            layer.analyst_layer,
            _pct(layer.utilization_frac),
            _pct(layer.headroom_frac),
            gain,
            layer.evidence,
            style=style,
        )
    console.print(table)
    if bm.cascade:
        cascade = Table(
            "step",
            "relieved",
            "action",
            "binds next",
            "tok/s",
            "$/Mtok",
            "chart",
            title="cascade: relieve the binding layer, see which binds next",
            title_justify="left",
        )
        top = max(step.output_tokens_per_s_after for step in bm.cascade) or 1.0
        cascade.add_row(
            "0",
            "",
            "as is",
            bm.binding_layer,
            f"{bm.output_tokens_per_s:,.0f}",
            f"{bm.cost_usd_per_mtok:.4f}",
            "#" * round(30 * bm.output_tokens_per_s / top),
        )
        for step in bm.cascade:
            cascade.add_row(
                str(step.step),
                step.relaxed_layer,
                step.action,
                step.binding_layer_after,
                f"{step.output_tokens_per_s_after:,.0f}",
                f"{step.cost_usd_per_mtok_after:.4f}",
                "#" * round(30 * step.output_tokens_per_s_after / top),
            )
        console.print(cascade)
    if bm.sensitivities:
        sens = Table(
            "input",
            "metric",
            "elasticity",
            title="largest sensitivities (±10 %)",
            title_justify="left",
        )
        ranked = sorted(bm.sensitivities, key=lambda s: -abs(s.elasticity))[:10]
        for s in ranked:
            sens.add_row(s.input, s.metric, f"{s.elasticity:+.2f}")
        console.print(sens)
    for layer in bm.layers:
        if layer.name == bm.binding_layer and layer.resolution_timeline:
            console.print(
                f"[bold]{layer.label}[/bold]: {layer.resolution_timeline} "
                f"(key companies: {', '.join(layer.key_companies)}; relief: {layer.relief})"
            )


@app.command("bottleneck")
def bottleneck_command(
    scenario: Annotated[
        str, typer.Argument(help="a built-in scenario name or a YAML/TOML file")
    ] = "default",
    steps: Annotated[int, typer.Option(help="cascade steps")] = 5,
    factor: Annotated[float, typer.Option(help="cascade relief factor of a layer")] = 2.0,
    probe: Annotated[
        float, typer.Option(help="probe factor that decides the binding layer")
    ] = 1.25,
    products: Annotated[
        bool,
        typer.Option("--products", help="relieve hardware with the next real accelerator"),
    ] = False,
    relax: Annotated[
        list[str] | None, typer.Option(help="start with a layer widened: layer=factor")
    ] = None,
    sensitivity: Annotated[
        bool, typer.Option("--sensitivity/--no-sensitivity", help="elasticities (±10 %)")
    ] = True,
    as_json: Annotated[bool, typer.Option("--json", help="print one JSON object")] = False,
) -> None:
    """Which layer binds a deployment, every layer's headroom, the cascade and sensitivities."""
    bm = bottleneck_map(
        load_scenario(scenario),
        cascade_steps=steps,
        probe_factor=probe,
        cascade_factor=factor,
        products=products,
        sensitivity=sensitivity,
        relax=parse_relax(relax or []),
    )
    if as_json:
        print(json.dumps(bm.to_dict(), indent=2))
        return
    print_map(bm)

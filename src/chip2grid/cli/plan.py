"""``chip2grid plan``: the cheapest configuration that serves a demand within SLOs."""

from __future__ import annotations

import dataclasses
import json
import math
from typing import Annotated, Any

import typer
from rich.table import Table

from chip2grid.cli.app import InputTokensCv, OutputTokensCv, app, console
from chip2grid.errors import InvalidParameterError
from chip2grid.facility import accelerators_with_platform, default_platform_for
from chip2grid.jsonable import jsonable
from chip2grid.perf.estimate import length_spread_label
from chip2grid.plan import Plan, PlanOption, PlanRequest, plan
from chip2grid.scenario import get_model_or_config

SECONDS_PER_DAY = 86_400.0


def _csv(name: str, text: str) -> tuple[str, ...]:
    items = tuple(x.strip() for x in text.split(",") if x.strip())
    if not items:
        raise InvalidParameterError(name, text, "a comma-separated list")
    return items


def option_to_dict(o: PlanOption) -> dict[str, Any]:
    data = dataclasses.asdict(o)
    data["label"] = o.label
    return data


def plan_to_dict(p: Plan) -> dict[str, Any]:
    """The JSON object of ``chip2grid plan --json``."""
    req = dataclasses.asdict(p.request)
    req["model"] = p.request.model.id
    data: dict[str, Any] = jsonable(
        {
            "request": req,
            "chosen": option_to_dict(p.chosen),
            "pareto": [option_to_dict(o) for o in p.pareto],
            "runners_up": [option_to_dict(o) for o in p.runners_up],
            "num_candidates": p.num_candidates,
            "num_feasible": p.num_feasible,
            "screen_s": p.screen_s,
            "simulate_s": p.simulate_s,
            "candidates_per_s": p.candidates_per_s,
            "num_checked": p.num_checked,
            "num_simulated": p.num_simulated,
            "num_steady_state_only": p.num_steady_state_only,
        }
    )
    return data


def _not_simulated_why(o: PlanOption) -> str:
    if o.steady_state_only:
        return "the serving simulator does not model disaggregated prefill/decode pools"
    return "--no-simulate"


def _stage_two(p: Plan) -> str:
    """What stage two did, counting only what the simulator ran."""
    if p.num_simulated == 0 and p.num_steady_state_only == 0:
        return f"best {p.num_checked} not simulated (--no-simulate)"
    text = f"{p.num_simulated} of the best {p.num_checked} simulated in {p.simulate_s:.2f} s"
    if p.num_steady_state_only:
        text += (
            f", {p.num_steady_state_only} checked in steady state only (disaggregated pools, "
            "which the serving simulator does not model)"
        )
    return text


@app.command("plan")
def plan_command(
    model: Annotated[str, typer.Option(help="catalog model id or config.json")] = "llama-3.3-70b",
    input_tokens: Annotated[float, typer.Option(help="mean prompt tokens")] = 2048,
    output_tokens: Annotated[float, typer.Option(help="mean output tokens")] = 256,
    input_tokens_cv: InputTokensCv = 0.0,
    output_tokens_cv: OutputTokensCv = 0.0,
    demand: Annotated[float | None, typer.Option(help="demand in requests per second")] = None,
    tokens_per_day: Annotated[
        float | None, typer.Option(help="demand in output tokens per day (instead of --demand)")
    ] = None,
    ttft_slo: Annotated[float, typer.Option(help="TTFT target, seconds")] = 0.5,
    tpot_slo: Annotated[float, typer.Option(help="TPOT target, seconds")] = 0.05,
    accelerators: Annotated[
        str | None, typer.Option(help="comma-separated accelerator ids; default: all with a server")
    ] = None,
    precisions: Annotated[str, typer.Option(help="comma-separated precisions")] = "fp8,bf16",
    engine: Annotated[str, typer.Option(help="serving engine profile")] = "tensorrt-llm",
    region: Annotated[str, typer.Option(help="region id")] = "us-virginia",
    cooling: Annotated[str, typer.Option(help="cooling id")] = "dlc",
    energy: Annotated[str, typer.Option(help="energy source id")] = "grid",
    site_mw: Annotated[float | None, typer.Option(help="site power cap, MW (facility)")] = None,
    budget_usd: Annotated[float | None, typer.Option(help="capital budget, USD")] = None,
    speculative: Annotated[
        str,
        typer.Option(
            help="speculative-decoding settings to search: 'auto' (off and every catalog setting "
            "for the model), or a comma-separated list of 'off' and catalog ids; "
            "'--speculative off' excludes speculative decoding"
        ),
    ] = "auto",
    disaggregated: Annotated[
        bool,
        typer.Option(
            "--disaggregated/--no-disaggregated",
            help="also screen separate prefill and decode pools (checked in steady state "
            "only: the simulator has no separate pools); --no-disaggregated excludes them",
        ),
    ] = True,
    top_k: Annotated[int, typer.Option(help="best distinct candidates checked in stage two")] = 20,
    simulate: Annotated[
        bool, typer.Option("--simulate/--no-simulate", help="check the best K by simulation")
    ] = True,
    as_json: Annotated[bool, typer.Option("--json", help="print one JSON object")] = False,
) -> None:
    """Search accelerator x TP x PP x EP x precision x batch cap x token budget x speculative
    decoding x aggregated or disaggregated serving for the cheapest configuration that serves
    the demand within the SLOs. Each candidate's TTFT/TPOT are the steady state at its share of
    the demand (demand / replicas, per pool when disaggregated). The best K are then simulated
    (speculative candidates with their catalog setting); disaggregated candidates, which the
    simulator does not model, are checked in steady state only, counted apart and flagged."""
    if (demand is None) == (tokens_per_day is None):
        raise InvalidParameterError(
            "--demand", demand, "exactly one of --demand (requests/s) or --tokens-per-day"
        )
    for option, value in (("--demand", demand), ("--tokens-per-day", tokens_per_day)):
        if value is not None and not (value > 0 and math.isfinite(value)):
            raise InvalidParameterError(option, value, "a finite number > 0")
    rate = (
        demand
        if demand is not None
        else float(tokens_per_day or 0) / SECONDS_PER_DAY / output_tokens
    )
    if top_k < 1:
        raise InvalidParameterError("--top-k", top_k, "an integer >= 1")
    if site_mw is not None and not site_mw > 0:
        raise InvalidParameterError("--site-mw", site_mw, "megawatts > 0")
    accs = (
        _csv("--accelerators", accelerators)
        if accelerators
        else tuple(accelerators_with_platform())
    )
    for acc in accs:
        default_platform_for(acc)  # unknown ids and accelerators without a server stop here
    req = PlanRequest(
        model=get_model_or_config(model),
        input_tokens=input_tokens,
        output_tokens=output_tokens,
        input_tokens_cv=input_tokens_cv,
        output_tokens_cv=output_tokens_cv,
        demand_requests_per_s=rate,
        ttft_slo_s=ttft_slo,
        tpot_slo_s=tpot_slo,
        accelerators=accs,
        precisions=_csv("--precisions", precisions),
        engine=engine,
        region=region,
        cooling=cooling,
        energy=energy,
        site_power_cap_w=site_mw * 1e6 if site_mw else None,
        budget_usd=budget_usd,
        speculative=None if speculative == "auto" else _csv("--speculative", speculative),
        disaggregated=disaggregated,
    )
    result = plan(req, top_k=top_k, simulate_top=simulate)
    if as_json:
        print(json.dumps(plan_to_dict(result), indent=2))
        return
    c = result.chosen
    label = length_spread_label(input_tokens_cv, output_tokens_cv)
    spread = f", {label}" if label else ""
    console.print(
        f"[bold]plan[/bold]: {req.model.id}, {rate:.2f} requests/s ({req.input_tokens:.0f} in / "
        f"{req.output_tokens:.0f} out{spread}), TTFT <= {ttft_slo * 1e3:.0f} ms, TPOT <= "
        f"{tpot_slo * 1e3:.0f} ms: {result.num_candidates:,} candidates screened in "
        f"{result.screen_s:.2f} s ({result.num_feasible:,} feasible); {_stage_two(result)}"
    )
    console.print(
        f"[bold green]chosen[/bold green]: {c.label} = {c.num_accelerators} accelerators, "
        f"${c.cost_usd_per_mtok:.3f}/Mtok in+out (blended), TTFT {c.ttft_s * 1e3:.0f} ms / TPOT "
        f"{c.tpot_s * 1e3:.1f} ms (steady state)"
        + (
            f", simulated p90 {c.sim_ttft_s_p90 * 1e3:.0f} / {c.sim_tpot_s_p90 * 1e3:.1f} ms"
            if c.sim_ttft_s_p90 is not None and c.sim_tpot_s_p90 is not None
            else f", NOT simulated ({_not_simulated_why(c)})"
        )
        + f", {c.energy_j_per_output_token:.2f} J/token at the meter, "
        f"{c.facility_power_w / 1e3:,.0f} kW"
    )
    table = Table(
        "runner-up", "$/Mtok in+out", "why it lost", title="runners-up", title_justify="left"
    )
    for o in result.runners_up[:10]:
        table.add_row(o.label, f"{o.cost_usd_per_mtok:.4f}", o.verdict)
    console.print(table)
    front = Table(
        "Pareto front", "$/Mtok in+out", "TTFT ms", "TPOT ms", "J/token", title_justify="left"
    )
    for o in sorted(result.pareto, key=lambda o: o.cost_usd_per_mtok)[:12]:
        front.add_row(
            o.label,
            f"{o.cost_usd_per_mtok:.4f}",
            f"{o.ttft_s * 1e3:.0f}",
            f"{o.tpot_s * 1e3:.1f}",
            f"{o.energy_j_per_output_token:.2f}",
        )
    console.print(front)

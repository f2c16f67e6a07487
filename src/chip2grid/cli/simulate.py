"""``chip2grid simulate``: replay a trace (or a synthetic load) through the serving simulator."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import typer
from rich.progress import Progress
from rich.table import Table

import chip2grid as c2g
from chip2grid.cli.app import (
    DEFAULT_DEPLOYMENT,
    _parse_split,
    app,
    best_deployment,
    console,
)
from chip2grid.errors import InvalidParameterError
from chip2grid.jsonable import jsonable
from chip2grid.serving import (
    ARCHETYPES,
    MOONCAKE_BLOCK_TOKENS,
    ROUTERS,
    RequestTrace,
    agent_trace,
    synthetic_trace,
)
from chip2grid.serving.export import write_chrome_trace, write_requests_csv
from chip2grid.units import GIB


@app.command("simulate")
def simulate_command(
    model: Annotated[str, typer.Option(help="catalog model id")] = DEFAULT_DEPLOYMENT["model"],
    accelerator: Annotated[str, typer.Option(help="catalog accelerator id")] = DEFAULT_DEPLOYMENT[
        "accelerator"
    ],
    num_accelerators: Annotated[int, typer.Option(help="accelerators in the deployment")] = 8,
    tp: Annotated[str, typer.Option(help="tensor parallelism per replica, or auto")] = "auto",
    pp: Annotated[str, typer.Option(help="pipeline parallelism per replica, or auto")] = "auto",
    ep: Annotated[str, typer.Option(help="expert parallelism per replica, or auto")] = "auto",
    weight_precision: Annotated[str, typer.Option(help="bf16, fp8, int8, fp4, int4 ...")] = "fp8",
    kv_precision: Annotated[str, typer.Option(help="KV-cache precision, or auto")] = "auto",
    engine: Annotated[
        str, typer.Option(help="tensorrt-llm, tensorrt-llm-pytorch, vllm, vllm-v1, sglang")
    ] = "tensorrt-llm",
    trace: Annotated[
        Path | None,
        typer.Option(help="Azure CSV, Mooncake JSONL, or generic CSV/JSONL request trace"),
    ] = None,
    num_requests: Annotated[int, typer.Option(help="synthetic load: requests")] = 2000,
    request_rate: Annotated[float, typer.Option(help="synthetic load: requests per second")] = 4.0,
    burstiness_cv: Annotated[
        float,
        typer.Option(help="synthetic load: arrival-gap coefficient of variation (1 = Poisson)"),
    ] = 1.0,
    input_tokens: Annotated[int, typer.Option(help="synthetic load: prompt tokens")] = 1024,
    output_tokens: Annotated[int, typer.Option(help="synthetic load: generated tokens")] = 256,
    seed: Annotated[int, typer.Option(help="seed of the synthetic arrivals")] = 0,
    archetype: Annotated[
        str,
        typer.Option(
            help="synthetic load: fixed (fixed lengths) or agent (multi-turn sessions on a "
            "growing shared prefix; --input-tokens is each turn's new input)"
        ),
    ] = "fixed",
    turns_per_session: Annotated[int, typer.Option(help="agent load: turns per session")] = 8,
    system_prompt_tokens: Annotated[
        int, typer.Option(help="agent load: system prompt shared by every session")
    ] = 2048,
    hash_block_tokens: Annotated[
        int, typer.Option(help="tokens per prefix hash in a JSONL trace (Mooncake: 512)")
    ] = MOONCAKE_BLOCK_TOKENS,
    max_num_seqs: Annotated[int | None, typer.Option(help="cap on the running batch")] = None,
    max_num_batched_tokens: Annotated[
        int | None, typer.Option(help="token budget of one step")
    ] = None,
    block_size: Annotated[int, typer.Option(help="tokens per KV-cache block")] = 16,
    gpu_memory_utilization: Annotated[
        float | None, typer.Option(help="memory fraction the engine may use")
    ] = None,
    chunked_prefill: Annotated[
        bool | None,
        typer.Option("--chunked-prefill/--no-chunked-prefill", help="engine default if unset"),
    ] = None,
    kv_reservation: Annotated[
        str | None, typer.Option(help="on_demand (vLLM, preempts) or full (TensorRT-LLM)")
    ] = None,
    enable_prefix_caching: Annotated[
        bool,
        typer.Option(
            "--enable-prefix-caching/--no-enable-prefix-caching",
            help="reuse cached prompt blocks named by the trace's hashes (vLLM's APC)",
        ),
    ] = False,
    preemption_mode: Annotated[
        str,
        typer.Option(help="recompute (prefill again) or swap (KV to host memory and back)"),
    ] = "recompute",
    swap_space_gib: Annotated[
        float, typer.Option(help="host swap space per accelerator, GiB (vLLM's --swap-space)")
    ] = 4.0,
    speculative: Annotated[
        str | None, typer.Option(help="speculative decoding: mtp or draft (off if unset)")
    ] = None,
    num_speculative_tokens: Annotated[int, typer.Option(help="tokens drafted per step")] = 2,
    acceptance_rate: Annotated[
        float, typer.Option(help="per-token acceptance rate of drafts")
    ] = 0.7,
    draft_model: Annotated[str | None, typer.Option(help="catalog id of the draft model")] = None,
    router: Annotated[
        str,
        typer.Option(help="request router across replicas: " + ", ".join(ROUTERS)),
    ] = "round-robin",
    ttft_slo: Annotated[float, typer.Option(help="goodput SLO on TTFT, seconds")] = 2.0,
    tpot_slo: Annotated[float, typer.Option(help="goodput SLO on TPOT, seconds")] = 0.1,
    step_by_step: Annotated[
        bool, typer.Option("--step-by-step", help="exact slow path: one step per iteration")
    ] = False,
    export_requests: Annotated[
        Path | None, typer.Option(help="write one CSV row per request here")
    ] = None,
    export_steps: Annotated[
        Path | None, typer.Option(help="write engine steps as a Chrome/Perfetto trace JSON")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print one JSON object")] = False,
) -> None:
    """Simulate a deployment serving a request trace: latency percentiles, goodput, KV cache,
    preemptions, energy per token."""
    if num_accelerators < 1:
        raise InvalidParameterError("--num-accelerators", num_accelerators, "an integer >= 1")
    for name, value in (("--ttft-slo", ttft_slo), ("--tpot-slo", tpot_slo)):
        if not value > 0:
            raise InvalidParameterError(name, value, "seconds > 0")
    if trace is None:
        for name, value in (
            ("--num-requests", num_requests),
            ("--input-tokens", input_tokens),
            ("--output-tokens", output_tokens),
        ):
            if value < 1:
                raise InvalidParameterError(name, value, "an integer >= 1")
        if not request_rate > 0:
            raise InvalidParameterError("--request-rate", request_rate, "requests per second > 0")
    requests = _requests(
        trace,
        archetype,
        num_requests,
        request_rate,
        input_tokens,
        output_tokens,
        burstiness_cv,
        seed,
        turns_per_session,
        system_prompt_tokens,
        hash_block_tokens,
    )
    arch = c2g.get_model(model)
    acc = c2g.get_accelerator(accelerator)
    c2g.get_engine(engine)
    base: dict[str, Any] = dict(
        model=arch,
        accelerator=acc,
        num_accelerators=num_accelerators,
        weight_precision=weight_precision,
        kv_precision=kv_precision,
        engine=engine,
    )
    fixed = {name: _parse_split(name, v) for name, v in (("tp", tp), ("pp", pp), ("ep", ep))}
    tp_n, pp_n, ep_n = fixed["tp"], fixed["pp"], fixed["ep"]
    if tp_n is not None and pp_n is not None and ep_n is not None:
        dep = c2g.Deployment(tp=tp_n, pp=pp_n, ep=ep_n, **base)
    else:
        isl = float(np.mean(requests.input_tokens)) if requests.num_requests else 1.0
        osl = float(np.mean(requests.output_tokens)) if requests.num_requests else 1.0
        dep, _ = best_deployment(
            base,
            c2g.Workload(input_tokens=isl, output_tokens=osl),
            c2g.Load(mode="max_load"),
            fix_tp=fixed["tp"],
            fix_pp=fixed["pp"],
            fix_ep=fixed["ep"],
        )
    config = c2g.engine_config_for(
        dep,
        max_num_seqs=max_num_seqs,
        max_num_batched_tokens=max_num_batched_tokens,
        block_size=block_size,
        gpu_memory_utilization=gpu_memory_utilization,
        enable_chunked_prefill=chunked_prefill,
        kv_reservation=kv_reservation,
        enable_prefix_caching=enable_prefix_caching,
        preemption_mode=preemption_mode,
        swap_space_bytes=swap_space_gib * GIB,
        speculative=c2g.SpeculativeDecoding(
            method=speculative,  # type: ignore[arg-type]
            num_speculative_tokens=num_speculative_tokens,
            acceptance_rate=acceptance_rate,
            draft_model=c2g.get_model(draft_model) if draft_model else None,
        )
        if speculative
        else None,
        seed=seed,
    )
    with Progress(console=console, transient=True, disable=as_json) as bar:
        task = bar.add_task("simulating replicas", total=dep.num_replicas)
        result = c2g.simulate(
            dep,
            requests,
            config=config,
            router=router,
            step_by_step=step_by_step,
            progress=lambda done, total: bar.update(task, completed=done, total=total),
        )
    summary = result.summary(ttft_slo_s=ttft_slo, tpot_slo_s=tpot_slo)
    summary["trace"] = requests.source or (str(trace) if trace else "synthetic")
    if export_requests is not None:
        summary["requests_csv"] = str(export_requests)
        write_requests_csv(result, export_requests)
    if export_steps is not None:
        summary["steps_trace_json"] = str(export_steps)
        write_chrome_trace(result, export_steps)
    if as_json:
        print(json.dumps(jsonable(summary), indent=2))
        return
    _print_summary(summary)


def _requests(
    trace: Path | None,
    archetype: str,
    num_requests: int,
    request_rate: float,
    input_tokens: int,
    output_tokens: int,
    burstiness_cv: float,
    seed: int,
    turns_per_session: int,
    system_prompt_tokens: int,
    hash_block_tokens: int,
) -> RequestTrace:
    if trace is not None:
        return c2g.load_trace(trace, block_tokens=hash_block_tokens)
    if archetype not in ARCHETYPES:
        raise InvalidParameterError("--archetype", archetype, " or ".join(ARCHETYPES))
    if archetype == "agent":
        return agent_trace(
            num_requests,
            request_rate,
            input_tokens,
            output_tokens,
            turns_per_session=turns_per_session,
            system_prompt_tokens=system_prompt_tokens,
            seed=seed,
        )
    return synthetic_trace(
        num_requests, request_rate, input_tokens, output_tokens, burstiness_cv, seed
    )


def _fmt_pct(p: Any, scale: float = 1e3, unit: str = "ms") -> str:
    return " / ".join(f"{p[k] * scale:.1f}" for k in ("p50", "p90", "p99")) + f" {unit}"


def _print_summary(s: dict[str, Any]) -> None:
    table = Table(title="chip2grid simulate", show_header=False, title_justify="left")
    table.add_column("quantity", style="bold")
    table.add_column("value")
    rows = [
        (
            "deployment",
            f"{s['model']} on {s['num_accelerators']} x {s['accelerator']}, {s['layout']}",
        ),
        ("engine", f"{s['engine']} ({s['calibration']})"),
        ("replicas", f"{s['num_replicas']}, router {s['router']}"),
        ("trace", str(s["trace"])),
        ("requests", f"{s['num_requests']} ({s['num_rejected']} rejected)"),
        ("simulated time", f"{s['simulated_duration_s']:.1f} s"),
        (
            "throughput",
            f"{s['output_tokens_per_s']:.0f} output tok/s, {s['requests_per_s']:.2f} req/s",
        ),
        ("TTFT p50/p90/p99", _fmt_pct(s["ttft_s"])),
        ("TPOT p50/p90/p99", _fmt_pct(s["tpot_s"])),
        ("E2E p50/p90/p99", _fmt_pct(s["e2e_latency_s"], 1.0, "s")),
        (
            "goodput",
            f"{s.get('goodput_requests_per_s', float('nan')):.2f} req/s within "
            f"TTFT <= {s['slo']['ttft_s']:g} s and TPOT <= {s['slo']['tpot_s']:g} s",
        ),
        (
            "KV cache",
            f"peak {s['kv_cache_peak_frac']:.0%}, {s['num_preemptions']} preemptions "
            f"({s['num_swaps']} by swap, {s['swap_transfer_s']:.2f} s of transfers)",
        ),
        (
            "prefix cache",
            f"{s['prefix_cache_hit_frac']:.1%} of prompt tokens cached"
            if s["engine_config"]["enable_prefix_caching"]
            else "off",
        ),
        ("busy", f"{s['busy_frac']:.0%} of the time"),
        (
            "energy",
            f"{s['energy_j_per_output_token']:.3f} J/output token (accelerators), "
            f"{s['system_energy_j_per_output_token']:.3f} J (servers)",
        ),
    ]
    for name, value in rows:
        table.add_row(name, value)
    console.print(table)

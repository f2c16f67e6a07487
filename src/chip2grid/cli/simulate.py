"""``chip2grid simulate``: replay a trace (or a synthetic load) through the serving simulator."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import Progress
from rich.table import Table

import chip2grid as c2g
from chip2grid.cli.app import (
    DEFAULT_DEPLOYMENT,
    AcceptanceLength,
    AcceptanceRate,
    AllreduceQuantization,
    KvPrecision,
    NcclNvls,
    ScaleUpDomainSize,
    ScaleUpTopology,
    _parse_split,
    app,
    best_deployment,
    console,
    speculative_options,
)
from chip2grid.errors import InvalidParameterError
from chip2grid.jsonable import jsonable
from chip2grid.serving import (
    ARCHETYPES,
    DAY_S,
    MOONCAKE_BLOCK_TOKENS,
    REQUEST_FORMATS,
    ROUTERS,
    AutoscalePolicy,
    ClosedLoop,
    LengthDist,
    RequestTrace,
    archetype_trace,
    lengths_trace,
    parse_diurnal,
    parse_length_dist,
    simulate_autoscaled,
    simulate_closed_loop,
    simulate_disaggregated,
    synthetic_trace,
)
from chip2grid.serving.export import write_chrome_trace, write_requests
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
    kv_precision: KvPrecision = "auto",
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
        float | None,
        typer.Option(
            help="synthetic load: arrival-gap coefficient of variation (1 = Poisson; "
            "default: the archetype's, 1 for fixed)"
        ),
    ] = None,
    input_tokens: Annotated[
        int | None,
        typer.Option(help="synthetic load: prompt tokens, fixed (default 1024 for fixed)"),
    ] = None,
    output_tokens: Annotated[
        int | None,
        typer.Option(help="synthetic load: generated tokens, fixed (default 256 for fixed)"),
    ] = None,
    seed: Annotated[int, typer.Option(help="seed of the synthetic arrivals")] = 0,
    archetype: Annotated[
        str,
        typer.Option(
            help="synthetic load: fixed (fixed lengths), or a catalog workload with sourced "
            "defaults: chat, code, rag, reasoning, agent (multi-turn sessions on a growing "
            "shared prefix; --input-tokens is each turn's new input), batch"
        ),
    ] = "fixed",
    input_dist: Annotated[
        str | None,
        typer.Option(
            help="prompt lengths: N, normal:MEAN:STD, lognormal:MEDIAN:SIGMA or "
            "empirical:PATH (a CSV/JSONL with input/output token columns)"
        ),
    ] = None,
    output_dist: Annotated[str | None, typer.Option(help="output lengths, as --input-dist")] = None,
    diurnal: Annotated[
        str | None,
        typer.Option(
            help="PEAK_TO_TROUGH[:PEAK_HOUR]: a sinusoidal 24-hour rate curve around "
            "--request-rate (non-homogeneous Poisson arrivals)"
        ),
    ] = None,
    day_length_s: Annotated[
        float, typer.Option(help="diurnal load: seconds the 24-hour curve spans")
    ] = DAY_S,
    closed_loop_users: Annotated[
        int | None,
        typer.Option(
            help="closed loop: N users, each sending its next request a think time after "
            "its previous one completes (--request-rate is then unused)"
        ),
    ] = None,
    think_time: Annotated[
        float | None,
        typer.Option(help="closed loop: mean think time, seconds (exponential; default 0)"),
    ] = None,
    turns_per_session: Annotated[int, typer.Option(help="agent load: turns per session")] = 8,
    system_prompt_tokens: Annotated[
        int, typer.Option(help="agent load: system prompt shared by every session")
    ] = 2048,
    hash_block_tokens: Annotated[
        int, typer.Option(help="tokens per prefix hash in a JSONL trace (Mooncake: 512)")
    ] = MOONCAKE_BLOCK_TOKENS,
    max_num_seqs: Annotated[int | None, typer.Option(help="cap on the running batch")] = None,
    static_batching: Annotated[
        bool,
        typer.Option(
            "--static-batching",
            help="static batches: an idle engine takes up to --batch-size queued requests and "
            "runs them until the last one finishes (arrivals wait for the next batch; "
            "tensorrt-llm becomes tensorrt-llm-static, as in chip2grid estimate)",
        ),
    ] = False,
    batch_size: Annotated[
        int | None,
        typer.Option(help="static batch size (with --static-batching; default: the engine's)"),
    ] = None,
    static_batch_timeout: Annotated[
        float,
        typer.Option(
            help="static batching: seconds an idle engine waits after the oldest queued "
            "arrival for a fuller batch (0: it takes what is queued)"
        ),
    ] = 0.0,
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
    num_speculative_tokens: Annotated[
        int | None, typer.Option(help="tokens drafted per step (default 2)")
    ] = None,
    acceptance_rate: AcceptanceRate = None,
    acceptance_length: AcceptanceLength = None,
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
        Path | None,
        typer.Option(help="write one row per request here: .csv or .parquet (by suffix)"),
    ] = None,
    export_steps: Annotated[
        Path | None, typer.Option(help="write engine steps as a Chrome/Perfetto trace JSON")
    ] = None,
    prefill_replicas: Annotated[
        int,
        typer.Option(
            help="disaggregated serving: prefill instances (with --decode-replicas; 0: aggregated)"
        ),
    ] = 0,
    decode_replicas: Annotated[int, typer.Option(help="disaggregated: decode instances")] = 0,
    prefill_tp: Annotated[int, typer.Option(help="disaggregated: TP of a prefill instance")] = 1,
    decode_tp: Annotated[int, typer.Option(help="disaggregated: TP of a decode instance")] = 1,
    autoscale_target: Annotated[
        float,
        typer.Option(
            help="autoscale replicas of one --tp/--pp instance to this many outstanding "
            "requests per replica (0: off)"
        ),
    ] = 0.0,
    min_replicas: Annotated[int, typer.Option(help="autoscale: fewest replicas")] = 1,
    max_replicas: Annotated[int, typer.Option(help="autoscale: most replicas")] = 8,
    scale_interval: Annotated[float, typer.Option(help="autoscale: seconds between checks")] = 15.0,
    scale_up_delay: Annotated[
        float, typer.Option(help="autoscale: seconds until a new replica serves")
    ] = 120.0,
    scale_down_cooldown: Annotated[
        float, typer.Option(help="autoscale: idle seconds before a replica is drained")
    ] = 300.0,
    scale_up_domain_size: ScaleUpDomainSize = 0,
    scale_up_topology: ScaleUpTopology = "",
    allreduce_quantization: AllreduceQuantization = "none",
    nccl_nvls: NcclNvls = "auto",
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
        for name, opt_value in (
            ("--num-requests", num_requests),
            ("--input-tokens", input_tokens),
            ("--output-tokens", output_tokens),
        ):
            if opt_value is not None and opt_value < 1:
                raise InvalidParameterError(name, opt_value, "an integer >= 1")
        if not request_rate > 0:
            raise InvalidParameterError("--request-rate", request_rate, "requests per second > 0")
    if export_requests is not None and export_requests.suffix.lower() not in REQUEST_FORMATS:
        raise InvalidParameterError(
            "--export-requests", str(export_requests), "a path ending in .csv or .parquet"
        )
    engine = _batching_engine(
        engine, static_batching, batch_size, max_num_seqs, static_batch_timeout
    )
    cluster = _cluster_mode(
        prefill_replicas,
        decode_replicas,
        autoscale_target,
        closed_loop_users,
        export_requests,
        export_steps,
        step_by_step,
    )
    loop = _closed_loop(closed_loop_users, think_time, archetype, trace, diurnal)
    requests = request_trace(
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
        input_dist,
        output_dist,
        diurnal,
        day_length_s,
    )
    arch = c2g.get_model(model)
    acc = c2g.get_accelerator(accelerator).with_scale_up(scale_up_domain_size, scale_up_topology)
    c2g.get_engine(engine)
    base: dict[str, Any] = dict(
        model=arch,
        accelerator=acc,
        num_accelerators=num_accelerators,
        weight_precision=weight_precision,
        kv_precision=kv_precision,
        engine=engine,
        allreduce_quantization=allreduce_quantization,
        nccl_nvls=nccl_nvls,
    )
    speculation = speculative_options(
        speculative, num_speculative_tokens, acceptance_rate, draft_model, acceptance_length
    )

    def configure(deployment: c2g.Deployment) -> c2g.EngineConfig:
        return c2g.engine_config_for(
            deployment,
            max_num_seqs=batch_size or max_num_seqs,
            max_num_batched_tokens=max_num_batched_tokens,
            block_size=block_size,
            gpu_memory_utilization=gpu_memory_utilization,
            enable_chunked_prefill=chunked_prefill,
            kv_reservation=kv_reservation,
            enable_prefix_caching=enable_prefix_caching,
            preemption_mode=preemption_mode,
            swap_space_bytes=swap_space_gib * GIB,
            speculative=speculation,
            seed=seed,
            batching="static" if static_batching else "continuous",
            static_batch_timeout_s=static_batch_timeout,
        )

    if cluster == "disaggregated":
        pools = []
        for name, replicas, pool_tp in (
            ("--prefill", prefill_replicas, prefill_tp),
            ("--decode", decode_replicas, decode_tp),
        ):
            if pool_tp < 1:
                raise InvalidParameterError(f"{name}-tp", pool_tp, "an integer >= 1")
            pools.append(
                c2g.Deployment(**{**base, "num_accelerators": replicas * pool_tp}, tp=pool_tp)
            )
        dis = simulate_disaggregated(
            pools[0],
            pools[1],
            requests,
            prefill_config=configure(pools[0]),
            decode_config=configure(pools[1]),
        )
        _report_cluster(dis.summary(), requests, trace, as_json)
        return
    fixed = {name: _parse_split(name, v) for name, v in (("tp", tp), ("pp", pp), ("ep", ep))}
    tp_n, pp_n, ep_n = fixed["tp"], fixed["pp"], fixed["ep"]
    if tp_n is not None and pp_n is not None and ep_n is not None:
        dep = c2g.Deployment(tp=tp_n, pp=pp_n, ep=ep_n, **base)
    else:
        workload = (
            requests.workload()
            if requests.num_requests
            else c2g.Workload(input_tokens=1.0, output_tokens=1.0)
        )
        dep, _ = best_deployment(
            base,
            workload,
            c2g.Load(mode="max_load"),
            fix_tp=fixed["tp"],
            fix_pp=fixed["pp"],
            fix_ep=fixed["ep"],
        )
    config = configure(dep)
    if cluster == "autoscale":
        policy = AutoscalePolicy(
            target=autoscale_target,
            min_replicas=min_replicas,
            max_replicas=max_replicas,
            interval_s=scale_interval,
            scale_up_delay_s=scale_up_delay,
            scale_down_cooldown_s=scale_down_cooldown,
        )
        scaled = simulate_autoscaled(dep, requests, policy, config=config)
        _report_cluster(scaled.summary(), requests, trace, as_json)
        return
    with Progress(console=console, transient=True, disable=as_json) as bar:
        task = bar.add_task("simulating replicas", total=dep.num_replicas)
        if loop is None:
            result = c2g.simulate(
                dep,
                requests,
                config=config,
                router=router,
                step_by_step=step_by_step,
                progress=lambda done, total: bar.update(task, completed=done, total=total),
            )
            summary = result.summary(ttft_slo_s=ttft_slo, tpot_slo_s=tpot_slo)
        else:
            looped = simulate_closed_loop(
                dep,
                requests,
                loop,
                config=config,
                router=router,
                seed=seed,
                step_by_step=step_by_step,
                progress=lambda done, total: bar.update(task, completed=done, total=total),
            )
            result = looped.serving
            summary = looped.summary(ttft_slo_s=ttft_slo, tpot_slo_s=tpot_slo)
    summary["trace"] = requests.source or (str(trace) if trace else "synthetic")
    if export_requests is not None:
        key = "requests_parquet" if export_requests.suffix.lower() == ".parquet" else "requests_csv"
        summary[key] = str(export_requests)
        write_requests(result, export_requests, name="--export-requests")
    if export_steps is not None:
        summary["steps_trace_json"] = str(export_steps)
        write_chrome_trace(result, export_steps)
    if as_json:
        print(json.dumps(jsonable(summary), indent=2))
        return
    _print_summary(summary)


def _batching_engine(
    engine: str,
    static_batching: bool,
    batch_size: int | None,
    max_num_seqs: int | None,
    timeout_s: float,
) -> str:
    """The engine to simulate, with the static-batching options checked: TensorRT-LLM's
    static batches run as its ``tensorrt-llm-static`` entry, as ``chip2grid estimate`` does."""
    if not static_batching:
        for name, given in (
            ("--batch-size", batch_size is not None),
            ("--static-batch-timeout", timeout_s != 0.0),
        ):
            if given:
                value = batch_size if name == "--batch-size" else timeout_s
                raise InvalidParameterError(
                    name,
                    value,
                    "only with --static-batching (use --max-num-seqs to cap a continuous batch)",
                )
        return engine
    if batch_size is not None and batch_size < 1:
        raise InvalidParameterError("--batch-size", batch_size, "an integer >= 1")
    if batch_size is not None and max_num_seqs is not None:
        raise InvalidParameterError(
            "--max-num-seqs", max_num_seqs, "unset with --batch-size (it is the batch size)"
        )
    if not 0.0 <= timeout_s < float("inf"):
        raise InvalidParameterError("--static-batch-timeout", timeout_s, "seconds >= 0")
    return "tensorrt-llm-static" if engine == "tensorrt-llm" else engine


def _cluster_mode(
    prefill_replicas: int,
    decode_replicas: int,
    autoscale_target: float,
    closed_loop_users: int | None,
    export_requests: Path | None,
    export_steps: Path | None,
    step_by_step: bool,
) -> str | None:
    """``disaggregated``, ``autoscale`` or None (one aggregated pool), with the options checked."""
    for name, value in (
        ("--prefill-replicas", prefill_replicas),
        ("--decode-replicas", decode_replicas),
    ):
        if value < 0:
            raise InvalidParameterError(name, value, "an integer >= 0 (0: aggregated)")
    if not autoscale_target >= 0:
        raise InvalidParameterError("--autoscale-target", autoscale_target, "a number >= 0")
    disaggregated = prefill_replicas > 0 or decode_replicas > 0
    if disaggregated and (prefill_replicas < 1 or decode_replicas < 1):
        raise InvalidParameterError(
            "--prefill-replicas/--decode-replicas",
            f"{prefill_replicas}/{decode_replicas}",
            "both >= 1 for disaggregated serving",
        )
    mode = "disaggregated" if disaggregated else ("autoscale" if autoscale_target > 0 else None)
    if disaggregated and autoscale_target > 0:
        raise InvalidParameterError(
            "--autoscale-target", autoscale_target, "0 with disaggregated pools"
        )
    if mode is not None:
        for name, given in (
            ("--closed-loop-users", closed_loop_users is not None),
            ("--export-requests", export_requests is not None),
            ("--export-steps", export_steps is not None),
            ("--step-by-step", step_by_step),
        ):
            if given:
                raise InvalidParameterError(name, "set", f"not with {mode} serving")
    return mode


def _report_cluster(
    summary: dict[str, Any], requests: RequestTrace, trace: Path | None, as_json: bool
) -> None:
    summary["trace"] = requests.source or (str(trace) if trace else "synthetic")
    if as_json:
        print(json.dumps(jsonable(summary), indent=2))
        return
    table = Table(title="chip2grid simulate", show_header=False, title_justify="left")
    table.add_column("quantity", style="bold")
    table.add_column("value")
    rows = [
        ("mode", str(summary.get("mode", "autoscaled"))),
        ("trace", str(summary["trace"])),
        ("requests", f"{summary['num_requests']} ({summary['num_rejected']} rejected)"),
        ("simulated time", f"{summary['simulated_duration_s']:.1f} s"),
        ("throughput", f"{summary['output_tokens_per_s']:.0f} output tok/s"),
        ("TTFT p50/p90/p99", _fmt_pct(summary["ttft_s"])),
        ("TPOT p50/p90/p99", _fmt_pct(summary["tpot_s"])),
        ("E2E p50/p90/p99", _fmt_pct(summary["e2e_latency_s"], 1.0, "s")),
        ("energy", f"{summary['energy_j_per_output_token']:.3f} J/output token (accelerators)"),
    ]
    if "kv_transfer_s" in summary:
        rows.insert(
            1,
            (
                "pools",
                f"{summary['num_prefill_replicas']} prefill + {summary['num_decode_replicas']} "
                f"decode instances, {summary['num_accelerators']} accelerators",
            ),
        )
        rows.append(("KV transfer p50/p90/p99", _fmt_pct(summary["kv_transfer_s"])))
    for key, value in summary.items():
        if key.startswith(("replica", "num_replicas", "max_replicas", "idle_")) and not isinstance(
            value, dict | list
        ):
            rows.append(
                (key.replace("_", " "), f"{value:,.4g}" if isinstance(value, float) else str(value))
            )
    for name, value in rows:
        table.add_row(name, value)
    console.print(table)


def _closed_loop(
    users: int | None,
    think_time: float | None,
    archetype: str,
    trace: Path | None,
    diurnal: str | None,
) -> ClosedLoop | None:
    if users is None:
        if think_time is not None:
            raise InvalidParameterError("--think-time", think_time, "only with --closed-loop-users")
        return None
    if users < 1:
        raise InvalidParameterError("--closed-loop-users", users, "an integer >= 1")
    if think_time is not None and not 0 <= think_time < float("inf"):
        raise InvalidParameterError("--think-time", think_time, "seconds >= 0")
    if diurnal is not None:
        raise InvalidParameterError(
            "--diurnal", diurnal, "unset with --closed-loop-users (users set the pace)"
        )
    if trace is None and archetype == "agent":
        raise InvalidParameterError(
            "--closed-loop-users", users, "a workload of independent requests, not agent sessions"
        )
    return ClosedLoop(num_users=users, think_time_s=think_time or 0.0)


def request_trace(
    trace: Path | None,
    archetype: str,
    num_requests: int,
    request_rate: float,
    input_tokens: int | None,
    output_tokens: int | None,
    burstiness_cv: float | None,
    seed: int,
    turns_per_session: int,
    system_prompt_tokens: int,
    hash_block_tokens: int,
    input_dist: str | None,
    output_dist: str | None,
    diurnal: str | None,
    day_length_s: float,
) -> RequestTrace:
    """The request stream the workload options describe (shared with simulate-models)."""
    if trace is not None:
        for name, value in (
            ("--input-dist", input_dist),
            ("--output-dist", output_dist),
            ("--diurnal", diurnal),
        ):
            if value is not None:
                raise InvalidParameterError(name, value, "unset with --trace (the trace has them)")
        return c2g.load_trace(trace, block_tokens=hash_block_tokens)
    if archetype not in ARCHETYPES:
        raise InvalidParameterError("--archetype", archetype, " or ".join(ARCHETYPES))
    if not 0 < day_length_s < float("inf"):
        raise InvalidParameterError("--day-length-s", day_length_s, "seconds > 0")
    curve = parse_diurnal(diurnal, "--diurnal") if diurnal is not None else None
    if curve is not None and burstiness_cv is not None:
        raise InvalidParameterError(
            "--burstiness-cv", burstiness_cv, "unset with --diurnal (diurnal load is Poisson)"
        )
    if archetype == "agent":
        unset: tuple[tuple[str, object], ...] = (
            ("--input-dist", input_dist),
            ("--output-dist", output_dist),
            ("--diurnal", diurnal),
            ("--burstiness-cv", burstiness_cv),
        )
        for name, given in unset:
            if given is not None:
                raise InvalidParameterError(
                    name, given, "unset for agent (use --input-tokens, --output-tokens)"
                )
        return archetype_trace(
            "agent",
            num_requests,
            request_rate,
            seed,
            turn_input_tokens=input_tokens,
            output_tokens=output_tokens,
            turns_per_session=turns_per_session,
            system_prompt_tokens=system_prompt_tokens,
        )
    lengths: list[LengthDist | None] = []
    for which, dist, fixed in (
        ("input", input_dist, input_tokens),
        ("output", output_dist, output_tokens),
    ):
        if dist is not None and fixed is not None:
            raise InvalidParameterError(
                f"--{which}-dist", dist, f"unset with --{which}-tokens (one or the other)"
            )
        if dist is not None:
            lengths.append(parse_length_dist(dist, f"--{which}-dist", column=which))
        elif fixed is not None:
            lengths.append(LengthDist.fixed(fixed, name=f"--{which}-tokens"))
        else:
            lengths.append(None)
    if archetype == "fixed":
        if lengths[0] is None and lengths[1] is None and curve is None:
            return synthetic_trace(
                num_requests,
                request_rate,
                input_tokens or 1024,
                output_tokens or 256,
                1.0 if burstiness_cv is None else burstiness_cv,
                seed,
            )
        return lengths_trace(
            num_requests,
            request_rate,
            lengths[0] or LengthDist.fixed(1024),
            lengths[1] or LengthDist.fixed(256),
            burstiness_cv=1.0 if burstiness_cv is None else burstiness_cv,
            diurnal=curve,
            day_s=day_length_s,
            seed=seed,
        )
    return archetype_trace(
        archetype,
        num_requests,
        request_rate,
        seed,
        input_dist=lengths[0],
        output_dist=lengths[1],
        burstiness_cv=burstiness_cv,
        diurnal=curve,
        day_s=day_length_s,
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
        (
            "batching",
            f"static, batches of up to {s['engine_config']['max_num_seqs']}"
            if s["engine_config"]["batching"] == "static"
            else f"continuous, up to {s['engine_config']['max_num_seqs']} sequences",
        ),
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
    loop = s.get("closed_loop")
    if isinstance(loop, dict):
        rows.insert(
            6,
            (
                "closed loop",
                f"{loop['num_users']} users, think {loop['think_time_s']:g} s; "
                f"Little's law: {loop['littles_law_users']:.2f} users",
            ),
        )
    for name, value in rows:
        table.add_row(name, value)
    console.print(table)

"""Typer commands."""

from __future__ import annotations

import json
import math
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

import chip2grid as c2g
from chip2grid.errors import InvalidParameterError
from chip2grid.jsonable import jsonable
from chip2grid.perf.estimate import SLOWER_FRAC, check_draft_model, length_spread_label
from chip2grid.perf.validated import ValidatedFigure
from chip2grid.scenario.schema import Scenario

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="chip2grid: AI inference from chip to grid. Step time, throughput, latency, power per token.",
)
console = Console()

_DEFAULT = Scenario()
DEFAULT_DEPLOYMENT: dict[str, Any] = {
    "model": _DEFAULT.model,
    "accelerator": _DEFAULT.deployment.accelerator,
}
"""The command-line defaults: those of the default scenario (``chip2grid init`` shows it)."""


def estimate_to_dict(est: c2g.Estimate) -> dict[str, Any]:
    """The JSON object of ``chip2grid estimate --json``."""
    data = jsonable(est)
    data["layout"] = {
        "replicas": est.num_replicas,
        "tp": est.tp,
        "pp": est.pp,
        "ep": est.ep,
        "text": est.layout,
    }
    data["prefill_bound"] = est.prefill.bound
    data["decode_bound"] = est.decode.bound
    return data


def _parse_split(name: str, value: str) -> int | None:
    if value.strip().lower() == "auto":
        return None
    try:
        number = int(value)
    except ValueError:
        raise InvalidParameterError(f"--{name}", value, "a positive integer or 'auto'") from None
    if number < 1:
        raise InvalidParameterError(f"--{name}", value, "a positive integer or 'auto'")
    return number


def best_deployment(
    base: dict[str, Any],
    workload: c2g.Workload,
    load: c2g.Load,
    *,
    fix_tp: int | None = None,
    fix_pp: int | None = None,
    fix_ep: int | None = None,
) -> tuple[c2g.Deployment, c2g.Estimate]:
    """The best replica x TP x PP x EP split of ``base`` (the ``fix_*`` values restrict it)."""
    est = c2g.best_layout(
        c2g.Deployment(tp=1, pp=1, ep=1, **base),
        workload,
        load,
        fix_tp=fix_tp,
        fix_pp=fix_pp,
        fix_ep=fix_ep,
    )
    return c2g.Deployment(tp=est.tp, pp=est.pp, ep=est.ep, **base), est


InputTokensCv = Annotated[
    float,
    typer.Option(help="spread of prompt lengths: standard deviation over mean (0: fixed)"),
]
"""``--input-tokens-cv`` of the commands that take a mean request (estimate, plan, cost)."""
OutputTokensCv = Annotated[
    float,
    typer.Option(
        help="spread of generated lengths: standard deviation over mean (0: fixed; about 1 "
        "for chat, more for reasoning)"
    ),
]
"""``--output-tokens-cv`` of the same commands."""
ScaleUpDomainSize = Annotated[
    int,
    typer.Option(
        help="accelerators one scale-up domain joins on this server; 0: the catalog's "
        "(4 for a 4-GPU HGX H100 board)"
    ),
]
"""``--scale-up-domain-size`` of the commands that take a deployment (estimate, simulate)."""
ScaleUpTopology = Annotated[
    str,
    typer.Option(
        help="switch or full_mesh (each chip linked directly to every peer: a 4-GPU HGX "
        "board, AMD Infinity Fabric); empty: the catalog's"
    ),
]
"""``--scale-up-topology`` of the same commands."""
AcceptanceRate = Annotated[
    float | None, typer.Option(help="per-token acceptance rate of drafts (default 0.7)")
]
AcceptanceLength = Annotated[
    float | None,
    typer.Option(
        help="mean tokens per verification step, bonus token included (an engine's "
        "'acceptance length'), instead of --acceptance-rate"
    ),
]
AllreduceQuantization = Annotated[
    str,
    typer.Option(
        help="none, int8, int6 or int4: a quantized all-reduce (ROCm QuickReduce, "
        "ROCM_QUICK_REDUCE_QUANTIZATION) for messages of a few MB and more"
    ),
]
"""``--allreduce-quantization`` of the same commands."""
NcclNvls = Annotated[
    str,
    typer.Option(
        help="auto (the engine's default), on or off: NCCL's in-switch all-reduce (NVLink "
        "SHARP) for large all-reduces over 3-8 GPUs of an NVSwitch that reduces (H100, H200, "
        "B200, B300); SGLang's default is off"
    ),
]
"""``--nccl-nvls`` of the same commands."""
KvPrecision = Annotated[
    str,
    typer.Option(
        help="KV-cache precision, or auto: FP8 where the matrices compute in FP8 or narrower "
        "(TensorRT-LLM's FP8 checkpoints), else 16-bit. vLLM and SGLang keep a 16-bit cache "
        "unless started with --kv-cache-dtype fp8: give bf16 for them"
    ),
]
"""``--kv-precision`` of the commands that take a deployment (estimate, simulate)."""


def _spread(est: c2g.Estimate) -> str:
    label = length_spread_label(est.input_tokens_cv, est.output_tokens_cv)
    return f" ({label})" if label else ""


def _load_rows(est: c2g.Estimate) -> list[tuple[str, str]]:
    """Under a request rate: how close to capacity it runs and what a slower engine would do
    to the latencies (near capacity they grow far faster than the step time)."""
    if est.mode != "request_rate" or est.saturated:
        return []
    pct = f"{SLOWER_FRAC:.0%}"
    if math.isfinite(est.tpot_s_mean_if_slower):
        slower = (
            f"TTFT {est.ttft_s_mean_if_slower * 1e3:,.1f} ms, "
            f"TPOT {est.tpot_s_mean_if_slower * 1e3:,.2f} ms "
            f"({est.tpot_s_mean_if_slower / est.tpot_s_mean - 1:+.0%})"
        )
    else:
        slower = "unbounded: the rate would exceed the capacity"
    return [
        ("share of capacity", f"{est.load_frac:.0%} (queues grow without bound at 100%)"),
        (f"if every step took {pct} longer", slower),
    ]


def _print_estimate(est: c2g.Estimate, title: str) -> None:
    table = Table(title=title, show_header=False, title_justify="left")
    table.add_column("quantity", style="bold")
    table.add_column("value", justify="right")
    rows = [
        ("model / accelerator", f"{est.model} on {est.num_accelerators} x {est.accelerator}"),
        ("layout", f"{est.layout}, engine {est.engine}"),
        (
            "precision (weights / KV / compute)",
            f"{est.weight_precision} / {est.kv_precision} / {est.compute_precision}",
        ),
        (
            "load",
            f"{est.mode}, {est.input_tokens:.0f} in / {est.output_tokens:.0f} out tokens{_spread(est)}",
        ),
        (
            "output throughput",
            f"{est.output_tokens_per_s:,.0f} tokens/s ({est.output_tokens_per_s / est.num_accelerators:,.0f} per accelerator)",
        ),
        ("requests", f"{est.requests_per_s:,.2f} /s"),
        (
            "TTFT (mean)",
            f"{est.ttft_s_mean * 1e3:,.1f} ms" if math.isfinite(est.ttft_s_mean) else "unbounded",
        ),
        ("TPOT (mean)", f"{est.tpot_s_mean * 1e3:,.2f} ms"),
        (
            "end-to-end latency (mean)",
            f"{est.e2e_latency_s_mean:,.2f} s"
            if math.isfinite(est.e2e_latency_s_mean)
            else "unbounded",
        ),
        *_load_rows(est),
        (
            "running batch / KV-limited max",
            f"{est.batch_size:,.0f} / {est.max_concurrency // max(est.num_replicas, 1):,d} "
            "sequences" + (f" per replica (x {est.num_replicas})" if est.num_replicas > 1 else ""),
        ),
        ("bound: prefill / decode", f"{est.prefill.bound} / {est.decode.bound}"),
        (
            "accelerator power (all)",
            f"{est.accelerator_power_w / 1e3:,.2f} kW (cap {est.power_limit_w:,.0f} W each, "
            f"clock {est.clock_frac:.0%})",
        ),
        ("system power (servers)", f"{est.system_power_w / 1e3:,.2f} kW"),
        (
            "energy per output token",
            f"{est.energy_j_per_output_token:.3f} J (accelerators), {est.system_energy_j_per_output_token:.3f} J (servers)",
        ),
        ("memory per accelerator", ", ".join(f"{k} {v:.1f} GB" for k, v in est.memory_gb.items())),
        ("calibration", est.calibration),
        ("validated error, MAPE seen / unseen", _validated_text(est)),
    ]
    for name, value in rows:
        table.add_row(name, value)
    console.print(table)
    ops = Table(title="time per step by operator (ms)", title_justify="left")
    ops.add_column("operator")
    ops.add_column("prefill (1 prompt)", justify="right")
    ops.add_column("decode step", justify="right")
    for name in est.prefill.operators_s:
        p, d = est.prefill.operators_s[name], est.decode.operators_s[name]
        if p or d:
            ops.add_row(name, f"{p * 1e3:.3f}", f"{d * 1e3:.3f}")
    ops.add_row(
        "total", f"{est.prefill.step_s * 1e3:.3f}", f"{est.decode.step_s * 1e3:.3f}", style="bold"
    )
    console.print(ops)
    for note in est.notes:
        console.print(f"[yellow]note:[/yellow] {note}")


VALIDATED_GROUPS = {"throughput": "throughput", "ttft": "TTFT", "tpot": "TPOT"}
"""Metric groups whose validated error the estimate table prints, with their labels."""


def _validated_text(est: c2g.Estimate) -> str:
    """``throughput 13% / 16%, TTFT ...`` and the scope most figures pool, from
    :attr:`Estimate.validated_error`; a dash for a split without enough measured runs."""
    if est.validated_error is None:
        return "not measured (user calibration file)"
    parts, scopes = [], []
    for group, label in VALIDATED_GROUPS.items():
        cells = est.validated_error.get(group, {})
        text = []
        for split in ("seen", "unseen"):
            figure = cells.get(split)
            text.append("-" if figure is None else f"{figure.mape_frac:.0%}")
            if figure is not None:
                scopes.append(figure.scope)
        parts.append(f"{label} {text[0]} / {text[1]}")
    scope = max(set(scopes), key=scopes.count) if scopes else "none"
    line = f"{', '.join(parts)} ({scope}; --json: scope and count of each)"
    biased = [
        f"{label} {figure.median_error_frac:+.0%}"
        for group, label in VALIDATED_GROUPS.items()
        if (figure := _headline_figure(est.validated_error.get(group, {}))) is not None
        and abs(figure.median_error_frac) >= BIAS_NOTE_FRAC
    ]
    if biased:
        line += f"; median error {', '.join(biased)} (+: throughput high, latency long)"
    return line


BIAS_NOTE_FRAC = 0.2
"""Median signed error from which the estimate table states it beside the MAPE."""


def _headline_figure(cells: dict[str, ValidatedFigure | None]) -> ValidatedFigure | None:
    """The unseen figure of a metric group where there is one, else the seen one."""
    return cells.get("unseen") or cells.get("seen")


class Kind(StrEnum):
    """Catalogs that ``chip2grid list`` prints."""

    models = "models"
    accelerators = "accelerators"
    engines = "engines"
    regions = "regions"
    cooling = "cooling"
    platforms = "platforms"
    energy_sources = "energy-sources"


DEFAULT_SPECULATIVE_TOKENS = 2
"""Tokens drafted per step when ``--speculative`` is given without ``--num-speculative-tokens``."""


def speculative_options(
    method: str | None,
    num_tokens: int | None,
    acceptance_rate: float | None,
    draft_model: str | None,
    acceptance_length: float | None = None,
) -> c2g.SpeculativeDecoding | None:
    """``--speculative``, ``--num-speculative-tokens``, ``--acceptance-rate`` (or
    ``--acceptance-length``, the mean tokens per step an engine reports) and ``--draft-model``
    as a :class:`SpeculativeDecoding` (None when ``method`` is unset). Neither rate nor length:
    its default rate."""
    if acceptance_rate is not None and acceptance_length is not None:
        raise c2g.InvalidParameterError(
            "acceptance-length",
            acceptance_length,
            "either --acceptance-rate or --acceptance-length, not both",
        )
    if not method:
        given = {
            "--num-speculative-tokens": num_tokens,
            "--acceptance-rate": acceptance_rate,
            "--acceptance-length": acceptance_length,
            "--draft-model": draft_model,
        }
        named = [name for name, value in given.items() if value is not None]
        if named:
            raise c2g.InvalidParameterError(
                "speculative",
                "(not given)",
                f"mtp or draft: {', '.join(named)} describe speculative decoding, which is off "
                "without --speculative",
            )
        return None
    num_tokens = DEFAULT_SPECULATIVE_TOKENS if num_tokens is None else num_tokens
    if acceptance_length is not None:
        acceptance_rate = c2g.acceptance_rate_for_length(acceptance_length, num_tokens)
    rate = {} if acceptance_rate is None else {"acceptance_rate": acceptance_rate}
    return c2g.SpeculativeDecoding(
        method=method,  # type: ignore[arg-type]
        num_speculative_tokens=num_tokens,
        draft_model=c2g.get_model(draft_model) if draft_model else None,
        **rate,
    )


@app.command("estimate")
def estimate_command(
    model: Annotated[
        str, typer.Option(help="catalog model id, or a path to a local config.json")
    ] = DEFAULT_DEPLOYMENT["model"],
    accelerator: Annotated[str, typer.Option(help="catalog accelerator id")] = DEFAULT_DEPLOYMENT[
        "accelerator"
    ],
    num_accelerators: Annotated[int, typer.Option(help="accelerators in the deployment")] = 8,
    tp: Annotated[str, typer.Option(help="tensor parallelism per replica, or auto")] = "auto",
    pp: Annotated[str, typer.Option(help="pipeline parallelism per replica, or auto")] = "auto",
    ep: Annotated[str, typer.Option(help="expert parallelism per replica, or auto")] = "auto",
    weight_precision: Annotated[
        str, typer.Option(help="bf16, fp16, fp8, int8, fp4, mxfp4, int4")
    ] = "fp8",
    kv_precision: KvPrecision = "auto",
    activation_precision: Annotated[
        str, typer.Option(help="matrix compute precision, or auto")
    ] = "auto",
    engine: Annotated[
        str, typer.Option(help="tensorrt-llm, tensorrt-llm-pytorch, vllm, vllm-v1, sglang")
    ] = "tensorrt-llm",
    input_tokens: Annotated[float, typer.Option(help="mean prompt tokens per request")] = 2048,
    output_tokens: Annotated[float, typer.Option(help="mean generated tokens per request")] = 128,
    input_tokens_cv: InputTokensCv = 0.0,
    output_tokens_cv: OutputTokensCv = 0.0,
    concurrency: Annotated[
        float | None, typer.Option(help="closed loop of N concurrent users")
    ] = None,
    request_rate: Annotated[
        float | None, typer.Option(help="Poisson arrivals, requests per second")
    ] = None,
    max_load: Annotated[
        bool, typer.Option("--max-load", help="all requests queued (offline); the default")
    ] = False,
    max_num_seqs: Annotated[int | None, typer.Option(help="cap on the running batch")] = None,
    batch_size: Annotated[
        int | None, typer.Option(help="static batch size (with --static-batching)")
    ] = None,
    static_batching: Annotated[
        bool, typer.Option("--static-batching", help="static batches of --batch-size")
    ] = False,
    speculative: Annotated[
        str | None, typer.Option(help="speculative decoding: mtp or draft")
    ] = None,
    num_speculative_tokens: Annotated[
        int | None, typer.Option(help="tokens drafted per step (default 2)")
    ] = None,
    acceptance_rate: AcceptanceRate = None,
    acceptance_length: AcceptanceLength = None,
    draft_model: Annotated[str | None, typer.Option(help="catalog id of the draft model")] = None,
    power_limit_w: Annotated[
        float,
        typer.Option(
            help="power cap per accelerator in W (nvidia-smi -pl); 0: its TDP. A cap below what "
            "the die needs under full matrix load lowers its clock; a board power above the TDP "
            "(up to the part's stated maximum, 1000 for h200-sxm) may raise it"
        ),
    ] = 0.0,
    scale_up_domain_size: ScaleUpDomainSize = 0,
    scale_up_topology: ScaleUpTopology = "",
    allreduce_quantization: AllreduceQuantization = "none",
    nccl_nvls: NcclNvls = "auto",
    as_json: Annotated[bool, typer.Option("--json", help="print one JSON object")] = False,
) -> None:
    """Steady-state throughput, TTFT, TPOT, latency, power and energy of one deployment."""
    modes = [
        m
        for m, on in (
            ("concurrency", concurrency is not None),
            ("request_rate", request_rate is not None),
            ("max_load", max_load),
            ("static", static_batching),
        )
        if on
    ]
    if len(modes) > 1:
        raise InvalidParameterError(
            "load",
            " and ".join(modes),
            "one of --concurrency, --request-rate, --max-load, --static-batching",
        )
    mode = modes[0] if modes else "max_load"
    if batch_size is not None and mode != "static":
        raise InvalidParameterError(
            "--batch-size",
            batch_size,
            "only with --static-batching (use --max-num-seqs to cap a continuous batch)",
        )
    if mode == "static" and batch_size is None:
        raise InvalidParameterError(
            "--batch-size", "missing", "an integer >= 1 (required with --static-batching)"
        )
    if max_num_seqs is not None and max_num_seqs < 1:
        raise InvalidParameterError(
            "--max-num-seqs",
            max_num_seqs,
            "an integer >= 1 (leave it out for the engine's default)",
        )
    load = c2g.Load(
        mode=mode,  # type: ignore[arg-type]
        concurrency=concurrency or 0.0,
        request_rate_per_s=request_rate or 0.0,
        batch_size=batch_size or 0,
        max_num_seqs=max_num_seqs or 0,
    )
    if num_accelerators < 1:
        raise InvalidParameterError("--num-accelerators", num_accelerators, "an integer >= 1")
    workload = c2g.Workload(
        input_tokens=input_tokens,
        output_tokens=output_tokens,
        input_tokens_cv=input_tokens_cv,
        output_tokens_cv=output_tokens_cv,
    )
    arch = c2g.get_model(model)
    acc = c2g.get_accelerator(accelerator).with_scale_up(scale_up_domain_size, scale_up_topology)
    c2g.get_engine(engine)
    fixed = {
        "tp": _parse_split("tp", tp),
        "pp": _parse_split("pp", pp),
        "ep": _parse_split("ep", ep),
    }
    spec = speculative_options(
        speculative, num_speculative_tokens, acceptance_rate, draft_model, acceptance_length
    )
    check_draft_model(arch, spec)  # before the layout search, which would hide the error
    base = dict(
        model=arch,
        accelerator=acc,
        num_accelerators=num_accelerators,
        weight_precision=weight_precision,
        kv_precision=kv_precision,
        activation_precision=activation_precision,
        engine=engine,
        power_limit_w=power_limit_w,
        allreduce_quantization=allreduce_quantization,
        nccl_nvls=nccl_nvls,
    )
    if all(v is not None for v in fixed.values()):
        dep = c2g.Deployment(tp=fixed["tp"], pp=fixed["pp"], ep=fixed["ep"], **base)  # type: ignore[arg-type]
        result = c2g.estimate(dep, workload, load, speculative=spec)
    else:
        # validate what was given before searching
        dep = c2g.Deployment(tp=1, pp=1, ep=1, **{**base, "num_accelerators": 1})  # type: ignore[arg-type]
        for name, value in fixed.items():
            if value is not None and value > num_accelerators:
                raise InvalidParameterError(
                    f"--{name}", value, f"at most --num-accelerators ({num_accelerators})"
                )
        if fixed["tp"] is not None:
            c2g.Deployment(tp=fixed["tp"], pp=1, ep=1, **{**base, "num_accelerators": fixed["tp"]})  # type: ignore[arg-type]
        dep = dep.replace(num_accelerators=num_accelerators)
        result = c2g.best_layout(
            dep,
            workload,
            load,
            fix_tp=fixed["tp"],
            fix_pp=fixed["pp"],
            fix_ep=fixed["ep"],
            speculative=spec,
        )
    if as_json:
        print(json.dumps(estimate_to_dict(result), indent=2))
    else:
        _print_estimate(result, "chip2grid estimate")


def _id_table(ids: list[str], *columns: str) -> Table:
    """A catalog listing whose first column, the ids users type, is never wrapped or cut."""
    table = Table()
    table.add_column("id", no_wrap=True, min_width=max((len(i) for i in ids), default=2))
    for name in columns:
        table.add_column(name)
    return table


@app.command("list")
def list_command(
    kind: Annotated[
        Kind,
        typer.Argument(
            help="models, accelerators, engines, regions, cooling, platforms or energy-sources"
        ),
    ],
) -> None:
    """List catalog entries."""
    if kind is Kind.models:
        ids = c2g.list_models()
        table = _id_table(ids, "params (B)", "active (B)", "layers", "attention", "KV/token (bf16)")
        for model_id in ids:
            m = c2g.get_model(model_id)
            attention = (
                "MLA"
                if m.is_mla
                else (
                    "MHA" if m.num_kv_heads == m.num_attention_heads else f"GQA {m.num_kv_heads}kv"
                )
            )
            table.add_row(
                model_id,
                f"{m.num_params / 1e9:.1f}",
                f"{m.num_active_params / 1e9:.1f}",
                str(m.num_layers),
                attention,
                f"{m.kv_cache_bytes_per_token(2.0) / 1e3:.0f} kB",
            )
    elif kind is Kind.accelerators:
        ids = c2g.list_accelerators()
        table = _id_table(
            ids,
            "mem GB",
            "TB/s",
            "bf16 TF/s",
            "fp8",
            "fp4",
            "TDP (W)",
        )
        for acc_id in ids:
            a = c2g.get_accelerator(acc_id)
            p = a.peak_flops_per_s
            table.add_row(
                acc_id,
                f"{a.memory_bytes / 1e9:.0f}",
                f"{a.memory_bandwidth_bytes_per_s / 1e12:.2f}",
                f"{p.get('bf16', p.get('fp16', 0)) / 1e12:.0f}",
                f"{p.get('fp8', 0) / 1e12:.0f}",
                f"{p.get('fp4', 0) / 1e12:.0f}",
                f"{a.tdp_w:.0f}",
            )
    elif kind is Kind.engines:
        ids = c2g.list_engines()
        table = _id_table(ids, "name", "mixed batching", "KV reservation")
        for engine_id in ids:
            e = c2g.get_engine(engine_id)
            table.add_row(engine_id, e.name, str(e.mixed_batching), e.kv_reservation)
    else:
        table = _facility_table(kind)
    console.print(table)


def _facility_table(kind: Kind) -> Table:
    from chip2grid import energy, facility

    if kind is Kind.regions:
        ids = facility.list_regions()
        table = _id_table(
            ids,
            "name",
            "USD/kWh",
            "gCO2e/kWh",
            "mean temp (C)",
            "capex (USD/W)",
        )
        for rid in ids:
            r = facility.get_region(rid)
            table.add_row(
                rid,
                r.name,
                f"{r.electricity_price_usd_per_kwh:.3f}",
                f"{r.grid_carbon_g_per_kwh:.0f}",
                f"{sum(r.monthly_mean_temperature_c) / 12:.1f}",
                f"{r.facility_capex_usd_per_w:.1f}",
            )
    elif kind is Kind.cooling:
        ids = facility.list_coolings()
        table = _id_table(ids, "name", "max rack (kW)", "typical rack (kW)", "WUE (L/kWh)")
        for cid in ids:
            c = facility.get_cooling(cid)
            table.add_row(
                cid,
                c.name,
                f"{c.max_rack_power_w / 1e3:.0f}",
                f"{c.typical_rack_power_w / 1e3:.0f}",
                f"{c.wue_l_per_kwh:.2f}",
            )
    elif kind is Kind.platforms:
        ids = facility.list_platforms()
        table = _id_table(
            ids,
            "accelerator",
            "per node",
            "node max (kW)",
            "rack (kW)",
            "cooling",
        )
        for pid in ids:
            p = facility.get_platform(pid)
            table.add_row(
                pid,
                p.accelerator,
                str(p.accelerators_per_node),
                f"{p.node_max_power_w / 1e3:.1f}",
                f"{p.rack_power_w / 1e3:.0f}",
                ", ".join(p.cooling),
            )
    else:
        ids = energy.list_energy_sources()
        table = _id_table(ids, "name", "kind", "firm", "lead time (years)")
        for sid in ids:
            e = energy.get_energy_source(sid)
            table.add_row(
                sid,
                e.name,
                e.kind,
                str(e.firm),
                f"{e.lead_time_years_low:g}-{e.lead_time_years_high:g}",
            )
    return table


def _catalog_file(name: str) -> Path:
    """The path of the installed package's catalog file ``name`` (the ones validate writes)."""
    from importlib import resources

    return Path(str(resources.files("chip2grid.catalog").joinpath(name)))


def _check_write_errors(
    measurements: list[Path] | None,
    holdout: tuple[str, ...],
    fit: bool,
    write: bool,
    scoring_only: tuple[str, object] | None,
) -> None:
    """The package's error table describes the shipped calibration on the default data only."""
    from chip2grid.validation import DEFAULT_HOLDOUT

    if measurements:
        raise InvalidParameterError(
            "--write-errors", True, "only with the default measurements (no --measurements)"
        )
    if holdout != tuple(DEFAULT_HOLDOUT):
        raise InvalidParameterError(
            "--holdout",
            ",".join(holdout),
            f"with --write-errors only the default {','.join(DEFAULT_HOLDOUT)}",
        )
    if fit and not write:
        raise InvalidParameterError(
            "--write-errors",
            True,
            "with --fit only together with --write (the shipped calibration)",
        )
    if scoring_only:
        raise InvalidParameterError(
            *scoring_only,
            "not with --write-errors: the table is of the model estimates use (mean lengths,"
            " the instance admission queue)",
        )


@app.command("validate")
def validate_command(
    measurements: Annotated[
        list[Path] | None,
        typer.Option(
            help="measurements CSV (the shared/validation schema); repeatable. Default: "
            "../shared/validation/measurements.csv and the measurements chip2grid ships "
            "(MLPerf v5.1/v6.0, TensorRT-LLM's DeepSeek-R1 blog, vLLM 0.5 developer runs, "
            "NVIDIA DLI's NIM closed loops and TensorRT-LLM 0.9 static-batch sweeps)"
        ),
    ] = None,
    out: Annotated[Path, typer.Option(help="where to write predicted vs measured per case")] = Path(
        "validation-report.csv"
    ),
    fit: Annotated[
        bool, typer.Option("--fit", help="fit the efficiencies anew on the cases not held out")
    ] = False,
    write: Annotated[
        bool,
        typer.Option("--write", help="with --fit: store the fit in the package's calibration.toml"),
    ] = False,
    holdout: Annotated[
        str,
        typer.Option(
            help="comma-separated, kept out of the fit: source families (mlperf), accelerators"
            " (h200-sxm) or hardware families (blackwell)"
        ),
    ] = "mlperf,lambda,trtblog,nimdli,inferencex,amdperf,oracleblog,vllmblog",  # validation.DEFAULT_HOLDOUT
    max_nfev: Annotated[int, typer.Option(help="fit iterations")] = 60,
    fit_only: Annotated[
        str,
        typer.Option(
            help="with --fit: comma-separated calibration keys (hardware families, engine"
            " calibrations such as vllm-sync) to fit, holding every other parameter at the"
            " shipped calibration; KEY.PARAMETER fits one parameter of a group"
            " (tensorrt-llm.moe_gemm_eff_frac); ENGINE@FAMILY fits an engine's MoE share on"
            " one hardware family (tensorrt-llm@hopper)"
        ),
    ] = "",
    length_spread: Annotated[
        bool,
        typer.Option(
            "--length-spread",
            help="apply the spread of request lengths recorded for a data set (MLPerf's); by "
            "default every request is at the mean lengths, as the calibration was fitted",
        ),
    ] = False,
    admission_queue: Annotated[
        str,
        typer.Option(
            help="how a server-mode run waits for admission: slots (only when every sequence"
            " slot of the batch is taken: Erlang C over the batch, as estimates do) or instance"
            " (an M/D/1 queue at the share of capacity in use); instance is scored, not written"
        ),
    ] = "slots",
    write_errors: Annotated[
        bool,
        typer.Option(
            "--write-errors",
            help="store the errors per accelerator family and engine in the package's"
            " validated_error.toml, which every estimate reports (default measurements and"
            " holdout, the shipped calibration or --fit --write)",
        ),
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="print the summary as JSON")] = False,
) -> None:
    """Predict every published measurement chip2grid can express and report the errors."""
    from chip2grid.validation import (  # heavy import only here
        run_validation,
        shipped_measurement_files,
        write_calibration,
    )

    held = tuple(h.strip() for h in holdout.split(",") if h.strip())
    files = measurements or [
        Path("../shared/validation/measurements.csv"),
        *shipped_measurement_files(),
    ]
    only = tuple(k.strip() for k in fit_only.split(",") if k.strip())
    if only and not fit:
        raise InvalidParameterError("--fit-only", fit_only, "only together with --fit")
    from chip2grid.perf.steady import ADMISSION_QUEUES

    if admission_queue not in ADMISSION_QUEUES:
        raise InvalidParameterError(
            "--admission-queue", admission_queue, " or ".join(ADMISSION_QUEUES)
        )
    # options that score another model than the one estimates use, never stored
    scoring_only: tuple[str, object] | None = (
        ("--length-spread", True)
        if length_spread
        else ("--admission-queue", admission_queue)
        if admission_queue != "slots"
        else None
    )
    if write and scoring_only:
        raise InvalidParameterError(
            *scoring_only,
            "not with --write: the shipped calibration is fitted at the mean lengths with the"
            " slots admission queue, as estimates use",
        )
    if write_errors:
        _check_write_errors(measurements, held, fit, write, scoring_only)
    report = run_validation(
        files,
        holdout=held,
        refit=fit,
        max_nfev=max_nfev,
        fit_only=only,
        length_spread=length_spread,
        admission=admission_queue,
    )
    report.write_csv(out)
    if fit and write and report.fit_result is not None:
        path = _catalog_file("calibration.toml")
        command = f"chip2grid validate --fit --write --holdout {','.join(held)}" + (
            f" --fit-only {','.join(only)}" if only else ""
        )
        write_calibration(report.fit_result, path, command)
    if write_errors:
        from chip2grid.validation.errors import error_table, write_error_table

        write_error_table(
            error_table(report),
            _catalog_file("validated_error.toml"),
            measurements="shared/validation/measurements.csv and the measurements chip2grid ships",
            calibration="refitted by this run" if fit else "shipped calibration.toml",
        )
    summary = {
        "calibration": report.calibration,
        "holdout_families": list(held),
        "length_spread": length_spread,
        "admission_queue": admission_queue,
        "num_rows": len(report.rows),
        "num_skipped_cases": len(report.skipped),
        "num_unbounded": {
            split: report.unbounded_count(split=split) for split in ("fit", "holdout")
        },
        "mape": {
            split: {
                key: report.summary(split=split, key=key)
                for key in ("group", "source_family", "accelerator")
            }
            for split in ("fit", "holdout")
        },
        "report_csv": str(out),
    }
    if as_json:
        print(json.dumps(summary, indent=2))
        return
    for split in ("fit", "holdout"):
        for key in ("group", "source_family", "accelerator"):
            table = Table(f"{split}: {key}", "MAPE", "median error", "n", title_justify="left")
            for name, cell in report.summary(split=split, key=key).items():
                table.add_row(
                    name, f"{cell['mape']:.1%}", f"{cell['median_error']:+.1%}", str(cell["n"])
                )
            console.print(table)
    worst = Table(
        "case",
        "metric",
        "measured",
        "predicted",
        "error",
        title="worst holdout cases",
        title_justify="left",
    )
    for row in report.worst(10, split="holdout"):
        worst.add_row(
            row.case.case_id,
            row.metric,
            f"{row.measured:.4g}",
            f"{row.predicted:.4g}",
            f"{row.error_frac:+.0%}",
        )
    console.print(worst)
    if report.unbounded:
        console.print(
            f"{len(report.unbounded)} measured latencies predicted unbounded (rate above the"
            f" predicted capacity; {report.unbounded_count(split='holdout')} held out), left out"
            " of the MAPE"
        )
    console.print(
        f"{len(report.rows)} rows compared, {len(report.skipped)} cases skipped; per-case table in {out}"
    )

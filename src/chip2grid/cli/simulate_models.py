"""``chip2grid simulate-models``: several models on one fleet, each on its own pool of replicas
serving its own workload, described by a TOML file."""

from __future__ import annotations

import difflib
import json
import tomllib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np
import typer
from numpy.typing import NDArray
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from rich.markup import escape
from rich.table import Table

import chip2grid as c2g
from chip2grid.cli.app import DEFAULT_DEPLOYMENT, app, best_deployment, console, speculative_options
from chip2grid.cli.simulate import request_trace
from chip2grid.errors import Chip2GridError, InvalidParameterError, UnknownEntryError
from chip2grid.jsonable import jsonable
from chip2grid.serving import (
    DAY_S,
    MOONCAKE_BLOCK_TOKENS,
    REQUEST_FORMATS,
    ROUTERS,
    ModelPool,
    RequestTrace,
    load_model_labels,
    simulate_models,
)
from chip2grid.serving.multimodel_config import (
    merge_model_traces,
    models_summary,
    write_model_requests,
)
from chip2grid.units import GIB

SCHEMA_HELP = f"""\
The FILE holds one [[model]] table per model (a pool of its own replicas) and, under it, a
[model.workload] table: its requests.

[[model]] keys: name (pool name, default: the model id; names must differ), model (catalog
model id, required), accelerator (catalog id, default {DEFAULT_DEPLOYMENT["accelerator"]}),
num_accelerators or replicas (one of them; replicas needs an integer tp), tp, pp, ep
(integers, or "auto": the best split of num_accelerators; with replicas, pp and ep default
to 1), weight_precision (fp8), kv_precision (auto), engine (tensorrt-llm), max_num_seqs,
max_num_batched_tokens, block_size (16), gpu_memory_utilization, enable_chunked_prefill,
kv_reservation, enable_prefix_caching (false), preemption_mode (recompute), swap_space_gib
(4), speculative, num_speculative_tokens, acceptance_rate, draft_model,
router (least-outstanding).

[model.workload] keys: either trace (Azure CSV, Mooncake JSONL or generic CSV/JSONL, relative
to FILE's folder; hash_block_tokens, default 512) or a synthetic load: request_rate (required),
num_requests or duration_s (expected count rate x duration), seed (0), archetype (fixed, chat,
code, rag, reasoning, agent, batch), input_tokens, output_tokens, input_dist, output_dist,
burstiness_cv, diurnal, day_length_s, turns_per_session, system_prompt_tokens (as the options
of chip2grid simulate). Every workload starts at time 0. Instead of per-model workloads, a
top-level trace = FILE with a 'model' column routes its requests to the pools by name.
"""

Split = Annotated[int, Field(ge=1)] | Literal["auto"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class WorkloadTable(_Strict):
    """``[model.workload]``: a trace file or a synthetic load."""

    trace: str | None = None
    hash_block_tokens: int = Field(MOONCAKE_BLOCK_TOKENS, ge=1)
    request_rate: float | None = Field(None, gt=0, allow_inf_nan=False)
    num_requests: int | None = Field(None, ge=1)
    duration_s: float | None = Field(None, gt=0, allow_inf_nan=False)
    seed: int = 0
    archetype: str = "fixed"
    input_tokens: int | None = Field(None, ge=1)
    output_tokens: int | None = Field(None, ge=1)
    input_dist: str | None = None
    output_dist: str | None = None
    burstiness_cv: float | None = Field(None, gt=0, allow_inf_nan=False)
    diurnal: str | None = None
    day_length_s: float = Field(DAY_S, gt=0, allow_inf_nan=False)
    turns_per_session: int = Field(8, ge=1)
    system_prompt_tokens: int = Field(2048, ge=0)


class ModelTable(_Strict):
    """``[[model]]``: one model's pool of replicas, engine settings and workload."""

    name: str | None = Field(None, min_length=1)
    model: str
    accelerator: str = DEFAULT_DEPLOYMENT["accelerator"]
    num_accelerators: int | None = Field(None, ge=1)
    replicas: int | None = Field(None, ge=1)
    tp: Split | None = None
    pp: Split | None = None
    ep: Split | None = None
    weight_precision: str = "fp8"
    kv_precision: str = "auto"
    engine: str = "tensorrt-llm"
    max_num_seqs: int | None = Field(None, ge=1)
    max_num_batched_tokens: int | None = Field(None, ge=1)
    block_size: int = Field(16, ge=1)
    gpu_memory_utilization: float | None = Field(None, gt=0, le=1)
    enable_chunked_prefill: bool | None = None
    kv_reservation: str | None = None
    enable_prefix_caching: bool = False
    preemption_mode: str = "recompute"
    swap_space_gib: float = Field(4.0, ge=0, allow_inf_nan=False)
    speculative: str | None = None
    num_speculative_tokens: int = Field(2, ge=1)
    acceptance_rate: float | None = Field(None, ge=0, le=1)
    acceptance_length: float | None = Field(None, ge=1)
    draft_model: str | None = None
    router: str = "least-outstanding"
    workload: WorkloadTable | None = None

    @property
    def pool_name(self) -> str:
        return self.name or self.model


class FleetFile(_Strict):
    """The whole file: the models, and optionally one trace with a ``model`` column."""

    trace: str | None = None
    hash_block_tokens: int = Field(MOONCAKE_BLOCK_TOKENS, ge=1)
    model: list[ModelTable] = Field(min_length=1)


@app.command("simulate-models", epilog=escape(SCHEMA_HELP))
def simulate_models_command(
    file: Annotated[Path, typer.Argument(help=escape("TOML file of [[model]] tables (see below)"))],
    ttft_slo: Annotated[float, typer.Option(help="goodput SLO on TTFT, seconds")] = 2.0,
    tpot_slo: Annotated[float, typer.Option(help="goodput SLO on TPOT, seconds")] = 0.1,
    export_requests: Annotated[
        Path | None,
        typer.Option(help="write one row per request, with its model, here: .csv or .parquet"),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print one JSON object")] = False,
) -> None:
    """Simulate several models served side by side, each by its own pool of replicas and with
    its own workload: per-model and fleet latency percentiles, goodput, KV cache, energy."""
    for name, value in (("--ttft-slo", ttft_slo), ("--tpot-slo", tpot_slo)):
        if not value > 0:
            raise InvalidParameterError(name, value, "seconds > 0")
    if export_requests is not None and export_requests.suffix.lower() not in REQUEST_FORMATS:
        raise InvalidParameterError(
            "--export-requests", str(export_requests), "a path ending in .csv or .parquet"
        )
    fleet = read_fleet_file(file)
    pools, trace, labels, sources = build_fleet(fleet, file.parent)
    result = simulate_models(pools, trace, labels)
    summary: dict[str, Any] = {"file": str(file)}
    summary.update(models_summary(result, ttft_slo, tpot_slo))
    for name, part in summary["models"].items():
        part["workload"] = sources[name]
    if export_requests is not None:
        key = "requests_parquet" if export_requests.suffix.lower() == ".parquet" else "requests_csv"
        summary[key] = str(export_requests)
        write_model_requests(result, export_requests, name="--export-requests")
    if as_json:
        print(json.dumps(jsonable(summary), indent=2))
        return
    _print_table(summary, ttft_slo, tpot_slo)


# --- reading and checking the file ----------------------------------------------------------
def read_fleet_file(path: Path) -> FleetFile:
    """Parse and validate the TOML file; any problem is one :class:`InvalidParameterError`
    naming the field (``model[i] (name).key``), the value and what is allowed."""
    if not path.is_file():
        raise InvalidParameterError("FILE", str(path), "an existing TOML file")
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise InvalidParameterError("FILE", str(path), f"valid TOML ({exc})") from None
    try:
        fleet = FleetFile.model_validate(data)
    except ValidationError as exc:
        raise _field_error(exc, data) from None
    names: dict[str, int] = {}
    for i, m in enumerate(fleet.model):
        if m.pool_name in names:
            raise InvalidParameterError(
                f"{_where(i, m.pool_name)}.name",
                m.pool_name,
                f"a name no other model has (model[{names[m.pool_name]}] has it)",
            )
        names[m.pool_name] = i
    return fleet


def _where(index: int, name: object) -> str:
    return f"model[{index}] ({name})" if name else f"model[{index}]"


def _field_error(exc: ValidationError, data: dict[str, Any]) -> InvalidParameterError:
    err = exc.errors(include_url=False)[0]
    loc = list(err["loc"])
    parts: list[str] = []
    table: type[BaseModel] = FleetFile
    if len(loc) >= 2 and loc[0] == "model" and isinstance(loc[1], int):
        entry = data["model"][loc[1]] if isinstance(data.get("model"), list) else {}
        name = entry.get("name") or entry.get("model") if isinstance(entry, dict) else None
        parts.append(_where(loc[1], name))
        loc = loc[2:]
        table = ModelTable
    if loc and loc[0] == "workload" and table is ModelTable:
        table = WorkloadTable
    field = ".".join(parts + _keys(loc)) or "FILE"
    if err["type"] == "extra_forbidden":
        known = sorted(table.model_fields)
        close = difflib.get_close_matches(str(loc[-1]), known, n=3)
        return InvalidParameterError(
            field,
            "(unknown field)",
            "one of " + ", ".join(known),
            f"did you mean {', '.join(close)}?" if close else "",
        )
    if err["type"] == "missing":
        return InvalidParameterError(field, None, "a value (the field is required)")
    msgs = [
        e["msg"].removeprefix("Value error, ").removeprefix("Input should be ")
        for e in exc.errors(include_url=False)
        if _keys(list(e["loc"])) == _keys(list(err["loc"]))
    ]
    return InvalidParameterError(field, err.get("input"), " or ".join(dict.fromkeys(msgs)))


def _keys(loc: list[Any]) -> list[str]:
    """The field path without the union branches pydantic adds (``int``, ``literal['auto']``)."""
    return [str(p) for p in loc if not (isinstance(p, str) and ("[" in p or p.endswith("int")))]


@contextmanager
def _prefixed(where: str, rename: Callable[[str], str] = lambda f: f) -> Iterator[None]:
    """Re-raise errors of the library with the file's field path in front."""
    try:
        yield
    except InvalidParameterError as exc:
        base = f"{exc.field}: got {exc.value!r}; allowed: {exc.allowed}"
        text = str(exc)
        hint = text[len(base) + 2 :] if text.startswith(base) else ""
        raise InvalidParameterError(
            f"{where}.{rename(exc.field)}", exc.value, exc.allowed, hint
        ) from None
    except UnknownEntryError:
        raise
    except Chip2GridError as exc:
        raise Chip2GridError(f"{where}: {exc}") from None


def _workload_field(flag: str) -> str:
    key = flag.removeprefix("--").replace("-", "_")
    return {"request_rate_per_s": "request_rate"}.get(key, key)


def _catalog(kind: str, getter: Callable[[str], Any], value: str, field: str) -> Any:
    try:
        return getter(value)
    except UnknownEntryError as exc:
        raise InvalidParameterError(field, value, f"a catalog {kind} id", str(exc)) from None


# --- building the pools and the trace -------------------------------------------------------
def build_fleet(
    fleet: FleetFile, folder: Path
) -> tuple[list[ModelPool], RequestTrace, NDArray[np.str_], dict[str, str]]:
    """The pools, one trace of every request, each request's model, and each model's
    workload in words."""
    traces: dict[str, RequestTrace] = {}
    if fleet.trace is not None:
        for i, m in enumerate(fleet.model):
            if m.workload is not None:
                raise InvalidParameterError(
                    f"{_where(i, m.pool_name)}.workload",
                    "a table",
                    "unset when the file has a top-level trace (its 'model' column routes)",
                )
        path = _resolve(fleet.trace, folder, "trace")
        with _prefixed("FILE"):
            trace = c2g.load_trace(path, block_tokens=fleet.hash_block_tokens)
            labels = load_model_labels(path)
        names = {m.pool_name for m in fleet.model}
        for label in dict.fromkeys(labels.tolist()):
            if label not in names:
                raise InvalidParameterError(
                    f"trace {path}: model", label, "a [[model]] name: " + ", ".join(sorted(names))
                )
    else:
        for i, m in enumerate(fleet.model):
            where = _where(i, m.pool_name)
            if m.workload is None:
                raise InvalidParameterError(
                    f"{where}.workload",
                    None,
                    "a [model.workload] table: trace = FILE, or request_rate with num_requests "
                    "or duration_s (or a top-level trace with a 'model' column)",
                )
            traces[m.pool_name] = _workload(m.workload, folder, f"{where}.workload")
        trace, labels = merge_model_traces(traces)
    pools: list[ModelPool] = []
    for i, m in enumerate(fleet.model):
        mine = traces.get(m.pool_name)
        if mine is None:  # the shared trace: this model's requests
            mine = trace.select(np.flatnonzero(labels == m.pool_name))
        pools.append(_pool(m, _where(i, m.pool_name), mine))
    sources = {
        name: traces[name].source if name in traces else f"{trace.source} [model {name}]"
        for name in (m.pool_name for m in fleet.model)
    }
    return pools, trace, labels, sources


def _resolve(value: str, folder: Path, field: str) -> Path:
    path = Path(value)
    if not path.is_absolute():
        path = folder / path
    if not path.is_file() or path.suffix.lower() not in (".csv", ".jsonl", ".json"):
        raise InvalidParameterError(
            field, value, f"an existing .csv or .jsonl trace file (relative to {folder})"
        )
    return path


def _workload(w: WorkloadTable, folder: Path, where: str) -> RequestTrace:
    given = w.model_fields_set
    if w.trace is not None:
        for key in sorted(given - {"trace", "hash_block_tokens"}):
            raise InvalidParameterError(
                f"{where}.{key}", getattr(w, key), "unset with trace (the trace has the requests)"
            )
        path = _resolve(w.trace, folder, f"{where}.trace")
    else:
        if "hash_block_tokens" in given:
            raise InvalidParameterError(
                f"{where}.hash_block_tokens", w.hash_block_tokens, "only with trace"
            )
        if w.request_rate is None:
            raise InvalidParameterError(
                f"{where}.request_rate", None, "requests per second > 0, or trace = FILE"
            )
        if (w.num_requests is None) == (w.duration_s is None):
            raise InvalidParameterError(
                f"{where}.num_requests",
                w.num_requests,
                "one of num_requests or duration_s (not both, not neither)",
            )
        path = None
    num = w.num_requests
    if num is None and w.duration_s is not None and w.request_rate is not None:
        num = round(w.request_rate * w.duration_s)
        if num < 1:
            raise InvalidParameterError(
                f"{where}.duration_s",
                w.duration_s,
                f"at least 1 / request_rate ({w.request_rate:g}/s)",
            )
    with _prefixed(where, _workload_field):
        return request_trace(
            trace=path,
            archetype=w.archetype,
            num_requests=num or 1,
            request_rate=w.request_rate or 1.0,
            input_tokens=w.input_tokens,
            output_tokens=w.output_tokens,
            burstiness_cv=w.burstiness_cv,
            seed=w.seed,
            turns_per_session=w.turns_per_session,
            system_prompt_tokens=w.system_prompt_tokens,
            hash_block_tokens=w.hash_block_tokens,
            input_dist=w.input_dist,
            output_dist=w.output_dist,
            diurnal=w.diurnal,
            day_length_s=w.day_length_s,
        )


def _pool(m: ModelTable, where: str, requests: RequestTrace) -> ModelPool:
    arch = _catalog("model", c2g.get_model, m.model, f"{where}.model")
    acc = _catalog("accelerator", c2g.get_accelerator, m.accelerator, f"{where}.accelerator")
    _catalog("engine", c2g.get_engine, m.engine, f"{where}.engine")
    if m.draft_model is not None:
        _catalog("model", c2g.get_model, m.draft_model, f"{where}.draft_model")
    if m.router not in ROUTERS:
        raise InvalidParameterError(f"{where}.router", m.router, " or ".join(ROUTERS))
    if (m.num_accelerators is None) == (m.replicas is None):
        raise InvalidParameterError(
            f"{where}.num_accelerators",
            m.num_accelerators,
            "one of num_accelerators or replicas (not both, not neither)",
        )
    fixed = {k: v for k, v in (("tp", m.tp), ("pp", m.pp), ("ep", m.ep)) if isinstance(v, int)}
    if m.replicas is not None:
        if "tp" not in fixed:
            raise InvalidParameterError(f"{where}.tp", m.tp, "an integer >= 1 with replicas")
        for key in ("pp", "ep"):
            if getattr(m, key) == "auto":
                raise InvalidParameterError(
                    f"{where}.{key}", "auto", "an integer >= 1 with replicas (default 1)"
                )
            fixed.setdefault(key, 1)
        num_accelerators = m.replicas * fixed["pp"] * max(fixed["tp"], fixed["ep"])
    else:
        num_accelerators = m.num_accelerators or 1
    with _prefixed(where):
        base: dict[str, Any] = dict(
            model=arch,
            accelerator=acc,
            num_accelerators=num_accelerators,
            weight_precision=m.weight_precision,
            kv_precision=m.kv_precision,
            engine=m.engine,
        )
        if len(fixed) == 3:
            dep = c2g.Deployment(tp=fixed["tp"], pp=fixed["pp"], ep=fixed["ep"], **base)
        else:
            dep, _ = best_deployment(
                base,
                requests.workload(),
                c2g.Load(mode="max_load"),
                fix_tp=fixed.get("tp"),
                fix_pp=fixed.get("pp"),
                fix_ep=fixed.get("ep"),
            )
        config = c2g.engine_config_for(
            dep,
            max_num_seqs=m.max_num_seqs,
            max_num_batched_tokens=m.max_num_batched_tokens,
            block_size=m.block_size,
            gpu_memory_utilization=m.gpu_memory_utilization,
            enable_chunked_prefill=m.enable_chunked_prefill,
            kv_reservation=m.kv_reservation,
            enable_prefix_caching=m.enable_prefix_caching,
            preemption_mode=m.preemption_mode,
            swap_space_bytes=m.swap_space_gib * GIB,
            speculative=speculative_options(
                m.speculative,
                m.num_speculative_tokens if m.speculative else None,
                m.acceptance_rate,
                m.draft_model,
                m.acceptance_length,
            ),
        )
        return ModelPool(name=m.pool_name, deployment=dep, config=config, router=m.router)


# --- printing -------------------------------------------------------------------------------
def _pct(p: Any, scale: float = 1e3) -> str:
    return f"{p['p50'] * scale:.1f} / {p['p99'] * scale:.1f}"


def _print_table(summary: dict[str, Any], ttft_slo: float, tpot_slo: float) -> None:
    models: dict[str, dict[str, Any]] = summary["models"]
    total = summary["total"]
    table = Table(
        title=f"chip2grid simulate-models: {summary['file']}",
        title_justify="left",
        caption=(
            f"goodput: requests with TTFT <= {ttft_slo:g} s and TPOT <= {tpot_slo:g} s. "
            f"Per model: rates over its own run; fleet: over "
            f"{total['simulated_duration_s']:.1f} s. Energy: accelerators, every pool held "
            "for the whole fleet run."
        ),
        caption_justify="left",
    )
    table.add_column("", style="bold")
    for name in models:
        table.add_column(name, justify="right")
    table.add_column("fleet", justify="right", style="bold")
    cols = [*models.values(), total]
    rows: list[tuple[str, Callable[[dict[str, Any]], str]]] = [
        (
            "deployment",
            lambda s: (
                f"{s['model']} on {s['num_accelerators']} x {s['accelerator']}, {s['layout']}"
                if "layout" in s
                else f"{s['num_models']} models"
            ),
        ),
        ("accelerators", lambda s: str(s["num_accelerators"])),
        ("requests", lambda s: f"{s['num_requests']} ({s['num_rejected']} rejected)"),
        ("output tok/s", lambda s: f"{s['output_tokens_per_s']:.0f}"),
        ("TTFT p50 / p99 ms", lambda s: _pct(s["ttft_s"])),
        ("TPOT p50 / p99 ms", lambda s: _pct(s["tpot_s"])),
        ("E2E p50 / p99 s", lambda s: _pct(s["e2e_latency_s"], 1.0)),
        ("goodput req/s", lambda s: f"{s['goodput_requests_per_s']:.2f}"),
        ("KV cache peak", lambda s: f"{s['kv_cache_peak_frac']:.0%}"),
        ("preemptions", lambda s: str(s["num_preemptions"])),
        ("J / output token", lambda s: f"{s['energy_j_per_output_token']:.3f}"),
    ]
    for label, fmt in rows:
        table.add_row(label, *(fmt(s) for s in cols))
    console.print(table)

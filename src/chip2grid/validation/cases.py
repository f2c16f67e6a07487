"""Published measurements (``shared/validation/measurements.csv``) as validation cases."""

from __future__ import annotations

import csv
import dataclasses
import functools
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from chip2grid.catalog import load_table
from chip2grid.data import data_path
from chip2grid.errors import InvalidParameterError
from chip2grid.perf.estimate import Workload
from chip2grid.validation.bench_settings import GPT_SESSION_BENCHMARK, TRTLLM_BENCH


@dataclass(frozen=True, slots=True, kw_only=True)
class Case:
    """One measured run and its metrics."""

    case_id: str
    source_family: str
    source: str
    model: str
    accelerator: str
    num_accelerators: int
    engine: str
    engine_version: str
    weight_precision: str
    kv_precision: str
    activation_precision: str = "auto"
    """The matrix units' input precision where a public statement about the run names one (a
    kernel backend that runs FP4 weights against 16-bit or FP8 activations); ``auto`` else."""
    tp: int
    pp: int
    ep: int
    input_tokens: float
    output_tokens: float
    input_tokens_assumed: bool
    input_tokens_cv: float = 0.0
    """Coefficient of variation of the data set's input lengths (0: fixed or unknown)."""
    output_tokens_cv: float = 0.0
    """Coefficient of variation of the output lengths the run generates (0: fixed or unknown)."""
    beam_width: int
    unstated: tuple[str, ...] = ()
    """Setup a multi-accelerator or MLPerf run leaves unstated and chip2grid will not assume:
    ``tp`` (the layout of several accelerators), ``precision`` (MLPerf submitters quantize, so
    16-bit is no safe default)."""
    max_batch_size: int
    max_num_batched_tokens: int = 0
    """The engine's token budget per step where the run's configuration states it (vLLM's
    ``max_num_batched_tokens`` in a harness YAML); 0: the engine's default."""
    power_limit_w: float
    sized_by: str = ""
    """The benchmark tool that sized the engine's batch limits for this data set
    (:data:`chip2grid.validation.bench_settings.TRTLLM_BENCH`); empty: the engine's defaults."""
    dataset: str
    harness_batch_window_s: float = 0.0
    """The benchmark harness batches the requests it receives before it hands them to the engine
    (``catalog/validation_configs.toml``): it sends what has arrived once this many seconds have
    passed since its last batch, or sooner when ``harness_batch_max`` have arrived. 0: every
    request goes to the engine as it arrives."""
    harness_batch_max: int = 0
    """The most requests one harness batch holds (0: no limit)."""
    admission_every_steps: int = 1
    """The engine takes in new requests once every this many decode steps (vLLM's
    ``num_scheduler_steps``, stated in ``catalog/validation_configs.toml``); 1: at every step."""
    scale_up_domain_size: int = 0
    """Accelerators one scale-up domain joins in the measured server where it differs from the
    catalog part's (an HGX H100 4-GPU board: 4), stated in ``catalog/validation_configs.toml``;
    0: the catalog's."""
    scale_up_topology: str = ""
    """How that server joins them (``switch`` or ``full_mesh``, as
    :attr:`chip2grid.hardware.Accelerator.scale_up_topology`); empty: the catalog's."""
    allreduce_quantization: str = "none"
    """The engine's quantized all-reduce where the run's launch script sets one
    (:attr:`chip2grid.perf.Deployment.allreduce_quantization`)."""
    api_server: bool = False
    """Requests reached the engine through its OpenAI-compatible HTTP server (``served_by =
    "api_server"`` in ``catalog/validation_configs.toml``); False: the harness drove the engine
    directly, or the run does not say. Before vLLM 0.5.4 that server ran in the engine's
    process (engine profile ``vllm-0.4-server``)."""
    identical_inputs: bool = False
    """Every prompt is the same token repeated (:data:`~chip2grid.validation.bench_settings.
    GPT_SESSION_BENCHMARK`): each step routes as one token."""
    mode: str
    request_rate_per_s: float
    batch_size: int
    concurrency: float = 0.0
    """Requests the client keeps in flight (mode ``concurrency``: a closed loop); 0 otherwise."""
    metrics: Mapping[str, float] = field(default_factory=dict)

    @property
    def workload(self) -> Workload:
        """The run's mean request and the spread of its lengths."""
        return Workload.of(self)

    def at_mean_lengths(self) -> Case:
        """This run with every request at the mean lengths (no spread), as the shipped
        calibration was fitted."""
        return dataclasses.replace(self, input_tokens_cv=0.0, output_tokens_cv=0.0)

    @property
    def engine_profile(self) -> str:
        """The chip2grid engine profile that describes how this run was served."""
        if self.engine.startswith("tensorrt-llm"):
            if self.mode == "static_batch" or (
                self.mode == "single" and self.engine_version.startswith("0.9")
            ):
                return "tensorrt-llm-static"
            version = _version(self.engine_version)
            if version == _UNKNOWN_VERSION:
                return "tensorrt-llm"
            return "tensorrt-llm-pytorch" if version >= (0, 20) else "tensorrt-llm"
        if self.engine == "vllm":
            if self.source_family in HOST_BOUND_SOURCES:
                return "vllm-host-bound"
            # before 0.6 the engine's CPU work blocked every GPU step (engines.toml [vllm-0.5]),
            # and before 0.5.4 the HTTP server's did too ([vllm-0.4-server])
            if _version(self.engine_version) >= (0, 6):
                return "vllm"
            in_process = self.api_server and _patch_version(self.engine_version) < (0, 5, 4)
            return "vllm-0.4-server" if in_process else "vllm-0.5"
        if self.engine == "sglang":
            return "sglang"
        return "generic"


_UNKNOWN_VERSION = (1_000_000, 0)


def _version(text: str) -> tuple[int, int]:
    """(major, minor) of a version string such as ``0.5.4`` or ``0.6.5.dev964+mlperf50``.

    ``post-1.0 ...`` (a page that names only a lower bound) reads as that bound; a string that
    does not start with numbers otherwise (unstated) counts as newer than any."""
    text = text.strip()
    if text.lower().startswith("post-"):
        text = text[len("post-") :]
    parts = text.split(" ", 1)[0].split(".")[:2]
    try:
        return (int(parts[0]), int(parts[1]) if len(parts) > 1 else 0)
    except ValueError:
        return _UNKNOWN_VERSION


HOST_BOUND_SOURCES = {
    "mlenergy": (
        "ML.ENERGY leaderboard v2 ran vLLM 0.5.4 on servers bound by host CPU work: its GPUs draw a"
        " median 39 % (H100) and 44 % (A100) of TDP, and Llama-3.1-8B on one H100 gives a flat"
        " 1.8-2.2k tok/s from 64 to 1,024 sequences"
    ),
}
"""Source families whose vLLM runs are fitted as the ``vllm-host-bound`` engine profile, so that
the host's costs stay out of the ``vllm`` engine's own calibration; the value says why."""

_BATCH_NOTE = re.compile(r"gpu_batch_size \{'[^']+': (\d+)\}")
_VLLM_SEQS_NOTE = re.compile(r"max_num_seqs: (\d+)")
_VLLM_TOKENS_NOTE = re.compile(r"max_num_batched_tokens: (\d+)")
_POWER_NOTE = re.compile(r"power[_ ]limit (\d+) W", re.IGNORECASE)


def _configured(notes: str) -> tuple[int, int, float]:
    """Configuration stated in a row's notes: the submitter's batch size (NVIDIA's
    ``gpu_batch_size``, else vLLM's ``max_num_seqs`` as a harness YAML quoted in the notes sets
    it), vLLM's token budget per step (``max_num_batched_tokens``; 0: unstated) and the GPU
    power limit."""
    batch = _BATCH_NOTE.search(notes) or _VLLM_SEQS_NOTE.search(notes)
    tokens = _VLLM_TOKENS_NOTE.search(notes)
    power = _POWER_NOTE.search(notes)
    return (
        int(batch.group(1)) if batch else 0,
        int(tokens.group(1)) if tokens else 0,
        float(power.group(1)) if power else 0.0,
    )


def _sized_by(row: Mapping[str, str]) -> str:
    """:data:`TRTLLM_BENCH` for an offline TensorRT-LLM run (TRT engine, 0.14 or later) whose
    engine ``trtllm-bench build --dataset`` built: the perf-overview rows, measured with
    trtllm-bench or (GH200) gptManagerBenchmark on that engine."""
    notes = row.get("notes", "")
    if (
        row.get("engine", "").startswith("tensorrt-llm")
        and row.get("mode") == "offline"
        and "TRT engine" in notes
        and ("trtllm-bench" in notes or "gptManagerBenchmark" in notes)
        and _version(row.get("engine_version", "")) >= (0, 14)
    ):
        return TRTLLM_BENCH
    return ""


def _unstated(row: Mapping[str, str], *, weight_stated: bool) -> tuple[str, ...]:
    out = []
    if not row.get("tp", "").strip() and _int(row.get("num_accelerators", ""), 1) > 1:
        out.append("tp")
    if not weight_stated and row["case_id"].startswith("mlperf-"):
        out.append("precision")
    return tuple(out)


def _int(text: str, default: int) -> int:
    return int(float(text)) if text.strip() else default


def _float(text: str) -> float:
    return float(text) if text.strip() else 0.0


@functools.cache
def _workload_defaults() -> dict[str, Any]:
    return {k: dict(v) for k, v in load_table("validation_workloads").items()}


def _patch_version(text: str) -> tuple[int, int, int]:
    """(major, minor, patch) of a version string; the patch is 0 where it is not a number
    (``0.5.x``, ``0.4.0.post1`` reads as 0.4.0)."""
    major, minor = _version(text)
    parts = text.strip().split(" ", 1)[0].split(".")
    patch = parts[2] if len(parts) > 2 else "0"
    digits = patch[: len(patch) - len(patch.lstrip("0123456789"))]
    return (major, minor, int(digits) if digits else 0)


@functools.cache
def _stated_configs() -> list[dict[str, Any]]:
    return [dict(v) for v in load_table("validation_configs").values()]


def _stated(row: Mapping[str, str], key: str) -> Any:
    """What a public statement about the run (``catalog/validation_configs.toml``, the first
    entry whose ``match``, a prefix or a list of them, prefixes the case id and that gives
    ``key``) says of ``key``; None where none does."""
    for entry in _stated_configs():
        if key in entry and row["case_id"].startswith(_prefixes(entry["match"])):
            return entry[key]
    return None


def _prefixes(match: str | list[str]) -> str | tuple[str, ...]:
    """A statement's ``match`` as ``str.startswith`` takes it."""
    return match if isinstance(match, str) else tuple(match)


def _stated_power_limit(row: Mapping[str, str], from_notes: float) -> float:
    """The board power a run's GPUs had: the row's notes (``power limit N W``), else a public
    statement about the run; 0 where neither states it."""
    return from_notes or float(_stated(row, "power_limit_w") or 0.0)


def _stated_precisions(row: Mapping[str, str]) -> tuple[str, str, str]:
    """Weight, KV and activation precision of a run as stated: the row's, else a public statement
    about the run (``catalog/validation_configs.toml``); empty where neither states it. The
    measurements schema has no activation column, so that one comes only from the statements."""
    weight = (row.get("weight_precision") or "").strip()
    kv = (row.get("kv_precision") or "").strip()
    return (
        weight or str(_stated(row, "weight_precision") or ""),
        kv or str(_stated(row, "kv_precision") or ""),
        str(_stated(row, "activation_precision") or ""),
    )


def _mean_lengths(
    row: Mapping[str, str], metrics: Mapping[str, float]
) -> tuple[float, float, bool, int, float, float]:
    """Mean input and output length of a run, whether the input is assumed, its beams, and the
    coefficients of variation of its input and output lengths.

    Each length is the row's where it states one; the output length next is what the run
    measured (:func:`_measured_output_length`); the rest, and the spreads, come from the data
    set's entry in ``catalog/validation_workloads.toml``.
    """
    isl, osl = _float(row["isl"]), _float(row["osl"])
    if osl <= 0:
        osl = _measured_output_length(metrics, row)
    assumed = False
    beams = 1
    in_cv = out_cv = 0.0
    text = (row["dataset"] + " " + row["case_id"]).lower()
    for entry in _workload_defaults().values():
        if entry["match"].lower() in text:
            if isl <= 0:
                isl, assumed = float(entry["input_tokens"]), True
            if osl <= 0:
                osl = float(entry["output_tokens"])
            beams = int(entry.get("beam_width", 1))
            in_cv = float(entry.get("input_tokens_cv", 0.0))
            out_cv = float(entry.get("output_tokens_cv", 0.0))
            break
    return isl, osl, assumed, beams, in_cv, out_cv


def _measured_output_length(metrics: Mapping[str, float], row: Mapping[str, str]) -> float:
    """The mean output length a run measured: its output tokens per completed request.

    MLPerf's logs report tokens and samples per second of the same run (their ratio is the
    benchmark's own tokens per sample); a server run completes the requests it was sent, so its
    request rate stands in for completed requests. Zero when the run reports only one of the two.
    """
    tokens = metrics.get("output_tokens_per_s", 0.0)
    requests = metrics.get("requests_per_s", 0.0)
    if requests <= 0 and row["mode"] == "server":
        requests = _float(row.get("request_rate_per_s", ""))
    return tokens / requests if tokens > 0 and requests > 0 else 0.0


MEASUREMENT_COLUMNS = (
    "case_id",
    "source",
    "model",
    "accelerator",
    "num_accelerators",
    "engine",
    "engine_version",
    "weight_precision",
    "kv_precision",
    "tp",
    "pp",
    "ep",
    "isl",
    "osl",
    "dataset",
    "mode",
    "concurrency",
    "request_rate_per_s",
    "batch_size",
    "metric",
    "value",
    "unit",
    "notes",
)
"""The columns of ``measurements.csv``, in order: the schema every shipped measurements file and
the scripts that build them write."""
_INT_COLUMNS = ("num_accelerators", "tp", "pp", "ep", "batch_size")
_FLOAT_COLUMNS = ("isl", "osl", "request_rate_per_s", "concurrency")


def _check_row(row: Mapping[str, str | None], where: str) -> None:
    """Raise :class:`InvalidParameterError` naming ``file:line`` and the column of a bad cell."""
    for column in ("case_id", "model", "accelerator", "metric", "mode"):
        if not (row.get(column) or "").strip():
            raise InvalidParameterError(f"{where}: {column}", row.get(column), "a non-empty value")
    value = row.get("value") or ""
    try:
        number = float(value)
    except ValueError:
        number = math.nan
    if not math.isfinite(number):
        raise InvalidParameterError(f"{where}: value", value, "a finite number")
    for column in _INT_COLUMNS + _FLOAT_COLUMNS:
        text = (row.get(column) or "").strip()
        if not text:
            continue
        try:
            parsed = float(text)
        except ValueError:
            parsed = math.nan
        if not math.isfinite(parsed) or parsed < 0:
            kind = "an integer >= 0" if column in _INT_COLUMNS else "a number >= 0"
            raise InvalidParameterError(f"{where}: {column}", text, f"{kind} or empty")


MLPERF_V5_MEASUREMENTS = "measurements_mlperf_v5.csv"
"""MLPerf Inference v5.1 and v6.0 closed-datacenter LLM results in the ``measurements.csv``
schema, shipped in :mod:`chip2grid.data` (built by ``scripts/mlperf_v5_extract.py`` from the
mlcommons result repositories; every row names its source)."""


TRTLLM_BLOG_MEASUREMENTS = "measurements_trtllm_blog.csv"
"""DeepSeek-R1 max-throughput runs (B200, H200; attention DP with a stated per-rank batch)
published in TensorRT-LLM's DeepSeek-R1 best-practice blog, in the ``measurements.csv`` schema
(source family ``trtblog``, held out by default)."""


VLLM_DEV_MEASUREMENTS = "measurements_vllm_dev.csv"
"""vLLM 0.5.x offline throughput on H100 (``benchmark_throughput.py``) and vLLM 0.3-0.4 Mixtral
static-batch latency on A100 (``benchmark_latency.py``) that vLLM's developers published in pull
requests, with stated model, lengths and GPU count, in the ``measurements.csv`` schema (source
family ``vllmdev``, in the fit: it calibrates the ``vllm-0.5`` engine profile, which Lambda's
vLLM 0.5.4 runs then test)."""


NIM_DLI_MEASUREMENTS = "measurements_nim_dli.csv"
"""GenAI-Perf closed-loop runs (1 to 250 concurrent requests) of Llama-3-8B and Llama-3-70B on an
early NVIDIA NIM (TensorRT-LLM) on DGX A100 and DGX H100, from NVIDIA DLI's LLM inference sizing
course, in the ``measurements.csv`` schema (source family ``nimdli``, held out by default; built by
``scripts/nim_dli_extract.py``)."""


TRTLLM_DLI_MEASUREMENTS = "measurements_trtllm_dli.csv"
"""TensorRT-LLM 0.9.0 static-batch runs (``gptSessionBenchmark``: batch 1 to 1,536, tensor
parallelism 1 to 8, seven models on six GPUs) from NVIDIA DLI's LLM inference sizing course, in
the ``measurements.csv`` schema (source family ``trtdli``, in the fit: its batch and TP sweeps
separate the per-collective latency from the costs that grow with the batch; built by
``scripts/trtllm_dli_extract.py``)."""


INFERENCEX_MEASUREMENTS = "measurements_inferencex.csv"
"""SemiAnalysis InferenceX's DeepSeek-R1 runs on one node (SGLang and TensorRT-LLM on H200, B200,
B300, MI300X, MI325X and MI355X; closed loops of 4 to 512 requests at ISL/OSL 1k/1k, 1k/8k and
8k/1k), read from the captures of its dashboard API that InferenceX-app keeps, in the
``measurements.csv`` schema (source family ``inferencex``, held out by default; built by
``scripts/inferencex_extract.py``)."""


MI300X_VLLM_MEASUREMENTS = "measurements_mi300x_vllm.csv"
"""vLLM on eight MI300X (Llama-3.1-70B and 405B, FP8, TP 8) as AMD published it in nine snapshots
of its ROCm performance-results page (``benchmark_throughput`` at a stated ``max_num_seqs``;
``benchmark_latency`` static batches of 1 to 128), and Oracle's Llama-3.1-405B runs, in the
``measurements.csv`` schema (source families ``amdperf`` and ``oracleblog``, held out by default:
the ``cdna3`` family has no fit, and a fit on these runs alone does not carry to MLPerf's and
InferenceX's MI300X and MI325X runs; README, "vLLM on eight MI300X")."""


VLLM_BLOG_MEASUREMENTS = "measurements_vllm_blog.csv"
"""Bursts of 500 prompts through vLLM 0.5.3 and 0.6.0, SGLang 0.3.0 and TensorRT-LLM 0.11 (Triton)
serving Llama 3 8B on one H100 and 70B on four, as the vLLM team's v0.6.0 post charts them (bar
heights read off the images in pixels), in the ``measurements.csv`` schema (source family
``vllmblog``, held out by default; built by ``scripts/vllm_blog_extract.py``)."""


def shipped_measurements() -> Path:
    """Path of the MLPerf v5.1/v6.0 measurements that chip2grid ships."""
    return data_path(MLPERF_V5_MEASUREMENTS)


def shipped_measurement_files() -> list[Path]:
    """Every measurements file chip2grid ships (MLPerf v5.1/v6.0, TensorRT-LLM blog, vLLM
    developers' pull requests, NIM closed-loop runs, TensorRT-LLM 0.9 static-batch sweeps,
    InferenceX's DeepSeek-R1 runs, AMD's and Oracle's MI300X vLLM runs, the vLLM v0.6.0 post's
    charts)."""
    return [
        shipped_measurements(),
        data_path(TRTLLM_BLOG_MEASUREMENTS),
        data_path(VLLM_DEV_MEASUREMENTS),
        data_path(NIM_DLI_MEASUREMENTS),
        data_path(TRTLLM_DLI_MEASUREMENTS),
        data_path(INFERENCEX_MEASUREMENTS),
        data_path(MI300X_VLLM_MEASUREMENTS),
        data_path(VLLM_BLOG_MEASUREMENTS),
    ]


def load_measurement_files(paths: Sequence[str | Path]) -> list[Case]:
    """:func:`load_cases` of several files; a ``case_id`` in two files is an error."""
    cases: list[Case] = []
    seen: dict[str, str] = {}
    for path in paths:
        for case in load_cases(path):
            if case.case_id in seen:
                raise InvalidParameterError(
                    "measurements",
                    str(path),
                    f"files whose case_ids differ; {case.case_id} is also in {seen[case.case_id]}",
                )
            seen[case.case_id] = str(path)
            cases.append(case)
    return cases


def load_cases(path: str | Path) -> list[Case]:
    """Read ``measurements.csv`` and group its rows into cases (one per ``case_id``).

    A malformed cell raises :class:`InvalidParameterError` naming ``file:line`` and the column.
    """
    file = Path(path)
    if not file.is_file():
        raise InvalidParameterError("measurements", str(path), "a path to measurements.csv")
    rows: dict[str, list[dict[str, str]]] = {}
    with file.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        required = {"case_id", "model", "accelerator", "metric", "value", "mode"}
        missing = required - set(reader.fieldnames or [])
        if missing:
            raise InvalidParameterError(
                "measurements",
                str(path),
                f"a CSV with columns {sorted(required)}; missing {sorted(missing)}",
            )
        for row in reader:
            _check_row(row, f"{path}:{reader.line_num}")
            rows.setdefault(row["case_id"], []).append(row)
    cases = []
    for case_id, group in rows.items():
        first = group[0]
        metrics = {r["metric"]: float(r["value"]) for r in group}
        isl, osl, assumed, beams, in_cv, out_cv = _mean_lengths(first, metrics)
        max_batch, max_tokens, power_limit = _configured(first.get("notes", ""))
        weight, kv, activation = _stated_precisions(first)
        cases.append(
            Case(
                case_id=case_id,
                source_family=case_id.split("-", 1)[0],
                source=first.get("source", ""),
                model=first["model"],
                accelerator=first["accelerator"],
                num_accelerators=_int(first.get("num_accelerators", ""), 1),
                engine=first.get("engine", "") or "unknown",
                engine_version=first.get("engine_version", ""),
                weight_precision=weight or "bf16",  # unstated: 16-bit weights, engine KV default
                kv_precision=kv or "auto",
                activation_precision=activation or "auto",
                tp=_int(first.get("tp", ""), 1),
                pp=_int(first.get("pp", ""), 1),
                ep=_int(first.get("ep", ""), 1),
                input_tokens=isl,
                output_tokens=osl,
                input_tokens_assumed=assumed,
                input_tokens_cv=in_cv,
                output_tokens_cv=out_cv,
                beam_width=beams,
                unstated=_unstated(first, weight_stated=bool(weight)),
                max_batch_size=max_batch,
                max_num_batched_tokens=max_tokens,
                power_limit_w=_stated_power_limit(first, power_limit),
                sized_by=_sized_by(first),
                dataset=first.get("dataset", ""),
                harness_batch_window_s=float(_stated(first, "harness_batch_window_s") or 0.0),
                harness_batch_max=int(_stated(first, "harness_batch_max") or 0),
                admission_every_steps=int(_stated(first, "num_scheduler_steps") or 1),
                scale_up_domain_size=int(_stated(first, "scale_up_domain_size") or 0),
                scale_up_topology=str(_stated(first, "scale_up_topology") or ""),
                allreduce_quantization=str(_stated(first, "allreduce_quantization") or "none"),
                api_server=_stated(first, "served_by") == "api_server",
                identical_inputs=GPT_SESSION_BENCHMARK in first.get("dataset", "").lower(),
                mode=first["mode"],
                request_rate_per_s=_float(first.get("request_rate_per_s", "")),
                batch_size=_int(first.get("batch_size", ""), 0),
                concurrency=_float(first.get("concurrency") or ""),
                metrics=metrics,
            )
        )
    return cases

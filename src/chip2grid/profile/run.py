"""``chip2grid profile``: measure the device, derive the engine's efficiencies, write a file.

The written file is a user calibration file (``docs/calibration.md``) that
:func:`chip2grid.perf.calibration.calibration_for` reads back.
"""

from __future__ import annotations

import datetime
import importlib.metadata
import platform
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from chip2grid.errors import Chip2GridError, InvalidParameterError
from chip2grid.hardware import get_accelerator
from chip2grid.llm import get_model
from chip2grid.profile.derive import GemmFit, fit_attention_eff, fit_gemm, memory_eff_frac
from chip2grid.profile.kernels import (
    AttentionSample,
    BandwidthSample,
    GemmSample,
    OverheadSample,
    fp8_available,
    measure_attention,
    measure_bandwidth,
    measure_gemm,
    measure_overheads,
)
from chip2grid.profile.power import PowerSample, nvml_handle, power_under_load
from chip2grid.profile.shapes import (
    CPU_DIM_DIVISOR,
    CPU_GEMM_M_TOKENS,
    GPU_GEMM_M_TOKENS,
    QUICK_DIM_DIVISOR,
    QUICK_DIM_MAX,
    QUICK_GEMM_M_TOKENS,
    model_attention_shape,
    model_gemm_shapes,
)
from chip2grid.profile.writer import to_toml, write_atomic
from chip2grid.units import MIB

_MIB = int(MIB)

DEVICES = ("auto", "cuda", "cpu")
CPU_PRECISIONS = ("fp32", "bf16", "fp16")
GPU_PRECISIONS = ("bf16", "fp16", "fp8", "fp32")
PRIMARY_PRECISIONS = ("bf16", "fp16", "fp32", "fp8")
"""The precision whose GEMM fit becomes ``gemm_compute_eff`` (the first one measured)."""


class MissingDependencyError(Chip2GridError):
    """An optional dependency (PyTorch for ``chip2grid profile``) is not installed."""


def import_torch() -> Any:
    """PyTorch, or :class:`MissingDependencyError` telling how to install it."""
    try:
        import torch
    except ImportError:
        raise MissingDependencyError(
            'chip2grid profile needs PyTorch: pip install "chip2grid[profile]"'
        ) from None
    return torch


@dataclass(frozen=True, slots=True, kw_only=True)
class ProfileOptions:
    """What to profile. ``device`` auto, cuda or cpu; ``accelerator`` the catalog id of the
    GPU (required on cuda, not allowed on cpu); ``quick`` tiny shapes (seconds, for CI)."""

    device: str = "auto"
    accelerator: str | None = None
    quick: bool = False
    models: tuple[str, ...] = ("llama-3.1-8b",)
    tp: int = 1
    precisions: tuple[str, ...] | None = None
    repeats: int = 0
    warmup: int = -1
    power_duration_s: float = -1.0
    cpu_threads: int = 0
    """Threads torch may use on the CPU (0: 1 with ``quick``, torch's default otherwise)."""

    def __post_init__(self) -> None:
        if self.device not in DEVICES:
            raise InvalidParameterError("--device", self.device, " or ".join(DEVICES))
        if not self.models:
            raise InvalidParameterError("--models", "", "one or more catalog model ids")
        for model in self.models:
            get_model(model)  # UnknownEntryError lists close names
        if self.tp < 1:
            raise InvalidParameterError("--tp", self.tp, "an integer >= 1")
        if self.cpu_threads < 0:
            raise InvalidParameterError("--cpu-threads", self.cpu_threads, "an integer >= 0")
        if self.repeats < 0:
            raise InvalidParameterError("--repeats", self.repeats, "an integer >= 1 (0: default)")
        if self.accelerator is not None:
            get_accelerator(self.accelerator)
            if self.device == "cpu":
                raise InvalidParameterError(
                    "--accelerator",
                    self.accelerator,
                    "no accelerator with --device cpu (the CPU has no catalog entry)",
                )
        if self.precisions is not None:
            known = set(CPU_PRECISIONS) | set(GPU_PRECISIONS)
            for p in self.precisions:
                if p not in known:
                    raise InvalidParameterError("--precisions", p, ", ".join(sorted(known)))


@dataclass(frozen=True, slots=True, kw_only=True)
class ProfileResult:
    """Everything one profile measured and derived, with its provenance."""

    provenance: dict[str, Any]
    gemm: list[GemmSample]
    attention: list[AttentionSample]
    bandwidth: list[BandwidthSample]
    overheads: list[OverheadSample]
    power: PowerSample | None
    gemm_fits: dict[str, GemmFit]
    hardware: dict[str, Any]
    derived: dict[str, Any]
    coverage: dict[str, Any]
    notes: list[str] = field(default_factory=list)

    def to_document(self) -> dict[str, Any]:
        """The tables of the calibration file (``docs/calibration.md``)."""
        measurements: dict[str, Any] = {
            "gemm": {
                "columns": ["model", "op", "precision", "m", "n", "k", "time_s", "flop_per_s"],
                "rows": [
                    [s.model, s.op, s.precision, s.m, s.n, s.k, s.time_s, s.flop_per_s]
                    for s in self.gemm
                ],
            },
            "attention": {
                "columns": [
                    "phase",
                    "backend",
                    "precision",
                    "batch",
                    "num_heads",
                    "num_kv_heads",
                    "head_dim",
                    "context",
                    "time_s",
                    "flop_per_s",
                ],
                "rows": [
                    [
                        s.phase,
                        s.backend,
                        s.precision,
                        s.batch,
                        s.num_heads,
                        s.num_kv_heads,
                        s.head_dim,
                        s.context,
                        s.time_s,
                        s.flop_per_s,
                    ]
                    for s in self.attention
                ],
            },
            "bandwidth": {
                "columns": ["size_bytes", "time_s", "bytes_per_s"],
                "rows": [[s.size_bytes, s.time_s, s.bytes_per_s] for s in self.bandwidth],
            },
            "overhead": {
                "columns": ["kind", "time_s"],
                "rows": [[s.kind, s.time_s] for s in self.overheads],
            },
        }
        if self.power is not None:
            p = self.power
            measurements["power"] = {
                "idle_w": p.idle_w,
                "mean_w": p.mean_w,
                "max_w": p.max_w,
                "num_samples": p.num_samples,
                "duration_s": p.duration_s,
                "power_limit_w": p.power_limit_w,
            }
        prov = dict(self.provenance)
        prov["notes"] = list(self.notes)
        return {
            "provenance": prov,
            "hardware": self.hardware,
            "coverage": self.coverage,
            "derived": self.derived,
            "measurements": measurements,
        }

    def to_toml(self) -> str:
        """The calibration file's text."""
        header = (
            "chip2grid calibration file written by `chip2grid profile`; do not edit by hand.\n"
            "Use it with CHIP2GRID_CALIBRATION=<this file> or calibration_for(..., override=<this file>)."
        )
        return to_toml(self.to_document(), header=header)

    def write(self, path: str | Path) -> Path:
        """Write the file atomically (temporary file, then ``os.replace``)."""
        return write_atomic(path, self.to_toml())


@dataclass(frozen=True, slots=True)
class _Plan:
    m_tokens: tuple[int, ...]
    divisor: int
    cap: int
    bandwidth_sizes: tuple[int, ...]
    prefill: list[tuple[int, int]]
    decode: list[tuple[int, int]]
    repeats: int
    warmup: int
    target_s: float
    power_s: float


def _plan(device: str, quick: bool) -> _Plan:
    if device == "cuda":
        prefill = [(1, s) for s in (512, 1024, 2048, 4096, 8192)] + [(8, 1024), (4, 4096)]
        decode = [
            (b, c) for b in (1, 8, 32, 128) for c in (512, 2048, 8192, 32768) if b * c <= 1 << 20
        ]
        if quick:
            return _Plan(
                (1, 16, 128, 1024, 4096), 1, 1 << 30, (256 * _MIB,), prefill[:3], decode[:4],
                5, 2, 1e-3, 1.0,
            )  # fmt: skip
        return _Plan(
            GPU_GEMM_M_TOKENS, 1, 1 << 30, (256 * _MIB, 1024 * _MIB), prefill, decode, 10, 3,
            2e-3, 5.0,
        )  # fmt: skip
    if quick:
        return _Plan(
            QUICK_GEMM_M_TOKENS, QUICK_DIM_DIVISOR, QUICK_DIM_MAX, (16 * _MIB,),
            [(1, 64), (1, 128), (2, 128)], [(1, 256), (4, 256), (4, 1024)], 5, 1, 3e-4, 0.0,
        )  # fmt: skip
    return _Plan(
        CPU_GEMM_M_TOKENS, CPU_DIM_DIVISOR, 2048, (64 * _MIB, 256 * _MIB),
        [(1, 256), (1, 512), (1, 1024), (4, 512)], [(1, 1024), (8, 1024), (8, 4096), (32, 2048)],
        7, 2, 2e-3, 0.0,
    )  # fmt: skip


def _resolve_device(torch: Any, requested: str) -> str:
    has_cuda = bool(torch.cuda.is_available())
    if requested == "cuda" and not has_cuda:
        raise InvalidParameterError(
            "--device", "cuda", "cpu (torch sees no CUDA device)", "Use --device cpu --quick."
        )
    if requested == "auto":
        return "cuda" if has_cuda else "cpu"
    return requested


def _chip2grid_version() -> str:
    try:
        return importlib.metadata.version("chip2grid")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def run_profile(options: ProfileOptions, *, command: str = "chip2grid profile") -> ProfileResult:
    """Measure GEMMs, attention, bandwidth, overheads (and power with NVML); derive efficiencies.

    On ``cuda`` efficiencies are relative to the catalog peaks of ``options.accelerator``; on the
    CPU, which has no catalog entry, relative to the measured peaks (the best GEMM at each
    precision and the best copy), recorded in ``[derived]``.
    """
    torch = import_torch()
    device = _resolve_device(torch, options.device)
    threads = torch.get_num_threads()
    if device == "cpu":
        # one thread with --quick: a shared CI machine makes multi-threaded timings jitter
        torch.set_num_threads(options.cpu_threads or (1 if options.quick else threads))
    try:
        return _run(torch, device, options, command)
    finally:
        torch.set_num_threads(threads)


def _run(torch: Any, device: str, options: ProfileOptions, command: str) -> ProfileResult:
    acc = None
    if device == "cuda":
        if options.accelerator is None:
            raise InvalidParameterError(
                "--accelerator",
                None,
                "the catalog id of this GPU (run `chip2grid list accelerators`)",
                f"torch reports {torch.cuda.get_device_name()!r}.",
            )
        acc = get_accelerator(options.accelerator)
    elif options.accelerator is not None:
        raise InvalidParameterError(
            "--accelerator", options.accelerator, "no accelerator on the CPU (--device cpu)"
        )
    plan = _plan(device, options.quick)
    repeats = options.repeats or plan.repeats
    warmup = options.warmup if options.warmup >= 0 else plan.warmup
    power_s = options.power_duration_s if options.power_duration_s >= 0 else plan.power_s
    supported = GPU_PRECISIONS if device == "cuda" else CPU_PRECISIONS
    default_precisions = ("fp32", "bf16") if device == "cpu" and options.quick else supported
    precisions = options.precisions or default_precisions
    for p in precisions:
        if p not in supported or (p == "fp8" and not fp8_available(torch, device)):
            raise InvalidParameterError(
                "--precisions", p, f"precisions this {device} computes: {', '.join(supported)}"
                + ("" if device == "cpu" else " (fp8 needs compute capability >= 8.9)"),
            )  # fmt: skip
    notes: list[str] = []
    shapes = model_gemm_shapes(options.models, tp=options.tp, divisor=plan.divisor, cap=plan.cap)
    gemm, gemm_notes = measure_gemm(
        torch, device, shapes, plan.m_tokens, precisions,
        warmup=warmup, repeats=repeats, target_s=plan.target_s,
    )  # fmt: skip
    notes += gemm_notes
    attn_precision = "bf16" if "bf16" in precisions else precisions[0]
    if attn_precision == "fp8":
        attn_precision = "bf16"
    attn_shape = model_attention_shape(options.models[0], tp=options.tp, quick=options.quick)
    attention, attn_notes = measure_attention(
        torch, device, attn_shape, attn_precision, plan.prefill, plan.decode,
        warmup=warmup, repeats=repeats, target_s=plan.target_s,
    )  # fmt: skip
    notes += attn_notes
    bandwidth = measure_bandwidth(
        torch, device, plan.bandwidth_sizes, warmup=warmup, repeats=repeats
    )
    overheads = measure_overheads(torch, device, warmup=warmup, repeats=repeats)
    power, driver = None, "n/a"
    if device == "cuda":
        power, driver = _power(torch, gemm, precisions, power_s, notes)
    else:
        notes.append("power: not measured on the CPU (NVML reads NVIDIA GPUs only)")
    # --- reference peaks and derived efficiencies
    measured_peak = {
        p: max(s.flop_per_s for s in gemm if s.precision == p)
        for p in precisions
        if any(s.precision == p for s in gemm)
    }
    measured_bw = max(s.bytes_per_s for s in bandwidth)
    if acc is not None:
        peaks = {p: acc.peak_flops(p) for p in measured_peak}
        peak_bw = acc.memory_bandwidth_bytes_per_s
        reference = f"catalog peaks of {acc.id}"
    else:
        # small CPU GEMMs run from cache: the reference bandwidth is the best of the copy and
        # the GEMMs' effective bytes per second, so the roofline never beats it
        best_gemm_bw = max(s.bytes / s.time_s for s in gemm) if gemm else 0.0
        peaks, peak_bw = dict(measured_peak), max(measured_bw, best_gemm_bw)
        reference = "measured peaks (CPU)"
    if not measured_peak:
        raise Chip2GridError(f"profile: no GEMM could be measured on {device}: {'; '.join(notes)}")
    memory_eff = memory_eff_frac(measured_bw, peak_bw)
    fits = {
        p: fit_gemm(
            gemm,
            precision=p,
            peak_flop_per_s=peaks[p],
            bandwidth_bytes_per_s=peak_bw,
            memory_eff=memory_eff,
        )
        for p in measured_peak
    }
    primary = next(p for p in PRIMARY_PRECISIONS if p in fits)
    attn_peak = peaks.get(attn_precision) or (
        acc.peak_flops(attn_precision) if acc is not None else max(measured_peak.values())
    )
    attn_eff, attn_err = fit_attention_eff(
        attention, peak_flop_per_s=attn_peak, bandwidth_bytes_per_s=peak_bw, memory_eff=memory_eff
    )
    now = datetime.datetime.now(datetime.UTC).replace(microsecond=0)
    device_name = str(torch.cuda.get_device_name()) if device == "cuda" else "cpu"
    family = acc.family if acc is not None else "cpu"
    provenance = {
        "kind": "profile",
        "device": device_name,
        "device_detail": _device_detail(torch, device),
        "accelerator": acc.id if acc is not None else "",
        "family": family,
        "driver": driver,
        "cuda": str(torch.version.cuda or "n/a"),
        "torch": str(torch.__version__),
        "python": platform.python_version(),
        "chip2grid": _chip2grid_version(),
        "created_utc": now.isoformat().replace("+00:00", "Z"),
        "command": command,
        "quick": options.quick,
        "reference": reference,
    }
    hardware = {
        "gemm_compute_eff": fits[primary].gemm_compute_eff,
        "gemm_m_half_tokens": fits[primary].gemm_m_half_tokens,
        "attention_compute_eff": attn_eff,
        "memory_eff": memory_eff,
        "source": f"{command} on {device_name}, {now.date().isoformat()}; "
        f"GEMM fit at {primary}; relative to {reference}",
    }
    derived: dict[str, Any] = {
        "reference": reference,
        "primary_precision": primary,
        "attention_precision": attn_precision,
        "attention_rms_log_error": attn_err,
        "attention_peak_flop_per_s": float(attn_peak),
        "measured_bandwidth_bytes_per_s": measured_bw,
        "peak_bandwidth_bytes_per_s": float(peak_bw),
        "kernel_launch_s": _overhead(overheads, "launch"),
        "sync_round_trip_s": _overhead(overheads, "sync"),
        "empty_sync_s": _overhead(overheads, "empty_sync"),
        "gemm": {
            p: {
                "gemm_compute_eff": f.gemm_compute_eff,
                "gemm_m_half_tokens": f.gemm_m_half_tokens,
                "rms_log_error": f.rms_log_error,
                "num_samples": f.num_samples,
                "measured_peak_flop_per_s": measured_peak[p],
                "peak_flop_per_s": float(peaks[p]),
                "best_frac_of_peak": measured_peak[p] / float(peaks[p]),
            }
            for p, f in fits.items()
        },
    }
    if power is not None:
        derived["power_under_gemm_load_w"] = power.mean_w
        if acc is not None:
            derived["power_under_gemm_load_frac_of_tdp"] = power.mean_w / acc.tdp_w
    contexts = [s.context for s in attention]
    coverage = {
        "gemm_m_min_tokens": float(min(s.m for s in gemm)),
        "gemm_m_max_tokens": float(max(s.m for s in gemm)),
        "context_min_tokens": float(min(contexts)) if contexts else float("nan"),
        "context_max_tokens": float(max(contexts)) if contexts else float("nan"),
        "gemm_n": [min(s.n for s in gemm), max(s.n for s in gemm)],
        "gemm_k": [min(s.k for s in gemm), max(s.k for s in gemm)],
        "gemm_m_tokens": sorted({s.m for s in gemm}),
        "prefill_batch_tokens": [list(x) for x in plan.prefill],
        "decode_batch_context": [list(x) for x in plan.decode],
        "precisions": list(fits),
        "attention_backends": sorted({s.backend for s in attention}),
        "models": list(options.models),
        "tp": options.tp,
    }
    return ProfileResult(
        provenance=provenance,
        gemm=gemm,
        attention=attention,
        bandwidth=bandwidth,
        overheads=overheads,
        power=power,
        gemm_fits=fits,
        hardware=hardware,
        derived=derived,
        coverage=coverage,
        notes=notes,
    )


def _overhead(samples: list[OverheadSample], kind: str) -> float:
    return next(s.time_s for s in samples if s.kind == kind)


def _device_detail(torch: Any, device: str) -> str:
    if device == "cuda":
        major, minor = torch.cuda.get_device_capability()
        return f"compute capability {major}.{minor}"
    capability = torch.backends.cpu.get_cpu_capability()
    return f"{platform.machine()} {capability}, {torch.get_num_threads()} threads"


def _power(
    torch: Any,
    gemm: list[GemmSample],
    precisions: tuple[str, ...],
    duration_s: float,
    notes: list[str],
) -> tuple[PowerSample | None, str]:
    """NVML power during a loop of the largest 16-bit GEMM; None (and a note) without NVML."""
    index = int(torch.cuda.current_device())
    try:
        _nvml, _handle, driver = nvml_handle(index)
    except RuntimeError as exc:
        notes.append(f"power: skipped ({exc})")
        return None, "unknown"
    if duration_s <= 0:
        return None, driver
    p = "bf16" if "bf16" in precisions else precisions[0]
    biggest = max((s for s in gemm if s.precision == p), key=lambda s: s.flop, default=None)
    if biggest is None or p == "fp8":
        notes.append("power: skipped (no 16-bit GEMM measured)")
        return None, driver
    dt = torch.bfloat16 if p == "bf16" else torch.float16 if p == "fp16" else torch.float32
    a = torch.randn(biggest.m, biggest.k, device="cuda", dtype=dt)
    b = torch.randn(biggest.k, biggest.n, device="cuda", dtype=dt)

    def load() -> None:
        for _ in range(20):
            torch.matmul(a, b)
        torch.cuda.synchronize()

    try:
        return power_under_load(index, load, duration_s=duration_s), driver
    except RuntimeError as exc:
        notes.append(f"power: skipped ({exc})")
        return None, driver


def summarize(result: ProfileResult) -> dict[str, Any]:
    """A short JSON-able summary (for ``--json`` and the console)."""
    return {
        "device": result.provenance["device"],
        "accelerator": result.provenance["accelerator"],
        "family": result.provenance["family"],
        "hardware": {k: v for k, v in result.hardware.items() if k != "source"},
        "num_gemm_samples": len(result.gemm),
        "num_attention_samples": len(result.attention),
        "measured_bandwidth_bytes_per_s": result.derived["measured_bandwidth_bytes_per_s"],
        "kernel_launch_s": result.derived["kernel_launch_s"],
        "sync_round_trip_s": result.derived["sync_round_trip_s"],
        "gemm_fits": {
            p: {
                "gemm_compute_eff": f.gemm_compute_eff,
                "gemm_m_half_tokens": f.gemm_m_half_tokens,
                "rms_log_error": f.rms_log_error,
                "measured_peak_flop_per_s": result.derived["gemm"][p]["measured_peak_flop_per_s"],
            }
            for p, f in result.gemm_fits.items()
        },
        "power_w": None if result.power is None else result.power.mean_w,
        "coverage": {
            k: result.coverage[k]
            for k in (
                "gemm_m_min_tokens",
                "gemm_m_max_tokens",
                "context_min_tokens",
                "context_max_tokens",
            )
        },
        "notes": list(result.notes),
        "python": sys.version.split()[0],
        "median_gemm_flop_per_s": float(np.median([s.flop_per_s for s in result.gemm])),
    }

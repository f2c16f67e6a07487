"""The efficiencies the step-time engine uses, fitted to profiled kernels (numpy and scipy only).

GEMMs follow the engine's roofline with a thin-matrix efficiency (``perf.step``):

.. math::  t(m) = \\max\\left(\\frac{2mnk}{P\\,\\eta_{max}\\,m/(m + m_{1/2})},
           \\frac{B}{W\\,\\eta_m}\\right)

``eta_max`` (``gemm_compute_eff``) and ``m_half`` (``gemm_m_half_tokens``) are fitted by least
squares on ``ln(t_model / t_measured)``, with ``eta_m`` (``memory_eff``) from the copy
benchmark. Attention has one compute efficiency on the same roofline, fitted to the fastest
SDPA backend at each shape. Every efficiency stays in (0, 1].
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.optimize import least_squares

from chip2grid.profile.kernels import AttentionSample, GemmSample

EFF_FLOOR = 1e-3
M_HALF_BOUNDS_TOKENS = (0.5, 8192.0)


@dataclass(frozen=True, slots=True, kw_only=True)
class GemmFit:
    """Fitted GEMM efficiency of one precision, and the error of the fit (RMS of log ratios)."""

    precision: str
    gemm_compute_eff: float
    gemm_m_half_tokens: float
    rms_log_error: float
    num_samples: int


def gemm_model_time_s(
    flop: np.ndarray,
    nbytes: np.ndarray,
    m: np.ndarray,
    *,
    peak_flop_per_s: float,
    bandwidth_bytes_per_s: float,
    memory_eff: float,
    gemm_compute_eff: float,
    gemm_m_half_tokens: float,
) -> np.ndarray:
    """The step engine's GEMM time for these shapes (see the module's equation)."""
    eff = gemm_compute_eff * m / (m + gemm_m_half_tokens)
    return np.maximum(flop / (peak_flop_per_s * eff), nbytes / (bandwidth_bytes_per_s * memory_eff))


def fit_gemm(
    samples: Sequence[GemmSample],
    *,
    precision: str,
    peak_flop_per_s: float,
    bandwidth_bytes_per_s: float,
    memory_eff: float,
) -> GemmFit:
    """Fit ``gemm_compute_eff`` and ``gemm_m_half_tokens`` to the samples of one precision."""
    rows = [s for s in samples if s.precision == precision]
    if not rows:
        raise ValueError(f"no GEMM samples at {precision}")
    flop = np.array([s.flop for s in rows])
    nbytes = np.array([s.bytes for s in rows])
    m = np.array([float(s.m) for s in rows])
    t = np.array([s.time_s for s in rows])

    def residuals(x: np.ndarray) -> np.ndarray:
        pred = gemm_model_time_s(
            flop,
            nbytes,
            m,
            peak_flop_per_s=peak_flop_per_s,
            bandwidth_bytes_per_s=bandwidth_bytes_per_s,
            memory_eff=memory_eff,
            gemm_compute_eff=float(x[0]),
            gemm_m_half_tokens=float(x[1]),
        )
        return np.asarray(np.log(pred / t))

    best_eff = float(np.clip((flop / t).max() / peak_flop_per_s, EFF_FLOOR, 1.0))
    result = least_squares(
        residuals,
        np.array([best_eff, 16.0]),
        bounds=([EFF_FLOOR, M_HALF_BOUNDS_TOKENS[0]], [1.0, M_HALF_BOUNDS_TOKENS[1]]),
        loss="soft_l1",
        f_scale=0.2,
        x_scale=np.array([0.1, 16.0]),
    )
    return GemmFit(
        precision=precision,
        gemm_compute_eff=float(result.x[0]),
        gemm_m_half_tokens=float(result.x[1]),
        rms_log_error=float(np.sqrt(np.mean(residuals(result.x) ** 2))),
        num_samples=len(rows),
    )


def fastest_by_shape(samples: Sequence[AttentionSample]) -> list[AttentionSample]:
    """The fastest backend at each (phase, batch, context): engines pick the best kernel."""
    best: dict[tuple[str, int, int], AttentionSample] = {}
    for s in samples:
        key = (s.phase, s.batch, s.context)
        if key not in best or s.time_s < best[key].time_s:
            best[key] = s
    return list(best.values())


def fit_attention_eff(
    samples: Sequence[AttentionSample],
    *,
    peak_flop_per_s: float,
    bandwidth_bytes_per_s: float,
    memory_eff: float,
) -> tuple[float, float]:
    """``(attention_compute_eff, rms_log_error)`` on the roofline, fastest backend per shape."""
    rows = fastest_by_shape(samples)
    if not rows:
        raise ValueError("no attention samples")
    flop = np.array([s.flop for s in rows])
    nbytes = np.array([s.bytes for s in rows])
    t = np.array([s.time_s for s in rows])
    t_mem = nbytes / (bandwidth_bytes_per_s * memory_eff)

    def residuals(x: np.ndarray) -> np.ndarray:
        pred = np.maximum(flop / (peak_flop_per_s * x[0]), t_mem)
        return np.asarray(np.log(pred / t))

    start = float(np.clip((flop / t).max() / peak_flop_per_s, EFF_FLOOR, 1.0))
    result = least_squares(
        residuals, np.array([start]), bounds=([EFF_FLOOR], [1.0]), loss="soft_l1", f_scale=0.2
    )
    return float(result.x[0]), float(np.sqrt(np.mean(residuals(result.x) ** 2)))


def memory_eff_frac(measured_bytes_per_s: float, peak_bytes_per_s: float) -> float:
    """Copy bandwidth over the peak, kept in (0, 1]."""
    return float(np.clip(measured_bytes_per_s / peak_bytes_per_s, EFF_FLOOR, 1.0))

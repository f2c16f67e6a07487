"""Speed targets of the performance core (issue 2), measured, not asserted in unit tests.

    python benchmarks/bench_perf.py

prints: the wall time of `chip2grid estimate` as a whole process (target < 1.5 s), one estimate
under a request rate near capacity (in process), and how
many configurations per second the vectorized API evaluates on one core (target >= 1 M/s).
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np

import chip2grid as c2g
from chip2grid.perf import RankShape, StepBatch, calibration_for, continuous_batching, rank_shape
from chip2grid.perf.steady import screen


def process_time_s(repeats: int = 5) -> float:
    local = os.path.join(os.path.dirname(sys.executable), "chip2grid")
    exe = local if os.path.exists(local) else shutil.which("chip2grid")
    cmd = [exe] if exe else [sys.executable, "-m", "chip2grid.cli"]
    args = [
        "estimate",
        "--model",
        "llama-3.1-70b",
        "--accelerator",
        "h100-sxm",
        "--num-accelerators",
        "8",
        "--tp",
        "8",
        "--pp",
        "1",
        "--ep",
        "1",
        "--weight-precision",
        "fp8",
        "--kv-precision",
        "fp8",
        "--input-tokens",
        "2048",
        "--output-tokens",
        "128",
        "--json",
    ]
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        subprocess.run(cmd + args, check=True, capture_output=True)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def vectorized_configs_per_s(n: int = 1_000_000, fast: bool = True) -> float:
    """Steady-state max-load throughput of n configurations (layout x batch x lengths)."""
    rng = np.random.default_rng(0)
    shapes = []
    for model_id, acc_id, tp in [
        ("llama-3.1-70b", "h100-sxm", 8),
        ("llama-3.1-8b", "h200-sxm", 1),
        ("mixtral-8x7b", "b200", 2),
        ("deepseek-v3", "b200", 8),
    ]:
        d = c2g.Deployment(
            model=c2g.get_model(model_id),
            accelerator=c2g.get_accelerator(acc_id),
            num_accelerators=tp,
            tp=tp,
            weight_precision="fp8",
        )
        shapes.append(rank_shape(d, calibration_for(d.accelerator.family, "tensorrt-llm")))
    stacked = RankShape.stack(shapes)
    pick = rng.integers(0, len(shapes), n)
    shape = RankShape(
        **{f: np.asarray(getattr(stacked, f))[pick] for f in RankShape.__dataclass_fields__}
    )
    isl = rng.integers(128, 8192, n).astype(float)
    osl = rng.integers(16, 2048, n).astype(float)
    batch = rng.integers(1, 512, n).astype(float)
    t0 = time.perf_counter()
    chunk = 32_768  # cache-sized chunks: numpy temporaries stay in L2
    for i in range(0, n, chunk):
        sl = slice(i, i + chunk)
        sub = RankShape(
            **{f: np.asarray(getattr(shape, f))[sl] for f in RankShape.__dataclass_fields__}
        )
        if fast:
            out = screen(sub, isl[sl], osl[sl], batch[sl], 8192.0).output_tokens_per_s
        else:
            out = continuous_batching(
                sub, isl[sl], osl[sl], batch[sl], True, 8192.0
            ).output_tokens_per_s
        assert np.all(out > 0)
    elapsed = time.perf_counter() - t0
    return n / elapsed


def step_evals_per_s(n: int = 1_000_000) -> float:
    d = c2g.Deployment(
        model=c2g.get_model("llama-3.1-70b"),
        accelerator=c2g.get_accelerator("h100-sxm"),
        num_accelerators=8,
        tp=8,
        weight_precision="fp8",
    )
    shape = rank_shape(d, calibration_for("hopper", "tensorrt-llm"))
    rng = np.random.default_rng(1)
    b = rng.integers(1, 512, n).astype(float)
    ctx = rng.integers(1, 32768, n).astype(float)
    t0 = time.perf_counter()
    c2g.step_time(shape, StepBatch.decode(b, ctx))
    return n / (time.perf_counter() - t0)


def request_rate_estimate_s(repeats: int = 20) -> float:
    """One in-process estimate under a fixed request rate near capacity (the batch solve and
    its 10 %-slower variant), median of ``repeats``."""
    d = c2g.Deployment(
        model=c2g.get_model("llama-2-70b"),
        accelerator=c2g.get_accelerator("h100-sxm"),
        num_accelerators=8,
        tp=2,
        weight_precision="fp8",
        kv_precision="fp8",
        engine="tensorrt-llm",
    )
    w = c2g.Workload(input_tokens=222, output_tokens=290)
    load = c2g.Load(mode="request_rate", request_rate_per_s=75.0, max_num_seqs=1024)
    c2g.estimate(d, w, load)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        c2g.estimate(d, w, load, cost_split=False)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


if __name__ == "__main__":
    print(
        f"chip2grid estimate (whole process, median of 5): {process_time_s():.3f} s   (target < 1.5 s)"
    )
    print(
        f"estimate under a request rate at 86 % of capacity (in process): {request_rate_estimate_s() * 1e3:.1f} ms"
    )
    print(f"step_time evaluations: {step_evals_per_s() / 1e6:.2f} M/s on one core")
    print(
        f"screened configurations (perf.steady.screen: throughput + TPOT): {vectorized_configs_per_s() / 1e6:.2f} M/s on one core   (target >= 1 M/s)"
    )
    print(
        f"full steady state (continuous_batching, all latencies): {vectorized_configs_per_s(fast=False) / 1e6:.2f} M/s on one core"
    )

"""The engine's MoE (grouped-GEMM) efficiency: what it slows, what it leaves alone, how it is fitted."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from chip2grid import Deployment, StepBatch, get_accelerator, get_model, rank_shape, step_time
from chip2grid.data import data_path
from chip2grid.errors import CatalogError
from chip2grid.perf import calibration_for
from chip2grid.perf.calibration import EngineCalibration
from chip2grid.validation.cases import VLLM_DEV_MEASUREMENTS, load_cases
from chip2grid.validation.fit import _moe_counts
from chip2grid.validation.predict import ENGINE_PARAMS, prepare


def _shape(model: str, frac: float, tp: int = 1):
    d = Deployment(
        model=get_model(model),
        accelerator=get_accelerator("h100-sxm"),
        num_accelerators=tp,
        tp=tp,
        weight_precision="fp8",
        kv_precision="fp8",
    )
    cal = calibration_for("hopper", "tensorrt-llm")
    cal = dataclasses.replace(cal, engine=dataclasses.replace(cal.engine, moe_gemm_eff_frac=frac))
    return rank_shape(d, cal)


def test_compute_bound_expert_time_scales_with_the_inverse_fraction() -> None:
    prefill = StepBatch(prefill_tokens=8192.0, prefill_seqs=4.0)
    shape = _shape("mixtral-8x7b", 1.0)
    full = step_time(shape, prefill).operators["moe_experts"]
    half = step_time(_shape("mixtral-8x7b", 0.5), prefill).operators["moe_experts"]
    # 8192 tokens x top-2 over 8 experts: 2048 rows each. The efficiency f * m / (m + f * m_half)
    # instead of m / (m + m_half): the routed GEMMs take this much longer (Mixtral has no
    # shared expert; only the router's small dense GEMM keeps the dense efficiency)
    rows, m_half, f = 2048.0, float(shape.gemm_m_half_tokens), 0.5
    ratio = (rows + f * m_half) / (f * (rows + m_half))
    assert half == pytest.approx(ratio * full, rel=1e-3)
    assert 1.8 < ratio < 2.0


def test_small_batch_decode_barely_moves_and_dense_models_not_at_all() -> None:
    decode = StepBatch.decode(1.0, 1024.0)
    one = step_time(_shape("mixtral-8x7b", 1.0), decode)
    low = step_time(_shape("mixtral-8x7b", 0.5), decode)
    # one sequence: a few rows per expert keep the dense GEMM's small-M slope, so the kernel's
    # large-M shortfall barely shows
    assert low.total_s == pytest.approx(one.total_s, rel=2e-3)
    assert low.total_s >= one.total_s
    dense = StepBatch(prefill_tokens=8192.0, prefill_seqs=4.0)
    assert step_time(_shape("llama-3.1-8b", 0.3), dense).total_s == pytest.approx(
        step_time(_shape("llama-3.1-8b", 1.0), dense).total_s, rel=1e-12
    )


def test_shared_experts_run_at_the_dense_efficiency() -> None:
    # DeepSeek-R1 has one shared expert per MoE layer: halving the routed experts' efficiency
    # less than doubles the MoE time
    prefill = StepBatch(prefill_tokens=16384.0, prefill_seqs=8.0)
    full = step_time(_shape("deepseek-r1", 1.0, tp=8), prefill).operators["moe_experts"]
    half = step_time(_shape("deepseek-r1", 0.5, tp=8), prefill).operators["moe_experts"]
    assert full < half < 2.0 * full


@pytest.mark.parametrize("value", [0.0, -0.1, 1.01])
def test_a_fraction_outside_zero_one_is_refused(value: float) -> None:
    with pytest.raises(CatalogError, match="moe_gemm_eff_frac"):
        EngineCalibration(moe_gemm_eff_frac=value)


def test_shipped_calibration_keeps_every_engine_at_or_below_a_dense_gemm() -> None:
    for engine in ("tensorrt-llm", "tensorrt-llm-pytorch", "vllm", "vllm-0.5", "default"):
        value = calibration_for("hopper", engine).engine.moe_gemm_eff_frac
        assert 0.2 <= value <= 1.0
    assert "moe_gemm_eff_frac" in ENGINE_PARAMS


def test_only_engines_with_their_own_moe_runs_fit_it(measurements_path) -> None:
    prep = prepare(load_cases(measurements_path))
    counts = _moe_counts(prep, np.ones(len(prep.cases), dtype=bool))
    # TensorRT-LLM's perf tables hold Mixtral, DeepSeek, Qwen3, gpt-oss and Llama 4 runs
    assert counts.get("tensorrt-llm", 0) > 100
    # ML.ENERGY's Mixtral runs are host-bound: their slowness is not the expert kernels'
    assert "vllm-host-bound" not in counts
    vllm_dev = prepare(load_cases(data_path(VLLM_DEV_MEASUREMENTS)))
    # vLLM 0.3-0.4 developers' Mixtral latency runs (batch 1 to 64) fit vLLM 0.5's MoE share
    assert _moe_counts(vllm_dev, np.ones(len(vllm_dev.cases), dtype=bool)) == {"vllm-sync": 18}
    assert calibration_for("ampere", "vllm-sync").engine.moe_gemm_eff_frac < 1.0
    assert all(prep.is_moe[i] == (prep.shape.moe_frac[i] > 0) for i in range(len(prep.cases)))


def test_single_sequence_decode_streams_the_chosen_experts() -> None:
    # one token picks 2 of Mixtral's 8 experts: those two run one row each and their weights
    # stream from HBM, so the experts are memory-bound, not priced as a quarter row per expert
    # over all eight (which made batch-1 decode compute-bound)
    shape = _shape("mixtral-8x7b", 1.0)
    one = step_time(shape, StepBatch.decode(1.0, 1024.0))
    moe = float(one.operators["moe_experts"])
    layers = get_model("mixtral-8x7b").num_layers
    stream_s = (
        layers
        * 2
        * float(shape.expert_params)
        * 1.0
        / (float(shape.memory_bandwidth_bytes_per_s) * float(shape.memory_eff))
    )
    assert stream_s <= moe < 1.25 * stream_s


def test_identical_tokens_route_to_the_same_experts() -> None:
    # a step whose every token is the same (routing_token_frac 0) reads top-k experts a layer
    # however large the batch; 64 independent tokens read nearly all eight of Mixtral's
    shape = _shape("mixtral-8x7b", 1.0)
    varied = StepBatch.decode(64.0, 1024.0)
    same = dataclasses.replace(varied, routing_token_frac=0.0)
    t_varied = float(step_time(shape, varied).operators["moe_experts"])
    t_same = float(step_time(shape, same).operators["moe_experts"])
    t_one = float(step_time(shape, StepBatch.decode(1.0, 1024.0)).operators["moe_experts"])
    assert t_one < t_same < 1.5 * t_one  # two experts' weights, 64 rows each instead of one
    assert t_same < 0.4 * t_varied
    # the work (flops) is the same either way: every token still runs two experts
    assert step_time(shape, same).flops == pytest.approx(step_time(shape, varied).flops)
    # a dense model has nothing to route
    dense = _shape("llama-3.1-8b", 1.0)
    assert step_time(dense, same).total_s == step_time(dense, varied).total_s


def test_gpt_session_benchmark_runs_route_as_one_token() -> None:
    from chip2grid.perf.steady import static_batching
    from chip2grid.validation.cases import TRTLLM_DLI_MEASUREMENTS

    dli = load_cases(data_path(TRTLLM_DLI_MEASUREMENTS))
    assert dli and all(c.identical_inputs for c in dli)  # every prompt the pad token
    assert not any(c.identical_inputs for c in load_cases(data_path(VLLM_DEV_MEASUREMENTS)))
    moe, dense = _shape("mixtral-8x7b", 1.0, tp=2), _shape("llama-3.1-8b", 1.0)
    for shape, faster in ((moe, True), (dense, False)):
        varied = static_batching(shape, 128.0, 128.0, 32.0)
        same = static_batching(shape, 128.0, 128.0, 32.0, identical_inputs=True)
        assert (float(same.total_s) < 0.8 * float(varied.total_s)) is faster
        assert float(same.total_s) <= float(varied.total_s)

"""The TensorRT-LLM MAX_UTILIZATION profile: KV blocks taken as tokens come, not reserved."""

from __future__ import annotations

import pytest

import chip2grid as c2g
from chip2grid.perf import get_engine
from chip2grid.perf.estimate import Workload, kv_tokens_per_seq


def _estimate(engine: str, output_tokens: int) -> c2g.Estimate:
    deployment = c2g.Deployment(
        model=c2g.get_model("llama-2-70b"),
        accelerator=c2g.get_accelerator("h200-sxm"),
        num_accelerators=1,
        tp=1,
        weight_precision="fp8",
        kv_precision="fp8",
        engine=engine,
    )
    workload = c2g.Workload(input_tokens=222, output_tokens=output_tokens)
    return c2g.estimate(deployment, workload, c2g.Load())


def test_profile_differs_from_tensorrt_llm_only_in_its_scheduler() -> None:
    base, max_util = get_engine("tensorrt-llm"), get_engine("tensorrt-llm-max-util")
    assert (base.kv_reservation, max_util.kv_reservation) == ("full", "on_demand")
    for knob in (
        "mixed_batching",
        "gpu_memory_utilization",
        "kv_fraction_of_free_memory",
        "max_num_seqs",
        "max_num_batched_tokens",
        "runtime_reserved_bytes",
        "calibration",
    ):
        assert getattr(base, knob) == getattr(max_util, knob), knob
    assert get_engine("trtllm-max-util").id == get_engine("tensorrt-llm-mlperf").id == max_util.id
    assert "max_util" in max_util.source


@pytest.mark.parametrize("output_tokens", [64, 291, 2048])
def test_a_sequence_holds_its_current_context_not_its_whole_length(output_tokens: int) -> None:
    workload = Workload(input_tokens=222, output_tokens=output_tokens)
    full = kv_tokens_per_seq(get_engine("tensorrt-llm"), workload)
    held = kv_tokens_per_seq(get_engine("tensorrt-llm-max-util"), workload)
    assert full == pytest.approx(222 + output_tokens)
    assert held == pytest.approx(workload.decode_context_tokens)
    assert held < full


def test_more_sequences_fit_and_the_longer_the_outputs_the_more() -> None:
    gains = []
    for output_tokens in (128, 1024):
        full = _estimate("tensorrt-llm", output_tokens)
        max_util = _estimate("tensorrt-llm-max-util", output_tokens)
        assert max_util.max_concurrency > full.max_concurrency
        # same fitted overheads: a KV-limited batch can only gain from holding more sequences
        assert max_util.output_tokens_per_s >= full.output_tokens_per_s
        gains.append(max_util.max_concurrency / full.max_concurrency)
    assert gains[1] > gains[0]

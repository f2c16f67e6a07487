"""The batch limits trtllm-bench sized the perf-overview engines with (validation.bench_settings)."""

from __future__ import annotations

import dataclasses

import pytest

from chip2grid.hardware import get_accelerator
from chip2grid.llm import get_model
from chip2grid.validation import load_cases
from chip2grid.validation.bench_settings import TRTLLM_BENCH, trtllm_bench_limits
from chip2grid.validation.predict import prepare

GIB = 1024.0**3


def _limits(model: str, precision: str, tp: int, isl: float, osl: float, *, pp: int = 1):
    return trtllm_bench_limits(
        get_model(model),
        weight_precision=precision,
        tp=tp,
        pp=pp,
        device_memory_bytes=get_accelerator("h100-sxm").memory_bytes,
        input_tokens=isl,
        output_tokens=osl,
    )


def test_short_requests_on_eight_gpus_hit_the_tools_batch_cap() -> None:
    # Mixtral-8x7B FP8 on 8 x H100: ~560 GiB left for KV, room for tens of thousands of 256-token
    # requests; the tool caps the batch at 4,096 and the budget at 4,096 x (1 + 128/128)
    assert _limits("mixtral-8x7b", "fp8", 8, 128, 128) == (4096, 8192)


def test_memory_bound_batch_follows_the_kv_room_and_rounds_up() -> None:
    model = get_model("mixtral-8x7b")
    memory_gib = get_accelerator("h100-sxm").memory_bytes / GIB
    free_gib = memory_gib - model.num_params / GIB  # FP8 weights, one GPU
    kv_gib_per_token = 2 * model.num_layers * model.num_kv_heads * model.head_dim / GIB
    requests = 0.95 * free_gib / (kv_gib_per_token * (5000 + 500))
    batch, tokens = _limits("mixtral-8x7b", "fp8", 1, 5000, 500)
    assert requests < batch < requests + 32  # up to the next multiple of 32 below 256 requests
    assert batch % 32 == 0
    # the budget, the batch's requests times (1 + 5000/500), is below the tool's floor
    assert requests * 11 < 2048
    assert tokens == 2048
    # 16-bit weights leave less room and cache 2-byte KV: a smaller batch
    assert (
        _limits("llama-3-8b", "fp16", 1, 2048, 128)[0]
        < _limits("llama-3-8b", "fp8", 1, 2048, 128)[0]
    )


def test_rounding_steps_and_floors() -> None:
    # a model that leaves room for few requests still gets the tool's floor of 64 and 2,048
    few = _limits("llama-3.1-70b", "fp8", 1, 20000, 2000)
    assert few == (64, 2048)
    # the budget never exceeds 32,768; pipeline stages divide the batch
    one = _limits("llama-3.1-8b", "fp8", 8, 2048, 128)  # 4,096 x 17 tokens
    assert one[1] == 32768
    staged = _limits("llama-3.1-8b", "fp8", 4, 128, 128, pp=2)
    assert staged[0] == 2048  # 4,096 / 2 stages


def test_precisions_the_tool_does_not_size_keep_the_engine_defaults() -> None:
    assert _limits("llama-3.1-8b", "int4", 1, 128, 128) is None
    assert _limits("deepseek-r1", "fp8", 8, 128, 128) is None  # MLA: another KV rule
    assert _limits("llama-3.1-405b", "fp16", 1, 128, 128) is None  # weights exceed memory


@pytest.fixture(scope="module")
def cases(measurements_path):
    return load_cases(measurements_path)


def test_only_the_trtllm_bench_engines_are_sized(cases) -> None:
    sized = [c for c in cases if c.sized_by == TRTLLM_BENCH]
    assert len(sized) > 1000
    assert all(c.engine_profile == "tensorrt-llm" and c.mode == "offline" for c in sized)
    assert all(c.case_id.startswith("trtllm-v0.1") for c in sized)
    # MLPerf (the submitter's gpu_batch_size), Triton serving, PyTorch-backend rows: not sized
    assert not any(c.sized_by for c in cases if c.source_family == "mlperf")
    assert not any(c.sized_by for c in cases if c.engine_profile == "tensorrt-llm-pytorch")
    assert not any(c.sized_by for c in cases if c.mode != "offline")


def test_validation_runs_the_sized_batch(cases) -> None:
    case = next(
        c for c in cases if c.case_id == "trtllm-v0.15-mixtral-8x7b-h100-sxm-fp8-tp8-128-128"
    )
    sized = prepare([case])
    default = prepare([dataclasses.replace(case, sized_by="")])
    assert sized.full_batch[0] == 4096
    assert sized.budget[0] == 8192
    assert default.full_batch[0] == 2048  # the engine profile's max_num_seqs

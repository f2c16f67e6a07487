"""Splitting busy time between input and output tokens by stand-alone cost."""

from __future__ import annotations

import pytest

from chip2grid.errors import InvalidParameterError
from chip2grid.hardware import get_accelerator
from chip2grid.llm import get_model
from chip2grid.perf import Deployment, Load, Workload, calibration_for, estimate, rank_shape
from chip2grid.perf.attribution import (
    decode_seconds_per_request,
    prefill_seconds_per_request,
    prefill_time_share,
)
from chip2grid.perf.step import StepBatch, step_time


def _shape(model: str = "llama-3.1-70b", acc: str = "h100-sxm", n: int = 8):  # type: ignore[no-untyped-def]
    dep = Deployment(
        model=get_model(model),
        accelerator=get_accelerator(acc),
        num_accelerators=n,
        tp=n,
        weight_precision="fp8",
        kv_precision="fp8",
    )
    return dep, rank_shape(dep, calibration_for(dep.accelerator.family, "tensorrt-llm"))


def test_prompts_share_a_prefill_step_up_to_the_token_budget() -> None:
    _, shape = _shape()
    one = prefill_seconds_per_request(shape, 1000.0, 8192.0)
    eight = float(step_time(shape, StepBatch.prefill(8.0, 1000.0)).total_s) / 8.0
    assert one == pytest.approx(eight)
    alone = float(step_time(shape, StepBatch.prefill(1.0, 1000.0)).total_s)
    assert one < alone  # batching prompts amortizes the weight reads and the step overhead


def test_a_prompt_longer_than_the_budget_is_prefilled_in_chunks() -> None:
    _, shape = _shape()
    chunked = prefill_seconds_per_request(shape, 10000.0, 4096.0)
    expected = sum(
        float(step_time(shape, StepBatch.prefill(1.0, c, cached_tokens=d)).total_s)
        for c, d in ((4096.0, 0.0), (4096.0, 4096.0), (1808.0, 8192.0))
    )
    assert chunked == pytest.approx(expected)


def test_decode_cost_is_the_request_share_of_its_steps() -> None:
    _, shape = _shape()
    per_req = decode_seconds_per_request(shape, 2000.0, 201.0, 64.0)
    step = float(step_time(shape, StepBatch.decode(64.0, 2000.0 + 100.5)).total_s)
    assert per_req == pytest.approx(step / 64.0 * 200.0)
    assert decode_seconds_per_request(shape, 2000.0, 1.0, 64.0) == 0.0


def test_an_output_token_costs_more_than_an_input_token_when_decode_is_memory_bound() -> None:
    _, shape = _shape()
    share = prefill_time_share(shape, 1000.0, 1000.0, 32.0, 8192.0)
    # equal token counts: input tokens ride compute-bound GEMMs, so they get far less than half
    assert 0.0 < share < 0.25
    # a larger running batch amortizes the weights over more outputs: input's share grows
    assert prefill_time_share(shape, 1000.0, 1000.0, 512.0, 8192.0) > share


def test_the_share_follows_the_token_mix() -> None:
    _, shape = _shape()
    shares = [prefill_time_share(shape, isl, 256.0, 128.0, 8192.0) for isl in (128, 1024, 8192)]
    assert shares == sorted(shares)
    assert prefill_time_share(shape, 0.0, 256.0, 128.0, 8192.0) == 0.0
    assert prefill_time_share(shape, 1024.0, 1.0, 128.0, 8192.0) == 1.0


def test_estimate_carries_the_share_and_cost_per_token_follows_it() -> None:
    dep, _ = _shape()
    est = estimate(dep, Workload(input_tokens=2048, output_tokens=256), Load())
    assert 0.0 < est.prefill_time_frac < 1.0
    token_share = 2048 / (2048 + 256)
    assert est.prefill_time_frac != pytest.approx(token_share, abs=0.01)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"input_tokens": -1.0}, "input_tokens"),
        ({"output_tokens": float("nan")}, "output_tokens"),
        ({"decode_batch": -2.0}, "decode_batch"),
        ({"token_budget": 0.0}, "token_budget"),
    ],
)
def test_bad_input_names_the_field(kwargs: dict[str, float], field: str) -> None:
    _, shape = _shape()
    args = {
        "input_tokens": 100.0,
        "output_tokens": 100.0,
        "decode_batch": 8.0,
        "token_budget": 8192.0,
    }
    args.update(kwargs)
    with pytest.raises(InvalidParameterError, match=field):
        prefill_time_share(shape, **args)


def test_a_simulated_trace_splits_like_the_steady_state_at_the_same_load() -> None:
    from chip2grid.economics.deployment import load_from_simulation
    from chip2grid.serving import simulate
    from chip2grid.serving.workload import synthetic_trace

    dep = Deployment(
        model=get_model("llama-3.1-8b"),
        accelerator=get_accelerator("h100-sxm"),
        num_accelerators=1,
        tp=1,
        weight_precision="fp8",
        kv_precision="fp8",
    )
    est = estimate(
        dep,
        Workload(input_tokens=1000, output_tokens=200),
        Load(mode="request_rate", request_rate_per_s=20),
    )
    sim = load_from_simulation(simulate(dep, synthetic_trace(1500, 20, 1000, 200, seed=1)))
    assert sim.prefill_time_frac == pytest.approx(est.prefill_time_frac, abs=0.03)

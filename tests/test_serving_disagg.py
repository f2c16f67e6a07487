"""Disaggregated prefill/decode pools simulated: steady state, conservation, KV links."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

import chip2grid as c2g
from chip2grid.errors import InvalidParameterError
from chip2grid.perf import calibration_for, rank_shape
from chip2grid.perf.timer import StepTimer
from chip2grid.serving import (
    Engine,
    EngineConfig,
    RequestTrace,
    disaggregated_steady_state,
    engine_config_for,
    poisson_arrivals,
    simulate_disaggregated,
    synthetic_trace,
)


def deployment(num_accelerators: int, tp: int = 1) -> c2g.Deployment:
    return c2g.Deployment(
        model=c2g.get_model("llama-3.1-8b"),
        accelerator=c2g.get_accelerator("h100-sxm"),
        num_accelerators=num_accelerators,
        tp=tp,
        weight_precision="fp8",
    )


def one_prompt_per_step(dep: c2g.Deployment, tokens: int) -> EngineConfig:
    """A budget of one prompt per step: the steady state's full-budget step is then exact."""
    return dataclasses.replace(engine_config_for(dep), max_num_batched_tokens=tokens)


@pytest.mark.parametrize("rate", [2.0, 15.0])
def test_matches_the_steady_state_at_low_and_moderate_load(rate: float) -> None:
    pre, dec = deployment(1), deployment(1)
    cfg_p = one_prompt_per_step(pre, 2048)
    cfg_d = engine_config_for(dec)
    trace = synthetic_trace(1500, rate, 2048, 128, seed=1)
    got = simulate_disaggregated(pre, dec, trace, prefill_config=cfg_p, decode_config=cfg_d)
    state, tpot = disaggregated_steady_state(
        pre, dec, rate, 2048, 128, prefill_config=cfg_p, decode_config=cfg_d
    )
    assert not bool(state.saturated)
    # prefill queue (M/D/1) + prefill + transfer: the steady state models exactly these
    to_kv = float(np.mean(got.kv_ready_s - got.arrival_s))
    assert to_kv == pytest.approx(float(state.ttft_s), rel=0.03)
    # TTFT adds the wait for the decode instance's next step boundary (the steady state has none)
    ttft = float(np.mean(got.ttft_s))
    assert ttft == pytest.approx(float(state.ttft_s), rel=0.10)
    assert ttft > to_kv
    assert float(np.mean(got.tpot_s)) == pytest.approx(tpot, rel=0.05)
    # every transfer alone on idle links takes what the steady state says
    assert float(np.min(got.kv_transfer_s)) == pytest.approx(
        float(np.ravel(state.ttft_s - state.queue_wait_s)[0])
        - float(np.min(got.prefill_done_s - got.arrival_s)),
        rel=0.05,
    )


def mixed(n: int, rate: float, seed: int = 3) -> RequestTrace:
    rng = np.random.default_rng(seed)
    out = rng.integers(1, 300, n)
    out[::7] = 1  # one-token outputs end at the prefill
    return RequestTrace(
        arrival_s=poisson_arrivals(rate, n, rng),
        input_tokens=rng.integers(16, 4096, n),
        output_tokens=out,
    )


def test_conservation_no_request_lost_and_no_prefill_in_decode_steps() -> None:
    trace = mixed(600, 30.0)
    got = simulate_disaggregated(deployment(2), deployment(3), trace)
    n = trace.num_requests
    assert got.num_requests == n and got.num_rejected == 0
    assert np.isfinite(got.finish_s).all() and np.isfinite(got.first_token_s).all()
    # each request prefilled once, decoded once unless its only token came from the prefill
    seen = np.sort(np.concatenate(got.prefill.request_indices))
    np.testing.assert_array_equal(seen, np.arange(n))
    decoded = np.sort(np.concatenate(got.decode.request_indices))
    np.testing.assert_array_equal(decoded, np.flatnonzero(trace.output_tokens >= 2))
    # tokens in = tokens out
    assert got.prefill.input_tokens_done == int(trace.input_tokens.sum())
    ones = int((trace.output_tokens == 1).sum())
    assert got.decode.output_tokens_done + ones == int(trace.output_tokens.sum())
    assert got.output_tokens_done == int(trace.output_tokens.sum())
    # decode instances never run a prompt (full reservation: nothing is preempted)
    for res in got.decode.replicas:
        assert float(res.timeline.prefill_tokens.sum()) == 0.0
        assert int(res.num_preemptions.sum()) == 0
    # causality: arrival <= prefill done <= KV ready <= first token <= finish
    two = trace.output_tokens >= 2
    assert (got.prefill_done_s >= got.arrival_s).all()
    assert (got.kv_ready_s[two] > got.prefill_done_s[two]).all()
    assert (got.first_token_s[two] >= got.kv_ready_s[two]).all()
    assert (got.finish_s >= got.first_token_s).all()
    assert got.accelerator_energy_j > 0 and got.system_energy_j > got.accelerator_energy_j
    summary = got.summary()
    assert summary["num_prefill_replicas"] == 2 and summary["num_decode_replicas"] == 3


def test_transfers_queue_on_a_slow_link() -> None:
    slow = dataclasses.replace(
        c2g.get_accelerator("h100-sxm"), scale_out_bandwidth_bytes_per_s=0.5e9
    )
    pre = deployment(2).replace(accelerator=slow)
    dec = deployment(1).replace(accelerator=slow)
    trace = synthetic_trace(200, 20.0, 2048, 64, seed=2)
    got = simulate_disaggregated(pre, dec, trace)
    # 2048 tokens x 128 KiB per token at 0.5 GB/s x efficiency: > 0.25 s each, so they queue
    assert float(np.max(got.kv_link_wait_s)) > 0.5
    hold = got.kv_transfer_s - got.kv_link_wait_s
    # one receiving link: transfers into the decode instance never overlap
    order = np.argsort(got.kv_ready_s)
    starts = (got.prefill_done_s + got.kv_link_wait_s)[order]
    assert (np.diff(starts) >= 0.999 * np.min(hold) - 1e-9).all()
    fast = simulate_disaggregated(deployment(2), deployment(1), trace)
    assert float(np.mean(got.ttft_s)) > 2 * float(np.mean(fast.ttft_s))


def test_decode_pool_rejects_prefix_caching() -> None:
    dec = deployment(1)
    cfg = dataclasses.replace(engine_config_for(dec), enable_prefix_caching=True)
    with pytest.raises(InvalidParameterError, match="enable_prefix_caching"):
        simulate_disaggregated(
            deployment(1), dec, synthetic_trace(5, 1.0, 64, 8), decode_config=cfg
        )


def test_submit_prefilled_decodes_at_once() -> None:
    cfg = EngineConfig(max_num_seqs=8, max_num_batched_tokens=512, num_gpu_blocks=512)
    timer = StepTimer(
        rank_shape(deployment(1), calibration_for("hopper", "tensorrt-llm")),
        max_tokens=520,
        max_seqs=8,
    )
    engine = Engine(timer, cfg)
    engine.submit_prefilled(1.0, 1000, 11)
    res = engine.finish()
    assert res.first_token_s[0] == res.scheduled_s[0] == 1.0
    assert res.num_steps == 10  # tokens 2..11, no prefill step
    assert float(res.timeline.prefill_tokens.sum()) == 0.0
    with pytest.raises(InvalidParameterError, match="output_tokens >= 2"):
        Engine(timer, cfg).submit_prefilled(0.0, 100, 1)

"""Routers in front of replicas: the incremental engine API and the cluster loop."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

import chip2grid as c2g
from chip2grid.perf import calibration_for, rank_shape
from chip2grid.perf.timer import StepTimer
from chip2grid.serving import (
    ROUTERS,
    Engine,
    RequestTrace,
    agent_trace,
    gamma_arrivals,
    poisson_arrivals,
    simulate_cluster,
    split_round_robin,
)
from chip2grid.serving.simulator import EngineConfig, Simulator


def deployment(num_accelerators: int) -> c2g.Deployment:
    return c2g.Deployment(
        model=c2g.get_model("llama-3.1-8b"),
        accelerator=c2g.get_accelerator("h100-sxm"),
        num_accelerators=num_accelerators,
        tp=1,
        weight_precision="fp8",
    )


def timer(cfg: EngineConfig) -> StepTimer:
    return StepTimer(
        rank_shape(deployment(1), calibration_for("hopper", "tensorrt-llm")),
        max_tokens=cfg.max_num_batched_tokens + cfg.max_num_seqs,
        max_seqs=cfg.max_num_seqs,
    )


def synthetic(n: int, rate: float, seed: int = 0) -> RequestTrace:
    rng = np.random.default_rng(seed)
    return RequestTrace(
        arrival_s=poisson_arrivals(rate, n, rng),
        input_tokens=rng.integers(16, 2048, n),
        output_tokens=rng.integers(1, 300, n),
    )


def bursty_skewed(n: int, seed: int = 1) -> RequestTrace:
    """Bursty arrivals (gap CV 2); one request in ten has a 12,000-token prompt."""
    rng = np.random.default_rng(seed)
    long = rng.random(n) < 0.1
    return RequestTrace(
        arrival_s=gamma_arrivals(60.0, 2.0, n, rng),
        input_tokens=np.where(long, 12_000, rng.integers(50, 500, n)),
        output_tokens=np.where(long, 800, rng.integers(10, 200, n)),
    )


@pytest.mark.parametrize(("blocks", "reservation"), [(600, "on_demand"), (4000, "full")])
def test_cluster_loop_with_round_robin_equals_independent_replicas(
    blocks: int, reservation: str
) -> None:
    trace = synthetic(300, 40.0)
    cfg = EngineConfig(
        max_num_seqs=32,
        max_num_batched_tokens=2048,
        num_gpu_blocks=blocks,
        kv_reservation=reservation,
    )
    t = timer(cfg)
    routed, indices = simulate_cluster(t, cfg, trace, 3, "round-robin")
    for k, part in enumerate(split_round_robin(trace, 3)):
        alone = Simulator(t, cfg).run(part)
        got = routed[k]
        np.testing.assert_array_equal(indices[k], np.arange(k, 300, 3))
        assert got.num_steps == alone.num_steps
        np.testing.assert_array_equal(got.num_preemptions, alone.num_preemptions)
        np.testing.assert_allclose(got.first_token_s, alone.first_token_s, rtol=1e-9)
        np.testing.assert_allclose(got.finish_s, alone.finish_s, rtol=1e-9)
        assert got.busy_s == pytest.approx(alone.busy_s, rel=1e-9)
    if reservation == "on_demand":
        assert sum(int(r.num_preemptions.sum()) for r in routed) > 0


def test_simulate_round_robin_is_the_state_blind_split() -> None:
    dep = deployment(3)
    trace = synthetic(200, 20.0)
    res = c2g.simulate(dep, trace)
    cfg = c2g.engine_config_for(dep)
    t = StepTimer(
        rank_shape(dep, calibration_for("hopper", "tensorrt-llm")),
        max_tokens=cfg.max_num_batched_tokens + cfg.max_num_seqs,
        max_seqs=cfg.max_num_seqs,
    )
    for k, part in enumerate(split_round_robin(trace, 3)):
        alone = Simulator(t, cfg).run(part)
        np.testing.assert_array_equal(res.replicas[k].finish_s, alone.finish_s)
    assert res.summary()["router"] == "round-robin"


@pytest.mark.parametrize("router", ROUTERS)
@pytest.mark.parametrize("caching", [False, True])
def test_every_router_conserves_tokens_and_loses_no_request(router: str, caching: bool) -> None:
    dep = deployment(3)
    trace = agent_trace(240, 30.0, 300, 120, turns_per_session=6, system_prompt_tokens=512)
    cfg = dataclasses.replace(
        c2g.engine_config_for(dep), num_gpu_blocks=3000, enable_prefix_caching=caching
    )
    res = c2g.simulate(dep, trace, config=cfg, router=router)
    served = np.sort(np.concatenate(res.request_indices))
    np.testing.assert_array_equal(served, np.arange(trace.num_requests))  # each exactly once
    assert res.num_requests == trace.num_requests and res.num_rejected == 0
    assert res.output_tokens_done == int(trace.output_tokens.sum())
    assert res.input_tokens_done == int(trace.input_tokens.sum())
    for r, idx in zip(res.replicas, res.request_indices, strict=True):
        np.testing.assert_array_equal(r.input_tokens, trace.input_tokens[idx])
        np.testing.assert_allclose(r.arrival_s, trace.arrival_s[idx])
        assert np.all(np.isfinite(r.finish_s)) and np.all(r.finish_s >= r.first_token_s)
        assert np.all(r.first_token_s > r.arrival_s)
    assert res.summary()["router"] == router


def test_least_outstanding_beats_round_robin_on_p99_ttft_for_bursty_skewed_load() -> None:
    dep = deployment(4)
    trace = bursty_skewed(1000)
    rr = c2g.simulate(dep, trace, router="round-robin").summary()
    lo = c2g.simulate(dep, trace, router="least-outstanding").summary()
    p99 = {name: s["ttft_s"]["p99"] for name, s in (("rr", rr), ("lo", lo))}  # type: ignore[index]
    assert p99["lo"] < 0.9 * p99["rr"]
    assert lo["num_requests"] == rr["num_requests"] == 1000


def test_prefix_aware_routing_finds_more_cached_prefixes() -> None:
    dep = deployment(4)
    trace = agent_trace(480, 8.0, 300, 120, turns_per_session=8, system_prompt_tokens=256)
    cfg = dataclasses.replace(c2g.engine_config_for(dep), enable_prefix_caching=True)
    hits = {
        router: c2g.simulate(dep, trace, config=cfg, router=router).prefix_cache_hit_frac
        for router in ROUTERS
    }
    # a session's turns follow its cached history; the others scatter them
    assert hits["prefix-aware"] > hits["round-robin"] + 0.2
    assert hits["prefix-aware"] > hits["least-outstanding"] + 0.2


def test_engine_reports_state_and_checks_submissions() -> None:
    cfg = EngineConfig(enable_prefix_caching=True)
    engine = Engine(timer(cfg), cfg, block_tokens=64)
    assert engine.num_outstanding == 0
    engine.submit(0.0, 1000, 500, tuple(range(16)))
    engine.submit(0.0, 500, 500)
    assert engine.num_outstanding == 2
    engine.advance_to(0.5)
    assert 0.5 <= engine.now_s < 0.52  # stops at the first step boundary at or after 0.5
    assert engine.num_outstanding == 2
    assert engine.cached_prefix_blocks((0, 1, 2, 99, 4)) == 3
    assert engine.cached_prefix_blocks((99, 0)) == 0
    engine.submit(0.6, 10, 10)
    with pytest.raises(c2g.InvalidParameterError, match="arrival_s"):
        engine.submit(0.55, 10, 10)  # before the last arrival
    res = engine.finish()
    assert engine.num_outstanding == 0 and np.all(np.isfinite(res.finish_s))
    assert res.cached_tokens.tolist() == [0, 0, 0]
    with pytest.raises(c2g.InvalidParameterError, match="router"):
        c2g.simulate(deployment(2), synthetic(10, 1.0), router="random")
